"""A batch of vmapped CI-NEB bands on Muller-Brown with random end points.

    python examples/batch_muller_brown.py [--n 100] [--relax] [--seed 0] [--out DIR]

Each band starts near the deep minimum A (-0.558224, 1.441726) and ends near B
(0.623499, 0.028038) (../shared/reference/paths_saddles.md §1.1): both end points are
moved by a random vector of length up to 0.05, uniform in the disc. By default the end
points are NOT relaxed, so every band has its own initial energy and the barriers
``E(TS) - E(start)`` spread, while every climbing image should still reach the same
saddle S1 (-0.822002, 0.624313), E = -40.6648. With ``--relax`` the end points are first
relaxed by a vmapped ``jaxrxn.minimize`` (they fall back into A and B, and every barrier
is 106.0347).

One ``jax.vmap`` over ``neb`` relaxes the whole batch in one compiled ``while_loop``
(9 interior images, FIRE by default, fmax 0.05). Prints the barrier distribution, the spread of the
saddles, how many bands converged, total force calls (ASE's counting, per band, summed)
and wall times (first call with compilation, then a warm second call), and writes
DIR/batch_muller_brown.png: the surface with every band (default DIR: out/).
"""

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.optimize import FIRE, LBFGS  # noqa: E402
from jaxrxn.path import NEB, linear, neb  # noqa: E402
from jaxrxn.plot import plot_surface  # noqa: E402

A = np.array([[-0.558224, 1.441726]])
B = np.array([[0.623499, 0.028038]])
S1, E_S1 = np.array([-0.822002, 0.624313]), -40.6648
N_IMAGES = 11  # 9 interior images, as in the ASE baseline (paths_saddles.md §2a)


def random_ends(rng: np.random.Generator, centre: np.ndarray, n: int, radius: float = 0.05) -> np.ndarray:
    """``(n, 1, 2)`` points uniform in the disc of `radius` around `centre` ``(1, 2)``."""
    r = radius * np.sqrt(rng.uniform(size=n))
    phi = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return centre[None] + np.stack([r * np.cos(phi), r * np.sin(phi)], -1)[:, None, :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="number of bands (default 100)")
    parser.add_argument("--relax", action="store_true", help="relax the random end points first")
    parser.add_argument("--optimizer", choices=("lbfgs", "fire"), default="fire", help="band optimizer (default fire, NEB's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out", help="output folder (default: out/)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    mb = jaxrxn.muller_brown()
    rng = np.random.default_rng(args.seed)
    starts, ends = random_ends(rng, A, args.n), random_ends(rng, B, args.n)

    relax = jax.jit(jax.vmap(lambda R: jaxrxn.minimize(mb, R, "fire", fmax=0.001, max_steps=2000)))
    make_bands = jax.jit(jax.vmap(lambda s, e: linear(s, e, N_IMAGES)))
    solver = NEB(optimizer=LBFGS() if args.optimizer == "lbfgs" else FIRE(maxstep=0.05))
    run = jax.jit(jax.vmap(lambda band: neb(mb, band, solver, fmax=0.05, max_steps=1000)))

    def solve():
        s, e, n_relax = jnp.asarray(starts), jnp.asarray(ends), 0
        if args.relax:
            rs, re = relax(s), relax(e)
            s, e = rs.R, re.R
            n_relax = int(jnp.sum(rs.n_force_calls) + jnp.sum(re.n_force_calls))
        r = run(make_bands(s, e))
        r.barrier.block_until_ready()
        return r, n_relax

    t = time.perf_counter()
    solve()
    first = time.perf_counter() - t
    t = time.perf_counter()
    r, n_relax = solve()
    warm = time.perf_counter() - t

    ok = np.asarray(r.converged)
    # statistics over converged bands only: a band that did not converge has no barrier
    barrier = np.asarray(r.barrier)[ok]
    ts = np.asarray(r.path[np.arange(args.n), r.ts_index, 0])[ok]
    ts_error = np.linalg.norm(ts - S1, axis=-1)
    e_ts = np.asarray(r.energies[np.arange(args.n), r.ts_index])[ok]
    calls = np.asarray(r.n_force_calls)
    q = np.percentile(barrier, [0, 25, 50, 75, 100])

    print(f"{args.n} Muller-Brown CI-NEB bands, {N_IMAGES - 2} interior images, {args.optimizer}, fmax 0.05; "
          f"end points perturbed up to 0.05 from A and B, {'relaxed' if args.relax else 'not relaxed'}")  # fmt: skip
    print(f"  converged        {int(ok.sum())} / {args.n}")
    for i in np.flatnonzero(~ok):
        print(f"  not converged    band {i}: start {starts[i, 0]}, end {ends[i, 0]}, "
              f"max NEB force {float(r.max_force[i]):.3g} after {int(r.n_steps[i])} steps")  # fmt: skip
    print(f"  barrier          (converged bands) mean {barrier.mean():.4f}, std {barrier.std():.4f}; "
          f"min {q[0]:.4f}, quartiles {q[1]:.4f} / {q[2]:.4f} / {q[3]:.4f}, max {q[4]:.4f}")  # fmt: skip
    print(f"  saddle           (converged bands) max |TS - S1| = {ts_error.max():.2e}, max |E_TS - E_S1| = {np.abs(e_ts - E_S1).max():.2e}")
    print(f"  force calls      {int(calls.sum())} in all (per band {calls.min()}-{calls.max()}, mean {calls.mean():.0f})"
          + (f" + {n_relax} end-point relaxation" if args.relax else ""))  # fmt: skip
    print(f"  wall time        {first:.2f} s first call (compilation included), {warm:.2f} s warm "
          f"({args.n / warm:.0f} bands/s)")  # fmt: skip

    figure = os.path.join(args.out, "batch_muller_brown.png")
    plot_surface(mb, figure, paths=list(np.asarray(r.path)), points={"A": A[0], "B": B[0], "S1": S1},
                 title=f"{args.n} vmapped CI-NEB bands")  # fmt: skip
    print(f"wrote {figure}")
    raise SystemExit(0 if ok.all() else 1)


if __name__ == "__main__":
    main()
