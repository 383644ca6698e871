"""RSPRFO settings on single Baker cases: gradient calls of the internal-coordinate search
under named option sets, on the calculator and guesses of benchmarks/baker_vs_sella.py.

Used to find where the internal-coordinate search spends more gradients than Sella
(cases 10, 14, 24 on HF/3-21G). No index check here (the search's own model index is
reported); the energy is compared to the published TS energy. Results are appended to
``benchmarks/results/baker_<calc>_variants.json``. Run:
``python benchmarks/baker_variants.py hf|xtb VARIANT name [name ...]``.
"""

from __future__ import annotations

import json
import sys
import time

import jax.numpy as jnp
from ase.io import read

from baker_vs_sella import BAKER, FMAX, HARTREE, HERE, MAX_STEPS, REFERENCE, make_potential
from jaxrxn.saddle import RSPRFO, saddle_search

#: overrides of RSPRFO.molecular's fields
PREVIOUS = dict(initial_hessian="model", hessian_update="bofill", step_norm="l2", trust_policy="doubling")
VARIANTS = {
    "default": {},
    # the internal-coordinate default before session 6: Lindh's Cartesian model, Bofill, 2-norm, doubling
    "previous": PREVIOUS,
    "sella-like": dict(initial_hessian="model"),  # Sella's step and update rules on Lindh's model
    "fischer": dict(PREVIOUS, initial_hessian="fischer"),
}


def run(kind: str, variant: str, name: str) -> dict:
    atoms = read(BAKER / f"{name}.xyz")
    charge, mult, e_pub = REFERENCE[name]
    potential = make_potential(kind, atoms, charge, mult)
    t = time.perf_counter()
    solver = RSPRFO.molecular(atoms.numbers, atoms.positions, **VARIANTS[variant])
    res = saddle_search(
        potential, jnp.asarray(atoms.positions), solver, fmax=FMAX,
        max_steps=MAX_STEPS, zero_modes_spec="free",
    )  # fmt: skip
    return {
        "calls": int(res.n_force_calls), "steps": int(res.n_steps), "converged": bool(res.converged),
        "model_index": int(res.saddle_index), "energy_minus_published_Eh": float(res.energy) / HARTREE - e_pub,
        "seconds": time.perf_counter() - t,
    }  # fmt: skip


if __name__ == "__main__":
    kind, variant, *names = sys.argv[1:]
    out = HERE / "results" / f"baker_{kind}_variants.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    for name in names:
        results.setdefault(name, {})[variant] = row = run(kind, variant, name)
        out.write_text(json.dumps(results, indent=1))
        print(name, variant, row, flush=True)
