"""Data-set pieces of jaxrxn.generative: surfaces, arc-length resampling, Transition1x layout."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.generative.data import (
    ReactionPath,
    count_interior_maxima,
    read_transition1x,
    resample_by_arc_length,
    split_seeds,
    write_transition1x,
)
from jaxrxn.generative.surfaces import descriptor, params_from_descriptor, random_surface, surface_params
from jaxrxn.potentials.analytic import muller_brown


def test_surface_is_deterministic_and_mb_like():
    a, b = surface_params(7), surface_params(7)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.allclose(surface_params(8)["A"], a["A"])
    n_terms = int(jnp.sum(a["A"] != 0))
    assert 4 <= n_terms <= 6
    d = descriptor(a)
    assert d.shape == (6, 6)
    back = params_from_descriptor(d)
    R = jnp.array([[-0.5, 1.4]])
    assert float(random_surface(7).energy(R)) == float(random_surface(7).replace(params=back).energy(R))
    # padded slots add nothing: the MB terms alone give Muller-Brown at its minimum A
    # when the perturbation is removed (energy -146.6995 of the foundation's docstring).
    mb = muller_brown()
    pad = {k: jnp.concatenate([mb.params[k], jnp.zeros(2)]) for k in mb.params}
    assert abs(float(random_surface(0).replace(params=pad).energy(jnp.array([[-0.558224, 1.441726]]))) + 146.6995) < 1e-3


def test_split_seeds_disjoint():
    tr, te = split_seeds(100, 20)
    assert not set(tr) & set(te)


def test_resample_by_arc_length_equal_spacing():
    # a quarter circle sampled unevenly
    t = np.linspace(0, 1, 40) ** 2 * np.pi / 2
    path = jnp.asarray(np.stack([np.cos(t), np.sin(t)], -1)[:, None, :])
    r = resample_by_arc_length(path, 11)
    seg = np.linalg.norm(np.diff(np.asarray(r)[:, 0], axis=0), axis=-1)
    assert np.ptp(seg) < 1e-3 * seg.mean()
    np.testing.assert_allclose(r[0], path[0])
    np.testing.assert_allclose(r[-1], path[-1])
    assert int(count_interior_maxima(jnp.array([0.0, 1.0, 2.0, 1.0, 0.0]))) == 1
    assert int(count_interior_maxima(jnp.array([0.0, 2.0, 1.0, 2.0, 0.0]))) == 2


@pytest.fixture
def tiny_t1x(tmp_path):
    """A two-reaction file in the real Transition1x layout (3D, wB97x level, 5 NEB frames)."""
    rng = np.random.default_rng(0)
    rx = []
    for i, formula in enumerate(["C2H2O", "CH4"]):
        n = 5 if formula == "C2H2O" else 5
        pos = rng.normal(size=(5, n, 3))
        E = np.array([-10.0, -9.5, -9.0, -9.6, -10.2]) + i
        rx.append(ReactionPath(formula, f"rxn{i:04d}", np.array([6, 6, 1, 1, 8][:n]), pos, E,
                           rng.normal(size=(5, n, 3)), pos[0], pos[-1], pos[2], {}))
    fn = tmp_path / "t1x.h5"
    write_transition1x(str(fn), {"data": rx, "train": rx[:1]}, level="wB97x_6-31G(d)")
    return fn, rx


def test_transition1x_reader_roundtrip(tiny_t1x):
    fn, rx = tiny_t1x
    got = read_transition1x(str(fn), "data")
    assert sorted(r.rxn for r in got) == ["rxn0000", "rxn0001"]
    g = next(r for r in got if r.rxn == "rxn0000")
    np.testing.assert_array_equal(g.positions, rx[0].positions)
    np.testing.assert_array_equal(g.energies, rx[0].energies)
    np.testing.assert_array_equal(g.transition_state, rx[0].positions[2])  # highest frame
    assert g.barrier == pytest.approx(1.0)
    last = read_transition1x(str(fn), "train", last_frames=3)
    assert len(last) == 1 and last[0].positions.shape == (3, 5, 3)
    with pytest.raises(ValueError, match="no split"):
        read_transition1x(str(fn), "val")
    with pytest.raises(ValueError, match="no 'jaxrxn' energies"):
        read_transition1x(str(fn), "data", level="jaxrxn")


def test_match_cluster_undoes_rotation_reflection_and_relabelling():
    """An asymmetric 7-atom planar cluster, rotated, reflected and relabelled, is mapped
    back exactly (RMSD ~1e-12); the retrieval baseline then returns a training path in the
    query's frame and labels, and the cluster path RMSD ignores a rigid rotation."""
    from jaxrxn.generative.clusters import cluster_path_rmsd, match_cluster, nearest_cluster_path, random_frame
    from jaxrxn.generative.data import PathSet

    rng = np.random.default_rng(3)
    P = rng.normal(size=(7, 2)) * 1.2
    Q = random_frame(P, np.random.default_rng(4))
    perm, U, r = match_cluster(P, Q)
    assert r < 1e-10
    np.testing.assert_allclose((P[perm] - P.mean(0)) @ U + Q.mean(0), Q, atol=1e-10)
    # a one-path training set: IS P, FS with atom 0 moved; the query is its image under Q's map
    fs = P.copy()
    fs[0] += [0.8, 0.3]
    t = np.linspace(0, 1, 21)[:, None, None]
    path = P + t * (fs - P) + np.sin(np.pi * t) * 0.1
    train = PathSet(jnp.asarray(path[None]), jnp.zeros((1, 7), int), jnp.zeros((1, 7, 2)), jnp.ones(1), jnp.zeros(1, int))
    mapped = (path[:, perm] - P.mean(0)) @ U + Q.mean(0)
    got = nearest_cluster_path(train, mapped[0], mapped[-1])
    np.testing.assert_allclose(got, mapped, atol=1e-9)
    th = 0.7
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    assert float(cluster_path_rmsd(jnp.asarray(path @ rot.T + 1.0), jnp.asarray(path))) < 1e-10
    assert float(cluster_path_rmsd(jnp.asarray(path), jnp.asarray(path[::-1]))) > 0.05
