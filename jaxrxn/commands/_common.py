"""Helpers shared by the subcommands: reading structures, building potentials, progress on
stderr, JSON output."""

from __future__ import annotations

import contextlib
import json
import os
import sys

import numpy as np

from jaxrxn.calculators import potential_from_name
from jaxrxn.io import from_atoms, read_structures


def read_one(filename: str, what: str, index=-1):
    """Positions and System of one frame (the last by default) of `filename`."""
    from jaxrxn.validation import check_configuration

    if not os.path.exists(filename):
        raise FileNotFoundError(f"{what} file {filename!r} does not exist.")
    try:
        frames = read_structures(filename, index=index if index != -1 else ":")
    except Exception as err:  # ASE raises many types for unreadable files
        raise ValueError(f"cannot read {what} file {filename!r}: {err}") from None
    R, system = from_atoms(frames[-1] if index == -1 else frames[0])
    check_configuration(R, name=what, cell=system.cell, pbc=system.pbc)
    return R, system


def add_calc_argument(parser, required: bool = True, use: str = "potential") -> None:
    """``--calc NAME``, ``--charge`` and ``--mult``; `use` says what the potential is for."""
    parser.add_argument(
        "--calc", required=required, metavar="NAME",
        help=f"{use}: emt, lj, morse:EL, sutton-chen:EL, eam:SETFL_FILE, xtb (GFN2-xTB), "
        "xtb:gfn1, pyscf:METHOD/BASIS (e.g. pyscf:hf/3-21g, pyscf:b3lyp/def2-svp), nnp (the shipped "
        "GFN2-xTB-trained neural-network potential) or nnp:MODEL.npz (one from train-nnp)",
    )  # fmt: skip
    parser.add_argument("--charge", type=int, default=0, help="total charge for xtb/pyscf (0; nnp: neutral only)")
    parser.add_argument("--mult", type=int, default=1, help="spin multiplicity 2S+1 for xtb/pyscf (1; nnp: singlets only)")


def build_potential(args, R: np.ndarray, system):
    """The potential ``--calc`` names, with ``--charge`` and ``--mult``; with
    ``--time-limit`` (:func:`add_time_limit_argument`), its outside calculator stops
    answering that many seconds after it was built, until the command ends."""
    potential = potential_from_name(args.calc, R, system, charge=args.charge, multiplicity=args.mult)
    seconds = getattr(args, "time_limit", None)
    if seconds is not None:
        from jaxrxn.potentials.external import HostEnergy, time_limit

        if not isinstance(potential.energy_fn, HostEnergy):
            raise ValueError(f"--time-limit bounds outside calculators (xtb, pyscf); {args.calc} is a JAX potential, bounded by the step limits.")
        args.scope.enter_context(time_limit(potential, seconds))
    return potential


def add_time_limit_argument(parser) -> None:
    """``--time-limit SECONDS`` (the command's run must open ``args.scope``, as ``cli.main``
    does, for the limit to hold until it ends)."""
    parser.add_argument(
        "--time-limit", type=positive_seconds, metavar="SECONDS",
        help="outside calculators (xtb, pyscf) stop answering SECONDS after they were built: the run ends "
        "not converged (exit 1) at its last good geometry, the failure saying so (default: no limit)",
    )  # fmt: skip


