"""``jaxrxn train-nnp DATA.h5 [-o MODEL.npz] [--steps N] [--checkpoint CK.npz [--resume]] [--json]``.

Trains the species-aware neural-network potential (:mod:`jaxrxn.nnp`) on energies and
forces. ``DATA.h5`` is either a configuration file (:func:`jaxrxn.nnp.data.write_configurations`)
or a reaction data set in the Transition1x layout; the latter is turned into configurations
first (:func:`jaxrxn.nnp.data.configurations_from_reactions`: reactants, TSs, products,
path images and ``--perturbed`` perturbed copies, labelled with GFN2-xTB where the file
holds no energies at ``--level``), optionally saved with ``--save-configurations``.

Configurations are split by molecule into training, validation (early stopping with
``--patience``, best parameters kept) and test sets (``--valid-fraction``,
``--test-fraction``, ``--seed``); the test errors against the reference are reported. With
``--checkpoint`` the whole training state is saved every ``--eval-every`` steps and
``--resume`` continues from it bit for bit; ``--stop-at`` ends early (exit 1, like any run
that has not finished). Exit codes: 0 finished (or stopped early by patience), 1 stopped
by ``--stop-at``, 2 bad input.
"""

from __future__ import annotations

import os
import time

from jaxrxn.commands._common import check_checkpoint, finish, progress

EXAMPLE = """\
jaxrxn train-nnp configs.h5 -o nnp.npz --steps 20000 --checkpoint ck.npz
jaxrxn train-nnp configs.h5 -o nnp.npz --steps 20000 --checkpoint ck.npz --resume   # after an interruption
jaxrxn train-nnp reactions.h5 --level GFN2-xTB --perturbed 4 --save-configurations configs.h5 -o nnp.npz"""


def add_arguments(parser) -> None:
    parser.add_argument("data", help="configuration file or Transition1x-layout reaction file (HDF5)")
    parser.add_argument("-o", "--output", default="nnp.npz", metavar="MODEL.npz", help="where to write the model (nnp.npz)")
    parser.add_argument("--split", default="train", help="reaction files: the split to read (train)")
    parser.add_argument("--level", default=None, help="reaction files: the name of their stored GFN2-xTB level (e.g. GFN2-xTB); "
                        "without it every configuration is labelled")
    parser.add_argument("--perturbed", type=int, default=4, help="reaction files: perturbed copies per stationary point (4)")
    parser.add_argument("--sigma", type=float, default=0.05, help="reaction files: perturbation std in Å (0.05)")
    parser.add_argument("--save-configurations", metavar="FILE.h5", help="reaction files: write the labelled configurations here")
    parser.add_argument("--backbone", choices=("painn", "e3x"), default="painn", help="network (painn)")
    parser.add_argument("--features", type=int, default=64, help="channels (64)")
    parser.add_argument("--layers", type=int, default=3, help="message-passing layers (3)")
    parser.add_argument("--cutoff", type=float, default=5.0, help="message cutoff in Å (5.0)")
    parser.add_argument("--steps", type=int, default=5000, help="training steps (5000)")
    parser.add_argument("--batch-size", type=int, default=32, help="configurations per step (32)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam, cosine decay to 5%% (2e-3)")
    parser.add_argument("--energy-weight", type=float, default=1.0, help="loss weight of (eV/atom)^2 (1)")
    parser.add_argument("--force-weight", type=float, default=1.0, help="loss weight of (eV/Å)^2 (1)")
    parser.add_argument("--valid-fraction", type=float, default=0.1, help="molecules held out for validation (0.1)")
    parser.add_argument("--test-fraction", type=float, default=0.1, help="molecules held out for the test (0.1)")
    parser.add_argument("--patience", type=int, default=None, help="stop after this many validations without improvement")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between validations/checkpoints (100)")
    parser.add_argument("--seed", type=int, default=0, help="split, initialisation and minibatches (0)")
    parser.add_argument("--checkpoint", metavar="CK.npz", help="save the training state here every --eval-every steps")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--stop-at", type=int, default=None, help="stop (checkpointed) after this many steps")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def load_configurations(args, p):
    """The configurations of ``args.data`` (labelling a reaction file first)."""
    import h5py

    from jaxrxn.nnp.data import (
        configurations_from_file, configurations_from_reactions, read_configurations, write_configurations,
    )

    if not os.path.exists(args.data):
        raise FileNotFoundError(f"data file {args.data!r} does not exist.")
    try:
        with h5py.File(args.data, "r") as f:
            is_configs = "numbers" in f
    except OSError as err:
        raise ValueError(f"cannot read {args.data!r} as HDF5: {err}") from None
    if is_configs:
        data, _, _ = read_configurations(args.data)
        return data, None
    kw = dict(n_perturbed=args.perturbed, sigma=args.sigma, seed=args.seed)
    with p.stage("labelling with GFN2-xTB") as advance:
        if args.level:  # stored GFN2-xTB labels: only the perturbed copies are computed
            data, kinds, info = configurations_from_file(args.data, args.split, args.level, callback=lambda d, t: advance(1), **kw)
        else:
            rx = _read_any(args.data, args.split)
            data, kinds, info = configurations_from_reactions(rx, callback=lambda d, t: advance(1), **kw)
    p.log(f"train-nnp: {info['n_configurations']} configurations from {info['n_reactions']} reactions, "
          f"{info['n_labelled']} xTB calls in {info['label_s']:.1f} s")  # fmt: skip
    if args.save_configurations:
        write_configurations(args.save_configurations, data, kinds, **{k: v for k, v in info.items()})
    return data, info


