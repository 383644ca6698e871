"""``jaxrxn train-nnp DATA.h5 [-o MODEL.npz] [--steps N] [--checkpoint CK.npz [--resume]] [--json]``.

Trains the species-aware neural-network potential (:mod:`jaxrxn.nnp`) on energies and
forces. ``DATA.h5`` is

- a configuration file (:func:`jaxrxn.nnp.data.write_configurations`), used as it is;
- a ``jaxrxn build-dataset`` file: every reaction's path, reactant, TS and product, every
  relaxed reactant molecule, and ``--perturbed`` perturbed copies of those minima and TSs
  (:func:`jaxrxn.nnp.data.configurations_from_dataset`; only the copies are labelled);
- another reaction data set in the Transition1x layout
  (:func:`jaxrxn.nnp.data.configurations_from_reactions`: reactants, TSs, products, path
  images and perturbed copies, labelled with GFN2-xTB where the file holds no energies at
  ``--level``).

Labelled configurations can be saved with ``--save-configurations`` (with the data set's
split). Configurations are split by molecule into training, validation (early stopping
with ``--patience``, best parameters kept) and test sets: the data's own split when it has
one (``build-dataset`` files and the configuration files saved from them), else at random
(``--valid-fraction``, ``--test-fraction``, ``--seed``; always with ``--random-split``);
the test errors against the reference are reported. The model file records the data
file's name and SHA-256, the split and the training settings. With ``--checkpoint`` the
whole training state is saved every ``--eval-every`` steps and ``--resume`` continues from
it bit for bit. ``--init MODEL.npz`` fine-tunes a trained model: its network and
parameters (element shifts included) are the starting point, with a fresh optimiser and
learning-rate schedule (the architecture options are then the model's, except
``--norm-eps``, which a fine-tune may change). ``--stop-at``
ends early (exit 1, like any run that has not finished). ``--dtype float32`` trains in
single precision (data, arithmetic, element shifts and force scale; the network's weights
are float32 either way, flax's default) (PaiNN 64x3, batch 16, the shipped data set's configurations on this
project's 2-core CPU, two runs: 57-62 against 107-108 ms per step; 41-47 with ``--size-buckets 2``,
``benchmarks/nnp_train_speed.py``); its model file holds the float32 network weights and (exactly, as a
float64 run writes them) float64 element shifts and force scale, and the potential
computes in the precision of the positions it is given (float64 in the CLI).
Exit codes: 0 finished (or stopped early by patience), 1 stopped by ``--stop-at``, 2 bad
input.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time

from jaxrxn.commands._common import finish, resume_checkpoint, run_training

EXAMPLE = """\
jaxrxn train-nnp configs.h5 -o nnp.npz --steps 20000 --checkpoint ck.npz --dtype float32
jaxrxn train-nnp configs.h5 -o nnp.npz --steps 20000 --checkpoint ck.npz --resume   # after an interruption
jaxrxn train-nnp reactions.h5 --level GFN2-xTB --perturbed 4 --save-configurations configs.h5 -o nnp.npz
jaxrxn train-nnp configs.h5 --init nnp.npz --energy-weight 100 --learning-rate 5e-4 -o nnp2.npz   # fine-tune"""


