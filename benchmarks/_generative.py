"""Helpers shared by the generative-model benchmarks (flow_generator, flow_lj7,
diffusion_paths, ts_generator, and the *_xtb ones): a cached, seed-split reaction data set,
the training options of the models trained on the shipped GFN2-xTB data set, a one-line
summary of a distribution, the unconditioned flow's samples and exit coverage, CI-NEB
with GFN2-xTB from a generated or interpolated band, and the per-reaction evaluation loop
that rewrites its results file after every reaction and resumes from it."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrxn._jit import clear_caches_near_map_limit
from jaxrxn.generative.data import ReactionPath, read_transition1x, split_seeds, write_transition1x
from jaxrxn.generative.flow import generate


def add_training_arguments(ap: argparse.ArgumentParser, steps: int) -> None:
    """The options every generator trained on the shipped GFN2-xTB data set takes: its data
    file, steps, minibatch, Adam learning rate and the PaiNN network's size."""
    from jaxrxn.datasets import shipped_dataset

    ap.add_argument("--data", default=shipped_dataset())
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--layers", type=int, default=3)


def file_sha256(path: str) -> str:
    """The SHA-256 of a file's bytes (hex), how results files name the data and models they used."""
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def data_record(path: str, n_train: int, n_held_out: int, **extra) -> dict:
    """What a results file says of the data set it used: file name, SHA-256, the numbers of
    training and held-out reactions, and `extra`."""
    return {"file": pathlib.Path(path).name, "sha256": file_sha256(path), "train_reactions": n_train,
            "held_out_reactions": n_held_out, **extra}  # fmt: skip


def cached_reactions(
    build: Callable[[Sequence[int]], list[ReactionPath]], n_train: int, n_test: int, cache: str
) -> tuple[list[ReactionPath], list[ReactionPath]]:
    """Train and test reactions from disjoint seeds (:func:`split_seeds`), built once by
    `build(seeds)` and kept in `cache` (Transition1x layout), read back on later runs."""
    if os.path.exists(cache):
        print(f"data from {cache}")
        return read_transition1x(cache, "train", "jaxrxn"), read_transition1x(cache, "test", "jaxrxn")
    tr, te = split_seeds(n_train, n_test)
    t0 = time.perf_counter()
    rtr, rte = build(tr), build(te)
    print(f"built {len(rtr)} train / {len(rte)} test reactions from {n_train} / {n_test} seeds "
          f"in {time.perf_counter() - t0:.1f} s ({build.__name__})")  # fmt: skip
    os.makedirs(os.path.dirname(cache) or ".", exist_ok=True)
    write_transition1x(cache, {"train": rtr, "test": rte})
    return rtr, rte


def stats(x, fmt: str = "8.4f") -> str:
    """``median ... mean ... p90 ...`` of `x`, or ``(none)`` for an empty sample."""
    x = np.asarray(x, float)
    if x.size == 0:
        return "(none)"
    return f"median {np.median(x):{fmt}}  mean {np.mean(x):{fmt}}  p90 {np.percentile(x, 90):{fmt}}"


def distinct(structures, distance: Callable, tol: float = 0.05) -> list:
    """The first of every group of `structures` closer than `tol` by `distance(a, b)`."""
    kept: list = []
    for r in structures:
        if all(distance(r, u) > tol for u in kept):
            kept.append(r)
    return kept


def unconditioned_samples(model, params, test, K: int = 32, kick: float = 0.1, seed: int = 0, n_steps: int = 40, eta: float = 0.5):
    """The flow's unconditioned mode on the test set: for the first reaction of every group
    (one IS each), `K` products generated from the IS alone (condition off, start kicked by
    `kick` Å, seeded). Returns ``(groups, unique_groups, first, x_is, fs)``: the group of every
    test reaction, the G distinct groups, the index of each group's first reaction, its IS
    ``(G, N, dim)`` and the generated last frames ``(G, K, N, dim)``."""
    groups = np.asarray(test.group)
    ug = np.unique(groups)
    first = np.array([np.flatnonzero(groups == g)[0] for g in ug])
    x_is, ctx = test.paths[first, 0], test.context[first]
    zero = jnp.zeros_like(test.cond[0])
    keys = jax.random.split(jax.random.PRNGKey(seed), len(ug) * K).reshape(len(ug), K, 2)
    one = lambda a, c, k: generate(model, params, a, c, zero, 0.0, k, n_steps=n_steps, kick=kick, eta=eta)[0][-1]  # noqa: E731
    fs = jax.jit(jax.vmap(jax.vmap(one, (None, None, 0)), (0, 0, 0)))(x_is, ctx, keys)
    return groups, ug, first, x_is, fs


