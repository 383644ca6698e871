"""Neighbour lists as state, in jax-md's manner: allocate outside jit, update inside.

A :class:`NeighborList` holds, for every atom, the indices of the atoms within
``cutoff + skin`` (Å) when it was last built, in a dense ``(n_atoms, capacity)`` array
padded with ``n_atoms`` (jax-md's ``Dense`` format), so potentials sum over rows without
scatters. :func:`allocate` sizes a list from concrete positions (outside ``jax.jit``: its
capacity is an array shape); :meth:`NeighborList.update` runs inside jit and rebuilds the
list at the same capacity only when some atom moved more than half the skin since the last
build, or the cell changed (the Verlet list of L. Verlet, Phys. Rev. 159, 98 (1967)).

The cell is read from the :class:`jaxrxn.System` at every build, not fixed when the list is
allocated, so lists of systems with different cells stack and ``jax.vmap`` (see
:func:`allocate` with a batch). Every build works in the cell's fractional coordinates:
atoms are binned into a grid of cells at least ``cutoff + skin`` wide (perpendicular
width), and each atom's candidates are the atoms of the 3^dim surrounding bins, measured
with the minimum image; any cell, skewed or not, works. Non-periodic axes (slabs, free
clusters) are binned over the span of the atoms at each build. Padding atoms
(``system.atom_mask``) never appear in a list and have empty rows.

A list that no longer fits (more neighbours or more atoms per bin than its capacity, or a
cell shrunk below what its grid allows) sets a sticky ``overflow`` flag instead of silently
dropping pairs. A :class:`jaxrxn.Potential` that carries an overflowed list raises
:data:`OVERFLOW_MESSAGE` through ``equinox.error_if``, also under plain jit. The drivers
(:func:`jaxrxn.minimize`, :func:`jaxrxn.neb`, :func:`jaxrxn.saddle_search` through
:func:`jaxrxn._iterate.iterative_solve`, and :func:`jaxrxn.dynamics.run_md`), called outside
jit, instead stop at the last state whose lists fit, widen every list (:func:`enlarge`) and
continue from there; the batches of :mod:`jaxrxn.batch`, which run under jit, stop an
overflowing member with ``RESULTS.neighbor_list_overflow`` and run again with wider lists.

Limits: every periodic width must be at least ``2 (cutoff + skin)`` (one image per pair);
smaller cells use the potentials without a list, which sum over every image.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import checkify
from jaxtyping import Array, Bool, Float, Int

from jaxrxn.geometry import cell_widths, minimum_image_components

OVERFLOW_MESSAGE = (
    "jaxrxn: neighbour list overflowed (atoms packed more densely, or the cell shrank, since "
    "it was allocated); reallocate it outside jit with `potential.with_neighbors(R)` or "
    "`jaxrxn.neighbors.allocate` (minimize, neb, saddle_search and run_md do this themselves "
    "when called outside jit), or "
    "allocate with a larger capacity_multiplier."
)

#: Atoms per chunk when candidates are measured (bounds the memory of large builds).
_CHUNK = 128


class NeighborList(eqx.Module):
    """A Verlet neighbour list (see the module docstring).

    - `idx`: ``(n_atoms, capacity)`` neighbour indices, padded with ``n_atoms``; every pair
      within ``cutoff + skin`` at the last build appears in both rows (a full list).
    - `reference`: positions ``(n_atoms, dim)`` (Å) at the last build;
      `reference_cell`: the cell then (``None`` for a free system).
    - `overflow`: whether some build did not fit (sticky). `n_builds`: builds so far.
    - Static: `cutoff`, `skin` (Å), `grid` (bins per axis), `bin_capacity` (atoms per
      bin). Lists with equal statics stack into a batch. `driver_handles`: set by a driver
      that reallocates outside jit; an energy through an overflowed list is then NaN, and
      so are its forces (never a silently partial sum), instead of raising, and the driver
      reads the flag.
    """

    idx: Int[Array, "n_atoms capacity"]
    reference: Float[Array, "n_atoms dim"]
    reference_cell: Float[Array, "dim dim"] | None
    overflow: Bool[Array, ""]
    n_builds: Int[Array, ""]
    cutoff: float = eqx.field(static=True)
    skin: float = eqx.field(static=True)
    grid: tuple[int, ...] = eqx.field(static=True)
    bin_capacity: int = eqx.field(static=True)
    driver_handles: bool = eqx.field(static=True, default=False)

    @property
    def capacity(self) -> int:
        return self.idx.shape[-1]

    def mask(self) -> Bool[Array, "n_atoms capacity"]:
        """True for real entries of `idx`."""
        return self.idx < self.idx.shape[-2]

    def rebuild(self, R: Float[Array, "n_atoms dim"], system) -> "NeighborList":
        """The list built afresh at `R` (Å) for `system`, at the same capacity. Jittable."""
        idx, overflow = _build(
            R, system, self.cutoff + self.skin, self.grid, self.bin_capacity, self.capacity
        )
        cell = None if system is None or system.cell is None else system.cell.astype(R.dtype)
        return NeighborList(
            idx, lax.stop_gradient(R), None if cell is None else lax.stop_gradient(cell),
            self.overflow | overflow, self.n_builds + 1, self.cutoff, self.skin, self.grid, self.bin_capacity,
            self.driver_handles,
        )  # fmt: skip

    def needs_rebuild(self, R: Float[Array, "n_atoms dim"], system) -> Bool[Array, ""]:
        """Whether some real atom moved more than ``skin / 2`` since the last build, or the
        cell changed."""
        d2 = jnp.sum((R - self.reference.astype(R.dtype)) ** 2, axis=-1)
        if system is not None and system.atom_mask is not None:
            d2 = jnp.where(system.atom_mask, d2, 0.0)
        need = jnp.max(d2) > (0.5 * self.skin) ** 2
        if self.reference_cell is not None:
            need = need | jnp.any(system.cell.astype(R.dtype) != self.reference_cell.astype(R.dtype))
        return need

    def update(self, R: Float[Array, "n_atoms dim"], system) -> "NeighborList":
        """The list valid at `R`: this one if no atom moved more than half the skin since the
        last build (and the cell is unchanged), else :meth:`rebuild`. Jittable; under
        ``vmap`` with a batched `R` the branch becomes a select that runs the rebuild every
        time, so for a batch carry one list per member and use :func:`update_batch`."""
        R = lax.stop_gradient(R)
        this = self._in_dtype(R.dtype)
        return lax.cond(self.needs_rebuild(R, system), lambda: this.rebuild(R, system), lambda: this)

    def _in_dtype(self, dtype) -> "NeighborList":
        """The list with its reference positions (and cell) in `dtype`, so that a rebuilt
        list and a kept one have the same types."""
        this = eqx.tree_at(lambda nl: nl.reference, self, self.reference.astype(dtype))
        if this.reference_cell is not None:
            this = eqx.tree_at(lambda nl: nl.reference_cell, this, this.reference_cell.astype(dtype))
        return this


def update_batch(
    neighbors: NeighborList, R: Float[Array, "batch n_atoms dim"], system
) -> NeighborList:
    """One list per member of a batch of configurations of one `system` (leading axis on
    every array of `neighbors` and on `R`, Å), updated together: all are rebuilt when any
    member moved more than half the skin, else all are kept.

    The decision is a single flag, so ``lax.cond`` is a real branch: a ``vmap`` of
    :meth:`NeighborList.update` would turn its cond into a select that rebuilds every
    member at every call. Used for the images of a band (:class:`jaxrxn.NEB`), whose
    atoms move together. Under ``jax.vmap`` (a batch of bands, of different systems in
    :func:`jaxrxn.batch.batch_neb`) the members of every band are decided together in
    the same way, so the branch stays real there too. Jittable."""
    R = lax.stop_gradient(R)
    members = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, R.shape[:1] + jnp.shape(x)), system)
    return _update_members(neighbors._in_dtype(R.dtype), R, members)


@jax.custom_batching.custom_vmap
def _update_members(neighbors: NeighborList, R, systems) -> NeighborList:
    """:func:`update_batch` with one system per member (leading axis on its arrays)."""
    need = jnp.any(jax.vmap(lambda nl, r, s: nl.needs_rebuild(r, s))(neighbors, R, systems))
    rebuild = lambda: jax.vmap(lambda nl, r, s: nl.rebuild(r, s))(neighbors, R, systems)  # noqa: E731
    return lax.cond(need, rebuild, lambda: neighbors)


@_update_members.def_vmap
def _update_members_batched(axis_size: int, in_batched, neighbors, R, systems):
    # A batch of batches is one longer batch: the outer axis is folded into the members,
    # so one flag decides for all of them (a vmapped cond would become a select).
    def fold(x, batched):
        x = x if batched else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))
        return x.reshape((-1,) + x.shape[2:])

    args = jax.tree_util.tree_map(fold, (neighbors, R, systems), tuple(in_batched))
    m = R.shape[1] if in_batched[1] else R.shape[0]
    out = _update_members(*args)
    out = jax.tree_util.tree_map(lambda x: x.reshape((axis_size, m) + x.shape[1:]), out)
    return out, jax.tree_util.tree_map(lambda _: True, out)


def build_batch(neighbors: NeighborList, R: Float[Array, "batch n_atoms dim"], system) -> NeighborList:
    """Lists built afresh at every configuration of `R` (Å; leading batch axis), at the
    capacities of `neighbors` (one list, as allocated): the start of :func:`update_batch`.
    Jittable."""
    R = lax.stop_gradient(R)
    return jax.vmap(lambda r: neighbors._in_dtype(R.dtype).rebuild(r, system))(R)


def did_overflow(neighbors: NeighborList) -> Bool[Array, "..."]:
    """Whether `neighbors` ran out of capacity in some build."""
    return neighbors.overflow


def check_overflow(x, neighbors: NeighborList | None):
    """`x` unchanged, raising :data:`OVERFLOW_MESSAGE` through ``equinox.error_if`` (also
    under jit) if `neighbors` overflowed. When a driver handles the overflow
    (``neighbors.driver_handles``) NaN instead, and a ``checkify.check`` that the driver,
    which runs each step under :func:`jax.experimental.checkify.checkify`, reads: a solver
    may discard the NaN of a probe, but the driver still sees the overflow."""
    if neighbors is None:
        return x
    if neighbors.driver_handles:  # NaN in the value and in its gradient (the forces)
        checkify.check(~jnp.any(neighbors.overflow), OVERFLOW_MESSAGE)
        return x * jnp.where(jnp.any(neighbors.overflow), jnp.nan, 1.0)
    return eqx.error_if(x, jnp.any(neighbors.overflow), OVERFLOW_MESSAGE)


def _is_list(x) -> bool:
    return isinstance(x, NeighborList)


def lists_in(tree) -> list[NeighborList]:
    """Every :class:`NeighborList` in `tree` (a potential, a solver state)."""
    return [x for x in jax.tree_util.tree_leaves(tree, is_leaf=_is_list) if _is_list(x)]


def any_overflow(tree) -> Bool[Array, ""]:
    """Whether some list in `tree` overflowed (``False`` when it holds none)."""
    flags = [jnp.any(nl.overflow) for nl in lists_in(tree)]
    return jnp.any(jnp.stack(flags)) if flags else jnp.array(False)


def handled_by_driver(tree, handles: bool = True):
    """`tree` with every list's `driver_handles` set to `handles`."""
    swap = lambda x: dataclasses.replace(x, driver_handles=handles) if _is_list(x) else x  # noqa: E731
    return jax.tree_util.tree_map(swap, tree, is_leaf=_is_list)


