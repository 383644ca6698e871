"""Helpers shared by the subcommands: reading structures, building potentials, JSON output."""

from __future__ import annotations

import json
import os

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


def add_calc_argument(parser) -> None:
    parser.add_argument(
        "--calc", required=True, metavar="NAME",
        help="potential: emt, lj, morse:EL, sutton-chen:EL, eam:SETFL_FILE, xtb (GFN2-xTB), "
        "xtb:gfn1, pyscf:METHOD/BASIS (e.g. pyscf:hf/3-21g, pyscf:b3lyp/def2-svp)",
    )  # fmt: skip
    parser.add_argument("--charge", type=int, default=0, help="total charge for xtb/pyscf (0)")
    parser.add_argument("--mult", type=int, default=1, help="spin multiplicity 2S+1 for xtb/pyscf (1)")


def build_potential(args, R: np.ndarray, system):
    """The potential ``--calc`` names, with ``--charge`` and ``--mult``."""
    return potential_from_name(args.calc, R, system, charge=args.charge, multiplicity=args.mult)


def to_jsonable(x):
    if isinstance(x, dict):
        return {k: to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    a = np.asarray(x)
    if a.dtype == bool:
        return a.tolist()
    if np.issubdtype(a.dtype, np.integer):
        return a.tolist()
    if np.issubdtype(a.dtype, np.floating):
        return a.tolist()
    return x


def print_json(obj) -> None:
    print(json.dumps(to_jsonable(obj)))


def finish(report: dict, as_json: bool, summary: str, potential=None, **extra) -> int:
    """Print `report` as one JSON object, or `summary` formatted with the report's keys,
    `extra` and ``state`` ("converged" / "NOT converged"); return the CLI's exit code:
    0 converged, 1 not converged.

    If the outside calculator of `potential` failed (after its retries), the report says
    so (``result``, ``calculator_failure``), one line on stderr names the failure, and the
    exit code is 1: the solvers stopped at the last good geometry, which the command wrote.
    """
    import sys

    from jaxrxn.potentials.external import calculator_failures

    failures = calculator_failures(potential) if potential is not None else []
    if failures:
        from jaxrxn._results import RESULTS

        report = {**report, "converged": False, "result": RESULTS[RESULTS.calculator_failed], "calculator_failure": failures[0]}
    if as_json:
        print_json(report)
    else:
        state = "converged" if report["converged"] else "NOT converged"
        print(summary.format(state=state, **report, **extra))
    if failures:
        print(f"jaxrxn: calculator failed ({len(failures)}x): {failures[0]}; stopped at the last good geometry", file=sys.stderr)
    return 0 if report["converged"] else 1
