"""The shipped neural-network potential on the data set's reactions: one padded, vmapped
CI-NEB in one compiled call vs GFN2-xTB, and the whole reaction pipeline vs GFN2-xTB's.

    OMP_NUM_THREADS=1 python benchmarks/nnp_batch_neb.py [--images 8] [--heldout-only] [--skip-pipeline]
        [--skip-xtb] [--pipeline-only] [--batch-size N] [--from-end] [--merge CHECKPOINT.json ...]
        [--no-relax] [--no-warm] [--limit K]
        [--model MODEL.npz] [--out RESULT.json] [--refine-from PART1.json]

Reactions: the shipped data set ``jaxrxn/data/xtb_reactions.h5`` (the shipped NNP's training data; GFN2-xTB reactant, TS and product of each;
those with elements outside the NNP's domain left out),
marked held out when their reactant molecule is in the data set's val/test split (the NNP
never trained on them; :mod:`benchmarks.nnp_pretrained`).

1. **CI-NEB**: the same geodesic band (`--images`, between the data set's reactant and
   product) relaxed by the pipeline's CI-NEB (:func:`jaxrxn.reaction.pipeline_neb`,
   ``fmax`` 0.05 eV/Å, 500 steps) with the NNP for all reactions as one padded batch
   (:func:`jaxrxn.batch.batch_neb`: one compiled call; timed cold, with compilation, and
   warm) and with GFN2-xTB (tblite, one thread) reaction by reaction. Force calls, wall
   times and their ratios; the CI-NEB barriers of both against the data set's barrier.
2. **TS check**: each NNP climbing image refined with GFN2-xTB (RS-P-RFO, ``fmax`` 0.01):
   does it reach the data set's TS (RMSD after alignment below 0.05 Å)?
   `--skip-xtb` leaves out the GFN2-xTB runs of parts 1-2 (the NNP's barriers are still
   compared with the data set's). `--refine-from PART1.json` runs this part alone on the
   climbing images a part-1 run stored, reaction by reaction into `--out` (resumed from it).
3. **Pipeline** (unless `--skip-pipeline`): :func:`jaxrxn.batch.find_reactions` with the
   NNP (each stage one vmapped call; its defaults for a JAX potential: end states relaxed on
   the NNP, CI-NEB, P-RFO with the NNP's exact Hessian, IRC) vs :func:`jaxrxn.find_reaction`
   with GFN2-xTB per reaction (the band alone): barriers, verdicts, force calls, wall time.
   `--pipeline-only` runs this part alone; with `--skip-xtb` GFN2-xTB's side is its
   *default* pipeline's recorded run on the same reactions (`--xtb-pipeline`, the
   ``max first pipeline: model`` rows of benchmarks/ml_hessian_ts.py, session 37), not run
   again.

Results go to ``benchmarks/results/nnp_batch_neb.json`` with the load average (the machine
is shared; force calls are exact, wall times upper bounds). The committed results are
parts 1-2 on the 6-reaction snapshot of the data set (SHA-256 74c07e6f...) with the H/C/O
NNP trained on it (two models ago); part 3 had not finished.
``results/nnp_batch_neb_heldout.json``: the shipped model (trained on the shipped data set)
on the first 40 of its 223 held-out reactions, parts 1-2 (``--heldout-only --skip-pipeline
--limit 40``). ``results/nnp_batch_neb_heldout_all.json``: the same model on all 223 held-out
reactions, part 1 only (``--heldout-only --skip-pipeline --skip-xtb --no-warm``; session 27:
barrier MAE 0.319 eV, 78 of 223 bands converged, 3,504 s in one compiled call).
``results/nnp_batch_neb_heldout_all_ft40k.json``: the same on the model shipped since session 33
(session 35: 0.276 eV, 91 of 223 converged, 3,465 s beside other runs).
``results/nnp_pipeline_heldout40.json``: part 3 alone on the first 40 held-out reactions
(``--heldout-only --pipeline-only --skip-xtb --limit 40 --batch-size 20``; session 38: 33
verified, barrier MAE 0.189 eV on them, 426.7 s against GFN2-xTB's recorded 795.2 s); on all
223 without ``--batch-size`` the saddle stage ran out of memory (64 GB asked for at once).
Part 3 checkpoints the NNP's side chunk by chunk (``RESULT.checkpoint.json`` beside `--out`)
and goes on from it when run again with the same settings.
``results/nnp_pipeline_heldout_all.json`` (and its checkpoint): part 3 on all 223 held-out
reactions (``--heldout-only --pipeline-only --skip-xtb``; sessions 40-43, niced beside other
work: the first 100 in chunks of 20, the rest in chunks of 10, 7 and 6, two processes, the
second ``--from-end``, then ``--merge``): 166 verified, verified barriers 0.282 eV from the
data set's, 11,364 s against GFN2-xTB's recorded 5,165 s (208 verified).
``results/nnp_ts_refined_heldout_all_ft40k.json``: part 2 alone on all 223 climbing images
of ``nnp_batch_neb_heldout_all_ft40k.json`` (``--refine-from``; session 40: the data set's TS
in 128, 18,157 gradients).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import h5py  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.batch import batch_neb, find_reactions  # noqa: E402
from jaxrxn.datasets import shipped_dataset  # noqa: E402
from jaxrxn.generative.data import read_transition1x  # noqa: E402
from jaxrxn.geometry import rmsd  # noqa: E402
from jaxrxn.nnp.model import load_pretrained, pretrained  # noqa: E402
from jaxrxn.path.elastic_band import neb  # noqa: E402
from jaxrxn.path.geodesic_interpolation import geodesic  # noqa: E402
from jaxrxn.potentials.qm import xtb_potential  # noqa: E402
from jaxrxn.reaction import find_reaction, pipeline_neb  # noqa: E402
from jaxrxn.saddle import RSPRFO, saddle_search  # noqa: E402
from jaxrxn.system import System  # noqa: E402

#: the shipped NNP's training data: the shipped data set
DATA = shipped_dataset()
OUT = os.path.join(os.path.dirname(__file__), "results", "nnp_batch_neb.json")
NEB_FMAX, NEB_STEPS = 0.05, 500
#: GFN2-xTB's default reaction pipeline on all 223 held-out reactions (session 37)
XTB_PIPELINE = os.path.join(os.path.dirname(__file__), "results", "ml_hessian_ts.json")


def reactions(heldout_only: bool, model: str = "xtb-painn"):
    """The data set's reactions in the NNP's element domain (others are left out)."""
    with h5py.File(DATA) as f:
        split = np.asarray(f["molecules/split"]).astype(str)
    elements = set(load_pretrained(model)[0].elements)
    out = []
    for r in read_transition1x(DATA, "data", "GFN2-xTB"):
        held = split[int(r.extras["molecule"])] != "train"
        if (held or not heldout_only) and set(np.asarray(r.numbers).tolist()) <= elements:
            t = int(r.extras["ts_index"])
            out.append({"rxn": r.rxn, "formula": r.formula, "heldout": bool(held), "molecule": int(r.extras["molecule"]),
                        "numbers": np.asarray(r.numbers),
                        "R0": np.asarray(r.reactant, float), "R1": np.asarray(r.product, float),
                        "ts": np.asarray(r.transition_state, float), "barrier": float(r.energies[t] - r.energies[0])})  # fmt: skip
    return out


def mae(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.mean(np.abs(a[ok] - b[ok]))) if ok.any() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--heldout-only", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--pipeline-only", action="store_true",
                        help="part 3 alone; with --skip-xtb, GFN2-xTB's side is its default pipeline's recorded run (--xtb-pipeline)")
    parser.add_argument("--xtb-pipeline", default=XTB_PIPELINE,
                        help="benchmarks/ml_hessian_ts.py results whose 'max first pipeline: model' rows are GFN2-xTB's default pipeline")
    parser.add_argument("--skip-xtb", action="store_true", help="no GFN2-xTB CI-NEB nor TS refinement")
    parser.add_argument("--batch-size", type=int, help="part 3: at most this many reactions per vmapped chunk (find_reactions' batch_size)")
    parser.add_argument("--from-end", action="store_true",
                        help="part 3: take the chunks from the last reaction backwards (a second process, with its own --out, shares the work)")
    parser.add_argument("--merge", nargs="+", default=[], metavar="CHECKPOINT.json",
                        help="part 3: add these checkpoints' rows (same settings) to this run's checkpoint first")
    parser.add_argument("--no-relax", action="store_true",
                        help="part 3: the NNP pipeline from the stored end states as they are (relax=False), as GFN2-xTB's recorded run")
    parser.add_argument("--model", default="xtb-painn", help="shipped model name or train-nnp model file")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--no-warm", action="store_true", help="time the NNP batch once (cold) only")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT reactions (all)")
    parser.add_argument("--max-steps", type=int, default=NEB_STEPS, help=f"CI-NEB step cap, both sides ({NEB_STEPS})")
    parser.add_argument("--refine-from", metavar="RESULT.json",
                        help="part 2 alone on the climbing images of part 1's stored RESULT.json (resumed from --out)")  # fmt: skip
    args = parser.parse_args()
    if args.pipeline_only and args.skip_pipeline:
        parser.error("--pipeline-only and --skip-pipeline exclude each other.")
    if args.refine_from:
        return refine_stored(args)
    rx = reactions(args.heldout_only, args.model)[: args.limit]
    load = [os.getloadavg()[0]]
    print(f"{len(rx)} reactions ({sum(r['heldout'] for r in rx)} held out), atoms {[len(r['numbers']) for r in rx]}, "
          f"load {load[0]:.1f}", flush=True)  # fmt: skip
    nnp = [pretrained(r["numbers"], args.model) for r in rx]
    if args.pipeline_only:
        pipeline = run_pipeline(rx, nnp, args)
        summary = {"model": args.model, "n_reactions": len(rx), "n_heldout": sum(r["heldout"] for r in rx), "images": args.images}
        write_report(args.out, {"summary": summary, "reactions": [], "pipeline": pipeline, "load_average": [load[0], os.getloadavg()[0]]})
        return
    bands = [np.asarray(geodesic(jnp.asarray(r["R0"]), jnp.asarray(r["R1"]), args.images, System(r["numbers"])).path) for r in rx]
    solver = pipeline_neb(remove_rigid=True)

    # 1. CI-NEB: the NNP batch in one compiled call (cold, then warm), GFN2-xTB one by one
    t = time.perf_counter()
    res_nnp = batch_neb(nnp, bands, solver, fmax=NEB_FMAX, max_steps=args.max_steps)
    jax.block_until_ready(res_nnp[-1].path)
    t_cold = time.perf_counter() - t
    t_warm = None
    if not args.no_warm:
        t = time.perf_counter()
        res_nnp = batch_neb(nnp, bands, solver, fmax=NEB_FMAX, max_steps=args.max_steps)
        jax.block_until_ready(res_nnp[-1].path)
        t_warm = time.perf_counter() - t
    print(f"NNP batch CI-NEB: {t_cold:.1f} s cold, {t_warm} s warm", flush=True)
    rows = []
    t_xtb_total = 0.0
    for r, band, rn in zip(rx, bands, res_nnp):
        ci = np.asarray(rn.path[int(rn.ts_index)])
        row = {"rxn": r["rxn"], "formula": r["formula"], "heldout": r["heldout"], "n_atoms": len(r["numbers"]),
               "barrier_data": r["barrier"], "barrier_nnp_neb": float(rn.barrier), "nnp_neb_converged": bool(rn.converged),
               "nnp_neb_force_calls": int(rn.n_force_calls), "nnp_ci_rmsd_to_data_ts": float(rmsd(jnp.asarray(ci), jnp.asarray(r["ts"]))),
               "nnp_climbing_image": ci.tolist()}  # fmt: skip
        if not args.skip_xtb:
            xtb = xtb_potential(r["numbers"])
            t = time.perf_counter()
            rxtb = neb(xtb, jnp.asarray(band), solver, fmax=NEB_FMAX, max_steps=args.max_steps)
            t_xtb = time.perf_counter() - t
            t_xtb_total += t_xtb
            row |= {"barrier_xtb_neb": float(rxtb.barrier), "xtb_neb_converged": bool(rxtb.converged),
                    "xtb_neb_force_calls": int(rxtb.n_force_calls), "xtb_neb_s": t_xtb, **refine_with_xtb(xtb, ci, r["ts"])}  # fmt: skip
            xtb.energy_fn.close()
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "nnp_climbing_image"}), flush=True)
        load.append(os.getloadavg()[0])
    calls_nnp = sum(r["nnp_neb_force_calls"] for r in rows)
    summary = {
        "model": args.model, "n_reactions": len(rows), "n_heldout": sum(r["heldout"] for r in rows), "images": args.images,
        "neb_fmax": NEB_FMAX, "neb_max_steps": args.max_steps, "nnp_batch_cold_s": t_cold, "nnp_batch_warm_s": t_warm, "nnp_force_calls": calls_nnp,
        "nnp_neb_converged": sum(r["nnp_neb_converged"] for r in rows),
    }  # fmt: skip
    if not args.skip_xtb:
        calls_xtb = sum(r["xtb_neb_force_calls"] for r in rows)
        summary |= {"xtb_neb_s": t_xtb_total, "ratio_cold": t_xtb_total / t_cold, "ratio_warm": t_xtb_total / t_warm if t_warm else None,
                    "xtb_force_calls": calls_xtb}  # fmt: skip
    for name, sel in (("heldout", [r for r in rows if r["heldout"]]), ("train", [r for r in rows if not r["heldout"]])):
        if sel:
            summary[f"{name}_barrier_mae_nnp_vs_data"] = mae([r["barrier_nnp_neb"] for r in sel], [r["barrier_data"] for r in sel])
            if not args.skip_xtb:
                summary[f"{name}_barrier_mae_nnp_vs_xtb_neb"] = mae([r["barrier_nnp_neb"] for r in sel], [r["barrier_xtb_neb"] for r in sel])
                summary[f"{name}_ts_match_fraction"] = float(np.mean([r["ts_matches"] for r in sel]))
    print(f"CI-NEB, {len(rows)} reactions: NNP batch {t_cold:.1f} s cold / {t_warm} s warm, {calls_nnp} force calls", flush=True)
    if not args.skip_xtb:
        print(f"GFN2-xTB {t_xtb_total:.1f} s, {calls_xtb} force calls; xTB/NNP wall ratio {summary['ratio_cold']:.2f} cold, "
              f"{summary['ratio_warm']} warm", flush=True)  # fmt: skip

    def save(pipeline):
        write_report(args.out, {"summary": summary, "reactions": rows, "pipeline": pipeline, "load_average": [min(load), max(load)]})

    save(None)
    print(json.dumps(summary, indent=1), flush=True)

    if not args.skip_pipeline:
        pipeline = run_pipeline(rx, nnp, args)
        load.append(os.getloadavg()[0])
        save(pipeline)

def refine_with_xtb(xtb, ci, ts) -> dict:
    """Part 2 for one reaction: the NNP's climbing image `ci` refined with GFN2-xTB
    (RS-P-RFO, ``fmax`` 0.01 eV/Å, 300 steps) and judged against the data set's TS `ts`."""
    t = time.perf_counter()
    sp = saddle_search(xtb, jnp.asarray(ci), RSPRFO(), fmax=0.01, max_steps=300)
    d_ts = float(rmsd(jnp.asarray(sp.R), jnp.asarray(ts)))
    return {"ts_refined_converged": bool(sp.converged), "ts_refined_rmsd": d_ts, "ts_matches": bool(sp.converged) and d_ts < 0.05,
            "ts_refine_force_calls": int(sp.n_force_calls), "ts_refine_s": time.perf_counter() - t}  # fmt: skip


