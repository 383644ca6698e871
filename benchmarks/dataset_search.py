"""Which single-ended search should the data-set builder use? Gradients, seconds and
converged saddles per attempt for RS-P-RFO in Cartesian and in (padded) redundant
internal coordinates from the builder's distorted starts, and for the dimer
(min-mode following from a random 0.1 Å displacement), all on GFN2-xTB.

    python benchmarks/dataset_search.py "CC=O" "C=CCO" --attempts 4

Prints one line per attempt (the first of each method includes its compilation) and a
summary per method: converged fraction, mean gradients, mean seconds after compilation.
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)


def main():
    from jaxrxn.datasets.builder import BuildConfig, _Potentials, _relax, padded_internals, start_geometry
    from jaxrxn.datasets.molecules import embed
    from jaxrxn.saddle import RSPRFO, Dimer, saddle_search
    from jaxrxn.saddle.dimer import min_mode_search

    p = argparse.ArgumentParser()
    p.add_argument("smiles", nargs="+")
    p.add_argument("--attempts", type=int, default=4)
    a = p.parse_args()
    cfg, potentials = BuildConfig(), _Potentials()
    search = eqx.filter_jit(lambda pot, R, s: saddle_search(pot, R, s, fmax=0.01, max_steps=300, check_index=False))
    dimer = eqx.filter_jit(lambda pot, R, k: min_mode_search(pot, R, k, displacement=0.1, solver=Dimer(), fmax=0.01, max_steps=1000, check_index=False))
    stats = {}
    for smi in a.smiles:
        Z, R = embed(smi)
        pot = potentials(Z)
        R0 = np.asarray(_relax(pot, jnp.asarray(R), 0.01).R)
        for k in range(a.attempts):
            Rs, what = start_geometry(Z, R0, np.random.default_rng([0, k]), cfg)
            runs = {
                "rsprfo-cartesian": lambda: search(pot, jnp.asarray(Rs), RSPRFO(refine_if_positive=3)),
                "rsprfo-internal": lambda: search(pot, jnp.asarray(Rs), RSPRFO(coordinates=padded_internals(Z, Rs), refine_if_positive=3, trust_max=0.2)),
                "dimer": lambda: dimer(pot, jnp.asarray(R0), jax.random.PRNGKey(k)),
            }
            for name, run in runs.items():
                t = time.perf_counter()
                res = run()
                dt = time.perf_counter() - t
                ok = bool(res.converged) and float(jnp.max(jnp.abs(res.R - R0))) > 0.05  # not back at the minimum
                print(f"{smi} {k} {what:16s} {name:17s} converged={ok} gradients={int(res.n_force_calls)} s={dt:.2f}", flush=True)
                stats.setdefault(name, []).append((ok, int(res.n_force_calls), dt, k > 0))
    for name, rows in stats.items():
        ok, calls, dt, warm = map(np.array, zip(*rows))
        print(f"{name:17s} converged {ok.mean():.2f}, gradients {calls.mean():.0f}, s (compiled) {dt[warm].mean() if warm.any() else float('nan'):.2f}")


if __name__ == "__main__":
    main()
