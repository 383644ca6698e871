"""ASE calculators as jaxrxn potentials (external.py) and jaxrxn potentials in ASE (ase_calculator.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import fcc100, fcc111
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.constraints import FixAtoms
from ase.optimize import BFGS
from helpers import central_difference_forces

from jaxrxn import minimize
from jaxrxn.ase_calculator import JaxrxnCalculator
from jaxrxn.io import from_atoms
from jaxrxn.potentials.external import ase_potential
from jaxrxn.potentials.pair import morse_preset


def rattled_cluster(seed=0):
    atoms = Icosahedron("Cu", noshells=2)  # 13 atoms
    atoms.rattle(0.05, seed=seed)
    return atoms


def slab_with_adatom():
    atoms = fcc111("Au", size=(2, 2, 3), vacuum=6.0)
    atoms.append("Au")
    atoms.positions[-1] = atoms.positions[8] + [0.0, 1.0, 2.3]
    atoms.set_constraint(FixAtoms(indices=range(4)))
    atoms.rattle(0.03, seed=3)
    return atoms


@pytest.mark.parametrize("make", [rattled_cluster, slab_with_adatom])
def test_matches_ase_emt_energy_forces_and_grad(make):
    atoms = make()
    pot = ase_potential(EMT(), atoms)
    R = jnp.asarray(atoms.positions)
    reference = atoms.copy()
    reference.calc = EMT()
    e_ref, f_ref = reference.get_potential_energy(), reference.get_forces(apply_constraint=False)
    e, f = jax.jit(lambda R: pot.energy_and_forces(R))(R)
    assert float(e) == pytest.approx(e_ref, abs=1e-10)
    mask = np.ones(len(atoms), bool)
    if atoms.constraints:
        mask[atoms.constraints[0].get_indices()] = False
    np.testing.assert_allclose(f, f_ref * mask[:, None], atol=1e-10)  # FixAtoms -> fixed mask
    g = jax.grad(lambda R: pot.energy(R))(R)
    np.testing.assert_allclose(g, -f_ref, atol=1e-10)  # grad is -forces, fixed atoms included
    assert np.abs(f_ref).max() > 0.05


def test_forces_match_finite_differences_and_vmap_counts_calls():
    atoms = rattled_cluster(1)[:6]
    pot = ase_potential(EMT(), atoms)
    R = np.asarray(atoms.positions)
    energy = jax.jit(lambda R: pot.energy(R))
    np.testing.assert_allclose(pot.forces(jnp.asarray(R)), central_difference_forces(energy, R), atol=1e-6)
    batch = jnp.stack([jnp.asarray(R) + 0.01 * k for k in range(3)])
    before = pot.energy_fn.n_calls
    e, f = jax.jit(jax.vmap(lambda R: pot.energy_and_forces(R)))(batch)
    assert pot.energy_fn.n_calls - before == 3  # one calculator call per configuration
    assert f.shape == (3, 6, 3)
    # rigid translations leave the EMT energy unchanged
    np.testing.assert_allclose(e, e[0], atol=1e-10)


def test_minimize_with_external_emt_matches_ase_bfgs():
    atoms = rattled_cluster(2)
    pot = ase_potential(EMT(), atoms)
    res = jax.jit(lambda R: minimize(pot, R, "lbfgs", fmax=1e-4, max_steps=500))(jnp.asarray(atoms.positions))
    assert bool(res.converged)
    # every energy+force evaluation is one calculator call (the initial one included)
    assert pot.energy_fn.n_calls == int(res.n_force_calls)
    ref = atoms.copy()
    ref.calc = EMT()
    assert BFGS(ref, logfile=None).run(fmax=1e-4, steps=500)
    assert float(res.energy) == pytest.approx(ref.get_potential_energy(), abs=1e-7)


def test_calculators_of_one_size_share_compiled_code_and_keep_their_own_calls():
    """Potentials of two different ASE calculators (EMT, Lennard-Jones) on 13 atoms: one
    trace of a jitted function serves both, each call reaches its own calculator (ASE's
    energies, run here) and is counted on it; a vmap over the two stacked potentials
    evaluates each member with its own calculator. A potential built as ``Potential(energy_fn)``
    from a handle-dispatched energy is refused."""
    from ase.calculators.lj import LennardJones

    from jaxrxn.potentials.core import Potential

    atoms = rattled_cluster()
    emt, lj = ase_potential(EMT(), atoms), ase_potential(LennardJones(sigma=2.3, epsilon=0.4, rc=6.0), atoms)
    expected = []
    for calc in (EMT(), LennardJones(sigma=2.3, epsilon=0.4, rc=6.0)):
        a = atoms.copy()
        a.calc = calc
        expected.append(a.get_potential_energy())
    traces = []

    @jax.jit
    def energy(potential, R):
        traces.append(1)
        return potential.energy(R)

    R = jnp.asarray(atoms.positions)
    assert float(energy(emt, R)) == pytest.approx(expected[0], abs=1e-10)
    assert float(energy(lj, R)) == pytest.approx(expected[1], abs=1e-10)
    assert len(traces) == 1 and emt.energy_fn.n_calls == 1 and lj.energy_fn.n_calls == 1
    both = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), emt, lj)
    e = jax.vmap(lambda p: p.energy(R))(both)
    np.testing.assert_allclose(np.asarray(e), expected, atol=1e-10)
    assert emt.energy_fn.n_calls == 2 and lj.energy_fn.n_calls == 2
    with pytest.raises(ValueError, match="handle"):
        Potential(emt.energy_fn).energy(R)


def test_wrong_shape_raises():
    pot = ase_potential(EMT(), rattled_cluster())
    with pytest.raises(Exception, match="13 atoms"):
        pot.energy(jnp.zeros((4, 3)))


def test_programs_that_call_a_calculator_are_kept_by_the_persistent_cache(caplog):
    """The bridge is an XLA FFI custom call, not a Python callback, so JAX's persistent
    compilation cache (the suite's, tests/conftest.py) keeps a program that calls an outside
    calculator: with its compiled code dropped, as in a new process, it is loaded instead of
    compiled, and still calls its calculator. JAX writes no program with a
    ``jax.pure_callback`` to the cache: ethanol's molecular RS-P-RFO search with GFN2-xTB
    took 35.2 s in a first process and 33.4 s in a second before, 45.6 s and 7.8 s after
    (2026-12-07)."""
    import logging

    assert jax.config.jax_compilation_cache_dir  # set for the whole suite
    atoms = rattled_cluster(seed=5)
    pot = ase_potential(EMT(), atoms)

    def relaxed_by_emt(R):
        return minimize(pot, R, fmax=1e-3, max_steps=3).R

    R = jnp.asarray(atoms.positions)
    first = jax.jit(relaxed_by_emt)(R).block_until_ready()
    calls = pot.energy_fn.n_calls
    jax.clear_caches()
    with caplog.at_level(logging.DEBUG, logger="jax._src.compiler"):
        again = jax.jit(relaxed_by_emt)(R).block_until_ready()
    loaded = [r.getMessage() for r in caplog.records if "cache hit for 'jit_relaxed_by_emt'" in r.getMessage()]
    assert loaded, "the program was compiled again, not loaded from the persistent cache"
    np.testing.assert_array_equal(np.asarray(again), np.asarray(first))
    assert pot.energy_fn.n_calls == 2 * calls > 0


# ---- JaxrxnCalculator --------------------------------------------------------------------
def test_jaxrxn_calculator_in_ase_bfgs_matches_jaxrxn_minimize():
    atoms = Icosahedron("Cu", noshells=2)
    atoms.rattle(0.1, seed=4)
    morse = morse_preset("Cu")
    R0 = from_atoms(atoms)[0].copy()  # from_atoms shares memory with atoms.positions
    res = jax.jit(lambda R: minimize(morse, R, "lbfgs", fmax=1e-5, max_steps=1000))(jnp.asarray(R0))
    assert bool(res.converged)
    atoms.calc = JaxrxnCalculator(morse)
    assert atoms.get_potential_energy() == pytest.approx(float(morse.energy(jnp.asarray(R0))), abs=1e-12)
    assert BFGS(atoms, logfile=None).run(fmax=1e-5, steps=1000)
    assert atoms.get_potential_energy() == pytest.approx(float(res.energy), abs=1e-8)
    # 13-atom Morse(GW) Cu icosahedron: the relaxed energy is far below the rattled start
    assert float(res.energy) < float(morse.energy(jnp.asarray(R0))) - 0.05


def test_jaxrxn_calculator_respects_ase_fixatoms():
    atoms = fcc100("Cu", size=(2, 2, 2), vacuum=5.0)
    atoms.set_constraint(FixAtoms(indices=[0, 1]))
    atoms.rattle(0.05, seed=5)
    atoms.calc = JaxrxnCalculator(morse_preset("Cu"))
    f_all = atoms.get_forces(apply_constraint=False)
    f = atoms.get_forces()
    assert np.all(f[:2] == 0) and np.abs(f_all[:2]).max() > 1e-3
