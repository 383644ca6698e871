"""GFN2-xTB (tblite) through jaxrxn: relax a distorted ethanol molecule with jaxrxn's L-BFGS
while the energy and forces come from the tight-binding code.

Needs tblite (``pip install -e ".[xtb]"``; the test extras include it). Run:

    python examples/xtb_molecule.py
"""

import time

import jax
import jax.numpy as jnp
from ase.build import molecule
from ase.optimize import BFGS
from tblite.ase import TBLite

from jaxrxn import minimize
from jaxrxn.potentials.qm import xtb_potential

jax.config.update("jax_enable_x64", True)


def main():
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=0)
    potential = xtb_potential(atoms.numbers)  # GFN2-xTB, neutral singlet

    t0 = time.perf_counter()
    result = minimize(potential, jnp.asarray(atoms.positions), "lbfgs", fmax=0.01, max_steps=300)
    t_jaxrxn = time.perf_counter() - t0
    print(
        f"jaxrxn L-BFGS: E = {float(result.energy):.6f} eV, fmax = {float(result.fmax):.4f} eV/A, "
        f"converged = {bool(result.converged)}, {int(result.n_force_calls)} force calls "
        f"({potential.energy_fn.n_calls} xTB calls), {t_jaxrxn:.1f} s"
    )

    reference = atoms.copy()
    reference.calc = TBLite(method="GFN2-xTB", verbosity=0)
    t0 = time.perf_counter()
    optimizer = BFGS(reference, logfile=None)
    optimizer.run(fmax=0.01, steps=300)
    print(
        f"ASE BFGS:      E = {reference.get_potential_energy():.6f} eV, "
        f"{optimizer.nsteps} steps, {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
