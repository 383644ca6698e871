"""Train the pretrained GFN2-xTB flow generator (path and product from the reactant alone)
on the shipped data set and measure it on held-out reactant molecules.

Data: ``jaxrxn/data/xtb_reactions.h5`` (``--data``), split by reactant molecule as for
the TS generator (``benchmarks/ts_generator_xtb.py``): the model trains on ``train``
(each reaction also run backwards, :func:`~jaxrxn.generative.data.molecular_pathset`);
the reactants of the ``val`` and ``test`` reactions (molecules never seen in training)
are the held-out starts. Model: :class:`~jaxrxn.generative.flow.AtomisticFlow` (PaiNN,
padded batches), trained by :func:`~jaxrxn.generative.flow.train` (the loop of the other
generators), per-atom flags on the atoms whose bonds change as the condition, dropped
with probability ``--p-drop``; generation from the reactant alone uses the unconditioned
mode with a random kick (``--kick`` Å) per sample, as ``jaxrxn generate-path`` does.

Per held-out reactant, ``--samples`` K paths (default 32), each product relaxed with
GFN2-xTB (tblite, one thread; L-BFGS to 0.05 eV/Å, at most 300 steps) and checked by
:func:`~jaxrxn.generative.flow.product_check`: *valid* = the relaxation converged, the
bonding is sane (H one bond, C at most 4, N at most 4, O at most 2, no bare atom, no
atoms closer than 0.6 Å) and the bond graph differs
from the reactant's; *found* = a valid product has the held-out reaction's product bond
graph (order-independent hash, :func:`jaxrxn.datasets.molecules.graph_hash`), counted over
the reactive held-out reactions only (:func:`summarise`). Reported:
fraction of valid products, fraction of held-out reactions found, distinct valid products
per reactant, relaxation gradient calls. ``--baseline``: the same for the reactant displaced
at random by each generated product's RMSD (the control: is the flow better than distorting).
``--neb``: where a valid sample has the held-out product, CI-NEB with GFN2-xTB (the reaction
pipeline's settings, ``--neb-images``, ``--neb-steps``) from that sample's own path (its
frames between the reactant and its relaxed product, resampled by arc length) and from the
geodesic interpolation between the same two ends: converged or not, force calls, barrier,
whether the two climbing images are the same saddle (within 0.1 Å) and how far each is from
the data set's TS (the generated product may be another conformer of the data set's).

``--save FILE`` writes the model with its metadata (this command line, seed, data-set
checksum, elements, largest size, the generated products of the first held-out
reactants that ``tests/test_generate_path.py`` re-checks; with an evaluation also the
held-out metrics). ``--load FILE`` evaluates a saved model instead of training one (``--save``
then writes it again with the metrics; its training command and configuration are kept).
``--no-eval`` only trains. ``--resume`` keeps the held-out reactants already evaluated in
``--out`` (same model, data, K, ``--baseline`` and NEB settings; the file is rewritten after
each one) and evaluates the rest; ``--part I/N`` and ``--merge`` split one evaluation over
processes and join their files (as in benchmarks/ts_generator_xtb.py). ``--baseline`` takes no ``--neb`` (the control has no path). The shipped weights (the checkpoint makes the run resumable bit
for bit), then their evaluation::

    OMP_NUM_THREADS=1 python benchmarks/flow_generator_xtb.py --steps 3000 --no-eval --save jaxrxn/data/flow_generator_gfn2_xtb.npz --checkpoint CKPT
    OMP_NUM_THREADS=1 python benchmarks/flow_generator_xtb.py --load jaxrxn/data/flow_generator_gfn2_xtb.npz --limit 40 --neb

(806 train reactions of the full data set; 3,000 steps in 350 s beside another training run
on 2 cores. Evaluated on the 40 smallest of the 223 held-out reactions, 6-8 atoms, K = 32,
``--limit 40 --neb``: valid products 0.82, held-out product found for 26 of the 36
reactive reactions (13 of 17 among the first 20), 12.1 distinct valid products per
reactant, median 35.5 relaxation gradients; CI-NEB from the flow's path to a product with
the held-out reaction's graph (29 reactions) converged for 5 of 29, from the geodesic
band between the same ends for 9 of 29; on the 3 where both converged (the same saddle)
6,189 vs 7,737 force calls. The control ``--baseline`` on the first 6 (session 21; the
sixth reactant took 5,246 s): fewer valid products than the flow (135 vs 151 of 192), as
many found reactions (4 of the 4 reactive). The previous model, trained on the 48 train
reactions of the 62-reaction snapshot for 1,500 steps: 0.77 valid, 7 of 10 found, on that
snapshot's held-out reactions.)

Writes ``benchmarks/results/flow_generator_xtb.json`` (``--out``).
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

from _generative import NEB_FMAX, add_part_arguments, add_training_arguments, data_record, evaluate_each, evaluated_by, part_of, rows_to_resume, xtb_ci_neb  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
#: generation settings of the benchmark, the test and ``jaxrxn generate-path``'s defaults
SAMPLE = {"n_steps": 40, "kick": 0.1, "eta": 0.5}


def main():
    from jaxrxn.datasets.molecules import BOND_SCALE
    from jaxrxn.generative.data import molecular_pathset, read_transition1x
    from jaxrxn.generative.flow import AtomisticFlow, FlowConfig, load_model, save_model, train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(ap, steps=1500)
    ap.add_argument("--points", type=int, default=11, help="images per training path")
    ap.add_argument("--p-drop", type=float, default=0.5, help="condition drop-out probability")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=32, help="paths per held-out reactant (K)")
    ap.add_argument("--limit", type=int, help="evaluate only the first LIMIT held-out reactants")
    ap.add_argument("--no-eval", action="store_true", help="train (and --save) only")
    ap.add_argument("--baseline", action="store_true",
                    help="control: relax the reactant displaced at random by each generated product's RMSD instead")
    ap.add_argument("--checkpoint", help="training checkpoint (resumed bit for bit if it exists)")
    ap.add_argument("--save", help="write the trained model (.npz) with its metadata")
    ap.add_argument("--load", help="evaluate this saved model instead of training one")
    ap.add_argument("--neb", action="store_true",
                    help="also CI-NEB with GFN2-xTB from the flow's path to a found product and from the geodesic one")
    ap.add_argument("--neb-images", type=int, default=11, help="images of both CI-NEB bands")
    ap.add_argument("--neb-steps", type=int, default=500)
    ap.add_argument("--out", default=str(HERE / "results" / "flow_generator_xtb.json"))
    ap.add_argument("--resume", action="store_true",
                    help="keep the reactants already in --out (same model, data and --baseline) and evaluate the rest")
    add_part_arguments(ap)
    a = ap.parse_args()
    if a.baseline and a.neb:
        ap.error("--neb starts CI-NEB from the flow's paths; the --baseline control has none")

    level = "GFN2-xTB"
    train_rxns = read_transition1x(a.data, "train", level=level)
    held = held_out(a.data)
    n_max = max(len(r.numbers) for r in train_rxns + held)
    data = molecular_pathset(train_rxns, BOND_SCALE, n_points=a.points, n_atoms=n_max)
    print(f"train: {len(train_rxns)} reactions ({len(data)} paths with the reversed ones); "
          f"held out: {len(held)} reactions from {len({int(r.extras['molecule']) for r in held})} molecules", flush=True)  # fmt: skip
    command = " ".join(["python", "benchmarks/flow_generator_xtb.py", *sys.argv[1:]])
    config = {"steps": a.steps, "batch": a.batch, "lr": a.lr, "features": a.features, "layers": a.layers,
              "points": a.points, "p_drop": a.p_drop, "seed": a.seed}  # fmt: skip
    meta_data = data_record(a.data, len(train_rxns), len(held))
    t0 = time.perf_counter()
    if a.load:
        model, params, meta = load_model(a.load)
        command, config = meta["command"], meta["config"]
    else:
        model = AtomisticFlow(features=a.features, n_layers=a.layers)
        cfg = FlowConfig(n_steps=a.steps, batch_size=a.batch, learning_rate=a.lr, p_drop=a.p_drop, seed=a.seed)
        log = lambda s, m: print(f"  step {s:6d}  " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()), flush=True)  # noqa: E731
        params = train(model, data, cfg, log_every=max(a.steps // 30, 1), callback=log, checkpoint=a.checkpoint).params
    train_s = time.perf_counter() - t0
    elements = sorted({int(z) for r in train_rxns for z in r.numbers})
    info = dict(elements=elements, max_atoms=n_max, level=level, command=command, data=meta_data, config=config, sample=SAMPLE)
    if a.save:  # what the test re-checks: the first generated products of the first held-out reactants
        info["check"] = [{"rxn": r.rxn, "samples": 4, "product_rmsd_to_reactant": generated_rmsds(model, params, r, 4)} for r in held[:2]]
    if a.no_eval:
        if a.save:
            save_model(a.save, model, params, **info)
            print(f"saved {a.save} ({pathlib.Path(a.save).stat().st_size / 1e6:.2f} MB) after {train_s:.0f} s")
        return
    neb = {"images": a.neb_images, "max_steps": a.neb_steps, "fmax": NEB_FMAX} if a.neb else None
    identity = {"command": command, "data": meta_data, "samples": a.samples, "baseline": a.baseline, "neb": neb}
    rows = rows_to_resume(a, [r.rxn for r in held], **identity)
    by = evaluated_by("flow_generator_xtb.py", a.out, rows, a.merge)

    def write(rows):
        result = {"command": command, "evaluated_by": by,
                  "data": meta_data, "config": config, "sample": SAMPLE, "samples": a.samples, "baseline": a.baseline, "neb": neb,
                  "train_seconds": None if a.load else round(train_s, 1), "summary": summarise(rows), "reactions": rows}  # fmt: skip
        pathlib.Path(a.out).write_text(json.dumps(result, indent=1) + "\n")

    evaluate_each(part_of(held[: a.limit], a.part), rows, lambda r: evaluate(model, params, r, a.samples, a.baseline, neb), write)
    summary = summarise(rows)  # also when every reactant was resumed
    print(json.dumps(summary, indent=1))
    if a.save:
        save_model(a.save, model, params, **info, held_out=summary)
        print(f"saved {a.save} ({pathlib.Path(a.save).stat().st_size / 1e6:.2f} MB)")


def held_out(path) -> list:
    """The held-out reactions (``test`` then ``val`` molecules), smallest molecule first."""
    from jaxrxn.generative.data import read_transition1x

    rxns = read_transition1x(path, "test", level="GFN2-xTB") + read_transition1x(path, "val", level="GFN2-xTB")
    return sorted(rxns, key=lambda r: (len(r.numbers), r.rxn))


def generated_rmsds(model, params, r, k: int) -> list[float]:
    """Kabsch RMSDs (Å) of the first `k` generated products (seed 0) from the reactant of
    `r`: what the test re-checks."""
    from jaxrxn.generative.flow import sample_paths
    from jaxrxn.geometry import rmsd_numpy

    frames, _ = sample_paths(model, params, np.asarray(r.reactant), np.asarray(r.numbers), jax.random.PRNGKey(0), k, **SAMPLE)
    x0 = np.asarray(r.reactant) - np.mean(r.reactant, axis=0)
    return [rmsd_numpy(np.asarray(f[-1]), x0) for f in frames]


@eqx.filter_jit
def _relax(pot, X):
    from jaxrxn.optimize import LBFGS, minimize

    return minimize(pot, X, LBFGS(maxstep=0.1), fmax=0.05, max_steps=300)


def random_displacements(x_is: np.ndarray, products: np.ndarray, seed: int = 0) -> np.ndarray:
    """The control of ``--baseline``: per product, the reactant ``x_is`` ``(N, 3)`` plus
    centred Gaussian noise scaled to that product's RMSD from it (no alignment), seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for P in products:
        xi = rng.normal(size=x_is.shape)
        xi -= xi.mean(axis=0)
        out.append(x_is + xi * np.sqrt(np.mean(np.sum((P - x_is) ** 2, -1)) / np.mean(np.sum(xi**2, -1))))
    return np.array(out)


