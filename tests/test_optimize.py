"""Minimizers: Muller-Brown minima, 2D LJ7, honest non-convergence, fixed atoms, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrxn
from jaxrxn import RESULTS
from jaxrxn.optimize import FIRE, LBFGS, minimize
from jaxrxn.potentials import lennard_jones, muller_brown

from helpers import lj7_hexagon

MB = muller_brown()
# Muller-Brown minima, paths_saddles.md §1.1 [run] (Muller & Brown 1979 surface)
MB_MINIMA = [
    ((-0.558224, 1.441726), -146.6995),
    ((0.623499, 0.028038), -108.1667),
    ((-0.050011, 0.466694), -80.7678),
]
OFFSETS = np.array([[0.1, 0.0], [0.0, -0.1], [-0.0707, 0.0707]])


@pytest.mark.parametrize("optimizer", [FIRE(), LBFGS()], ids=["fire", "lbfgs"])
def test_muller_brown_minima(optimizer):
    run = jax.jit(jax.vmap(lambda R: minimize(MB, R, optimizer, fmax=1e-6, max_steps=3000)))
    for (xy, e_ref) in MB_MINIMA:
        starts = jnp.asarray(np.array(xy)[None, None, :] + OFFSETS[:, None, :])
        res = run(starts)
        assert np.all(np.asarray(res.converged))
        np.testing.assert_allclose(np.asarray(res.R)[:, 0], np.tile(xy, (3, 1)), atol=1e-5)
        np.testing.assert_allclose(np.asarray(res.energy), e_ref, atol=1e-4)


def test_lj7_hexagon_energy():
    # Dellago, Bolhuis & Chandler, JCP 108, 9236 (1998): -12.53; reproduced -12.5349
    # (rare_events.md §6.3 [run]).
    R0 = lj7_hexagon() + 0.08 * np.random.default_rng(1).normal(size=(7, 2))
    for opt in ("fire", "lbfgs"):
        res = minimize(lennard_jones(dim=2), jnp.asarray(R0), opt, fmax=1e-6, max_steps=5000)
        assert bool(res.converged)
        assert float(res.energy) == pytest.approx(-12.5349, abs=1e-4)


def test_step_cap_reports_not_converged():
    res = minimize(MB, jnp.array([[0.0, 1.0]]), "fire", fmax=1e-8, max_steps=3)
    assert not bool(res.converged)
    assert int(res.n_steps) == 3 and int(res.n_force_calls) == 4
    assert res.result == RESULTS.step_cap_reached
    with pytest.raises(Exception, match="step cap"):
        minimize(MB, jnp.array([[0.0, 1.0]]), "fire", fmax=1e-8, max_steps=3, throw=True)


def test_fixed_atoms_stay_put():
    pot = lennard_jones(dim=2, fixed=[True, True] + [False] * 5)
    R0 = jnp.asarray(lj7_hexagon() * 1.05)
    for opt in ("fire", "lbfgs"):
        res = minimize(pot, R0, opt, fmax=1e-4, max_steps=2000)
        assert bool(res.converged)
        np.testing.assert_array_equal(np.asarray(res.R)[:2], np.asarray(R0)[:2])


def test_overlapping_start_is_rejected():
    R0 = jnp.asarray(lj7_hexagon())
    with pytest.raises(ValueError, match="overlapping atoms 0 and 1"):
        minimize(lennard_jones(dim=2), R0.at[1].set(R0[0] + 1e-3), "fire")


def test_nonfinite_is_reported():
    # log(x) has force -1/x toward x < 0, where the energy is NaN.
    pot = jaxrxn.Potential(lambda R, system, p: jnp.log(R[0, 0]), None)
    res = minimize(pot, jnp.array([[0.5, 0.0]]), "fire", fmax=1e-3, max_steps=100)
    assert not bool(res.converged)
    assert res.result == RESULTS.nonfinite_state


def test_unknown_optimizer_raises():
    with pytest.raises(ValueError, match="unknown optimizer"):
        minimize(MB, jnp.array([[0.0, 1.0]]), "bfgs2")


def _double_well(R, system=None, params=None):
    # E = x^4 - x^2 + y^2 + z^2 (+ the same for every atom): negative curvature at |x| < 0.41
    return jnp.sum(R[:, 0] ** 4 - R[:, 0] ** 2 + R[:, 1] ** 2 + R[:, 2] ** 2)


@pytest.mark.parametrize("case", ["lj7", "double_well"])
def test_bfgs_takes_ase_bfgs_steps(case):
    """The dense BFGS rule is ASE's ``BFGS`` (same Hessian update, |eigenvalue| Newton step,
    per-atom cap): with the same forces both take the same steps, on a 3D LJ7 cluster and
    from the negative-curvature top of a double well (where the absolute eigenvalues
    matter: a plain Newton step would go to the maximum)."""
    from ase import Atoms
    from ase.calculators.calculator import Calculator, all_changes
    from ase.optimize import BFGS as AseBFGS

    from jaxrxn.optimize import BFGS
    from jaxrxn.potentials import Potential

    if case == "lj7":
        pot = lennard_jones()
        R0 = np.array([[0, 0, 0], [1.1, 0, 0], [0, 1.1, 0], [0, 0, 1.1], [1.1, 1.1, 0], [1.1, 0, 1.1], [0, 1.1, 1.1]])
        R0 = R0 + 0.05 * np.random.default_rng(3).normal(size=R0.shape)
    else:
        pot = Potential(_double_well)
        R0 = np.array([[0.05, 0.01, -0.01]])  # ASE and jaxrxn: x -> 0.7071; a plain Newton step: x -> 0

    class Same(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=None, system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            e, f = pot.energy_and_forces(jnp.asarray(atoms.positions))
            self.results = {"energy": float(e), "forces": np.asarray(f)}

    atoms = Atoms(f"Ar{len(R0)}", positions=R0, calculator=Same())
    opt = AseBFGS(atoms, logfile=None, maxstep=0.2)
    opt.run(fmax=1e-4, steps=500)
    res = minimize(pot, jnp.asarray(R0), BFGS(maxstep=0.2), fmax=1e-4, max_steps=500)
    assert bool(res.converged) and float(res.energy) < float(pot.energy(jnp.asarray(R0)))
    assert int(res.n_steps) == opt.nsteps
    np.testing.assert_allclose(np.asarray(res.R), atoms.positions, atol=1e-8)
