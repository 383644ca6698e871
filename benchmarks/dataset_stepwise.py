"""Stepwise mechanisms where the single-step pipeline did not verify a saddle.

For the held-out reactions of the shipped GFN2-xTB data set that
``benchmarks/dataset_lower_passes.py`` left ``not verified`` (its results file names them),
this runs :func:`jaxrxn.find_mechanism` (relax=False, at most ``--max-steps`` searches;
otherwise the settings of that benchmark: geodesic band, CI-NEB, RS-P-RFO, frequencies, IRC;
GFN2-xTB through tblite, one thread) from the stored end states and sorts the outcome:

- ``one step ...``: one verified step joins the end states by itself: a later search's, from
  an intermediate that is a conformer of an end state (its IRC ends have the end states'
  bonds, as :func:`jaxrxn.find_reaction` matches them), or the first search's (the pipeline
  changed since the single-step run);
- ``stepwise ...``: a verified mechanism of two or more steps;
- each ``... lower`` / ``... higher`` when the highest saddle is more than 0.01 eV below /
  above the stored TS, ``... same energy`` within 0.01 eV (``step_is_data_ts`` names a step
  that is the stored TS itself: RMSD < 0.1 Å as well);
- ``not verified``: no verified mechanism (`failed_step` and `message` say why).

The stored TS was IRC-connected to both stored end states by the data set's builder: a
``stepwise lower`` reaction has a path through an intermediate whose every saddle lies below
the stored TS, so the stored barrier is not the lowest way between those minima.

    OMP_NUM_THREADS=1 python benchmarks/dataset_stepwise.py [--limit N] [--resume | --rerun-unverified]

``--out`` (default ``benchmarks/results/dataset_stepwise.json``) is rewritten after every
reaction; ``--resume`` keeps the reactions already there, ``--rerun-unverified`` only the
verified ones (a change to :func:`jaxrxn.find_mechanism` that acts only where a search
failed leaves every verified mechanism as it was).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from _generative import count_verdicts, data_record, evaluate_each, evaluated_by, rows_to_resume  # noqa: E402
from ts_generator_xtb import SAME_TS_DE, held_out_reactions, is_data_ts, stored_ts  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


VERDICTS = tuple(f"{kind} {level}" for kind in ("one step", "stepwise") for level in ("lower", "same energy", "higher"))


def verdict(row: dict) -> str:
    """The outcome's name (module docstring)."""
    if not row["converged"]:
        return "not verified"
    de = row["highest_ts_minus_data_ev"]
    level = "same energy" if abs(de) <= SAME_TS_DE else ("lower" if de < 0 else "higher")
    return f"{'one step' if row['n_steps'] == 1 else 'stepwise'} {level}"


def mechanism_row(r, mech) -> dict:
    """The results row of :func:`jaxrxn.find_mechanism`'s `mech` on the data set's reaction
    `r`: each step's saddle against the stored TS, the mechanism's highest saddle minus the
    stored TS (eV), the steps that are the stored TS (``step_is_data_ts``) and the verdict."""
    from jaxrxn.geometry import rmsd_numpy, rmsd_up_to_symmetry

    x_ts, e_ts = stored_ts(r)
    steps = []
    for s in mech.steps:
        found = s.R_ts is not None and s.saddle_index == 1 and s.ts_energy is not None
        steps.append({
            "converged": bool(s.converged), "failed_stage": s.failed_stage,
            "ts_minus_data_ev": None if not found else float(s.ts_energy) - e_ts,
            "rmsd_to_data_ts": None if not found else float(rmsd_numpy(np.asarray(s.R_ts), x_ts)),
            "rmsd_to_data_ts_up_to_symmetry": None if not found else rmsd_up_to_symmetry(np.asarray(s.R_ts), x_ts, r.numbers),
            "reaction_energy_ev": s.reaction_energy, "n_force_calls": int(s.n_force_calls),
        })  # fmt: skip

    def the_data_ts(rmsd_key: str) -> list[int]:
        return [k for k, s in enumerate(steps) if is_data_ts(s, rmsd_key)]

    row = {
        "rxn": r.rxn, "formula": r.formula, "n_atoms": len(r.numbers), "barrier_ev": e_ts - float(r.energies[0]),
        "converged": bool(mech.converged), "n_steps": len(mech.steps), "failed_step": mech.failed_step, "message": mech.message,
        "highest_ts_minus_data_ev": None if mech.barrier is None else float(mech.barrier) - (e_ts - float(mech.steps[0].e_initial)),
        "energy_span_ev": mech.energy_span, "intermediate_energies_ev": mech.intermediate_energies,
        "step_is_data_ts": the_data_ts("rmsd_to_data_ts"), "step_is_data_ts_up_to_symmetry": the_data_ts("rmsd_to_data_ts_up_to_symmetry"),
        "steps": steps, "n_force_calls": int(mech.n_force_calls),
    }  # fmt: skip
    row["verdict"] = verdict(row)
    return row


