"""GFN2-xTB saddle searches started from the shipped neural-network potential's Hessian (an ML
Hessian) instead of a model Hessian: refinements from the generated TS, the geodesic maximum
and the NNP's own climbing image, and the whole reaction pipeline.

Per held-out reaction of the shipped data set (``val`` and ``test`` molecules, never seen by
the TS generator or the NNP in training; reactive first), the shipped TS generator's guess
(Heun, 4 steps, as ``jaxrxn generate-ts``) is refined with GFN2-xTB (tblite, one thread) by
RS-P-RFO with ``jaxrxn generate-ts --polish``'s settings
(:func:`jaxrxn.reaction.molecular_saddle_solver`: redundant internal coordinates, TS-BFGS,
Sella's trust policy, fmax 0.01 eV/Å, 300 steps), started from four Hessians:

- ``model``: Fischer-Almlöf's model Hessian, its lowest mode refined by Davidson from the
  gradient (up to 8 gradient differences): the shipped setting;
- ``nnp``: the shipped NNP's exact Hessian at the guess
  (``RSPRFO(initial_hessian=nnp_potential)``), then the same Davidson refinement;
- ``nnp, no Davidson``: the NNP's Hessian trusted as it is (``davidson_max=0``);
- ``nnp, Davidson from its mode``: the NNP's Hessian, the Davidson refinement started from
  its lowest mode (``davidson_start="model"``) instead of the gradient.

``geodesic max: model`` and ``geodesic max: nnp, no Davidson`` start the same two searches
from the model-free guess instead: the highest interior image of the geodesic band (11
images, :func:`jaxrxn.path.geodesic_interpolation.geodesic`; its 9 GFN2-xTB energies are
not gradients and are not counted), the start of ``find_reaction``'s default for molecules.

``nnp climbing image: model`` and ``nnp climbing image: nnp, Davidson from its mode`` refine
the climbing images of the shipped NNP's own batched CI-NEB on the 223
(results/nnp_batch_neb_heldout_all_ft40k.json, ``--climbing-images``; benchmarks/nnp_batch_neb.py,
no GFN2-xTB call) with GFN2-xTB: the NNP's path and the NNP's Hessian, GFN2-xTB only for the
last refinement.

``max first pipeline: model`` and ``max first pipeline: nnp`` run ``jaxrxn reaction``'s default
pipeline for a molecule (:func:`jaxrxn.find_reaction` from the stored end states, not relaxed
again: geodesic band of 8 images, the saddle search from its highest image first, then the
CI-NEB; frequencies; IRC; benchmarks/ts_generator_xtb.py's ``pipeline_ts``) without and
with ``hessian_from`` = the NNP (``--hessian-from nnp``): success = its last first-order
saddle is the data set's TS (up to symmetry), ``converged`` = verified by the IRC; every
stage's GFN2-xTB gradients counted (``n_force_calls``; ``n_force_calls_to_ts``: the band's
and the saddle searches').

Success = converged to the data set's TS (Kabsch RMSD < 0.1 Å, also over mirror images and
renumbered like atoms, and energy within 0.01 eV), as benchmarks/ts_generator_xtb.py judges
its refinements. Counted: GFN2-xTB gradients (every energy+force call, the Davidson
products included); the NNP's Hessian is not a GFN2-xTB call (its seconds are in the
wall time). The idea: E. C.-Y. Yuan et al., Nat. Commun. 15, 8865 (2024) (NewtonNet Hessians for
TS optimisation at the DFT level).

    OMP_NUM_THREADS=1 python benchmarks/ml_hessian_ts.py [--limit N] [--part I/N --out P.json] [--merge P0.json P1.json]

The pipeline rows of the committed results (session 37), added to session 36's::

    OMP_NUM_THREADS=1 python benchmarks/ml_hessian_ts.py --variants "max first pipeline: model" "max first pipeline: nnp" --part 0/2 --out M0.json   # and 1/2, M1.json
    OMP_NUM_THREADS=1 python benchmarks/ml_hessian_ts.py --variants "max first pipeline: model" "max first pipeline: nnp" --merge M0.json M1.json

and the NNP's climbing images, in their own file (session 37 ran the first 131 reactions
without a limit: on the 132nd, rxn0184_0003, the NNP-Hessian search reaches geometries where
GFN2-xTB's SCF converges only on retries, tens of seconds per gradient, and the run was
stopped; session 38 resumed it with each search limited to 300 s, which none of the first
131 had needed (their longest: 129 s))::

    OMP_NUM_THREADS=1 python benchmarks/ml_hessian_ts.py --variants "nnp climbing image: model" "nnp climbing image: nnp, Davidson from its mode" --out benchmarks/results/ml_hessian_ts_nnp_ci.json --resume --search-seconds 300

``--search-seconds S`` ends a refinement still running after S seconds
(:func:`jaxrxn.potentials.external.time_limit`; the row says ``time_limited``): a failure.

``--out`` (default ``benchmarks/results/ml_hessian_ts.json``) is rewritten after every
reaction; ``--resume`` keeps the reactions already there; ``--part``/``--merge`` split a run
over processes as the other generator benchmarks do.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import pathlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from _generative import add_part_arguments, data_record, evaluate_each, evaluated_by, file_sha256, part_of, rows_to_resume  # noqa: E402
from ts_generator_xtb import (  # noqa: E402
    SAME_TS_DE, SAME_TS_RMSD, _saddle, generated_ts, held_out_reactions, highest_interior_image, pipeline_ts, same_ts_up_to_symmetry,
    stored_ts,
)  # fmt: skip

HERE = pathlib.Path(__file__).resolve().parent
GEODESIC = "geodesic max: "
PIPELINE = "max first pipeline: "
NNP_CI = "nnp climbing image: "
VARIANTS = ("model", "nnp", "nnp, no Davidson", "nnp, Davidson from its mode", GEODESIC + "model", GEODESIC + "nnp, no Davidson",
            PIPELINE + "model", PIPELINE + "nnp", NNP_CI + "model", NNP_CI + "nnp, Davidson from its mode")  # fmt: skip
#: the shipped NNP's batched CI-NEB on all 223 held-out reactions (benchmarks/nnp_batch_neb.py, session 35)
CLIMBING_IMAGES = HERE / "results" / "nnp_batch_neb_heldout_all_ft40k.json"


def solver_of(variant: str, numbers, X, nnp):
    """The RS-P-RFO of `variant` (module docstring) for the guess `X` ``(N, 3)`` (Å)."""
    from jaxrxn.reaction import molecular_saddle_solver

    variant = variant.removeprefix(GEODESIC).removeprefix(NNP_CI)  # the pipeline's variants: find_reaction builds the solver
    if variant == "nnp, Davidson from its mode":
        return molecular_saddle_solver(numbers, X, hessian_from=nnp)  # the CLI's --hessian-from
    solver = molecular_saddle_solver(numbers, X)
    if variant == "model":
        return solver
    return dataclasses.replace(solver, initial_hessian=nnp, **({"davidson_max": 0} if variant == "nnp, no Davidson" else {}))


def refine(pot, numbers, X, x_ts, e_ts, variant, nnp, seconds_limit=None) -> dict:
    """One RS-P-RFO of `variant` from `X` on GFN2-xTB `pot`, judged against the data set's TS;
    with `seconds_limit`, a search still running after that many seconds fails there
    (``time_limited``; jaxrxn.potentials.external.time_limit)."""
    from jaxrxn.geometry import rmsd_numpy, rmsd_up_to_symmetry
    from jaxrxn.potentials.external import time_limit, time_limited

    t0, n_failed = time.perf_counter(), len(pot.energy_fn.failures)
    with time_limit(pot, seconds_limit) if seconds_limit else contextlib.nullcontext():
        res = _saddle(pot, jnp.asarray(X), solver_of(variant, numbers, X, nnp))
    seconds = time.perf_counter() - t0
    limited = time_limited(pot.energy_fn.failures[n_failed:])
    R, de = np.asarray(res.R), float(res.energy) - e_ts
    rmsd = rmsd_numpy(R, x_ts)
    if rmsd >= SAME_TS_RMSD and abs(de) < SAME_TS_DE:
        rmsd = min(rmsd, rmsd_up_to_symmetry(R, x_ts, numbers))
    same = bool(res.converged) and rmsd < SAME_TS_RMSD and abs(de) < SAME_TS_DE
    return {"converged": bool(res.converged), "same_ts": same, "rmsd_to_data_ts": rmsd, "ts_minus_data_ev": de,
            "n_force_calls": int(res.n_force_calls), "seconds": round(seconds, 2), **({"time_limited": True} if limited else {})}  # fmt: skip


def evaluate(r, generator, nnp_model, variants, climbing_images, seconds_limit=None) -> dict:
    from jaxrxn.nnp.model import nnp_potential
    from jaxrxn.potentials.qm import xtb_potential

    pot = xtb_potential(r.numbers)
    nnp = nnp_potential(nnp_model[0], nnp_model[1], np.asarray(r.numbers))
    x_ts, e_ts = stored_ts(r)
    starts = {}
    if any(not v.startswith((GEODESIC, PIPELINE)) for v in variants):
        starts[""] = generated_ts(*generator, r)
    if any(v.startswith(GEODESIC) for v in variants):
        starts[GEODESIC] = geodesic_max(pot, r)
    if any(v.startswith(NNP_CI) for v in variants):
        starts[NNP_CI] = np.asarray(climbing_images[r.rxn], float)
    row = {"rxn": r.rxn, "formula": r.formula, "n_atoms": len(r.numbers)}
    for variant in variants:
        if variant.startswith(PIPELINE):
            row[variant] = pipeline(pot, r, x_ts, e_ts, nnp if variant == PIPELINE + "nnp" else None)
            continue
        X = starts[next((prefix for prefix in (GEODESIC, NNP_CI) if variant.startswith(prefix)), "")]
        row[variant] = refine(pot, r.numbers, X, x_ts, e_ts, variant, nnp, seconds_limit)
    print(json.dumps(row), flush=True)
    return row


def pipeline(pot, r, x_ts, e_ts, hessian_from) -> dict:
    """``jaxrxn reaction``'s default pipeline for a molecule on GFN2-xTB from reaction `r`'s
    stored end states (not relaxed again; geodesic, 8 images, the interpolation's highest
    image first, then the CI-NEB; ts_generator_xtb.pipeline_ts), its saddle searches
    started from `hessian_from`'s exact Hessian (``--hessian-from nnp``) or not;
    ``same_ts`` up to symmetry, as the refinements judge it."""
    t0 = time.perf_counter()
    row = pipeline_ts(pot, np.asarray(r.reactant, float), np.asarray(r.product, float), x_ts, e_ts, refine_interpolation_max=True,
                      hessian_from=hessian_from)  # fmt: skip
    return {**row, "same_ts": same_ts_up_to_symmetry(row), "seconds": round(time.perf_counter() - t0, 2)}


def geodesic_max(pot, r) -> np.ndarray:
    """The highest interior image (GFN2-xTB energy) of the 11-image geodesic band between
    reaction `r`'s stored end states."""
    from jaxrxn.path.geodesic_interpolation import geodesic
    from jaxrxn.system import System

    return highest_interior_image(pot, geodesic(jnp.asarray(r.reactant), jnp.asarray(r.product), 11, System(jnp.asarray(r.numbers))).path)


