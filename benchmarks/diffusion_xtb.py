"""The DiG-style diffusion path model on the shipped GFN2-xTB data set: trained on the
train molecules' reaction paths, measured on held-out reactant molecules against the
geodesic, IDPP and linear interpolations.

Data: ``jaxrxn/data/xtb_reactions.h5`` (``--data``), split by reactant molecule (as for the
TS and flow generators): the model trains on the paths of the ``train`` reactions (each
also run backwards; :func:`~jaxrxn.generative.data.molecular_pathset`, ``--points`` frames
equally spaced in arc length, padded to the largest molecule); the reactions of the ``val``
and ``test`` molecules are held out (smallest first; ``--limit``).

Model: :class:`~jaxrxn.generative.diffusion.AtomisticScore` (PaiNN, padded batches) in a
centred :class:`~jaxrxn.generative.diffusion.DiffusionModel` (VP SDE), trained by
denoising score matching on points drawn along the training paths plus ``--data-noise`` Å
of noise (:func:`~jaxrxn.generative.diffusion.train`, the loop the other generators use;
``--checkpoint`` resumes bit for bit, and a finished checkpoint is the saved model).

Per held-out reaction (reactant and product given, as for any double-ended method):

- D1/D2: the decoded (unpinned) end frames' RMS distance per atom from IS and FS;
- paths of ``--frames`` frames: decoded by spherical latent interpolation
  (:func:`~jaxrxn.generative.diffusion.decode_path`, ``--ode-steps`` Heun steps), the
  same after the score-string refinement (:func:`~jaxrxn.generative.diffusion.score_string`),
  the geodesic interpolation (:func:`jaxrxn.path.geodesic_interpolation.geodesic`), the
  IDPP one (:func:`jaxrxn.path.idpp`) and the linear one; for each, GFN2-xTB energies of
  every frame (tblite): the highest interior frame's RMSD to the data set's TS (Å, Kabsch)
  and its energy above the data set's TS (eV: how far the path overshoots the barrier);
- the shortest interatomic distance over every path's frames (Å: a decoded frame with
  overlapping atoms is not a usable start);
- ``--neb``: CI-NEB with GFN2-xTB (the reaction pipeline's NEB settings, fmax 0.05 eV/Å,
  ``--neb-steps``, :func:`_generative.xtb_ci_neb`) from the decoded, the geodesic and the
  IDPP path (``--frames`` images): converged or not, force calls, the climbing image's
  RMSD to the data set's TS; a start that NEB refuses (overlapping atoms) counts as not
  converged. The summary compares the decoded start with each interpolation on the
  reactions where both converged.

Writes ``benchmarks/results/diffusion_xtb.json`` (``--out``), rewritten after each
reaction; ``--resume`` keeps the reactions already there (same checkpoint and settings).

Run: ``OMP_NUM_THREADS=1 python benchmarks/diffusion_xtb.py --steps 3000 --checkpoint CK.npz --limit 40 --neb``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from _generative import add_part_arguments, add_training_arguments, data_record, evaluate_each, part_of, rows_to_resume, xtb_ci_neb  # noqa: E402
from jaxrxn.datasets import heldout_reactions  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
#: the paths CI-NEB starts from with ``--neb``: the decoded one first
NEB_STARTS = ("decoded", "geodesic", "IDPP")


def main():
    from jaxrxn.datasets.molecules import BOND_SCALE
    from jaxrxn.generative.data import molecular_pathset, read_transition1x
    from jaxrxn.generative.diffusion import AtomisticScore, DiffusionConfig, DiffusionModel, train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(ap, steps=3000)
    ap.add_argument("--message-norm", type=float, default=10.0, help="PaiNN's message normalisation (a typical neighbour count)")
    ap.add_argument("--points", type=int, default=11, help="frames per training path")
    ap.add_argument("--data-noise", type=float, default=0.02, help="Å of noise on the training points")
    ap.add_argument("--t-power", type=float, default=2.0, help="training times skewed to small t (DiffusionConfig.t_power)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", help="training checkpoint (resumed bit for bit; a finished one is the model)")
    ap.add_argument("--frames", type=int, default=11, help="frames of every evaluated path")
    ap.add_argument("--ode-steps", type=int, default=100, help="Heun steps of the probability-flow ODE each way")
    ap.add_argument("--t-ref", type=float, default=0.03, help="score-string smoothing time")
    ap.add_argument("--limit", type=int, help="evaluate only the first LIMIT held-out reactions (smallest first)")
    ap.add_argument("--neb", action="store_true", help="also CI-NEB with GFN2-xTB from the decoded, geodesic and IDPP paths")
    ap.add_argument("--neb-steps", type=int, default=500)
    ap.add_argument("--out", default=str(HERE / "results" / "diffusion_xtb.json"))
    ap.add_argument("--resume", action="store_true", help="keep the reactions already in --out")
    add_part_arguments(ap)
    a = ap.parse_args()

    train_rxns = read_transition1x(a.data, "train", level="GFN2-xTB")
    held = sorted(heldout_reactions(a.data), key=lambda r: (len(r.numbers), r.rxn))
    n_max = max(len(r.numbers) for r in train_rxns + held)
    data = molecular_pathset(train_rxns, BOND_SCALE, n_points=a.points, n_atoms=n_max)
    n_species = 1 + max(int(z) for r in train_rxns for z in r.numbers)
    dm = DiffusionModel.fit(AtomisticScore(features=a.features, n_layers=a.layers, r_cut=5.0, n_species=n_species,
                                       message_norm=a.message_norm), data, centre=True)
    cfg = DiffusionConfig(source="path", data_noise=a.data_noise, t_power=a.t_power, batch_size=a.batch,
                          learning_rate=a.lr, n_steps=a.steps, seed=a.seed)  # fmt: skip
    print(f"train: {len(train_rxns)} reactions ({len(data)} paths with the reversed ones, {n_max} atoms padded); "
          f"held out: {len(held)} reactions; model scale {float(dm.scale):.3f} Å", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    log = lambda s, m: print(f"  step {s:6d}  " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()), flush=True)  # noqa: E731
    params = train(dm, data, cfg, log_every=max(a.steps // 30, 1), callback=log, checkpoint=a.checkpoint).params
    train_s = time.perf_counter() - t0
    settings = {k: getattr(a, k) for k in ("steps", "batch", "lr", "features", "layers", "message_norm", "points", "data_noise", "t_power",
                                           "seed", "frames", "ode_steps", "t_ref", "neb", "neb_steps")}  # fmt: skip
    data_info = data_record(a.data, len(train_rxns), len(held))
    rows = rows_to_resume(a, [r.rxn for r in held], settings=settings, data=data_info)

    def write(rows):
        result = {"command": " ".join(["python", "benchmarks/diffusion_xtb.py", *sys.argv[1:]]), "settings": settings,
                  "data": data_info, "train_seconds": round(train_s, 1), "summary": summarise(rows), "reactions": rows}  # fmt: skip
        pathlib.Path(a.out).write_text(json.dumps(result, indent=1) + "\n")

    evaluate_each(part_of(held[: a.limit], a.part), rows, lambda r: evaluate(dm, params, r, a), write)
    print(json.dumps(summarise(rows), indent=1))


def evaluate(dm, params, r, a) -> dict:
    """One held-out reaction: every path's highest frame against the data set's TS, and
    (``--neb``) CI-NEB from the decoded, geodesic and IDPP paths."""
    from jaxrxn.generative.diffusion import decode_path, score_string
    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.nnp.data import xtb_labels
    from jaxrxn.path import idpp, linear
    from jaxrxn.path.geodesic_interpolation import geodesic
    from jaxrxn.system import System

    Z = np.asarray(r.numbers)
    x_is, x_fs = jnp.asarray(r.reactant, float), jnp.asarray(r.product, float)
    x_ts, e_ts = np.asarray(r.transition_state, float), float(r.energies[int(r.extras["ts_index"])])
    context = jnp.asarray(Z)
    t = time.perf_counter()
    dec = decode_path(dm, params, x_is, x_fs, context, n_frames=a.frames, method="slerp", n_steps=a.ode_steps)
    paths = {"decoded": np.asarray(dec.path)}
    paths["decoded + score string"] = np.asarray(score_string(dm, params, dec.path, context, t_ref=a.t_ref))
    decode_s = time.perf_counter() - t
    paths["geodesic"] = np.asarray(geodesic(x_is, x_fs, a.frames, System(jnp.asarray(Z))).path)
    paths["IDPP"] = np.asarray(idpp(x_is, x_fs, a.frames))
    paths["linear"] = np.asarray(linear(x_is, x_fs, a.frames))
    row = {"rxn": r.rxn, "formula": r.formula, "n_atoms": len(Z), "barrier_ev": e_ts - float(r.energies[0]),
           "end_error": np.asarray(dec.end_error).tolist(), "decode_s": decode_s}  # fmt: skip
    for name, P in paths.items():
        if not np.isfinite(P).all():  # an undertrained model's ODE can leave the data
            row[name] = {"finite": False, "max_rmsd_to_ts": float("nan"), "max_above_ts_ev": float("nan")}
            continue
        E, _ = xtb_labels(Z, P)
        k = 1 + int(np.argmax(E[1:-1]))
        d = np.linalg.norm(P[:, :, None] - P[:, None], axis=-1) + 1e3 * np.eye(len(Z))
        row[name] = {"finite": True, "max_rmsd_to_ts": rmsd_numpy(P[k], x_ts), "max_above_ts_ev": float(E[k] - e_ts),
                     "min_distance": float(d.min())}  # fmt: skip
    if a.neb:
        for name in NEB_STARTS:
            ok = row[name]["finite"]
            row[name]["neb"] = xtb_ci_neb(Z, paths[name], x_ts, a.neb_steps)[0] if ok else {"converged": False, "force_calls": 0}
    print(json.dumps(row), flush=True)
    return row


def summarise(rows: list[dict]) -> dict:
    """Medians over the evaluated reactions, per path kind; NEB counts on the reactions
    where both starts converged."""
    out: dict = {"n_reactions": len(rows), "median_end_error": float(np.median([max(r["end_error"]) for r in rows]))}
    for name in ("decoded", "decoded + score string", "geodesic", "IDPP", "linear"):
        ok = [r[name] for r in rows if r[name]["finite"]]
        out[name] = {"finite": len(ok), "min_distance_below_0.5": sum(x["min_distance"] < 0.5 for x in ok), "median_max_rmsd_to_ts": float(np.median([x["max_rmsd_to_ts"] for x in ok])) if ok else None,
                     "median_max_above_ts_ev": float(np.median([x["max_above_ts_ev"] for x in ok])) if ok else None}  # fmt: skip
    if rows and "neb" in rows[0]["decoded"]:
        for other in NEB_STARTS[1:]:  # the decoded start against each interpolation
            both = [r for r in rows if r["decoded"]["neb"]["converged"] and r[other]["neb"]["converged"]]
            out[f"neb_decoded_vs_{other}"] = {"both_converged": len(both), **{
                f"{name}_force_calls": int(sum(r[name]["neb"]["force_calls"] for r in both)) for name in ("decoded", other)}}  # fmt: skip
        for name in NEB_STARTS:
            out[name]["neb_converged"] = sum(r[name]["neb"]["converged"] for r in rows)
    return out


if __name__ == "__main__":
    main()