def report_coverage(R, valid, exits_per_is, distance: Callable, tol: float = 0.05) -> None:
    """Print how many reference exits the generated, relaxed products ``R`` ``(G, K, N,
    dim)`` (``valid`` ``(G, K)``) found per IS, and the distinct valid products per IS.
    `distance(batch, one)` broadcasts over the leading axis of its first argument."""
    found = sum(bool(np.any(valid[g] & (distance(R[g], e[None]) < tol))) for g, exits in enumerate(exits_per_is) for e in exits)
    n_ref = sum(len(exits) for exits in exits_per_is)
    counts = [len(distinct(R[g][valid[g]], distance, tol)) for g in range(len(exits_per_is))]
    print(f"coverage (reference exits found): {found}/{n_ref} = {found / max(n_ref, 1):.1%}; "
          f"distinct valid FS per IS: mean {np.mean(counts):.2f}")  # fmt: skip


#: CI-NEB force tolerance (eV/Å) of :func:`xtb_ci_neb`: that of ``jaxrxn reaction``'s NEB stage
NEB_FMAX = 0.05


def xtb_ci_neb(numbers, path, x_ts, max_steps: int) -> tuple[dict, np.ndarray | None]:
    """CI-NEB with GFN2-xTB (tblite) from the band `path` ``(M, N, 3)`` Å with the reaction
    pipeline's NEB settings (:func:`jaxrxn.reaction.pipeline_neb`, fmax :data:`NEB_FMAX`) for
    at most `max_steps` steps. Returns a results row (converged, why it stopped, the largest
    NEB force in eV/Å, force calls, seconds, the climbing image's Kabsch RMSD to `x_ts`
    ``(N, 3)``, the data set's TS, in Å and the band's barrier in eV) and the climbing image
    ``(N, 3)``. A band NEB refuses (overlapping atoms) is a failure of the start: not
    converged, 0 force calls, the reason under ``refused``, no climbing image."""
    from jaxrxn.commands.saddle import result_message
    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.path import neb
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import pipeline_neb

    pot = xtb_potential(np.asarray(numbers))
    try:
        t = time.perf_counter()
        res = neb(pot, jnp.asarray(path), pipeline_neb(remove_rigid=True), fmax=NEB_FMAX, max_steps=max_steps)
        s = time.perf_counter() - t
    except ValueError as err:
        return {"converged": False, "force_calls": 0, "refused": str(err)}, None
    finally:
        pot.energy_fn.close()
    ci = np.asarray(res.path)[int(res.ts_index)]
    row = {"converged": bool(res.converged), "result": result_message(res.result), "max_force": float(res.max_force),
           "force_calls": int(res.n_force_calls), "ci_rmsd_to_ts": rmsd_numpy(ci, x_ts), "barrier_ev": float(res.barrier),
           "seconds": s}  # fmt: skip
    return row, ci


def add_part_arguments(ap: argparse.ArgumentParser) -> None:
    """``--part I/N`` and ``--merge FILE ...``: one evaluation split over N processes, each
    with its own ``--out``, then joined by a run with ``--merge`` the parts' files (it
    resumes like ``--resume``, evaluates what no part did and writes the summary of all)."""
    ap.add_argument("--part", default="0/1", metavar="I/N",
                    help="evaluate every N-th of the chosen reactions from the I-th (0-based), to split a run over processes")
    ap.add_argument("--merge", nargs="+", default=[], metavar="FILE",
                    help="--resume, also keeping the reactions of these results files (the parts' --out; same checks)")  # fmt: skip


def part_of(reactions: Sequence, part: str) -> list:
    """Every N-th of `reactions` from the I-th, ``part`` = ``"I/N"`` (``--part``); a
    ``SystemExit`` for anything else."""
    try:
        i, n = (int(v) for v in part.split("/"))
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise SystemExit(f"--part {part}: expected I/N with 0 <= I < N")
    return list(reactions)[i::n]


