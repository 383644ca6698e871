"""``jaxrxn train-flow DATA -o MODEL.npz [--steps N] [--checkpoint CK.npz [--resume]] [--json]``.

Trains the path flow generator (:mod:`jaxrxn.generative.flow`) on

- ``surfaces``: CI-NEB reactions on random 2D multi-Gaussian surfaces, built in-process
  (:func:`jaxrxn.generative.data.build_surface_paths`, train seeds ``0 .. N-1``);
- ``lj7-2d``: 2D LJ7 rearrangements built in-process
  (:func:`jaxrxn.generative.clusters.build_lj7_paths`);
- a Transition1x-layout HDF5 file (``--split``, ``--level``): surface reactions (they carry
  a ``descriptor``) train a :class:`~jaxrxn.generative.flow.SurfaceFlow`, anything else an
  equivariant :class:`~jaxrxn.generative.flow.AtomisticFlow`.

Progress goes to stderr (a bar on a terminal, and one line of losses every ``--log-every``
steps; nothing with ``--quiet``). With ``--checkpoint`` the training state (parameters,
optimizer state, PRNG key, step) is saved after every ``--log-every`` steps, and
``--resume`` continues from it bit for bit; ``--stop-at`` ends the run early (for wall-time
limits) and exits 1, like any run that has not finished. The model is written by
:func:`jaxrxn.generative.flow.save_model`. Exit codes: 0 finished, 1 stopped early,
2 bad input.
"""

from __future__ import annotations

import os
import time

import numpy as np

from jaxrxn.commands._common import finish, resume_checkpoint, run_training

EXAMPLE = """\
jaxrxn train-flow surfaces -o flow.npz --steps 2000 --checkpoint ck.npz
jaxrxn train-flow surfaces -o flow.npz --steps 2000 --checkpoint ck.npz --resume   # after an interruption"""

SOURCES = ("surfaces", "lj7-2d")


def add_arguments(parser) -> None:
    parser.add_argument("data", help="'surfaces', 'lj7-2d' or a Transition1x-layout HDF5 file")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL.npz", help="where to write the trained model")
    parser.add_argument("--split", default="train", help="HDF5 split to train on (train)")
    parser.add_argument("--level", default="jaxrxn", help="HDF5 energy level name (jaxrxn; real Transition1x: wB97x_6-31G(d))")
    parser.add_argument("--formula", default=None, help="HDF5: train only on reactions of this formula")
    parser.add_argument("--last-frames", type=int, default=None, help="HDF5: keep the last N frames of each record")
    parser.add_argument("--train-seeds", type=int, default=100, help="built data sets: initial states / surfaces (100)")
    parser.add_argument("--save-data", metavar="FILE.h5", help="built data sets: also write them here (Transition1x layout)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps (2000)")
    parser.add_argument("--batch-size", type=int, default=128, help="reactions per step (128)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam, cosine decay to 5%% (2e-3)")
    parser.add_argument("--features", type=int, default=None, help="network width (SurfaceFlow 64, AtomisticFlow 32)")
    parser.add_argument("--layers", type=int, default=3, help="atomistic message-passing layers (3)")
    parser.add_argument("--backbone", choices=("painn", "egnn"), default="painn", help="atomistic backbone (painn)")
    parser.add_argument("--seed", type=int, default=0, help="training seed: initialisation, batches, noise (0)")
    parser.add_argument("--log-every", type=int, default=100, help="progress/checkpoint interval in steps (100)")
    parser.add_argument("--checkpoint", metavar="CK.npz", help="save the training state here every --log-every steps")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--stop-at", type=int, default=None, help="stop (checkpointed) after this many steps")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def load_reactions(args):
    """The reactions named by ``args.data`` and the kind of model they need."""
    from jaxrxn.generative.data import read_transition1x, split_seeds, write_transition1x

    if args.data in SOURCES:
        if args.train_seeds < 1:
            raise ValueError("--train-seeds must be at least 1.")
        seeds = split_seeds(args.train_seeds, 0)[0]
        if args.data == "surfaces":
            from jaxrxn.generative.data import build_surface_paths

            rx = build_surface_paths(seeds)
        else:
            from jaxrxn.generative.clusters import build_lj7_paths

            rx = build_lj7_paths(seeds)
        if args.save_data:
            write_transition1x(args.save_data, {"train": rx})
    else:
        if not os.path.exists(args.data):
            raise FileNotFoundError(f"data {args.data!r} is neither {' nor '.join(SOURCES)} nor an existing file.")
        try:
            rx = read_transition1x(args.data, args.split, args.level, last_frames=args.last_frames)
        except OSError as err:
            raise ValueError(f"cannot read {args.data!r} as HDF5: {err}") from None
        if args.formula:
            rx = [r for r in rx if r.formula == args.formula]
    if not rx:
        raise ValueError(f"no reactions in {args.data!r}" + (f" with formula {args.formula!r}." if args.formula else "."))
    return rx, ("surface" if "descriptor" in rx[0].extras else "atomistic")


