"""``jaxrxn neb IS FS --calc NAME``: climbing-image NEB between two end states.

Exit 0 when the band converged, 1 when not, 2 on bad input. ``--images N`` counts all
images, end points included. ``jaxrxn neb --batch PAIRS.txt --calc NAME`` relaxes every
``IS_FILE FS_FILE`` line of PAIRS.txt in one compiled call (:func:`jaxrxn.batch.batch_neb`);
``--json`` prints a list of per-reaction objects in input order; exit 0 when all converged.
"""

from __future__ import annotations

import numpy as np

from jaxrxn.commands._common import add_calc_argument, add_time_limit_argument, build_potential, finish, progress, read_one

EXAMPLE = """\
jaxrxn neb IS.xyz FS.xyz --calc emt --images 9 --climb --plot profile.png -o band.extxyz
jaxrxn neb --batch pairs.txt --calc emt --climb --json    # pairs.txt: one 'IS FS' per line"""


def add_arguments(parser) -> None:
    parser.add_argument("initial", metavar="IS", nargs="?", help="initial state (any file ASE reads; extxyz keeps cell, pbc, FixAtoms)")
    parser.add_argument("final", metavar="FS", nargs="?", help="final state, same atoms in the same order")
    parser.add_argument("--batch", metavar="PAIRS.txt", help="many reactions, one 'IS_FILE FS_FILE' per line, in one compiled call")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="--batch: at most N bands per vmapped chunk, the chunks in turn (less memory; default all at once)")
    add_calc_argument(parser)
    add_time_limit_argument(parser)
    parser.add_argument("--images", type=int, default=7, metavar="N", help="images including end points (default 7)")
    parser.add_argument("--climb", action="store_true", help="climbing image (converges onto the saddle)")
    parser.add_argument("--fmax", type=float, default=0.05, help="largest NEB force at convergence, eV/Å (default 0.05)")
    parser.add_argument("--max-steps", type=int, default=1000, help="iteration cap (default 1000)")
    parser.add_argument("--interpolate", choices=("idpp", "linear"), default="idpp", help="initial band (default idpp)")
    parser.add_argument("--optimizer", choices=("fire", "lbfgs"), default="fire", help="band optimizer (default fire)")
    parser.add_argument("-o", "--output", metavar="PATH.extxyz", help="write the final band")
    parser.add_argument("--plot", metavar="PROFILE.png", help="write the energy profile")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    import jax.numpy as jnp

    from jaxrxn.io import write_path
    from jaxrxn.path import NEB, interpolate, neb
    from jaxrxn.validation import check_n_images, check_same_system

    check_n_images(args.images)
    if args.fmax <= 0:
        raise ValueError(f"--fmax must be positive; got {args.fmax}.")
    if args.batch:
        if args.initial or args.final or args.output or args.plot:
            raise ValueError("--batch takes no IS/FS files, -o or --plot.")
        return _run_batch(args)
    if not (args.initial and args.final):
        raise ValueError("give IS and FS files, or --batch PAIRS.txt.")
    R0, system = read_one(args.initial, "initial state")
    R1, system1 = read_one(args.final, "final state")
    check_same_system(R0, R1, system.numbers, system1.numbers)
    potential = build_potential(args, R0, system)
    solver = NEB(climb=args.climb) if args.optimizer == "fire" else NEB(climb=args.climb, optimizer="lbfgs")
    with progress(args) as p:
        with p.stage(f"{args.interpolate} interpolation, {args.images} images"):
            path0 = interpolate(R0, R1, args.images, args.interpolate, system=system)
        with p.stage(f"{'CI-' if args.climb else ''}NEB ({args.optimizer}): compiling, then relaxing the band"):
            r = neb(potential, jnp.asarray(path0), solver, fmax=args.fmax, max_steps=args.max_steps)
            energies = np.asarray(r.energies)
        if args.output:
            write_path(args.output, r.path, system, energies, r.forces)
        if args.plot:
            from jaxrxn.plot import plot_profile

            plot_profile(r, args.plot, system=system)
    out = {
        "barrier": float(r.barrier),
        "converged": bool(r.converged),
        "n_force_calls": int(r.n_force_calls),
        "n_steps": int(r.n_steps),
        "ts_index": int(r.ts_index),
        "energies": energies,
    }
    return finish(
        out, args.json,
        "barrier {barrier:.4f} eV at image {ts_index} ({state}; {n_steps} steps, "
        "{n_force_calls} force calls, max NEB force {max_force:.4f} eV/Å)",
        potential=potential, max_force=float(r.max_force),
    )  # fmt: skip


def _read_pairs(filename: str) -> list[tuple[str, str]]:
    import os

    if not os.path.exists(filename):
        raise FileNotFoundError(f"batch file {filename!r} does not exist.")
    pairs = []
    with open(filename) as fh:
        for k, line in enumerate(fh, 1):
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            if len(words) != 2:
                raise ValueError(f"batch file {filename!r} line {k}: expected 'IS_FILE FS_FILE', got {line.strip()!r}.")
            pairs.append((words[0], words[1]))
    if not pairs:
        raise ValueError(f"batch file {filename!r} lists no reactions.")
    return pairs


def _run_batch(args) -> int:
    import jax.numpy as jnp

    from jaxrxn.batch import batch_neb
    from jaxrxn.commands._common import print_json
    from jaxrxn.path import NEB, interpolate
    from jaxrxn.validation import check_same_system

    potentials, bands = [], []
    pairs = _read_pairs(args.batch)
    with progress(args) as p:
        with p.stage(f"reading and interpolating {len(pairs)} reactions", total=len(pairs)) as advance:
            for is_file, fs_file in pairs:
                R0, system = read_one(is_file, "initial state")
                R1, system1 = read_one(fs_file, "final state")
                try:
                    check_same_system(R0, R1, system.numbers, system1.numbers)
                except ValueError as err:
                    raise ValueError(f"{fs_file}: {err}") from None
                potentials.append(build_potential(args, R0, system))
                bands.append(jnp.asarray(interpolate(R0, R1, args.images, args.interpolate, system=system)))
                advance()
        solver = NEB(climb=args.climb) if args.optimizer == "fire" else NEB(climb=args.climb, optimizer="lbfgs")
        with p.stage(f"{len(pairs)} bands in one compiled call: compiling, then relaxing"):
            results = batch_neb(potentials, bands, solver, fmax=args.fmax, max_steps=args.max_steps, batch_size=args.batch_size)
    reports = [
        {
            "barrier": float(r.barrier), "converged": bool(r.converged), "n_force_calls": int(r.n_force_calls),
            "n_steps": int(r.n_steps), "ts_index": int(r.ts_index), "energies": np.asarray(r.energies),
        }
        for r in results
    ]  # fmt: skip
    if args.json:
        print_json(reports)
    else:
        for k, rep in enumerate(reports):
            state = "converged" if rep["converged"] else "NOT converged"
            print(f"reaction {k}: barrier {rep['barrier']:.4f} eV at image {rep['ts_index']} ({state}; "
                  f"{rep['n_steps']} steps, {rep['n_force_calls']} force calls)")  # fmt: skip
    return 0 if all(rep["converged"] for rep in reports) else 1
