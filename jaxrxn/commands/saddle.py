"""``jaxrxn saddle GUESS --calc NAME [--method auto|prfo|rsprfo|dimer] [--coords cartesian|internal] [--hessian-from NAME] [--fmax F] [--json]``.

Converges a first-order saddle from the last frame of GUESS and reports its energy (eV),
saddle index and cost. For a molecule (no periodic cell) it also runs a harmonic analysis
at the end (:mod:`jaxrxn.vibrations`): ``imaginary_frequency_cm1`` and, for outside
calculators (xtb, pyscf), the saddle index, with the analysis's force and Hessian calls
included in ``n_force_calls`` / ``n_hessian_calls``. Exit code 0 when a transition state
(index 1) was found, 1 otherwise (also when the calculator failed: the last good geometry
is written), 2 for bad input. ``--hessian-from nnp`` starts RS-P-RFO from the exact Hessian
of a JAX potential (the shipped neural-network potential: an ML Hessian for a GFN2-xTB
search) instead of a model Hessian, its lowest mode checked by the Davidson refinement.
"""

from __future__ import annotations

from jaxrxn.commands._common import add_calc_argument, add_hessian_from_argument, add_time_limit_argument, build_potential, finish, hessian_potential, progress, read_one

EXAMPLE = """\
# the Claisen rearrangement's transition state from Baker's guess, with GFN2-xTB
jaxrxn saddle docs/data/17_claisen.xyz --calc xtb --output ts.xyz --json"""


def add_arguments(parser) -> None:
    parser.add_argument("guess", help="structure file with the transition-state guess (last frame)")
    add_calc_argument(parser)
    add_time_limit_argument(parser)
    parser.add_argument(
        "--method", choices=("auto", "prfo", "rsprfo", "dimer"), default="auto",
        help="auto (default): prfo (exact Hessian) for JAX potentials, rsprfo (approximate "
        "Hessian) for outside calculators (xtb, pyscf)",
    )  # fmt: skip
    parser.add_argument(
        "--coords", choices=("cartesian", "internal"), default="cartesian",
        help="coordinates of rsprfo: cartesian (default) or redundant internal coordinates built "
        "from the guess (molecules only)",
    )  # fmt: skip
    add_hessian_from_argument(parser, "rsprfo")
    parser.add_argument("--fmax", type=float, default=0.01, help="force threshold, eV/Å (0.01)")
    parser.add_argument("--max-steps", type=int, default=500, help="iteration cap (500)")
    parser.add_argument("--output", metavar="FILE", help="write the saddle structure here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def result_message(result) -> str:
    """``"successful"`` or the RESULTS sentence saying what went wrong."""
    from jaxrxn._results import RESULTS

    return "successful" if result == RESULTS.successful else RESULTS[result]


def run(args) -> int:
    import jax.numpy as jnp
    import numpy as np

    from jaxrxn._results import RESULTS
    from jaxrxn.io import to_atoms
    from jaxrxn.potentials.external import HostEnergy, calculator_failures
    from jaxrxn.saddle import PRFO, RSPRFO, Dimer, saddle_search
    from jaxrxn.saddle.rsprfo import hessian_start
    from jaxrxn.vibrations import vibrations

    if args.fmax <= 0 or args.max_steps < 0:
        raise ValueError("--fmax must be positive and --max-steps non-negative.")
    R, system = read_one(args.guess, "guess")
    potential = build_potential(args, R, system)
    outside = isinstance(potential.energy_fn, HostEnergy)
    method = args.method if args.method != "auto" else ("rsprfo" if outside else "prfo")
    if outside and method == "prfo":
        raise ValueError("--method prfo needs the exact Hessian of a JAX potential; use --method rsprfo or dimer.")
    if args.hessian_from and method != "rsprfo":
        raise ValueError("--hessian-from needs --method rsprfo (or auto with xtb/pyscf).")
    start = hessian_start(hessian_potential(args, R, system))
    if args.coords == "internal":
        fixed = system.fixed is not None and bool(np.any(np.asarray(system.fixed)))
        if method != "rsprfo" or system.periodic or system.numbers is None or fixed:
            raise ValueError("--coords internal needs --method rsprfo (or auto with xtb/pyscf) on a free molecule.")
        solver = RSPRFO.molecular(np.asarray(system.numbers), R, **start)
    else:  # `start` is empty unless the method is rsprfo (checked above)
        solver = {"prfo": PRFO, "rsprfo": RSPRFO, "dimer": Dimer}[method](**start)
    # an outside calculator has no JAX Hessian: its index comes from the harmonic analysis below
    # internal coordinates were refused above unless the molecule is free: no zero-mode probes
    zero_modes_spec = "free" if args.coords == "internal" else "auto"
    with progress(args) as p:
        with p.stage(f"{method} saddle search: compiling, then searching"):
            # the solve is jitted inside, keyed on the kind of potential and the solver, so a
            # second call (another --max-steps, another molecule of the size) reuses it
            res = saddle_search(
                potential, jnp.asarray(R), solver, fmax=args.fmax, max_steps=args.max_steps,
                zero_modes_spec=zero_modes_spec, check_index=not outside,
            )  # fmt: skip
        analyse = not system.periodic and bool(jnp.all(jnp.isfinite(res.R))) and not calculator_failures(potential)
        if analyse:
            with p.stage("harmonic analysis (Hessian, frequencies)"):
                vib = vibrations(potential, res.R)
    if args.output:
        to_atoms(res.R, system, res.energy, res.forces).write(args.output)
    report = {
        "energy": float(res.energy),
        "converged": bool(res.converged),
        "saddle_index": int(res.saddle_index),
        "imaginary_frequency_cm1": None,
        "curvature": float(res.curvature),
        "fmax": float(res.fmax),
        "n_steps": int(res.n_steps),
        "n_force_calls": int(res.n_force_calls),
        "n_hessian_calls": int(res.n_hessian_calls),
        "result": result_message(res.result),
    }
    if analyse:
        report["imaginary_frequency_cm1"] = vib.imaginary_frequency
        report["n_force_calls"] += vib.n_force_calls
        report["n_hessian_calls"] += vib.n_hessian_calls
        if outside:
            report["saddle_index"] = vib.n_imaginary
            if report["converged"] and vib.n_imaginary != 1:
                report["converged"] = False
                report["result"] = RESULTS[RESULTS.saddle_wrong_index]
    return finish(
        report, args.json,
        "saddle {state}: energy {energy:.6f} eV, index {saddle_index}, curvature {curvature:.5f} eV/Å², "
        "fmax {fmax:.2e} eV/Å, {n_force_calls} force and {n_hessian_calls} Hessian calls",
        potential=potential,
    )  # fmt: skip
