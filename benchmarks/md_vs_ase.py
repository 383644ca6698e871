"""MD steps per second on ~1,000 Cu atoms: jaxrxn Langevin (BAOAB in lax.scan) vs ASE's Langevin.

Same system for both: fcc Cu, cubic cell repeated 6x6x7 (1,008 atoms), periodic, 300 K, 2 fs,
friction 0.01/fs.
- EMT (default): jaxrxn.potentials.emt with a neighbour list carried in the MD state vs ASE's
  own ``EMT``.
- Morse (``--morse``): jaxrxn's neighbour-list Morse (Girifalco-Weizer Cu) vs ASE's
  ``MorsePotential`` with the same D, alpha, r0 and cutoff radii.

The 6x6x7 cell (21.5-25.1 Å) was chosen when jax-md built the lists (it needs every box length
above three list cutoffs); jaxrxn's own lists need only two (cutoff + skin), and the size is
kept so the numbers stay comparable.

Timing: a short warm-up run compiles, then `n_steps` jaxrxn steps (one jitted ``lax.scan``) and
`n_steps // 10` ASE steps (at least 5) are timed with ``time.perf_counter``.
Run: ``python benchmarks/md_vs_ase.py [n_steps] [--morse]``. Prints steps/s and the ratio.

Measured with the jax-md lists (rebuilt in every call; 2 shared CPU cores, float64, 100 jaxrxn /
10 ASE steps): EMT 25.2 vs 13.4 steps/s,
ratio 1.9x (peak memory ~1.1 GB). Morse (``python benchmarks/md_vs_ase.py 50 --morse``, so 5
ASE steps, both sides in one process on the same 2 cores shared with other jobs, load ~6):
jaxrxn 7.57 steps/s vs ASE ``MorsePotential`` 0.04 steps/s, ratio 204x (an earlier, less loaded
jaxrxn-only run gave 14.2 steps/s).
"""

import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase import units  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.md.langevin import Langevin as AseLangevin  # noqa: E402
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.dynamics import Langevin, run_md  # noqa: E402

N_STEPS = int(next((a for a in sys.argv[1:] if a.isdigit()), 100))
REPEAT = (6, 6, 7)


def cu_cell(a):
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(REPEAT)
    side = np.diag(atoms.cell.array)
    return atoms, side


def time_jaxrxn(pot, atoms, label):
    integ = Langevin(dt=2.0, temperature=300.0, friction=0.01)
    st = integ.init(pot, jnp.asarray(atoms.positions), jax.random.PRNGKey(0))
    go = jax.jit(lambda s: run_md(pot, integ, s, N_STEPS)[0])
    go(st).R.block_until_ready()  # compile
    t = time.perf_counter()
    out = go(st)
    out.R.block_until_ready()
    rate = N_STEPS / (time.perf_counter() - t)
    print(f"jaxrxn {label}: {rate:.2f} steps/s over {N_STEPS} steps ({jax.devices()[0].platform}, "
          f"T_end = {float(jaxrxn.dynamics.temperature(out.V, pot.atom_masses(out.R))):.0f} K)")  # fmt: skip
    return rate


def time_ase(atoms, calc, label, n):
    atoms = atoms.copy()
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = AseLangevin(atoms, 2.0 * units.fs, temperature_K=300, friction=0.01 / units.fs)
    dyn.run(2)  # builds ASE's neighbour list
    t = time.perf_counter()
    dyn.run(n)
    rate = n / (time.perf_counter() - t)
    print(f"ASE {label}: {rate:.2f} steps/s over {n} steps")
    return rate


def main():
    n_ase = max(N_STEPS // 10, 5)
    if "--morse" in sys.argv:
        from ase.calculators.morse import MorsePotential

        D, ALPHA, R0 = jaxrxn.potentials.GIRIFALCO_WEIZER["Cu"]
        atoms, side = cu_cell(3.6447)
        pot = jaxrxn.morse_preset("Cu", cell=atoms.cell.array, pbc=(True,) * 3, neighbor_list=True,
                                  R_reference=atoms.positions, masses=jnp.asarray(atoms.get_masses()))  # fmt: skip
        calc = MorsePotential(epsilon=D, r0=R0, rho0=ALPHA * R0, rcut1=6.0, rcut2=6.76)
        label, cutoff = "Morse", 6.76
    else:
        from ase.calculators.emt import EMT

        from jaxrxn.potentials.emt import R_LIST, emt

        atoms, side = cu_cell(3.5898)
        pot = emt(atoms.numbers, atoms.cell.array, (True,) * 3, neighbor_list=True, R_reference=atoms.positions)
        calc, label, cutoff = EMT(), "EMT", R_LIST
    print(f"{len(atoms)} Cu atoms, box {side.round(2).tolist()} Å, list cutoff {cutoff:.2f} Å")
    j = time_jaxrxn(pot, atoms, label)
    a = time_ase(atoms, calc, label, n_ase)
    print(f"{label} ratio jaxrxn/ASE: {j / a:.1f}x")


if __name__ == "__main__":
    main()
