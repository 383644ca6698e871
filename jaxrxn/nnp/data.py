"""Labelled configurations for neural-network potentials: padded arrays, HDF5, GFN2-xTB labels.

A :class:`Configurations` set holds molecules of different sizes padded to one atom count
(``numbers == 0`` and ``atom_mask == False`` on padding atoms), with reference energies (eV)
and forces (eV/Å), and a ``group`` per configuration (the reactant molecule it comes from,
so that validation and test splits never share a molecule with training).

:func:`configurations_from_reactions` turns a reaction data set in the Transition1x layout
(:func:`jaxrxn.generative.data.read_transition1x`) into training configurations: every
reactant, transition state, product and path image, plus thermally perturbed copies of the
stationary points, labelled with GFN2-xTB (tblite) where the data set does not already hold
energies and forces at that level. :func:`write_configurations` stores them in a companion
HDF5 file::

    /numbers (C, N) int   /positions (C, N, 3) Å   /energy (C,) eV   /forces (C, N, 3) eV/Å
    /group (C,) int       /kind (C,) bytes (reactant, transition_state, product, image, perturbed)
    /split (C,) bytes (optional: train, val, test, the data set's split by molecule; see :func:`read_split`)

with attributes ``level`` and whatever the builder recorded (``label_s``, ``sigma``, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import equinox as eqx
import h5py
import jax
import numpy as np
from jaxtyping import Array, Bool, Float, Int

KINDS = ("reactant", "transition_state", "product", "image", "perturbed")


class Configurations(eqx.Module):
    """Padded, labelled configurations ``C`` of at most ``N`` atoms (a pytree; index with
    :meth:`take`).

    - `numbers` ``(C, N)`` atomic numbers, 0 on padding atoms; `atom_mask` ``(C, N)``.
    - `positions` ``(C, N, 3)`` Å (padding atoms at the origin); `energy` ``(C,)`` eV;
      `forces` ``(C, N, 3)`` eV/Å (zero on padding atoms).
    - `group` ``(C,)`` int: the molecule (or reaction) a configuration comes from.
    """

    numbers: Int[Array, "C N"]
    positions: Float[Array, "C N 3"]
    energy: Float[Array, " C"]
    forces: Float[Array, "C N 3"]
    group: Int[Array, " C"]

    @property
    def atom_mask(self) -> Bool[Array, "C N"]:
        return self.numbers > 0

    def __len__(self) -> int:
        return self.numbers.shape[0]

    def take(self, idx) -> "Configurations":
        """The configurations ``idx`` (indices or a boolean mask), host side."""
        idx = np.flatnonzero(idx) if np.asarray(idx).dtype == bool else np.asarray(idx)
        return jax.tree_util.tree_map(lambda a: np.asarray(a)[idx], self)

    def astype(self, dtype) -> "Configurations":
        """The same configurations with positions, energies and forces in `dtype` (e.g.
        ``np.float32`` to train in single precision), host side."""
        return Configurations(self.numbers, np.asarray(self.positions, dtype), np.asarray(self.energy, dtype),
                              np.asarray(self.forces, dtype), self.group)  # fmt: skip

    @property
    def elements(self) -> tuple[int, ...]:
        """The distinct atomic numbers present (sorted)."""
        z = np.unique(np.asarray(self.numbers))
        return tuple(int(x) for x in z[z > 0])


def pad_configurations(
    numbers: Sequence[np.ndarray],
    positions: Sequence[np.ndarray],
    energy: Sequence[float],
    forces: Sequence[np.ndarray],
    group: Sequence[int],
    n_atoms: int | None = None,
) -> Configurations:
    """Stack unpadded molecules (``numbers[c]`` ``(n_c,)``, ``positions[c]`` and
    ``forces[c]`` ``(n_c, 3)``) into a :class:`Configurations` of `n_atoms` (default: the
    largest ``n_c``) atoms each."""
    n = max(len(z) for z in numbers) if n_atoms is None else int(n_atoms)
    C = len(numbers)
    Z, R, F = np.zeros((C, n), np.int32), np.zeros((C, n, 3)), np.zeros((C, n, 3))
    for c, (z, r, f) in enumerate(zip(numbers, positions, forces)):
        if len(z) > n:
            raise ValueError(f"configuration {c} has {len(z)} atoms, more than the {n} to pad to.")
        Z[c, : len(z)], R[c, : len(z)], F[c, : len(z)] = z, r, f
    return Configurations(Z, R, np.asarray(energy, float), F, np.asarray(group, np.int32))


def concatenate(sets: Sequence[Configurations]) -> Configurations:
    """One set of all of `sets`' configurations, padded to the largest atom count."""
    n = max(s.numbers.shape[1] for s in sets)

    def pad(a, axis_len):
        a = np.asarray(a)
        return np.pad(a, [(0, 0), (0, n - axis_len)] + [(0, 0)] * (a.ndim - 2))

    return Configurations(
        np.concatenate([pad(s.numbers, s.numbers.shape[1]) for s in sets]),
        np.concatenate([pad(s.positions, s.numbers.shape[1]) for s in sets]),
        np.concatenate([np.asarray(s.energy) for s in sets]),
        np.concatenate([pad(s.forces, s.numbers.shape[1]) for s in sets]),
        np.concatenate([np.asarray(s.group) for s in sets]),
    )


