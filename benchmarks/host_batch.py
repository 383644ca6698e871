"""Wall time of one band evaluation (energies and forces of every image) with GFN2-xTB
(or PySCF: ``--method hf/3-21g``) through the host bridge: sequential vs concurrent
(threads, processes).

The band: 10 images interpolated (IDPP) between the reactant and product of the Cope
rearrangement of 1,5-hexadiene (C6H10, 16 atoms; Birkholz & Schlegel's reaction set,
J. Comput. Chem. 36, 1157 (2015), reaction 03), relaxed end points not needed for timing.
One ``jax.vmap`` over the band is ONE host call; with ``workers=W`` the images run on W
threads (each with its own tblite calculator) or W spawned processes.

Run (tblite's OpenMP threads multiply with ours; set them explicitly and say so):

    OMP_NUM_THREADS=1 python benchmarks/host_batch.py [--repeats 7] [--data PATH]

The machine's load average is printed before and after: on a shared machine the
ratio measures the cores actually free.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

DEFAULT_DATA = "/work/shared/data/reaction_sets/birkholz_rx/03_cope.trj"


def band(path: str, n_images: int):
    from ase.io import read

    from jaxrxn.path import interpolate

    frames = read(path, ":", format="xyz")
    R_is, R_fs = (jnp.asarray(frames[i].positions) for i in (0, -1))
    return frames[0].numbers, interpolate(R_is, R_fs, n_images, method="idpp")


def time_band(potential, path, repeats: int) -> list[float]:
    evaluate = jax.jit(jax.vmap(lambda R: potential.energy_and_forces(R)))
    jax.block_until_ready(evaluate(path))  # compile and start the workers
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(evaluate(path))
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--method", default="gfn2", help="gfn2, gfn1 or a PySCF METHOD/BASIS (hf/3-21g)")
    args = parser.parse_args()

    from jaxrxn.potentials.qm import pyscf_potential, xtb_potential

    def build(numbers, **kw):
        if "/" in args.method:
            return pyscf_potential(numbers, args.method, **kw)
        return xtb_potential(numbers, args.method, **kw)

    numbers, path = band(args.data, args.images)
    print(f"band: {args.images} images x {len(numbers)} atoms, {args.method}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    variants = [("sequential", 1, "thread")]  # one pool thread
    variants += [(f"{W} threads", W, "thread") for W in args.workers]
    variants += [(f"{W} processes", W, "process") for W in args.workers]
    results = {}
    # the calculator called directly in a Python loop in the main thread (no JAX, no pool)
    direct = build(numbers).energy_fn.make_evaluator()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for R in np.asarray(path):
            direct(R, 0)
        times.append(time.perf_counter() - t0)
    print(f"{'main-thread loop':>16}: median {statistics.median(times):.3f} s, best {min(times):.3f} s per band")
    reference = None
    for name, workers, executor in variants:
        pot = build(numbers, workers=workers, executor=executor)
        times = time_band(pot, path, args.repeats)
        e, f = jax.jit(jax.vmap(lambda R: pot.energy_and_forces(R)))(path)
        if reference is None:
            reference = (np.asarray(e), np.asarray(f))
        assert np.allclose(e, reference[0], atol=1e-6) and np.allclose(f, reference[1], atol=1e-4)
        calls_per_band = pot.energy_fn.n_calls // pot.energy_fn.n_host_calls
        results[name] = times
        print(f"{name:>16}: median {statistics.median(times):.3f} s, best {min(times):.3f} s per band "
              f"({calls_per_band} calculator calls in 1 host call)")  # fmt: skip
        pot.energy_fn.close()
    seq = statistics.median(results["sequential"])
    for name, times in results.items():
        if name != "sequential":
            print(f"speed-up {name} vs sequential: {seq / statistics.median(times):.2f}x (median), "
                  f"{min(results['sequential']) / min(times):.2f}x (best)")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
