"""Atomistic path data: rearrangements of the 2D Lennard-Jones heptamer (LJ7-2D).

The landscape is that of C. Dellago, P. G. Bolhuis & D. Chandler, J. Chem. Phys. 108,
9236 (1998): seven LJ atoms in the plane (``epsilon = sigma = 1``, no cutoff; energies in
eps, lengths in sigma, written eV and Å by jaxrxn's convention) with four minima, the
hexagon C0 (-12.5349) and C1 (-11.5013), C2 (-11.4769), C3 (-11.4034), and some twenty
index-1 saddles between them (jaxrxn's reference notes, rare_events.md §6.3).

**Recipe** (:func:`build_lj7_paths`, generative.md §4.2 item 2), every step made by jaxrxn
and vmapped over all seeds at once:

1. *Initial state.* Seed ``s`` picks minimum ``C[s % 4]`` and puts it in a random
   orientation: a random rotation, a reflection with probability 1/2 and a random
   permutation of the atom labels (numpy ``PCG64(s)``). Train and test use disjoint seeds
   (:func:`jaxrxn.generative.data.split_seeds`), so test initial states are new
   orientations and labellings, *not* new minima: LJ7-2D has only four, so a seed split
   tests what the model learnt per reaction *type* under an unseen frame and labelling.
   ``holdout_saddles`` gives the harder split (whole saddle types held out).
2. *Saddles.* ``n_kicks`` P-RFO searches per IS, each from the IS plus a random kick
   (Gaussian, `kick` Å per coordinate, net translation removed), fmax 1e-5; only
   index-1 saddles are kept (:func:`jaxrxn.saddle.saddle_search` checks the index).
3. *Both sides.* Each saddle is displaced by ``±0.05`` Å along its unstable mode and
   relaxed with FIRE (fmax 1e-6); both ends must be one of the four minima (energy within
   1e-3). A saddle is kept if one side is the IS itself (same labels, Kabsch RMSD < 0.05 Å);
   saddles that do not touch the IS are dropped. Duplicate saddles (same labels, Kabsch
   RMSD < 0.02 Å) count once.
4. *CI-NEB* from the two-segment band IS -> saddle -> FS (`n_images`), checked: converged
   (fmax 0.01), exactly one interior maximum, the climbing image within 1e-3 of the
   saddle's energy (the band crosses the saddle that was found, i.e. it connects IS and
   FS through it).
5. *Alignment.* Every image is Kabsch-aligned onto its predecessor
   (:func:`jaxrxn.generative.data.align_path`), which removes rigid rotation along the
   band; the IS keeps its frame, so the FS is expressed in the IS's frame.

Records are :class:`jaxrxn.generative.data.ReactionPath` (formula ``"LJ7"``, atomic number 18
for every atom, argon being the textbook LJ atom), stored with
:func:`jaxrxn.generative.data.write_transition1x`. :func:`cluster_pathset` turns them into
training arrays whose condition is the FS displacement ``FS - IS`` per atom.

:func:`match_cluster` aligns two labelled clusters over rotations, reflections and
permutations (for the nearest-training-path baseline).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from scipy.optimize import linear_sum_assignment, minimize_scalar

from jaxrxn.generative.data import PathSet, ReactionPath, align_path, resample_by_arc_length
from jaxrxn.geometry import align, kabsch_rotation_numpy, rmsd_numpy
from jaxrxn.optimize import FIRE, minimize
from jaxrxn.path import NEB, neb
from jaxrxn.potentials.core import Potential
from jaxrxn.potentials.pair import lennard_jones
from jaxrxn.saddle import PRFO, saddle_search

#: Energies (eps) of the four minima of 2D LJ7 (rare_events.md §6.3; Dellago et al. 1998).
LJ7_MINIMA = (-12.5349, -11.5013, -11.4769, -11.4034)
#: Atomic number stored for the LJ atoms (argon).
LJ_NUMBER = 18


def lj7_potential() -> Potential:
    """2D Lennard-Jones, ``epsilon = sigma = 1``, no cutoff."""
    return lennard_jones(dim=2)


def hexagon(scale: float = 2 ** (1 / 6)) -> np.ndarray:
    """One atom at the centre of a regular hexagon of radius `scale`, ``(7, 2)``."""
    th = np.arange(6) * np.pi / 3
    return np.concatenate([[[0.0, 0.0]], scale * np.stack([np.cos(th), np.sin(th)], 1)])


def minimum_class(energy: float, tol: float = 1e-3) -> int:
    """Index 0-3 of the LJ7 minimum with this energy, or -1."""
    d = np.abs(np.asarray(LJ7_MINIMA) - energy)
    return int(np.argmin(d)) if d.min() < tol else -1


# ---------------------------------------------------------------------------------------
# vmapped kernels
# ---------------------------------------------------------------------------------------
@eqx.filter_jit
def _saddles(R0s, fmax, max_steps):
    lj = lj7_potential()
    return jax.vmap(lambda R: saddle_search(lj, R, PRFO(), fmax=fmax, max_steps=max_steps))(R0s)


@eqx.filter_jit
def _relax(R0s, fmax, max_steps):
    lj = lj7_potential()
    return jax.vmap(lambda R: minimize(lj, R, FIRE(), fmax=fmax, max_steps=max_steps))(R0s)


@eqx.filter_jit
def _neb(bands, solver, fmax, max_steps):
    lj = lj7_potential()
    return jax.vmap(lambda b: neb(lj, b, solver, fmax=fmax, max_steps=max_steps))(bands)


@jax.jit
def _line_energies(lines):
    return jax.vmap(jax.vmap(lj7_potential().energy))(lines)


@jax.jit
def _align_paths(paths):
    return jax.vmap(align_path)(paths)


def _chunked(fn, X, *args, chunk: int = 1024):
    """Apply a vmapped kernel in chunks padded to one shape (one compilation)."""
    outs = []
    for i in range(0, len(X), chunk):
        part = X[i : i + chunk]
        n = len(part)
        if n < chunk and len(X) > chunk:
            part = np.concatenate([part, np.repeat(part[-1:], chunk - n, axis=0)])
        outs.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], fn(jnp.asarray(part), *args)))
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *outs)


@functools.lru_cache(maxsize=1)
def _hexagon_minimum() -> np.ndarray:
    """C0 exactly: relaxation keeps the hexagon's symmetry, so only its radius ``r`` is
    free; 6 centre and 6 ring bonds at ``r``, 6 pairs at ``sqrt(3) r``, 3 at ``2 r``."""

    def lj(d):
        return 4 * (d**-12 - d**-6)

    r = minimize_scalar(lambda r: 12 * lj(r) + 6 * lj(np.sqrt(3) * r) + 3 * lj(2 * r),
                        bounds=(1.0, 1.3), method="bounded", options={"xatol": 1e-12}).x  # fmt: skip
    return hexagon(r)


@functools.lru_cache(maxsize=1)
def lj7_minima() -> tuple[np.ndarray, ...]:
    """The four minima C0-C3 as ``(7, 2)`` arrays, found once with jaxrxn: the hexagon is
    relaxed, P-RFO searches from kicked copies give saddles, and the minima on their
    two sides are collected (two rounds, from C0 and then from the minima found)."""
    found: dict[int, np.ndarray] = {0: _hexagon_minimum()}
    rng = np.random.default_rng(12345)
    for _ in range(3):
        if len(found) == 4:
            break
        starts = np.concatenate([m + 0.3 * rng.normal(size=(48, 7, 2)) for m in found.values()])
        sad = _chunked(lambda X: _saddles(X, 1e-5, 200), starts)
        ok = sad.converged
        S, mode = sad.R[ok], sad.mode[ok]
        ends = _chunked(lambda X: _relax(X, 1e-8, 5000), np.concatenate([S + 0.05 * mode, S - 0.05 * mode]))
        for Rm, E, c in zip(ends.R, ends.energy, ends.converged):
            k = minimum_class(float(E))
            if c and k >= 0 and k not in found:
                found[k] = Rm
    if len(found) != 4:
        raise RuntimeError(f"found only minima {sorted(found)} of 2D LJ7.")
    return tuple(found[k] - found[k].mean(0) for k in range(4))


def random_frame(R: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``R`` centred, rotated by a random angle, reflected with probability 1/2 and with
    its atom labels permuted at random."""
    th = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    if rng.uniform() < 0.5:
        rot = rot @ np.diag([1.0, -1.0])
    R = (R - R.mean(0)) @ rot.T
    return R[rng.permutation(len(R))]


