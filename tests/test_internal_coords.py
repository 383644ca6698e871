"""Redundant internal coordinates (jaxrxn.saddle.internal): the B-matrix against finite
differences of the primitives, the iterative back-transformation, linear bends."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.saddle import internal
from jaxrxn.saddle.internal import redundant_internals

# compiled once per test session: eager dispatch of these small functions is slower
values = eqx.filter_jit(lambda ic, R: ic.values(R))
difference = eqx.filter_jit(lambda ic, q1, q0: ic.difference(q1, q0))
wilson_b = eqx.filter_jit(lambda ic, R: ic.wilson_b(R))
active_space = eqx.filter_jit(internal.active_space)
back_transform = eqx.filter_jit(internal.back_transform)

# acetaldehyde-like C2H4O, slightly distorted (Å): bonds, bends, proper torsions
C2H4O = np.array(
    [
        [0.000, 0.000, 0.000],  # C
        [1.510, 0.020, 0.010],  # C
        [2.120, 1.060, -0.050],  # O
        [-0.380, 1.020, 0.110],  # H
        [-0.370, -0.520, 0.880],  # H
        [-0.360, -0.500, -0.910],  # H
        [2.010, -0.960, 0.040],  # H
    ]
)
C2H4O_Z = [6, 6, 8, 1, 1, 1, 1]
HCN_LINEAR = np.array([[0.0, 0.0, -1.066], [0.0, 0.0, 0.0], [0.0, 0.0, 1.156]])


def _no_rigid(n):
    return jnp.zeros((0, 3 * n))


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def test_wilson_b_matches_central_differences():
    ic = redundant_internals(C2H4O_Z, C2H4O)
    assert len(ic.bonds) == 6 and len(ic.torsions) > 0 and ic.n_active == 3 * 7 - 6
    R = jnp.asarray(C2H4O)
    B = np.asarray(wilson_b(ic, R))
    h = 1e-5
    fd = np.stack(
        [
            np.asarray(difference(ic, values(ic, R + h * e.reshape(R.shape)), values(ic, R - h * e.reshape(R.shape))))
            / (2 * h)
            for e in np.eye(R.size)
        ],
        axis=1,
    )
    np.testing.assert_allclose(B, fd, atol=1e-7)


def test_back_transform_reaches_an_internal_target():
    """The target is the primitives of a displaced geometry (reachable although redundant):
    the back-transformed geometry has those primitives, and the step is purely internal."""
    ic = redundant_internals(C2H4O_Z, C2H4O)
    R = jnp.asarray(C2H4O)
    rng = np.random.default_rng(0)
    target = R + 0.08 * jnp.asarray(rng.normal(size=R.shape))
    dq = difference(ic, values(ic, target), values(ic, R))
    X = back_transform(ic, R, dq, _no_rigid(7))
    np.testing.assert_allclose(difference(ic, values(ic, X), values(ic, R)), dq, atol=1e-8)
    # same internal geometry as the target: equal interatomic distances
    d = lambda Y: np.linalg.norm(np.asarray(Y)[:, None] - np.asarray(Y)[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(X), d(target), atol=1e-7)
    # the linear step alone misses the target by far more (so the iterations did the work)
    U, s, Vt = active_space(ic, R, _no_rigid(7))
    X1 = R + (Vt.T @ ((U.T @ dq) / s)).reshape(R.shape)
    assert np.linalg.norm(difference(ic, values(ic, X1), values(ic, R)) - dq) > 1e-4


def test_torsion_difference_wraps_across_pi():
    ic = redundant_internals(C2H4O_Z, C2H4O)
    q = values(ic, jnp.asarray(C2H4O))
    t = np.flatnonzero(np.asarray(ic._torsion_rows()))[0]
    q1 = q.at[t].set(jnp.pi - 0.01)
    q0 = q.at[t].set(-jnp.pi + 0.01)
    assert float(difference(ic, q1, q0)[t]) == pytest.approx(-0.02, abs=1e-12)


def test_linear_hcn_gets_linear_bends_and_finite_steps():
    ic = redundant_internals([1, 6, 7], HCN_LINEAR)
    assert len(ic.bends) == 0 and len(ic.linear) == 1 and ic.n_active == 4
    R = jnp.asarray(HCN_LINEAR)
    B = np.asarray(wilson_b(ic, R))
    assert np.all(np.isfinite(B)) and B.shape == (4, 9)
    # the two linear bends respond to bending in the two perpendicular planes
    U, s, Vt = active_space(ic, R, _no_rigid(3))
    assert np.all(np.isfinite(s)) and s.min() > 0.1
    # bend the molecule by a finite internal step and come back: finite, and reversible
    dq = jnp.asarray([0.0, 0.0, 0.2, -0.1])
    X = back_transform(ic, R, dq, _no_rigid(3))
    assert np.all(np.isfinite(np.asarray(X)))
    np.testing.assert_allclose(difference(ic, values(ic, X), values(ic, R)), dq, atol=1e-8)
    Y = back_transform(ic, X, -dq, _no_rigid(3))
    np.testing.assert_allclose(values(ic, Y), values(ic, R), atol=1e-8)


def test_planar_molecule_gets_its_out_of_plane_coordinate():
    """Formaldehyde: bonds and bends alone miss the out-of-plane motion; the builder adds
    an improper torsion so that B has full rank 3n - 6."""
    R = np.array([[0.0, 0.0, 0.0], [1.21, 0.0, 0.0], [-0.55, 0.94, 0.0], [-0.55, -0.94, 0.0]])
    ic = redundant_internals([6, 8, 1, 1], R)
    assert len(ic.cartesian) == 0 and len(ic.torsions) >= 1
    s = np.linalg.svd(np.asarray(wilson_b(ic, jnp.asarray(R))), compute_uv=False)
    assert np.sum(s > 1e-6) == 6


def test_internal_coordinates_with_fixed_atoms_are_refused():
    """A search in internal coordinates on a system that fixes atoms raises before any
    evaluation (the active space assumes only rigid-body motions are removed)."""
    import jaxrxn
    from jaxrxn.saddle import RSPRFO, saddle_search

    R = jnp.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.25], [1.28, 0.0, -0.23], [0.75, 0.0, -1.3]])
    numbers = np.array([6, 8, 1, 1])
    energy = lambda R, system, k: k * jnp.sum(R**2)  # noqa: E731
    solver = RSPRFO(coordinates=redundant_internals(numbers, np.asarray(R)))
    fixed = jaxrxn.Potential(energy, jnp.asarray(1.0), masses=jnp.array([12.0, 16.0, 1.0, 1.0]), fixed=[1, 0, 0, 0])
    with pytest.raises(ValueError, match="free molecule"):
        saddle_search(fixed, R, solver)


def test_fragments_welded_by_all_near_shortest_contacts_like_sella():
    """Baker & Chan's Diels-Alder guess (J. Comput. Chem. 17, 888 (1996), case 09: butadiene
    and ethylene, mirror-symmetric, nearest contacts two H...H pairs 1.63 Å apart): with
    ``weld_tol=0.15`` the bonds are those of Sella 2.6's welding (computed here by Sella),
    both mirror images included; without it one closest pair joins the fragments."""
    sella_internal = pytest.importorskip("sella.internal")
    from ase import Atoms

    xyz = [
        [0.0, 1.4, 0.0], [0.0, -1.4, 0.0], [1.2, -0.77, 0.0], [1.2, 0.77, 0.0],
        [-1.0, 0.7, -1.732051], [-1.0, -0.7, -1.732051],
        [2.111223, -1.343958, 0.081517], [2.111223, 1.343958, 0.081517],
        [-0.007352, 2.476772, 0.08311], [-0.007352, -2.476772, 0.08311],
        [-0.89587, 0.803244, -0.099302], [-0.89587, -0.803244, -0.099302],
        [-0.219593, 1.20656, -2.278497], [-0.219593, -1.20656, -2.278497],
        [-1.867067, 1.215331, -1.346008], [-1.867067, -1.215331, -1.346008],
    ]  # fmt: skip
    atoms = Atoms("C6H10", positions=xyz)
    ref = sella_internal.Internals(atoms)
    ref.find_all_bonds()
    sella_bonds = {tuple(sorted(map(int, b.indices))) for b in ref.internals["bonds"]}
    bonds = lambda c: {tuple(sorted(map(int, b))) for b in np.asarray(c.bonds)}  # noqa: E731
    welded = bonds(redundant_internals(atoms.numbers, atoms.positions, weld_tol=0.15))
    assert welded == sella_bonds
    assert {(10, 14), (11, 15), (4, 10), (5, 11)} <= welded
    closest = bonds(redundant_internals(atoms.numbers, atoms.positions))
    assert len(welded - closest) == 3 and len(closest - welded) == 0


def test_atom_in_flight_is_held_by_donor_and_acceptor():
    """Baker's HCN -> HNC guess (J. Baker & F. Chan, J. Comput. Chem. 17, 888 (1996)): the H
    is 1.585 Å from N and 1.958 Å from C, bonded to neither. Welding gives Sella 2.6's bonds
    (C-N, N-H; Sella's ``Internals.find_all_bonds`` run here); ``in_flight`` adds C-H, the
    bond the HCN -> HNC saddle forms. A guess whose atoms all have a bond is unchanged."""
    sella_internal = pytest.importorskip("sella.internal")
    from ase import Atoms

    atoms = Atoms("CNH", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 1.14838], [1.58536, 0.0, 1.14838]])
    ref = sella_internal.Internals(atoms)
    ref.find_all_bonds()
    sella_bonds = {tuple(sorted(map(int, b.indices))) for b in ref.internals["bonds"]}
    bonds = lambda c: {tuple(sorted(map(int, b))) for b in np.asarray(c.bonds)}  # noqa: E731
    assert bonds(redundant_internals(atoms.numbers, atoms.positions, weld_tol=0.15)) == sella_bonds == {(0, 1), (1, 2)}
    assert bonds(redundant_internals(atoms.numbers, atoms.positions, weld_tol=0.15, in_flight=True)) == {(0, 1), (0, 2), (1, 2)}
    assert bonds(redundant_internals(C2H4O_Z, C2H4O, in_flight=True)) == bonds(redundant_internals(C2H4O_Z, C2H4O))


def test_padded_primitives_change_nothing_the_search_sees_and_keep_one_shape():
    """`padded_internals` (what ``RSPRFO.molecular`` uses): on C2H4O the real primitives'
    values, B rows and Fischer-Almlöf force constants are those of the plain set and the
    padding reads 0 with zero B rows and no coupling, so every projection the search makes
    (active space, internal gradient, model Hessian) is the plain one's; and a geometry
    with other primitives (an H pulled off: other bonds, bends and torsions) gets the same
    shapes, so one compiled search serves both. (Run on GFN2-xTB from perturbed TSs of 4
    held-out reactions, padded and plain searches took the same gradients to saddles
    equal to 1e-13 Å; session 24.)"""
    from jaxrxn.saddle import RSPRFO
    from jaxrxn.saddle.rsprfo import fischer_almlof_hessian

    plain = redundant_internals(C2H4O_Z, C2H4O)
    padded = internal.padded_internals(plain, 7)
    real = np.asarray(padded.real)
    assert padded.n_primitives > plain.n_primitives == real.sum()
    R = jnp.asarray(C2H4O)
    for f in (values, wilson_b):
        a, b = np.asarray(f(padded, R)), np.asarray(f(plain, R))
        np.testing.assert_allclose(a[real], b, atol=1e-12)
        assert not np.any(a[~real])
    fischer = eqx.filter_jit(fischer_almlof_hessian)
    H_pad, H = np.asarray(fischer(padded, R, jnp.asarray(C2H4O_Z))), np.asarray(fischer(plain, R, jnp.asarray(C2H4O_Z)))
    np.testing.assert_allclose(H_pad[np.ix_(real, real)], H, rtol=1e-12)
    assert not np.any(H_pad[np.ix_(real, ~real)])
    with pytest.raises(ValueError, match="padded already"):
        internal.padded_internals(padded, 7)

    other = C2H4O.copy()
    other[6] += [0.0, -0.6, 0.0]  # an H pulled 1.6 Å from its C
    a, b = RSPRFO.molecular(C2H4O_Z, C2H4O).coordinates, RSPRFO.molecular(C2H4O_Z, other).coordinates
    assert not np.array_equal(np.asarray(a.real), np.asarray(b.real))  # other primitives ...
    shapes = lambda c: jax.tree_util.tree_map(jnp.shape, c)  # noqa: E731
    assert shapes(a) == shapes(b)  # ... in the same shapes
