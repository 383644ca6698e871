"""TS generator (React-OT-style flow matching from the IS-FS midpoint): integrator, training,
resume, input checks, and a CI-sized run on held-out G2 surfaces.

The smoke run builds CI-NEB reactions on random Muller-Brown-type surfaces (train and test
from disjoint seeds), trains a small velocity field and compares the generated TS with the
linear midpoint, the highest point of the straight line IS-FS and the nearest training
reaction's TS. Threshold: generative.md §4.4 ("React-OT-style TS (R, P given) G2: smoke TS
distance <= 0.1"); the baselines' numbers are measured in the same test.
"""

import shutil

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.generative.data import build_surface_paths
from jaxrxn.generative.surfaces import descriptor, surface_params
from jaxrxn.generative.ts_generator import (
    AtomisticTSFlow,
    SurfaceTSFlow,
    TSFlowConfig,
    TSSet,
    generate_ts,
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
from jaxrxn.path import linear

TRAIN_SEEDS, TEST_SEEDS = list(range(100)), list(range(10**6, 10**6 + 25))
MODEL = SurfaceTSFlow(features=64)
CFG = TSFlowConfig(n_steps=2400, batch_size=128, learning_rate=5e-3)


class _ConstantVelocity:
    """A stand-in 'model' whose velocity is the exact rectified-flow field of one reaction
    with a deterministic source: ``x_TS - midpoint``, constant in ``x`` and ``t``."""

    def __init__(self, target):
        self.target = target

    def apply(self, params, x, t, x_is, x_fs, context):
        return self.target - linear_midpoint(x_is, x_fs)


def test_integrators_are_exact_on_the_straight_field():
    """Euler and Heun both follow a constant field exactly: frames at k/n of the segment."""
    x_is, x_fs, x_ts = jnp.array([[0.0, 0.0]]), jnp.array([[1.0, 0.0]]), jnp.array([[0.3, 0.4]])
    model = _ConstantVelocity(x_ts)
    for method in ("euler", "heun"):
        x1, frames = sample_ts(model, None, x_is, x_fs, jnp.zeros(1), n_steps=5, method=method)
        np.testing.assert_allclose(x1, x_ts, atol=1e-14)
        expected = linear_midpoint(x_is, x_fs) + jnp.linspace(0, 1, 6)[:, None, None] * (x_ts - linear_midpoint(x_is, x_fs))
        np.testing.assert_allclose(frames, expected, atol=1e-14)


@pytest.mark.parametrize("end_state_pairs", [False, True])
def test_atomistic_painn_velocity_is_equivariant(end_state_pairs):
    """AtomisticTSFlow (PaiNN backbone): rotating/reflecting and translating IS, FS and x
    together rotates the velocity; permuting atoms permutes it (fp64, 1e-10, generative.md §4.4);
    also with the IS and FS pair distances as filter inputs (``end_state_pairs``)."""
    key = jax.random.PRNGKey(3)
    x_is = jax.random.normal(key, (4, 3)) * 1.5
    x_fs = x_is + 0.3 * jax.random.normal(jax.random.PRNGKey(4), (4, 3))
    x = 0.5 * (x_is + x_fs)
    z = jnp.array([1, 6, 8, 1])
    model = AtomisticTSFlow(features=8, n_layers=1, end_state_pairs=end_state_pairs)
    params = jax.jit(model.init)(key, x, 0.3, x_is, x_fs, z)
    Q, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(5), (3, 3)))
    shift = jnp.array([0.7, -1.1, 2.0])
    tr = lambda R: R @ Q.T + shift  # noqa: E731
    p = jnp.array([2, 0, 3, 1])
    # original, rotated + translated, permuted: one batch, one compilation
    f = jax.jit(jax.vmap(lambda x, a, b, z: model.apply(params, x, 0.3, a, b, z)))
    v, v_rot, v_perm = f(
        jnp.stack([x, tr(x), x[p]]), jnp.stack([x_is, tr(x_is), x_is[p]]), jnp.stack([x_fs, tr(x_fs), x_fs[p]]),
        jnp.stack([z, z, z[p]]),
    )
    np.testing.assert_allclose(v_rot, v @ Q.T, atol=1e-10)
    np.testing.assert_allclose(v_perm, v[p], atol=1e-10)
    assert float(jnp.max(jnp.abs(v))) > 1e-3  # not trivially zero
    np.testing.assert_allclose(jnp.sum(v, axis=0), 0.0, atol=1e-12)


