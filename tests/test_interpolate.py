"""Linear and IDPP interpolation; IDPP against ASE's own implementation in the same test."""

import numpy as np
import pytest
from ase.build import molecule

from jaxrxn import System
from jaxrxn.geometry import align
from jaxrxn.path import idpp, linear


def _ethane_ends():
    # ASE 3.29 ase/test/neb/test_idpp.py: ethane with three H atoms permuted.
    initial = molecule("C2H6")
    final = initial.copy()
    final.positions[2:5] = initial.positions[[3, 4, 2]]
    return initial, final


def test_idpp_ethane_matches_ase():
    from ase.mep import NEB as AseNEB
    from ase.mep import idpp_interpolate
    from ase.optimize import LBFGS

    initial, final = _ethane_ends()
    path = np.asarray(idpp(initial.positions, final.positions, 7, fmax=1e-4))
    # ASE's test asserts distance(2, 3) in the middle image = 1.74 +- 0.01 Å
    assert np.linalg.norm(path[3, 2] - path[3, 3]) == pytest.approx(1.74, abs=0.01)
    # ASE's interpolate(method='idpp') is idpp_interpolate with fmax 0.1 and MDMin; run it
    # to the same fmax with a quasi-Newton optimizer so both bands are converged.
    images = [initial] + [initial.copy() for _ in range(5)] + [final]
    band = AseNEB(images, method="improvedtangent")
    band.interpolate()
    idpp_interpolate(band, fmax=1e-4, steps=5000, optimizer=LBFGS, traj=None, log=None)
    ase_path = np.stack([im.positions for im in images])
    # The surrogate and the NEB projection leave a rigid rotation of each interior image
    # free, so the two optimizers may end up rotated apart (1.8e-3 Å); compare the shapes.
    aligned = np.stack([np.asarray(align(path[i], ase_path[i])) for i in range(7)])
    assert np.abs(aligned - ase_path).max() < 1e-3


def test_linear_minimum_image_and_fixed_atoms():
    cell = np.diag([5.0, 5.0, 5.0])
    R0 = np.array([[0.2, 1.0, 1.0], [2.5, 2.5, 2.5]])
    R1 = np.array([[4.8, 1.0, 1.0], [3.0, 2.5, 2.5]])
    path = np.asarray(linear(R0, R1, 5, cell=cell, pbc=[True] * 3, fixed=[False, True]))
    # atom 0 crosses the boundary: 0.4 Å the short way, not 4.6 Å through the cell
    np.testing.assert_allclose(path[:, 0, 0], [0.2, 0.1, 0.0, -0.1, -0.2], atol=1e-12)
    np.testing.assert_allclose(path[:, 1], np.broadcast_to(R0[1], (5, 3)))
    # the same from the end states' System (the one source; padding atoms stay put too)
    system = System([1, 1, 0], cell, fixed=[False, True, False], atom_mask=[True, True, False])
    path3 = np.asarray(linear(np.r_[R0, [[9.0, 9, 9]]], np.r_[R1, [[7.0, 7, 7]]], 5, system=system))
    np.testing.assert_array_equal(path3[:, :2], path)
    np.testing.assert_array_equal(path3[:, 2], np.full((5, 3), 9.0))
    with pytest.raises(ValueError, match="not both"):
        linear(R0, R1, 5, system=system, cell=cell)


def test_idpp_keeps_fixed_atoms_and_end_points():
    initial, final = _ethane_ends()
    fixed = [True, True] + [False] * 6
    path = np.asarray(idpp(initial.positions, final.positions, 5, fixed=fixed, fmax=0.01))
    np.testing.assert_allclose(path[:, :2], np.broadcast_to(initial.positions[:2], (5, 2, 3)))
    np.testing.assert_allclose(path[0], initial.positions)
    np.testing.assert_allclose(path[-1], final.positions)
