"""``jaxrxn energy FILE --calc NAME [--json]``: energy (eV) and forces (eV/Å) per frame."""

from __future__ import annotations

import os

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
    from jaxrxn.validation import check_configuration

    if not os.path.exists(args.file):
        raise FileNotFoundError(f"structure file {args.file!r} does not exist.")
    try:
        frames = read_structures(args.file)
    except Exception as err:
        raise ValueError(f"cannot read structure file {args.file!r}: {err}") from None
    evaluate, lines = {}, []
    # results are printed after the progress display ends, so the two never interleave on a terminal
    with progress(args) as p, p.stage("energies and forces", total=len(frames)) as advance:
        for k, atoms in enumerate(frames):
            R, system = from_atoms(atoms)
            check_configuration(R, name=f"frame {k}", cell=system.cell, pbc=system.pbc)
            key = tuple(None if x is None else np.asarray(x).tobytes() for x in (system.numbers, system.cell, system.pbc))
            if key not in evaluate:  # one compiled function per distinct system
                pot = build_potential(args, R, system)
                evaluate[key] = jax.jit(lambda R, pot=pot: jax.value_and_grad(pot.energy)(R))
            e, g = evaluate[key](jnp.asarray(R))
            e, f = float(e), -np.asarray(g)
            if args.json:
                lines.append(json_line({"frame": k, "energy": e, "forces": f}))
            else:
                lines.append(f"frame {k}: energy {e:.8f} eV, max force {np.sqrt((f**2).sum(1)).max():.6f} eV/Å")
            advance()
    print("\n".join(lines))
    return 0
