"""One Baker case step by step: where RSPRFO.molecular spends its gradients.

Runs the search's ``init`` and ``step`` (each jitted once) from a Python loop and prints,
per step, the calls so far, the energy change, the energy minus the published HF/3-21G TS
energy, the largest force, the trust radius and the three lowest eigenvalues of the model
Hessian in the active space (a jump in the call count is a Davidson refinement or the curvature check where the
forces meet ``fmax``). Same
calculator and guesses as benchmarks/baker_vs_sella.py. Run:
``OMP_NUM_THREADS=1 python benchmarks/baker_trace.py hf|xtb NAME [field=json_value ...]``,
e.g. ``initial_hessian='"model"'`` to override one field of ``RSPRFO.molecular``.
"""

from __future__ import annotations

import json
import sys

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from ase.io import read

from baker_vs_sella import BAKER, FMAX, HARTREE, REFERENCE, make_potential
from jaxrxn.potentials.core import max_atom_force
from jaxrxn.saddle import RSPRFO
from jaxrxn.saddle.index import SaddleArgs, resolve_zero_modes_spec


def main(kind: str, name: str, overrides: dict) -> None:
    atoms = read(BAKER / f"{name}.xyz")
    charge, mult, e_pub = REFERENCE[name]
    pot = make_potential(kind, atoms, charge, mult)
    solver = RSPRFO.molecular(atoms.numbers, atoms.positions, **overrides)
    args = SaddleArgs(jnp.asarray(FMAX), None, resolve_zero_modes_spec(pot, "free"), True)
    init = eqx.filter_jit(lambda s, p, R: s.init(p, R, args))
    step = eqx.filter_jit(lambda s, p, st: s.step(p, st, args))
    done = eqx.filter_jit(lambda s, p, st: s.terminate(p, st, args)[0])

    def lowest(st):
        return np.asarray(solver._eigen(pot, st.R, -st.forces.reshape(-1), st.inner.hessian, st.modes)[0][:3])

    st = init(solver, pot, jnp.asarray(atoms.positions))
    print(f"start calls={int(st.n_force_calls)} model eigenvalues {np.array2string(lowest(st), precision=3)}", flush=True)
    for k in range(300):
        e0 = float(st.energy)
        st = step(solver, pot, st)
        fmax = float(max_atom_force(st.forces))
        print(
            f"{k + 1:3d} calls={int(st.n_force_calls):3d} dE={float(st.energy) - e0:+.2e} eV "
            f"E-E_pub={float(st.energy) / HARTREE - e_pub:+.2e} Eh fmax={fmax:.4f} trust={float(st.inner.trust):.4f} "
            f"w={np.array2string(lowest(st), precision=3)}",
            flush=True,
        )
        if bool(done(solver, pot, st)):
            break


if __name__ == "__main__":
    kind, name, *pairs = sys.argv[1:]
    main(kind, name, {k: json.loads(v) for k, v in (p.split("=", 1) for p in pairs)})
