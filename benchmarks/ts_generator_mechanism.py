"""The pipeline given the generated TS, on through intermediates where it does not verify.

``benchmarks/ts_generator_xtb.py --guided`` runs :func:`jaxrxn.find_reaction` with the shipped
TS generator's guess (``ts_guess``) on held-out reactions: the first 40
(results/ts_generator_xtb_guided.json, the default ``--guided``) or all 223
(results/ts_generator_xtb_guided_all.json). Where that pipeline ends without a verified saddle,
this runs :func:`jaxrxn.find_mechanism` with the same guess (it serves the first search, as
in ``find_reaction``; the later legs start from their bands) and the same settings
(relax=False, GFN2-xTB through tblite, one thread), at most ``--max-steps`` searches, and
sorts each outcome as ``benchmarks/dataset_stepwise.py`` does. The rows the guided pipeline
verified are not run again: the mechanism's first search is that pipeline, and a verified
first search is the whole mechanism.

The summary reads both files together: of the guided file's reactions, the data set's TS verified (the guided
pipeline's, and a step of a verified mechanism that is the data set's TS) and a verified
way whose highest saddle is at most the data set's TS (within 0.01 eV) or lower.

    OMP_NUM_THREADS=1 python benchmarks/ts_generator_mechanism.py [--guided FILE] [--max-steps 3] [--resume]
        [--part I/N --out PART.json, then --merge PART.json ...]

With ``--then-max`` the pipeline is the guided file's guess-then-interpolation-maximum one
(``ts_generator_xtb.py --then-max``: rows ``guided then max pipeline``) and each search
tries the interpolation's highest image before its band, as that pipeline does::

    OMP_NUM_THREADS=1 python benchmarks/ts_generator_mechanism.py --then-max --guided benchmarks/results/ts_generator_xtb_then_max_all.json --out benchmarks/results/ts_generator_mechanism_then_max_all.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from _generative import add_part_arguments, count_verdicts, evaluate_each, evaluated_by, file_sha256, part_of, rows_to_resume  # noqa: E402
from dataset_stepwise import VERDICTS, mechanism_row  # noqa: E402
from ts_generator_xtb import SAME_TS_DE, THEN_MAX, generated_ts, held_out_reactions, needs_symmetry_check, same_ts_up_to_symmetry  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def summarise(rows: list[dict], guided: list[dict], key: str = "guided pipeline") -> dict:
    """The mechanisms' verdicts, and with the pipeline `key`'s verified rows of the guided
    file, how many of its reactions end with the data set's TS verified, and with a verified
    way no higher; where every row records it, the data set's TS also counted as its mirror
    image or renumbered (``data_ts_verified_up_to_symmetry``)."""
    out = count_verdicts(rows, (*VERDICTS, "not verified"))
    done = {row["rxn"]: row for row in rows}
    data_ts = lower_or_same = data_ts_symmetric = 0
    for g in guided:
        pipe = g[key]
        if pipe["converged"]:
            data_ts += bool(pipe["same_ts"])
            data_ts_symmetric += same_ts_up_to_symmetry(pipe)
            lower_or_same += pipe["same_ts"] or pipe["ts_minus_data_ev"] <= SAME_TS_DE  # as a mechanism's highest saddle below
        elif g["rxn"] in done and done[g["rxn"]]["converged"]:
            data_ts += bool(done[g["rxn"]]["step_is_data_ts"])
            data_ts_symmetric += bool(done[g["rxn"]].get("step_is_data_ts_up_to_symmetry"))
            lower_or_same += done[g["rxn"]]["highest_ts_minus_data_ev"] <= SAME_TS_DE
    out.update({"reactions_in_all": len(guided), "data_ts_verified": data_ts, "verified_at_most_data_ts": lower_or_same})
    if not any(needs_symmetry_check(g[key]) for g in guided) and all("step_is_data_ts_up_to_symmetry" in row for row in rows):
        out["data_ts_verified_up_to_symmetry"] = data_ts_symmetric
    return out


def main():
    from jaxrxn.datasets import shipped_dataset
    from jaxrxn.generative.flow import load_model
    from jaxrxn.mechanism import find_mechanism
    from jaxrxn.potentials.qm import xtb_potential

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=shipped_dataset())
    ap.add_argument("--guided", default=str(HERE / "results" / "ts_generator_xtb_guided.json"),
                    help="the guided pipeline's results, whose unverified reactions run here")  # fmt: skip
    ap.add_argument("--load", default=str(HERE.parent / "jaxrxn" / "data" / "ts_generator_gfn2_xtb.npz"), help="the TS generator")
    ap.add_argument("--then-max", action="store_true",
                    help=f"the guided file's '{THEN_MAX}' rows (ts_generator_xtb.py --then-max) are the pipeline's, and each "
                         "search tries the interpolation's highest image before its band (refine_interpolation_max)")
    ap.add_argument("--max-steps", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "ts_generator_mechanism.json"))
    ap.add_argument("--resume", action="store_true", help="keep the reactions already in --out and run the rest")
    add_part_arguments(ap)
    a = ap.parse_args()

    guided = json.loads(pathlib.Path(a.guided).read_text())
    if guided["settings"]["model"] != file_sha256(a.load):
        raise SystemExit(f"{a.guided} was not made with the TS generator {a.load}")
    key = THEN_MAX if a.then_max else "guided pipeline"
    wanted = [row["rxn"] for row in guided["reactions"] if not row[key]["converged"]]
    by_name = {r.rxn: r for r in held_out_reactions(a.data)}
    reactions = [by_name[name] for name in wanted]
    model, params, _ = load_model(a.load)
    then_max = a.then_max or None  # None: files from before the option resume
    rows = rows_to_resume(a, wanted, max_steps=a.max_steps, model=guided["settings"]["model"], then_max=then_max)
    by = evaluated_by("ts_generator_mechanism.py", a.out, rows, a.merge)

    def evaluate(r):
        t0 = time.perf_counter()
        mech = find_mechanism(np.asarray(r.reactant, float), np.asarray(r.product, float), xtb_potential(r.numbers),
                              relax=False, max_steps=a.max_steps, ts_guess=generated_ts(model, params, r),
                              refine_interpolation_max=a.then_max)  # fmt: skip
        row = {**mechanism_row(r, mech), "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps(row), flush=True)
        return row

    def write(rows):
        result = {"evaluated_by": by, "guided": pathlib.Path(a.guided).name, "model": guided["settings"]["model"],
                  "max_steps": a.max_steps, **({"then_max": True} if then_max else {}),
                  "summary": summarise(rows, guided["reactions"], key), "reactions": rows}  # fmt: skip
        pathlib.Path(a.out).write_text(json.dumps(result, indent=1) + "\n")

    rows = evaluate_each(part_of(reactions, a.part), rows, evaluate, write)
    print(json.dumps(summarise(rows, guided["reactions"], key), indent=1))


if __name__ == "__main__":
    main()
