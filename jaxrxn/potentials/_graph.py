"""Pair geometry of message-passing networks (:mod:`jaxrxn.generative.nets`, the SchNet of
:mod:`jaxrxn.potentials.neural`): displacements, distances, unit vectors and a smooth
cutoff mask over all pairs or over a neighbour list's slots, with padding atoms masked."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxrxn.geometry import minimum_image


def cosine_cutoff(r: Array, r_cut: float) -> Array:
    """Smooth cutoff ``0.5 (cos(pi r / r_cut) + 1)`` for ``r < r_cut``, else 0 (J. Behler,
    J. Chem. Phys. 134, 074106 (2011)); its value and slope vanish at ``r_cut``."""
    return jnp.where(r < r_cut, 0.5 * (jnp.cos(jnp.pi * r / r_cut) + 1.0), 0.0)


def edge_geometry(R: Float[Array, "n dim"], cell=None, pbc=None, r_cut: float = 5.0, atom_mask=None):
    """Dense graph quantities for all ordered pairs ``(i, j)``.

    Returns ``(d, r, unit, mask)``: minimum-image displacements ``R_j - R_i`` ``(n, n,
    dim)`` (Å), distances ``(n, n)``, unit vectors (zero on the diagonal) and a float
    mask ``(n, n)`` that is the smooth cutoff on off-diagonal pairs and 0 on ``i == j``
    and on pairs with a padding atom (``atom_mask`` ``(n,)`` False).
    """
    d = minimum_image(R[None, :, :] - R[:, None, :], cell, pbc)
    off = ~jnp.eye(R.shape[0], dtype=bool)
    if atom_mask is not None:
        off = off & atom_mask[:, None] & atom_mask[None, :]
    return _edges(d, off, r_cut)


def list_geometry(R: Float[Array, "n dim"], idx, cell=None, pbc=None, r_cut: float = 5.0, atom_mask=None):
    """:func:`edge_geometry` over the slots of a neighbour list's ``idx`` ``(n, K)``
    (:class:`jaxrxn.neighbors.NeighborList`, padded with ``n``): ``(j, d, r, unit, mask)``
    with neighbour indices ``j`` ``(n, K)`` and the rest ``(n, K, ...)``."""
    from jaxrxn.neighbors import neighbor_displacements

    j, comps, real = neighbor_displacements(R, idx, cell, pbc)
    if atom_mask is not None:
        real = real & atom_mask[:, None]
    return (j,) + _edges(jnp.stack(comps, axis=-1), real, r_cut)


def _edges(d, valid, r_cut):
    r2 = jnp.sum(d**2, axis=-1)
    # The double-where keeps the gradient of sqrt finite where r = 0 (the diagonal, and
    # padding atoms that sit on top of each other).
    r = jnp.where(valid, jnp.sqrt(jnp.where(valid, r2, 1.0)), 0.0)
    unit = jnp.where(valid[..., None], d / jnp.where(valid, r, 1.0)[..., None], 0.0)
    mask = jnp.where(valid, cosine_cutoff(r, r_cut), 0.0)
    return d, r, unit, mask


def graph_geometry(R: Float[Array, "n dim"], cell=None, pbc=None, r_cut: float = 5.0, atom_mask=None, neighbors=None):
    """``(j, d, r, unit, mask)`` over all pairs (``j`` is ``None``: slot ``k`` of row ``i``
    holds atom ``k``; :func:`edge_geometry`) or over the slots of the neighbour list
    ``neighbors`` (``idx`` ``(n, K)``; :func:`list_geometry`)."""
    if neighbors is None:
        return (None,) + edge_geometry(R, cell, pbc, r_cut, atom_mask)
    return list_geometry(R, neighbors, cell, pbc, r_cut, atom_mask)
