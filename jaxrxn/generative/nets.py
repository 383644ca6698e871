"""Networks for generative path models (flax.linen).

Two families, chosen by what the system's symmetry allows:

- **Atomistic systems** (clusters, slabs, molecules; any ``dim``): equivariant message
  passing over a dense, cut-off graph. :class:`PaiNN` (the default; K. T. Schütt,
  O. T. Unke & M. Gastegger, ICML 2021, "Equivariant message passing for the prediction of
  tensorial properties and molecular spectra") and :class:`EGNN` (minimal reference;
  V. G. Satorras, E. Hoogeboom & M. Welling, ICML 2021, "E(n) equivariant graph neural
  networks"). Both use only distances, unit vectors, inner products and scalar-times-vector
  products, so they work unchanged in 2D and 3D and are equivariant under the full
  orthogonal group O(dim) (rotations *and* reflections), permutations and translations.
  Periodic systems are handled by taking every displacement through
  :func:`jaxrxn.geometry.minimum_image`.
- **One particle on a 2D model surface**: an equivariant net is degenerate there (a
  single node has no neighbours, and the surface itself breaks rotation symmetry), so the
  network must see absolute coordinates plus the surface descriptor.
  :class:`SurfaceFlowNet` is a plain MLP with a permutation-invariant (DeepSets) encoding
  of the surface's Gaussians, used for the random multi-Gaussian surfaces of
  :mod:`jaxrxn.generative.surfaces`.

Common interface of the graph backbones::

    scalars, vectors = net(R, node_scalars, node_vectors, cell=None, pbc=None)

with ``R`` ``(n_atoms, dim)`` in Å, ``node_scalars`` ``(n_atoms, n_s)`` invariant inputs
(species embedding, condition flags), ``node_vectors`` ``(n_atoms, n_v, dim)`` equivariant
inputs (e.g. the displacement from the initial state), returning invariant
``(n_atoms, n_scalar_out)`` and equivariant ``(n_atoms, n_vector_out, dim)`` heads.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array

from jaxrxn.potentials._graph import cosine_cutoff, edge_geometry, graph_geometry, list_geometry  # noqa: F401


# ---------------------------------------------------------------------------------------
# graph helpers
# ---------------------------------------------------------------------------------------
def radial_basis(r: Array, r_cut: float, n_rbf: int) -> Array:
    """Sine radial basis ``sin(n pi r / r_cut) / r`` (PaiNN's choice), shape ``(..., n_rbf)``."""
    n = jnp.arange(1, n_rbf + 1, dtype=r.dtype)
    safe = jnp.where(r > 0, r, 1.0)
    return jnp.sin(n * jnp.pi * safe[..., None] / r_cut) / safe[..., None]


class MLP(nn.Module):
    """Dense layers of widths `features` with SiLU between them (none after the last).

    ``zero_last``: the last layer starts at zero, so the network starts as the zero
    function (a learned residual on a known baseline, as RL-KMC's Q).
    """

    features: Sequence[int]
    zero_last: bool = False

    @nn.compact
    def __call__(self, x):
        for k, f in enumerate(self.features):
            last = k == len(self.features) - 1
            init = nn.initializers.zeros if last and self.zero_last else nn.initializers.lecun_normal()
            x = nn.Dense(f, kernel_init=init)(x)
            if not last:
                x = nn.silu(x)
        return x


# ---------------------------------------------------------------------------------------
# PaiNN
# ---------------------------------------------------------------------------------------
class _PaiNNMessage(nn.Module):
    features: int
    n_rbf: int
    r_cut: float
    norm: float = 1.0

    @nn.compact
    def __call__(self, s, v, r, unit, mask, j=None, pair=None):
        F = self.features
        # LayerNorm on the invariant channels keeps depth from compounding magnitudes
        # (an addition to the paper; it acts on scalars only, so equivariance is kept).
        phi = MLP((F, 3 * F))(nn.LayerNorm()(s))  # (n, 3F), from the sending atom j
        basis = radial_basis(r, self.r_cut, self.n_rbf)
        if pair is not None:  # invariant pair inputs join the filter's radial basis
            basis = jnp.concatenate([basis, pair], axis=-1)
        w = nn.Dense(3 * F)(basis) * mask[..., None]  # (n, K, 3F)
        # message j -> i; dense pairs (j is None) have K = n slots, slot k holding atom k
        x = (phi[None, :, :] if j is None else phi[j]) * w
        ds_ij, a_ij, b_ij = jnp.split(x, 3, axis=-1)
        ds = jnp.sum(ds_ij, axis=1)
        # v: (n, F, dim); unit: (n, K, dim)
        va = jnp.einsum("ijf,jfd->ifd", a_ij, v) if j is None else jnp.einsum("ijf,ijfd->ifd", a_ij, v[j])
        dv = va + jnp.einsum("ijf,ijd->ifd", b_ij, unit)
        if self.norm != 1.0:
            ds, dv = ds / self.norm, dv / self.norm
        return s + ds, v + dv


class _PaiNNUpdate(nn.Module):
    features: int
    norm_eps: float = 1e-8

    @nn.compact
    def __call__(self, s, v):
        F = self.features
        Uv = nn.DenseGeneral(F, axis=-2, use_bias=False)(v)  # mixes channels, (n, dim, F)
        Vv = nn.DenseGeneral(F, axis=-2, use_bias=False)(v)
        Uv, Vv = jnp.swapaxes(Uv, -1, -2), jnp.swapaxes(Vv, -1, -2)  # (n, F, dim)
        # sqrt(x + eps) keeps the norm differentiable at zero vectors (PaiNN.norm_eps).
        norm_V = jnp.sqrt(jnp.sum(Vv**2, axis=-1) + self.norm_eps)
        a = MLP((F, 3 * F))(nn.LayerNorm()(jnp.concatenate([s, norm_V], axis=-1)))
        a_vv, a_sv, a_ss = jnp.split(a, 3, axis=-1)
        dv = a_vv[..., None] * Uv
        ds = a_sv * jnp.sum(Uv * Vv, axis=-1) + a_ss
        return s + ds, v + dv


class PaiNN(nn.Module):
    """Polarizable atom interaction network with scalar and vector heads (any ``dim``).

    Schütt, Unke & Gastegger, ICML 2021. Messages use a sine radial basis times the
    cosine cutoff, so the output is smooth as atoms cross `r_cut` (Å). Input vectors
    ``node_vectors`` seed the vector channels through a channel-mixing linear map (no
    bias, so equivariance holds); with ``n_v = 0`` the vectors start at zero as in the paper.

    **Arguments:** `features` (channels F), `n_layers`, `n_rbf`, `r_cut` (Å),
    `n_scalar_out`, `n_vector_out` (0: no vector head, the vectors returned are ``None``),
    `message_norm`: the sums of messages over neighbours are divided by it (NequIP's
    "average number of neighbours" normalisation, S. Batzner et al., Nat. Commun. 13, 2453
    (2022)); 1 is the paper's plain sum. In dense, noisy structures (a diffusion model's
    inputs at large noise: every atom a neighbour of every other) the plain sums compound
    the vector channels layer by layer (measured at initialisation on 6-18-atom molecules:
    outputs up to ~1e6); dividing by a typical neighbour count keeps them O(1).
    `norm_eps`: the update block's vector norms are ``sqrt(|v|^2 + norm_eps)`` (1e-8 by
    default, which older model files were trained with). In a symmetric structure a vector
    channel confined to a symmetry axis (the C-C axis of eclipsed ethane) passes through zero
    along a whole family of symmetric geometries, and there the smoothed norm is a ridge of
    curvature ``~1/sqrt(norm_eps)``: on a trained 64x3 potential the Hessian of eclipsed
    ethane jumped between +4 and -246 eV/Å² within 1e-4 Å and Newton polish stalled for 40
    iterations at 5.6e-3 eV/Å; with 1e-4 the same polish converged in 6 force calls.
    """

    features: int = 32
    n_layers: int = 3
    n_rbf: int = 16
    r_cut: float = 5.0
    n_scalar_out: int = 1
    n_vector_out: int = 1
    message_norm: float = 1.0
    norm_eps: float = 1e-8

    @nn.compact
    def __call__(
        self, R, node_scalars, node_vectors=None, cell=None, pbc=None, *, atom_mask=None, neighbors=None, pair_scalars=None
    ):
        n, dim = R.shape
        F = self.features
        j, _, r, unit, mask = graph_geometry(R, cell, pbc, self.r_cut, atom_mask, neighbors)
        pair = None
        if pair_scalars is not None:
            pair = pair_scalars if j is None else jnp.take_along_axis(pair_scalars, j[..., None], axis=1, mode="clip")
        s = nn.Dense(F)(node_scalars)
        if node_vectors is None or node_vectors.shape[1] == 0:
            v = jnp.zeros((n, F, dim), R.dtype)
        else:
            v = nn.DenseGeneral(F, axis=-2, use_bias=False)(node_vectors)  # (n, dim, F)
            v = jnp.swapaxes(v, -1, -2)
        for _ in range(self.n_layers):
            s, v = _PaiNNMessage(F, self.n_rbf, self.r_cut, self.message_norm)(s, v, r, unit, mask, j, pair)
            s, v = _PaiNNUpdate(F, self.norm_eps)(s, v)
        scalars = MLP((F, self.n_scalar_out))(s)
        if self.n_vector_out == 0:
            return scalars, None
        # Gated equivariant head: invariant gates times a channel-mixed vector.
        gates = MLP((F, self.n_vector_out))(s)
        vec = jnp.swapaxes(nn.DenseGeneral(self.n_vector_out, axis=-2, use_bias=False)(v), -1, -2)
        return scalars, gates[..., None] * vec


# ---------------------------------------------------------------------------------------
# e3x (spherical-harmonic message passing)
# ---------------------------------------------------------------------------------------
class E3xNet(nn.Module):
    """Message passing on spherical-harmonic features up to degree `max_degree`, built on
    e3x (O. T. Unke & H. Maennel, arXiv:2401.07595 (2024)): each layer is an
    ``e3x.nn.MessagePass`` (a tensor product of the sender's features with a radial x
    angular basis of the pair vector, reciprocal Bernstein radial functions times e3x's
    smooth cutoff at `r_cut` Å) followed by an atom-wise residual MLP, as in e3x's
    reference examples. 3D only; equivariant under rotations and reflections.

    Scalar head only (``n_vector_out`` must be 0): returns ``(scalars (n, n_scalar_out),
    None)``. **Arguments:** `features`, `n_layers`, `n_rbf`, `r_cut`, `max_degree`.
    """

    features: int = 32
    n_layers: int = 3
    n_rbf: int = 16
    r_cut: float = 5.0
    max_degree: int = 2
    n_scalar_out: int = 1
    n_vector_out: int = 0

    @nn.compact
    def __call__(self, R, node_scalars, node_vectors=None, cell=None, pbc=None, *, atom_mask=None, neighbors=None):
        import functools

        import e3x

        if self.n_vector_out or (node_vectors is not None and node_vectors.shape[1]):
            raise ValueError("E3xNet has a scalar head only and takes no input vectors.")
        n = R.shape[0]
        j, d, _, _, mask = graph_geometry(R, cell, pbc, self.r_cut, atom_mask, neighbors)
        j = jnp.broadcast_to(jnp.arange(n), (n, n)) if j is None else j
        valid = mask > 0
        # pairs that never interact get a vector beyond the cutoff, so the basis (and its
        # gradient) stays finite where the displacement is zero
        far = jnp.zeros_like(d).at[..., 0].set(2.0 * self.r_cut)
        basis = e3x.nn.basis(
            jnp.where(valid[..., None], d, far), num=self.n_rbf, max_degree=self.max_degree,
            radial_fn=e3x.nn.reciprocal_bernstein,
            cutoff_fn=functools.partial(e3x.nn.smooth_cutoff, cutoff=self.r_cut),
        )  # fmt: skip
        x = nn.Dense(self.features)(node_scalars)[:, None, None, :]  # (n, 1, 1, F)
        for layer in range(self.n_layers):
            last = layer == self.n_layers - 1
            y = e3x.nn.MessagePass(max_degree=0 if last else self.max_degree)(x, basis, adj_idx=j, where=valid)
            x = e3x.nn.add(x, y)
            y = e3x.nn.silu(e3x.nn.Dense(self.features)(x))
            x = e3x.nn.add(x, e3x.nn.Dense(self.features, kernel_init=nn.initializers.zeros)(y))
        return MLP((self.features, self.n_scalar_out))(x[:, 0, 0, :]), None


# ---------------------------------------------------------------------------------------
# EGNN
# ---------------------------------------------------------------------------------------
class EGNN(nn.Module):
    """E(n)-equivariant graph network, minimal (Satorras, Hoogeboom & Welling, ICML 2021).

    Messages ``m_ij = phi_e(h_i, h_j, |r_ij|^2)`` weighted by the cosine cutoff; vector
    outputs are ``sum_j r_ij phi_x(m_ij)`` accumulated over layers plus an invariant gate
    on each input vector. Coordinates are not updated in place (a periodic update would
    need re-wrapping); each layer's displacements stay those of the input ``R``.
    """

    features: int = 32
    n_layers: int = 3
    r_cut: float = 5.0
    n_scalar_out: int = 1
    n_vector_out: int = 1

    @nn.compact
    def __call__(self, R, node_scalars, node_vectors=None, cell=None, pbc=None):
        n, dim = R.shape
        F, K = self.features, self.n_vector_out
        d, r, _, mask = edge_geometry(R, cell, pbc, self.r_cut)
        h = nn.Dense(F)(node_scalars)
        vec = jnp.zeros((n, K, dim), R.dtype)
        for _ in range(self.n_layers):
            pair = jnp.concatenate(
                [jnp.broadcast_to(h[:, None], (n, n, F)), jnp.broadcast_to(h[None], (n, n, F)), (r**2)[..., None]],
                axis=-1,
            )
            m = MLP((F, F))(pair) * mask[..., None]
            # Displacements point j -> i as in the paper (x_i - x_j): use -d.
            vec = vec + jnp.einsum("ijk,ijd->ikd", MLP((F, K))(m) * mask[..., None], -d)
            h = h + MLP((F, F))(jnp.concatenate([h, jnp.sum(m, axis=1)], axis=-1))
        if node_vectors is not None and node_vectors.shape[1] > 0:
            g = MLP((F, K * node_vectors.shape[1]))(h).reshape(n, K, node_vectors.shape[1])
            vec = vec + jnp.einsum("ikv,ivd->ikd", g, node_vectors)
        return MLP((F, self.n_scalar_out))(h), vec


# ---------------------------------------------------------------------------------------
# 2D model surfaces
# ---------------------------------------------------------------------------------------
class SurfaceFlowNet(nn.Module):
    """Flow network for one particle on a random multi-Gaussian 2D surface.

    Not equivariant on purpose: a single particle on a fixed surface has no symmetry for
    the network to respect, so it takes the absolute position ``x`` ``(2,)``, the
    initial state ``x_is`` ``(2,)``, the surface descriptor (``(n_gauss, 6)`` rows of
    ``A, x0, y0, a, b, c`` as in :mod:`jaxrxn.generative.surfaces`; padded slots have
    ``A = 0``) and a condition vector ``cond`` with its on/off flag.

    The Gaussians are encoded as a set (DeepSets: M. Zaheer et al., NeurIPS 2017) from
    their position *relative to* ``x`` plus each term's value and gradient at ``x``, so the
    encoding is invariant to the order of the Gaussians and equivariant to a shift of the
    whole surface. These are analytic functions of the descriptor, not calls to the
    potential's energy, so generation still needs no PES evaluation.

    Returns ``(vectors (n_vector_out, 2), scalars (n_scalar_out,))``.
    """

    features: int = 64
    n_scalar_out: int = 1
    n_vector_out: int = 2
    amplitude_scale: float = 100.0

    @nn.compact
    def __call__(self, x, x_is, descriptor, cond, cond_on):
        A, x0, y0, a, b, c = (descriptor[:, k] for k in range(6))
        dx, dy = x[0] - x0, x[1] - y0
        g = A * jnp.exp(a * dx**2 + b * dx * dy + c * dy**2) / self.amplitude_scale
        gx, gy = g * (2 * a * dx + b * dy), g * (b * dx + 2 * c * dy)
        active = (A != 0).astype(x.dtype)[:, None]
        per_gauss = jnp.stack([A / self.amplitude_scale, dx, dy, a, b, c, g, gx, gy], axis=-1)
        enc = jnp.sum(MLP((self.features, self.features))(per_gauss) * active, axis=0)
        grad = jnp.stack([jnp.sum(gx), jnp.sum(gy)])
        inp = jnp.concatenate(
            [enc, x - x_is, grad, cond * cond_on, jnp.atleast_1d(cond_on).astype(x.dtype)]
        )
        hidden = MLP((self.features, self.features, self.features))(inp)
        out = nn.Dense(2 * self.n_vector_out + self.n_scalar_out)(nn.silu(hidden))
        vectors = out[: 2 * self.n_vector_out].reshape(self.n_vector_out, 2)
        return vectors, out[2 * self.n_vector_out :]


def count_params(params) -> int:
    """Number of scalar parameters in a flax params pytree."""
    return int(sum(p.size for p in jax.tree_util.tree_leaves(params)))
