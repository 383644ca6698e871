"""``jaxrxn generate-path IS --samples K [--calc xtb] [--model NAME] [-o DIR] [--json]``.

Grows K reaction paths, each ending on a product candidate, from the reactant IS alone
(last frame of the file) with a pretrained flow generator
(:func:`jaxrxn.generative.flow.load_pretrained`, default ``gfn2-xtb``: trained on the
shipped GFN2-xTB data set; C, H, N, O; :func:`~jaxrxn.generative.flow.sample_paths`, a
random kick per sample). Positions are in IS's centred frame.

Without ``--calc`` each product candidate is checked as generated; with ``--calc`` it is
first relaxed (L-BFGS to ``--fmax``) and the path's images get energies. A product is
*valid* (:func:`~jaxrxn.generative.flow.product_check`) when (with ``--calc``) its
relaxation converged, no two atoms are closer than 0.6 Å, the bonding is sane (H one
bond, C and N at most four, O at most two, no bare atom; bonds by covalent radii x 1.3,
as the data set) and its bond graph differs from IS's.

Report (``--json``, one object): ``symbols``, ``reactant`` (Å, centred IS), ``model``,
``samples`` (K), ``n_valid``, ``distinct_valid`` (valid products with different bond
graphs), ``converged`` (at least one valid product), and ``paths``, one object per sample: ``product`` (Å, relaxed with ``--calc``),
``valid``, ``reason`` (``ok``, ``atoms too close``, ``valence``, ``same bond graph``,
``relaxation not converged``), ``progress`` (the flow's progress at the last frame, 1 at
a finished path), ``path`` (``--images`` images, Å, equally spaced in arc length, the
kicked start first, the generated product last); with ``--calc`` also ``product_energy`` and
``reaction_energy`` (eV, relative to IS), ``path_energies`` (eV, of the images),
``n_force_calls`` (relaxation and path energies). ``-o DIR`` writes
``DIR/path_K.xyz`` (the images, with the relaxed product appended under ``--calc``)
and ``DIR/product_K.xyz``. Exit code 0 (at least one valid product), 1 (none), 2 (bad
input: unreadable file, elements or sizes outside the model's training domain, a
periodic cell, K < 1; one line on stderr).
"""

from __future__ import annotations

from jaxrxn.commands._common import add_calc_argument, finish, progress, read_one

EXAMPLE = """\
# 32 paths from a reactant, products relaxed and checked with GFN2-xTB
jaxrxn generate-path reactant.xyz --samples 32 --calc xtb -o paths --json"""


def add_arguments(parser) -> None:
    parser.add_argument("initial", metavar="IS", help="reactant structure file (last frame)")
    parser.add_argument("--samples", type=int, default=8, metavar="K", help="paths to generate (8)")
    parser.add_argument("--model", default="gfn2-xtb", help="pretrained flow generator (gfn2-xtb)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed of the kicks (0)")
    parser.add_argument("--kick", type=float, help="kick per sample, Å (default: the model's, 0.1)")
    parser.add_argument("--images", type=int, default=11, help="images per reported path (11)")
    add_calc_argument(parser, required=False, use="relax the products and give the paths energies")
    parser.add_argument("--fmax", type=float, default=0.05, help="force threshold of the product relaxation, eV/Å (0.05)")
    parser.add_argument("--max-steps", type=int, default=300, help="iteration cap of the product relaxation (300)")
    parser.add_argument("-o", "--output", metavar="DIR", help="write path_K.xyz and product_K.xyz here")
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON object: symbols, reactant, model, samples, n_valid, distinct_valid, converged, paths "
        "(per sample: product, valid, reason, progress, path from the kicked start; with --calc also product_energy, reaction_energy, "
        "path_energies, n_force_calls); positions in Å, energies in eV",
    )  # fmt: skip


