"""Padded heterogeneous batches: different metals and atom counts in one compiled CI-NEB."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn import NEB, linear, neb
from jaxrxn.batch import batch_minimize, batch_neb, batch_saddle_search, pad_positions, pad_system, stack_potentials
from jaxrxn.geometry import align
from jaxrxn.path.elastic_band import neb_forces
from jaxrxn.potentials.core import max_atom_force
from jaxrxn.potentials.emt import emt_from_atoms
from jaxrxn.systems import adatom_hop_fcc100

# different metals, different slab sizes: 13, 9 and 19 atoms
CASES = [("Al", (2, 2, 3), "Au"), ("Pt", (2, 2, 2), None), ("Ni", (3, 2, 3), None)]


def _relaxed(atoms):
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS

    atoms.calc = EMT()
    BFGS(atoms, logfile=None).run(fmax=0.001)
    return atoms


def _ase_barrier(initial, final, n_images, fmax):
    from ase.calculators.emt import EMT
    from ase.mep import NEB as AseNEB
    from ase.optimize import BFGS

    images = [initial.copy() for _ in range(n_images - 1)] + [final.copy()]
    for im in images:
        im.calc = EMT()
    band = AseNEB(images, climb=True, method="improvedtangent")
    band.interpolate()
    BFGS(band, logfile=None).run(fmax=fmax, steps=1000)
    E = [im.get_potential_energy() for im in images]
    return max(E[1:-1]) - E[0]


@pytest.fixture(scope="module")
def reactions():
    out = []
    for metal, size, adatom in CASES:
        initial, final = (_relaxed(a) for a in adatom_hop_fcc100(metal, size, adatom))
        _, pot = emt_from_atoms(initial)
        out.append((initial, final, pot, linear(jnp.asarray(initial.positions), jnp.asarray(final.positions), 5)))
    return out


def test_batch_neb_equals_single_runs_and_ase(reactions):
    pots = [r[2] for r in reactions]
    bands = [r[3] for r in reactions]
    results = batch_neb(pots, bands, NEB(), fmax=0.01)
    assert [res.path.shape for res in results] == [b.shape for b in bands]  # unpadded
    assert all(bool(res.converged) for res in results)
    for k in (2,):  # alone, with the same settings: the same run to round-off
        alone = neb(pots[k], bands[k], NEB(), fmax=0.01)
        assert float(results[k].barrier) == pytest.approx(float(alone.barrier), abs=1e-6)
        assert int(results[k].n_force_calls) == int(alone.n_force_calls)
    for k in (0, 1):  # ASE's CI-NEB from the same end points, images and fmax
        initial, final = reactions[k][:2]
        assert float(results[k].barrier) == pytest.approx(_ase_barrier(initial, final, 5, 0.01), abs=2e-3)


def test_padding_atoms_change_nothing(reactions):
    initial, _, pot, band = reactions[1]  # 9 atoms, padded to 13
    stacked = stack_potentials([pot, reactions[0][2]])
    padded = jax.tree_util.tree_map(lambda x: x[0], stacked)
    R = jnp.asarray(initial.positions) + 0.05 * jnp.asarray(np.random.default_rng(0).normal(size=(9, 3)))
    R_pad = pad_positions(R, 13)
    e, f = pot.energy_and_forces(R)
    e_pad, f_pad = padded.energy_and_forces(R_pad)
    assert float(e_pad) == pytest.approx(float(e), abs=1e-10)  # no energy
    np.testing.assert_allclose(f_pad[:9], f, atol=1e-10)
    assert np.all(np.asarray(f_pad[9:]) == 0.0)  # no force, never moves
    assert np.all(np.asarray(padded.free_mask(R_pad))[9:] == 0.0)
    assert float(max_atom_force(f_pad)) == pytest.approx(float(max_atom_force(f)), abs=1e-12)  # no effect on fmax
    # NEB tangents, springs and image distances: the padded band's NEB forces are the band's
    energies = jnp.array([0.0, 0.3, 0.5, 0.2, 0.1])
    forces = jax.vmap(pot.forces)(band)
    plain = neb_forces(band, energies, forces, k=0.1, climbing=True, free=pot.free_mask(band[0]))
    band_pad = pad_positions(band, 13)
    f_band_pad = jax.vmap(padded.forces)(band_pad)
    padded_neb = neb_forces(band_pad, energies, f_band_pad, k=0.1, climbing=True, free=padded.free_mask(band_pad[0]))
    np.testing.assert_allclose(padded_neb[:, :9], plain, atol=1e-10)
    assert np.all(np.asarray(padded_neb[:, 9:]) == 0.0)
    # Kabsch alignment weighted by the atom mask ignores the padding atoms
    Q = R @ jnp.asarray([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) + 1.0
    aligned = align(R_pad, pad_positions(Q, 13), padded.system.atom_mask)
    np.testing.assert_allclose(aligned[:9], align(R, Q), atol=1e-8)


def test_stacking_rejects_mixed_kinds(reactions):
    other = reactions[0][2].replace(energy_fn=lambda R, system, params: jnp.sum(R**2))
    with pytest.raises(ValueError, match="one kind of potential"):
        stack_potentials([reactions[0][2], other])
    with pytest.raises(ValueError, match="cannot pad"):
        pad_system(reactions[0][2].system, 3)


def test_bad_member_is_named_before_any_work(reactions):
    """A NaN coordinate in the second member is reported with its index by every batch
    entry point, before stacking or compiling."""
    pots = [reactions[0][2], reactions[1][2]]
    bands = [reactions[0][3], reactions[1][3].at[2, 0, 0].set(jnp.nan)]
    with pytest.raises(ValueError, match="reaction 1: .*NaN"):
        batch_neb(pots, bands)
    R = [bands[0][0], bands[1][2]]
    with pytest.raises(ValueError, match="configuration 1: .*NaN"):
        batch_minimize(pots, R)
    with pytest.raises(ValueError, match="saddle 1: guess .*NaN"):
        batch_saddle_search(pots, R)


# ---- free molecules: rigid-body modes, zero modes and Kabsch over the real atoms only ------
def _lj2d(n):
    from jaxrxn import System, lennard_jones

    return lennard_jones(dim=2, system=System(numbers=[18] * n))


def _turned(R, angle, shift):
    c, s = np.cos(angle), np.sin(angle)
    return (R - R.mean(0)) @ np.array([[c, -s], [s, c]]) + R.mean(0) + shift


def test_rigid_body_modes_and_alignment_ignore_padding():
    from jaxrxn.geometry import kabsch, rigid_body_modes, rmsd
    from jaxrxn.path.elastic_band import remove_rigid_motion
    from jaxrxn.saddle.index import removed_directions, zero_modes

    rng = np.random.default_rng(1)
    R = jnp.asarray(rng.normal(size=(4, 3)))
    mask = jnp.arange(6) < 4
    R_pad = pad_positions(R, 6)
    masses = jnp.asarray([1.0, 12.0, 16.0, 2.0, 1.0, 1.0])
    modes = jax.jit(lambda R, m, a: rigid_body_modes(R, m, atom_mask=a))
    for m in (None, masses):
        plain = modes(R, None if m is None else m[:4], None)
        padded = modes(R_pad, m, mask).reshape(6, 6, 3)
        np.testing.assert_allclose(padded[:, :4].reshape(6, -1), plain, atol=1e-12)
        assert np.all(np.asarray(padded[:, 4:]) == 0.0)
    f = jnp.asarray(rng.normal(size=(4, 3)))
    f_pad = jnp.concatenate([f, jnp.zeros((2, 3))])
    remove = jax.jit(remove_rigid_motion)
    np.testing.assert_allclose(remove(R_pad, f_pad, mask)[:4], remove(R, f, None), atol=1e-12)
    # Kabsch: padding atoms neither steer the fit nor move, nor count in the RMSD
    Q = jnp.asarray(_turned_3d(np.asarray(R)))
    Q_pad = pad_positions(Q, 6).at[4:].add(3.0)  # padding elsewhere in Q
    U, t = jax.jit(kabsch)(R_pad, Q_pad, None, mask)
    np.testing.assert_allclose(R @ U + t, Q, atol=1e-10)
    assert float(jax.jit(rmsd)(R_pad, Q_pad, atom_mask=mask)) < 1e-10
    # zero modes of a padded free molecule: those of the molecule (padding atoms are fixed
    # but do not pin it), plus rows for the padding coordinates
    pot4 = _lj(4)
    padded_pot = jax.tree_util.tree_map(lambda x: x[0], stack_potentials([pot4, _lj(6)]))

    @jax.jit
    def analyse(pot, R):
        zm = zero_modes(pot, R)
        return zm, removed_directions(pot, R, zm)

    (zm, V), (zm_pad, V_pad) = analyse(pot4, R), analyse(padded_pot, R_pad)
    assert bool(jnp.all(zm_pad.translations)) and bool(jnp.all(zm_pad.rotations))
    assert bool(jnp.all(zm.translations == zm_pad.translations)) and bool(jnp.all(zm.rotations == zm_pad.rotations))
    assert V_pad.shape == (6 + 18, 18)  # traced fixed mask: one row per coordinate
    np.testing.assert_allclose(V_pad[:6].reshape(6, 6, 3)[:, :4].reshape(6, -1), V[:6], atol=1e-12)
    np.testing.assert_allclose(np.abs(V_pad[6:]).sum(1), [0.0] * 12 + [1.0] * 6)


def _turned_3d(R):
    c, s = np.cos(0.7), np.sin(0.7)
    return R @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) + np.array([0.5, -1.0, 2.0])


def _lj(n):
    from jaxrxn import System, lennard_jones

    return lennard_jones(0.0104, 3.4, system=System(numbers=[18] * n))


def test_padded_neb_with_rigid_removal_equals_unpadded():
    """2D LJ7 and LJ3 bands whose end points are turned and shifted against each other, in
    one batch with ``remove_rigid``: the padded LJ3 band moves exactly as alone."""
    from helpers import LJ7_SADDLE_11_0403, lj7_hexagon

    tri = np.array([[0.0, 0.0], [1.12, 0.0], [0.56, 0.97]])
    chain = _turned(np.array([[0.0, 0.0], [2.2352, 0.0], [1.1176, 0.04]]), 0.5, [0.3, -0.2])
    bands = [linear(jnp.asarray(lj7_hexagon()), jnp.asarray(_turned(LJ7_SADDLE_11_0403, 0.4, [0.5, 0.2])), 5)]
    bands.append(linear(jnp.asarray(tri), jnp.asarray(chain), 5))
    solver = NEB(k=1.0, climb=False, remove_rigid=True)
    batch = batch_neb([_lj2d(7), _lj2d(3)], bands, solver, fmax=1e-3, max_steps=30)
    alone = neb(_lj2d(3), bands[1], solver, fmax=1e-3, max_steps=30)
    np.testing.assert_allclose(batch[1].path, alone.path, atol=1e-10)
    assert int(batch[1].n_force_calls) == int(alone.n_force_calls)
    X = np.asarray(batch[1].path - bands[1])[1:-1]  # the images moved, without net rotation
    assert np.abs(X).max() > 1e-2


def test_batch_saddle_search_equals_single_searches():
    """P-RFO on 2D LJ7 (7 atoms) and linear LJ3 (3 atoms, padded to 7) in one compiled call:
    the padded search takes the same steps to the same saddle as alone."""
    from helpers import LJ7_SADDLE_11_0403

    from jaxrxn import saddle_search
    from jaxrxn import batch as batch_module
    from jaxrxn.batch import batch_saddle_search
    from jaxrxn.saddle import PRFO

    pots = [_lj2d(7), _lj2d(3)]
    guesses = [
        jnp.asarray(LJ7_SADDLE_11_0403 + 0.03 * np.random.default_rng(0).normal(size=(7, 2))),
        jnp.asarray([[0.0, 0.0], [1.1176, 0.04], [2.2352, 0.0]]),  # near the linear saddle
    ]
    batch_module._saddle_batch.clear_cache()  # other tests in this worker may have compiled it for their shapes
    results = batch_saddle_search(pots, guesses, PRFO(), fmax=1e-4)
    assert [r.R.shape for r in results] == [(7, 2), (3, 2)]
    assert all(bool(r.converged) and int(r.saddle_index) == 1 for r in results)
    assert float(results[0].energy) == pytest.approx(-11.0403, abs=1e-4)  # the known LJ7 saddle
    alone = saddle_search(pots[1], guesses[1], PRFO(), fmax=1e-4)
    np.testing.assert_allclose(results[1].R, alone.R, atol=1e-10)
    assert float(results[1].energy) == pytest.approx(float(alone.energy), abs=1e-10)
    assert (int(results[1].n_steps), int(results[1].n_force_calls)) == (int(alone.n_steps), int(alone.n_force_calls))
    # one compilation for the batch, and the padding atoms never moved
    stacked = stack_potentials(pots)
    R = jnp.stack([pad_positions(g, 7) for g in guesses])
    out = batch_module._saddle_batch(stacked, R, None, PRFO(), jnp.asarray(1e-4, R.dtype), 500, "auto", True, None)
    assert batch_module._saddle_batch._cache_size() == 1
    np.testing.assert_array_equal(out.R[1, 3:], R[1, 3:])
    # in chunks of one (batch_size, lax.map over vmapped chunks: less memory), the same searches
    chunked = batch_saddle_search(pots, guesses, PRFO(), fmax=1e-4, batch_size=1)
    for r, c in zip(results, chunked):
        np.testing.assert_allclose(c.R, r.R, atol=1e-10)
        assert (int(c.n_steps), int(c.n_force_calls), int(c.saddle_index)) == (int(r.n_steps), int(r.n_force_calls), int(r.saddle_index))
    with pytest.raises(ValueError, match="batch_size"):
        batch_saddle_search(pots, guesses, PRFO(), batch_size=0)


def test_batch_neb_with_overflowing_neighbour_lists_equals_the_list_free_batch():
    """EMT hops on slabs wide enough for lists (Al 51, Pt 61, Ni 76 atoms). Each list is
    allocated where its slab is stretched 2.7-fold along z, so its capacities are far too
    small: under jit the Ni band stops at its first evaluation, the batch runs again with
    wider lists, and every band equals the batch without lists."""
    pots, listed, bands = [], [], []
    for metal, size in [("Al", (5, 5, 2)), ("Pt", (6, 5, 2)), ("Ni", (5, 5, 3))]:
        initial, final = adatom_hop_fcc100(metal, size)
        R0, pot = emt_from_atoms(initial)
        stretched = np.asarray(R0).copy()
        stretched[:, 2] = stretched[:, 2].mean() + 2.7 * (stretched[:, 2] - stretched[:, 2].mean())
        pots.append(pot)
        listed.append(pot.with_neighbors(jnp.asarray(stretched), skin=0.1, capacity_multiplier=1.0))
        bands.append(linear(R0, jnp.asarray(final.positions), 5))
    free = batch_neb(pots, bands, NEB(), fmax=0.05, max_steps=200)
    with_lists = batch_neb(listed, bands, NEB(), fmax=0.05, max_steps=200)
    assert all(bool(r.converged) for r in with_lists + free)
    for a, b in zip(with_lists, free):
        assert abs(float(a.barrier - b.barrier)) < 1e-9
        np.testing.assert_allclose(np.asarray(a.path), np.asarray(b.path), rtol=0, atol=1e-9)
        assert int(a.n_force_calls) > int(b.n_force_calls)  # the discarded first run counts
