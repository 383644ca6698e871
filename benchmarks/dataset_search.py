"""Yield and cost of the data-set builder's attempts (GFN2-xTB).

Runs :func:`jaxrxn.datasets.builder.run_attempt` round-robin over a few molecules of the
shipped reactant list, exactly as the builder does (same seeds ``(seed, m, a)``, shared
host potential per atom count), and reports per attempt: outcome, gradient calls, wall
seconds and the seconds XLA spent compiling inside it (``jax.monitoring``). The summary
gives reactions per attempt and seconds per attempt with and without compilation.

    OMP_NUM_THREADS=1 python benchmarks/dataset_search.py --molecules 36,37,38 --attempts 6

Drives equivalent under the molecule's graph symmetry, or equivalent to one tried before
on the molecule, are not drawn (:func:`jaxrxn.datasets.builder.choose_drive`);
``--all-drives`` measures the builder without that (every drive, repeats allowed: the
automorphisms reduced to the identity and no record of earlier drives).

Measured (acetaldehyde, propanal, acetone, 6 attempts each, load ~24 on 2 cores): with the
symmetry-aware draw 6 reactions in 18 attempts, 1 duplicate, 1 attempt ``exhausted``
(acetone has 5 classes of drives), 8,017 gradients; the builder of a49d584 (every drive,
repeats allowed; ``results/dataset_search_a49d584.json``) 6 reactions, 4 duplicates,
8,267 gradients. The duplicates went but the unique reactions did not grow on this small
sample (the attempts they freed ended as ``same_ends`` or ``no_barrier``).

Writes ``benchmarks/results/dataset_search.json`` (``--out``). Before the driven scans
(the builder of 5dd41c6: distorted starts, primitive lists padded to powers of two,
default IRC settings) the same three molecules (acetaldehyde, propanal, acetone), two
attempts each, gave 1 reaction in 6 attempts, 7.8-79 s per attempt of which 4-73 s was
compilation (a new primitive count nearly every attempt), at load ~16 on 2 cores.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from jax import monitoring  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
COMPILE_EVENTS = ("backend_compile_duration", "jaxpr_trace_duration", "jaxpr_to_mlir_module_duration")


def main():
    from jaxrxn.datasets.builder import BuildConfig, _reactant, run_attempt
    from jaxrxn.datasets.molecules import read_smiles
    from jaxrxn.potentials.qm import xtb_potential

    p = argparse.ArgumentParser()
    p.add_argument("--molecules", default="36,37,38", help="indices into the shipped reactant list")
    p.add_argument("--attempts", type=int, default=6)
    p.add_argument("--work", default="/tmp/dataset_search_work", help="directory for the relaxed reactants")
    p.add_argument("--out", default=str(HERE / "results" / "dataset_search.json"))
    p.add_argument("--all-drives", action="store_true", help="draw symmetry-equivalent and repeated drives too")
    a = p.parse_args()
    if a.all_drives:
        from jaxrxn.datasets import builder

        builder.graph_automorphisms = lambda numbers, adj: np.arange(len(numbers))[None]
    compile_s = collections.defaultdict(float)
    monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: compile_s.__setitem__("now", compile_s["now"] + secs) if event.split("/")[-1] in COMPILE_EVENTS else None
    )
    pathlib.Path(a.work).mkdir(parents=True, exist_ok=True)
    cfg, mols = BuildConfig(), read_smiles()
    rows, known, tried = [], collections.defaultdict(list), collections.defaultdict(list)
    for attempt in range(a.attempts):
        for m in (int(x) for x in a.molecules.split(",")):
            numbers, R0, E0 = _reactant(a.work, m, mols[m][0], cfg)
            compile_s["now"] = 0.0
            t = time.perf_counter()
            rng = np.random.default_rng([cfg.seed, m, attempt])
            rec = run_attempt(xtb_potential(numbers), numbers, R0, E0, known[m], rng, cfg, () if a.all_drives else tried[m])
            tried[m].append(rec.get("start", ""))
            if rec["status"] == "reaction":  # what the builder's _known reads back from the work directory
                r, k = rec["reaction"], int(rec["reaction"]["ts_index"])
                known[m].append({"ts_energy": float(r["energies"][k]), "ts": r["positions"][k], "ends": list(r["ends"])})
            row = {
                "molecule": mols[m][1], "n_atoms": len(numbers), "attempt": attempt, "start": rec.get("start"),
                "status": rec["status"], "n_force_calls": rec["n_force_calls"],
                "seconds": round(time.perf_counter() - t, 2), "compile_seconds": round(compile_s["now"], 2),
            }  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    n = len(rows)
    reactions = sum(r["status"] == "reaction" for r in rows)
    summary = {
        "attempts": n, "reactions": reactions, "reactions_per_attempt": round(reactions / n, 3),
        "outcomes": dict(collections.Counter(r["status"] for r in rows)),
        "mean_seconds": round(float(np.mean([r["seconds"] for r in rows])), 2),
        "mean_seconds_without_compilation": round(float(np.mean([r["seconds"] - r["compile_seconds"] for r in rows])), 2),
        "mean_gradients": round(float(np.mean([r["n_force_calls"] for r in rows])), 1),
        "load_average": list(np.round(__import__("os").getloadavg(), 1)), "all_drives": a.all_drives,
    }  # fmt: skip
    print(json.dumps(summary))
    pathlib.Path(a.out).write_text(json.dumps({"summary": summary, "config": cfg.__dict__, "attempts": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
