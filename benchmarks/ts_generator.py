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

``--family lj7``: the same comparison on an atomistic family, held-out 2D LJ7 rearrangements
(epsilon = sigma = 1: energies in eps, lengths in sigma, printed as eV and Å by jaxrxn's
convention), the data of ``benchmarks/flow_lj7.py`` (``out/flow_lj7.h5``: CI-NEB bands
through P-RFO saddles, train and test from disjoint seeds, every band Kabsch-aligned so that
IS, TS and FS share one frame; test ISs are new orientations and labellings of the four
minima). Model: :class:`~jaxrxn.generative.ts_generator.AtomisticTSFlow` (PaiNN). The
reference TS is the climbing image (CI-NEB fmax 0.01), checked against its P-RFO polish;
success means a P-RFO search (fmax 1e-3) from the start converges to an index-1 point
within 0.02 Å/atom (Kabsch, same labels) of the polished reference saddle. TS distances
are per-atom RMSDs without alignment (IS and FS fix the frame). The nearest-training-TS
baseline matches the test IS+FS pair to the training pairs over rotations, reflections
and relabellings (:func:`jaxrxn.generative.clusters.nearest_cluster_path` on the
three-frame bands IS, TS, FS) and carries the training TS into the test frame, its
end-point errors blended in at one half. On the seed split every test reaction is a
rotated, reflected and relabelled copy of a training type (LJ7-2D has four minima), so that
baseline is exact there; ``--holdout`` removes every fourth saddle type by energy from
training and tests only on those (``benchmarks/flow_lj7.py``'s split).
Run: ``python benchmarks/ts_generator.py --family lj7 --steps 3000 [--holdout]`` (about 3 min
each on the 2-core CPU; 32 features, 3 PaiNN layers, batch 64, 80 test reactions).
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.generative.clusters import build_lj7_paths, lj7_potential, nearest_cluster_path  # noqa: E402
from jaxrxn.generative.data import build_surface_paths  # noqa: E402
from jaxrxn.geometry import align  # noqa: E402
from jaxrxn.generative.ts_generator import (  # noqa: E402
    AtomisticTSFlow,
    SurfaceTSFlow,
    TSSet,
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
    ap.add_argument("--family", choices=("g2", "lj7"), default="g2", help="2D random surfaces or 2D LJ7 clusters")
    ap.add_argument("--train-seeds", type=int, default=None, help="g2: 600; lj7: 120")
    ap.add_argument("--test-seeds", type=int, default=None, help="g2: 100; lj7: 24")
    ap.add_argument("--steps", type=int, default=None, help="g2: 16000; lj7: 2000")
    ap.add_argument("--features", type=int, default=None, help="g2: 64; lj7: 32")
    ap.add_argument("--layers", type=int, default=3, help="lj7: PaiNN layers")
    ap.add_argument("--batch", type=int, default=None, help="g2: 256; lj7: 64")
    ap.add_argument("--lr", type=float, default=None, help="g2: 3e-3; lj7: 2e-3")
    ap.add_argument("--n-test", type=int, default=80, help="lj7: evaluate this many test reactions (evenly spaced)")
    ap.add_argument("--holdout", action="store_true", help="lj7: hold out whole saddle types (flow_lj7.py's split)")
    ap.add_argument("--cache", default=None, help="g2: out/flow_g2.h5; lj7: out/flow_lj7.h5")
    ap.add_argument("--checkpoint", default=None, help="resume from / save to this .npz (exact resume)")
    a = ap.parse_args()
    g2 = a.family == "g2"
    for k, v2, vl in (("train_seeds", 600, 120), ("test_seeds", 100, 24), ("steps", 16000, 2000), ("features", 64, 32),
                      ("batch", 256, 64), ("lr", 3e-3, 2e-3), ("cache", "out/flow_g2.h5", "out/flow_lj7.h5")):  # fmt: skip
        if getattr(a, k) is None:
            setattr(a, k, v2 if g2 else vl)
    if not g2:
        return main_lj7(a)

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


# ---------------------------------------------------------------------------------------
# --family lj7
# ---------------------------------------------------------------------------------------
LJ = lj7_potential()
RIGHT_SADDLE_LJ7 = 0.02  # Å/atom (Kabsch, same labels) from the polished reference saddle


def lj7_ts_set(reactions) -> TSSet:
    """IS, FS and climbing image of each LJ7 band (one frame per band); species index 0."""
    x = {k: jnp.stack([jnp.asarray(getattr(r, k)) for r in reactions]) for k in ("reactant", "product", "transition_state")}
    ctx = jnp.zeros((len(reactions), reactions[0].numbers.shape[0]), int)
    B = jnp.asarray([r.barrier for r in reactions])
    seed = jnp.asarray([int(r.extras["seed"]) for r in reactions])
    return TSSet(x["reactant"], x["product"], x["transition_state"], ctx, B, seed)


@eqx.filter_jit
def _polish_lj7(starts):
    return jax.vmap(lambda x: polish_ts(LJ, x, method="prfo", fmax=FMAX, max_steps=500))(starts)


@jax.jit
def _scores_lj7(X, x_is, x_ts, barrier):
    d = jax.vmap(ts_distance)(X, x_ts)
    return d, jax.vmap(LJ.energy)(X) - jax.vmap(LJ.energy)(x_is) - barrier


def main_lj7(a):
    rtr, rte = cached_reactions(build_lj7_paths, a.train_seeds, a.test_seeds, a.cache)
    split = "held-out seeds (new frames and labellings of the known saddle types)"
    if a.holdout:  # as benchmarks/flow_lj7.py --holdout: every fourth saddle type by energy
        types = sorted({round(float(r.extras["saddle_energy"]), 3) for r in rtr})
        held = set(types[1::4])
        rtr = [r for r in rtr if round(float(r.extras["saddle_energy"]), 3) not in held]
        rte = [r for r in rte if round(float(r.extras["saddle_energy"]), 3) in held]
        split = f"held-out saddle types {sorted(held)} (none of them in training)"
    train_set, test_all = lj7_ts_set(rtr), lj7_ts_set(rte)
    assert not set(np.asarray(train_set.seed).tolist()) & set(np.asarray(test_all.seed).tolist())
    pick = np.unique(np.linspace(0, len(rte) - 1, min(a.n_test, len(rte))).round().astype(int))
    test = test_all.take(pick)
    excess = np.array([float(rte[i].extras["linear_excess"]) for i in pick])
    types_tr = {round(float(r.extras["saddle_energy"]), 3) for r in rtr}
    types_te = [round(float(rte[i].extras["saddle_energy"]), 3) for i in pick]
    top = max(set(types_te), key=types_te.count)
    frame_gap = float(jnp.max(jnp.abs(jnp.mean(test.x_ts, 1) - jnp.mean(test.x_is, 1))))
    print(f"LJ7-2D, {split}")
    print(f"train {len(train_set)} reactions from {len(set(np.asarray(train_set.seed).tolist()))} ISs; "
          f"test {len(test)} of {len(test_all)} from {len(set(np.asarray(test.seed).tolist()))} unseen ISs "
          f"(straight-line barrier excess over the MEP {stats(excess, '.2f')})")
    print(f"saddle types: train {len(types_tr)}, test {len(set(types_te))} (most common {top}: "
          f"{types_te.count(top)}/{len(types_te)}); max centroid offset TS-IS {frame_gap:.1e} Å")  # fmt: skip

    t0 = time.perf_counter()
    ref = _polish_lj7(test.x_ts)
    ref_R = ref.R
    gap = np.asarray(jax.vmap(ts_distance)(ref_R, test.x_ts))
    dE = np.asarray(ref.energy - jax.vmap(LJ.energy)(test.x_ts))
    fmax_ci = np.asarray(jax.vmap(lambda x: jnp.max(jnp.linalg.norm(LJ.forces(x), axis=-1)))(test.x_ts))
    print(f"reference TS (CI-NEB climbing image, largest atom force {stats(fmax_ci, '.1e')} eV/Å) vs P-RFO-polished "
          f"saddle: converged {np.mean(np.asarray(ref.converged)):.0%} (force calls {stats(ref.n_force_calls, '.0f')}), "
          f"distance median {np.median(gap):.2e} max {np.max(gap):.2e} Å/atom, energy change max {np.max(np.abs(dE)):.1e} eV; "
          f"barrier {stats(test.barrier, '.3f')} eV ({time.perf_counter() - t0:.1f} s)")  # fmt: skip

    model = AtomisticTSFlow(features=a.features, n_layers=a.layers)
    cfg = TSFlowConfig(n_steps=a.steps, batch_size=a.batch, learning_rate=a.lr)
    t0 = time.perf_counter()
    state = train_ts_flow(model, train_set, cfg, log_every=max(a.steps // 10, 1), checkpoint=a.checkpoint,
                          callback=lambda s, m: print(f"  step {s:6d}  loss {m['loss']:.5f} Å²/atom", flush=True))  # fmt: skip
    print(f"trained {a.steps} steps (batch {a.batch}, {a.features} features, {a.layers} PaiNN layers) "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip

    args = (test.x_is, test.x_fs, test.context)
    gen = {}
    for n, m in ((1, "euler"), (2, "heun"), (4, "heun"), (8, "heun")):
        f = jax.jit(jax.vmap(lambda a_, b_, c_: sample_ts(model, state.params, a_, b_, c_, n_steps=n, method=m)[0]))
        f(*args).block_until_ready()
        t0 = time.perf_counter()
        gen[(n, m)] = f(*args).block_until_ready()
        dt = (time.perf_counter() - t0) / len(test)
        d, dB = (np.asarray(v) for v in _scores_lj7(gen[(n, m)], test.x_is, test.x_ts, test.barrier))
        print(f"sampler {m:5s} {n} step(s) ({n * (2 if m == 'heun' else 1)} net calls, {dt * 1e6:.0f} µs/reaction batched): "
              f"TS distance median {np.median(d):.4f} mean {np.mean(d):.4f} Å/atom; barrier rel. error median "
              f"{np.median(np.abs(dB) / test.barrier):.4f}")  # fmt: skip

    t0 = time.perf_counter()
    lin = jax.jit(jax.vmap(lambda x0, x1: interpolation_max(LJ, linear(x0, x1, 3))[0]))
    idpp_max = jax.jit(jax.vmap(lambda x0, x1: interpolation_max(LJ, idpp(x0, x1, 21))[0]))
    tri = type("Bands", (), {"paths": np.stack([np.asarray(train_set.x_is), np.asarray(train_set.x_ts),
                                                np.asarray(train_set.x_fs)], axis=1)})  # fmt: skip
    nn_ts = jnp.asarray(np.stack([nearest_cluster_path(tri, np.asarray(x0), np.asarray(x1))[1]
                                  for x0, x1 in zip(test.x_is, test.x_fs)]))  # fmt: skip
    starts = {
        "model (Heun 4)": gen[(4, "heun")],
        "linear midpoint": jax.vmap(linear_midpoint)(test.x_is, test.x_fs),
        "linear max": lin(test.x_is, test.x_fs),
        "IDPP max": idpp_max(test.x_is, test.x_fs),
        "nearest-train TS": nn_ts,
    }
    print(f"baselines built in {time.perf_counter() - t0:.1f} s")

    polished = {name: _polish_lj7(X) for name, X in starts.items()}
    right_of = jax.jit(jax.vmap(lambda R, Q: ts_distance(align(R, Q), Q)))

    B = np.asarray(test.barrier)
    print(f"\n== {len(test)} held-out LJ7 reactions; barrier {stats(B, '.3f')} eV "
          f"(barrier error: atom overlaps make the mean explode, read the median)")  # fmt: skip
    for name, X in starts.items():
        d, dB = (np.asarray(v) for v in _scores_lj7(X, test.x_is, test.x_ts, test.barrier))
        print(f"{name:17s} TS distance (Å/atom)     {stats(d)}   (<= 0.05: {np.mean(d <= 0.05):.0%})")
        print(f"{'':17s} barrier rel. error       {stats(np.abs(dB) / B)}   (median |error| {np.median(np.abs(dB)):.3f} eV)")
        r = polished[name]
        conv = np.asarray(r.converged)
        right = conv & (np.asarray(right_of(r.R, ref_R)) < RIGHT_SADDLE_LJ7)
        calls = np.asarray(r.n_force_calls)
        print(f"{'':17s} prfo  success {right.mean():6.1%} (wrong saddle {np.mean(conv & ~right):.1%}, "
              f"not converged {np.mean(~conv):.1%}); force calls {stats(calls[right], '6.1f')}  "
              f"Hessians {stats(np.asarray(r.n_hessian_calls)[right], '6.1f')}")  # fmt: skip


if __name__ == "__main__":
    main()
