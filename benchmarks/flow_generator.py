"""Full-size benchmark of the path flow generator on held-out random 2D surfaces (G2).

Protocol (generative.md §4.3), every model number beside its baselines:

- data: CI-NEB reactions between neighbouring minima of random Muller-Brown-type surfaces
  (:func:`jaxrxn.generative.data.build_surface_paths`), train and test surfaces from
  disjoint seeds, cached in the Transition1x layout under ``out/``. The model trains on
  all elementary reactions of the train surfaces.
- **conditioned mode** (IS and the FS displacement given): path RMSD to the CI-NEB
  reference (M3), raw barrier error (M4), barrier error after <= 20 CI-NEB steps started
  from the path, and CI-NEB force calls to converge (fmax as in the data set) started from
  the generated path, from linear interpolation between the same end points, and from the
  nearest training path shifted onto those end points. Reported for the *hard* test
  reactions (straight-line barrier >= 20 % above the MEP barrier) and for all of them.
  IDPP is not reported: it interpolates interatomic distances, and one particle on a
  surface has none (IDPP reduces to linear interpolation there).
- **unconditioned mode** (IS alone, K = 32 kicked samples per IS): FS validity (the last
  frame relaxes with FIRE to a minimum, Hessian positive definite, that is not the IS; M1)
  and coverage (share of the reference exits of that IS, from the test reactions, that
  are found; M5).

Run: ``python benchmarks/flow_generator.py [--train-seeds 600 --test-seeds 100 --steps 8000]``.
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
    resample_by_arc_length,
    surface_pathset,
)
from jaxrxn.generative.flow import (  # noqa: E402
    FlowConfig,
    SurfaceFlow,
    generate,
    nearest_training_path,
    path_rmsd,
    raw_barrier,
    train,
)
from jaxrxn.generative.surfaces import stack_params, surface_from_params  # noqa: E402
from jaxrxn.optimize import FIRE, minimize  # noqa: E402
from jaxrxn.path import NEB, linear, neb  # noqa: E402
from _generative import cached_reactions, report_coverage, stats, unconditioned_samples  # noqa: E402

# CI-NEB for the start-quality metrics, scaled to Muller-Brown units (energies ~100,
# curvatures ~10^3 per Å^2): FIRE's default dt = 0.1 is unstable there and k = 0.1 leaves the
# image spacing as a mode ~10^4 times softer than the rest, so the force-call count would
# measure the spring relaxation and not the start (probed on 24 test bands: with
# k = 0.1 and default FIRE even the resampled reference band failed to converge in 30 %).
N_IMAGES, NEB_FMAX, NEB_MAX_STEPS = 17, 0.05, 3000
NEB_SOLVER = NEB(k=2.0, climb=True, optimizer=FIRE(dt=0.002, dt_max=0.01, maxstep=0.05))


@eqx.filter_jit
def _neb_from(params, bands, max_steps):
    return jax.vmap(lambda p, b: neb(surface_from_params(p), b, NEB_SOLVER, fmax=NEB_FMAX, max_steps=max_steps))(params, bands)


def band_from(path, x_fs):
    """A CI-NEB start band of N_IMAGES images from a path, ending on the minimum x_fs."""
    return resample_by_arc_length(resample_by_arc_length(path, N_IMAGES).at[-1].set(x_fs), N_IMAGES)


def conditioned(model, params, train_set, test, rx, label):
    params_s = stack_params([int(r.extras["seed"]) for r in rx])
    x_is, x_fs = test.paths[:, 0], test.paths[:, -1]
    gen = jax.jit(jax.vmap(lambda a, c, d: generate(model, params, a, c, d, 1.0, n_steps=40)))
    frames, prog = gen(x_is, test.context, test.cond)
    stopped = np.asarray(prog[:, -2] >= 1 - 0.5 / 40)
    model_paths = jnp.concatenate([frames, x_fs[:, None]], axis=1)  # conditioned: the path ends on its given FS
    lin_paths = jax.vmap(lambda a, b: linear(a, b, 21))(x_is, x_fs)
    nn_paths = jax.vmap(lambda a, b: nearest_training_path(train_set, a, b))(x_is, x_fs)
    ref_B = np.asarray(test.barrier)
    print(f"\n== conditioned mode (IS + FS given), {label}: {len(rx)} reactions; "
          f"straight-line excess median {np.median([float(r.extras['linear_excess']) for r in rx]):.3f}")  # fmt: skip
    gap = np.linalg.norm(np.asarray(frames[:, -1] - x_fs), axis=(-2, -1))
    print(f"progress head: p(IS) {stats(np.asarray(prog[:, 0]))}; stopped by p >= 1 - h/2 before the cap: "
          f"{stopped.mean():.0%}; |last frame - FS| (Å) {stats(gap)}")  # fmt: skip
    rows = {}
    for name, P in (("model", model_paths), ("linear", lin_paths), ("nearest-train", nn_paths)):
        rmsd = jax.vmap(path_rmsd)(P, test.paths)
        rawB = jax.vmap(lambda p, q: raw_barrier(surface_from_params(p), q))(params_s, P)
        bands = jax.vmap(band_from)(P, x_fs)
        short = _neb_from(params_s, bands, 20)
        full = _neb_from(params_s, bands, NEB_MAX_STEPS)
        rows[name] = full
        conv = np.asarray(full.converged)
        print(f"{name:14s} path RMSD (Å)            {stats(rmsd)}")
        print(f"{'':14s} raw barrier rel. error    {stats(np.abs(np.asarray(rawB) - ref_B) / ref_B)}")
        print(f"{'':14s} after <=20 CI-NEB steps   {stats(np.abs(np.asarray(short.barrier) - ref_B) / ref_B)}")
        print(f"{'':14s} force calls to converge   {stats(np.asarray(full.n_force_calls)[conv])}  "
              f"(not converged: {int((~conv).sum())}/{len(conv)})")  # fmt: skip
    ratio = np.asarray(rows["model"].n_force_calls) / np.asarray(rows["linear"].n_force_calls)
    print(f"force calls model/linear per reaction: {stats(ratio)}; model fewer in {np.mean(ratio < 1):.0%}")


def unconditioned(model, params, test, rx, K=32, kick=0.1, seed=0):
    groups, ug, first, x_is, fs = unconditioned_samples(model, params, test, K, kick, seed)  # fs (G, K, 1, 2)
    params_s = stack_params([int(rx[i].extras["seed"]) for i in first])

    @jax.jit
    def relax(p, R):
        pot = surface_from_params(p)
        r = minimize(pot, R, FIRE(), fmax=1e-3, max_steps=3000)
        return r.R, r.converged, jnp.linalg.eigvalsh(pot.hessian(r.R))[0]

    R, conv, lam = jax.vmap(jax.vmap(relax, (None, 0)))(params_s, fs)
    R, conv, lam = np.asarray(R), np.asarray(conv), np.asarray(lam)
    not_is = np.linalg.norm(R - np.asarray(x_is)[:, None], axis=(-2, -1)) > 0.05
    valid = conv & (lam > 1e-3) & not_is
    exits = [np.asarray(test.paths[groups == g, -1]) for g in ug]
    print(f"\n== unconditioned mode (IS alone, K={K}, kick {kick} Å): {len(ug)} test ISs, {sum(map(len, exits))} reference exits")
    print(f"FS validity (relaxes to a minimum that is not the IS): {valid.mean():.1%} "
          f"(raw end already within 0.05 Å of the IS: {np.mean(~not_is):.1%})")  # fmt: skip
    report_coverage(R, valid, exits, lambda a, b: np.linalg.norm(a - b, axis=(-2, -1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-seeds", type=int, default=600)
    ap.add_argument("--test-seeds", type=int, default=100)
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--kicks", type=float, nargs="+", default=[0.1, 0.25])
    ap.add_argument("--cache", default="out/flow_g2.h5")
    a = ap.parse_args()
    rtr, rte = cached_reactions(build_surface_paths, a.train_seeds, a.test_seeds, a.cache)
    train_set, test_set = surface_pathset(rtr), surface_pathset(rte)
    exc = np.array([float(r.extras["linear_excess"]) for r in rte])
    print(f"train {len(rtr)} reactions ({np.mean([float(r.extras['linear_excess']) >= 0.2 for r in rtr]):.0%} hard), "
          f"test {len(rte)} ({np.mean(exc >= 0.2):.0%} hard: straight-line barrier >= 20 % above the MEP's)")  # fmt: skip
    model = SurfaceFlow(features=a.features)
    cfg = FlowConfig(n_steps=a.steps, batch_size=256, learning_rate=2e-3)
    t0 = time.perf_counter()
    state = train(model, train_set, cfg, log_every=max(a.steps // 10, 1),
                  callback=lambda s, m: print(f"  step {s:6d}  " + "  ".join(f"{k} {v:.4f}" for k, v in m.items())))  # fmt: skip
    print(f"trained {a.steps} steps in {time.perf_counter() - t0:.1f} s")
    hard = exc >= 0.2
    conditioned(model, state.params, train_set, test_set.take(hard), [r for r, h in zip(rte, hard) if h], "hard (excess >= 0.2)")
    conditioned(model, state.params, train_set, test_set, rte, "all")
    for kick in a.kicks:
        unconditioned(model, state.params, test_set, rte, kick=kick)


if __name__ == "__main__":
    main()