def enlarge(tree, system, *, growth: float = 1.5):
    """`tree` (a potential, a solver state: anything holding lists of one `system`, stacked
    or not) with every list rebuilt where it was last built, with room for `growth` times
    the largest capacities among them and for every configuration they were built at. Only
    the room for the builds to come grows: a list that fitted keeps its pairs, so a driver
    continues from the state where another list overflowed. Not jittable."""
    lists = lists_in(tree)
    if not lists:
        return tree
    _check_concrete(lists[0].reference, system)
    configs = [r for nl in lists for r in np.asarray(nl.reference).reshape((-1,) + nl.reference.shape[-2:])]
    floor = (
        math.ceil(growth * max(nl.bin_capacity for nl in lists)),
        math.ceil(growth * max(nl.capacity for nl in lists)),
    )
    like = _allocate_for(configs, [system] * len(configs), lists[0].cutoff, lists[0].skin, 1.25, floor=floor)
    return widen(tree, like, system)


def widen(tree, like: NeighborList, system):
    """`tree` with every list rebuilt at its reference positions with the capacities and
    grid of `like` (its overflow flag cleared if the build fits). Not jittable."""

    def one(nl):
        if not _is_list(nl):
            return nl
        shape = nl.reference.shape
        R = nl.reference.reshape((-1,) + shape[-2:])
        build = lambda r: _jit_build(r, system, nl.cutoff + nl.skin, like.grid, like.bin_capacity, like.capacity)  # noqa: E731
        idx, overflow = jax.vmap(build)(R)
        return dataclasses.replace(
            nl, idx=idx.reshape(shape[:-1] + idx.shape[-1:]), overflow=overflow.reshape(nl.overflow.shape),
            grid=like.grid, bin_capacity=like.bin_capacity,
        )  # fmt: skip

    return jax.tree_util.tree_map(one, tree, is_leaf=_is_list)