def refine_stored(args) -> None:
    """`--refine-from`: part 2 alone, on the climbing images part 1 stored (its rows'
    ``nnp_climbing_image``), each reaction's row written to `--out` as soon as it is done;
    run again, it goes on from the reactions there."""
    with open(args.refine_from) as fh:
        stored = json.load(fh)["reactions"][: args.limit]
    data = {r["rxn"]: r for r in reactions(heldout_only=False, model=args.model)}
    rows = {}
    if os.path.exists(args.out):
        with open(args.out) as fh:
            kept = json.load(fh)
        if kept.get("refine_from") == os.path.basename(args.refine_from):
            rows = {row["rxn"]: row for row in kept["reactions"]}
    for k, st in enumerate(stored):
        if st["rxn"] in rows:
            continue
        r = data[st["rxn"]]
        xtb = xtb_potential(r["numbers"])
        rows[st["rxn"]] = {key: st[key] for key in ("rxn", "heldout", "n_atoms", "barrier_data", "barrier_nnp_neb", "nnp_neb_converged",
                                                    "nnp_ci_rmsd_to_data_ts")} | refine_with_xtb(xtb, st["nnp_climbing_image"], r["ts"])  # fmt: skip
        xtb.energy_fn.close()
        done = list(rows.values())
        summary = {"n_reactions": len(done), "ts_match_fraction": float(np.mean([row["ts_matches"] for row in done])),
                   "ts_match_fraction_converged_bands": float(np.mean([row["ts_matches"] for row in done if row["nnp_neb_converged"]] or [np.nan])),
                   "ts_refine_force_calls": sum(row["ts_refine_force_calls"] for row in done)}  # fmt: skip
        write_report(args.out, {"refine_from": os.path.basename(args.refine_from), "summary": summary, "reactions": done,
                                "load_average": os.getloadavg()[0]})  # fmt: skip
        print(f"[{k + 1}/{len(stored)}] {st['rxn']}: matches {rows[st['rxn']]['ts_matches']} "
              f"({rows[st['rxn']]['ts_refined_rmsd']:.3f} Å, {rows[st['rxn']]['ts_refine_force_calls']} gradients); {summary}", flush=True)  # fmt: skip


