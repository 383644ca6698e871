"""Equivariance of the generative networks (generative.md §4.4: max error <= 1e-10 in fp64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.generative.nets import EGNN, PaiNN, SurfaceFlowNet, edge_geometry

TOL = 1e-10


def _random_orthogonal(rng, dim, reflect):
    Q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    if (np.linalg.det(Q) < 0) != reflect:
        Q[:, 0] *= -1
    return jnp.asarray(Q)


def _inputs(dim, n=6, seed=0):
    rng = np.random.default_rng(seed)
    R = jnp.asarray(rng.uniform(0, 3.0, size=(n, dim)))
    s = jnp.asarray(rng.normal(size=(n, 3)))
    v = jnp.asarray(rng.normal(size=(n, 2, dim)))
    return rng, R, s, v


@pytest.mark.parametrize("Net", [PaiNN, EGNN])
@pytest.mark.parametrize("dim", [2, 3])
def test_equivariance_rotation_reflection_permutation_translation(Net, dim):
    rng, R, s, v = _inputs(dim)
    net = Net(features=8, n_layers=2, r_cut=4.0, n_scalar_out=2, n_vector_out=3)
    params = net.init(jax.random.PRNGKey(1), R, s, v)
    apply = jax.jit(lambda R, s, v: net.apply(params, R, s, v))
    sc0, ve0 = apply(R, s, v)
    assert sc0.shape == (6, 2) and ve0.shape == (6, 3, dim)
    assert float(jnp.max(jnp.abs(ve0))) > 1e-3  # the check below is not trivially satisfied
    for reflect in (False, True):
        Q = _random_orthogonal(rng, dim, reflect)
        t = jnp.asarray(rng.normal(size=dim))
        perm = rng.permutation(6)
        sc, ve = apply((R @ Q + t)[perm], s[perm], (v @ Q)[perm])
        np.testing.assert_allclose(sc, sc0[perm], atol=TOL, rtol=0)
        np.testing.assert_allclose(ve, (ve0 @ Q)[perm], atol=TOL, rtol=0)


@pytest.mark.parametrize("Net", [PaiNN, EGNN])
def test_periodic_lattice_shift_invariance(Net):
    """Moving one atom by a lattice vector must not change any output (minimum image)."""
    rng, R, s, v = _inputs(2, seed=3)
    cell = jnp.eye(2) * 7.0
    net = Net(features=8, n_layers=1, r_cut=3.0)
    params = net.init(jax.random.PRNGKey(0), R, s, v, cell)
    apply = jax.jit(lambda R: net.apply(params, R, s, v, cell))
    out0 = apply(R)
    out1 = apply(R.at[2].add(jnp.array([7.0, -14.0])))
    for a, b in zip(out0, out1):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)


def test_cutoff_is_smooth_and_local():
    """An atom beyond r_cut has no influence; the cutoff weight and its slope vanish at r_cut."""
    R = jnp.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]])
    _, _, _, mask = edge_geometry(R, r_cut=4.0)
    assert float(mask[0, 2]) == 0.0 and float(mask[0, 1]) > 0.5 and float(mask[0, 0]) == 0.0
    slope = jax.grad(lambda x: edge_geometry(jnp.array([[0.0, 0.0], [x, 0.0]]), r_cut=4.0)[3][0, 1])(3.999999)
    assert abs(float(slope)) < 1e-5
    # gradients through the network are finite (no NaN from the diagonal sqrt)
    net = PaiNN(features=4, n_layers=1, n_rbf=4, r_cut=4.0)
    s = jnp.ones((3, 1))
    p = net.init(jax.random.PRNGKey(0), R, s)
    g = jax.jit(jax.grad(lambda R: jnp.sum(net.apply(p, R, s)[1] ** 2)))(R)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_surface_net_permutation_invariant_over_gaussians():
    rng = np.random.default_rng(0)
    desc = jnp.asarray(np.c_[rng.normal(size=(5, 3)) * [50, 1, 1], -np.abs(rng.normal(size=(5, 3)))])
    net = SurfaceFlowNet(features=8)
    x, x_is, cond = jnp.array([0.1, 0.2]), jnp.array([0.0, 0.5]), jnp.array([1.0, 0.0])
    p = net.init(jax.random.PRNGKey(0), x, x_is, desc, cond, 1.0)
    apply = jax.jit(lambda d: net.apply(p, x, x_is, d, cond, 1.0))
    a, b = apply(desc), apply(desc[::-1])
    for u, w in zip(a, b):
        np.testing.assert_allclose(u, w, atol=TOL, rtol=0)


def test_message_norm_keeps_dense_noisy_structures_bounded():
    """18 atoms packed within ~1 Å (a diffusion model's input at large noise): with plain
    message sums PaiNN's vector outputs compound over 3 layers at initialisation; divided by
    a typical neighbour count (``message_norm``) they stay O(1). The same weights serve both
    (the normalisation has no parameters), and ``message_norm=1`` is the plain sum."""
    rng = np.random.default_rng(0)
    R = jnp.asarray(rng.normal(scale=0.6, size=(18, 3)))
    s = jnp.asarray(np.eye(4)[rng.integers(0, 4, 18)])
    v = R[:, None, :]
    plain, normed = PaiNN(features=32, n_layers=3), PaiNN(features=32, n_layers=3, message_norm=10.0)
    params = plain.init(jax.random.PRNGKey(0), R, s, v)
    big = float(jnp.max(jnp.abs(jax.jit(plain.apply)(params, R, s, v)[1])))
    small = float(jnp.max(jnp.abs(jax.jit(normed.apply)(params, R, s, v)[1])))
    assert big > 100 * small and small < 10, (big, small)


def test_pair_scalars_follow_the_graph_and_keep_equivariance():
    """PaiNN's ``pair_scalars`` (invariant inputs per atom pair): a neighbour list whose
    padded slots cut some pairs gives the same outputs as the dense graph with the same
    cutoff (each slot gathers its own pair's row; padding slots, index n, must not leak
    NaN or another pair's value); permuting atoms permutes the outputs when the pair
    array is permuted on both axes; rotating R rotates the vectors; and the pair inputs
    change the output (they are used)."""
    from jaxrxn.neighbors import allocate

    rng, R, s, v = _inputs(3, n=7)
    R = R * 1.6  # some pairs beyond the 3 Å cutoff, so the list has padded slots
    pair = jnp.asarray(rng.normal(size=(7, 7, 2)))
    pair = pair + jnp.swapaxes(pair, 0, 1)
    net = PaiNN(features=8, n_layers=2, r_cut=3.0)
    params = net.init(jax.random.PRNGKey(0), R, s, v, pair_scalars=pair)
    apply = jax.jit(lambda R, s, v, pair, nbrs=None: net.apply(params, R, s, v, pair_scalars=pair, neighbors=nbrs))
    a_s, a_v = apply(R, s, v, pair)
    idx = allocate(R, None, 3.0, skin=0.0, capacity_multiplier=1.0).idx
    assert int(jnp.sum(idx == 7)) > 0  # the list has padding slots
    l_s, l_v = apply(R, s, v, pair, idx)
    np.testing.assert_allclose(l_s, a_s, atol=TOL, rtol=0)
    np.testing.assert_allclose(l_v, a_v, atol=TOL, rtol=0)
    p = jnp.asarray(rng.permutation(7))
    p_s, p_v = apply(R[p], s[p], v[p], pair[p][:, p])
    np.testing.assert_allclose(p_s, a_s[p], atol=TOL, rtol=0)
    np.testing.assert_allclose(p_v, a_v[p], atol=TOL, rtol=0)
    Q = _random_orthogonal(rng, 3, reflect=True)
    r_s, r_v = apply(R @ Q.T, s, v @ Q.T, pair)
    np.testing.assert_allclose(r_s, a_s, atol=TOL, rtol=0)
    np.testing.assert_allclose(r_v, a_v @ Q.T, atol=TOL, rtol=0)
    assert float(jnp.max(jnp.abs(apply(R, s, v, 2.0 * pair)[0] - a_s))) > 1e-3
