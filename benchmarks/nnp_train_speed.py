"""Seconds per NNP training step: float64 against float32, one bucket against size buckets.

    jaxrxn train-nnp jaxrxn/data/xtb_reactions.h5 --perturbed 16 --path-copies 2 --sigma 0.1 \\
        --save-configurations configs.h5 --steps 1 -o /dev/null     # the shipped model's labels (~4 min)
    python benchmarks/nnp_train_speed.py configs.h5 [--steps 40] [--buckets 1 2 4]

The shipped network (PaiNN 64x3, 154,502 parameters) takes minibatches of 16 of the
configuration file's training configurations (4-18 atoms on the shipped data set) through
the training step of ``jaxrxn train-nnp`` (energy and force loss, its gradient, Adam: one
jitted ``lax.scan`` of ``--steps`` steps in :func:`jaxrxn.generative.training.fit`, timed
after a first one that compiles it) for
each precision and each ``--size-buckets`` value (:func:`jaxrxn.nnp.data.split_by_size`).
Prints milliseconds per step, the compile time and each speed-up against float64 with one
bucket; writes them to ``benchmarks/results/nnp_train_speed.json``. Run it with nothing
else on the machine: the numbers are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from jaxrxn.generative.training import fit  # noqa: E402
from jaxrxn.nnp.data import read_configurations, read_split, split_by_size  # noqa: E402
from jaxrxn.nnp.model import load_pretrained  # noqa: E402
from jaxrxn.nnp.train import NNPConfig, init_state, nnp_loss  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "results", "nnp_train_speed.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", help="configuration file (train-nnp --save-configurations)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per setting (40)")
    parser.add_argument("--buckets", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    energy_fn, params, _ = load_pretrained("xtb-painn")
    data = read_configurations(args.configs)[0]
    split = read_split(args.configs)
    if split is not None:
        data = data.take(split == "train")
    rows = []
    for dtype in ("float64", "float32"):
        # as train-nnp --init does: float64 keeps the file's types (float32 weights), float32 casts all
        p = params if dtype == "float64" else jax.tree_util.tree_map(lambda a: a.astype(dtype), params)
        d = data.astype(dtype)
        for k in args.buckets:
            cfg = NNPConfig(batch_size=16, learning_rate=1e-6, n_steps=10 * args.steps, energy_weight=100.0, size_buckets=k)
            state = init_state(energy_fn, d, cfg, params=p).train
            batches = jax.tree_util.tree_map(jnp.asarray, split_by_size(d, k) if k > 1 else d)
            run = dict(resume=False, log_every=args.steps, callback=None)
            t = time.perf_counter()
            state = jax.block_until_ready(fit(nnp_loss, energy_fn, batches, cfg, state, stop_at=args.steps, **run))
            first = time.perf_counter() - t
            t = time.perf_counter()
            jax.block_until_ready(fit(nnp_loss, energy_fn, batches, cfg, state, stop_at=2 * args.steps, **run))
            ms = 1000 * (time.perf_counter() - t) / args.steps
            sizes = list(batches.sizes) if k > 1 else [int(data.numbers.shape[1])]
            rows.append({"dtype": dtype, "size_buckets": k, "bucket_sizes": sizes, "ms_per_step": ms,
                         "compile_s": first - ms * args.steps / 1000})  # fmt: skip
            print(f"{dtype}  buckets {k} (padded to {sizes}): {ms:7.1f} ms/step, compile {rows[-1]['compile_s']:.0f} s", flush=True)
    base = rows[0]["ms_per_step"]
    for r in rows:
        r["speedup"] = base / r["ms_per_step"]
    print("speed-up against float64, one bucket: " + ", ".join(f"{r['dtype']}/{r['size_buckets']} {r['speedup']:.2f}x" for r in rows))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"configs": os.path.basename(args.configs), "n_train": len(data), "steps": args.steps, "batch_size": 16,
                   "model": "xtb-painn (PaiNN 64x3)", "machine": f"{platform.processor() or platform.machine()}, "
                   f"{os.cpu_count()} cores, jax {jax.__version__} on {jax.default_backend()}", "rows": rows}, fh, indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
