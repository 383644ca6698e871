"""``jaxrxn generate-ts IS FS [--polish --calc xtb [--hessian-from nnp]] [--model NAME] [-o TS.xyz] [--json]``.

Generates the transition state between a reactant IS and a product FS (last frame of each
file; same atoms in the same order) with a pretrained React-OT-style TS generator
(:func:`jaxrxn.generative.ts_generator.load_pretrained`, default ``gfn2-xtb``: trained on
the shipped GFN2-xTB data set; C, H, N, O). Both are first put in the generator's frame
(:func:`~jaxrxn.generative.ts_generator.canonical_frame`: centred, FS rotated onto IS), so
the output is in IS's centred frame. Offline and without a calculator the generated
structure is the answer; ``--polish`` refines it into a saddle with ``--calc`` (RS-P-RFO with
the reaction pipeline's settings, :func:`jaxrxn.reaction.molecular_saddle_solver`, then a
finite-difference harmonic analysis for the index); ``--hessian-from nnp`` starts that search
from the shipped neural-network potential's exact Hessian instead of a model Hessian
(measured with GFN2-xTB on 223 held-out reactions: 0.84x the gradients, the same TS as
often; benchmarks/ml_hessian_ts.py).

Report (``--json``, one object): ``symbols``, ``positions`` (Å, the final structure:
generated, or polished with ``--polish``), ``model``, ``n_model_calls``; with ``--polish``
also ``energy`` (eV), ``saddle_index``, ``converged``, ``fmax`` (eV/Å), ``n_force_calls``
(saddle search and harmonic analysis), ``imaginary_frequency_cm1``, ``result``; the
index counts imaginary frequencies below -50 cm^-1, as the data set does. Exit code 0
(a generated structure; with ``--polish`` a first-order saddle), 1 (polishing failed: the
last geometry is written), 2 (bad input: unreadable files, IS and FS with different atoms,
elements or sizes outside the model's training domain, ``--polish`` without ``--calc``).
"""

from __future__ import annotations

from jaxrxn.commands._common import add_calc_argument, add_hessian_from_argument, add_time_limit_argument, finish, hessian_potential, progress, read_one

EXAMPLE = """\
# a held-out reaction of the shipped data set, generated then polished with GFN2-xTB
jaxrxn generate-ts reactant.xyz product.xyz --polish --calc xtb -o ts.xyz --json"""


def add_arguments(parser) -> None:
    parser.add_argument("initial", metavar="IS", help="reactant structure file (last frame)")
    parser.add_argument("final", metavar="FS", help="product structure file (last frame; same atoms, same order)")
    parser.add_argument("--model", default="gfn2-xtb", help="pretrained TS generator (gfn2-xtb)")
    parser.add_argument("--steps", type=int, default=4, help="Heun steps of the sampler (4: 8 model calls)")
    parser.add_argument("--polish", action="store_true", help="refine the generated TS into a saddle with --calc")
    add_calc_argument(parser, required=False, use="potential for --polish")
    add_hessian_from_argument(parser, "--polish")
    add_time_limit_argument(parser)
    parser.add_argument("--fmax", type=float, default=0.01, help="force threshold of --polish, eV/Å (0.01)")
    parser.add_argument("--max-steps", type=int, default=300, help="iteration cap of --polish (300)")
    parser.add_argument("-o", "--output", metavar="TS.xyz", help="write the final structure here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    import numpy as np
    from ase.data import chemical_symbols

    from jaxrxn.generative.ts_generator import PretrainedTSGuess
    from jaxrxn.io import to_atoms

    if args.polish and not args.calc:
        raise ValueError("--polish needs --calc (e.g. --calc xtb).")
    for given, flag in ((args.hessian_from, "--hessian-from"), (args.time_limit is not None, "--time-limit")):
        if given and not args.polish:
            raise ValueError(f"{flag} needs --polish.")
    if args.steps < 1 or args.fmax <= 0 or args.max_steps < 1:
        raise ValueError("--steps and --max-steps must be positive, and --fmax too.")
    x_is, system = read_one(args.initial, "IS")
    x_fs, system_fs = read_one(args.final, "FS")
    generator = PretrainedTSGuess.for_system(system, args.model, args.steps)
    numbers = generator.numbers
    if len(x_fs) != len(x_is) or not np.array_equal(np.asarray(system_fs.numbers), numbers):
        raise ValueError("IS and FS must have the same atoms in the same order.")
    with progress(args) as p:
        with p.stage("generating the transition state"):
            R = generator(x_is, x_fs)  # in IS's centred frame, where the model works
        report = {
            "symbols": [chemical_symbols[int(z)] for z in numbers], "positions": R,
            "model": args.model, "n_model_calls": 2 * args.steps, "converged": True,
        }  # fmt: skip
        potential = None
        if args.polish:
            polished, potential = _polish(args, R, system, p)
            report |= polished
            R = report["positions"]
    if args.output:
        to_atoms(R, system, report.get("energy")).write(args.output)
    if not args.polish:
        summary = "generated TS ({n_model_calls} model calls)"
    else:
        summary = (
            "polished TS {state}: energy {energy:.6f} eV, index {saddle_index}, fmax {fmax:.2e} eV/Å, "
            "{n_force_calls} force calls"
        )
    return finish(report, args.json, summary, potential=potential)


def _polish(args, R, system, p):
    """RS-P-RFO from the generated TS with the reaction pipeline's free-molecule settings
    (:func:`jaxrxn.reaction.molecular_saddle_solver`), then the harmonic index.
    Returns the report's polishing keys and the potential."""
    import jax.numpy as jnp
    import numpy as np

    from jaxrxn._results import RESULTS
    from jaxrxn.commands._common import build_potential
    from jaxrxn.commands.saddle import result_message
    from jaxrxn.datasets.builder import IMAGINARY_CM1
    from jaxrxn.potentials.external import calculator_failures
    from jaxrxn.reaction import molecular_saddle_solver
    from jaxrxn.saddle import saddle_search
    from jaxrxn.vibrations import vibrations

    potential = build_potential(args, R, system)
    solver = molecular_saddle_solver(system.numbers, R, hessian_potential(args, R, system))
    with p.stage("polishing: RS-P-RFO saddle search"):
        res = saddle_search(potential, jnp.asarray(R), solver, fmax=args.fmax, max_steps=args.max_steps, check_index=False)
    out = {
        "positions": np.asarray(res.R), "energy": float(res.energy), "fmax": float(res.fmax),
        "converged": bool(res.converged), "saddle_index": None, "imaginary_frequency_cm1": None,
        "n_force_calls": int(res.n_force_calls), "result": result_message(res.result),
    }  # fmt: skip
    if bool(jnp.all(jnp.isfinite(res.R))) and not calculator_failures(potential):
        with p.stage("harmonic analysis (saddle index)"):
            vib = vibrations(potential, res.R)
        out["n_force_calls"] += vib.n_force_calls
        # softer imaginary modes are finite-difference noise of methyl rotors (as in the data set)
        index = int(np.sum(vib.frequencies < -IMAGINARY_CM1))
        out["saddle_index"], out["imaginary_frequency_cm1"] = index, vib.imaginary_frequency
        if out["converged"] and index != 1:
            out["converged"], out["result"] = False, RESULTS[RESULTS.saddle_wrong_index]
    return out, potential