def add_arguments(parser) -> None:
    parser.add_argument("data", help="configuration file or Transition1x-layout reaction file (HDF5)")
    parser.add_argument("-o", "--output", default="nnp.npz", metavar="MODEL.npz", help="where to write the model (nnp.npz)")
    parser.add_argument("--split", default="train", help="reaction files: the split to read (train)")
    parser.add_argument("--level", default=None, help="reaction files: the name of their stored GFN2-xTB level (e.g. GFN2-xTB); "
                        "without it every configuration is labelled")
    parser.add_argument("--perturbed", type=int, default=4, help="reaction files: perturbed copies per stationary point (4)")
    parser.add_argument("--path-copies", type=int, default=0, help="build-dataset files: perturbed copies of every path image (0)")
    parser.add_argument("--sigma", type=float, default=0.05, help="reaction files: perturbation std in Å (0.05); "
                        "build-dataset files: the largest, copies spread over (0, SIGMA]")
    parser.add_argument("--save-configurations", metavar="FILE.h5", help="reaction files: write the labelled configurations here")
    parser.add_argument("--init", metavar="MODEL.npz", help="fine-tune this trained model (its network, parameters and "
                        "element shifts; fresh optimiser) instead of starting from random weights")
    parser.add_argument("--backbone", choices=("painn", "e3x"), default="painn", help="network (painn)")
    parser.add_argument("--features", type=int, default=64, help="channels (64)")
    parser.add_argument("--layers", type=int, default=3, help="message-passing layers (3)")
    parser.add_argument("--cutoff", type=float, default=5.0, help="message cutoff in Å (5.0)")
    parser.add_argument("--norm-eps", type=float, default=None, help="painn: epsilon of its vector norms, sqrt(|v|^2 + EPS) "
                        "(1e-8, or the --init model's); larger values smooth the energy at symmetric geometries")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="precision of the "
                        "training data and arithmetic (float64; the network's weights are float32 in both, flax's "
                        "default); float32 also makes the element shifts and force scale float32 and trains 1.7-1.9x "
                        "faster on a CPU (more on most GPUs); the model still runs in the caller's precision")
    parser.add_argument("--size-buckets", type=int, default=1, help="draw each minibatch from one of up to K buckets of "
                        "similar atom counts, padded to that bucket's largest molecule (1: every minibatch padded to the "
                        "largest molecule; 2 trains 1.3-1.5x faster on molecules of 4-18 atoms)")
    parser.add_argument("--steps", type=int, default=5000, help="training steps (5000)")
    parser.add_argument("--batch-size", type=int, default=32, help="configurations per step (32)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam, cosine decay to 5%% (2e-3)")
    parser.add_argument("--energy-weight", type=float, default=1.0, help="loss weight of (eV/atom)^2 (1)")
    parser.add_argument("--force-weight", type=float, default=1.0, help="loss weight of (eV/Å)^2 (1)")
    parser.add_argument("--random-split", action="store_true", help="split by molecule at random (--valid-fraction, "
                        "--test-fraction, --seed) even when the data carry their own train/val/test split")
    parser.add_argument("--valid-fraction", type=float, default=0.1, help="random split: molecules held out for validation (0.1)")
    parser.add_argument("--test-fraction", type=float, default=0.1, help="random split: molecules held out for the test (0.1)")
    parser.add_argument("--patience", type=int, default=None, help="stop after this many validations without improvement")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between validations/checkpoints (100)")
    parser.add_argument("--seed", type=int, default=0, help="split, initialisation and minibatches (0)")
    parser.add_argument("--checkpoint", metavar="CK.npz", help="save the training state here every --eval-every steps")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--stop-at", type=int, default=None, help="stop (checkpointed) after this many steps")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def load_configurations(args, p):
    """``(configurations, split or None, labelling info or None)`` of ``args.data``: a
    configuration file as it is; a :mod:`jaxrxn.datasets` file or another reaction file
    labelled first (and saved with ``--save-configurations``)."""
    import h5py

    from jaxrxn.generative.data import read_transition1x
    from jaxrxn.nnp.data import (
        configurations_from_dataset, configurations_from_file, configurations_from_reactions, read_configurations,
        read_split, write_configurations,
    )  # fmt: skip

    if not os.path.exists(args.data):
        raise FileNotFoundError(f"data file {args.data!r} does not exist.")
    try:
        with h5py.File(args.data, "r") as f:
            layout = "configurations" if "numbers" in f else "dataset" if {"molecules", "data"} <= set(f) else "reactions"
    except OSError as err:
        raise ValueError(f"cannot read {args.data!r} as HDF5: {err}") from None
    if layout == "configurations":
        return read_configurations(args.data)[0], read_split(args.data), None
    kw = dict(n_perturbed=args.perturbed, sigma=args.sigma, seed=args.seed)
    split = None
    with p.stage("labelling with GFN2-xTB") as advance:
        kw["callback"] = lambda done, total: advance(1)
        if layout == "dataset":  # jaxrxn build-dataset: every reaction and molecule, the file's split
            data, kinds, split, info = configurations_from_dataset(args.data, path_copies=args.path_copies, **kw)
        elif args.level:  # stored GFN2-xTB labels: only the perturbed copies are computed
            data, kinds, info = configurations_from_file(args.data, args.split, args.level, **kw)
        else:
            data, kinds, info = configurations_from_reactions(read_transition1x(args.data, args.split, None), **kw)
    p.log(f"train-nnp: {info['n_configurations']} configurations from {info['n_reactions']} reactions, "
          f"{info['n_labelled']} xTB calls in {info['label_s']:.1f} s")  # fmt: skip
    if args.save_configurations:
        write_configurations(args.save_configurations, data, kinds, split=split, **info)
    return data, split, info


def run(args) -> int:
    if not (0 <= args.valid_fraction < 1 and 0 <= args.test_fraction < 1 and args.valid_fraction + args.test_fraction < 1):
        raise ValueError("--valid-fraction and --test-fraction must be in [0, 1) and sum to less than 1.")
    positive = {"--steps": args.steps, "--batch-size": args.batch_size, "--eval-every": args.eval_every,
                "--layers": args.layers, "--features": args.features, "--size-buckets": args.size_buckets}  # fmt: skip
    report, how = run_training(args, _train, positive)
    return finish(
        report, args.json,
        "train-nnp {how}: step {step}/{n_steps} (best {best_step}) on {n_train} configurations; test energy MAE "
        "{test_e_mae:.4f} eV, force MAE {test_f_mae:.4f} eV/Å; {train_s:.1f} s; model written to {output}",
        how=how, test_e_mae=report["test"].get("e_mae", float("nan")), test_f_mae=report["test"].get("f_mae", float("nan")),
    )  # fmt: skip


