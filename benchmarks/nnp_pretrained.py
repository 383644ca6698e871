"""Ship a ``jaxrxn train-nnp`` model as ``jaxrxn/data/nnp_xtb_painn.npz`` (``--calc nnp``).

The parameters are those the training command wrote; this adds to the file's metadata
the held-out reactions (the data set's reactions whose reactant molecule is in its ``val``
or ``test`` split) and the model's errors against their stored GFN2-xTB path labels
(``heldout.subset``, which ``tests/test_nnp_pretrained.py`` recomputes), and the command
that reproduces the training. Results also go to ``benchmarks/results/nnp_pretrained.json``.

The shipped model was made from the 62-reaction snapshot ``benchmarks/data/xtb_reactions_62.h5``
(shipped as ``jaxrxn/data/xtb_reactions.h5`` until 2026-12-04)
(SHA-256 ab3f9a4dba086af3a216f64d4c905eefb2a57f105b2d5de4d5c2604f1cd10ef8, commit 89142f4;
H, C, N, O; later snapshots give other configurations) with (seed 0; labelling is
deterministic)::

    jaxrxn train-nnp benchmarks/data/xtb_reactions_62.h5 --perturbed 16 --path-copies 2 --sigma 0.1 \\
        --save-configurations configs.h5 --steps 1 -o /dev/null     # labels only
    jaxrxn train-nnp configs.h5 --features 32 --layers 3 --batch-size 16 --energy-weight 10 \\
        --steps 8000 --stop-at 2500 --eval-every 500 --seed 0 --checkpoint ck.npz -o model.npz
    python benchmarks/nnp_pretrained.py model.npz

(10,014 configurations, 8,384 GFN2-xTB calls in 84.8 s on one thread; stopped at step 2,500
of 8,000 for lack of CPU on a shared machine.) The model before it (H, C, O) was trained
the same way on the 6-reaction snapshot with ``--perturbed 64 --path-copies 8`` and
``--stop-at 3500``.
"""

from __future__ import annotations

import argparse
import json
import os
from importlib import resources

import h5py
import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from jaxrxn.generative.data import read_transition1x  # noqa: E402
from jaxrxn.nnp.data import pad_configurations  # noqa: E402
from jaxrxn.nnp.model import load_model, save_model  # noqa: E402
from jaxrxn.nnp.train import evaluate  # noqa: E402

#: the model's training data: the 62-reaction snapshot (the file shipped until 2026-12-04)
DATA = os.path.join(os.path.dirname(__file__), "data", "xtb_reactions_62.h5")
OUT = str(resources.files("jaxrxn.data").joinpath("nnp_xtb_painn.npz"))
RESULTS = os.path.join(os.path.dirname(__file__), "results", "nnp_pretrained.json")
RECIPE = (
    "jaxrxn train-nnp benchmarks/data/xtb_reactions_62.h5 --perturbed 16 --path-copies 2 --sigma 0.1 "
    "--save-configurations configs.h5 --steps 1 -o /dev/null; jaxrxn train-nnp configs.h5 --features 32 --layers 3 "
    "--batch-size 16 --energy-weight 10 --steps 8000 --stop-at 2500 --eval-every 500 --seed 0 --checkpoint ck.npz -o model.npz"
)


def heldout_reactions(filename: str = DATA) -> list:
    """The data set's reactions whose reactant molecule is in its val or test split."""
    with h5py.File(filename) as f:
        split = np.asarray(f["molecules/split"]).astype(str)
    return [r for r in read_transition1x(filename, "data", "GFN2-xTB") if split[int(r.extras["molecule"])] != "train"]


def path_configurations(reactions):
    """Every path frame of `reactions` with its stored GFN2-xTB energy and forces."""
    Z = [r.numbers for r in reactions for _ in r.positions]
    return pad_configurations(Z, [x for r in reactions for x in r.positions], [e for r in reactions for e in r.energies],
                              [f for r in reactions for f in r.forces], [0] * len(Z))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the model file written by jaxrxn train-nnp")
    args = parser.parse_args()
    energy_fn, params, meta = load_model(args.model)
    rx = heldout_reactions()
    subset = evaluate(energy_fn, params, path_configurations(rx))
    meta = {**meta, "heldout": {"reactions": [r.rxn for r in rx], "subset": subset}, "recipe": RECIPE}
    save_model(OUT, energy_fn, params, **meta)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    report = {k: meta[k] for k in ("data", "data_sha256", "split", "config", "steps", "best_step", "n_train", "n_valid",
                                   "n_test", "test", "heldout", "max_atoms", "recipe")}  # fmt: skip
    report["model"] = {"elements": list(energy_fn.elements), "features": energy_fn.features, "n_layers": energy_fn.n_layers,
                       "r_cut": energy_fn.r_cut, "file_bytes": os.path.getsize(OUT)}  # fmt: skip
    with open(RESULTS, "w") as fh:
        json.dump(report, fh, indent=1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
