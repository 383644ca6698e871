"""``jaxrxn reaction IS FS --calc NAME [--json] [-o OUTDIR]``: reactant and product to a
verified transition state (:func:`jaxrxn.reaction.find_reaction`).

Relaxes and aligns the end states (unless ``--no-relax``), interpolates, refines the
interpolation's highest image to a first-order saddle (molecules on an outside calculator;
``--no-refine-interpolation-max`` skips it, ``--refine-interpolation-max`` asks for it
elsewhere), checks its frequencies, follows the IRC both ways and verifies that it ends in
IS and FS; when that saddle does not verify (or was not tried), runs a CI-NEB and does the
same from its climbing image. ``--ts-guess TS.xyz`` (e.g. ``jaxrxn generate-ts``'s output)
starts the saddle search there first; ``--ts-generator`` makes that guess with the shipped
TS generator (:class:`jaxrxn.generative.ts_generator.PretrainedTSGuess`, ``gfn2-xtb``:
C, H, N, O) from the end states once relaxed, for each reaction of a ``--batch`` too;
``--hessian-from nnp`` starts every saddle search
from the shipped neural-network potential's exact Hessian (molecules on an outside
calculator). The JSON's ``ts_source`` says which start verified
(``"guess"``, ``"interpolation"`` or ``"band"``); ``guess_failure`` and
``interpolation_failure`` say why the earlier ones did not. OUTDIR receives ``ts.xyz``,
``path.extxyz`` (the band, when one ran), ``irc.extxyz`` (the IRC, from the initial state's side to the final state's) and
``profile.png``. Exit 0: a verified transition state; 1: not (the JSON's
``failed_stage`` and ``message`` say where and why); 2: bad input, one line on stderr.

``--stepwise`` (:func:`jaxrxn.mechanism.find_mechanism`) goes on when the saddle found joins
an end state to an intermediate minimum, or two intermediates, searching the rest of the way
from them (or, when it only turns an end state into another conformer, the way to that
conformer; at most ``--max-steps`` searches): the JSON then has the mechanism's keys and
its ``steps``, each with the single-run keys; OUTDIR receives one ``stepK/`` folder per
step. Exit 0 when every step is verified.

``--batch PAIRS.txt`` runs every ``IS_FILE FS_FILE`` line (:func:`jaxrxn.batch.find_reactions`:
JAX potentials as one padded, vmapped batch; outside calculators ``--workers`` at a time)
and prints a JSON list in input order (each entry with ``is``/``fs`` and the single-run
keys; with ``--stepwise`` the mechanism's keys, each mechanism going on from the batch's
search as its first, one reaction at a time). With ``--checkpoint FILE`` (default ``PAIRS.txt.checkpoint.json``) each finished
reaction is saved at once, so an interrupted batch resumes without redoing them. With
``--time-limit SECONDS`` each reaction on an outside calculator has that long from its own
start (its ``--stepwise`` continuation as long again): one whose SCF struggles ends there
and the next starts; such a reaction is saved but run again by the next run. Exit 0
when every reaction was verified, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from jaxrxn.calculators import potential_from_name
from jaxrxn.commands._common import (
    add_calc_argument, add_hessian_from_argument, add_time_limit_argument, build_potential, hessian_potential, print_json, progress, read_one, to_jsonable,
)  # fmt: skip

EXAMPLE = """\
# the Claisen rearrangement with GFN2-xTB; out/: ts.xyz, path.extxyz, irc.extxyz, profile.png
jaxrxn reaction benchmarks/data/claisen_allyl_vinyl_ether.xyz benchmarks/data/claisen_pent4enal.xyz --calc xtb -o out/ --json
jaxrxn reaction --batch pairs.txt --calc xtb --json           # pairs.txt: one 'IS FS' per line; resumable
jaxrxn reaction --batch pairs.txt --calc xtb --stepwise --json  # each unverified one on through intermediates
jaxrxn reaction is.xyz fs.xyz --calc xtb --stepwise --json    # through intermediates, step by step
# the pretrained TS generator's guess first, then the interpolation's highest image, then the CI-NEB
jaxrxn generate-ts is.xyz fs.xyz -o guess.xyz && jaxrxn reaction is.xyz fs.xyz --calc xtb --ts-guess guess.xyz --json
# the CI-NEB alone (no saddle search from the interpolation's highest image)
jaxrxn reaction is.xyz fs.xyz --calc xtb --no-refine-interpolation-max --json
# every saddle search started from the shipped NNP's Hessian (an ML Hessian)
jaxrxn reaction is.xyz fs.xyz --calc xtb --hessian-from nnp --json"""


def add_arguments(parser) -> None:
    parser.add_argument("initial", nargs="?", help="structure file of the initial state (reactant; last frame)")
    parser.add_argument("final", nargs="?", help="structure file of the final state (product; last frame)")
    add_calc_argument(parser)
    add_time_limit_argument(parser)
    parser.add_argument(
        "--interpolation", choices=("geodesic", "idpp", "linear"), default=None,
        help="initial band: geodesic (default for molecules), idpp or linear",
    )  # fmt: skip
    parser.add_argument("--images", type=int, default=8, help="band images, end points included (8)")
    parser.add_argument("--no-relax", action="store_true", help="use the end states as given (already minima)")
    parser.add_argument("--fmax", type=float, default=0.01, help="force threshold of minima and saddle, eV/Å (0.01)")
    parser.add_argument(
        "--neb-fmax", type=float, default=None,
        help="CI-NEB force threshold before the saddle search, eV/Å (default: 0.5 in at most 50 band steps "
        "for an outside calculator; 0.1 for a JAX potential)",
    )  # fmt: skip
    parser.add_argument("--ts-guess", metavar="TS.xyz", help="start the saddle search here first (e.g. generate-ts's output)")
    parser.add_argument(
        "--ts-generator", nargs="?", const="gfn2-xtb", metavar="MODEL",
        help="start the saddle search first from this pretrained TS generator's guess between the relaxed end states "
        "(gfn2-xtb when no MODEL is named; each reaction of a --batch too)",
    )  # fmt: skip
    parser.add_argument(
        "--refine-interpolation-max", action=argparse.BooleanOptionalAction, default=None,
        help="before the CI-NEB (after a --ts-guess that did not verify), try the saddle search from the interpolation's "
        "highest image (default: on for molecules on an outside calculator such as xtb or pyscf; --no-... for the band alone)",
    )  # fmt: skip
    add_hessian_from_argument(parser, "every saddle search (molecules on an outside calculator such as xtb)")
    parser.add_argument("-o", "--outdir", metavar="OUTDIR", help="write ts.xyz, path.extxyz, irc.extxyz, profile.png here")
    parser.add_argument(
        "--stepwise", action="store_true",
        help="go on through intermediates: a saddle joining an end state or an intermediate to another minimum becomes a step",
    )  # fmt: skip
    parser.add_argument("--max-steps", type=int, default=3, help="--stepwise: the most searches (3)")
    parser.add_argument("--batch", metavar="PAIRS.txt", help="many reactions, one 'IS_FILE FS_FILE' per line")
    parser.add_argument("--checkpoint", metavar="FILE", help="batch checkpoint (default PAIRS.txt.checkpoint.json)")
    parser.add_argument("--workers", type=int, default=1, help="--batch on an outside calculator: reactions at once (1)")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="--batch on a JAX potential: at most N reactions per vmapped chunk, the chunks in turn (less memory; default all at once)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _check_args(args) -> None:
    if args.ts_guess and args.ts_generator:
        raise ValueError("give --ts-guess or --ts-generator, not both.")
    if args.fmax <= 0 or (args.neb_fmax is not None and args.neb_fmax <= 0):
        raise ValueError("--fmax and --neb-fmax must be positive.")
    if args.images < 3:
        raise ValueError(f"--images must be at least 3 (end points included); got {args.images}.")
    if args.max_steps < 1:
        raise ValueError(f"--max-steps must be at least 1; got {args.max_steps}.")


def _read_pair(is_file: str, fs_file: str):
    from jaxrxn.reaction import check_end_points

    R0, system = read_one(is_file, "initial state")
    R1, system1 = read_one(fs_file, "final state")
    check_end_points(R0, R1, system.numbers, system1.numbers, cell=system.cell, pbc=system.pbc)
    return R0, R1, system


def _read_guess(filename: str, R0, system):
    """The TS guess of ``--ts-guess`` (last frame): finite, no overlapping atoms, the
    initial state's atoms in the same order."""
    from jaxrxn.validation import check_same_system

    R, guess_system = read_one(filename, "TS guess")
    check_same_system(R0, R, system.numbers, guess_system.numbers, names=("initial state", "TS guess"))
    return R