@pytest.fixture(scope="module")
def untrained():
    """Freshly initialised parameters and three synthetic reactions on real surface
    descriptors: enough for the sampler and input checks, which need no training (so only
    the smoke test builds the G2 set, and pytest-xdist workers never build it twice)."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    x_is = jax.random.uniform(k1, (3, 1, 2), minval=-1.0, maxval=1.0)
    x_fs = x_is + jax.random.normal(k2, (3, 1, 2))
    ctx = jnp.stack([descriptor(surface_params(k)) for k in range(3)])
    params = jax.jit(MODEL.init)(jax.random.PRNGKey(1), x_is[0], 0.0, x_is[0], x_fs[0], ctx[0])
    data = TSSet(x_is, x_fs, linear_midpoint(x_is, x_fs), ctx, jnp.ones(3), jnp.arange(3))
    return data, params


def test_sampler_jit_vmap_matches_single_calls(untrained):
    data, params = untrained
    one = lambda a, b, c: sample_ts(MODEL, params, a, b, c, n_steps=3)[0]  # noqa: E731
    batch = jax.jit(jax.vmap(one))(data.x_is[:3], data.x_fs[:3], data.context[:3])
    single = jax.jit(one)
    for k in range(3):
        np.testing.assert_allclose(batch[k], single(data.x_is[k], data.x_fs[k], data.context[k]), atol=1e-12)


def test_bad_input_raises(untrained):
    data, params = untrained
    a, b, c = data.x_is[0], data.x_fs[0], data.context[0]
    with pytest.raises(ValueError, match="different shapes"):
        sample_ts(MODEL, params, a, jnp.zeros((2, 2)), c)
    with pytest.raises(ValueError, match="different shapes"):
        generate_ts(MODEL, params, surface_potential(c), a, jnp.zeros((2, 2)), c, polish=None)
    with pytest.raises(ValueError, match="NaN"):
        generate_ts(MODEL, params, surface_potential(c), a.at[0, 0].set(jnp.nan), b, c, polish=None)
    with pytest.raises(eqx.EquinoxRuntimeError, match="NaN"):  # also under jit
        eqx.filter_jit(lambda a: sample_ts(MODEL, params, a, b, c)[0])(a.at[0, 1].set(jnp.nan))
    bad = eqx.tree_at(lambda d: d.x_ts, data, data.x_ts.at[0, 0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="NaN"):
        train_ts_flow(MODEL, bad, CFG, callback=None)
    with pytest.raises(ValueError, match="unknown method"):
        sample_ts(MODEL, params, a, b, c, method="rk4")
    with pytest.raises(ValueError, match="unknown polish"):
        polish_ts(surface_potential(c), a, method="newton")


@pytest.fixture(scope="module")
def g2():
    """Train and held-out TS sets from one vmapped CI-NEB build (disjoint seeds)."""
    rx = build_surface_paths(TRAIN_SEEDS + TEST_SEEDS, grid=6, n_images=13)
    data = surface_ts_set(rx)
    held_out = np.asarray(data.seed) >= 10**6
    hard = np.array([float(r.extras["linear_excess"]) >= 0.2 for r in rx])
    return data.take(~held_out), data.take(held_out), hard[held_out]


@pytest.mark.compute_bound
def test_smoke_training_resumes_exactly_and_generated_ts_beats_baselines(g2, tmp_path):
    """Smoke tier on unseen surfaces. Training: the flow-matching loss falls and a run
    resumed from its checkpoint at 3/4 of the steps ends bit for bit on the same parameters.
    Generation: TS distance and barrier error of the generated TS vs the linear midpoint,
    the highest point of the straight line and the nearest training TS; P-RFO from the
    generated TS finds the true saddle. (One test, so that the G2 set and the training,
    the expensive parts, run once even when pytest-xdist splits the file.)"""
    train_set, test, hard = g2
    ck, kept, logs = tmp_path / "ts.npz", tmp_path / "step1800.npz", []

    def log(step, m):
        logs.append(m["loss"])
        if step == CFG.n_steps:  # train saves after the callback: the file holds step 3n/4
            shutil.copy(ck, kept)

    state = train_ts_flow(MODEL, train_set, CFG, log_every=CFG.n_steps // 4, callback=log, checkpoint=ck)
    assert logs[-1] < 0.2 * logs[0]
    resumed = train_ts_flow(MODEL, train_set, CFG, log_every=CFG.n_steps // 4, callback=None, checkpoint=kept)
    for a, b in zip(jax.tree_util.tree_leaves(state.params), jax.tree_util.tree_leaves(resumed.params)):
        np.testing.assert_array_equal(a, b)

    # generated and P-RFO-polished on the true surface in one vmapped call
    res = jax.jit(jax.vmap(lambda c, a, b: generate_ts(MODEL, state.params, surface_potential(c), a, b, c, n_steps=4)))(
        test.context, test.x_is, test.x_fs
    )
    starts = {
        "model": res.R_generated,
        "midpoint": jax.vmap(linear_midpoint)(test.x_is, test.x_fs),
        "linear max": jax.jit(jax.vmap(lambda c, a, b: interpolation_max(surface_potential(c), linear(a, b, 3))[0]))(
            test.context, test.x_is, test.x_fs
        ),
        "nearest": jax.vmap(lambda a, b: nearest_training_ts(train_set, a, b))(test.x_is, test.x_fs),
    }

    @jax.jit
    def scores(X):
        d = jax.vmap(ts_distance)(X, test.x_ts)
        B = jax.vmap(lambda c, x, a: surface_potential(c).energy(x) - surface_potential(c).energy(a))(test.context, X, test.x_is)
        return d, jnp.abs(B - test.barrier) / test.barrier

    s = {k: [np.asarray(v) for v in scores(X)] for k, X in starts.items()}
    # (median distance, mean distance, median distance on curved steps, median and mean
    # relative barrier error)
    m = {k: (np.median(d), np.mean(d), np.median(d[hard]), np.median(e), np.mean(e)) for k, (d, e) in s.items()}
    print({k: np.round(v, 4).tolist() for k, v in m.items()})
    assert len(test) >= 20 and hard.sum() >= 4
    model = m["model"]
    # generative.md §4.4 smoke tier: median TS distance <= 0.1 Å
    assert model[0] <= 0.1
    for base in ("midpoint", "linear max", "nearest"):
        assert model[0] < 0.7 * m[base][0], base  # median TS distance
        assert model[1] < 0.7 * m[base][1], base  # mean TS distance
        assert model[3] < 0.5 * m[base][3], base  # median relative barrier error
        assert model[4] < 0.5 * m[base][4], base  # mean relative barrier error
    assert model[2] < 0.3 * min(m["midpoint"][2], m["linear max"][2])  # curved steps

    # P-RFO from the generated TS on the true surface converges to the reference saddle
    right = np.asarray(res.is_saddle) & (np.asarray(jax.vmap(ts_distance)(res.R, test.x_ts)) < 1e-3)
    assert right.mean() >= 0.9 and np.all(np.asarray(res.n_force_calls)[right] > 0)
    assert np.all(np.asarray(res.saddle_index)[right] == 1)
