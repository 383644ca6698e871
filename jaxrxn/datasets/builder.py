"""A GFN2-xTB reaction data set made by jaxrxn's own single-ended searches.

For each reactant molecule (a SMILES list, :mod:`jaxrxn.datasets.molecules`) the builder

1. embeds it in 3D (RDKit ETKDG + MMFF) and relaxes it with GFN2-xTB (L-BFGS, 0.01 eV/Å);
2. per *attempt*, picks a random reaction-like driving coordinate of the reactant (a
   hydrogen transfer, a 1,2-H2 elimination or a bond formation, :func:`choose_drive`; one
   per class of drives equivalent under the bond graph's symmetry, none tried before) and
   relaxes the slightly noised reactant with that coordinate restrained at ``scan_points`` values from
   its start to a product-like value (:func:`driven_scan`; coordinate driving, as the
   starting point of single-ended TS searches since P. M. Zimmerman, J. Chem. Theory
   Comput. 9, 3043 (2013)); an attempt whose scan has no interior energy maximum ends there
   (``"no_barrier"``);
3. climbs from the scan's highest point to a saddle with restricted-step P-RFO on the
   gradient-updated Hessian (:meth:`jaxrxn.saddle.RSPRFO.molecular` with the builder's
   padded internal coordinates and :class:`BuildConfig`'s overrides), its first mode guess
   the scan direction there, refined by Davidson (min-mode following with an approximate Hessian);
4. keeps the saddle if it is first order by a finite-difference harmonic analysis
   (:func:`jaxrxn.vibrations.vibrations`: exactly one frequency below
   ``-IMAGINARY_CM1``; softer imaginary ones are finite-difference noise of methyl
   rotors) and not already found (same TS energy within 1 meV and Kabsch RMSD < 0.1 Å);
5. runs the IRC down both sides from the imaginary mode (:func:`jaxrxn.irc.irc` with the
   reaction pipeline's ``IRC_OPTIONS``, both ends relaxed to 0.01 eV/Å) and keeps the step if the two ends are distinct minima;
6. stores the reactant end first (the end whose bond graph is the reactant's, if any; else
   the lower one), the IRC points thinned to at most ``path_points`` per branch, TS, and
   product, with GFN2-xTB energies and forces at every stored frame.

Every elementary step found this way is kept; ``kind`` says ``"reactive"`` (bond graphs of
the ends differ) or ``"conformational"``, and ``connects_reactant`` whether one end is the
reactant molecule (same bond graph). Duplicates (same molecule, TS energy within 1 meV and
the same pair of end graphs) are dropped.

**Checkpoints.** Work lives in ``OUTPUT.work/``: ``ledger.jsonl`` (one line per finished
attempt: outcome, gradient calls, seconds), ``mol_XXXX.npz`` (relaxed reactants) and
``rxn_XXXX_YYYY.npz`` (one per kept reaction), each written atomically. A killed run resumes
where it stopped (finished attempts are never redone); the HDF5 file is re-assembled from the
work directory after every round and at the end (:func:`assemble`).

**Several processes.** Any number of builders may run on one work directory at once (the
same command line, started again): each attempt is *claimed* first (``claim_MMMM_AAAA``, a
file naming the process, created atomically) and skipped by the others; claims of
unfinished attempts whose process is gone are released when a builder starts. One builder
per core multiplies the throughput; the results are those of one builder (every attempt is
seeded by itself; the drives an attempt excludes are read from the ledger just before it).

**Order.** Attempts go round-robin: attempt 0 of every molecule, then attempt 1, ..., so
a time-limited run covers every molecule early. Attempt ``a`` of molecule ``m`` is seeded
by ``(seed, m, a)``: results are reproducible up to the calculator's floating point.

**Compilation.** The GFN2-xTB potentials of molecules of one size share compiled code
(their calculators are found by handle: :class:`jaxrxn.potentials.external.HostEnergy`),
and the internal coordinates are padded to lengths fixed by the atom count
(:func:`padded_internals`), so the jitted relaxation, scan, saddle search and IRC compile
once per atom count, not per molecule or attempt.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from jaxrxn.datasets.molecules import atom_count, bond_changes, embed, formula, graph_hash, read_smiles
from jaxrxn.geometry import rmsd_numpy
from jaxrxn.potentials.qm import xtb_potential

LEVEL = "GFN2-xTB"
#: Imaginary frequencies softer than this (cm^-1) count as finite-difference noise.
IMAGINARY_CM1 = 50.0


@dataclasses.dataclass(frozen=True)
class BuildConfig:
    """Settings of :func:`build_dataset` (recorded in the file's attributes).

    - `seed`: base seed; attempt ``a`` of molecule ``m`` uses ``(seed, m, a)``.
    - `attempts`: attempts per molecule.
    - `scan_points`: relaxations along the driven coordinate of a start
      (:func:`driven_scan`); `restraint`: force constant of its harmonic restraint, eV/Å²;
      `scan_steps`: L-BFGS cap of each restrained relaxation.
    - `noise`: Gaussian noise (Å) on the reactant before the scan.
    - `saddle_steps`, `fmax`: RSPRFO iteration cap and force threshold (eV/Å, also of the
      relaxations); `initial_hessian`, `hessian_update`, `step_norm`, `trust_policy`: the
      builder's overrides of :meth:`jaxrxn.saddle.RSPRFO.molecular` (the defaults are the
      settings the shipped data set was built with: Lindh's model Hessian, Bofill updates,
      a Euclidean step norm and a doubling trust radius; ``"fischer"``, ``"ts-bfgs"``,
      ``"max"``, ``"sella"`` are ``RSPRFO.molecular``'s own).
    - `path_points`: IRC points kept per branch (equally spaced in arc length).
    - `test_fraction`, `val_fraction`: molecules held out (split by reactant molecule).
    - `type_test_fraction`: reactions held out by reaction type (second split).
    """

    seed: int = 0
    attempts: int = 12
    scan_points: int = 12
    restraint: float = 100.0
    scan_steps: int = 60
    noise: float = 0.02
    saddle_steps: int = 300
    initial_hessian: str = "model"
    hessian_update: str = "bofill"
    step_norm: str = "l2"
    trust_policy: str = "doubling"
    fmax: float = 0.01
    path_points: int = 10
    test_fraction: float = 0.1
    val_fraction: float = 0.1
    type_test_fraction: float = 0.15


# jitted once per shape (potentials of one size compare equal); the solver and floats are traced
@eqx.filter_jit
def _relax(potential, R, fmax):
    from jaxrxn.optimize import LBFGS, minimize

    return minimize(potential, R, LBFGS(maxstep=0.1), fmax=fmax, max_steps=1000)


@eqx.filter_jit
def _saddle(potential, R, solver, fmax, max_steps: int, mode0):
    from jaxrxn.saddle import saddle_search

    return saddle_search(potential, R, solver, fmax=fmax, max_steps=max_steps, check_index=False, mode0=mode0)


@eqx.filter_jit
def _energy_and_forces(potential, R):
    return potential.energy_and_forces(R)


def _energies_forces(potential, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energies and forces of the stored frames, one call each: a vmapped call would
    compile again for every new frame count."""
    out = [_energy_and_forces(potential, jnp.asarray(R)) for R in frames]
    return np.array([float(e) for e, _ in out]), np.stack([np.asarray(f) for _, f in out])


# ---------------------------------------------------------------------------------------
# one attempt
# ---------------------------------------------------------------------------------------
class Drive(eqx.Module):
    """A driven reaction coordinate ``xi(R) = sum_p coef_p |R_i - R_j|`` over the atom
    pairs ``pairs`` ``(2, 2)`` (a pair with ``coef`` 0 is padding), scanned from its value
    at the reactant to `target` (Å)."""

    pairs: Int[Array, "2 2"]
    coef: Float[Array, " 2"]
    target: Float[Array, ""]

    def value(self, R: Float[Array, "n 3"]) -> Float[Array, ""]:
        d = jnp.linalg.norm(R[self.pairs[:, 0]] - R[self.pairs[:, 1]], axis=-1)
        return jnp.sum(self.coef * d)


_DRIVE_WEIGHTS = {"transfer": 0.6, "h2": 0.2, "form": 0.2}


def graph_automorphisms(numbers: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Every automorphism of the molecular graph (atoms coloured by element, bonds
    ``adj``) as rows ``p`` of an ``(n_automorphisms, N)`` array: atom ``i`` maps to
    ``p[i]``. RDKit's substructure match of the graph on itself (single bonds: the bond
    orders of a 3D structure are not known); the identity is among them."""
    from rdkit import Chem

    mol = Chem.RWMol()
    for z in numbers:
        atom = Chem.Atom(int(z))
        atom.SetNoImplicit(True)
        mol.AddAtom(atom)
    for i, j in zip(*np.nonzero(np.triu(adj, 1))):
        mol.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    mol = mol.GetMol()
    mol.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(mol)
    return np.array(mol.GetSubstructMatches(mol, uniquify=False, maxMatches=10**7, useChirality=False))


def _drive_key(kind: str, atoms: tuple[int, ...], automorphisms: np.ndarray) -> tuple:
    """The orbit of a drive under the graph's automorphisms (the lexicographically
    smallest image; the two atoms of ``h2`` and ``form`` drives are unordered)."""
    images = automorphisms[:, list(atoms)]
    if kind != "transfer":
        images = np.sort(images, axis=1)
    return (kind, *min(map(tuple, images.tolist())))


def _drive_atoms(what: str) -> tuple[str, tuple[int, ...]] | None:
    """``(kind, atoms)`` of a drive description (``"transfer h:i->k"``, ``"h2 h-g"``,
    ``"form i-j"``); ``None`` for the distorted starts of the first builder."""
    kind, _, atoms = what.partition(" ")
    if kind == "transfer" and ":" in atoms:
        h, rest = atoms.split(":")
        return kind, (int(h), *(int(x) for x in rest.split("->")))
    if kind in ("h2", "form"):
        return kind, tuple(int(x) for x in atoms.split("-"))
    return None


def choose_drive(
    numbers: np.ndarray, R0: np.ndarray, rng: np.random.Generator, tried: Sequence[str] = ()
) -> tuple[Drive, str] | None:
    """A random reaction-like coordinate of the reactant ``R0`` and its description, or
    ``None`` when every drive the molecule has was tried.

    Three kinds, drawn with the weights of ``_DRIVE_WEIGHTS`` among those the molecule
    allows (hydrogen transfers most often: they find the most saddles). Drives equivalent
    under the bond graph's automorphisms (:func:`graph_automorphisms`: the three hydrogens
    of a methyl group, the two ends of a symmetric molecule) count once, and drives
    equivalent to one of `tried` (earlier attempts' descriptions) are not drawn again: an
    equivalent drive only finds the same reaction again, as a duplicate.

    - ``"transfer h:i->k"``: a hydrogen ``h`` moves from its atom ``i`` to one of the three
      nearest heavy atoms ``k`` it is not bonded to, ``xi = r_hk - r_hi`` driven from its
      value to ``1.1 - 0.9 r_hk`` (1,2- to 1,4-shifts, tautomerisations);
    - ``"h2 h-g"``: two hydrogens on neighbouring heavy atoms join, ``xi = r_hg`` driven to
      0.75 Å (1,2-H2 eliminations);
    - ``"form i-j"``: two heavy atoms two or three bonds apart bond, ``xi = r_ij`` driven to
      1.45 Å (ring closures, which open rings on the way back, and 1,2-shifts).
    """
    from jaxrxn.datasets.molecules import BOND_SCALE
    from jaxrxn.reaction import bond_graph

    adj = np.asarray(bond_graph(R0, numbers, scale=BOND_SCALE))
    heavy = np.flatnonzero(numbers > 1)
    d = np.linalg.norm(R0[:, None] - R0[None], axis=-1)
    hops = _hops(adj)
    kinds: dict[str, list] = {"transfer": [], "h2": [], "form": []}
    for h in np.flatnonzero(numbers == 1):
        partners = np.flatnonzero(adj[h])
        if len(partners) != 1:
            continue
        i = int(partners[0])
        targets = [int(k) for k in heavy if k != i and not adj[h, k]]
        for k in sorted(targets, key=lambda k: d[h, k])[:3]:
            kinds["transfer"].append((h, i, k))
        for g in np.flatnonzero(numbers == 1):
            if g > h and np.sum(adj[g]) == 1 and hops[i, int(np.flatnonzero(adj[g])[0])] == 1:
                kinds["h2"].append((h, int(g)))
    for i, j in zip(*np.triu_indices(len(numbers), 1)):
        if numbers[i] > 1 and numbers[j] > 1 and hops[i, j] in (2, 3):
            kinds["form"].append((int(i), int(j)))
    automorphisms = graph_automorphisms(numbers, adj)
    seen = {_drive_key(*t, automorphisms) for t in map(_drive_atoms, tried) if t is not None}
    for kind, drives in kinds.items():
        unique = []
        for atoms in drives:
            key = _drive_key(kind, atoms, automorphisms)
            if key not in seen:
                seen.add(key)
                unique.append(atoms)
        kinds[kind] = unique
    names = [k for k, v in kinds.items() if v]
    if not names:
        return None
    weights = np.array([_DRIVE_WEIGHTS[k] for k in names])
    kind = names[rng.choice(len(names), p=weights / weights.sum())]
    pick = kinds[kind][rng.integers(len(kinds[kind]))]
    if kind == "transfer":
        h, i, k = pick
        pairs, coef, target, what = [[h, k], [h, i]], [1.0, -1.0], 1.1 - 0.9 * d[h, k], f"transfer {h}:{i}->{k}"
    else:
        i, j = pick
        pairs, coef, target, what = [[i, j], [i, j]], [1.0, 0.0], 0.75 if kind == "h2" else 1.45, f"{kind} {i}-{j}"
    # fixed dtypes (no weak types): every drive reuses the scan compiled for this size
    dtype = jnp.result_type(float)
    return Drive(jnp.asarray(pairs, jnp.int32), jnp.asarray(coef, dtype), jnp.asarray(target, dtype)), what


def _hops(adj: np.ndarray) -> np.ndarray:
    """Bond-graph distances (number of bonds; a large number between fragments)."""
    n = len(adj)
    hops = np.where(adj, 1, n + 1)
    np.fill_diagonal(hops, 0)
    for k in range(n):  # Floyd-Warshall: the molecules are small
        hops = np.minimum(hops, hops[:, k : k + 1] + hops[k : k + 1, :])
    return hops


@dataclasses.dataclass(frozen=True)
class _Restrained:
    """``energy_fn`` of the true energy plus ``k/2 (xi(R) - xi_0)^2``; params ``{"inner",
    "drive", "xi", "k"}``. Hashes by its inner function, so restrained potentials of
    molecules of one size share compiled code."""

    inner: object

    def bias(self, R, params):
        return 0.5 * params["k"] * (params["drive"].value(R) - params["xi"]) ** 2

    def __call__(self, R, system, params):
        return self.inner(R, system, params["inner"]) + self.bias(R, params)


@eqx.filter_jit
def driven_scan(potential, R0, drive: Drive, n_points: int, k, fmax, max_steps: int):
    """Relaxations of ``R0`` with ``xi`` restrained (force constant `k`, eV/Å²) at
    `n_points` values from ``xi(R0)`` to ``drive.target``, each from the previous one.

    Returns ``(R (n_points, N, 3), true energies (n_points,), force calls)``. A relaxed
    scan along a driving coordinate (the coordinate-driving start of single-ended TS
    searches); its highest point is the saddle search's guess. Jitted once per atom count:
    the drive, targets and floats are traced.
    """
    from jaxrxn.optimize import LBFGS, minimize

    biased = potential.replace(energy_fn=_Restrained(potential.energy_fn))
    xis = jnp.linspace(drive.value(R0), drive.target, n_points)

    def one(R, xi):
        params = {"inner": potential.params, "drive": drive, "xi": xi, "k": k}
        res = minimize(biased.replace(params=params), R, LBFGS(maxstep=0.1), fmax=fmax, max_steps=max_steps)
        e_true = res.energy - biased.energy_fn.bias(res.R, params)
        return res.R, (res.R, e_true, res.n_force_calls)

    _, (Rs, E, calls) = jax.lax.scan(one, R0, xis)
    return Rs, E, jnp.sum(calls)


def padded_internals(numbers: np.ndarray, R: np.ndarray):
    """Redundant internal coordinates of ``R`` (bonds up to 1.45 times the covalent
    distance, so that a stretched bond or a hydrogen on its way stays a primitive), padded
    to lengths fixed by the atom count (:func:`jaxrxn.saddle.internal.padded_internals`):
    one compilation of the saddle search serves every attempt on every molecule of a size,
    where a new primitive count cost a compilation of ~30-70 s on a loaded 2-core machine,
    against 1-5 s for the search itself."""
    from jaxrxn.saddle import internal

    return internal.padded_internals(internal.redundant_internals(numbers, R, bond_scale=1.45), len(numbers))


def ts_is_highest(energies: np.ndarray, ts_index: int) -> bool:
    """Whether the TS is the highest of a reaction's stored frames. Not so when an IRC branch
    ends on a shoulder the relaxation stops on (forces below ``fmax`` within a fraction of
    a meV of the saddle): such an "elementary step" connects nothing, and the data set's
    invariant (the TS is the path's maximum) would not hold."""
    return int(np.argmax(energies)) == int(ts_index)


def _thin(path: np.ndarray, n: int) -> np.ndarray:
    """Indices of at most `n` points of `path` ``(P, N, 3)``, equally spaced in arc length
    (the last point always kept)."""
    if len(path) <= n:
        return np.arange(len(path))
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm((path[1:] - path[:-1]).reshape(len(path) - 1, -1), axis=1))])
    idx = np.searchsorted(s, np.linspace(0, s[-1], n + 1)[1:] - 1e-12)
    return np.unique(np.minimum(idx, len(path) - 1))