def neighbor_displacements(
    R: Float[Array, "n_atoms dim"],
    idx: Int[Array, "n_atoms capacity"],
    cell: Float[Array, "dim dim"] | None = None,
    pbc: Bool[Array, " dim"] | None = None,
) -> tuple[Int[Array, "n_atoms capacity"], list[Float[Array, "n_atoms capacity"]], Bool[Array, "n_atoms capacity"]]:
    """``(j, d, real)`` over the slots of a list's `idx`: neighbour indices `j` (padding
    slots point at the last atom), the minimum-image displacements ``R_j - R_i`` in `cell`
    as `dim` component arrays (Å; see :func:`jaxrxn.geometry.minimum_image_components`)
    and the mask of real slots. Distances may exceed the cutoff (a list holds ``cutoff +
    skin``)."""
    n = R.shape[0]
    j = jnp.minimum(idx, n - 1)
    d = minimum_image_components([R[j, c] - R[:, c, None] for c in range(R.shape[1])], cell, pbc)
    return j, d, idx < n


# ---------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------
def _frame(system, dim: int, dtype):
    """Lattice ``(dim, dim)`` and periodic axes of the search: the system's (completed)
    cell, or the identity and no periodic axis for a free system."""
    if system is None or system.cell is None:
        return jnp.eye(dim, dtype=dtype), jnp.zeros(dim, bool), None
    cell = system.cell.astype(dtype)
    return cell, system.pbc, cell


