"""The ``jaxrxn`` command.

Each subcommand lives in :mod:`jaxrxn.commands` as a module with ``add_arguments(parser)``
and ``run(args) -> int``. Exit codes are a contract: 0 converged (or done), 1 not
converged, 2 bad input (with a one-line error on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> (module, one-line help)
COMMANDS = {
    "energy": ("jaxrxn.commands.energy", "energy and forces of every frame of a structure file"),
    "neb": ("jaxrxn.commands.neb", "climbing-image NEB between two end states"),
    "saddle": ("jaxrxn.commands.saddle", "saddle-point search (dimer or P-RFO) from a guess"),
    "irc": ("jaxrxn.commands.irc", "intrinsic reaction coordinate from a saddle"),
    "explore": ("jaxrxn.commands.explore", "AFIR exploration of a reaction network"),
    "train-flow": ("jaxrxn.commands.train_flow", "train the path flow generator on a path data set"),
}

EXIT_CONVERGED, EXIT_NOT_CONVERGED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own exit code is also 2; keep it to one line
        print(f"jaxrxn: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxrxn", description="Reaction paths and saddles in JAX.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module, help_) in COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name == module:
                continue  # not built yet
            raise
        p = sub.add_parser(name, help=help_, description=help_)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    import jax

    # The CLI is an application, not a library: it may choose float64 for saddle accuracy.
    jax.config.update("jax_enable_x64", True)
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args))
    except (ValueError, FileNotFoundError, NotImplementedError, KeyError) as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"jaxrxn: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