class SizeBuckets(eqx.Module):
    """Configurations grouped by atom count, each group padded only to its own largest
    molecule (:func:`split_by_size`): a step of a padded network costs about the square of
    the padded size, so a minibatch drawn from one bucket is cheaper than one padded to the
    largest molecule of the whole set. ``len`` is the total number of configurations."""

    buckets: tuple[Configurations, ...]

    def __len__(self) -> int:
        return sum(len(b) for b in self.buckets)

    @property
    def sizes(self) -> tuple[int, ...]:
        """The padded atom count of each bucket."""
        return tuple(b.numbers.shape[1] for b in self.buckets)


def split_by_size(data: Configurations, n_buckets: int) -> SizeBuckets:
    """`data` in at most `n_buckets` buckets of consecutive atom counts, the bounds chosen
    to minimise ``sum_b len(b) * size_b**2`` (the cost of all-pairs messages), each bucket
    cut to its largest real atom count. Real atoms must come first in every row (as
    :func:`pad_configurations` writes them)."""
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be at least 1; got {n_buckets}.")
    real = np.asarray(data.numbers) > 0
    n = real.sum(1)
    if not all(real[c, : n[c]].all() for c in range(len(n))):
        raise ValueError("every configuration's real atoms must come before its padding atoms.")
    size, count = np.unique(n, return_counts=True)
    # cost[k][j]: the first j distinct sizes in k buckets; split[k][j]: where the last one starts
    m = len(size)
    k_max = min(n_buckets, m)
    cost = np.full((k_max + 1, m + 1), np.inf)
    split = np.zeros((k_max + 1, m + 1), int)
    cost[0, 0] = 0.0
    below = np.concatenate([[0], np.cumsum(count)])
    for k in range(1, k_max + 1):
        for j in range(1, m + 1):
            for i in range(j):  # the last bucket holds sizes i..j-1, padded to size[j-1]
                c = cost[k - 1, i] + (below[j] - below[i]) * float(size[j - 1]) ** 2
                if c < cost[k, j]:
                    cost[k, j], split[k, j] = c, i
    k = int(np.argmin(cost[:, m]))
    bounds, j = [], m
    while k > 0:
        bounds.append((split[k, j], j))
        j, k = split[k, j], k - 1
    buckets = []
    for i, j in reversed(bounds):
        rows = data.take((n >= size[i]) & (n <= size[j - 1]))
        width = int(size[j - 1])
        buckets.append(Configurations(rows.numbers[:, :width], rows.positions[:, :width], rows.energy,
                                      rows.forces[:, :width], rows.group))  # fmt: skip
    return SizeBuckets(tuple(buckets))


