"""``jaxrxn build-dataset [SMILES] -o DATA.h5 [--seed S] [--attempts A] [--time-limit SEC] [--molecules M] [--atoms MIN-MAX] [--max-memory GB] [--card CARD.md] [--json]``.

Builds (or resumes) the GFN2-xTB reaction data set of :mod:`jaxrxn.datasets.builder`:
per reactant molecule of the SMILES list (default: the shipped ``jaxrxn/data/reactants.smi``),
``--attempts`` single-ended searches (a relaxed scan along a driving coordinate, one per
symmetry class; RS-P-RFO in internal coordinates from its maximum; harmonic analysis; IRC to
both minima), with every finished attempt checkpointed in
``DATA.h5.work/``. Run the same command again to resume after a kill: finished attempts are
skipped. Start it several times at once (one process per core) to share the work: each
attempt is claimed by one process; with disjoint ``--atoms`` ranges each process compiles
only its own molecule sizes. Needs RDKit (``pip install 'jaxrxn[data]'``) and tblite. One line per attempt goes
to stderr (``-q`` silences it); the summary goes to stdout. Exit code 0.
"""

from __future__ import annotations

EXAMPLE = """\
jaxrxn build-dataset -o reactions.h5 --seed 0 --card reactions.md 2> build.log   # hours; the same line resumes"""


def add_arguments(parser) -> None:
    parser.add_argument("smiles", nargs="?", help="SMILES file (one molecule a line, optional name; default: the shipped list)")
    parser.add_argument("-o", "--output", required=True, metavar="DATA.h5", help="HDF5 file (Transition1x layout); work in DATA.h5.work/")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the attempts and the splits (0)")
    parser.add_argument("--attempts", type=int, default=12, help="attempts per molecule (12)")
    parser.add_argument("--time-limit", type=float, metavar="SEC", help="start no new attempt after this many seconds")
    parser.add_argument("--molecules", type=int, metavar="M", help="use only the first M molecules of the list")
    parser.add_argument("--atoms", metavar="MIN-MAX", help="only the molecules with MIN to MAX atoms, hydrogens included (all)")
    parser.add_argument("--max-memory", type=float, metavar="GB",
                        help="drop JAX's compiled programs when the process grows past GB (they are compiled again when needed)")
    parser.add_argument("--card", metavar="CARD.md", help="write the data card (markdown; figure beside it) at the end")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args) -> int:
    import sys

    from jaxrxn.commands._common import finish
    from jaxrxn.datasets.builder import BuildConfig, build_dataset

    if args.attempts < 1 or any(v is not None and v <= 0 for v in (args.time_limit, args.max_memory)):
        raise ValueError("--attempts, --time-limit and --max-memory must be positive.")
    atoms = None
    if args.atoms is not None:
        try:
            atoms = tuple(int(x) for x in args.atoms.split("-"))
        except ValueError:
            atoms = ()
        if len(atoms) != 2 or not 0 < atoms[0] <= atoms[1]:
            raise ValueError(f"--atoms takes MIN-MAX (e.g. 4-10), got {args.atoms!r}.")
    quiet = getattr(args, "quiet", False)
    log = (lambda line: None) if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    summary = build_dataset(
        args.output, args.smiles, BuildConfig(seed=args.seed, attempts=args.attempts),
        time_limit=args.time_limit, molecules=args.molecules, max_memory_gb=args.max_memory, atoms=atoms, log=log,
    )  # fmt: skip
    # every attempt ran (a time limit or a failed search is a result, not a failure)
    report = {
        "converged": True, "reactions": summary["reactions"], "molecules_with_reactions": summary["molecules_with_reactions"],
        "attempts": summary["attempts"], "outcomes": summary["outcomes"], "n_force_calls": summary["n_force_calls"],
        "seconds": summary["seconds"],
    }  # fmt: skip
    if args.card:
        from jaxrxn.datasets.card import write_card

        write_card(args.output, args.card)
    return finish(
        report, args.json,
        "{reactions} reactions from {molecules_with_reactions} molecules in {attempts} attempts "
        "({n_force_calls} gradients, {seconds} s)",
    )  # fmt: skip