def summarise(rows: list[dict]) -> dict:
    out = {"held_out_reactions": len(rows)}
    for v in [v for v in VARIANTS if rows and all(v in row for row in rows)]:
        calls = [row[v]["n_force_calls"] for row in rows]
        out[v] = {"success": float(np.mean([row[v]["same_ts"] for row in rows])), "converged": float(np.mean([row[v]["converged"] for row in rows])),
                  "n_force_calls_median": float(np.median(calls)), "n_force_calls_total": int(sum(calls)),
                  "seconds_total": round(sum(row[v]["seconds"] for row in rows), 1)}  # fmt: skip
        base = next((prefix for prefix in (GEODESIC, PIPELINE, NNP_CI) if v.startswith(prefix)), "") + "model"
        if v.startswith(PIPELINE):
            out[v]["n_force_calls_to_ts_total"] = int(sum(row[v]["n_force_calls_to_ts"] for row in rows))
        both = [row for row in rows if base in row and row[v]["same_ts"] and row[base]["same_ts"]]
        if v != base and both:
            out[v][f"vs {base} where both succeed"] = {
                "reactions": len(both),
                "n_force_calls": [int(sum(row[v]["n_force_calls"] for row in both)), int(sum(row[base]["n_force_calls"] for row in both))],
                "median_calls": [float(np.median([row[v]["n_force_calls"] for row in both])), float(np.median([row[base]["n_force_calls"] for row in both]))],
            }  # fmt: skip
    return out