def _read_any(filename, split):
    """Reaction records without energies: positions only (every frame gets labelled)."""
    import h5py
    import numpy as np

    from jaxrxn.generative.data import ReactionPath

    out = []
    with h5py.File(filename, "r") as f:
        if split not in f:
            raise ValueError(f"{filename!r} has no split {split!r}; it has {sorted(f.keys())}.")
        for formula, grp in f[split].items():
            for rxn, g in grp.items():
                ends = [np.asarray(g[k]["positions"][0]) for k in ("reactant", "transition_state", "product")]
                out.append(ReactionPath(formula, rxn, np.asarray(g["atomic_numbers"]), np.asarray(g["positions"]),
                                        None, None, *ends, {}))  # fmt: skip
    return out


def run(args) -> int:
    if min(args.steps, args.batch_size, args.eval_every, args.layers, args.features) < 1 or args.learning_rate <= 0:
        raise ValueError("--steps, --batch-size, --eval-every, --layers and --features must be positive, and --learning-rate > 0.")
    if not (0 <= args.valid_fraction < 1 and 0 <= args.test_fraction < 1 and args.valid_fraction + args.test_fraction < 1):
        raise ValueError("--valid-fraction and --test-fraction must be in [0, 1) and sum to less than 1.")
    check_checkpoint(args.checkpoint, args.resume)
    with progress(args) as p:
        report = _train(args, p)
    return finish(
        report, args.json,
        "train-nnp {how}: step {step}/{n_steps} (best {best_step}) on {n_train} configurations; test energy MAE "
        "{test_e_mae:.4f} eV, force MAE {test_f_mae:.4f} eV/Å; {train_s:.1f} s; model written to {output}",
        how="finished" if report["converged"] else "stopped early (resume with --resume)",
        test_e_mae=report["test"].get("e_mae", float("nan")), test_f_mae=report["test"].get("f_mae", float("nan")),
    )  # fmt: skip


def _train(args, p) -> dict:
    import jax

    from jaxrxn.checkpoint import load_checkpoint
    from jaxrxn.nnp.data import split_by_group
    from jaxrxn.nnp.model import NNPEnergy, save_model
    from jaxrxn.nnp.train import NNPConfig, evaluate, init_state, train_nnp

    t0 = time.perf_counter()
    with p.stage(f"configurations from {args.data}"):
        data, info = load_configurations(args, p)
    train, valid, test = split_by_group(data, (1 - args.valid_fraction - args.test_fraction, args.valid_fraction, args.test_fraction), seed=args.seed)
    if len(train) == 0:
        raise ValueError(f"no training configurations in {args.data!r}.")
    energy_fn = NNPEnergy(data.elements, backbone=args.backbone, features=args.features, n_layers=args.layers, r_cut=args.cutoff)
    cfg = NNPConfig(batch_size=args.batch_size, learning_rate=args.learning_rate, n_steps=args.steps, seed=args.seed,
                    energy_weight=args.energy_weight, force_weight=args.force_weight)  # fmt: skip
    state = init_state(energy_fn, train, cfg)
    if args.resume:
        try:
            state = load_checkpoint(args.checkpoint, state)
        except ValueError as err:
            raise ValueError(f"checkpoint {args.checkpoint!r} does not fit this model and data: {err}") from None
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
    meta = {"data": os.path.abspath(args.data), "steps": step, "best_step": int(state.best_step), "seed": args.seed,
            "n_train": len(train), "n_valid": len(valid), "n_test": len(test), "test": test_metrics,
            "max_atoms": int((data.numbers > 0).sum(1).max())}  # fmt: skip
    save_model(args.output, energy_fn, params, **meta)
    report = {
        "converged": finished, "finished": finished, "stopped_by_patience": patience_hit, "step": step,
        "n_steps": cfg.n_steps, "best_step": int(state.best_step), "resumed_from": start if args.resume else None,
        "n_train": len(train), "n_valid": len(valid), "n_test": len(test), "elements": list(energy_fn.elements),
        "backbone": args.backbone, "n_params": int(n_params), "test": test_metrics,
        "last_validation": history[-1] if history else None, "labelling": info, "output": args.output,
        "checkpoint": args.checkpoint, "seed": args.seed, "data_s": t_data, "train_s": t_train,
    }  # fmt: skip
    return report