def split_by_group(
    data: Configurations, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[Configurations]:
    """Split by ``group`` (molecule) into parts of about `fractions` of the groups, so that no
    molecule appears in two parts. Groups are shuffled with `seed`; every part with a
    positive fraction gets at least one group when there are enough."""
    groups = np.unique(np.asarray(data.group))
    order = np.random.default_rng(seed).permutation(groups)
    f = np.asarray(fractions, float) / np.sum(fractions)
    counts = np.floor(f * len(groups)).astype(int)
    for k in np.argsort(-(f * len(groups) - counts)):  # largest remainders first
        if counts.sum() >= len(groups):
            break
        counts[k] += 1
    for k in range(len(counts)):  # a wanted part never ends up empty if another can give
        if f[k] > 0 and counts[k] == 0 and counts.max() > 1:
            counts[np.argmax(counts)] -= 1
            counts[k] = 1
    bounds = np.concatenate([[0], np.cumsum(counts)])
    gid = np.asarray(data.group)
    return [data.take(np.isin(gid, order[bounds[k] : bounds[k + 1]])) for k in range(len(counts))]


def path_configurations(reactions: Sequence) -> Configurations:
    """Every path frame of `reactions` (:class:`jaxrxn.generative.data.ReactionPath` records
    read with their energies and forces) as labelled configurations, padded to the largest
    molecule; ``group`` numbers the reactions."""
    missing = [r.rxn for r in reactions if r.energies is None or r.forces is None]
    if missing:
        raise ValueError(f"reactions without path energies and forces (read them at a level): {missing[:5]}")
    Z = [r.numbers for r in reactions for _ in r.positions]
    return pad_configurations(Z, [x for r in reactions for x in r.positions], [e for r in reactions for e in r.energies],
                              [f for r in reactions for f in r.forces],
                              [k for k, r in enumerate(reactions) for _ in r.positions])  # fmt: skip


# ---------------------------------------------------------------------------------------
# labelling
# ---------------------------------------------------------------------------------------
def perturbed_copies(
    positions: Float[np.ndarray, "n 3"], n_copies: int, sigma: float | Float[np.ndarray, " n_copies"], rng: np.random.Generator
) -> Float[np.ndarray, "n_copies n 3"]:
    """`n_copies` of `positions` (Å) with every coordinate displaced by a Gaussian of
    standard deviation `sigma` (Å; one value, or one per copy) -- about the thermal
    amplitude of heavy atoms at a few hundred K for ``sigma`` = 0.05-0.1 Å."""
    scale = np.asarray(sigma, float)[..., None, None]
    return positions[None] + rng.normal(scale=scale, size=(n_copies,) + positions.shape)


def xtb_labels(
    numbers: np.ndarray, positions: Float[np.ndarray, "C n 3"], *, charge: int = 0, multiplicity: int = 1,
    workers: int = 1,
) -> tuple[Float[np.ndarray, " C"], Float[np.ndarray, "C n 3"]]:
    """GFN2-xTB energies (eV) and forces (eV/Å) of configurations of one molecule (tblite,
    through :func:`jaxrxn.potentials.qm.xtb_potential`, `workers` threads).

    Run labelling jobs with ``OMP_NUM_THREADS=1`` on a shared machine: tblite's OpenMP
    threads then cannot spin against other jobs (measured on 3-11-atom CHNO molecules at
    load ~24 on 2 cores: 19 ms per configuration with one thread, 2.2 s with two)."""
    from jaxrxn.potentials.qm import xtb_potential

    pot = xtb_potential(numbers, charge=charge, multiplicity=multiplicity, workers=workers)
    try:
        E, F = pot.energy_fn.evaluate_batch(np.asarray(positions, float))
    finally:
        pot.energy_fn.close()
    return np.asarray(E), np.asarray(F)


def configurations_from_reactions(
    reactions: Sequence,
    *,
    level: str | None = None,
    end_labels: Sequence | None = None,
    n_perturbed: int = 4,
    sigma: float = 0.05,
    max_images: int | None = None,
    seed: int = 0,
    workers: int = 1,
    callback: Callable[[int, int], None] | None = None,
) -> tuple[Configurations, np.ndarray, dict]:
    """Training configurations of a reaction data set, labelled with GFN2-xTB.

    **Arguments:**

    - `reactions`: :class:`jaxrxn.generative.data.ReactionPath` records (one data set split).
    - `level`: the data set's energy level if it is GFN2-xTB (its path images' energies and
      forces are then used as they are); otherwise (``None``) every configuration is labelled.
    - `end_labels`: per reaction, ``(energies (3,), forces (3, n, 3))`` of its reactant, TS
      and product at GFN2-xTB, or ``None`` (then they are labelled);
      :func:`configurations_from_file` reads them from the file.
    - `n_perturbed`, `sigma`: Gaussian-perturbed copies (std `sigma` Å) of each reactant,
      TS and product (:func:`perturbed_copies`), always labelled.
    - `max_images`: keep at most this many path images per reaction (evenly spaced).
    - `seed`: perturbations. `workers`: tblite threads. `callback(done, total)` after each
      reaction (progress).

    Returns ``(configurations, kinds, info)``: ``group`` numbers the reactant molecules
    (a record's ``molecule`` extra when it has one, as in :mod:`jaxrxn.datasets` files;
    else by formula and reactant geometry, in order of appearance), ``kinds`` ``(C,)`` names each configuration's origin (:data:`KINDS`) and
    ``info`` holds ``n_configurations``, ``n_labelled`` (xTB calls) and ``label_s``
    (seconds spent in xTB).
    """
    rng = np.random.default_rng(seed)
    Z, R, E, F, G, K = [], [], [], [], [], []
    groups: dict = {}
    n_labelled, label_s = 0, 0.0
    for k, rx in enumerate(reactions):
        numbers = np.asarray(rx.numbers)
        mol = rx.extras.get("molecule") if rx.extras else None
        key = (rx.formula, np.round(np.asarray(rx.reactant), 3).tobytes())
        g = int(mol) if mol is not None else groups.setdefault(key, len(groups))
        groups.setdefault(("molecule", g) if mol is not None else key, g)
        ends = np.stack([np.asarray(rx.reactant), np.asarray(rx.transition_state), np.asarray(rx.product)])
        images = np.asarray(rx.positions)
        keep = np.arange(len(images))
        if max_images is not None and len(images) > max_images:
            keep = np.unique(np.round(np.linspace(0, len(images) - 1, max_images)).astype(int))
        have_ends = end_labels is not None and end_labels[k] is not None
        have_images = level is not None and rx.energies is not None and len(rx.energies) == len(images)
        todo = [] if have_ends else [ends]
        todo += [perturbed_copies(x, n_perturbed, sigma, rng) for x in ends]
        if not have_images:
            todo.append(images[keep])
        X = np.concatenate(todo)
        t0 = time.perf_counter()
        e, f = xtb_labels(numbers, X, workers=workers) if len(X) else (np.zeros(0), np.zeros((0,) + ends.shape[1:]))
        label_s += time.perf_counter() - t0
        n_labelled += len(X)
        e_end, f_end = (end_labels[k] if have_ends else (e[:3], f[:3]))
        o = 0 if have_ends else 3
        n_p = 3 * n_perturbed
        parts = [(ends, np.asarray(e_end), np.asarray(f_end), KINDS[:3]),
                 (X[o : o + n_p], e[o : o + n_p], f[o : o + n_p], ["perturbed"] * n_p)]  # fmt: skip
        if have_images:
            parts.append((images[keep], np.asarray(rx.energies)[keep], np.asarray(rx.forces)[keep], ["image"] * len(keep)))
        else:
            parts.append((X[o + n_p :], e[o + n_p :], f[o + n_p :], ["image"] * len(keep)))
        for Xs, es, fs, kinds in parts:
            for x, ei, fi, kind in zip(Xs, es, fs, kinds):
                Z.append(numbers), R.append(x), E.append(ei), F.append(fi), G.append(g), K.append(kind)
        if callback is not None:
            callback(k + 1, len(reactions))
    data = pad_configurations(Z, R, E, F, G)
    info = {"n_configurations": len(data), "n_labelled": n_labelled, "label_s": label_s,
            "n_reactions": len(reactions), "n_groups": len(groups), "sigma": sigma, "n_perturbed": n_perturbed}  # fmt: skip
    return data, np.asarray(K), info


def configurations_from_file(filename: str, split: str = "train", level: str = "GFN2-xTB", **kwargs):
    """:func:`configurations_from_reactions` of a Transition1x-layout file whose records hold
    GFN2-xTB energies and forces at `level` (path images and the reactant, TS and product
    groups): only the perturbed copies are labelled. `kwargs` as there."""
    import h5py

    from jaxrxn.generative.data import read_transition1x

    reactions = read_transition1x(filename, split, level)
    labels = []
    with h5py.File(filename, "r") as f:
        for rx in reactions:
            g = f[split][rx.formula][rx.rxn]
            names = ("reactant", "transition_state", "product")
            if all(f"{level}.energy" in g[n] for n in names):
                labels.append((np.array([g[n][f"{level}.energy"][0] for n in names]),
                               np.stack([g[n][f"{level}.forces"][0] for n in names])))  # fmt: skip
            else:
                labels.append(None)
    return configurations_from_reactions(reactions, level=level, end_labels=labels, **kwargs)


def configurations_from_dataset(
    filename: str, *, n_perturbed: int = 8, path_copies: int = 0, sigma: float = 0.1, seed: int = 0, workers: int = 1,
    callback: Callable[[int, int], None] | None = None,
) -> tuple[Configurations, np.ndarray, np.ndarray, dict]:
    """All training configurations of a :mod:`jaxrxn.datasets` file (``jaxrxn build-dataset``):
    every reaction's path, reactant, TS and product with their stored GFN2-xTB labels, every
    relaxed reactant molecule of ``molecules/`` (also those that gave no reaction),
    `n_perturbed` Gaussian-perturbed copies of each of these minima and TSs and `path_copies`
    of every path image (the region a path search walks through), labelled with GFN2-xTB.
    The copies' standard deviations are spread evenly over ``(0, sigma]`` Å, so the set
    covers the near-harmonic region and stronger distortions.

    Returns ``(configurations, kinds, split, info)``: ``group`` is the reactant molecule's
    index in the file's molecule list, ``split`` ``(C,)`` its split there (``train``,
    ``val``, ``test``: a molecule's reactions and distortions never cross splits), ``kinds``
    and ``info`` as in :func:`configurations_from_reactions` (``n_molecules`` added).
    """
    sigmas = sigma * np.arange(1, n_perturbed + 1) / max(n_perturbed, 1)
    with h5py.File(filename, "r") as f:
        if "molecules" not in f or "data" not in f:
            raise ValueError(f"{filename!r} is not a jaxrxn.datasets file (no data/ and molecules/); it has {sorted(f.keys())}.")
        m = f["molecules"]
        mol_split = np.asarray(m["split"]).astype(str)
        index, n_atoms = np.asarray(m["index"]), np.asarray(m["n_atoms"])
        Z, R = np.asarray(m["atomic_numbers"]), np.asarray(m["positions"], float)
        E0, F0 = np.asarray(m["GFN2-xTB.energy"]), np.asarray(m["GFN2-xTB.forces"], float)
    rxn, rxn_kinds, info = configurations_from_file(filename, "data", "GFN2-xTB", n_perturbed=n_perturbed, sigma=sigmas,
                                                    seed=seed, workers=workers)  # fmt: skip
    rng = np.random.default_rng([seed, 1])
    start = np.concatenate([[0], np.cumsum(n_atoms)])
    numbers, positions, energy, forces, group, kinds = [], [], [], [], [], []
    t0 = time.perf_counter()
    if path_copies:
        from jaxrxn.generative.data import read_transition1x

        path_sigmas = sigma * np.arange(1, path_copies + 1) / path_copies
        for rx in read_transition1x(filename, "data", None):
            X = np.concatenate([perturbed_copies(x, path_copies, path_sigmas, rng) for x in np.asarray(rx.positions, float)])
            e, fx = xtb_labels(rx.numbers, X, workers=workers)
            for x, ei, fi in zip(X, e, fx):
                numbers.append(rx.numbers), positions.append(x), energy.append(ei), forces.append(fi)
                group.append(int(rx.extras["molecule"])), kinds.append("perturbed")
    for k, mol in enumerate(index):
        sl = slice(start[k], start[k + 1])
        X = perturbed_copies(R[sl], n_perturbed, sigmas, rng)
        e, fx = xtb_labels(Z[sl], X, workers=workers) if n_perturbed else (np.zeros(0), np.zeros((0,) + R[sl].shape))
        for x, ei, fi, kind in zip([R[sl], *X], [E0[k], *e], [F0[sl], *fx], ["reactant"] + ["perturbed"] * n_perturbed):
            numbers.append(Z[sl]), positions.append(x), energy.append(ei), forces.append(fi), group.append(int(mol)), kinds.append(kind)
        if callback is not None:
            callback(k + 1, len(index))
    label_s = time.perf_counter() - t0
    mols = pad_configurations(numbers, positions, energy, forces, group)
    data = concatenate([rxn, mols])
    info = {**info, "n_configurations": len(data), "n_labelled": info["n_labelled"] + len(mols) - len(index),
            "label_s": info["label_s"] + label_s, "n_molecules": len(index), "sigma": sigma, "path_copies": path_copies}  # fmt: skip
    return data, np.concatenate([rxn_kinds, kinds]), mol_split[np.asarray(data.group)], info


# ---------------------------------------------------------------------------------------
# storage
# ---------------------------------------------------------------------------------------
def write_configurations(
    filename: str, data: Configurations, kinds=None, *, split=None, level: str = "GFN2-xTB", **attrs
) -> None:
    """Write `data` (and the origin of each configuration, `kinds`, and its data-set split,
    `split`) to the companion HDF5 layout of the module docstring; `attrs` become file
    attributes (numbers, strings)."""
    with h5py.File(filename, "w") as f:
        f.attrs["level"] = level
        for k, v in attrs.items():
            f.attrs[k] = v
        for name in ("numbers", "positions", "energy", "forces", "group"):
            f.create_dataset(name, data=np.asarray(getattr(data, name)), compression="gzip")
        for name, labels in (("kind", kinds), ("split", split)):
            if labels is not None:
                f.create_dataset(name, data=np.asarray(labels, dtype="S"))


def read_split(filename: str) -> np.ndarray | None:
    """The ``split`` labels ``(C,)`` of a configuration file (``train``, ``val``, ``test``),
    or ``None`` when it has none."""
    with h5py.File(filename, "r") as f:
        return np.asarray(f["split"]).astype(str) if "split" in f else None


def read_configurations(filename: str) -> tuple[Configurations, np.ndarray | None, dict]:
    """``(configurations, kinds or None, attributes)`` from :func:`write_configurations`'
    layout. Raises ``ValueError`` for a file in another layout."""
    with h5py.File(filename, "r") as f:
        missing = [k for k in ("numbers", "positions", "energy", "forces") if k not in f]
        if missing:
            raise ValueError(
                f"{filename!r} is not an NNP configuration file (no {', '.join(missing)}); "
                f"it has {sorted(f.keys())}."
            )
        numbers = np.asarray(f["numbers"])
        group = np.asarray(f["group"]) if "group" in f else np.arange(len(numbers))
        data = Configurations(numbers, np.asarray(f["positions"]), np.asarray(f["energy"]),
                              np.asarray(f["forces"]), group)  # fmt: skip
        kinds = np.asarray(f["kind"]).astype(str) if "kind" in f else None
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    return data, kinds, attrs
