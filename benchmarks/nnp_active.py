"""One round of active learning for the shipped NNP: label the NNP's own CI-NEB bands on
training reactions with GFN2-xTB and add them to its training configurations.

Why: the shipped model's barriers at the data set's own geometries are 0.18 eV off on
held-out reactions, yet its CI-NEB barriers are 0.41 eV off and mostly too low
(``benchmarks/nnp_batch_neb.py``): its bands find low-energy regions that no training
configuration covers. Here the model runs CI-NEB (the geodesic bands and settings of
``nnp_batch_neb.py``, one padded vmapped call) on ``--n`` training reactions (train-split
molecules only, at most ``--max-atoms`` atoms, drawn with ``--seed``); every interior image
of its final bands, and ``--copies`` Gaussian-perturbed copies of each (standard deviations
spread over ``(0, --sigma]`` Å, as ``train-nnp --path-copies``), is labelled with GFN2-xTB
(tblite, one thread) and appended, as kind ``nnp_band`` in the train split, to the configuration file ``--configs`` (``train-nnp
--save-configurations``), written to ``--out``. It prints how far the NNP's energies on
its own bands are from GFN2-xTB's (the holes it found). Then fine-tune on the result::

    OMP_NUM_THREADS=1 python benchmarks/nnp_active.py --configs configs.h5 --out configs_active.h5
    jaxrxn train-nnp configs_active.h5 --init model2.npz --batch-size 16 --energy-weight 100 \\
        --learning-rate 2e-4 --steps 6000 --eval-every 1000 --seed 0 --checkpoint ck3.npz -o model3.npz

A second round takes the first round's output as ``--configs`` and the model fine-tuned on
it as ``--model``; the file's attributes keep every round (``active_rounds``,
``active_history``). ``--bands FILE`` checkpoints the CI-NEB bands (the long part: 821 s
for 250 reactions): a rerun with the same reactions reads them instead of searching again.

Writes a summary to ``benchmarks/results/nnp_active.json`` (``--results``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.batch import batch_neb  # noqa: E402
from jaxrxn.nnp.data import (  # noqa: E402
    concatenate, pad_configurations, perturbed_copies, read_configurations, read_split, write_configurations, xtb_labels,
)  # fmt: skip
from jaxrxn.nnp.model import pretrained  # noqa: E402
from jaxrxn.path.geodesic_interpolation import geodesic  # noqa: E402
from jaxrxn.reaction import pipeline_neb  # noqa: E402
from jaxrxn.system import System  # noqa: E402
from nnp_batch_neb import NEB_FMAX, NEB_STEPS, reactions  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results", "nnp_active.json")


class _Band(NamedTuple):
    path: np.ndarray
    energies: np.ndarray
    converged: bool


def _bands(args, rx) -> tuple[float, float, list[_Band]]:
    """The model's CI-NEB bands on the reactions `rx`: read from ``--bands`` when that file
    exists (a rerun after a failure later on loses no CI-NEB time), else run and saved there."""
    if args.bands and os.path.exists(args.bands):
        with np.load(args.bands) as f:
            if list(f["rxn"]) != [r["rxn"] for r in rx] or len(f["path_0"]) != args.images:
                raise SystemExit(f"{args.bands!r} holds other bands (another --n, --seed, --max-atoms or --images)")
            res = [_Band(f[f"path_{k}"], f[f"energies_{k}"], bool(f["converged"][k])) for k in range(len(rx))]
            return float(f["geodesic_s"]), float(f["nnp_neb_s"]), res
    t0 = time.perf_counter()
    bands = [np.asarray(geodesic(jnp.asarray(r["R0"]), jnp.asarray(r["R1"]), args.images, System(r["numbers"])).path) for r in rx]
    t_geo = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = batch_neb([pretrained(r["numbers"], args.model) for r in rx], bands, pipeline_neb(remove_rigid=True),
                    fmax=NEB_FMAX, max_steps=NEB_STEPS)  # fmt: skip
    t_neb = time.perf_counter() - t0
    res = [_Band(np.asarray(x.path), np.asarray(x.energies), bool(x.converged)) for x in out]
    if args.bands:
        np.savez(args.bands, rxn=[r["rxn"] for r in rx], converged=[x.converged for x in res],
                 geodesic_s=t_geo, nnp_neb_s=t_neb, **{f"path_{k}": x.path for k, x in enumerate(res)},
                 **{f"energies_{k}": x.energies for k, x in enumerate(res)})  # fmt: skip
    return t_geo, t_neb, res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", required=True, help="the model's training configurations (train-nnp --save-configurations)")
    parser.add_argument("--out", required=True, help="configuration file to write: --configs plus the labelled bands")
    parser.add_argument("--model", default="xtb-painn", help="shipped model name or train-nnp model file")
    parser.add_argument("--n", type=int, default=200, help="training reactions to run CI-NEB on")
    parser.add_argument("--max-atoms", type=int, default=11)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--copies", type=int, default=4, help="perturbed copies of every band image")
    parser.add_argument("--sigma", type=float, default=0.05, help="largest perturbation, Å")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--bands", default=None, help="checkpoint .npz of the CI-NEB bands: written after the CI-NEB, read if it exists")
    args = parser.parse_args()

    data, kinds, attrs = read_configurations(args.configs)  # checked before the long CI-NEB
    split = read_split(args.configs)
    if kinds is None or split is None:
        raise SystemExit(f"{args.configs!r} has no kind/split columns: write it with train-nnp --save-configurations")
    train = [r for r in reactions(False, args.model) if not r["heldout"] and len(r["numbers"]) <= args.max_atoms]
    pick = np.sort(np.random.default_rng(args.seed).permutation(len(train))[: args.n])
    rx = [train[k] for k in pick]
    print(f"{len(rx)} of {len(train)} training reactions of <= {args.max_atoms} atoms", flush=True)
    t_geo, t_neb, res = _bands(args, rx)
    print(f"geodesic bands {t_geo:.0f} s, NNP batch CI-NEB {t_neb:.0f} s, {sum(bool(x.converged) for x in res)} converged", flush=True)

    Z, R, E, F, G, diff = [], [], [], [], [], []
    rng = np.random.default_rng([args.seed, 1])
    sigmas = args.sigma * np.arange(1, args.copies + 1) / max(args.copies, 1)
    t0 = time.perf_counter()
    for r, x in zip(rx, res):
        images = np.asarray(x.path)[1:-1]
        e_is = xtb_labels(r["numbers"], r["R0"][None])[0][0]
        if args.copies:
            images = np.concatenate([images, *(perturbed_copies(X, args.copies, sigmas, rng) for X in images)])
        e, f = xtb_labels(r["numbers"], images)
        n_band = len(x.path) - 2
        diff.extend(np.asarray(x.energies)[1:-1] - np.asarray(x.energies)[0] - (e[:n_band] - e_is))
        for X, ei, fi in zip(images, e, f):
            Z.append(r["numbers"]), R.append(X), E.append(ei), F.append(fi), G.append(int(r["molecule"]))
    t_label = time.perf_counter() - t0
    new = pad_configurations(Z, R, E, F, G, n_atoms=data.numbers.shape[1])
    out = concatenate([data, new])
    attrs = {k: v for k, v in attrs.items() if isinstance(v, (int, float, str))}
    # a later round appends to the earlier rounds' record instead of replacing it
    # (a round-1 file of session 16 has active_from without active_history)
    earlier = attrs.get("active_history") or (f"{attrs['active_from']}: {attrs['active_n_reactions']} reactions, "
                                              f"{attrs['active_n_added']} added" if "active_from" in attrs else "")  # fmt: skip
    history = [*filter(None, earlier.split("; ")), f"{os.path.basename(args.configs)}: {len(rx)} reactions, {len(new)} added"]
    attrs.update(active_from=os.path.basename(args.configs), active_n_reactions=len(rx), active_n_added=len(new),
                 active_rounds=len(history), active_history="; ".join(history))  # fmt: skip
    write_configurations(args.out, out, np.concatenate([kinds, ["nnp_band"] * len(new)]),
                         split=np.concatenate([split, ["train"] * len(new)]), **attrs)  # fmt: skip
    diff = np.asarray(diff)
    summary = {"model": args.model, "n_reactions": len(rx), "max_atoms": args.max_atoms, "seed": args.seed, "images": args.images,
               "nnp_neb_converged": sum(bool(x.converged) for x in res), "geodesic_s": t_geo, "nnp_neb_s": t_neb,
               "copies": args.copies, "sigma": args.sigma,
               "added_configurations": len(new), "xtb_calls": len(new) + len(rx), "label_s": t_label,
               "band_energy_error": {"mae": float(np.mean(np.abs(diff))), "mean": float(np.mean(diff)),
                                     "below_by_more_than_0.2": int(np.sum(diff < -0.2)), "n": len(diff)},
               "out": os.path.basename(args.out), "n_configurations": len(out)}  # fmt: skip
    with open(args.results, "w") as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