def run(args) -> int:
    import os

    import jax
    import jax.numpy as jnp
    import numpy as np
    from ase.data import chemical_symbols

    from jaxrxn.datasets.molecules import BOND_SCALE, graph_hash
    from jaxrxn.generative.data import resample_by_arc_length
    from jaxrxn.generative.flow import load_pretrained, product_check, sample_paths
    from jaxrxn.generative.ts_generator import check_domain
    from jaxrxn.io import to_atoms

    if args.samples < 1 or args.images < 2 or args.fmax <= 0 or args.max_steps < 1:
        raise ValueError("--samples and --max-steps must be positive, --images at least 2, and --fmax positive.")
    x_is, system = read_one(args.initial, "IS")
    if system.numbers is None or system.periodic:
        raise ValueError("generate-path needs a free molecule with atomic numbers (no periodic cell).")
    numbers = np.asarray(system.numbers)
    model, params, meta = load_pretrained(args.model)
    check_domain(meta, numbers, "flow generator")
    settings = dict(meta["sample"]) | ({} if args.kick is None else {"kick": args.kick})
    with progress(args) as p:
        with p.stage(f"generating {args.samples} paths"):
            frames, prog = sample_paths(model, params, x_is, numbers, jax.random.PRNGKey(args.seed), args.samples, **settings)
            paths = np.asarray(jax.vmap(lambda f: resample_by_arc_length(f, args.images))(frames))
        x0 = np.asarray(x_is) - np.mean(x_is, axis=0)  # the frame of the paths (their first image is kicked)
        potential = None
        if args.calc:
            potential, relax, energies = _calculator(args, x0, system)
            e_is = float(energies(x0[None])[0])
        out = []
        with p.stage("checking the products" + (" (relaxing)" if args.calc else ""), total=args.samples) as advance:
            for k in range(args.samples):
                R = paths[k, -1]
                row = {"progress": float(prog[k, -1]), "path": paths[k]}
                converged = True
                if args.calc:
                    res = relax(jnp.asarray(R))
                    R, converged = np.asarray(res.R), bool(res.converged)
                    E = energies(paths[k])
                    row |= {"product_energy": float(res.energy), "reaction_energy": float(res.energy) - e_is,
                            "path_energies": E, "n_force_calls": int(res.n_force_calls) + len(E)}  # fmt: skip
                ok, reason = product_check(numbers, x0, R, BOND_SCALE)
                row |= {"product": R, "valid": ok and converged, "reason": reason if converged else "relaxation not converged"}
                out.append(row)
                advance()
    valid = [k for k, row in enumerate(out) if row["valid"]]
    report = {
        "symbols": [chemical_symbols[int(z)] for z in numbers], "reactant": x0, "model": args.model,
        "samples": args.samples, "n_valid": len(valid),
        "distinct_valid": len({graph_hash(numbers, out[k]["product"]) for k in valid}),
        "converged": bool(valid), "paths": out,
    }  # fmt: skip
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        for k, row in enumerate(out):
            images = list(row["path"]) + ([row["product"]] if args.calc else [])
            for i, X in enumerate(images):
                to_atoms(X, system).write(os.path.join(args.output, f"path_{k}.xyz"), append=i > 0)
            to_atoms(row["product"], system, row.get("product_energy")).write(os.path.join(args.output, f"product_{k}.xyz"))
    summary = "{n_valid}/{samples} valid products ({distinct_valid} distinct bond graphs)"
    return finish(report, args.json, summary, potential=potential)


def _calculator(args, R, system):
    """The ``--calc`` potential, a product relaxation and a path-energy function (both
    compiled once per kind of potential and shape, and reused by later calls)."""
    import numpy as np

    from jaxrxn.commands._common import build_potential
    from jaxrxn.optimize import LBFGS, minimize

    potential = build_potential(args, R, system)
    relax = lambda X: minimize(potential, X, LBFGS(maxstep=0.1), fmax=args.fmax, max_steps=args.max_steps)  # noqa: E731
    return potential, relax, lambda frames: np.array([float(potential.energy(X)) for X in frames])
