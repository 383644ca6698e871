"""Reaction-path data sets: built with jaxrxn's own CI-NEB, stored in the Transition1x layout.

**Building (G2, random 2D surfaces).** :func:`build_surface_paths` takes a list of surface
seeds (:mod:`jaxrxn.generative.surfaces`), finds each surface's minima by relaxing a grid
of starts with a vmapped :func:`jaxrxn.minimize` (kept only if the Hessian is positive
definite), runs one vmapped climbing-image NEB (:func:`jaxrxn.path.neb`) per pair of
neighbouring minima, and keeps converged bands with a single interior maximum (elementary
steps). Each kept band gives two reactions, one per direction. Train and test sets come
from disjoint seed ranges (:func:`split_seeds`).

**Storage.** :func:`write_transition1x` writes the Transition1x HDF5 layout (M. Schreiner
et al., Sci. Data 9, 779 (2022))::

    /<split>/<formula>/<rxn>/atomic_numbers        (N,)
                            /positions             (F, N, dim)  Å
                            /<level>.energy        (F,)         eV
                            /<level>.forces        (F, N, dim)  eV/Å
                            /reactant|product|transition_state/  same four datasets
                            /descriptor            (jaxrxn extra: surface parameters)

with ``level = "jaxrxn"`` for self-made data and ``dim = 2`` for planar systems (the real
files have ``dim = 3`` and ``level = "wB97x_6-31G(d)"``). :func:`read_transition1x` reads
both. In real Transition1x files the frames are all NEB iterations; ``last_frames`` keeps
the final band (the last ``n_images`` frames in file order, the layout's convention as far
as the loader shows; check it on the real file).

**Training arrays.** :class:`PathSet` holds paths reparameterised to ``M`` points equally
spaced in arc length (:func:`resample_by_arc_length`), plus per-path context.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import h5py
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxrxn.geometry import align, arc_length
from jaxrxn.optimize import FIRE, minimize
from jaxrxn.path import NEB, linear, neb
from jaxrxn.generative.surfaces import REGION, descriptor, stack_params, surface_from_params

T1X_LEVEL = "wB97x_6-31G(d)"
JAXRXN_LEVEL = "jaxrxn"


# ---------------------------------------------------------------------------------------
# path utilities
# ---------------------------------------------------------------------------------------
def resample_by_arc_length(
    path: Float[Array, "n_images n_atoms dim"], n_points: int, cell=None, pbc=None
) -> Float[Array, "n_points n_atoms dim"]:
    """Piecewise-linear path resampled to ``n_points`` images equally spaced in arc length.

    End points are kept exactly. Jittable and vmappable; a path of zero length returns
    copies of its first image.
    """
    s = arc_length(path, cell, pbc)
    s = s / jnp.maximum(s[-1], 1e-300)
    t = jnp.linspace(0.0, 1.0, n_points, dtype=path.dtype)
    flat = path.reshape(path.shape[0], -1)
    out = jax.vmap(lambda col: jnp.interp(t, s, col), in_axes=1, out_axes=1)(flat)
    return out.reshape((n_points,) + path.shape[1:])


def align_path(path: Float[Array, "n_images n_atoms dim"], atom_mask=None) -> Float[Array, "n_images n_atoms dim"]:
    """Kabsch-align every image onto its predecessor (removes rigid rotation/translation
    along a cluster path; not for slabs or model surfaces). Atoms outside `atom_mask`
    ``(n_atoms,)`` (padding) neither steer the fit nor move."""

    def body(prev, R):
        R = align(R, prev, atom_mask=atom_mask)
        return R, R

    _, rest = jax.lax.scan(body, path[0], path[1:])
    return jnp.concatenate([path[:1], rest])


def centred_noise(key, shape, dtype, mask=None):
    """Standard Gaussian noise ``shape`` without net translation over the atoms (for more
    than one atom) and zero on padding atoms (`mask` ``(N,)``: 1 real, 0 padding)."""
    xi = jax.random.normal(key, shape, dtype)
    if shape[0] == 1:
        return xi
    if mask is None:
        return xi - jnp.mean(xi, axis=0, keepdims=True)
    m = mask[:, None]
    return m * (xi - jnp.sum(m * xi, axis=0, keepdims=True) / jnp.sum(m))


def count_interior_maxima(energies: Float[Array, " n"]) -> Array:
    """Number of interior images higher than both neighbours."""
    e = energies
    return jnp.sum((e[1:-1] > e[:-2]) & (e[1:-1] > e[2:]))


# ---------------------------------------------------------------------------------------
# G2 builder
# ---------------------------------------------------------------------------------------
def split_seeds(n_train: int, n_test: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint seed ranges: train ``[offset, offset+n_train)``, test from ``offset + 10**6``."""
    return np.arange(offset, offset + n_train), np.arange(offset + 10**6, offset + 10**6 + n_test)


