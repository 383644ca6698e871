"""One protocol for every iterative search in jaxrxn, and the one loop that drives it.

In the manner of optimistix's ``_iterate.py``: a method is an
:class:`AbstractIterativeSolver`, an :class:`equinox.Module` whose fields are its
hyperparameters (with units) and whose four pure methods say what one iteration does;
:func:`iterative_solve` runs them in a single ``lax.while_loop`` under ``jit``, counts
steps, maps failures to a :class:`jaxrxn.RESULTS` code, applies ``throw`` once and returns
a :class:`Solution`. Minimization, NEB, P-RFO, the dimer, Newton polish and the IRC
descent are all solvers on this protocol, so loops, result codes, ``throw`` and
compilation live here and nowhere else.

**Writing a solver.** Subclass :class:`AbstractIterativeSolver` and implement

- ``init(fn, y, args) -> state``: evaluate the start ``y`` (a configuration or a band)
  with ``fn`` (a :class:`jaxrxn.Potential`, passed as a pytree argument so that new
  parameters do not recompile) and build the state. ``args`` is a pytree of per-call data
  (tolerances such as ``fmax`` as arrays, a cell, zero modes).
- ``step(fn, state, args) -> state``: one iteration.
- ``terminate(fn, state, args) -> (done, result)``: a boolean scalar and the code to
  report if the loop stops here (``RESULTS.successful`` when converged, or a failure
  such as ``RESULTS.nonfinite_state`` that ends the loop early).
- ``postprocess(fn, state, args, result) -> (value, aux, result, state)``: the answer,
  any extra output, the result code after final checks (for example the saddle index)
  and the state with the evaluations of those checks counted.
  The driver reports ``RESULTS.nonfinite_state`` if a float in `value` or `aux` is not
  finite, so put only quantities there that must be finite.

The state must carry ``n_force_calls`` (every energy/force evaluation, however cheap)
and may carry ``n_hessian_calls``; the driver reads them into :class:`Stats`. A hand-
written loop (KMC, TAD, monitoring) can call ``init`` and ``step`` directly, as with
jax-md's ``(init_fn, apply_fn)`` pairs.

**throw.** With ``throw=True`` a result other than ``successful`` raises through
:func:`equinox.error_if`, also under ``jit``. Every public entry point defaults to
``throw=False`` (optimistix defaults to ``True``): jaxrxn's searches are mostly run as
vmapped batches, where one failing member would raise for the whole batch and lose every
result, and the library's own drivers (TAD, KMC, exploration) handle failed searches
themselves. Check ``result`` (or ``converged``) or pass ``throw=True``.
"""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Int, PyTree

from jaxrxn._results import RESULTS, finite_result

State = TypeVar("State")
Y = TypeVar("Y")


class AbstractIterativeSolver(eqx.Module, Generic[Y, State]):
    """An iterative method: hyperparameters as fields, one iteration as pure methods.

    See the module docstring for the contract of each method.
    """

    @abc.abstractmethod
    def init(self, fn: Any, y: Y, args: PyTree) -> State: ...

    @abc.abstractmethod
    def step(self, fn: Any, state: State, args: PyTree) -> State: ...

    @abc.abstractmethod
    def terminate(self, fn: Any, state: State, args: PyTree) -> tuple[Bool[Array, ""], RESULTS]: ...

    @abc.abstractmethod
    def postprocess(
        self, fn: Any, state: State, args: PyTree, result: RESULTS
    ) -> tuple[Any, Any, RESULTS, State]: ...


class Stats(eqx.Module):
    """Work done by a solve: iterations, the cap on them, energy+force evaluations and
    Hessian evaluations (every call, including probes and final checks)."""

    num_steps: Int[Array, ""]
    max_steps: int = eqx.field(static=True)
    n_force_calls: Int[Array, ""]
    n_hessian_calls: Int[Array, ""]


class Solution(eqx.Module, Generic[Y]):
    """What :func:`iterative_solve` returns: the `value`, its `result` code, `stats`, the
    final solver `state` (to restart from) and the solver's `aux` output."""

    value: Y
    result: RESULTS
    stats: Stats
    state: Any
    aux: Any


