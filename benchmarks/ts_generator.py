"""Full-size benchmark of the React-OT-style TS generator on held-out random 2D surfaces (G2).

Protocol (generative.md §4.3-4.4), every model number beside its baselines:

- data: CI-NEB reactions between neighbouring minima of random Muller-Brown-type surfaces
  (:func:`jaxrxn.generative.data.build_surface_paths`), train and test surfaces from
  disjoint seeds (:func:`~jaxrxn.generative.data.split_seeds`), cached in the Transition1x
  layout (the cache is shared with ``benchmarks/flow_generator.py``: same seeds, same
  builder). The reference TS is the climbing image; its distance to the P-RFO-polished
  saddle is printed first.
- starts compared: the generated TS (Heun, 4 steps = 8 network calls, no potential call),
  the linear midpoint of IS-FS, the highest point of the straight line IS-FS (201 points),
  the highest point of the IDPP band (21 images, then 201 points), and the TS of the nearest
  training reaction (end points nearest, shifted onto the given ones).
- metrics: TS distance to the reference saddle (Å); relative barrier error
  ``|E(x) - E(IS) - B| / B``; a saddle search from each start on the true surface (P-RFO,
  fmax 1e-3 eV/Å; dimer, same fmax): force calls (and Hessian calls for P-RFO) and the
  success rate (converged to an index-1 point within 1e-3 Å of the reference saddle).
  Reported for all test reactions and for the *curved* ones (straight-line barrier >= 20 %
  above the MEP's).

Run: ``python benchmarks/ts_generator.py [--steps 16000 --features 64]`` (3.4 min on the 2-core CPU).
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.generative.data import build_surface_paths  # noqa: E402
from jaxrxn.generative.ts_generator import (  # noqa: E402
    SurfaceTSFlow,
    TSFlowConfig,
    interpolation_max,
    linear_midpoint,
    nearest_training_ts,
    polish_ts,
    sample_ts,
    surface_potential,
    surface_ts_set,
    train_ts_flow,
    ts_distance,
)
from jaxrxn.path import idpp, linear  # noqa: E402
from _generative import cached_reactions, stats  # noqa: E402

FMAX, RIGHT_SADDLE = 1e-3, 1e-3


@eqx.filter_jit
def _polish(ctx, starts, x_is, x_fs, method):
    return jax.vmap(lambda c, x, a, b: polish_ts(surface_potential(c), x, x_is=a, x_fs=b, method=method, fmax=FMAX,
                                                 max_steps=500))(ctx, starts, x_is, x_fs)  # fmt: skip


@jax.jit
def _scores(ctx, X, x_is, x_ts, barrier):
    d = jax.vmap(ts_distance)(X, x_ts)
    B = jax.vmap(lambda c, x, a: surface_potential(c).energy(x) - surface_potential(c).energy(a))(ctx, X, x_is)
    return d, B - barrier


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-seeds", type=int, default=600)
    ap.add_argument("--test-seeds", type=int, default=100)
    ap.add_argument("--steps", type=int, default=16000)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--cache", default="out/flow_g2.h5")
    ap.add_argument("--checkpoint", default=None, help="resume from / save to this .npz (exact resume)")
    a = ap.parse_args()

    rtr, rte = cached_reactions(build_surface_paths, a.train_seeds, a.test_seeds, a.cache)
    train_set, test = surface_ts_set(rtr), surface_ts_set(rte)
    assert not set(np.asarray(train_set.seed).tolist()) & set(np.asarray(test.seed).tolist())
    hard = np.array([float(r.extras["linear_excess"]) >= 0.2 for r in rte])
    print(f"train {len(train_set)} reactions on {len(set(np.asarray(train_set.seed).tolist()))} surfaces; "
          f"test {len(test)} on {len(set(np.asarray(test.seed).tolist()))} unseen surfaces ({hard.sum()} curved)")  # fmt: skip

    # reference check: P-RFO from the climbing image
    ref = _polish(test.context, test.x_ts, test.x_is, test.x_fs, "prfo")
    gap = np.asarray(jax.vmap(ts_distance)(ref.R, test.x_ts))
    print(f"reference TS (CI-NEB climbing image) vs P-RFO-polished saddle: converged {np.mean(np.asarray(ref.converged)):.0%}, "
          f"distance median {np.median(gap):.2e} max {np.max(gap):.2e} Å; barrier {stats(test.barrier, '.2f')} eV")  # fmt: skip

    model = SurfaceTSFlow(features=a.features)
    cfg = TSFlowConfig(n_steps=a.steps, batch_size=a.batch, learning_rate=a.lr)
    t0 = time.perf_counter()
    state = train_ts_flow(model, train_set, cfg, log_every=max(a.steps // 10, 1), checkpoint=a.checkpoint,
                          callback=lambda s, m: print(f"  step {s:6d}  loss {m['loss']:.5f} Å²"))  # fmt: skip
    print(f"trained {a.steps} steps (batch {a.batch}, {a.features} features) in {time.perf_counter() - t0:.1f} s")

    args = (test.x_is, test.x_fs, test.context)
    gen = {}
    for n, m in ((1, "euler"), (1, "heun"), (2, "heun"), (4, "heun"), (8, "heun")):
        f = jax.jit(jax.vmap(lambda a_, b_, c_: sample_ts(model, state.params, a_, b_, c_, n_steps=n, method=m)[0]))
        f(*args).block_until_ready()
        t0 = time.perf_counter()
        gen[(n, m)] = f(*args).block_until_ready()
        dt = (time.perf_counter() - t0) / len(test)
        d, dB = (np.asarray(v) for v in _scores(test.context, gen[(n, m)], test.x_is, test.x_ts, test.barrier))
        print(f"sampler {m:5s} {n} step(s) ({n * (2 if m == 'heun' else 1)} net calls, {dt * 1e6:.0f} µs/reaction batched): "
              f"TS distance median {np.median(d):.4f} mean {np.mean(d):.4f}; barrier rel. error median "
              f"{np.median(np.abs(dB) / test.barrier):.4f}")  # fmt: skip

    lin = jax.jit(jax.vmap(lambda c, x0, x1: interpolation_max(surface_potential(c), linear(x0, x1, 3))[0]))
    idpp_bands = jnp.stack([idpp(test.x_is[k], test.x_fs[k], 21) for k in range(len(test))])
    idpp_max = jax.jit(jax.vmap(lambda c, p: interpolation_max(surface_potential(c), p)[0]))(test.context, idpp_bands)
    starts = {
        "model (Heun 4)": gen[(4, "heun")],
        "linear midpoint": jax.vmap(linear_midpoint)(test.x_is, test.x_fs),
        "linear max": lin(test.context, test.x_is, test.x_fs),
        "IDPP max": idpp_max,
        "nearest-train TS": jax.vmap(lambda x0, x1: nearest_training_ts(train_set, x0, x1))(test.x_is, test.x_fs),
    }
    idpp_dev = float(jnp.max(jnp.abs(idpp_bands - jax.vmap(lambda x0, x1: linear(x0, x1, 21))(test.x_is, test.x_fs))))
    print(f"(IDPP on one particle: no interatomic distances, so the band is the straight line; "
          f"max deviation from linear {idpp_dev:.1e} Å)")  # fmt: skip

    polished = {}
    for name, X in starts.items():
        polished[name] = {m: _polish(test.context, X, test.x_is, test.x_fs, m) for m in ("prfo", "dimer")}

    for label, sel in (("all", np.ones(len(test), bool)), ("curved (straight-line excess >= 0.2)", hard)):
        B = np.asarray(test.barrier)[sel]
        print(f"\n== {label}: {sel.sum()} held-out reactions; barrier {stats(B, '.2f')} eV")
        for name, X in starts.items():
            d, dB = (np.asarray(v)[sel] for v in _scores(test.context, X, test.x_is, test.x_ts, test.barrier))
            print(f"{name:17s} TS distance (Å)          {stats(d)}   (<= 0.03: {np.mean(d <= 0.03):.0%})")
            print(f"{'':17s} barrier rel. error       {stats(np.abs(dB) / B)}   (MAE {np.mean(np.abs(dB)):.3f} eV)")
            for m in ("prfo", "dimer"):
                r = polished[name][m]
                conv = np.asarray(r.converged)[sel]
                right = conv & (np.asarray(jax.vmap(ts_distance)(r.R, test.x_ts))[sel] < RIGHT_SADDLE)
                calls = np.asarray(r.n_force_calls)[sel]
                hess = f"  Hessians {stats(np.asarray(r.n_hessian_calls)[sel][right], '6.1f')}" if m == "prfo" else ""
                print(f"{'':17s} {m:5s} success {right.mean():6.1%} (wrong saddle {np.mean(conv & ~right):.1%}, "
                      f"not converged {np.mean(~conv):.1%}); force calls {stats(calls[right], '6.1f')}{hess}")  # fmt: skip


if __name__ == "__main__":
    main()