# ---------------------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------------------
def build_lj7_paths(
    seeds: Sequence[int],
    *,
    n_kicks: int = 32,
    kick: float = 0.3,
    n_images: int = 13,
    neb_fmax: float = 0.01,
    neb_max_steps: int = 2000,
    classes: Sequence[int] | None = None,
) -> list[ReactionPath]:
    """CI-NEB rearrangements of 2D LJ7 from the initial states of `seeds` (module docstring).

    `classes` restricts the initial minima (default: seed ``s`` starts from ``C[s % 4]``;
    with `classes`, from ``classes[s % len(classes)]``). Returns one :class:`ReactionPath` per
    distinct saddle adjacent to each IS, with extras ``seed``, ``is_class``, ``fs_class``,
    ``saddle_energy`` (eps), ``linear_excess`` (relative excess of the straight-line
    barrier over the MEP barrier, as for G2) and ``n_force_calls`` of its CI-NEB.
    """
    classes = list(range(4)) if classes is None else list(classes)
    if not set(classes) <= {0, 1, 2, 3}:
        raise ValueError(f"LJ7-2D minima are classes 0-3; got {classes}.")
    # C0 alone needs no landscape search (the hexagon relaxes to it)
    minima = lj7_minima() if set(classes) != {0} else (_hexagon_minimum(),)
    IS, cls = [], []
    for s in seeds:
        rng = np.random.default_rng(np.random.PCG64(int(s)))
        c = classes[int(s) % len(classes)]
        IS.append(random_frame(minima[c], rng))
        cls.append(c)
    if not IS:
        return []
    IS = np.stack(IS)
    # 2. saddles from random kicks
    # kicks from a second stream of each seed, so a seed's reactions do not depend on the batch
    xi = np.stack([np.random.default_rng(np.random.PCG64([int(s), 1])).normal(size=(n_kicks, 7, 2)) for s in seeds])
    xi -= xi.mean(axis=2, keepdims=True)
    starts = (IS[:, None] + kick * xi).reshape(-1, 7, 2)
    sad = _chunked(lambda X: _saddles(X, 1e-5, 200), starts)
    owner = np.repeat(np.arange(len(IS)), n_kicks)
    ok = np.flatnonzero(sad.converged)
    if len(ok) == 0:
        return []
    # 3. both sides
    S, mode = sad.R[ok], sad.mode[ok]
    ends = _chunked(lambda X: _relax(X, 1e-6, 5000), np.concatenate([S + 0.05 * mode, S - 0.05 * mode]))
    n = len(ok)
    cand = []  # (owner, saddle R, saddle E, FS)
    for j in range(n):
        o = owner[ok[j]]
        A, B = ends.R[j], ends.R[n + j]
        eA, eB = float(ends.energy[j]), float(ends.energy[n + j])
        if not (ends.converged[j] and ends.converged[n + j]) or minimum_class(eA) < 0 or minimum_class(eB) < 0:
            continue
        dA, dB = rmsd_numpy(A, IS[o]), rmsd_numpy(B, IS[o])
        if min(dA, dB) > 0.05 or max(dA, dB) < 0.05:
            continue  # does not touch the IS, or leads back to it
        FS = B if dA < dB else A
        dup = any(c[0] == o and abs(c[2] - float(sad.energy[ok[j]])) < 1e-4 and rmsd_numpy(S[j], c[1]) < 0.02 for c in cand)
        if not dup:
            cand.append((o, S[j], float(sad.energy[ok[j]]), FS))
    if not cand:
        return []
    # 4. CI-NEB from IS -> saddle -> FS
    half = n_images // 2 + 1
    t1 = np.linspace(0.0, 1.0, half)[:, None, None]
    t2 = np.linspace(0.0, 1.0, n_images - half + 1)[1:, None, None]
    bands = np.stack([np.concatenate([IS[o] + t1 * (Sd - IS[o]), Sd + t2 * (F - Sd)]) for o, Sd, _, F in cand])
    solver = NEB(k=1.0, climb=True)
    res = _chunked(lambda X: _neb(X, solver, neb_fmax, neb_max_steps), bands, chunk=512)
    seg = np.linspace(0, 1, 101)[:, None, None]
    lines = np.stack([IS[o] + seg * (F - IS[o]) for o, _, _, F in cand])
    E_lin = np.asarray(_line_energies(jnp.asarray(lines)))
    aligned = np.asarray(_align_paths(jnp.asarray(res.path)))
    out = []
    for b, (o, Sd, Es, F) in enumerate(cand):
        E = res.energies[b]
        n_max = int(np.sum((E[1:-1] > E[:-2]) & (E[1:-1] > E[2:])))  # count_interior_maxima
        if not res.converged[b] or n_max != 1 or abs(E.max() - Es) > 1e-3:
            continue
        P = aligned[b]
        B = float(E.max() - E[0])
        ts = int(np.argmax(E))
        F_rot = res.forces[b]  # forces are rotated with their images below
        F_al = np.stack([F_rot[i] @ kabsch_rotation_numpy(res.path[b][i], P[i]) for i in range(len(P))])
        s = int(seeds[o])
        out.append(ReactionPath(
            "LJ7", f"s{s}_{len(out)}", np.full(7, LJ_NUMBER), P, E, F_al, P[0], P[-1], P[ts],
            {"seed": np.array(s), "is_class": np.array(cls[o]), "fs_class": np.array(minimum_class(float(E[-1]))),
             "saddle_energy": np.array(Es), "linear_excess": np.array((float(E_lin[b].max() - E_lin[b][0]) - B) / B),
             "n_force_calls": np.array(int(res.n_force_calls[b]))},
        ))  # fmt: skip
    return out


