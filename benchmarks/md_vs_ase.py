"""MD steps per second on 1,000 Cu atoms: jaxrxn Langevin (BAOAB in lax.scan) vs ASE's Langevin.

Same system for both: fcc Cu 5x5x10 (1,000 atoms), periodic, 300 K, 2 fs, friction 0.01/fs.
- Morse (Girifalco-Weizer Cu): jaxrxn's jax-md neighbour-list Morse vs ASE's own
  ``MorsePotential`` calculator with the same D, alpha, r0 and smooth cutoff radii.
- EMT: jaxrxn.potentials.emt (neighbour list) vs ASE's ``EMT`` calculator, if available.
Run: ``python benchmarks/md_vs_ase.py [n_steps] [--neighbor-list] [--emt]``. Prints steps/s and the ratio.
"""

import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase import units  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.morse import MorsePotential  # noqa: E402
from ase.md.langevin import Langevin as AseLangevin  # noqa: E402
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.dynamics import Langevin, run_md  # noqa: E402

N_STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
NL = "--neighbor-list" in sys.argv  # jax-md neighbour list (GPU); dense all-pairs otherwise
D, ALPHA, R0 = jaxrxn.potentials.GIRIFALCO_WEIZER["Cu"]


def atoms_1000(a):
    return bulk("Cu", "fcc", a=a, cubic=True).repeat((5, 5, 10))


def time_jaxrxn(pot, atoms, label):
    integ = Langevin(dt=2.0, temperature=300.0, friction=0.01)
    st = integ.init(pot, jnp.asarray(atoms.positions), jax.random.PRNGKey(0))
    go = jax.jit(lambda s: run_md(pot, integ, s, N_STEPS)[0])
    go(st).R.block_until_ready()  # compile
    t = time.perf_counter()
    out = go(st)
    out.R.block_until_ready()
    rate = N_STEPS / (time.perf_counter() - t)
    print(f"jaxrxn {label}: {rate:.1f} steps/s ({jax.devices()[0].platform})")
    return rate


def time_ase(atoms, calc, label, n):
    atoms = atoms.copy()
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = AseLangevin(atoms, 2.0 * units.fs, temperature_K=300, friction=0.01 / units.fs)
    dyn.run(2)
    t = time.perf_counter()
    dyn.run(n)
    rate = n / (time.perf_counter() - t)
    print(f"ASE {label}: {rate:.1f} steps/s")
    return rate


if __name__ == "__main__":
    atoms = atoms_1000(3.6447)
    R = atoms.positions
    pot = jaxrxn.morse_preset("Cu", cell=atoms.cell.array, pbc=(True,) * 3, neighbor_list=NL, R_reference=R,
                              masses=jnp.asarray(atoms.get_masses()))  # fmt: skip
    j = time_jaxrxn(pot, atoms, "Morse")
    a = time_ase(atoms, MorsePotential(epsilon=D, r0=R0, rho0=ALPHA * R0, rcut1=6.0, rcut2=6.76), "Morse", max(N_STEPS // 10, 5))
    print(f"Morse ratio jaxrxn/ASE: {j / a:.1f}x")
    if "--emt" not in sys.argv:  # the dense EMT sums over periodic images: memory-hungry at 1,000 atoms
        sys.exit(0)
    try:
        from ase.calculators.emt import EMT

        from jaxrxn.potentials.emt import emt
    except ImportError:
        sys.exit(0)
    atoms = atoms_1000(3.5898)
    pot = emt(atoms.numbers, atoms.cell.array, (True,) * 3, neighbor_list=NL, R_reference=atoms.positions)
    j = time_jaxrxn(pot, atoms, "EMT")
    a = time_ase(atoms, EMT(), "EMT", max(N_STEPS // 10, 5))
    print(f"EMT ratio jaxrxn/ASE: {j / a:.1f}x")
