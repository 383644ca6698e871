"""``jaxrxn explore START --calc NAME [--gamma G] [--max-minima N] -o network.json``.

SC-AFIR from the structure in START (any file ASE reads; the last frame): every atom pair
(and every atom against the rest) pushed together and pulled apart with force constants
ramped up to alpha(gamma), each AFIR path refined by CI-NEB, P-RFO and descents to the
minima it joins. Writes the reaction network as JSON (checkpointed after every explored
minimum; ``--resume`` continues from it). ``--time-limit`` starts no new minimum after that
many seconds (any potential; the minimum in progress is finished and checkpointed). Exit 0
when the exploration finished, 1 when it stopped at ``--max-minima`` or ``--time-limit``
with minima left, 2 for bad input.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from jaxrxn.commands._common import add_calc_argument, build_potential, positive_seconds, progress, read_one

EXAMPLE = """\
jaxrxn explore START.xyz --calc xtb --gamma 100 --max-minima 5 -o network.json
jaxrxn explore START.xyz --calc xtb --max-minima 10 --resume -o network.json   # go on from the checkpoint
jaxrxn explore START.xyz --calc xtb --max-minima 50 --time-limit 3600 -o network.json  # no new minimum after an hour"""


def add_arguments(parser) -> None:
    parser.add_argument("start", help="start structure (any file ASE reads; last frame)")
    add_calc_argument(parser)
    parser.add_argument("--gamma", type=float, default=100.0, help="model collision energy, kJ/mol (default 100)")
    parser.add_argument("--max-minima", type=int, default=10, help="minima to explore at most (default 10)")
    parser.add_argument("--n-alpha", type=int, default=16, help="force constants in the AFIR ramp (default 16)")
    parser.add_argument("--energy-window", type=float, default=float("inf"), help="explore minima up to this many eV above the lowest")
    parser.add_argument("--follow-modes", type=int, default=0, help="softest Hessian modes followed uphill (both signs) from each minimum by mode-following P-RFO")
    parser.add_argument("--follow-random", type=int, default=0, help="random directions followed as well")
    parser.add_argument("--resume", action="store_true", help="continue from the network in -o")
    # its own dest: build_potential reads `time_limit` as the calculator's limit, which stops a
    # run mid-search, where this one waits for the minimum in progress
    parser.add_argument("--time-limit", type=positive_seconds, metavar="SECONDS", dest="minima_time_limit",
                        help="start no new minimum after this many seconds (exit 1 with minima left; --resume goes on)")  # fmt: skip
    parser.add_argument("-o", "--output", default="network.json", help="network JSON (default network.json)")


def run(args) -> int:
    from jaxrxn.explore.afir import afir_alpha, covalent_radii
    from jaxrxn.explore.explorer import AFIRExplorer, ExploreSettings
    from jaxrxn.explore.network import ReactionNetwork
    from jaxrxn.units import KJMOL_PER_EV

    if args.gamma <= 0:
        raise ValueError(f"--gamma must be positive; got {args.gamma} kJ/mol.")
    if args.max_minima < 1 or args.n_alpha < 2:
        raise ValueError("--max-minima must be >= 1 and --n-alpha >= 2.")
    R, system = read_one(args.start, "start structure")
    if args.follow_modes < 0 or args.follow_random < 0:
        raise ValueError("--follow-modes and --follow-random must be >= 0.")
    if system.n_atoms < 2:
        raise ValueError("AFIR needs at least two atoms.")
    potential = build_potential(args, R, system)
    network = None
    if args.resume:
        if not os.path.exists(args.output):
            raise FileNotFoundError(f"--resume: network file {args.output!r} does not exist.")
        network = ReactionNetwork.load(args.output)
    settings = ExploreSettings(
        alpha_max=float(afir_alpha(args.gamma / KJMOL_PER_EV, unit="eV")),
        n_alpha=args.n_alpha,
        energy_window=args.energy_window,
        neb_fmax=0.05,
        saddle_fmax=1e-3,
        quench_fmax=1e-3,
        prefactors=True,
        n_follow_modes=args.follow_modes,
        n_follow_random=args.follow_random,
    )
    explorer = AFIRExplorer(
        potential, settings, radii=covalent_radii(system.numbers), network=network,
        checkpoint=args.output, rigid=not system.periodic and not np.any(system.fixed),
    )  # fmt: skip
    # one minimum per call to run(), so the display can count them (run() picks the next)
    start, t0, out_of_time = None if network is not None else R, time.monotonic(), False
    with progress(args) as p, p.stage("AFIR exploration, minima explored", total=args.max_minima) as advance:
        while True:
            before = sum(m.explored for m in explorer.network.minima)
            net = explorer.run(start, max_minima=before + 1 if before < args.max_minima else before)
            start = None
            done = sum(m.explored for m in net.minima)
            advance(done - before)
            if done == before or done >= args.max_minima:
                break
            if args.minima_time_limit is not None and time.monotonic() - t0 >= args.minima_time_limit:
                out_of_time = not explorer.finished
                break
    net.save(args.output)
    print(net.summary())
    print(f"force calls {explorer.stats.force_calls}, wall time {explorer.stats.wall_time:.1f} s")
    if out_of_time:
        print(f"jaxrxn explore: time limit of {args.minima_time_limit:g} s reached with minima left, {done} explored; "
              f"--resume goes on from {args.output}", file=sys.stderr)  # fmt: skip
    return 0 if explorer.finished else 1