def cluster_pathset(reactions: Sequence[ReactionPath], n_points: int = 21) -> PathSet:
    """Atomistic :class:`ReactionPath` records as a :class:`PathSet` (arc-length resampled).

    `context` holds species indices ``(P, N)`` (rank of each atomic number among those of
    the set); `cond` the FS displacement ``FS - IS`` ``(P, N, dim)`` (Å), the atomistic
    analogue of the G2 condition; `group` numbers the initial states (one per seed, or
    one per record when records carry no ``seed``). All records need the same atom count
    and dimension (stacking); real Transition1x files mix molecule sizes, so read one
    formula at a time.
    """
    if not reactions:
        raise ValueError("no reactions to stack.")
    shapes = {r.positions.shape[1:] for r in reactions}
    if len(shapes) > 1:
        raise ValueError(f"reactions differ in (atoms, dim): {sorted(shapes)}; train on one formula at a time.")
    resample = jax.jit(resample_by_arc_length, static_argnums=1)  # one compilation per band shape
    paths = jnp.stack([resample(jnp.asarray(r.positions), n_points) for r in reactions])
    Z = np.unique(np.concatenate([r.numbers for r in reactions]))
    context = jnp.asarray(np.stack([np.searchsorted(Z, r.numbers) for r in reactions]))
    # one group per initial state: the seed for built sets, else each record on its own
    # (e.g. real Transition1x reactions, which carry no seed)
    keys = [str(int(r.extras["seed"])) if "seed" in r.extras else f"{r.formula}/{r.rxn}" for r in reactions]
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    return PathSet(
        paths, context, paths[:, -1] - paths[:, 0], jnp.asarray([r.barrier for r in reactions]),
        jnp.asarray([index[k] for k in keys]),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# alignment over O(2) x permutations, retrieval baseline
# ---------------------------------------------------------------------------------------
def _anchor_maps(P: np.ndarray, Q: np.ndarray):
    """Candidate maps of cluster ``P`` onto ``Q``: each (farthest atom of P, off-centre atom
    of Q) pair fixes a rotation (and its reflection); atoms are then assigned by the
    Hungarian algorithm and the rigid fit redone (reflection allowed). Yields
    ``(perm, U, rmsd)`` with ``(P[perm] - p0) @ U ~ Q - q0``."""
    Pc, Qc = P - P.mean(0), Q - Q.mean(0)
    ip = int(np.argmax(np.linalg.norm(Pc, axis=1)))
    for refl in (1.0, -1.0):
        Pr = Pc * np.array([1.0, refl])
        a = np.arctan2(Pr[ip, 1], Pr[ip, 0])
        for jq in range(len(Q)):
            if np.linalg.norm(Qc[jq]) < 1e-3:
                continue
            th = np.arctan2(Qc[jq, 1], Qc[jq, 0]) - a
            rot = np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
            rows, cols = linear_sum_assignment(np.sum(((Pr @ rot)[:, None] - Qc[None]) ** 2, -1))
            perm = np.empty(len(P), int)
            perm[cols] = rows
            U = _orthogonal_fit(Pc[perm], Qc)
            yield perm, U, float(np.sqrt(np.mean(np.sum((Pc[perm] @ U - Qc) ** 2, -1))))


def match_cluster(P: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Best map of cluster ``P`` onto ``Q`` over rotations, reflections and permutations
    (2D, one species): ``(perm, U, rmsd)`` with ``(P[perm] - p0) @ U + q0 ~ Q`` (rmsd in Å).

    Exhaustive over anchor atoms (:func:`_anchor_maps`), so exact for the small clusters
    it is meant for; the permutation search uses the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``).
    """
    return min(_anchor_maps(P, Q), key=lambda m: m[2])


def _orthogonal_fit(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Orthogonal ``U`` (reflections allowed) minimising ``|P U - Q|`` (centred inputs)."""
    V, _, Wt = np.linalg.svd(P.T @ Q)
    return V @ Wt


def _fingerprint(R: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(R[:, None] - R[None], axis=-1)
    return np.sort(d[np.triu_indices(len(R), 1)])


def nearest_cluster_path(train: PathSet, x_is: np.ndarray, x_fs: np.ndarray, n_candidates: int = 8) -> np.ndarray:
    """Retrieval baseline for clusters (conditioned mode): the training path whose
    ``(IS, FS)`` best matches the given pair after rotation, reflection and relabelling.

    Candidates are the `n_candidates` training reactions with the nearest sorted-distance
    fingerprints of IS and FS; each is mapped onto the query by :func:`match_cluster` on
    the IS (all symmetry-equivalent maps are tried via the anchors) and scored by the
    joint RMSD of IS and FS; the winner is moved into the query's frame and labels and
    its end-point errors are blended out linearly along the path (as
    :func:`jaxrxn.generative.flow.nearest_training_path` does). Returns ``(M, N, dim)``.
    """
    paths = np.asarray(train.paths)
    f_q = np.concatenate([_fingerprint(x_is), _fingerprint(x_fs)])
    f_t = np.stack([np.concatenate([_fingerprint(p[0]), _fingerprint(p[-1])]) for p in paths])
    cands = np.argsort(np.sum((f_t - f_q) ** 2, axis=1))[:n_candidates]
    q0 = x_is.mean(0)
    best, best_score = None, np.inf
    Qj = np.concatenate([x_is, x_fs]) - q0
    for c in cands:
        P = paths[c]
        for perm in _symmetric_perms(P[0], x_is):
            p0 = P[0][perm].mean(0)
            Pj = np.concatenate([P[0][perm], P[-1][perm]]) - p0
            U = _orthogonal_fit(Pj, Qj)
            score = float(np.sum((Pj @ U - Qj) ** 2))
            if score < best_score:
                best_score, best = score, (P[:, perm] - p0) @ U + q0
    t = np.linspace(0.0, 1.0, best.shape[0])[:, None, None]
    return best + (1 - t) * (x_is - best[0]) + t * (x_fs - best[-1])


def _symmetric_perms(P: np.ndarray, Q: np.ndarray, tol: float = 0.05) -> list[np.ndarray]:
    """All relabellings that map ``P`` onto ``Q`` within `tol` (Å RMSD) under O(2); the
    symmetric copies of a minimum give several (the best one if none is within `tol`)."""
    maps = list(_anchor_maps(P, Q))
    out: list[np.ndarray] = []
    for perm, _, r in maps:
        if r < tol and not any(np.array_equal(perm, o) for o in out):
            out.append(perm)
    return out or [min(maps, key=lambda m: m[2])[0]]


def cluster_path_rmsd(a: Float[Array, "Ma N dim"], b: Float[Array, "Mb N dim"], n_points: int = 21):
    """M3 for clusters: both paths resampled to `n_points` images equally spaced in arc
    length, each image of ``a`` Kabsch-aligned onto the matching image of ``b`` (same
    labels), then the per-atom RMSD (Å) averaged over the images."""
    ra, rb = resample_by_arc_length(a, n_points), resample_by_arc_length(b, n_points)
    ra = jax.vmap(align)(ra, rb)
    return jnp.mean(jnp.sqrt(jnp.mean(jnp.sum((ra - rb) ** 2, -1), -1)))