def summarise(rows: list[dict]) -> dict:
    out = count_verdicts(rows, (*VERDICTS, "not verified"))
    out["verified_reactions"] = {r["rxn"]: round(r["highest_ts_minus_data_ev"], 4) for r in rows if r["converged"]}
    return out


def main():
    from jaxrxn.datasets import shipped_dataset
    from jaxrxn.mechanism import find_mechanism
    from jaxrxn.potentials.qm import xtb_potential

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=shipped_dataset())
    ap.add_argument("--lower-passes", default=str(HERE / "results" / "dataset_lower_passes.json"),
                    help="the single-step results whose 'not verified' reactions run here")  # fmt: skip
    ap.add_argument("--max-steps", type=int, default=3)
    ap.add_argument("--limit", type=int, help="only the first LIMIT of those reactions")
    ap.add_argument("--out", default=str(HERE / "results" / "dataset_stepwise.json"))
    ap.add_argument("--resume", action="store_true", help="keep the reactions already in --out and run the rest")
    ap.add_argument("--rerun-unverified", action="store_true",
                    help="--resume, but run the reactions --out calls 'not verified' again (after a change that acts only on failures)")  # fmt: skip
    a = ap.parse_args()
    a.merge = []
    a.resume = a.resume or a.rerun_unverified

    single = json.loads(pathlib.Path(a.lower_passes).read_text())
    wanted = [row["rxn"] for row in single["reactions"] if row["verdict"] == "not verified"]
    by_name = {r.rxn: r for r in held_out_reactions(a.data)}
    reactions = [by_name[name] for name in wanted][: a.limit]
    data = data_record(a.data, None, None, split="held-out", single_step=pathlib.Path(a.lower_passes).name)
    order = [r.rxn for r in reactions]
    rows = rows_to_resume(a, order, data=data, max_steps=a.max_steps)
    by = evaluated_by("dataset_stepwise.py", a.out, rows, a.merge)
    if a.rerun_unverified:
        rows = [row for row in rows if row["verdict"] != "not verified"]

    def evaluate(r):
        t0 = time.perf_counter()
        mech = find_mechanism(np.asarray(r.reactant, float), np.asarray(r.product, float), xtb_potential(r.numbers),
                              relax=False, max_steps=a.max_steps)  # fmt: skip
        row = {**mechanism_row(r, mech), "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps(row), flush=True)
        return row

    def write(rows):
        rows = sorted(rows, key=lambda row: order.index(row["rxn"]))
        result = {"evaluated_by": by, "data": data, "max_steps": a.max_steps, "summary": summarise(rows), "reactions": rows}
        pathlib.Path(a.out).write_text(json.dumps(result, indent=1) + "\n")

    rows = evaluate_each(reactions, rows, evaluate, write)
    print(json.dumps(summarise(rows), indent=1))


if __name__ == "__main__":
    main()
