"""The 20 Birkholz reactions (A. B. Birkholz & H. B. Schlegel, JCC 36, 1157 (2015);
../shared/data/reaction_sets/birkholz_rx/, charge -1 for 15_oxirane and 18_sn2) with
GFN2-xTB: ``jaxrxn.find_reaction`` against the ASE pipeline a careful user writes
(benchmarks/_ase_reaction.py: BFGS end points, IDPP, ``NEB(climb=True,
method="improvedtangent")`` with BFGS, Sella TS, Sella IRC), same calculator, same raw end
states (first and last frame), both relaxing them.

Per reaction: success (``connects``), barrier, force calls (counted at the calculator),
wall time; totals at the end. ``--stepwise``: the reactions whose jaxrxn row does not
connect run again through :func:`jaxrxn.find_mechanism` (``jaxrxn reaction --stepwise``:
on through intermediates, at most 3 searches, the first one the same search again), stored
as ``jaxrxn_stepwise``. Checkpointed per reaction and side in
benchmarks/results/reaction_birkholz.json, so a killed run resumes; several processes with
disjoint NAME lists share the file (rows merged under a lock). Smallest reactions first.
Usage: ``nice -n 10 python benchmarks/reaction_birkholz.py [--stepwise] [NAME ...]``.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.dirname(__file__))

from _ase_reaction import ase_pipeline, find_reaction_set, in_worker_thread  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("BIRKHOLZ_DIR") or find_reaction_set("birkholz_rx")
OUT = os.path.join(HERE, "results", "reaction_birkholz.json")
CHARGES = {"15_oxirane": -1, "18_sn2": -1}
#: The jaxrxn pipeline a stored row was run with; rows of another one are run again (the
#: ASE rows stay: the ASE pipeline did not change).
PIPELINE = (
    "the interpolation's highest image first, then a BFGS band to 0.5 eV/Å (at most 50 steps), RSPRFO.molecular, bonds to 1.45x covalent, "
    "vibrational-only differences, Gonzalez-Schlegel IRC, IRC ends to 0.05 eV/Å; "
    "the descent's floor past the steepest point, shallow ends to the saddle fmax"
)


def reactions() -> list[tuple[str, object, object, object]]:
    from ase.io import read

    out = []
    for f in sorted(glob.glob(os.path.join(DATA, "*.trj"))):
        frames = read(f, ":", format="xyz")
        out.append((os.path.basename(f)[:-4], frames[0].numbers, frames[0].positions, frames[-1].positions))
    return sorted(out, key=lambda r: len(r[1]))


#: The searches `--stepwise` may spend per reaction (``jaxrxn reaction --stepwise``'s default).
MAX_SEARCHES = 3


def run_jaxrxn(name, numbers, R0, R1, stepwise: bool = False) -> dict:
    """``find_reaction``'s row (``find_mechanism``'s with `stepwise`), with the calls
    counted at the calculator and the wall time."""
    from jaxrxn._jit import clear_caches_near_map_limit
    from jaxrxn.mechanism import find_mechanism
    from jaxrxn.potentials.qm import xtb_potential
    from jaxrxn.reaction import find_reaction

    t = time.perf_counter()
    pot = xtb_potential(numbers, charge=CHARGES.get(name, 0))
    try:
        if stepwise:
            res = find_mechanism(R0, R1, pot, max_steps=MAX_SEARCHES, progress=True)
            row = {**res.to_json(), "connects": res.converged, "max_steps": MAX_SEARCHES}
        else:
            row = find_reaction(R0, R1, pot, progress=True).to_json()
    except Exception as err:  # report and go on
        row = {"connects": False, "error": f"{type(err).__name__}: {err}"}
    row.update(calculator_calls=pot.energy_fn.n_calls, wall_s=time.perf_counter() - t, pipeline=PIPELINE)
    pot.energy_fn.close()
    clear_caches_near_map_limit()  # each atom count compiles anew: one process runs all 20
    return row


def save(results, name: str) -> dict:
    """Write ``results[name]`` into the results file, merged under a lock with the rows other
    processes wrote meanwhile (reactions can run as parallel shards), with new totals;
    returns the merged results."""
    import fcntl

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(os.path.join(tempfile.gettempdir(), "reaction_birkholz.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = json.load(open(OUT)) if os.path.exists(OUT) else {}
        merged[name] = results[name]
        merged["_totals"] = totals(merged)
        merged["_load_average"] = os.getloadavg()
        tmp = OUT + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(merged, fh, indent=1, default=float)
        os.replace(tmp, OUT)
    return merged


def totals(results) -> dict:
    rows = [
        r for k, r in results.items()
        if not k.startswith("_") and r.get("jaxrxn", {}).get("pipeline") == PIPELINE and "ase" in r
    ]  # fmt: skip
    both = [r for r in rows if r["jaxrxn"].get("connects") and r["ase"].get("connects")]
    stepwise = [r for r in rows if not r["jaxrxn"].get("connects") and r.get("jaxrxn_stepwise", {}).get("pipeline") == PIPELINE]
    return {
        "n_reactions": len(rows),
        "jaxrxn_success": sum(bool(r["jaxrxn"].get("connects")) for r in rows),
        "ase_success": sum(bool(r["ase"].get("connects")) for r in rows),
        "jaxrxn_force_calls": sum(r["jaxrxn"].get("calculator_calls", 0) for r in rows),
        "ase_force_calls": sum(r["ase"].get("n_force_calls", 0) for r in rows),
        "both_succeeded": len(both),
        "max_barrier_difference_eV_where_both_succeeded": max(
            (abs(r["jaxrxn"]["barrier"] - r["ase"]["barrier"]) for r in both), default=None
        ),
        "barriers_within_1meV": sum(abs(r["jaxrxn"]["barrier"] - r["ase"]["barrier"]) <= 1e-3 for r in both),
        "stepwise_run_on": len(stepwise),
        "stepwise_success": sum(bool(r["jaxrxn_stepwise"].get("connects")) for r in stepwise),
        "stepwise_force_calls": sum(r["jaxrxn_stepwise"].get("calculator_calls", 0) for r in stepwise),
    }


def main(names, stepwise: bool = False):
    results = json.load(open(OUT)) if os.path.exists(OUT) else {}
    # reactions with a stored ASE row first: their comparison needs only the jaxrxn run
    for name, numbers, R0, R1 in sorted(reactions(), key=lambda r: "ase" not in results.get(r[0], {})):
        if names and name not in names:
            continue
        row = results.setdefault(name, {"n_atoms": len(numbers)})
        if row.get("jaxrxn", {}).get("pipeline") != PIPELINE:
            if "jaxrxn" in row:
                row["jaxrxn_previous"] = row.pop("jaxrxn")  # the pipeline before, for the before/after table
            row["jaxrxn"] = run_jaxrxn(name, numbers, R0, R1)
            save(results, name)
        if "ase" not in row and os.path.exists(OUT):  # written meanwhile by another process
            row.update({k: v for k, v in json.load(open(OUT)).get(name, {}).items() if k == "ase"})
        if "ase" not in row:
            a = in_worker_thread(ase_pipeline, numbers, R0, R1, charge=CHARGES.get(name, 0), optimizer="bfgs")
            row["ase"] = {k: v for k, v in a.items() if not k.startswith("R_")}
            save(results, name)
        if stepwise and not row["jaxrxn"].get("connects") and row.get("jaxrxn_stepwise", {}).get("pipeline") != PIPELINE:
            row["jaxrxn_stepwise"] = run_jaxrxn(name, numbers, R0, R1, stepwise=True)
            save(results, name)
            w = row["jaxrxn_stepwise"]
            print(f"{name}: stepwise connects={w.get('connects')} steps={len(w.get('steps', []))} barrier={w.get('barrier')} "
                  f"calls={w.get('calculator_calls')} ({w.get('message')})", flush=True)  # fmt: skip
        j, a = row["jaxrxn"], row["ase"]
        print(
            f"{name}: jaxrxn connects={j.get('connects')} barrier={j.get('barrier')} calls={j.get('calculator_calls')} | "
            f"ase connects={a.get('connects')} barrier={a.get('barrier')} calls={a.get('n_force_calls')}",
            flush=True,
        )
        results = save(results, name)
    print(json.dumps(totals(results), indent=1))


if __name__ == "__main__":
    main([a for a in sys.argv[1:] if a != "--stepwise"], stepwise="--stepwise" in sys.argv[1:])
