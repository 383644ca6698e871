"""How the shipped GFN2-xTB TS generator is used: integration steps, ensembles of guesses,
and the first mode guess of the refinement, on the held-out reactions.

The generator (``jaxrxn generate-ts``, :func:`jaxrxn.generative.ts_generator.sample_ts`)
integrates its learned flow from the IS-FS midpoint with Heun's method in 4 steps, one
way (IS -> FS), without source noise. This script measures the alternatives a user might
reach for, on the data set's held-out reactions (``test`` and ``val`` molecules, never seen
in training), by the TS RMSD after Kabsch alignment (Å) to the data set's TS; no energy
is computed for these:

- integration: Euler 1 step, Heun 2, 4 (shipped), 8 steps, Euler 16;
- the reversed reaction (FS -> IS: the TS is the same saddle), and the mean of the forward
  and reversed guesses (both in the reactant's frame, so no alignment is needed);
- the mean of `--samples` guesses with source noise of the training's width
  (``TSFlowConfig.sigma_source``, 0.02 Å), and of 0.1 Å;

and with ``--refine`` (GFN2-xTB, on the first `--limit` held-out reactions, reactive first,
as ``benchmarks/ts_generator_xtb.py`` refines): RS-P-RFO from the generated TS
(``jaxrxn generate-ts --polish``'s settings) whose first Davidson refinement starts from the
gradient (shipped), from the bisector of the IS->guess and guess->FS directions (the
tangent of a three-image band through the guess), or from FS - IS; success = the data
set's TS (Kabsch RMSD < 0.1 Å and energy within 0.01 eV), gradient calls.

    OMP_NUM_THREADS=1 python benchmarks/ts_generator_sampling.py --refine

Writes ``benchmarks/results/ts_generator_sampling.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from _generative import data_record, file_sha256  # noqa: E402
from ts_generator_xtb import generated_ts, held_out_reactions, refine_ts, stored_ts  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
SHIPPED = HERE.parent / "jaxrxn" / "data" / "ts_generator_gfn2_xtb.npz"
INTEGRATION = (("euler", 1), ("heun", 2), ("heun", 4), ("heun", 8), ("euler", 16))


def _unit(v):
    return v / np.linalg.norm(v)


def main():
    from jaxrxn.datasets import shipped_dataset
    from jaxrxn.generative.flow import load_model
    from jaxrxn.generative.ts_generator import TSFlowConfig, canonical_frame, sample_ts
    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.potentials.qm import xtb_potential

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=shipped_dataset())
    ap.add_argument("--load", default=str(SHIPPED), help="the saved TS generator (default: the shipped one)")
    ap.add_argument("--samples", type=int, default=8, help="noisy guesses averaged per reaction")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--refine", action="store_true", help="also refine with GFN2-xTB from three first mode guesses")
    ap.add_argument("--limit", type=int, default=40, help="reactions refined (the first held-out ones, reactive first)")
    ap.add_argument("--out", default=str(HERE / "results" / "ts_generator_sampling.json"))
    a = ap.parse_args()

    model, params, _ = load_model(a.load)
    held = held_out_reactions(a.data)
    sigma_train = TSFlowConfig().sigma_source

    @eqx.filter_jit
    def generate(x_is, x_fs, numbers, key, sigma, method, n_steps):
        return sample_ts(model, params, x_is, x_fs, numbers, key, n_steps=n_steps, method=method, sigma=sigma)[0]

    def guesses(r, key):
        """Every variant's guess for reaction `r`, in the stored reactant's frame."""
        x_is, x_fs = (jnp.asarray(x) for x in canonical_frame(r.reactant, r.product))
        z, shift = jnp.asarray(r.numbers), np.mean(r.reactant, axis=0)
        run = lambda a_, b_, sigma=0.0, method="heun", n=4, k=key: np.asarray(generate(a_, b_, z, k, sigma, method, n)) + shift  # noqa: E731
        out = {f"{m} {n}": run(x_is, x_fs, method=m, n=n) for m, n in INTEGRATION}
        out["reversed"] = run(x_fs, x_is)
        out["mean of forward and reversed"] = 0.5 * (out["heun 4"] + out["reversed"])
        keys = jax.random.split(key, a.samples)
        for sigma in (sigma_train, 0.1):
            out[f"mean of {a.samples} with noise {sigma} Å"] = np.mean([run(x_is, x_fs, sigma=sigma, k=k) for k in keys], axis=0)
        return out

    t0 = time.perf_counter()
    rmsd: dict[str, list[float]] = {}
    key = jax.random.key(a.seed)
    for i, r in enumerate(held):
        x_ts = np.asarray(r.transition_state, float)
        for name, X in guesses(r, jax.random.fold_in(key, i)).items():
            rmsd.setdefault(name, []).append(rmsd_numpy(X, x_ts))
    shipped = np.array(rmsd["heun 4"])
    sampling = {name: {"rmsd_median": float(np.median(d)), "rmsd_mean": float(np.mean(d)),
                       "closer_than_shipped": int(np.sum(np.array(d) < shipped - 1e-9))} for name, d in rmsd.items()}  # fmt: skip
    for name, s in sampling.items():
        print(f"{name:40s} median {s['rmsd_median']:.4f}  mean {s['rmsd_mean']:.4f}  closer on {s['closer_than_shipped']}", flush=True)
    result = {"command": " ".join(["python", "benchmarks/ts_generator_sampling.py", *sys.argv[1:]]),
              "model": file_sha256(a.load), "data": data_record(a.data, None, len(held)), "samples": a.samples,
              "sigma_source_training": sigma_train, "sampling": sampling, "sampling_seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip

    if a.refine:
        rows = []
        for r in held[: a.limit]:
            pot = xtb_potential(r.numbers)
            x_ts, e_ts = stored_ts(r)
            x_is, x_fs = np.asarray(r.reactant, float), np.asarray(r.product, float)
            g = generated_ts(model, params, r)  # the shipped use, as "heun 4" above
            starts = {"gradient": None, "bisector": _unit(_unit(x_fs - g) + _unit(g - x_is)), "FS - IS": _unit(x_fs - x_is)}
            row = {"rxn": r.rxn, "n_atoms": len(r.numbers)}
            row.update({name: refine_ts(pot, r.numbers, g, x_ts, e_ts, mode0=m) for name, m in starts.items()})
            print(json.dumps(row), flush=True)
            rows.append(row)
        result["refined"] = {name: {"same_ts": int(sum(row[name]["same_ts"] for row in rows)), "reactions": len(rows),
                                    "n_force_calls_median": float(np.median([row[name]["n_force_calls"] for row in rows])),
                                    "n_force_calls_total": int(sum(row[name]["n_force_calls"] for row in rows))}
                             for name in ("gradient", "bisector", "FS - IS")}  # fmt: skip
        result["reactions"] = rows
        print(json.dumps(result["refined"], indent=1))
    pathlib.Path(a.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