def _bins(R, system, radius: float, grid: tuple[int, ...]):
    """Bin coordinates ``(n_atoms, dim)`` of every atom and whether the grid is still fine
    enough (periodic bins at least `radius` wide, periodic widths at least 2 `radius`)."""
    dim = R.shape[1]
    H, pbc, _ = _frame(system, dim, R.dtype)
    real = _real(system, R.shape[0])
    f = R @ jnp.linalg.inv(H)
    widths = cell_widths(H)
    n_bins = jnp.asarray(grid, R.dtype)
    # Periodic axes: the unit interval in `grid` bins. Non-periodic: the atoms' span, in
    # bins of at least `radius` (perpendicular) width.
    lo = jnp.min(jnp.where(real[:, None], f, jnp.inf), axis=0)
    hi = jnp.max(jnp.where(real[:, None], f, -jnp.inf), axis=0)
    lo, span = jnp.where(jnp.isfinite(lo), lo, 0.0), jnp.where(jnp.isfinite(hi - lo), hi - lo, 0.0)
    size = jnp.maximum(span / n_bins, radius / widths) * (1.0 + 1e-9)
    b = jnp.where(pbc, jnp.floor((f - jnp.floor(f)) * n_bins), jnp.floor((f - lo) / size))
    b = jnp.clip(b, 0, n_bins - 1).astype(jnp.int32)
    fits = ~jnp.any(pbc & ((widths < 2.0 * radius) | ((n_bins > 1) & (widths / n_bins < radius))))
    return b, fits


def _real(system, n: int) -> Bool[Array, " n_atoms"]:
    if system is None or system.atom_mask is None:
        return jnp.ones(n, bool)
    return system.atom_mask


def _stencil(grid: tuple[int, ...]) -> np.ndarray:
    """Bin offsets ``(n_offsets, dim)`` to search: -1, 0, 1 along axes with several bins
    (periodic axes have 1 or at least 3, so no bin is visited twice), 0 along the others."""
    axes = [(-1, 0, 1) if g > 1 else (0,) for g in grid]
    return np.asarray(list(itertools.product(*axes)), np.int32).reshape(-1, len(grid))