def _train(args, p) -> dict:
    import jax

    from jaxrxn.nnp.data import split_by_group
    from jaxrxn.nnp.model import NNPEnergy, check_elements, load_model, save_model
    from jaxrxn.nnp.train import NNPConfig, evaluate, init_state, train_nnp

    t0 = time.perf_counter()
    with p.stage(f"configurations from {args.data}"):
        data, split, info = load_configurations(args, p)
    data = data.astype(args.dtype)
    split_kind = "file" if split is not None and not args.random_split else "random"
    if split_kind == "file":  # the data set's own split by molecule
        train, valid, test = (data.take(split == s) for s in ("train", "val", "test"))
    else:
        fractions = (1 - args.valid_fraction - args.test_fraction, args.valid_fraction, args.test_fraction)
        train, valid, test = split_by_group(data, fractions, seed=args.seed)
    if len(train) == 0:
        raise ValueError(f"no training configurations in {args.data!r}.")
    init, init_params = None, None
    if args.init:
        energy_fn, init_params, _ = load_model(args.init)
        if args.dtype == "float32":  # float64 keeps the file's own types, as before the option
            init_params = jax.tree_util.tree_map(lambda a: a.astype(args.dtype), init_params)
        init = {"file": os.path.basename(args.init), "sha256": _sha256(args.init)}
        if args.norm_eps is not None:
            energy_fn = dataclasses.replace(energy_fn, norm_eps=args.norm_eps)
    else:
        eps = {} if args.norm_eps is None else {"norm_eps": args.norm_eps}
        energy_fn = NNPEnergy(data.elements, backbone=args.backbone, features=args.features, n_layers=args.layers,
                              r_cut=args.cutoff, **eps)  # fmt: skip
    check_elements(energy_fn, data.numbers, f"{args.data!r}")
    cfg = NNPConfig(batch_size=args.batch_size, learning_rate=args.learning_rate, n_steps=args.steps, seed=args.seed,
                    energy_weight=args.energy_weight, force_weight=args.force_weight, size_buckets=args.size_buckets)  # fmt: skip
    state = resume_checkpoint(args, init_state(energy_fn, train, cfg, init_params))
    start = int(state.train.step)
    n_params = sum(x.size for x in jax.tree_util.tree_leaves(state.train.params))
    p.log(f"train-nnp: {len(train)}/{len(valid)}/{len(test)} train/valid/test configurations, elements "
          f"{list(energy_fn.elements)}, {args.backbone} with {n_params} parameters, step {start} of {cfg.n_steps}")  # fmt: skip
    t_data = time.perf_counter() - t0
    t1 = time.perf_counter()
    with p.stage("training steps", total=cfg.n_steps) as advance:
        advance(start)
        seen = {"step": start}

        def log(step, m):
            advance(step - seen["step"])
            seen["step"] = step
            p.log(f"  step {step:7d}  loss {m.get('loss', float('nan')):.5f}  "
                  + "  ".join(f"{k} {v:.4f}" for k, v in m.items() if k.startswith("val_") and k != "val_loss"))  # fmt: skip

        params, state, history = train_nnp(
            energy_fn, train, cfg, valid=valid if len(valid) else None, state=state, eval_every=args.eval_every,
            patience=args.patience, checkpoint=args.checkpoint, resume=False, callback=log, stop_at=args.stop_at,
        )  # fmt: skip
    t_train = time.perf_counter() - t1
    step = int(state.train.step)
    patience_hit = args.patience is not None and int(state.n_bad) >= args.patience
    finished = step >= cfg.n_steps or patience_hit
    test_metrics = evaluate(energy_fn, params, test) if len(test) else {}
    meta = {"data": os.path.basename(args.data), "data_sha256": _sha256(args.data), "init": init, "split": split_kind, "steps": step,
            "best_step": int(state.best_step), "seed": args.seed, "dtype": args.dtype,
            "config": {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)},
            "n_train": len(train), "n_valid": len(valid), "n_test": len(test), "test": test_metrics,
            "max_atoms": int((data.numbers > 0).sum(1).max())}  # fmt: skip
    save_model(args.output, energy_fn, params, **meta)
    report = {
        "converged": finished, "finished": finished, "stopped_by_patience": patience_hit, "step": step,
        "n_steps": cfg.n_steps, "best_step": int(state.best_step), "resumed_from": start if args.resume else None,
        "n_train": len(train), "n_valid": len(valid), "n_test": len(test), "elements": list(energy_fn.elements),
        "backbone": energy_fn.backbone, "dtype": args.dtype, "init": init, "n_params": int(n_params), "test": test_metrics,
        "last_validation": history[-1] if history else None, "labelling": info, "output": args.output,
        "checkpoint": args.checkpoint, "seed": args.seed, "data_s": t_data, "train_s": t_train,
    }  # fmt: skip
    return report


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()
