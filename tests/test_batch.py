"""Padded heterogeneous batches: different metals and atom counts in one compiled CI-NEB."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn import NEB, linear, neb
from jaxrxn.batch import batch_neb, pad_positions, pad_system, stack_potentials
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