def iterative_solve(
    solver: AbstractIterativeSolver, fn: Any, y0: Any, args: PyTree = None, *, max_steps: int, throw: bool
) -> Solution:
    """Run ``solver`` from ``y0`` until it terminates or `max_steps` iterations were taken.

    Jitted as a whole with :func:`equinox.filter_jit`: arrays in `fn`, `y0` and `args` are
    traced, and so are the solver's float hyperparameters and floats in `args`
    (:func:`dynamic_floats`), so a second call with new arrays of the same shapes, a new
    tolerance or a new step size reuses the compiled loop. Integers, booleans, strings and
    fields marked static are compile-time constants. A run that hits the cap reports
    ``RESULTS.step_cap_reached``; a non-finite value ``RESULTS.nonfinite_state``.
    """
    return _solve(dynamic_floats(solver), fn, y0, dynamic_floats(args), max_steps, throw)


def dynamic_floats(tree: PyTree) -> PyTree:
    """`tree` with every Python float leaf a JAX scalar, so that ``jit`` traces it.

    :func:`equinox.filter_jit` keys its cache on every non-array leaf: a solver built with
    ``NEB(k=0.5)`` and then ``NEB(k=1.0)``, or an ``fmax`` passed as a float, would compile
    the loop again. The scalars are weakly typed, as the floats were, so they do not
    promote a float32 computation. A hyperparameter that selects code in Python (a mode
    switch) must be a static field instead.
    """
    return jax.tree_util.tree_map(lambda x: jnp.asarray(float(x)) if isinstance(x, float) else x, tree)


def in_dtype_of(y: Array, *xs: Array) -> tuple[Array, ...]:
    """``xs`` cast to the dtype of ``y``: a solver's energies and forces follow its input
    (a float32 band stays float32 even when the potential's parameters are float64)."""
    return tuple(jnp.asarray(x, y.dtype) for x in xs)


def _all_finite(tree) -> Bool[Array, ""]:
    flags = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(x)]
    return jnp.all(jnp.stack(flags)) if flags else jnp.array(True)


def _keep_last_finite(old: State, new: State) -> State:
    """`new`, unless its floats went non-finite where `old`'s were all finite (a failed
    outside calculator returns NaN, a step can overflow): then `old`'s floats with `new`'s
    counters, so the result keeps the last good configuration and still counts every call."""
    bad = _all_finite(old) & ~_all_finite(new)
    return jax.tree_util.tree_map(lambda a, b: jnp.where(bad, a, b) if eqx.is_inexact_array(b) else b, old, new)


def _neighbors_at(fn, state):
    """The neighbour list `fn` carries (a :class:`jaxrxn.Potential` with one), updated at
    the configuration ``state.R`` of a single-configuration solver; ``None`` otherwise.
    Carried by the driver so each evaluation rebuilds it only when an atom moved half the
    skin since the last build, not since the list was allocated."""
    neighbors = getattr(fn, "neighbors", None)
    R = getattr(state, "R", None)
    if neighbors is None or R is None or R.shape != neighbors.reference.shape:
        return None
    return fn._neighbors_at(R)


def _with_neighbors(fn, neighbors):
    return fn if neighbors is None else eqx.tree_at(lambda f: f.neighbors, fn, neighbors)


@eqx.filter_jit
def _solve(solver, fn, y0, args, max_steps: int, throw: bool) -> Solution:
    state = solver.init(fn, y0, args)
    done, result = solver.terminate(fn, state, args)
    neighbors = _neighbors_at(fn, state)

    def cond(carry):
        _, _, k, done, _ = carry
        return ~done & (k < max_steps)

    def body(carry):
        state, neighbors, k, _, _ = carry
        at = _with_neighbors(fn, neighbors)
        new = solver.step(at, state, args)
        done, result = solver.terminate(at, new, args)
        new = _keep_last_finite(state, new)
        return new, _neighbors_at(at, new), k + 1, done, result

    carry = (state, neighbors, jnp.array(0), done, result)
    state, neighbors, num_steps, done, result = lax.while_loop(cond, body, carry)
    fn = _with_neighbors(fn, neighbors)
    result = RESULTS.where(done, result, RESULTS.step_cap_reached)
    value, aux, result, state = solver.postprocess(fn, state, args, result)
    result = finite_result(result, value, aux)
    stats = Stats(
        num_steps,
        max_steps,
        jnp.asarray(state.n_force_calls),
        jnp.asarray(getattr(state, "n_hessian_calls", 0)),
    )
    sol = Solution(value, result, stats, state, aux)
    if throw:
        sol = result.error_if(sol, result != RESULTS.successful)
    return sol