def run_attempt(potential, numbers, R0, E0, known: list[dict], rng, cfg: BuildConfig, tried: Sequence[str] = ()) -> dict:
    """One search from the relaxed reactant ``R0`` (energy `E0`, eV). Returns a ledger record
    with ``status`` (``"reaction"``, ``"saddle_failed"``, ``"reactant"`` (the search fell
    back to the reactant minimum), ``"duplicate"``, ``"wrong_index"``,
    ``"irc_failed"``, ``"same_ends"``, ``"no_barrier"``, ``"exhausted"``, ``"ts_not_highest"``: a stored
    frame lies above the TS, :func:`ts_is_highest`), ``n_force_calls`` and, for a reaction, its arrays
    under ``"reaction"``. `known`: TSs found before for this molecule (dicts with the
    absolute ``ts_energy`` in eV, ``ts`` geometry and the two ``ends``' graph hashes);
    `tried`: the ``start`` of this molecule's earlier attempts (:func:`choose_drive`). When
    no untried drive is left the record is ``{"status": "exhausted"}`` (no search)."""
    from jaxrxn.irc import irc
    from jaxrxn.reaction import IRC_OPTIONS
    from jaxrxn.saddle import RSPRFO
    from jaxrxn.vibrations import vibrations

    chosen = choose_drive(numbers, R0, rng, tried)
    if chosen is None:
        return {"status": "exhausted", "n_force_calls": 0}
    drive, what = chosen
    R_noisy = jnp.asarray(R0 + cfg.noise * rng.normal(size=R0.shape))
    Rs, E, calls = driven_scan(potential, R_noisy, drive, cfg.scan_points, cfg.restraint, 0.05, cfg.scan_steps)
    Rs, E, calls = np.asarray(Rs), np.asarray(E), int(calls)
    rec = {"start": what, "n_force_calls": calls}
    top = int(np.argmax(E))
    if top in (0, len(E) - 1) or not np.all(np.isfinite(E)):  # downhill, or still climbing at the end
        return rec | {"status": "no_barrier"}
    guess, mode0 = Rs[top], Rs[top + 1] - Rs[top - 1]
    solver = RSPRFO.molecular(
        numbers, guess, coordinates=padded_internals(numbers, guess), initial_hessian=cfg.initial_hessian,
        hessian_update=cfg.hessian_update, step_norm=cfg.step_norm, trust_policy=cfg.trust_policy,
    )  # fmt: skip
    res = _saddle(potential, jnp.asarray(guess), solver, cfg.fmax, cfg.saddle_steps, jnp.asarray(mode0))
    rec["n_force_calls"] = calls = calls + int(res.n_force_calls)
    R_ts, E_ts = np.asarray(res.R), float(res.energy)
    if not bool(res.converged) or not np.all(np.isfinite(R_ts)):
        from jaxrxn._results import RESULTS

        return rec | {"status": "saddle_failed", "result": RESULTS[res.result]}
    rec["barrier"] = E_ts - E0
    if rmsd_numpy(R_ts, R0) < 0.05:  # climbed back down to the reactant: no harmonic analysis
        return rec | {"status": "reactant"}
    for k in known:
        if abs(k["ts_energy"] - E_ts) < 1e-3 and rmsd_numpy(R_ts, k["ts"]) < 0.1:
            return rec | {"status": "duplicate"}
    vib = vibrations(potential, R_ts)
    rec["n_force_calls"] = calls = calls + vib.n_force_calls
    n_imag = int(np.sum(vib.frequencies < -IMAGINARY_CM1))
    rec["n_imaginary"] = n_imag
    if n_imag != 1:
        return rec | {"status": "wrong_index"}
    mode, hessian = jnp.asarray(vib.modes[0]), jnp.asarray(vib.hessian)
    out = irc(potential, jnp.asarray(R_ts), fmax=cfg.fmax, mode=mode, hessian=hessian, **IRC_OPTIONS)
    rec["n_force_calls"] = calls = calls + int(out.n_force_calls)
    if not bool(out.converged):
        from jaxrxn._results import RESULTS

        status = "same_ends" if out.result == RESULTS.not_connected else "irc_failed"
        return rec | {"status": status}
    ends = [np.asarray(out.reverse.R_min), np.asarray(out.forward.R_min)]
    branches = [np.asarray(out.reverse.path[: int(out.reverse.n_points)]), np.asarray(out.forward.path[: int(out.forward.n_points)])]
    hashes = [graph_hash(numbers, R) for R in ends]
    e_ends = [float(out.reverse.energy_min), float(out.forward.energy_min)]
    if hashes[0] == hashes[1] and rmsd_numpy(ends[0], ends[1]) < 0.05:
        return rec | {"status": "same_ends"}
    h0 = graph_hash(numbers, R0)
    # the reactant end first: the one with the reactant's bond graph, else the lower one
    first = 0 if hashes[0] == h0 else 1 if hashes[1] == h0 else int(np.argmin(e_ends))
    if first == 1:
        ends, branches, hashes = ends[::-1], branches[::-1], hashes[::-1]
    for k in known:
        if abs(k["ts_energy"] - E_ts) < 1e-3 and sorted(k["ends"]) == sorted(hashes):
            return rec | {"status": "duplicate"}
    # a descent that reached its minimum ends on it: that point is the end frame already
    branches = [b[:-1] if len(b) > 1 and np.abs(b[-1] - end).max() < 1e-3 else b for b, end in zip(branches, ends)]
    back = branches[0][_thin(branches[0], cfg.path_points)][::-1]
    fwd = branches[1][_thin(branches[1], cfg.path_points)]
    frames = np.concatenate([ends[0][None], back, R_ts[None], fwd, ends[1][None]])
    E, F = _energies_forces(potential, frames)
    rec["n_force_calls"] = calls + len(frames)
    if not ts_is_highest(E, len(back) + 1):
        return rec | {"status": "ts_not_highest"}
    rtype = bond_changes(numbers, ends[0], ends[1])
    rec["status"] = "reaction"
    rec["reaction"] = {
        "positions": frames, "energies": np.asarray(E), "forces": np.asarray(F),
        "ts_index": np.array(len(back) + 1), "frequencies": vib.frequencies[:2],
        "kind": "reactive" if rtype else "conformational", "reaction_type": rtype,
        "connects_reactant": bool(h0 in hashes), "ends": hashes,
    }
    return rec


