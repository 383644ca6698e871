"""Geometry: Kabsch alignment, RMSD, path length, rigid-body modes, minimum image."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.geometry import (
    align, arc_length, kabsch, kabsch_rotation_numpy, minimum_image, path_length, rigid_body_modes, rigid_body_projector, rmsd, rmsd_numpy,
    rmsd_up_to_symmetry,
)  # fmt: skip

RNG = np.random.default_rng(3)


def _rotation(dim):
    Q, _ = np.linalg.qr(RNG.normal(size=(dim, dim)))
    if np.linalg.det(Q) < 0:
        Q[:, 0] *= -1
    return Q


@pytest.mark.parametrize("dim", [2, 3])
def test_kabsch_recovers_rotation(dim):
    P = RNG.normal(size=(8, dim))
    U = _rotation(dim)
    Q = P @ U + RNG.normal(size=dim)
    U_fit, _ = kabsch(jnp.asarray(P), jnp.asarray(Q))
    np.testing.assert_allclose(U_fit, U, atol=1e-10)
    assert float(rmsd(jnp.asarray(P), jnp.asarray(Q))) < 1e-10
    np.testing.assert_allclose(align(jnp.asarray(P), jnp.asarray(Q)), Q, atol=1e-10)


def test_kabsch_excludes_reflections():
    P = RNG.normal(size=(6, 3))
    Q = P * np.array([1, 1, -1])  # mirror image: no proper rotation maps P onto Q
    assert float(rmsd(jnp.asarray(P), jnp.asarray(Q))) > 1e-3


def test_path_length():
    path = jnp.asarray(np.array([[[0.0, 0.0]], [[3.0, 4.0]], [[3.0, 5.0]]]))
    assert float(path_length(path)) == pytest.approx(6.0)
    np.testing.assert_allclose(arc_length(path), [0, 5, 6])


@pytest.mark.parametrize(
    "R, n_modes",
    [
        (RNG.normal(size=(5, 3)), 6),
        (np.array([[0.0, 0, 0], [1, 0, 0], [2.5, 0, 0]]), 5),  # linear molecule
        (RNG.normal(size=(4, 2)), 3),
        (np.array([[0.3, 0.2]]), 2),  # a single particle in 2D has no rotation
    ],
)
def test_rigid_body_modes(R, n_modes):
    m = RNG.uniform(1, 10, size=R.shape[0])
    V = np.asarray(rigid_body_modes(jnp.asarray(R), jnp.asarray(m)))
    norms = np.linalg.norm(V, axis=1)
    assert int(np.sum(norms > 0.5)) == n_modes
    live = V[norms > 0.5]
    np.testing.assert_allclose(live @ live.T, np.eye(n_modes), atol=1e-10)
    P = np.asarray(rigid_body_projector(jnp.asarray(R), jnp.asarray(m)))
    np.testing.assert_allclose(P @ live.T, 0, atol=1e-10)


def test_periodic_translations_only():
    V = np.asarray(rigid_body_modes(jnp.asarray(RNG.normal(size=(4, 3))), rotations=False))
    assert V.shape[0] == 3


def test_minimum_image_triclinic():
    cell = np.array([[4.0, 0, 0], [2.0, 3.5, 0], [0, 0, 10.0]])
    d = np.array([3.9, 0.1, 0.0])
    out = np.asarray(minimum_image(jnp.asarray(d), jnp.asarray(cell), jnp.array([True, True, False])))
    np.testing.assert_allclose(out, [-0.1, 0.1, 0.0], atol=1e-12)


def test_numpy_kabsch_equals_the_jax_one_in_2d_and_3d():
    rng = np.random.default_rng(7)
    for dim in (2, 3):
        P, Q = rng.normal(size=(7, dim)), rng.normal(size=(7, dim))
        U, _ = kabsch(jnp.asarray(P), jnp.asarray(Q))
        np.testing.assert_allclose(kabsch_rotation_numpy(P, Q), U, atol=1e-12)
        assert np.linalg.det(kabsch_rotation_numpy(P, Q)) == pytest.approx(1.0)
        assert rmsd_numpy(P, Q) == pytest.approx(float(rmsd(jnp.asarray(P), jnp.asarray(Q))), abs=1e-12)


def test_rmsd_up_to_symmetry_equals_a_brute_force_search():
    """A structure compared with its enantiomer, its like atoms renumbered, rotated and
    moved by 0.02 Å: the same minimum as a brute-force search over every renumbering of
    like atoms (3! 2! = 12) and both handednesses (Kabsch each), far below the plain
    RMSD; the mirror is needed (without it, the search's value is not reached)."""
    import itertools

    rng = np.random.default_rng(11)
    numbers = np.array([6, 1, 1, 6, 1, 8, 7])
    P = rng.uniform(-2.0, 2.0, (7, 3))
    perm = np.array([3, 4, 2, 0, 1, 5, 6])  # C0<->C3, the hydrogens cycled
    Q = (P * np.array([-1.0, 1.0, 1.0]))[perm] @ _rotation(3) + 0.02 * rng.normal(size=(7, 3)) + 5.0
    found = rmsd_up_to_symmetry(P, Q, numbers)
    groups = [np.flatnonzero(numbers == z) for z in np.unique(numbers)]
    brute = np.inf
    for choice in itertools.product(*(itertools.permutations(g) for g in groups)):
        order = np.arange(7)
        for g, c in zip(groups, choice):
            order[g] = c
        brute = min(brute, rmsd_numpy(P[order], Q), rmsd_numpy(P[order], Q, mirror=True))
    assert found == pytest.approx(brute, abs=1e-12) and found < 0.03
    assert rmsd_numpy(P, Q) > 1.0
    assert min(rmsd_numpy(P[o], Q) for o in [np.arange(7), np.argsort(perm)]) > 0.5  # proper rotations do not reach it
    assert np.linalg.det(kabsch_rotation_numpy(P, Q, mirror=True)) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="numbers"):
        rmsd_up_to_symmetry(P, Q, numbers[:-1])


def test_minimum_image_of_a_slab_ignores_its_vacuum_row():
    # Periodic rows a, b; the vacuum row zero (as ASE leaves it), along z, or skewed: the same
    # images, equal to a brute-force search over lattice translations.
    rng = np.random.default_rng(3)
    ab = np.array([[4.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    d = rng.uniform(-7.0, 7.0, (40, 3))
    shifts = np.array([[i, j] for i in range(-3, 4) for j in range(-3, 4)]) @ ab
    images = d[:, None, :] + shifts[None]
    expected = images[np.arange(len(d)), np.argmin(np.linalg.norm(images, axis=-1), axis=1)]
    pbc = jnp.array([True, True, False])
    for vacuum in ([0.0, 0.0, 0.0], [0.0, 0.0, 20.0], [1.0, 2.0, 20.0]):
        cell = jnp.asarray(np.vstack([ab, vacuum]))
        np.testing.assert_allclose(np.asarray(minimum_image(jnp.asarray(d), cell, pbc)), expected, atol=1e-12)
    # differentiable in the cell (stress) with a zero vacuum row
    g = jax.grad(lambda c: jnp.sum(minimum_image(jnp.asarray(d), c, pbc) ** 2))(jnp.asarray(np.vstack([ab, np.zeros(3)])))
    assert np.all(np.isfinite(np.asarray(g)))
