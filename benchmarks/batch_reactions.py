"""The reaction pipeline over many reactions: jaxrxn.batch.find_reactions (padded batches)
vs jaxrxn.find_reaction one reaction after another.

    python benchmarks/batch_reactions.py [--n 16] [--images 5] [--out benchmarks/results/batch_reactions.json]

Reactions: the EMT adatom hops of ``benchmarks/batch_neb.py`` (metals Al, Cu, Ni, ...;
slabs of 9, 13 and 19 atoms, bottom layer fixed; three in-plane strains), the first `--n`.
Both run the whole pipeline (relax the end states, linear band of `--images` images,
CI-NEB, P-RFO saddle, IRC, verification) with the same settings, cold: the batch compiles
each stage once for the padded shape, the loop once per atom count / cell reach (the jit
cache is reused across reactions of one shape). Printed and saved: wall times, their ratio,
the largest |barrier(batch) - barrier(alone)|, force calls and verdicts, and the load
average (a shared machine's free cores decide both times).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from batch_neb import reactions  # noqa: E402

from jaxrxn.batch import find_reactions  # noqa: E402
from jaxrxn.reaction import find_reaction  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--out", default=None, help="append the run to this JSON file")
    args = parser.parse_args()

    rxns = reactions(args.n)
    pairs = [(np.asarray(r[2]), np.asarray(r[3])) for r in rxns]
    pots = [r[1] for r in rxns]
    options = dict(interpolation="linear", n_images=args.images)
    load = [os.getloadavg()[0]]
    print(f"{len(rxns)} reactions, atom counts {sorted({p[0].shape[0] for p in pairs})}, load {load[0]:.1f}", flush=True)

    t = time.perf_counter()
    batch = find_reactions(pairs, pots, **options)
    t_batch = time.perf_counter() - t
    load.append(os.getloadavg()[0])
    print(f"batch: {t_batch:.1f} s, load {load[-1]:.1f}", flush=True)

    t = time.perf_counter()
    alone = []
    for k, (pair, pot) in enumerate(zip(pairs, pots)):
        alone.append(find_reaction(*pair, pot, **options))
        print(f"  alone {k + 1}/{len(pairs)} {rxns[k][0]}: {time.perf_counter() - t:.1f} s", flush=True)
    t_alone = time.perf_counter() - t
    load.append(os.getloadavg()[0])

    diffs = [abs(b.barrier - a.barrier) for b, a in zip(batch, alone) if b.barrier is not None and a.barrier is not None]
    row = {
        "n_reactions": len(pairs),
        "atom_counts": sorted({int(p[0].shape[0]) for p in pairs}),
        "images": args.images,
        "batch_s": round(t_batch, 2),
        "one_by_one_s": round(t_alone, 2),
        "ratio": round(t_alone / t_batch, 2),
        "max_barrier_diff_eV": max(diffs) if diffs else None,
        "same_calls": sum(b.n_force_calls == a.n_force_calls for b, a in zip(batch, alone)),
        "same_verdict": sum((b.failed_stage, b.connects) == (a.failed_stage, a.connects) for b, a in zip(batch, alone)),
        "force_calls_batch": sum(b.n_force_calls for b in batch),
        "force_calls_alone": sum(a.n_force_calls for a in alone),
        "connects": sum(b.connects for b in batch),
        "failed_stages": sorted({str(b.failed_stage) for b in batch}),
        "load_average": [round(x, 1) for x in load],
        "reactions": [
            {
                "label": r[0], "barrier_batch": b.barrier, "barrier_alone": a.barrier,
                "calls_batch": b.n_force_calls, "calls_alone": a.n_force_calls,
                "failed_stage_batch": b.failed_stage, "failed_stage_alone": a.failed_stage,
            }
            for r, b, a in zip(rxns, batch, alone)
        ],
    }
    print(json.dumps({k: v for k, v in row.items() if k != "reactions"}, indent=1))
    for r in row["reactions"]:
        print(r)
    if args.out:
        rows = json.load(open(args.out)) if os.path.exists(args.out) else []
        with open(args.out, "w") as fh:
            json.dump(rows + [row], fh, indent=1)


if __name__ == "__main__":
    main()