def _generator(args, system):
    """The ``--ts-generator`` guess of a reaction's atoms (``None`` without the flag);
    ``ValueError`` outside the model's domain, before any calculator call."""
    if not args.ts_generator:
        return None
    from jaxrxn.generative.ts_generator import PretrainedTSGuess

    return PretrainedTSGuess.for_system(system, args.ts_generator)


def _pipeline_options(args, progress) -> dict:
    """The pipeline's keywords from the command line, the same for one reaction and a batch."""
    return dict(
        relax=not args.no_relax, interpolation=args.interpolation, n_images=args.images, fmax=args.fmax,
        neb_fmax=args.neb_fmax, refine_interpolation_max=args.refine_interpolation_max, progress=progress,
    )  # fmt: skip


def _solve(args, R0, R1, system, progress, ts_guess=None):
    """find_reaction's result, or with ``--stepwise`` find_mechanism's."""
    from jaxrxn.mechanism import find_mechanism
    from jaxrxn.reaction import find_reaction

    potential = build_potential(args, R0, system)
    options = dict(_pipeline_options(args, progress), ts_guess=ts_guess, hessian_from=hessian_potential(args, R0, system))
    if args.stepwise:
        result = find_mechanism(R0, R1, potential, max_steps=args.max_steps, **options)
    else:
        result = find_reaction(R0, R1, potential, **options)
    close = getattr(potential.energy_fn, "close", None)
    if close is not None:
        close()
    return result


