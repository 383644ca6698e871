"""jaxrxn EMT (jitted, through a neighbour list) against ASE's EMT on Cu fcc bulk.

Energy and forces of 500- and 4,000-atom Cu crystals (rattled by 0.05 Å), both codes in
this process. Each time is the median of several calls after a warm-up call (for jaxrxn
the warm-up includes compilation, reported separately); positions change between calls so
neither code can reuse a cached result. Run: ``python benchmarks/potentials.py``.
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

from jaxrxn.potentials.emt import emt_from_atoms  # noqa: E402


def median_time(fn, inputs) -> float:
    times = []
    for x in inputs:
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench(repeat: int, n_calls: int) -> None:
    atoms = bulk("Cu", cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=0)
    n = len(atoms)
    rng = np.random.default_rng(1)
    configs = [atoms.positions + 0.01 * rng.standard_normal(atoms.positions.shape) for _ in range(n_calls + 1)]

    R, pot = emt_from_atoms(atoms, neighbor_list=True)
    jax_ef = jax.jit(lambda R: pot.energy_and_forces(R))

    def run_jax(x):
        e, f = jax_ef(x)
        jax.block_until_ready(f)
        return float(e), np.asarray(f)

    t0 = time.perf_counter()
    run_jax(jnp.asarray(configs[0]))
    compile_s = time.perf_counter() - t0
    t_jax = median_time(run_jax, [jnp.asarray(c) for c in configs[1:]])

    ase_atoms = atoms.copy()
    ase_atoms.calc = EMT()

    def run_ase(x):
        ase_atoms.positions = x
        return ase_atoms.get_potential_energy(), ase_atoms.get_forces()

    run_ase(configs[0])
    t_ase = median_time(run_ase, configs[1:])

    e_j, f_j = run_jax(jnp.asarray(configs[-1]))
    e_a, f_a = run_ase(configs[-1])
    print(
        f"Cu bulk {n:5d} atoms: jaxrxn {t_jax * 1e3:9.2f} ms (compile {compile_s:5.1f} s)  "
        f"ASE {t_ase * 1e3:9.2f} ms  ASE/jaxrxn = {t_ase / t_jax:6.1f}x  "
        f"|dE|/atom = {abs(e_j - e_a) / n:.1e} eV  max|dF| = {np.abs(f_j - f_a).max():.1e} eV/Å"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5, help="timed calls per code (median)")
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, float64")
    for repeat in (5, 10):  # 500 and 4,000 atoms
        bench(repeat, args.calls)


if __name__ == "__main__":
    main()