def _build(R, system, radius: float, grid: tuple[int, ...], bin_capacity: int, capacity: int):
    """``(idx, overflow)``: the dense list of pairs closer than `radius` (Å) at `R`."""
    n, dim = R.shape
    real = _real(system, n)
    _, pbc, cell = _frame(system, dim, R.dtype)
    b, fits = _bins(R, system, radius, grid)
    n_cells = math.prod(grid)
    strides = np.cumprod((1,) + grid[:0:-1])[::-1].astype(np.int32)
    cell_id = jnp.where(real, b @ strides, n_cells)
    order = jnp.argsort(cell_id)
    sorted_id = cell_id[order]
    slot = jnp.arange(n) - jnp.searchsorted(sorted_id, sorted_id, side="left")
    table = jnp.full((n_cells + 1, bin_capacity), n, jnp.int32)
    table = table.at[sorted_id, slot].set(order.astype(jnp.int32), mode="drop").at[n_cells].set(n)
    bins_overflow = jnp.any((slot >= bin_capacity) & (sorted_id < n_cells))

    offsets = _stencil(grid)
    grid_j = jnp.asarray(grid, jnp.int32)

    def rows(args):
        i, bi, real_i = args
        nb = bi[None, :] + offsets
        inside = jnp.all(pbc | ((nb >= 0) & (nb < grid_j)), axis=-1)
        nb = jnp.where(inside, (jnp.mod(nb, grid_j) @ strides), n_cells)
        cand = table[nb].reshape(-1)
        j = jnp.minimum(cand, n - 1)
        d = minimum_image_components([R[j, c] - R[i, c] for c in range(dim)], cell, pbc)
        ok = (cand < n) & (cand != i) & (sum(x * x for x in d) < radius**2) & real_i
        # The k-th neighbour is where the running count of hits first reaches k + 1: a
        # binary search per slot, which is far cheaper on CPU than scattering the hits.
        hits = jnp.cumsum(ok)
        where = jnp.searchsorted(hits, jnp.arange(1, capacity + 1), side="left", method="scan_unrolled")
        row = jnp.where(jnp.arange(capacity) < hits[-1], cand[jnp.minimum(where, cand.shape[0] - 1)], n)
        return row.astype(jnp.int32), hits[-1]

    args = (jnp.arange(n), b, real)
    idx, count = lax.map(rows, args, batch_size=min(n, _CHUNK))
    overflow = bins_overflow | jnp.any(count > capacity) | ~fits
    return idx, overflow


