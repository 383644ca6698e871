"""ASE bridges: Atoms in and out with FixAtoms, extxyz paths."""

import numpy as np
import pytest
from ase.build import fcc100
from ase.constraints import FixAtoms, FixBondLength

from jaxrxn.io import from_atoms, read_path, to_atoms, write_path


def _slab():
    slab = fcc100("Cu", (2, 2, 3), vacuum=5.0)
    slab.set_constraint(FixAtoms(mask=slab.get_tags() > 1))
    return slab


def test_atoms_round_trip():
    slab = _slab()
    R, system = from_atoms(slab)
    assert R.shape == (12, 3) and system.fixed.sum() == 8 and system.periodic
    back = to_atoms(R, system, energy=1.5, forces=np.ones_like(R))
    np.testing.assert_allclose(back.positions, slab.positions)
    np.testing.assert_allclose(back.cell[:], slab.cell[:])
    assert list(back.pbc) == list(slab.pbc)
    assert back.get_potential_energy() == 1.5
    assert isinstance(back.constraints[0], FixAtoms)


def test_unsupported_constraint_raises():
    slab = _slab()
    slab.set_constraint(FixBondLength(0, 1))
    with pytest.raises(NotImplementedError, match="FixBondLength"):
        from_atoms(slab)


def test_path_extxyz_round_trip(tmp_path):
    R, system = from_atoms(_slab())
    path = np.stack([R + 0.01 * k for k in range(4)])
    energies = np.array([0.0, 0.2, 0.3, 0.1])
    forces = np.random.default_rng(0).normal(size=path.shape)
    forces[:, system.fixed] = 0.0
    fn = str(tmp_path / "band.extxyz")
    write_path(fn, path, system, energies, forces)
    p2, s2, e2, f2 = read_path(fn)
    np.testing.assert_allclose(p2, path)
    np.testing.assert_allclose(e2, energies)
    np.testing.assert_allclose(f2, forces, rtol=1e-6, atol=1e-8)  # extxyz keeps ~8 digits
    np.testing.assert_array_equal(s2.fixed, system.fixed)
