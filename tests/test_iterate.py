"""The solver protocol: one driver, compiled once per shape, honest result codes."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrxn
from jaxrxn import RESULTS
from jaxrxn.irc import irc
from jaxrxn.path import NEB, linear, neb
from jaxrxn.saddle import PRFO, Dimer, saddle_search

MB = jaxrxn.muller_brown()


class _Compilations(logging.Handler):
    """Collects jax's "Compiling ..." log lines while ``jax.log_compiles()`` is on."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("Compiling"):
            self.lines.append(msg)


def compilations(run):
    handler = _Compilations()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles():
            run()
    finally:
        logger.removeHandler(handler)
    return handler.lines


def _fresh(pot):
    """The same surface with new parameter arrays (of the same shapes)."""
    return pot.replace(params=jax.tree.map(lambda p: jnp.array(np.asarray(p)), pot.params))


A = np.array([[-0.558224, 1.441726]])
B = np.array([[0.623499, 0.028038]])
S1 = np.array([[-0.822002, 0.624313]])


@pytest.mark.parametrize(
    "call",
    [
        lambda pot, d, f: jaxrxn.minimize(pot, jnp.asarray(A + d), jaxrxn.FIRE(dt=100 * f), fmax=f, max_steps=round(1e6 * f)),
        lambda pot, d, f: neb(pot, jnp.asarray(linear(A, B, 7)).at[1:-1].add(d), NEB(k=100 * f), fmax=500 * f, max_steps=round(2e4 * f)),
        lambda pot, d, f: saddle_search(pot, jnp.asarray(S1 + d), PRFO(trust_radius=100 * f), fmax=f, max_steps=round(1e5 * f)),
        lambda pot, d, f: saddle_search(pot, jnp.asarray(S1 + d), Dimer(max_step=100 * f), fmax=10 * f, max_steps=round(5e4 * f)),
        lambda pot, d, f: irc(pot, jnp.asarray(S1 + d / 1000), fmax=10 * f, first_step=10 * f, step=100 * f, max_points=50),
    ],
    ids=["minimize", "neb", "prfo", "dimer", "irc"],
)
def test_second_call_with_new_arrays_and_hyperparameters_does_not_recompile(call):
    # new parameter arrays of the same shapes, new float tolerances and step sizes (fmax,
    # FIRE's dt, NEB's spring constant, trust radius, IRC steps) and new step caps: nothing
    # compiles
    jax.block_until_ready(call(MB, 0.01, 1e-3))
    fresh = _fresh(MB)
    jax.block_until_ready(fresh)
    lines = compilations(lambda: jax.block_until_ready(call(fresh, -0.02, 2e-3)))
    assert lines == []


def test_compilation_counter_sees_a_new_shape():
    # the check above can fail: a band of another length compiles a new loop
    jax.block_until_ready(neb(MB, jnp.asarray(linear(A, B, 7)), NEB(), fmax=0.5, max_steps=20))
    lines = compilations(lambda: neb(MB, jnp.asarray(linear(A, B, 8)), NEB(), fmax=0.5, max_steps=20))
    assert any("_solve" in line for line in lines)


def test_throw_is_the_same_everywhere():
    R = jnp.asarray(S1 + 0.05)
    runs = [
        lambda throw: jaxrxn.minimize(MB, R, fmax=1e-8, max_steps=2, throw=throw),
        lambda throw: neb(MB, jnp.asarray(linear(A, B, 7)), NEB(), max_steps=2, throw=throw),
        lambda throw: saddle_search(MB, R, PRFO(), fmax=1e-10, max_steps=1, throw=throw),
    ]
    for run in runs:
        assert run(False).result == RESULTS.step_cap_reached
        with pytest.raises(Exception, match="step cap"):
            run(True)


def _counting(pot, calls):
    """``pot`` with a host-side counter of energy evaluations (one per forward pass)."""

    def energy(R, system, p):
        jax.debug.callback(lambda: calls.append(1))
        return pot.energy_fn(R, system, p)

    return jaxrxn.Potential(energy, pot.params, pot.system)


@pytest.mark.parametrize(
    "run",
    [
        lambda pot: saddle_search(pot, jnp.asarray(S1 + 0.02), Dimer(), fmax=1e-3),
        lambda pot: saddle_search(pot, jnp.asarray(S1 + 0.02), PRFO(), fmax=1e-3),
        lambda pot: irc(pot, jnp.asarray(S1), fmax=1e-3),
    ],
    ids=["dimer", "prfo", "irc"],
)
def test_every_evaluation_is_counted(run):
    # zero-mode probes, final index checks and both IRC branches included; each Hessian
    # runs the energy function once more
    calls = []
    res = jax.block_until_ready(run(_counting(MB, calls)))
    assert len(calls) == int(res.n_force_calls) + int(res.n_hessian_calls)