def write_outputs(outdir: str, result, system) -> None:
    """``ts.xyz``, ``path.extxyz``, ``irc.extxyz`` and ``profile.png`` (what the run reached)."""
    from jaxrxn.io import to_atoms, write_path

    os.makedirs(outdir, exist_ok=True)
    if result.R_ts is not None:
        to_atoms(result.R_ts, system, result.ts_energy).write(os.path.join(outdir, "ts.xyz"))
    if result.band is not None:
        write_path(os.path.join(outdir, "path.extxyz"), result.band, system, result.band_energies)
    if result.irc_path is not None:
        write_path(os.path.join(outdir, "irc.extxyz"), result.irc_path, system, result.irc_energies)
    if result.band is not None or result.irc_path is not None:
        plot_reaction_profile(result, os.path.join(outdir, "profile.png"))


def plot_reaction_profile(result, filename: str) -> None:
    """Energy relative to the initial state along the IRC (line) and the band (points)."""
    import numpy as np

    from jaxrxn.plot import _pyplot

    plt = _pyplot()
    E0 = result.e_initial
    fig, ax = plt.subplots(figsize=(5, 3.5))

    def arc(path):
        seg = np.linalg.norm(np.diff(path, axis=0).reshape(len(path) - 1, -1), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        return s / max(s[-1], 1e-12)

    if result.irc_path is not None:
        ax.plot(arc(result.irc_path), result.irc_energies - E0, "-", color="C0", label="IRC")
    if result.band is not None:
        ax.plot(arc(result.band), result.band_energies - E0, "o", color="C1", label="CI-NEB images")
    if result.ts_energy is not None:
        ax.axhline(result.ts_energy - E0, color="C3", lw=0.8, ls="--", label="saddle")
    ax.set_xlabel("reaction coordinate (normalised arc length)")
    ax.set_ylabel("energy − E(IS) [eV]")
    state = "verified" if result.converged else f"NOT verified ({result.failed_stage})"
    barrier = "" if result.barrier is None else f"barrier {result.barrier:.4f} eV, "
    ax.set_title(f"{barrier}{state}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(filename, dpi=120)
    plt.close(fig)


def _summary(result) -> str:
    if result.converged:
        return (
            f"reaction verified: barrier {result.barrier:.4f} eV, reverse {result.reverse_barrier:.4f} eV, "
            f"reaction energy {result.reaction_energy:.4f} eV, {result.imaginary_frequency_cm1:.1f} cm^-1, "
            f"{result.n_force_calls} force calls"
        )
    return f"reaction NOT verified: failed at {result.failed_stage}: {result.message}; {result.n_force_calls} force calls"


def run(args) -> int:
    _check_args(args)
    if args.batch:
        if args.initial or args.final or args.outdir or args.ts_guess:
            raise ValueError("--batch takes no IS/FS files, no -o and no --ts-guess.")
        return _run_batch(args)
    if not (args.initial and args.final):
        raise ValueError("give IS and FS files, or --batch PAIRS.txt.")
    R0, R1, system = _read_pair(args.initial, args.final)
    ts_guess = _read_guess(args.ts_guess, R0, system) if args.ts_guess else _generator(args, system)
    with progress(args) as shown, shown.stage("reaction"):
        result = _solve(args, R0, R1, system, progress=lambda line: shown.log(f"jaxrxn reaction: {line}"), ts_guess=ts_guess)
    if args.stepwise:
        return _report_mechanism(args, result, system)
    if args.outdir:
        write_outputs(args.outdir, result, system)
    if args.json:
        print_json(result.to_json())
    else:
        print(_summary(result))
    _note_calculator_failure(result)
    return 0 if result.converged else 1


def _note_calculator_failure(result) -> None:
    """One line on stderr when the calculator failed (the JSON's message says where)."""
    if result.failed_stage is not None and "calculator" in result.message.lower():
        print(f"jaxrxn: {result.message}; stopped at the last good geometry", file=sys.stderr)


def _report_mechanism(args, mechanism, system) -> int:
    """Outputs of ``--stepwise``: OUTDIR/stepK/ per step, the JSON or a line per step."""
    if args.outdir:
        for k, step in enumerate(mechanism.steps, 1):
            write_outputs(os.path.join(args.outdir, f"step{k}"), step, system)
    if args.json:
        print_json(mechanism.to_json())
    else:
        for k, step in enumerate(mechanism.steps, 1):
            print(f"step {k}: {_summary(step)}")
        state = "verified" if mechanism.converged else f"NOT verified ({mechanism.message})"
        barrier = "" if mechanism.barrier is None else f", highest saddle {mechanism.barrier:.4f} eV above the initial state"
        print(f"mechanism of {len(mechanism.steps)} step(s) {state}{barrier}, {mechanism.n_force_calls} force calls in {mechanism.n_searches} search(es)")
    if mechanism.failed_step is not None:
        _note_calculator_failure(mechanism.steps[mechanism.failed_step])
    return 0 if mechanism.converged else 1


def _run_batch(args) -> int:
    from jaxrxn.commands.neb import _read_pairs

    pairs = _read_pairs(args.batch)
    base = os.path.dirname(os.path.abspath(args.batch))

    def locate(name: str) -> str:
        return name if os.path.exists(name) or os.path.isabs(name) else os.path.join(base, name)

    pairs = [(locate(a), locate(b)) for a, b in pairs]
    inputs = [_read_pair(a, b) for a, b in pairs]  # every input is checked before any work
    guesses = [_generator(args, system) for _, _, system in inputs]
    checkpoint = args.checkpoint or args.batch + ".checkpoint.json"
    done: dict[str, dict] = {}
    if os.path.exists(checkpoint):
        with open(checkpoint) as fh:
            done = json.load(fh)
    settings = {k: getattr(args, k) for k in ("calc", "charge", "mult", "interpolation", "images", "no_relax", "fmax", "neb_fmax")}
    if args.stepwise:
        settings.update(stepwise=True, max_steps=args.max_steps)
    # a checkpoint from before it defaulted to on for molecules on outside calculators
    # (no such key) ran the band alone: its reactions run again
    settings.update(refine_interpolation_max=args.refine_interpolation_max)
    for option in ("hessian_from", "ts_generator"):  # absent unless given: older checkpoints stay valid
        if getattr(args, option):
            settings[option] = getattr(args, option)
    keys = [f"{a} {b}" for a, b in pairs]
    # a reaction the time limit stopped is run again, as one whose settings changed
    todo = [k for k, key in enumerate(keys) if done.get(key, {}).get("settings") != settings or done[key].get("time_limited")]
    with progress(args) as shown, shown.stage("reactions", total=len(pairs)) as advance:
        for k in sorted(set(range(len(pairs))) - set(todo)):
            shown.log(f"jaxrxn reaction: [{k + 1}/{len(pairs)}] {keys[k]}: from the checkpoint")
            advance()
        if todo:
            from jaxrxn.batch import find_reactions
            from jaxrxn.potentials.external import HostEnergy, calculator_failures, time_limit, time_limited

            # not build_potential, which would start one limit for the whole batch: find_reactions
            # gives each reaction its own
            potentials = [potential_from_name(args.calc, inputs[k][0], inputs[k][2], charge=args.charge, multiplicity=args.mult)
                          for k in todo]  # fmt: skip
            if args.ts_generator and not all(isinstance(p.energy_fn, HostEnergy) for p in potentials):
                raise ValueError("--batch --ts-generator is for outside calculators (xtb, pyscf): a JAX potential's padded batch has no guess stage.")
            hessians = [hessian_potential(args, inputs[k][0], inputs[k][2]) for k in todo]
            options = _pipeline_options(args, lambda line: shown.log(f"jaxrxn reaction: {line}"))

            def save(j: int, result) -> None:
                k = todo[j]
                if args.stepwise:  # on from the batch's search, which is the mechanism's first, under a limit of its own
                    from jaxrxn.mechanism import find_mechanism

                    with time_limit(potentials[j], args.time_limit) if args.time_limit else contextlib.nullcontext():
                        result = find_mechanism(*inputs[k][:2], potentials[j], max_steps=args.max_steps, first=result,
                                                hessian_from=hessians[j], **options)  # fmt: skip
                failures = calculator_failures(potentials[j])
                done[keys[k]] = {"settings": settings, "report": to_jsonable({"is": pairs[k][0], "fs": pairs[k][1], **result.to_json()}),
                                 **({"time_limited": True} if time_limited(failures) else {})}  # fmt: skip
                tmp = checkpoint + ".tmp"
                with open(tmp, "w") as fh:
                    json.dump(done, fh)
                os.replace(tmp, checkpoint)  # a kill mid-write leaves the previous checkpoint
                advance()

            try:
                find_reactions([inputs[k][:2] for k in todo], potentials, hessian_from=hessians, ts_guess=[guesses[k] for k in todo], workers=args.workers,
                               time_limit=args.time_limit, batch_size=args.batch_size, on_result=save, **options)  # fmt: skip
            finally:
                for potential in potentials:
                    close = getattr(potential.energy_fn, "close", None)
                    if close is not None:
                        close()
    reports = [done[key]["report"] for key in keys]
    if args.json:
        print_json(reports)
    else:
        for r in reports:
            if args.stepwise:
                state = f"{len(r['steps'])} step(s), " + (f"highest saddle {r['barrier']:.4f} eV" if r["converged"] else f"NOT verified ({r['message']})")
            else:
                state = f"barrier {r['barrier']:.4f} eV" if r["converged"] else f"NOT verified ({r['failed_stage']})"
            print(f"{r['is']} -> {r['fs']}: {state}, {r['n_force_calls']} force calls")
    return 0 if all(r["converged"] for r in reports) else 1
