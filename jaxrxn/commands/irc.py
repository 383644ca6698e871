"""``jaxrxn irc TS --calc NAME [--json]``: IRC from a saddle down to both minima.

Reports the saddle energy, the two end minima (energies in eV) and the cost; exit code 0
when both ends relaxed to minima from a first-order saddle, 1 otherwise.
"""

from __future__ import annotations

from jaxrxn.commands._common import add_calc_argument, add_time_limit_argument, build_potential, finish, progress, read_one
from jaxrxn.commands.saddle import result_message

EXAMPLE = """\
# after 'jaxrxn saddle GUESS.xyz --calc xtb --output ts.xyz'; with an outside calculator
# (xtb, pyscf) the first step follows the imaginary mode of a harmonic analysis
jaxrxn irc ts.xyz --calc xtb --output irc.extxyz --json"""


def add_arguments(parser) -> None:
    parser.add_argument("ts", help="structure file with the converged saddle (last frame)")
    add_calc_argument(parser)
    add_time_limit_argument(parser)
    parser.add_argument("--fmax", type=float, default=0.01, help="force threshold of the end minima, eV/Å")
    parser.add_argument("--step", type=float, default=0.1, help="largest IRC step, Å amu^1/2 (0.1)")
    parser.add_argument("--output", metavar="FILE", help="write the path (reverse end to forward end) as extxyz")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    import jax
    import jax.numpy as jnp

    from jaxrxn.io import write_path
    from jaxrxn.irc import irc
    from jaxrxn.potentials.external import HostEnergy
    from jaxrxn.vibrations import vibrations

    if args.fmax <= 0 or args.step <= 0:
        raise ValueError("--fmax and --step must be positive.")
    R, system = read_one(args.ts, "TS")
    potential = build_potential(args, R, system)
    mode = hessian = None
    n_mode_calls = n_mode_hessians = 0
    with progress(args) as p:
        if isinstance(potential.energy_fn, HostEnergy):
            # an outside calculator has no JAX Hessian: the first step follows the lowest
            # mode of a finite-difference (or the calculator's analytic) harmonic analysis
            with p.stage("harmonic analysis for the unstable mode"):
                vib = vibrations(potential, R)
            mode, hessian = jnp.asarray(vib.modes[0]), jnp.asarray(vib.hessian)
            n_mode_calls, n_mode_hessians = vib.n_force_calls, vib.n_hessian_calls
        with p.stage("IRC, both branches: compiling, then integrating"):
            run_irc = lambda R: irc(potential, R, step=args.step, fmax=args.fmax, mode=mode, hessian=hessian)  # noqa: E731
            # a given mode is checked in Python, so that call stays outside jit (its loops are jitted)
            res = (run_irc if mode is not None else jax.jit(run_irc))(jnp.asarray(R))
    s, e = res.profile()
    if args.output:
        nf, nr = int(res.forward.n_points), int(res.reverse.n_points)
        images = jnp.concatenate(
            [res.reverse.path[:nr][::-1], res.R_saddle[None], res.forward.path[:nf]]
        )
        write_path(args.output, images, system, e)
    report = {
        "energy": float(res.energy_saddle),
        "converged": bool(res.converged),
        "energy_forward": float(res.forward.energy_min),
        "energy_reverse": float(res.reverse.energy_min),
        "barrier_forward": float(res.energy_saddle - res.reverse.energy_min),
        "barrier_reverse": float(res.energy_saddle - res.forward.energy_min),
        "arc_length": float(s[-1] - s[0]),
        "n_force_calls": int(res.n_force_calls) + n_mode_calls,
        "n_hessian_calls": int(res.n_hessian_calls) + n_mode_hessians,
        "result": result_message(res.result),
    }
    return finish(
        report, args.json,
        "IRC {state}: saddle {energy:.6f} eV; ends {energy_reverse:.6f} eV (reverse) and "
        "{energy_forward:.6f} eV (forward); {n_force_calls} force calls",
        potential=potential,
    )  # fmt: skip
