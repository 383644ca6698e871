"""Full-size benchmark of the DiG-style diffusion path model on held-out random 2D surfaces (G2).

Protocol (generative.md §4.3, DiG extras D1-D4), every model number beside its baselines:

- data: CI-NEB reactions between neighbouring minima of random Muller-Brown-type surfaces
  (:func:`jaxrxn.generative.data.build_surface_paths`), train and test surfaces from
  disjoint seeds (:func:`~jaxrxn.generative.data.split_seeds`), cached in the Transition1x
  layout (the same recipe and seeds as ``benchmarks/flow_generator.py``, so its cache can
  be reused with ``--cache out/flow_g2.h5``).
- model: a VP-SDE score model (:class:`jaxrxn.generative.diffusion.SurfaceScore`)
  conditioned on the surface parameters, trained by denoising score matching on the path
  frames of every train reaction (``--source path``; ``--source minima --data-noise W``
  trains on harmonic-equilibrium samples around the minima instead, as DiG does).
- D1: encode->decode round trip of every distinct test minimum (probability-flow ODE,
  Heun, ``--ode-steps`` and twice that).
- D2: distance of the decoded (unpinned) end frames from IS and FS; the paths used below
  have their end frames pinned to IS and FS.
- paths on test reactions (IS and FS given): decoded by linear and by spherical latent
  interpolation, the linear-latent path after the score-string refinement, linear
  interpolation (IDPP is identical for one particle: it has no interatomic distances) and
  the nearest training path shifted onto the end points. For each: path RMSD to the CI-NEB
  reference, raw barrier relative error, D3/D4 (share of reactions whose raw barrier is at
  or below linear interpolation's), barrier error after <= 20 CI-NEB steps, and CI-NEB force
  calls to converge (fmax 0.05) with failure counts. Reported for the *hard* test reactions
  (straight-line barrier >= 20 % above the MEP barrier) and for all of them.

``--family lj7`` runs the same protocol on an atomistic family, 2D LJ7 rearrangements
(:func:`jaxrxn.generative.clusters.build_lj7_paths`; epsilon = sigma = 1), with the
equivariant :class:`~jaxrxn.generative.diffusion.AtomisticScore` (PaiNN) on centred
structures, decoded frames Kabsch-aligned, and linear, IDPP and nearest-training-path
(matched over rotations, reflections and relabellings) baselines; CI-NEB settings of
``benchmarks/flow_lj7.py`` (13 images, k 1.0, fmax 0.01). Test seeds give new frames and
labellings of the same four minima (LJ7-2D has no others).

Run: ``python benchmarks/diffusion_paths.py [--train-seeds 600 --test-seeds 100 --steps 6000]``
or ``python benchmarks/diffusion_paths.py --family lj7 [--steps 2000 --n-test 40]``.
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxrxn.generative.data import (  # noqa: E402
    build_surface_paths,
    surface_pathset,
)
from jaxrxn.generative.diffusion import (  # noqa: E402
    DiffusionConfig,
    DiffusionModel,
    SurfaceScore,
    decode_path,
    neb_from_path,
    round_trip_error,
    score_string,
    train,
)
from jaxrxn.generative.flow import nearest_training_path, path_rmsd, raw_barrier  # noqa: E402
from jaxrxn.generative.surfaces import stack_params, surface_from_params  # noqa: E402
from jaxrxn.path import NEB, linear  # noqa: E402
from _generative import cached_reactions, stats  # noqa: E402
from flow_generator import N_IMAGES, NEB_FMAX, NEB_MAX_STEPS, NEB_SOLVER  # noqa: E402  (the same CI-NEB settings)


@eqx.filter_jit
def _neb_from(params, paths, max_steps):
    def one(p, P):
        return neb_from_path(surface_from_params(p), P, n_images=N_IMAGES, solver=NEB_SOLVER, fmax=NEB_FMAX, max_steps=max_steps)

    return jax.vmap(one)(params, paths)


def evaluate(dm, params, train_set, test, rx, label, ode_steps, t_ref):
    p_s = stack_params([int(r.extras["seed"]) for r in rx])
    x_is, x_fs = test.paths[:, 0], test.paths[:, -1]
    print(f"\n== {label}: {len(rx)} test reactions; straight-line excess median "
          f"{np.median([float(r.extras['linear_excess']) for r in rx]):.3f}")  # fmt: skip
    t0 = time.perf_counter()
    dec = jax.vmap(lambda a, b, c: decode_path(dm, params, a, b, c, n_steps=ode_steps))(x_is, x_fs, test.context)
    dec.path.block_until_ready()
    t_dec = time.perf_counter() - t0
    sl = jax.vmap(lambda a, b, c: decode_path(dm, params, a, b, c, n_steps=ode_steps, method="slerp"))(x_is, x_fs, test.context)
    t0 = time.perf_counter()
    refined = jax.vmap(lambda p, c: score_string(dm, params, p, c, t_ref=t_ref))(dec.path, test.context)
    refined.block_until_ready()
    t_str = time.perf_counter() - t0
    print(f"decode (21 frames, {ode_steps} Heun steps, incl. compilation): {t_dec:.1f} s for {len(rx)} paths; "
          f"score string (50 iterations): {t_str:.1f} s")  # fmt: skip
    print(f"D2 end frames before pinning, |decoded - IS|, |decoded - FS| (Å): {stats(dec.end_error.ravel(), '.2e')}  "
          f"max {float(jnp.max(dec.end_error)):.2e}")  # fmt: skip
    starts = {
        "decoded (linear latent)": dec.path,
        "decoded (slerp latent)": sl.path,
        "decoded + score string": refined,
        "linear (= IDPP here)": jax.vmap(lambda a, b: linear(a, b, 21))(x_is, x_fs),
        "nearest-train": jax.vmap(lambda a, b: nearest_training_path(train_set, a, b))(x_is, x_fs),
    }
    ref_B = np.asarray(test.barrier)
    barrier = jax.jit(jax.vmap(lambda p, q: raw_barrier(surface_from_params(p), q)))
    rawB = {k: np.asarray(barrier(p_s, P)) for k, P in starts.items()}
    calls = {}
    for name, P in starts.items():
        rmsd = jax.vmap(path_rmsd)(P, test.paths)
        short = _neb_from(p_s, P, 20)
        full = _neb_from(p_s, P, NEB_MAX_STEPS)
        conv = np.asarray(full.converged)
        calls[name] = np.where(conv, np.asarray(full.n_force_calls), np.nan)
        print(f"{name:24s} path RMSD (Å)            {stats(rmsd)}")
        print(f"{'':24s} raw barrier rel. error    {stats(np.abs(rawB[name] - ref_B) / ref_B)}")
        print(f"{'':24s} raw barrier <= linear's   {np.mean(rawB[name] <= rawB['linear (= IDPP here)']):.1%}")
        print(f"{'':24s} after <=20 CI-NEB steps   {stats(np.abs(np.asarray(short.barrier) - ref_B) / ref_B)}")
        print(f"{'':24s} force calls to converge   {stats(np.asarray(full.n_force_calls)[conv])}  "
              f"(not converged: {int((~conv).sum())}/{len(conv)})")  # fmt: skip
    lin = calls["linear (= IDPP here)"]
    for name in ("decoded (linear latent)", "decoded + score string", "nearest-train"):
        ok = np.isfinite(calls[name]) & np.isfinite(lin)
        ratio = calls[name][ok] / lin[ok]
        print(f"force calls {name} / linear per reaction (both converged, {ok.sum()}): {stats(ratio)}; "
              f"fewer in {np.mean(ratio < 1):.0%}")  # fmt: skip
    d3 = np.mean(rawB["decoded (linear latent)"] <= rawB["linear (= IDPP here)"])
    d4 = np.mean(rawB["decoded + score string"] <= rawB["linear (= IDPP here)"])
    e4 = np.median(np.abs(rawB["decoded + score string"] - ref_B) / ref_B)
    print(f"summary {label}: D3 {d3:.1%} (slerp {np.mean(rawB['decoded (slerp latent)'] <= rawB['linear (= IDPP here)']):.1%}); "
          f"D4 {d4:.1%}, score-string median rel. error {e4:.4f}")  # fmt: skip


def run_lj7(a):
    """The atomistic family: 2D LJ7 rearrangements (module docstring)."""
    from jaxrxn.generative.clusters import build_lj7_paths, cluster_path_rmsd, cluster_pathset, lj7_potential, nearest_cluster_path
    from jaxrxn.generative.diffusion import AtomisticScore
    from jaxrxn.path import idpp

    lj = lj7_potential()
    cache = a.cache if a.cache != "out/diffusion_g2.h5" else "out/flow_lj7.h5"
    rtr, rte = cached_reactions(build_lj7_paths, a.train_seeds or 160, a.test_seeds or 32, cache)
    train_set, test_all = cluster_pathset(rtr), cluster_pathset(rte)
    test = test_all.take(np.arange(min(a.n_test, len(test_all))))
    print(f"LJ7-2D: train {len(train_set)} reactions, test {len(test)} of {len(test_all)} (unseen frames/labellings)")
    dm = DiffusionModel.fit(AtomisticScore(features=a.features, n_layers=3, r_cut=5.0, n_species=2), train_set, centre=True)
    cfg = DiffusionConfig(n_steps=a.steps, batch_size=a.batch, learning_rate=a.lr)
    print(f"model: VP SDE, AtomisticScore(PaiNN, {a.features} features, 3 layers), centred, scale {float(dm.scale):.3f} σ")
    t0 = time.perf_counter()
    state = train(dm, train_set, cfg, log_every=max(a.steps // 5, 1), callback=lambda s, m: print(f"  step {s:6d}  loss {m['loss']:.4g}"))
    print(f"trained {a.steps} steps in {time.perf_counter() - t0:.1f} s")
    x_is, x_fs = test.paths[:, 0], test.paths[:, -1]
    t0 = time.perf_counter()
    dec = jax.vmap(lambda p, q, c: decode_path(dm, state.params, p, q, c, n_steps=a.ode_steps))(x_is, x_fs, test.context)
    dec.path.block_until_ready()
    print(f"decode (21 frames, {a.ode_steps} Heun steps): {time.perf_counter() - t0:.1f} s for {len(test)} paths")
    print(f"D1/D2 end frames before pinning (Å per atom): {stats(dec.end_error.ravel(), '.2e')}  max {float(jnp.max(dec.end_error)):.2e}")
    starts = {"decoded (linear latent)": dec.path}
    for t_ref in (0.003, 0.01, 0.03):
        starts[f"+ score string t={t_ref}"] = jax.vmap(lambda p, c: score_string(dm, state.params, p, c, t_ref=t_ref))(dec.path, test.context)
    starts["linear"] = jax.vmap(lambda p, q: linear(p, q, 21))(x_is, x_fs)
    starts["IDPP"] = jax.vmap(lambda p, q: idpp(p, q, 21))(x_is, x_fs)
    starts["nearest-train"] = jnp.asarray(np.stack([nearest_cluster_path(train_set, np.asarray(p), np.asarray(q)) for p, q in zip(x_is, x_fs)]))
    ref_B = np.asarray(test.barrier)
    barrier = jax.jit(jax.vmap(lambda q: raw_barrier(lj, q)))
    solver = NEB(k=1.0, climb=True)
    nebs = jax.jit(jax.vmap(lambda P: neb_from_path(lj, P, n_images=13, solver=solver, fmax=0.01, max_steps=3000)))
    rawB = {k: np.asarray(barrier(P)) for k, P in starts.items()}
    for name, P in starts.items():
        rmsd = jax.vmap(cluster_path_rmsd)(P, test.paths)
        full = nebs(P)
        conv = np.asarray(full.converged)
        err = np.abs(rawB[name] - ref_B) / ref_B
        print(f"{name:26s} path RMSD (Å/atom) {stats(rmsd)}")
        print(f"{'':26s} raw barrier rel. error  median {np.median(err):.4f}  p90 {np.percentile(err, 90):.4g}; "
              f"<= linear's {np.mean(rawB[name] <= rawB['linear']):.0%}, <= IDPP's {np.mean(rawB[name] <= rawB['IDPP']):.0%}")
        print(f"{'':26s} CI-NEB force calls      {stats(np.asarray(full.n_force_calls)[conv], '8.1f')}  (not converged: {int((~conv).sum())}/{len(conv)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=("g2", "lj7"), default="g2")
    ap.add_argument("--n-test", type=int, default=40, help="lj7: test reactions evaluated")
    ap.add_argument("--train-seeds", type=int, default=None, help="surfaces (g2, default 600) or LJ7 seeds (lj7, default 160)")
    ap.add_argument("--test-seeds", type=int, default=None, help="held-out seeds (g2 default 100, lj7 default 32)")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--source", choices=("path", "minima"), default="path")
    ap.add_argument("--data-noise", type=float, default=0.0)
    ap.add_argument("--ode-steps", type=int, default=100)
    ap.add_argument("--t-ref", type=float, default=0.03)
    ap.add_argument("--cache", default="out/diffusion_g2.h5")
    ap.add_argument("--checkpoint", default=None, help="resume from / save training state to this .npz")
    a = ap.parse_args()
    if a.family == "lj7":
        return run_lj7(a)
    rtr, rte = cached_reactions(build_surface_paths, a.train_seeds or 600, a.test_seeds or 100, a.cache)
    train_set, test_set = surface_pathset(rtr), surface_pathset(rte)
    exc = np.array([float(r.extras["linear_excess"]) for r in rte])
    print(f"train {len(rtr)} reactions on {len({int(r.extras['seed']) for r in rtr})} surfaces, test {len(rte)} on "
          f"{len({int(r.extras['seed']) for r in rte})} unseen surfaces ({np.mean(exc >= 0.2):.0%} hard)")  # fmt: skip
    dm = DiffusionModel.fit(SurfaceScore(features=a.features), train_set)
    cfg = DiffusionConfig(source=a.source, data_noise=a.data_noise, n_steps=a.steps, batch_size=a.batch, learning_rate=a.lr)
    print(f"model: VP SDE (beta {dm.sde.beta_min}-{dm.sde.beta_max}, t_eps {dm.sde.t_eps}), SurfaceScore({a.features}); "
          f"training on {a.source} samples, data noise {a.data_noise} Å; shift {np.round(np.asarray(dm.shift), 3)} Å, "
          f"scale {float(dm.scale):.3f} Å")  # fmt: skip
    t0 = time.perf_counter()
    state = train(dm, train_set, cfg, log_every=max(a.steps // 10, 1), checkpoint=a.checkpoint,
                  callback=lambda s, m: print(f"  step {s:6d}  loss {m['loss']:.4f}"))  # fmt: skip
    print(f"trained {a.steps} steps in {time.perf_counter() - t0:.1f} s")

    # D1 on the distinct test minima
    ends = np.concatenate([np.asarray(test_set.paths[:, 0]), np.asarray(test_set.paths[:, -1])])
    ctx = np.concatenate([np.asarray(test_set.context)] * 2)
    _, uniq = np.unique(np.round(ends.reshape(len(ends), -1), 6), axis=0, return_index=True)
    for n in (a.ode_steps, 2 * a.ode_steps):
        rt = jax.vmap(lambda x, c: round_trip_error(dm, state.params, x, c, n_steps=n))(ends[uniq], ctx[uniq])
        print(f"D1 round trip (Å), {len(uniq)} test minima, {n} Heun steps each way: {stats(rt, '.2e')}  max {float(jnp.max(rt)):.2e}")

    hard = exc >= 0.2
    evaluate(dm, state.params, train_set, test_set.take(hard), [r for r, h in zip(rte, hard) if h],
             "hard (straight-line excess >= 0.2)", a.ode_steps, a.t_ref)  # fmt: skip
    evaluate(dm, state.params, train_set, test_set, rte, "all", a.ode_steps, a.t_ref)


if __name__ == "__main__":
    main()