# ---------------------------------------------------------------------------------------
# checkpointed builder
# ---------------------------------------------------------------------------------------
def _save_npz(path: str, **arrays) -> None:
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _ledger(work: str) -> list[dict]:
    path = os.path.join(work, "ledger.jsonl")
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill
                pass
    return out


def build_dataset(
    output: str,
    smiles_file: str | None = None,
    cfg: BuildConfig = BuildConfig(),
    *,
    time_limit: float | None = None,
    molecules: int | None = None,
    max_memory_gb: float | None = None,
    atoms: tuple[int, int] | None = None,
    log=print,
) -> dict:
    """Build (or resume building) the reaction data set into `output` (HDF5).

    `smiles_file`: reactant list (default: the shipped ``jaxrxn/data/reactants.smi``);
    `molecules`: use only the first that many; `atoms`: ``(min, max)``, only the molecules
    with that many atoms (hydrogens included; the splits still count every molecule of the
    list; builders on one work directory with disjoint ranges compile disjoint programs);
    `time_limit`: seconds after which no new attempt starts; `max_memory_gb`: when the
    process's resident memory exceeds this after an attempt, JAX's compiled programs are
    dropped (``jax.clear_caches``; each atom count compiles its programs again when next
    met); they are also dropped when the process's memory maps near the kernel's limit
    (:data:`MAP_FRACTION`). `log(text)` receives one line per attempt. Returns a summary
    dict (attempts by outcome, reactions, gradient calls, seconds). Resumable: see the
    module docstring.
    """
    work = output + ".work"
    os.makedirs(work, exist_ok=True)
    mols = read_smiles(smiles_file)[:molecules]
    selected = set(range(len(mols)))
    if atoms is not None:
        selected = {m for m, (smiles, _) in enumerate(mols) if atoms[0] <= atom_count(smiles) <= atoms[1]}
    done = {(r["molecule"], r["attempt"]) for r in _ledger(work)}
    _release_stale_claims(work, done)
    config = dataclasses.asdict(cfg) | {"smiles": [s for s, _ in mols], "names": [n for _, n in mols]}
    tmp = os.path.join(work, f"config.json.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(config, f)
    os.replace(tmp, os.path.join(work, "config.json"))
    t_start = time.monotonic()
    ledger = open(os.path.join(work, "ledger.jsonl"), "a")
    try:
        for attempt in range(cfg.attempts):
            for m, (smiles, name) in enumerate(mols):
                if m not in selected or (m, attempt) in done:
                    continue
                if time_limit is not None and time.monotonic() - t_start > time_limit:
                    log(f"time limit reached after {time.monotonic() - t_start:.0f} s")
                    return assemble(output)
                if not _claim(work, m, attempt):
                    continue
                # the starts tried so far, also by other processes on this work directory
                tried = [r.get("start", "") for r in _ledger(work) if r["molecule"] == m]
                t0 = time.monotonic()
                try:
                    numbers, R0, E0 = _reactant(work, m, smiles, cfg)
                except ValueError as err:  # embedding or relaxation failed
                    rec = {"status": "reactant_failed", "error": str(err), "n_force_calls": 0}
                else:
                    known = _known(work, m)
                    rng = np.random.default_rng([cfg.seed, m, attempt])
                    rec = run_attempt(xtb_potential(numbers), numbers, R0, E0, known, rng, cfg, tried)
                    if rec["status"] == "reaction":
                        r = rec.pop("reaction")
                        _save_npz(
                            os.path.join(work, f"rxn_{m:04d}_{attempt:04d}.npz"), numbers=numbers,
                            ends=np.array(r.pop("ends")), **{k: np.asarray(v) for k, v in r.items()},
                        )  # fmt: skip
                        rec |= {"kind": r["kind"], "reaction_type": r["reaction_type"]}
                rec |= {"molecule": m, "smiles": smiles, "attempt": attempt, "seconds": round(time.monotonic() - t0, 2)}
                ledger.write(json.dumps(rec) + "\n")
                ledger.flush()
                why = _memory_pressure(max_memory_gb)
                if why:
                    log(f"{why}: compiled programs dropped")
                    jax.clear_caches()
                log(
                    f"[{time.strftime('%H:%M:%S')}] mol {m} {name} attempt {attempt}: {rec['status']} "
                    f"({rec['n_force_calls']} gradients, {rec['seconds']} s)"
                )
            assemble(output)
    finally:
        ledger.close()
    return assemble(output)


#: Fraction of the kernel's per-process memory-map limit past which the builder drops
#: compiled programs. XLA's CPU code lives in many small maps (~17,000 after six atom
#: counts); past ``vm.max_map_count`` (65,530 by default on Linux) every compilation fails
#: with "LLVM compilation error: Cannot allocate memory", however much memory is free.
MAP_FRACTION = 0.8


def _memory_pressure(max_memory_gb: float | None) -> str | None:
    """Why compiled programs should be dropped now (resident memory past `max_memory_gb`,
    or memory maps past :data:`MAP_FRACTION` of ``vm.max_map_count``), or ``None``.
    Linux ``/proc``; elsewhere never."""
    try:
        with open("/proc/self/statm") as f:
            resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9
        with open("/proc/sys/vm/max_map_count") as f:
            map_limit = int(f.read())
        with open("/proc/self/maps") as f:
            maps = sum(1 for _ in f)
    except (OSError, ValueError):
        return None
    if max_memory_gb is not None and resident > max_memory_gb:
        return f"resident memory {resident:.1f} GB > {max_memory_gb} GB"
    if maps > MAP_FRACTION * map_limit:
        return f"{maps} memory maps, near the limit of {map_limit} (vm.max_map_count)"
    return None


def _claim(work: str, m: int, attempt: int) -> bool:
    """Take attempt `attempt` of molecule `m` for this process: a file naming its pid,
    created atomically (a hard link fails if the name exists). False if another process
    took it. Claims stay after the attempt (its ledger line is written then)."""
    path = os.path.join(work, f"claim_{m:04d}_{attempt:04d}")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.remove(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _release_stale_claims(work: str, done: set) -> None:
    """Remove the claims of unfinished attempts (not in the ledger) whose process is gone,
    or is this one (an earlier call that stopped): they are run again."""
    for name in os.listdir(work):
        if not name.startswith("claim_") or name.endswith(".tmp"):
            continue
        m, attempt = int(name[6:10]), int(name[11:15])
        try:
            with open(os.path.join(work, name)) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            pid = None
        if (m, attempt) not in done and (pid is None or pid == os.getpid() or not _alive(pid)):
            os.remove(os.path.join(work, name))


def _reactant(work: str, m: int, smiles: str, cfg: BuildConfig):
    path = os.path.join(work, f"mol_{m:04d}.npz")
    if os.path.exists(path):
        d = np.load(path)
        return d["numbers"], d["positions"], float(d["energy"])
    numbers, R = embed(smiles, seed=cfg.seed)
    res = _relax(xtb_potential(numbers), jnp.asarray(R), cfg.fmax)
    if not bool(res.converged):
        raise ValueError(f"GFN2-xTB relaxation of {smiles} did not converge")
    R0, E0 = np.asarray(res.R), float(res.energy)
    _save_npz(path, numbers=numbers, positions=R0, energy=E0, forces=np.asarray(res.forces), graph=graph_hash(numbers, R0))
    return numbers, R0, E0


def _known(work: str, m: int) -> list[dict]:
    out = []
    for name in sorted(os.listdir(work)):
        if name.startswith(f"rxn_{m:04d}_") and name.endswith(".npz") and ".tmp" not in name:
            d = np.load(os.path.join(work, name))
            t = int(d["ts_index"])
            out.append({"ts_energy": float(d["energies"][t]), "ts": d["positions"][t], "ends": [str(h) for h in d["ends"]]})
    return out


# ---------------------------------------------------------------------------------------
# the HDF5 file from the work directory
# ---------------------------------------------------------------------------------------
SPLITS = ("train", "val", "test")

#: Start methods of an attempt, as the ledger records them (:func:`start_method`).
START_METHODS = ("driven_scan", "distortion")


def start_method(record: dict) -> str:
    """How a ledger record's search started: ``"driven_scan"`` (a relaxed scan along a
    driving coordinate, :func:`driven_scan`; starts ``"transfer h:i->k"``, ``"h2 h-g"``,
    ``"form i-j"``) or ``"distortion"`` (the builder before the driven scans: a random bond
    stretched by 30-70 % or a hydrogen carried 30-60 % of the way towards a heavy atom, plus
    0.05 Å noise, RS-P-RFO from there; starts ``"stretch i-j"``, ``"transfer h->k"``). A
    work directory may hold both: the builder resumes with its current start method."""
    return "distortion" if _drive_atoms(record["start"]) is None else "driven_scan"


def attempt_summary(ledger: list[dict]) -> dict:
    """Per start method (:data:`START_METHODS`), and ``"no_search"`` for the attempts that
    made none (``exhausted``: no untried driving coordinate left; ``reactant_failed``):
    ``attempts`` and ``outcomes`` (status -> attempts) of the ledger records. The
    ``attempts`` of all keys add up to the ledger's length."""
    out = {m: {"attempts": 0, "outcomes": {}} for m in (*START_METHODS, "no_search")}
    for rec in ledger:
        s = out[start_method(rec) if "start" in rec else "no_search"]
        s["attempts"] += 1
        s["outcomes"][rec["status"]] = s["outcomes"].get(rec["status"], 0) + 1
    return out


def molecule_splits(n_molecules: int, cfg: BuildConfig) -> np.ndarray:
    """Split name of each molecule (``"train"``, ``"val"``, ``"test"``): a permutation
    seeded by ``cfg.seed``; ``round(fraction * n)`` molecules each for test and val."""
    order = np.random.default_rng([cfg.seed, 20]).permutation(n_molecules)
    n_test, n_val = round(cfg.test_fraction * n_molecules), round(cfg.val_fraction * n_molecules)
    split = np.full(n_molecules, "train", dtype=object)
    split[order[:n_test]] = "test"
    split[order[n_test : n_test + n_val]] = "val"
    return split


def type_splits(types: list[str], cfg: BuildConfig) -> np.ndarray:
    """Second split, by reaction type (the bonds broken and formed): whole types go to
    ``"test"`` in a seeded order until at least ``cfg.type_test_fraction`` of the reactive
    reactions are there; conformational steps (type ``""``) always stay in ``"train"``."""
    kinds = sorted({t for t in types if t})
    order = [kinds[i] for i in np.random.default_rng([cfg.seed, 21]).permutation(len(kinds))]
    n_reactive = sum(1 for t in types if t)
    test, count = set(), 0
    for t in order:
        if count >= cfg.type_test_fraction * n_reactive:
            break
        test.add(t)
        count += sum(1 for u in types if u == t)
    return np.array(["test" if t in test else "train" for t in types], dtype=object)


def assemble(output: str, work: str | None = None) -> dict:
    """Write ``output`` (Transition1x layout, level ``"GFN2-xTB"``) from the work directory
    `work` (default ``output + ".work"``; another one snapshots a running build, whose
    checkpoints are written atomically).

    Layout: every reaction under ``data/<formula>/<rxn>`` (``rxn`` = ``rxnMMMM_AAAA``,
    molecule and attempt), with the path datasets of :func:`jaxrxn.generative.data.write_transition1x`
    plus ``smiles``, ``molecule``, ``attempt``, ``kind``, ``reaction_type``,
    ``connects_reactant``, ``ts_index``, ``frequencies`` (the two lowest, cm^-1), ``start``
    (the ledger's description of the start) and ``start_method`` (:func:`start_method`); hard links
    of the same groups under ``train``/``val``/``test`` (split by reactant molecule) and
    ``type_train``/``type_test`` (split by reaction type); ``molecules/`` holds the reactant
    list (``smiles``, ``name``, ``split``) and the relaxed reactants found so far
    (``index``, ``positions``, ``energy``, ``forces``, ``atomic_numbers`` concatenated, with
    ``n_atoms``); the attribute ``attempts`` holds :func:`attempt_summary` of the ledger
    (JSON). A stored reaction whose TS is not its highest frame (:func:`ts_is_highest`;
    stored by a builder that did not check) is left out and counted as ``"ts_not_highest"``.
    Written to a temporary file and moved into place. Returns a summary dict.
    """
    import h5py

    from jaxrxn.generative.data import ReactionPath, write_transition1x

    work = output + ".work" if work is None else work
    with open(os.path.join(work, "config.json")) as f:
        config = json.load(f)
    smiles, names = config.pop("smiles"), config.pop("names")
    # a work directory started by an older builder records settings it no longer has
    fields = {f.name for f in dataclasses.fields(BuildConfig)}
    cfg = BuildConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in fields})
    mol_split = molecule_splits(len(smiles), cfg)
    ledger = _ledger(work)
    starts = {(r["molecule"], r["attempt"]): r["start"] for r in ledger if "start" in r}
    reactions, rejected = [], set()
    for name in sorted(os.listdir(work)):
        if not (name.startswith("rxn_") and name.endswith(".npz")) or ".tmp" in name:
            continue
        d = np.load(os.path.join(work, name))
        m, a = (int(x) for x in name[4:-4].split("_"))
        if not ts_is_highest(d["energies"], d["ts_index"]):  # stored before the builder checked
            rejected.add((m, a))
            continue
        extras = {
            "smiles": smiles[m], "molecule": np.array(m), "attempt": np.array(a), "kind": str(d["kind"]),
            "reaction_type": str(d["reaction_type"]), "connects_reactant": np.array(bool(d["connects_reactant"])),
            "ts_index": d["ts_index"], "frequencies": d["frequencies"],
        }  # fmt: skip
        if (m, a) in starts:  # a snapshot may see a reaction before its ledger line
            extras |= {"start": starts[m, a], "start_method": start_method({"start": starts[m, a]})}
        # float32 positions and forces (~1e-7 relative) halve the file; energies stay float64
        P, F = d["positions"].astype(np.float32), d["forces"].astype(np.float32)
        t = int(d["ts_index"])
        reactions.append(ReactionPath(
            formula(d["numbers"]), f"rxn{m:04d}_{a:04d}", d["numbers"], P, d["energies"], F,
            P[0], P[-1], P[t], extras,
        ))  # fmt: skip
    ledger = [r | {"status": "ts_not_highest"} if (r["molecule"], r["attempt"]) in rejected else r for r in ledger]
    tmp = f"{output}.{os.getpid()}.tmp"  # builders sharing a work directory assemble side by side
    write_transition1x(tmp, {"data": reactions}, level=LEVEL, compression="gzip")
    rtypes = type_splits([r.extras["reaction_type"] for r in reactions], cfg)
    with h5py.File(tmp, "a") as f:
        for r, tsplit in zip(reactions, rtypes):
            src = f[f"data/{r.formula}/{r.rxn}"]
            f.require_group(f"{mol_split[int(r.extras['molecule'])]}/{r.formula}")[r.rxn] = src
            f.require_group(f"type_{tsplit}/{r.formula}")[r.rxn] = src
        for s in (*SPLITS, "type_train", "type_test"):
            f.require_group(s)
        g = f.create_group("molecules")
        g["smiles"], g["name"], g["split"] = smiles, names, [str(s) for s in mol_split]
        mols = [(int(n[4:8]), np.load(os.path.join(work, n))) for n in sorted(os.listdir(work)) if n.startswith("mol_") and ".tmp" not in n]
        g["index"] = np.array([m for m, _ in mols], int)
        g["n_atoms"] = np.array([len(d["numbers"]) for _, d in mols], int)
        g["atomic_numbers"] = np.concatenate([d["numbers"] for _, d in mols]) if mols else np.zeros(0, int)
        g["positions"] = np.concatenate([d["positions"] for _, d in mols]) if mols else np.zeros((0, 3))
        g[f"{LEVEL}.energy"] = np.array([float(d["energy"]) for _, d in mols])
        g[f"{LEVEL}.forces"] = np.concatenate([d["forces"] for _, d in mols]) if mols else np.zeros((0, 3))
        f.attrs["level"] = LEVEL
        f.attrs["config"] = json.dumps(dataclasses.asdict(cfg))
        f.attrs["builder"] = "jaxrxn.datasets.build_dataset"
        f.attrs["attempts"] = json.dumps(attempt_summary(ledger))
    os.replace(tmp, output)
    status: dict[str, int] = {}
    for r in ledger:
        status[r["status"]] = status.get(r["status"], 0) + 1
    return {
        "reactions": len(reactions), "molecules_with_reactions": len({int(r.extras["molecule"]) for r in reactions}),
        "attempts": len(ledger), "outcomes": status, "n_force_calls": sum(r["n_force_calls"] for r in ledger),
        "seconds": round(sum(r["seconds"] for r in ledger), 1),
    }  # fmt: skip