def write_json(path: str, obj: dict, **dump_kwargs) -> None:
    """`obj` to `path` through a temporary file: a kill mid-write keeps the previous file,
    so the resumable runs here (part 3's checkpoint, `--refine-from`'s rows) lose no work."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as fh:
        json.dump(obj, fh, default=float, **dump_kwargs)
    os.replace(path + ".tmp", path)


def write_report(path: str, report: dict) -> None:
    write_json(path, {**report, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, indent=1)

def nnp_pipeline(rx, nnp, args) -> tuple[list[dict], float]:
    """The NNP's side of part 3 (`nnp`: its potential for each reaction of `rx`), one row
    per reaction and the seconds it took:
    :func:`jaxrxn.batch.find_reactions` on chunks of `--batch-size` reactions (all at once
    without it), each chunk's rows and seconds written to ``OUT.checkpoint.json`` (`--out`
    with that suffix) as soon as it is done; run again with the same settings it goes on
    from the reactions there (a killed run loses only its chunk in progress; the seconds
    add up each run's, compiling included). A second process may take the chunks from
    the end (`--from-end`, its own `--out`); `--merge` then adds its rows and seconds."""
    checkpoint = os.path.splitext(args.out)[0] + ".checkpoint.json"
    # a member's result does not depend on its batch, up to rounding (a vmapped loop
    # freezes each finished member), so a run may go on with another `--batch-size`;
    # each row records the size of the batch it ran in
    settings = {"model": args.model, "images": args.images, "relax": not args.no_relax}
    saved = {"settings": settings, "rows": {}, "seconds": 0.0}
    if os.path.exists(checkpoint):
        with open(checkpoint) as fh:
            kept = json.load(fh)
        if {k: v for k, v in kept["settings"].items() if k != "batch_size"} == settings:
            rows = {rxn: {"batch_size": kept["settings"].get("batch_size"), **row} for rxn, row in kept["rows"].items()}
            saved = {**kept, "settings": settings, "rows": rows}
        else:
            print(f"NNP pipeline: {checkpoint} has other settings ({kept['settings']}): starting afresh", flush=True)
    for other in args.merge:  # a --from-end process's rows; its seconds add up as a second core's
        with open(other) as fh:
            kept = json.load(fh)
        if kept["settings"] != settings:
            raise SystemExit(f"{other} has other settings ({kept['settings']}) than this run ({settings})")
        new = {rxn: row for rxn, row in kept["rows"].items() if rxn not in saved["rows"]}
        saved["rows"].update(new)
        saved["seconds"] += kept["seconds"]
        print(f"NNP pipeline: {len(new)} reactions merged from {other}", flush=True)
    if args.merge:
        write_json(checkpoint, saved)
    todo = [k for k, r in enumerate(rx) if r["rxn"] not in saved["rows"]]
    if args.from_end:
        todo = todo[::-1]
    print(f"NNP pipeline: {len(rx) - len(todo)} of {len(rx)} reactions from {checkpoint}", flush=True)
    size = args.batch_size or max(len(todo), 1)
    for start in range(0, len(todo), size):
        chunk = todo[start : start + size]
        t = time.perf_counter()
        results = find_reactions([(rx[k]["R0"], rx[k]["R1"]) for k in chunk], [nnp[k] for k in chunk], n_images=args.images, batch_size=args.batch_size,
                                 relax=not args.no_relax, progress=lambda line: print(f"NNP pipeline: {line}", flush=True))  # fmt: skip
        saved["seconds"] += time.perf_counter() - t
        for k, a in zip(chunk, results):
            saved["rows"][rx[k]["rxn"]] = {"nnp": a.barrier, "nnp_converged": bool(a.converged), "nnp_force_calls": int(a.n_force_calls),
                                       "nnp_failed_stage": a.failed_stage, "batch_size": len(chunk),
                                       "nnp_ts_rmsd_to_data_ts": float(rmsd(jnp.asarray(a.R_ts), jnp.asarray(rx[k]["ts"])))}  # fmt: skip
        write_json(checkpoint, saved)
        print(f"NNP pipeline: {len(saved['rows'])} of {len(rx)} reactions done, {saved['seconds']:.1f} s in all", flush=True)
    return [saved["rows"][r["rxn"]] for r in rx], saved["seconds"]


def run_pipeline(rx, nnp, args) -> dict:
    """Part 3: :func:`jaxrxn.batch.find_reactions` with the NNP (padded batches, its defaults
    for a JAX potential: end states relaxed, CI-NEB, P-RFO, IRC) against GFN2-xTB's pipeline
    per reaction: run here (the band alone, as the NNP's), or with `--skip-xtb` its default
    pipeline's recorded rows (`--xtb-pipeline`). Barriers against the data set's."""
    out_nnp, t_nnp = nnp_pipeline(rx, nnp, args)
    if args.skip_xtb:
        with open(args.xtb_pipeline) as fh:
            recorded = {row["rxn"]: row["max first pipeline: model"] for row in json.load(fh)["reactions"] if "max first pipeline: model" in row}
        xtb = [recorded.get(r["rxn"]) for r in rx]
        xtb = [None if x is None else {"verified": x["converged"], "force_calls": x["n_force_calls"], "s": x["seconds"], "failed_stage": x["failed_stage"]}
               for x in xtb]  # fmt: skip
    else:
        xtb = []
        for r in rx:
            pot = xtb_potential(r["numbers"])
            t = time.perf_counter()
            # the band alone, as the NNP's batch (and as when the results were made)
            b = find_reaction(r["R0"], r["R1"], pot, n_images=args.images, refine_interpolation_max=False)
            xtb.append({"verified": b.converged, "force_calls": b.n_force_calls, "s": time.perf_counter() - t, "failed_stage": b.failed_stage,
                        "barrier": b.barrier})  # fmt: skip
            pot.energy_fn.close()
    per = [{"rxn": r["rxn"], "heldout": r["heldout"], "n_atoms": len(r["numbers"]), "barrier_data": r["barrier"], **a, "xtb": x}
           for r, a, x in zip(rx, out_nnp, xtb)]  # fmt: skip
    held = [p for p in per if p["heldout"]]
    verified = [p for p in held if p["nnp_converged"]]
    with_xtb = [p for p in per if p["xtb"] is not None]
    t_x = sum(p["xtb"]["s"] for p in with_xtb)
    out = {
        "nnp_relaxed_end_states": not args.no_relax, "nnp_s": t_nnp, "nnp_force_calls": sum(p["nnp_force_calls"] for p in per), "nnp_verified": len([p for p in per if p["nnp_converged"]]),
        "xtb_side": "recorded default pipeline (" + os.path.basename(args.xtb_pipeline) + ")" if args.skip_xtb else "run here, band alone",
        "xtb_reactions": len(with_xtb), "xtb_s": t_x, "xtb_force_calls": sum(p["xtb"]["force_calls"] for p in with_xtb),
        "xtb_verified": sum(bool(p["xtb"]["verified"]) for p in with_xtb), "ratio": t_x / t_nnp,
        "heldout_barrier_mae_nnp_vs_data": mae([np.nan if p["nnp"] is None else p["nnp"] for p in held], [p["barrier_data"] for p in held]) if held else None,
        "heldout_verified": len(verified),
        "heldout_verified_barrier_mae_nnp_vs_data": mae([p["nnp"] for p in verified], [p["barrier_data"] for p in verified]) if verified else None,
        "reactions": per,
    }  # fmt: skip
    print(f"pipeline: NNP batch {t_nnp:.1f} s, {out['nnp_verified']} verified; GFN2-xTB {t_x:.1f} s, {out['xtb_verified']} verified "
          f"(ratio {out['ratio']:.2f}); held-out barrier MAE {out['heldout_barrier_mae_nnp_vs_data']}, "
          f"verified only {out['heldout_verified_barrier_mae_nnp_vs_data']}", flush=True)  # fmt: skip
    return out

if __name__ == "__main__":
    main()