@eqx.filter_jit
def _relax_grid(params, starts, fmax, max_steps):
    def one(p, R0):
        return minimize(surface_from_params(p), R0, FIRE(), fmax=fmax, max_steps=max_steps)

    return jax.vmap(lambda p: jax.vmap(lambda R0: one(p, R0))(starts))(params)


def surface_minima(seeds: Sequence[int], grid: int = 9, fmax: float = 1e-4) -> list[np.ndarray]:
    """Distinct minima of each surface, ``(n_minima, 1, 2)`` arrays sorted by energy.

    A ``grid x grid`` set of starts over :data:`~jaxrxn.generative.surfaces.REGION` is relaxed (FIRE,
    `fmax` in eV/Å); converged points within 1e-3 Å are merged and those whose Hessian is
    not positive definite (flat directions) or that left the box are dropped.
    """
    params = stack_params(seeds)
    gx, gy = np.linspace(*REGION[:2], grid), np.linspace(*REGION[2:], grid)
    starts = jnp.asarray(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 1, 2))
    res = _relax_grid(params, starts, fmax, 3000)
    hess = jax.jit(jax.vmap(jax.vmap(lambda p, R: surface_from_params(p).hessian(R), (None, 0))))(params, res.R)
    eig_min = np.asarray(jnp.linalg.eigvalsh(hess)[..., 0])
    out = []
    for k in range(len(seeds)):
        R, E, ok = np.asarray(res.R[k]), np.asarray(res.energy[k]), np.asarray(res.converged[k])
        x, y = R[:, 0, 0], R[:, 0, 1]
        inside = (x > REGION[0] - 0.3) & (x < REGION[1] + 0.3) & (y > REGION[2] - 0.3) & (y < REGION[3] + 0.3)
        ok = ok & (eig_min[k] > 1e-3) & inside
        found: list[tuple[float, np.ndarray]] = []
        for r, e in zip(R[ok], E[ok]):
            if all(np.linalg.norm(r - f) > 1e-3 for _, f in found):
                found.append((float(e), r))
        found.sort(key=lambda t: t[0])
        out.append(np.stack([r for _, r in found]) if found else np.zeros((0, 1, 2)))
    return out


@eqx.filter_jit
def _neb_batch(params, bands, solver, fmax, max_steps):
    return jax.vmap(lambda p, b: neb(surface_from_params(p), b, solver, fmax=fmax, max_steps=max_steps))(params, bands)


@jax.jit
def _line_energies(params, lines):
    return jax.vmap(lambda p, L: jax.vmap(surface_from_params(p).energy)(L))(params, lines)


@dataclasses.dataclass
class ReactionPath:
    """One elementary reaction (one direction of a band).

    - `formula`, `rxn`: names in the Transition1x layout.
    - `numbers` ``(N,)``; `positions` ``(F, N, dim)`` Å, the band from IS to FS;
      `energies` ``(F,)`` eV; `forces` ``(F, N, dim)`` eV/Å.
    - `reactant`, `product`, `transition_state`: ``(N, dim)`` configurations.
    - `extras`: other datasets found in the group (``descriptor``, ``seed``, ...).
    """

    formula: str
    rxn: str
    numbers: np.ndarray
    positions: np.ndarray
    energies: np.ndarray
    forces: np.ndarray
    reactant: np.ndarray
    product: np.ndarray
    transition_state: np.ndarray
    extras: dict

    @property
    def barrier(self) -> float:
        """Forward barrier ``max(E) - E[0]`` of the band, eV."""
        return float(np.max(self.energies) - self.energies[0])