def run(args) -> int:
    positive = {"--steps": args.steps, "--batch-size": args.batch_size, "--log-every": args.log_every, "--layers": args.layers}
    report, how = run_training(args, _train, positive)
    return finish(
        report, args.json,
        "train-flow {how}: step {step}/{n_steps} on {n_reactions} reactions, loss {loss_str}, "
        "{train_s:.1f} s; model written to {output}",
        how=how, loss_str="n/a" if report["loss"] is None else f"{report['loss']:.5f}",
    )  # fmt: skip


def _train(args, p) -> dict:
    """Load the data, train, write the model; the report of :func:`run`."""
    from jaxrxn.generative.flow import AtomisticFlow, FlowConfig, SurfaceFlow, init_train_state, save_model, train
    from jaxrxn.generative.nets import count_params

    t0 = time.perf_counter()
    with p.stage(f"reactions from {args.data}"):
        rx, kind = load_reactions(args)
    if kind == "surface":
        from jaxrxn.generative.data import surface_pathset

        data = surface_pathset(rx)
        model = SurfaceFlow(features=args.features or 64)
    else:
        from jaxrxn.generative.clusters import cluster_pathset

        data = cluster_pathset(rx)
        model = AtomisticFlow(backbone=args.backbone, features=args.features or 32, n_layers=args.layers)
    cfg = FlowConfig(batch_size=args.batch_size, learning_rate=args.learning_rate, n_steps=args.steps, seed=args.seed)
    state = resume_checkpoint(args, init_train_state(model, data, cfg))
    if args.resume:
        if int(state.step) % args.log_every:
            raise ValueError(f"--log-every {args.log_every} does not divide the checkpoint's step {int(state.step)}.")
    start = int(state.step)
    t_data = time.perf_counter() - t0
    p.log(f"train-flow: {len(data)} reactions ({kind}), {type(model).__name__} with "
          f"{count_params(state.params)} parameters, step {start} of {cfg.n_steps}")  # fmt: skip
    last: dict = {}

    t1 = time.perf_counter()
    with p.stage("training steps", total=cfg.n_steps) as advance:
        advance(start)

        def log(step, metrics):
            advance(step - last.get("_step", start))
            last.update(metrics, _step=step)
            p.log(f"  step {step:7d}  " + "  ".join(f"{k} {v:.5f}" for k, v in metrics.items()))

        state = train(model, data, cfg, state=state, log_every=args.log_every, callback=log,
                      checkpoint=args.checkpoint, stop_at=args.stop_at)  # fmt: skip
    last.pop("_step", None)
    t_train = time.perf_counter() - t1
    step = int(state.step)
    finished = step >= cfg.n_steps
    meta = {"data": os.path.abspath(args.data) if args.data not in SOURCES else args.data, "kind": kind,
            "n_reactions": len(data), "steps": step, "n_steps": cfg.n_steps, "batch_size": cfg.batch_size,
            "learning_rate": cfg.learning_rate, "seed": cfg.seed}  # fmt: skip
    save_model(args.output, model, state.params, **meta)
    report = {
        "converged": finished,
        "finished": finished,
        "step": step,
        "n_steps": cfg.n_steps,
        "resumed_from": start if args.resume else None,
        "n_reactions": len(data),
        "kind": kind,
        "model": type(model).__name__,
        "n_params": count_params(state.params),
        "loss": last.get("loss", float("nan")),
        "loss_terms": {k: v for k, v in last.items() if k != "loss"},
        "output": args.output,
        "checkpoint": args.checkpoint,
        "seed": cfg.seed,
        "data_s": t_data,
        "train_s": t_train,
    }
    if np.isnan(report["loss"]):
        report["loss"] = None  # no step ran (resumed a finished run)
    return report
