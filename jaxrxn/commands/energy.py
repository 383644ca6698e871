"""``jaxrxn energy FILE --calc NAME [--json]``: energy (eV) and forces (eV/Å) per frame.

Exit codes: 0 every frame evaluated; 1 a frame the calculator failed on (after its retries:
its energy and forces are null in the JSON, ``calculator_failure`` says why, and one line on
stderr names the frames); 2 bad input."""

from __future__ import annotations

import os
import sys

import numpy as np

from jaxrxn.commands._common import add_calc_argument, build_potential, json_line, progress

EXAMPLE = "jaxrxn energy docs/data/17_claisen.xyz --calc xtb --json"


def add_arguments(parser) -> None:
    parser.add_argument("file", help="any structure file ASE reads (all frames are used)")
    add_calc_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per frame")


def run(args) -> int:
    import jax
    import jax.numpy as jnp

    from jaxrxn.io import from_atoms, read_structures
    from jaxrxn.potentials.external import calculator_failures
    from jaxrxn.validation import check_configuration

    if not os.path.exists(args.file):
        raise FileNotFoundError(f"structure file {args.file!r} does not exist.")
    try:
        frames = read_structures(args.file)
    except Exception as err:
        raise ValueError(f"cannot read structure file {args.file!r}: {err}") from None
    evaluate, lines, failed = {}, [], []
    # results are printed after the progress display ends, so the two never interleave on a terminal
    with progress(args) as p, p.stage("energies and forces", total=len(frames)) as advance:
        for k, atoms in enumerate(frames):
            R, system = from_atoms(atoms)
            check_configuration(R, name=f"frame {k}", cell=system.cell, pbc=system.pbc)
            key = tuple(None if x is None else np.asarray(x).tobytes() for x in (system.numbers, system.cell, system.pbc))
            if key not in evaluate:  # one compiled function per distinct system
                pot = build_potential(args, R, system)
                evaluate[key] = pot, jax.jit(lambda R, pot=pot: jax.value_and_grad(pot.energy)(R))
            pot, value_and_grad = evaluate[key]
            n_failed = len(calculator_failures(pot))
            e, g = value_and_grad(jnp.asarray(R))
            e, f = float(e), -np.asarray(g)
            report = {"frame": k, "energy": e, "forces": f}
            if not (np.isfinite(e) and np.all(np.isfinite(f))):
                new = calculator_failures(pot)[n_failed:]
                report["calculator_failure"] = new[0] if new else "the potential returned a non-finite energy or forces"
                failed.append(report)
            if args.json:
                lines.append(json_line(report))
            elif "calculator_failure" in report:
                lines.append(f"frame {k}: no energy: {report['calculator_failure']}")
            else:
                lines.append(f"frame {k}: energy {e:.8f} eV, max force {np.sqrt((f**2).sum(1)).max():.6f} eV/Å")
            advance()
    print("\n".join(lines))
    if failed:
        names = ", ".join(str(r["frame"]) for r in failed)
        print(f"jaxrxn: no energy for frame(s) {names}: {failed[0]['calculator_failure']}", file=sys.stderr)
        return 1
    return 0