def build_surface_paths(
    seeds: Sequence[int],
    *,
    n_images: int = 17,
    max_pair_distance: float = 1.6,
    k: float = 0.1,
    fmax: float = 0.01,
    max_steps: int = 3000,
    min_barrier: float = 1.0,
    min_linear_excess: float | None = None,
    grid: int = 9,
) -> list[ReactionPath]:
    """CI-NEB reactions between neighbouring minima of random 2D surfaces.

    Pairs of minima closer than `max_pair_distance` (Å) are joined by a linear band of
    `n_images` images and relaxed together by one vmapped CI-NEB (FIRE, spring `k` in
    eV/Å², `fmax` eV/Å). A band is kept when it converged, has exactly one interior
    maximum and both barriers exceed `min_barrier` (eV); each kept band yields both
    directions. Minima come from :func:`surface_minima` with a `grid` x `grid` set of starts.

    Every reaction records ``extras["linear_excess"]``: the relative excess
    ``(B_lin - B) / B`` of the straight-line barrier ``B_lin`` (max of the energy on 201
    points of the segment IS-FS, minus E(IS)) over the CI-NEB barrier ``B``. Nearly straight
    steps (excess ~0) are a poor test of a path model, since linear interpolation is then
    already the MEP (generative.md §4.1: MB C->B 0.02 %, MB A->C 41.5 %). With
    `min_linear_excess`, only directions whose excess is at least that are kept.
    """
    minima = surface_minima(seeds, grid)
    pairs, bands = [], []
    for s, mins in zip(seeds, minima):
        for i in range(len(mins)):
            for j in range(i + 1, len(mins)):
                if np.linalg.norm(mins[i] - mins[j]) < max_pair_distance:
                    pairs.append((int(s), i, j))
                    bands.append(np.asarray(linear(mins[i], mins[j], n_images)))
    if not pairs:
        return []
    params = stack_params([p[0] for p in pairs])
    res = _neb_batch(params, jnp.asarray(np.stack(bands)), NEB(k=k, climb=True), fmax, max_steps)
    forces = np.asarray(res.forces)
    seg = jnp.linspace(0.0, 1.0, 201)[None, :, None, None]
    ends = jnp.asarray(np.stack(bands))[:, jnp.array([0, -1])]  # (P, 2, 1, 2)
    lines = ends[:, :1] + seg * (ends[:, 1:] - ends[:, :1])  # (P, 201, 1, 2)
    E_lin = np.asarray(_line_energies(params, lines))
    out = []
    for b, (seed, i, j) in enumerate(pairs):
        E = np.asarray(res.energies[b])
        if not bool(res.converged[b]) or int(count_interior_maxima(E)) != 1 or E.max() - max(E[0], E[-1]) < min_barrier:
            continue
        P = np.asarray(res.path[b])
        desc = np.asarray(descriptor(jax.tree_util.tree_map(lambda a: a[b], params)))
        for direction, (lo, hi) in enumerate(((i, j), (j, i))):
            sl = slice(None) if direction == 0 else slice(None, None, -1)
            Pd, Ed, Fd = P[sl], E[sl], forces[b][sl]
            ts = int(np.argmax(Ed))
            lin = E_lin[b] if direction == 0 else E_lin[b][::-1]
            excess = (float(lin.max() - lin[0]) - (Ed.max() - Ed[0])) / (Ed.max() - Ed[0])
            if min_linear_excess is not None and excess < min_linear_excess:
                continue
            out.append(ReactionPath(
                "G2", f"s{seed}_m{lo}_m{hi}", np.array([1]), Pd, Ed, Fd, Pd[0], Pd[-1], Pd[ts],
                {"descriptor": desc, "seed": np.array(seed), "is_index": np.array(lo), "fs_index": np.array(hi),
                 "linear_excess": np.array(excess)},
            ))  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------
# Transition1x-layout HDF5
# ---------------------------------------------------------------------------------------
_ENDS = ("reactant", "product", "transition_state")


def write_transition1x(
    filename: str, splits: dict[str, Sequence[ReactionPath]], level: str = JAXRXN_LEVEL, *, compression: str | None = None
) -> None:
    """Write reactions in the Transition1x layout (see the module docstring).

    ``splits`` maps a split name (``"train"``, ``"test"``, ...) to its reactions. Energies
    of the end groups are those of the first/last/highest frame. `compression` (e.g.
    ``"gzip"``) applies to the path arrays (``positions`` and forces). Written with
    HDF5's latest object format (compact headers: ~25 % smaller files of small reactions).
    """
    with h5py.File(filename, "w", libver="latest") as f:
        for split, reactions in splits.items():
            for r in reactions:
                g = f.require_group(f"{split}/{r.formula}/{r.rxn}")
                g["atomic_numbers"] = r.numbers
                for key, val in (("positions", r.positions), (f"{level}.forces", r.forces)):
                    g.create_dataset(key, data=val, compression=compression, shuffle=compression is not None)
                g[f"{level}.energy"] = r.energies
                ts = int(np.argmax(r.energies))
                for name, idx in zip(_ENDS, (0, len(r.energies) - 1, ts)):
                    h = g.create_group(name)
                    h["atomic_numbers"] = r.numbers
                    h["positions"] = r.positions[idx : idx + 1]
                    h[f"{level}.energy"] = r.energies[idx : idx + 1]
                    h[f"{level}.forces"] = r.forces[idx : idx + 1]
                for key, val in r.extras.items():
                    g[key] = val