# ---------------------------------------------------------------------------------------
# allocation (outside jit)
# ---------------------------------------------------------------------------------------
def _plan(R: np.ndarray, system, radius: float) -> tuple[int, ...]:
    """The bin grid for `R` (host side): periodic axes get ``floor(width / radius)`` bins
    (1 if fewer than 3), non-periodic axes as many as the atoms' span holds."""
    n, dim = R.shape
    if system is None or system.cell is None:
        H, pbc = np.eye(dim), np.zeros(dim, bool)
    else:
        H, pbc = np.asarray(system.cell, float), np.asarray(system.pbc, bool)
    widths = cell_widths(H)
    narrow = pbc & (widths < 2.0 * radius)
    if narrow.any():
        raise ValueError(
            f"a neighbour list needs every periodic cell width >= 2 (cutoff + skin) = "
            f"{2.0 * radius:.3f} Å; got widths {np.round(widths, 3).tolist()} Å. Use a larger "
            "supercell, a smaller skin, or the potential without a neighbour list (it sums "
            "over every periodic image)."
        )
    real = np.ones(n, bool) if system is None or system.atom_mask is None else np.asarray(system.atom_mask)
    f = R[real] @ np.linalg.inv(H) if real.any() else np.zeros((1, dim))
    span = (f.max(0) - f.min(0)) * widths
    grid = []
    for w, s, p in zip(widths, span, pbc):
        k = int(w // radius) if p else int(s // radius)
        grid.append(k if (k >= 3 or (not p and k >= 1)) else 1)
    return tuple(grid)


def _occupancy(R, system, radius, grid) -> int:
    b, _ = _bins(jnp.asarray(R), system, radius, grid)
    real = np.asarray(_real(system, len(R)))
    strides = np.cumprod((1,) + grid[:0:-1])[::-1]
    ids = np.asarray(b)[real] @ strides
    return int(np.bincount(ids, minlength=1).max()) if len(ids) else 1


def allocate(
    R: Float[Array, "... n_atoms dim"],
    system,
    cutoff: float,
    *,
    skin: float = 0.5,
    capacity_multiplier: float = 1.25,
) -> NeighborList:
    """A new list at concrete positions `R` (Å) for `system` (a :class:`jaxrxn.System`, or
    ``None`` for a free structure), holding pairs within ``cutoff + skin``.

    **Arguments:**

    - `cutoff`: the potential's interaction radius (Å). `skin`: Verlet skin (Å); the list
      is rebuilt once an atom moved ``skin / 2``.
    - `capacity_multiplier`: head room of the neighbour and bin capacities over the counts
      at `R`.

    With a leading batch axis on `R` (and on the arrays of a stacked `system`, as built by
    :func:`jaxrxn.batch.stack_potentials`) it returns one stacked list with shared
    capacities, to ``vmap`` over members with different cells. Not jittable: raises
    ``ValueError`` on traced positions, and on a periodic width below
    ``2 (cutoff + skin)``.
    """
    _check_concrete(R, system)
    R = np.asarray(R)
    if R.ndim == 3:
        members = [jax.tree_util.tree_map(lambda x, k=k: x[k], system) for k in range(R.shape[0])]
        return _allocate_for(list(R), members, cutoff, skin, capacity_multiplier, stack=True)
    return _allocate_for([R], [system], cutoff, skin, capacity_multiplier)


def _check_concrete(R, system) -> None:
    leaves = [R] + ([] if system is None else jax.tree_util.tree_leaves(system))
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        raise ValueError(
            "neighbour lists are allocated outside jit (their capacity is an array shape); "
            "allocate with concrete positions and pass the list in."
        )


def _allocate_for(configs, systems, cutoff, skin, multiplier, *, stack=False, floor=(1, 1)) -> NeighborList:
    """One list per configuration (the first only unless `stack`), all with the coarsest
    grid and the largest capacities any of them needs (times `multiplier`, at least
    `floor` = (bin capacity, capacity))."""
    radius = float(cutoff) + float(skin)
    grid = tuple(int(g) for g in np.min(np.asarray([_plan(r, s, radius) for r, s in zip(configs, systems)]), axis=0))
    bin_capacity, capacity = floor
    for r, s in zip(configs, systems):
        occupancy = _occupancy(jnp.asarray(r), s, radius, grid)
        widest = min(len(r), occupancy * len(_stencil(grid)))
        _, count = _count(jnp.asarray(r), s, radius, grid, occupancy, widest)
        bin_capacity = max(bin_capacity, math.ceil(occupancy * multiplier))
        capacity = max(capacity, math.ceil(int(count) * multiplier))
    lists = [
        _allocate(r, s, cutoff, skin, grid, bin_capacity, min(capacity, len(r)))
        for r, s in zip(configs, systems if stack else systems[:1])
    ]
    return jax.tree_util.tree_map(lambda *x: jnp.stack(x), *lists) if stack else lists[0]


def _allocate(R, system, cutoff, skin, grid, bin_capacity, capacity) -> NeighborList:
    Rj = jnp.asarray(R)
    idx, overflow = _jit_build(Rj, system, float(cutoff) + float(skin), grid, bin_capacity, capacity)
    cell = None if system is None or system.cell is None else jnp.asarray(system.cell, Rj.dtype)
    return NeighborList(
        idx, Rj, cell, jnp.asarray(overflow), jnp.array(1), float(cutoff), float(skin), grid, bin_capacity
    )


@eqx.filter_jit
def _jit_build(R, system, radius, grid, bin_capacity, capacity):
    return _build(R, system, radius, grid, bin_capacity, capacity)


@eqx.filter_jit
def _count(R, system, radius, grid, bin_capacity, capacity):
    idx, _ = _build(R, system, radius, grid, bin_capacity, capacity)
    return idx, jnp.max(jnp.sum(idx < R.shape[0], axis=1))
