"""The ``jaxrxn`` command.

Each subcommand lives in :mod:`jaxrxn.commands` as a module with ``add_arguments(parser)``,
``run(args) -> int`` and ``EXAMPLE`` (shown by ``jaxrxn COMMAND --help``). Exit codes are a
contract: 0 converged (or done), 1 not converged, 2 bad input (with a one-line error on
stderr). Results go to stdout (one JSON object with ``--json``); progress goes to stderr
when it is a terminal (or with ``--progress``), and nothing but errors with ``--quiet``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

#: subcommand -> (module, one-line help)
COMMANDS = {
    "energy": ("jaxrxn.commands.energy", "energy and forces of every frame of a structure file"),
    "neb": ("jaxrxn.commands.neb", "climbing-image NEB between two end states"),
    "saddle": ("jaxrxn.commands.saddle", "saddle-point search (P-RFO, RS-P-RFO or dimer) from a guess"),
    "irc": ("jaxrxn.commands.irc", "intrinsic reaction coordinate from a saddle"),
    "reaction": ("jaxrxn.commands.reaction", "reactant and product to a verified transition state (NEB, saddle, IRC)"),
    "explore": ("jaxrxn.commands.explore", "AFIR exploration of a reaction network"),
    "train-flow": ("jaxrxn.commands.train_flow", "train the path flow generator on a path data set"),
    "train-nnp": ("jaxrxn.commands.train_nnp", "train the neural-network potential on energies and forces"),
    "build-dataset": ("jaxrxn.commands.build_dataset", "build or resume the GFN2-xTB reaction data set from reactant SMILES"),
    "generate-ts": ("jaxrxn.commands.generate_ts", "transition state between a reactant and a product from the pretrained generator"),
    "generate-path": ("jaxrxn.commands.generate_path", "reaction paths and products from a reactant alone (pretrained flow generator)"),
}

EXIT_CONVERGED, EXIT_NOT_CONVERGED, EXIT_BAD_INPUT = 0, 1, 2

#: size cap of the compiled-program cache the CLI keeps by default (least recently used
#: programs go first); a molecular saddle search's program is 2-10 MB
COMPILATION_CACHE_MAX_BYTES = 2 * 1024**3


def compilation_cache_dir(environ: Mapping[str, str]) -> str | None:
    """The folder where the CLI keeps compiled programs between runs (JAX's persistent
    compilation cache), or ``None`` where the user chose through JAX's own variable
    ``JAX_COMPILATION_CACHE_DIR`` (a folder, or empty for no cache), which JAX reads itself.
    Default: ``$XDG_CACHE_HOME/jaxrxn/xla`` (``~/.cache/jaxrxn/xla``).

    A second run on a molecule of the same atom count then skips most compilation: a
    molecular RS-P-RFO search on ethanol with GFN2-xTB took 45.6 s in a first process and
    7.8 s in the next one (outside calculators are FFI custom calls, which the cache keeps;
    2026-12-07)."""
    if "JAX_COMPILATION_CACHE_DIR" in environ:
        return None
    home = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(home) / "jaxrxn" / "xla")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own exit code is also 2; keep it to one line
        print(f"jaxrxn: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``jaxrxn`` parser; only `command`'s module is imported and given its arguments.

    Every subcommand is listed with its one-line help, but importing a command module (and
    through it JAX) is left to the one that runs, so ``jaxrxn --help`` answers at once.
    """
    parser = _Parser(
        prog="jaxrxn", description="Reaction paths, saddles and rare events in JAX.",
        epilog="Run 'jaxrxn COMMAND --help' for a command's options and an example. Exit codes: "
        "0 converged, 1 not converged, 2 bad input.",
    )  # fmt: skip
    parser.add_argument("--version", action=_Version, nargs=0, help="show the versions of jaxrxn, JAX and Python and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_, formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == command:
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            shown = p.add_mutually_exclusive_group()
            for flags, help_ in ((("-q", "--quiet"), "print no progress on stderr (errors only)"),
                                 (("--progress",), "show progress on stderr even when it is not a terminal")):  # fmt: skip
                try:
                    shown.add_argument(*flags, action="store_true", help=help_)
                except argparse.ArgumentError:  # the command defines it itself
                    pass
            example = getattr(mod, "EXAMPLE", None)
            if example:
                p.epilog = "example:\n" + "\n".join("  " + line for line in example.strip().splitlines())
            p.set_defaults(_run=mod.run)
    return parser


class _Version(argparse.Action):
    # looked up only when asked (the metadata scan costs time), from the package metadata,
    # so --version imports neither JAX nor jaxrxn's modules
    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        def v(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return "not installed"

        print(f"jaxrxn {v('jaxrxn')} (jax {v('jax')}, Python {sys.version.split()[0]})")
        parser.exit()


def _command(argv: list[str]) -> str | None:
    # The first positional argument names the subcommand (the top level has only options).
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command(argv)).parse_args(argv)
    import jax

    # The CLI is an application, not a library: it may choose float64 for saddle accuracy,
    # and keep compiled programs between runs.
    jax.config.update("jax_enable_x64", True)
    cache = compilation_cache_dir(os.environ)
    if cache is not None:
        jax.config.update("jax_compilation_cache_dir", cache)
        if "JAX_COMPILATION_CACHE_MAX_SIZE" not in os.environ:
            jax.config.update("jax_compilation_cache_max_size", COMPILATION_CACHE_MAX_BYTES)
    try:
        # what a command keeps open for its whole run: its calculators' --time-limit
        with contextlib.ExitStack() as args.scope:
            return int(args._run(args))
    # Bad input raises these (with a message for the user); anything else, a KeyError
    # included, is a bug and keeps its traceback instead of posing as exit code 2.
    except (ValueError, FileNotFoundError, NotImplementedError) as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"jaxrxn: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
