"""Is a reaction's stored TS the lowest pass between its stored end states?

The shipped GFN2-xTB data set (``jaxrxn/data/xtb_reactions.h5``) stores, per reaction, the
saddle its builder's single-ended search reached and an IRC connected to the end states.
Another saddle between the same minima may lie lower. Per reaction this runs jaxrxn's
reaction pipeline (:func:`jaxrxn.find_reaction`, relax=False: geodesic band, CI-NEB,
RS-P-RFO from the climbing image, frequencies, IRC; GFN2-xTB through tblite, one thread)
from the stored end states and sorts its IRC-verified saddle against the stored TS:

- ``same``: Kabsch RMSD < 0.1 Å and energy within 0.01 eV (the benchmarks' criterion);
- ``same energy``: within 0.01 eV but further away (the stored TS in another conformation);
- ``lower`` / ``higher``: more than 0.01 eV below / above the stored TS;
- ``not verified``: the pipeline ended without a verified saddle.

A ``lower`` reaction's stored barrier is only an upper bound on its lowest barrier at this
level, which matters to every barrier metric measured against the data set.

    OMP_NUM_THREADS=1 python benchmarks/dataset_lower_passes.py [--split held-out] [--limit N] [--resume]

``--out`` (default ``benchmarks/results/dataset_lower_passes.json``) is rewritten after every
reaction; ``--resume`` keeps the reactions already there (same data set and split) and runs
the rest, and ``--part I/N`` / ``--merge`` split a run over processes, as in the generative
benchmarks (benchmarks/_generative.py).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from _generative import add_part_arguments, count_verdicts, data_record, evaluate_each, evaluated_by, part_of, rows_to_resume  # noqa: E402
from ts_generator_xtb import SAME_TS_DE, held_out_reactions, pipeline_ts, stored_ts  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def verdict(row: dict) -> str:
    """``same``, ``same energy``, ``lower``, ``higher`` or ``not verified`` (module docstring)."""
    if not row["converged"] or row["ts_minus_data_ev"] is None:
        return "not verified"
    if row["same_ts"]:
        return "same"
    de = row["ts_minus_data_ev"]
    return "same energy" if abs(de) <= SAME_TS_DE else ("lower" if de < 0 else "higher")


def summarise(rows: list[dict]) -> dict:
    out = count_verdicts(rows, ("same", "same energy", "lower", "higher", "not verified"))
    out["lower_reactions"] = {r["rxn"]: round(r["ts_minus_data_ev"], 4) for r in rows if r["verdict"] == "lower"}
    return out


def main():
    from jaxrxn.datasets import shipped_dataset
    from jaxrxn.generative.data import read_transition1x
    from jaxrxn.potentials.qm import xtb_potential

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=shipped_dataset())
    ap.add_argument("--split", default="held-out", choices=("held-out", "train", "all"),
                    help="held-out: the test and val molecules' reactions, reactive first (the order of ts_generator_xtb.py)")
    ap.add_argument("--limit", type=int, help="only the first LIMIT reactions")
    ap.add_argument("--out", default=str(HERE / "results" / "dataset_lower_passes.json"))
    ap.add_argument("--resume", action="store_true", help="keep the reactions already in --out and run the rest")
    add_part_arguments(ap)
    a = ap.parse_args()

    if a.split == "held-out":
        reactions = held_out_reactions(a.data)
    else:
        reactions = read_transition1x(a.data, "train" if a.split == "train" else "data", level="GFN2-xTB")
    reactions = reactions[: a.limit]
    data = data_record(a.data, None, None, split=a.split)
    rows = rows_to_resume(a, [r.rxn for r in reactions], data=data)
    by = evaluated_by("dataset_lower_passes.py", a.out, rows, a.merge)

    def evaluate(r):
        t0 = time.perf_counter()
        x_ts, e_ts = stored_ts(r)
        row = {"rxn": r.rxn, "formula": r.formula, "n_atoms": len(r.numbers), "kind": str(r.extras["kind"].astype(str)),
               "barrier_ev": e_ts - float(r.energies[0]),
               **pipeline_ts(xtb_potential(r.numbers), np.asarray(r.reactant, float), np.asarray(r.product, float), x_ts, e_ts)}  # fmt: skip
        row["verdict"] = verdict(row)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(row), flush=True)
        return row

    def write(rows):
        result = {"evaluated_by": by, "data": data, "summary": summarise(rows), "reactions": rows}
        pathlib.Path(a.out).write_text(json.dumps(result, indent=1) + "\n")

    rows = evaluate_each(part_of(reactions, a.part), rows, evaluate, write)
    print(json.dumps(summarise(rows), indent=1))


if __name__ == "__main__":
    main()