def resumed_rows(out: str, merge: Sequence[str] = (), order: Sequence[str] | None = None, **identity) -> list[dict]:
    """The per-reaction rows (``"reactions"``) of an earlier run's results file `out`, and of
    every file in `merge` (``--merge``: the parts of a run split by ``--part``), for
    ``--resume``: none from `out` if it does not exist; a ``SystemExit`` for a `merge` file
    that does not exist, and naming the keys that differ unless each file's top-level
    entries equal every `identity` value (the model, data set and evaluation settings, as
    each benchmark records them; a key the file lacks reads as ``None``), so rows of
    different runs are never mixed. One row per reaction, in the order of the reaction
    names `order` when given: the first file's, with any key it lacks from the later files
    (parts that added a column such as ``--peer`` to their own share of the rows join)."""
    rows: dict[str, dict] = {}
    for name in (out, *merge):
        path = pathlib.Path(name)
        if not path.exists():
            if name == out:
                continue
            raise SystemExit(f"--merge: {name} does not exist")
        old = json.loads(path.read_text())
        differ = [k for k, v in identity.items() if old.get(k) != v]
        if differ:
            raise SystemExit(f"--resume: {name} differs from this run in {', '.join(differ)}; use another --out")
        print(f"resumed: {len(old['reactions'])} reactions from {name}", flush=True)
        for row in old["reactions"]:
            kept = rows.setdefault(row["rxn"], dict(row))
            for key, value in row.items():  # a column one part added to its rows (e.g. --peer) joins the others'
                kept.setdefault(key, value)
    if order is None:
        return list(rows.values())
    rank = {rxn: i for i, rxn in enumerate(order)}
    return sorted(rows.values(), key=lambda row: rank.get(row["rxn"], len(rank)))


def rows_to_resume(a: argparse.Namespace, order: Sequence[str], **identity) -> list[dict]:
    """:func:`resumed_rows` of ``a.out`` and ``a.merge`` when the command line asked for
    ``--resume`` or ``--merge``, else none (a fresh run overwrites ``a.out``)."""
    return resumed_rows(a.out, a.merge, order, **identity) if a.resume or a.merge else []


def evaluated_by(script: str, out: str, rows: list[dict], merge: Sequence[str] = ()) -> str:
    """The results file's ``evaluated_by``: this command line (``python benchmarks/SCRIPT
    ...``), after the commands recorded in `out` when its `rows` were resumed and in each
    `merge` file (``--merge``: the parts' own command lines), joined by ``" ; then "``,
    oldest first, each once, so a resumed or merged file names every command that wrote it."""
    this_run = " ".join(["python", f"benchmarks/{script}", *sys.argv[1:]])
    sources = [pathlib.Path(out)] if rows else []
    sources += [pathlib.Path(m) for m in merge]
    commands: list[str] = []
    for path in sources:
        if path.exists():
            commands += [c for c in json.loads(path.read_text())["evaluated_by"].split(" ; then ") if c not in commands]
    return " ; then ".join(commands if this_run in commands else [*commands, this_run])


def count_verdicts(rows: list[dict], names: Sequence[str]) -> dict:
    """``{"reactions": len(rows), name: rows whose "verdict" is name, ...}``; the force
    calls of all rows as ``n_force_calls_total``."""
    counts = {name: sum(r["verdict"] == name for r in rows) for name in names}
    return {"reactions": len(rows), **counts, "n_force_calls_total": int(sum(r["n_force_calls"] for r in rows))}


def evaluate_each(reactions, rows: list[dict], evaluate: Callable, write: Callable[[list[dict]], None]) -> list[dict]:
    """Append ``evaluate(r)`` to `rows` for every reaction of `reactions` whose name
    (``r.rxn``) is not already there, calling ``write(rows)`` after each (long runs keep
    what they did) and once at the end (a run that only joins ``--merge`` files writes
    too); returns `rows`."""
    done = {row["rxn"] for row in rows}
    for r in reactions:
        if r.rxn not in done:
            rows.append(evaluate(r))
            write(rows)
            clear_caches_near_map_limit()  # each new molecule size compiles the solvers again
    write(rows)
    return rows