def evaluate(model, params, r, k: int, baseline: bool = False, neb: dict | None = None) -> dict:
    from jaxrxn.datasets.molecules import BOND_SCALE, graph_hash
    from jaxrxn.generative.flow import product_check, sample_paths
    from jaxrxn.potentials.qm import xtb_potential

    numbers = np.asarray(r.numbers)
    pot = xtb_potential(numbers)
    t0 = time.perf_counter()
    frames, _ = sample_paths(model, params, np.asarray(r.reactant), numbers, jax.random.PRNGKey(0), k, **SAMPLE)
    x_is = np.asarray(r.reactant) - np.mean(r.reactant, axis=0)  # the paths' frame (their first image is kicked)
    target = graph_hash(numbers, np.asarray(r.product))
    products = np.asarray(frames[:, -1])
    if baseline:
        products = random_displacements(x_is, products)
    samples, relaxed = [], []
    for P in products:
        res = _relax(pot, jnp.asarray(P))
        R = np.asarray(res.R)
        relaxed.append(R)
        ok, reason = product_check(numbers, x_is, R, BOND_SCALE)
        valid = bool(res.converged) and ok
        samples.append({"valid": valid, "reason": reason if res.converged else "relaxation not converged",
                        "graph": graph_hash(numbers, R), "n_force_calls": int(res.n_force_calls),
                        "energy_above_reactant": float(res.energy) - float(pot.energy(jnp.asarray(x_is)))})  # fmt: skip
    valid = [s for s in samples if s["valid"]]
    row = {
        "rxn": r.rxn, "formula": r.formula, "n_atoms": len(numbers), "kind": str(r.extras["kind"].astype(str)),
        "reaction_type": str(r.extras["reaction_type"].astype(str)),
        "valid": len(valid), "samples": k, "found": any(s["graph"] == target for s in valid),
        "distinct_valid": len({s["graph"] for s in valid}),
        "reasons": {q: sum(s["reason"] == q for s in samples) for q in sorted({s["reason"] for s in samples})},
        "n_force_calls_median": float(np.median([s["n_force_calls"] for s in samples])),
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    hits = [i for i, s in enumerate(samples) if s["valid"] and s["graph"] == target]
    if neb is not None and hits:  # main refuses --neb with --baseline: the control has no path
        row["neb"] = neb_comparison(numbers, x_is, np.asarray(frames[hits[0]]), relaxed[hits[0]], r, neb)
        row["neb"]["sample"] = hits[0]
    print(json.dumps(row), flush=True)
    return row


def neb_comparison(numbers, x_is, frames, product, r, neb: dict) -> dict:
    """CI-NEB with GFN2-xTB to one generated product found by the flow: from the flow's own
    path (`frames` ``(M, N, 3)``, first frame replaced by the reactant `x_is` and last by the
    relaxed `product`, resampled to ``neb["images"]`` by arc length) and from the geodesic
    interpolation between the same two ends (the same starting information). Each side's
    :func:`xtb_ci_neb` row, and the Kabsch RMSD between the two climbing images (Å: do they
    end at the same saddle)."""
    from jaxrxn.generative.data import resample_by_arc_length
    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.path.geodesic_interpolation import geodesic
    from jaxrxn.system import System

    x_is, product = np.asarray(x_is, float), np.asarray(product, float)  # the model's frames are float32
    path = np.concatenate([x_is[None], np.asarray(frames[1:-1], float), product[None]])
    bands = {"flow": np.asarray(resample_by_arc_length(jnp.asarray(path), neb["images"])),
             "geodesic": np.asarray(geodesic(jnp.asarray(x_is), jnp.asarray(product), neb["images"], System(jnp.asarray(numbers))).path)}  # fmt: skip
    x_ts = np.asarray(r.transition_state, float)
    out, ci = {}, {}
    for name, band in bands.items():
        out[name], ci[name] = xtb_ci_neb(numbers, band, x_ts, neb["max_steps"])
    out["ci_rmsd_between"] = rmsd_numpy(ci["flow"], ci["geodesic"]) if ci["flow"] is not None and ci["geodesic"] is not None else None
    return out


def summarise(rows: list[dict]) -> dict:
    """Totals over the evaluated reactants. *Found* counts reactive reactions only: a
    conformational one's product has the reactant's bond graph, which no valid product has,
    so a valid product with its graph hash is the reactant with equivalent atoms permuted (a
    degenerate rearrangement), not the conformer."""
    if not rows:
        return {"held_out_reactions": 0}
    reactive = [r for r in rows if r["kind"] == "reactive"]
    return {
        "held_out_reactions": len(rows),
        "valid_fraction": sum(r["valid"] for r in rows) / sum(r["samples"] for r in rows),
        "reactants_with_a_valid_product": sum(r["valid"] > 0 for r in rows),
        "reactive_reactions": len(reactive),
        "found_reactive": sum(r["found"] for r in reactive),
        "found_fraction": float(np.mean([r["found"] for r in reactive])) if reactive else None,
        "distinct_valid_per_reactant_mean": float(np.mean([r["distinct_valid"] for r in rows])),
        "relax_force_calls_median": float(np.median([r["n_force_calls_median"] for r in rows])),
        **neb_summary([r["neb"] for r in rows if "neb" in r]),
    }


def neb_summary(nebs: list[dict]) -> dict:
    """CI-NEB from the flow's paths against the geodesic ones: converged counts, and force
    calls summed over the reactions where both converged, where both also reached the same
    saddle (climbing images within 0.1 Å), and the flow's share of them."""
    if not nebs:
        return {}
    both = [n for n in nebs if n["flow"]["converged"] and n["geodesic"]["converged"]]
    same = [n for n in both if n["ci_rmsd_between"] < 0.1]
    calls = {name: int(sum(n[name]["force_calls"] for n in same)) for name in ("flow", "geodesic")}
    return {
        "neb_reactions": len(nebs),
        "neb_converged": {name: sum(n[name]["converged"] for n in nebs) for name in ("flow", "geodesic")},
        "neb_both_converged": len(both), "neb_same_saddle": len(same),
        "neb_force_calls_same_saddle": calls,
        "neb_force_call_ratio_flow_over_geodesic": calls["flow"] / calls["geodesic"] if calls["geodesic"] else None,
    }  # fmt: skip


if __name__ == "__main__":
    main()