def read_transition1x(
    filename: str, split: str = "data", level: str | None = T1X_LEVEL, *, last_frames: int | None = None
) -> list[ReactionPath]:
    """Read every reaction of ``split`` from a Transition1x-layout HDF5 file.

    `level` names the energy/force datasets (``"wB97x_6-31G(d)"`` for the real data set,
    ``"jaxrxn"`` for :func:`build_surface_paths` output); ``None`` reads geometries only
    (``energies`` and ``forces`` are then ``None``, for a file to be labelled). With
    `last_frames`, keep only the last that many frames of each reaction (the final NEB band
    of a real Transition1x record). Raises ``ValueError`` for a missing split or level.
    """
    out = []
    with h5py.File(filename, "r") as f:
        if split not in f:
            raise ValueError(f"{filename!r} has no split {split!r}; it has {sorted(f.keys())}.")
        for formula, grp in f[split].items():
            for rxn, g in grp.items():
                if level is not None and f"{level}.energy" not in g:
                    raise ValueError(
                        f"reaction {split}/{formula}/{rxn} has no {level!r} energies; "
                        f"datasets are {sorted(g.keys())}."
                    )
                sl = slice(None) if last_frames is None else slice(-last_frames, None)
                ends = [np.asarray(g[name]["positions"][0]) for name in _ENDS]
                extras = {k: np.asarray(g[k]) for k in g if k not in ("atomic_numbers", "positions", *_ENDS)
                          and not k.endswith((".energy", ".forces"))}  # fmt: skip
                E, F = (None, None) if level is None else (np.asarray(g[f"{level}.{q}"][sl]) for q in ("energy", "forces"))
                out.append(ReactionPath(
                    formula, rxn, np.asarray(g["atomic_numbers"]), np.asarray(g["positions"][sl]), E, F, *ends, extras,
                ))  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------
# training arrays
# ---------------------------------------------------------------------------------------
class PathSet(eqx.Module):
    """Stacked reactions for training and evaluation.

    - `paths` ``(P, M, N, dim)`` Å, equally spaced in arc length, IS first.
    - `context` ``(P, ...)``: what the network is told about the system (the surface
      descriptor ``(P, N_SLOTS, 6)`` for G2; atomic numbers ``(P, N)`` for atomistic sets).
    - `cond` ``(P, C)``: the condition vector (G2: the displacement ``FS - IS`` ``(2,)``
      in Å, i.e. where the wanted final state is; atomistic sets: per-atom flags).
    - `barrier` ``(P,)`` eV; `group` ``(P,)`` int: reactions sharing a system and an
      IS share a group (for the diversity metric).
    - `mask` ``(P, N)`` (optional): 1 for real atoms, 0 for padding (molecules of different
      sizes in one array, :func:`molecular_pathset`); ``None`` when every atom is real.
    """

    paths: Array
    context: Array
    cond: Array
    barrier: Array
    group: Array
    mask: Array | None = None

    def __len__(self) -> int:
        return self.paths.shape[0]

    def take(self, idx) -> "PathSet":
        """The reactions ``idx`` (an index array or boolean mask) as a new :class:`PathSet`."""
        return take_rows(self, idx)


def take_rows(data, idx):
    """The rows ``idx`` (an index array or boolean mask) of every array of the data set
    pytree `data` (reactions along the leading axis), as a data set of the same type."""
    idx = np.flatnonzero(idx) if np.asarray(idx).dtype == bool else np.asarray(idx)
    return jax.tree_util.tree_map(lambda a: a[idx], data)


