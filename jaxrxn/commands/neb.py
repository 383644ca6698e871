"""``jaxrxn neb IS FS --calc NAME``: climbing-image NEB between two end states.

Exit 0 when the band converged, 1 when not, 2 on bad input. ``--images N`` counts all
images, end points included.
"""

from __future__ import annotations

import numpy as np

from jaxrxn.commands._common import add_calc_argument, build_potential, finish, read_one


def add_arguments(parser) -> None:
    parser.add_argument("initial", metavar="IS", help="initial state (any file ASE reads; extxyz keeps cell, pbc, FixAtoms)")
    parser.add_argument("final", metavar="FS", help="final state, same atoms in the same order")
    add_calc_argument(parser)
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
    R0, system = read_one(args.initial, "initial state")
    R1, system1 = read_one(args.final, "final state")
    check_same_system(R0, R1, system.numbers, system1.numbers)
    periodic = system.periodic
    cell = system.cell if periodic else None
    pbc = system.pbc if periodic else None
    potential = build_potential(args, R0, system)
    path0 = interpolate(R0, R1, args.images, args.interpolate, cell=cell, pbc=pbc, fixed=system.fixed)
    solver = NEB(climb=args.climb) if args.optimizer == "fire" else NEB(climb=args.climb, optimizer="lbfgs")
    r = neb(potential, jnp.asarray(path0), solver, fmax=args.fmax, max_steps=args.max_steps, cell=cell, pbc=pbc)
    energies = np.asarray(r.energies)
    if args.output:
        write_path(args.output, r.path, system, energies, r.forces)
    if args.plot:
        from jaxrxn.plot import plot_profile

        plot_profile(r, args.plot, cell=cell, pbc=pbc)
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