def main():
    from jaxrxn.datasets import shipped_dataset
    from jaxrxn.generative.ts_generator import load_pretrained as load_generator
    from jaxrxn.nnp.model import DEFAULT, load_pretrained as load_nnp, model_path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=shipped_dataset())
    ap.add_argument("--limit", type=int, help="only the first LIMIT held-out reactions (reactive first)")
    ap.add_argument("--out", default=str(HERE / "results" / "ml_hessian_ts.json"))
    ap.add_argument("--resume", action="store_true", help="keep the reactions already in --out")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                    help="the starting Hessians to run (default all; rows of another run with --merge add theirs)")
    ap.add_argument("--climbing-images", default=str(CLIMBING_IMAGES),
                    help="results of benchmarks/nnp_batch_neb.py whose NNP climbing images start the 'nnp climbing image' variants")
    ap.add_argument("--search-seconds", type=float,
                    help="wall-clock limit of each refinement (not the pipeline variants): past it the search fails, recorded as time_limited")
    add_part_arguments(ap)
    a = ap.parse_args()

    held = held_out_reactions(a.data)[: a.limit]
    generator = load_generator()[:2]
    nnp_model = load_nnp()[:2]
    identity = {"nnp": file_sha256(model_path(DEFAULT)), "data": data_record(a.data, 0, len(held))}
    rows = rows_to_resume(a, [r.rxn for r in held], **identity)
    by = evaluated_by("ml_hessian_ts.py", a.out, rows, a.merge)

    def write(rows):
        pathlib.Path(a.out).write_text(json.dumps({"evaluated_by": by, **identity, "summary": summarise(rows), "reactions": rows}, indent=1))

    todo = held if a.merge else part_of(held, a.part)
    climbing_images = {}
    if any(v.startswith(NNP_CI) for v in a.variants):
        climbing_images = {row["rxn"]: row["nnp_climbing_image"] for row in json.loads(pathlib.Path(a.climbing_images).read_text())["reactions"]}
    rows = evaluate_each(todo, rows, lambda r: evaluate(r, generator, nnp_model, a.variants, climbing_images, a.search_seconds), write)
    print(json.dumps(summarise(rows), indent=1))


if __name__ == "__main__":
    main()