def surface_pathset(reactions: Sequence[ReactionPath], n_points: int = 21) -> PathSet:
    """Turn G2 :class:`ReactionPath` records into a :class:`PathSet` (arc-length resampled).

    The condition is the final state's displacement from the IS, ``FS - IS`` (Å): with it
    a flow model solves the same problem as an interpolation between given end points.
    """
    paths = jnp.stack([resample_by_arc_length(jnp.asarray(r.positions), n_points) for r in reactions])
    cond = paths[:, -1, 0] - paths[:, 0, 0]
    keys = sorted({(int(r.extras["seed"]), int(r.extras["is_index"])) for r in reactions})
    index = {k: n for n, k in enumerate(keys)}
    group = np.array([index[(int(r.extras["seed"]), int(r.extras["is_index"]))] for r in reactions])
    return PathSet(
        paths,
        jnp.stack([jnp.asarray(r.extras["descriptor"]) for r in reactions]),
        cond,
        jnp.asarray([r.barrier for r in reactions]),
        jnp.asarray(group),
    )


def padded_size(reactions: Sequence[ReactionPath], n_atoms: int | None) -> int:
    """The atom count molecular `reactions` are padded to: `n_atoms`, or the largest
    reaction's when ``None``; ``ValueError`` for no reactions or a too small `n_atoms`."""
    if len(reactions) == 0:
        raise ValueError("no reactions given.")
    n_max = max(len(r.numbers) for r in reactions)
    n_atoms = n_max if n_atoms is None else int(n_atoms)
    if n_atoms < n_max:
        raise ValueError(f"n_atoms={n_atoms} is smaller than the largest reaction ({n_max} atoms).")
    return n_atoms


def molecular_pathset(
    reactions: Sequence[ReactionPath], bond_scale: float, n_points: int = 11, n_atoms: int | None = None, reverse: bool = True
) -> PathSet:
    """A padded :class:`PathSet` from molecular reactions of different sizes (e.g.
    ``read_transition1x(FILE, "train", level="GFN2-xTB")`` of the jaxrxn data set), for the
    flow generator from the reactant alone.

    Each stored path (reactant, IRC frames, TS, product) is centred frame by frame,
    Kabsch-aligned onto its predecessor (:func:`align_path`: the rigid motion an IRC does
    not have), resampled to `n_points` images equally spaced in arc length and padded to
    `n_atoms` (default: the largest) with atoms at the origin. With `reverse`, every
    reaction is also added run backwards (the product as the reactant: a product is as
    much a starting molecule as the reactant, and it doubles the data). ``context`` holds
    the atomic numbers (-1 for padding), ``mask`` the real atoms, ``cond`` per-atom flags
    ``(P, N)``: 1 on the atoms whose bonds change (bond graphs of the ends by
    :func:`jaxrxn.reaction.bond_graph` with `bond_scale`), ``barrier`` ``E(TS) - E(start)``
    (eV, the highest stored frame) and ``group`` the reactant molecule
    (``extras["molecule"]``, else -1).
    """
    from jaxrxn.reaction import bond_graph

    n_atoms = padded_size(reactions, n_atoms)
    n_frames = max(len(r.positions) for r in reactions)
    cols: dict[str, list] = {k: [] for k in ("frames", "context", "cond", "barrier", "group", "mask")}
    for r in reactions:
        n, Z = len(r.numbers), np.asarray(r.numbers, int)
        frames = np.asarray(r.positions, float)
        frames = frames - frames.mean(axis=1, keepdims=True)
        changed = np.any(bond_graph(frames[0], Z, bond_scale) != bond_graph(frames[-1], Z, bond_scale), axis=1)
        E = np.asarray(r.energies, float)
        for P, e in ((frames, E), (frames[::-1], E[::-1])) if reverse else ((frames, E),):
            # one shape for all: padding atoms at the origin, the last frame repeated (a
            # zero-length tail changes no arc length)
            P = np.concatenate([P, np.repeat(P[-1:], n_frames - len(P), axis=0)])
            cols["frames"].append(np.concatenate([P, np.zeros((n_frames, n_atoms - n, 3))], axis=1))
            cols["context"].append(np.concatenate([Z, -np.ones(n_atoms - n, int)]))
            cols["cond"].append(np.concatenate([changed, np.zeros(n_atoms - n, bool)]).astype(float))
            cols["mask"].append((np.arange(n_atoms) < n).astype(float))
            cols["barrier"].append(float(np.max(e) - e[0]))
            cols["group"].append(int(r.extras.get("molecule", -1)))
    frames, mask = jnp.asarray(np.stack(cols["frames"])), jnp.asarray(np.stack(cols["mask"]))
    paths = jax.jit(jax.vmap(lambda P, m: resample_by_arc_length(align_path(P, m), n_points)))(frames, mask)
    return PathSet(paths, *(jnp.asarray(np.stack(cols[k])) for k in ("context", "cond", "barrier", "group", "mask")))