def positive_seconds(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def add_hessian_from_argument(parser, search: str) -> None:
    """``--hessian-from NAME``; `search` says which saddle search it starts."""
    parser.add_argument("--hessian-from", metavar="NAME",
                        help=f"{search} starts from this JAX potential's exact Hessian (e.g. nnp) instead of a model Hessian")


def hessian_potential(args, R: np.ndarray, system):
    """The potential ``--hessian-from NAME`` names (``None`` without it): a JAX potential
    whose exact Hessian starts a saddle search, built with ``--charge`` and ``--mult`` (the
    shipped NNP refuses other than neutral singlets).
    ``ValueError`` for an outside calculator (it has no such Hessian)."""
    name = args.hessian_from
    if not name:
        return None
    from jaxrxn.potentials.external import HostEnergy

    potential = potential_from_name(name, R, system, charge=args.charge, multiplicity=args.mult)
    if isinstance(potential.energy_fn, HostEnergy):
        raise ValueError(f"--hessian-from needs a JAX potential with an exact Hessian (e.g. nnp); {name} is an outside calculator.")
    return potential


def to_jsonable(x):
    """`x` with arrays as (nested) lists and numbers that are not finite (an energy a
    failed calculator could not give) as ``None``: strict JSON (jq, ``JSON.parse``) has
    no NaN or Infinity."""
    if isinstance(x, dict):
        return {k: to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    a = np.asarray(x)
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        return a.tolist()
    if np.issubdtype(a.dtype, np.floating):
        return np.where(np.isfinite(a), a, None).tolist() if a.ndim else (float(a) if np.isfinite(a) else None)
    return x


def json_line(obj) -> str:
    return json.dumps(to_jsonable(obj), allow_nan=False)


def print_json(obj) -> None:
    print(json_line(obj))


def check_checkpoint(checkpoint: str | None, resume: bool) -> None:
    """``--checkpoint``/``--resume`` of the training commands: ``--resume`` needs an existing
    checkpoint, and a new run never overwrites one (a ``ValueError``/``FileNotFoundError``
    naming the file, which the CLI turns into exit 2)."""
    if resume and not checkpoint:
        raise ValueError("--resume needs --checkpoint.")
    if resume and not os.path.exists(checkpoint):
        raise FileNotFoundError(f"checkpoint {checkpoint!r} does not exist; run without --resume first.")
    if checkpoint and not resume and os.path.exists(checkpoint):
        raise ValueError(f"checkpoint {checkpoint!r} exists: pass --resume to continue it, or remove it.")


def run_training(args, train, positive: dict[str, int]) -> tuple[dict, str]:
    """The common part of ``run(args)`` of a training command (``train-flow``, ``train-nnp``):
    checks that the options in `positive` (``{"--steps": args.steps, ...}``) are at least 1
    and ``--learning-rate`` is positive (``ValueError``, exit 2), and ``--checkpoint``/
    ``--resume`` (:func:`check_checkpoint`); returns the report of ``train(args, progress)``
    and how the run ended (finished, or stopped early) for the summary of :func:`finish`."""
    if min(positive.values()) < 1 or args.learning_rate <= 0:
        raise ValueError(f"{', '.join(positive)} must be positive, and --learning-rate > 0.")
    check_checkpoint(args.checkpoint, args.resume)
    with progress(args) as p:
        report = train(args, p)
    return report, "finished" if report["finished"] else "stopped early (resume with --resume)"


def resume_checkpoint(args, state):
    """`state` replaced by ``args.checkpoint``'s with ``--resume`` (a ``ValueError`` naming the
    file when it does not fit this model and data); `state` itself otherwise."""
    if not args.resume:
        return state
    from jaxrxn.checkpoint import load_checkpoint

    try:
        return load_checkpoint(args.checkpoint, state)
    except ValueError as err:
        raise ValueError(f"checkpoint {args.checkpoint!r} does not fit this model and data: {err}") from None


def finish(report: dict, as_json: bool, summary: str, potential=None, **extra) -> int:
    """Print `report` as one JSON object, or `summary` formatted with the report's keys,
    `extra` and ``state`` ("converged" / "NOT converged"); return the CLI's exit code:
    0 converged, 1 not converged.

    If the outside calculator of `potential` failed (after its retries), the report says
    so (``result``, ``calculator_failure``), one line on stderr names the failure, and the
    exit code is 1: the solvers stopped at the last good geometry, which the command wrote.
    """
    import sys

    from jaxrxn._results import RESULTS
    from jaxrxn.potentials.external import calculator_failures, failure_result

    failures = calculator_failures(potential) if potential is not None else []
    if failures:
        result, why = failure_result(failures)
        report = {**report, "converged": False, "result": RESULTS[result], "calculator_failure": why}
    if as_json:
        print_json(report)
    else:
        state = "converged" if report["converged"] else "NOT converged"
        print(summary.format(state=state, **report, **extra))
    if failures:
        what = why if result == RESULTS.time_limit_reached else f"calculator failed ({len(failures)}x): {why}"
        print(f"jaxrxn: {what}; stopped at the last good geometry", file=sys.stderr)
    return 0 if report["converged"] else 1


class Progress:
    """What a command shows on stderr while it works, from :func:`progress`.

    ``stage(description, total=None)`` is a context manager for one step of the command
    (reading, interpolating, a compiled solve): a spinner with the elapsed time, or a bar
    when `total` is given, advanced by the callable it yields (``advance(n=1,
    description=None)``). ``log(line)`` prints a line above the display (for example a
    training loss). Nothing of it ever goes to stdout, which belongs to the results and
    ``--json``; with ``--quiet`` it prints nothing at all.
    """

    def __init__(self, display=None, quiet: bool = False):
        self._display = display  # a rich.progress.Progress, or None when nothing is shown live
        self._quiet = quiet

    @contextlib.contextmanager
    def stage(self, description: str, total: float | None = None):
        if self._display is None:
            yield lambda n=1, description=None: None
            return
        # a stage without a total is a spinner with a clock: no bar and no count
        task = self._display.add_task(description, total=total, spinner=total is None)

        def advance(n: float = 1, description: str | None = None) -> None:
            self._display.update(task, advance=n, **({} if description is None else {"description": description}))

        yield advance
        if total is None:
            self._display.update(task, total=1, completed=1)

    def log(self, line: str) -> None:
        if self._quiet:
            return
        if self._display is not None:
            self._display.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress(args):
    """The :class:`Progress` of a command run with `args` (rich, on stderr).

    Shown when stderr is a terminal or ``--progress`` was given, never with ``--quiet``
    (``cli.py`` gives every command both options). A command wraps its work in
    ``with progress(args) as p:`` and each long step in ``with p.stage("..."):``; a jitted
    solve is one stage (its loop runs inside XLA), whose spinner and clock keep moving while
    it compiles and runs.
    """
    quiet = bool(getattr(args, "quiet", False))
    if quiet or not (getattr(args, "progress", False) or sys.stderr.isatty()):
        yield Progress(None, quiet)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Display
    from rich.text import Text

    class Bar(BarColumn):
        def render(self, task):
            return Text("") if task.fields.get("spinner") else super().render(task)

    class Count(MofNCompleteColumn):
        def render(self, task):
            return Text("") if task.fields.get("spinner") else super().render(task)

    columns = (SpinnerColumn(finished_text="[green]done"), TextColumn("{task.description}"), Bar(), Count(), TimeElapsedColumn())
    with Display(*columns, console=Console(file=sys.stderr), redirect_stdout=False, redirect_stderr=False) as display:
        yield Progress(display, quiet)
