"""Residence-time KMC: event statistics, Einstein diffusion, network occupancies, exact resume.

Reference values: rare_events.md §5.1 (BKL/Gillespie; square lattice <r^2> = 4 D t with
D = k a^2 for 4 hops of rate k and jump a).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.kmc.lattice import square_lattice_walker
from jaxrxn.kmc.residence import (
    NetworkModel,
    diffusion_coefficient,
    init_state,
    load_state,
    mean_squared_displacement,
    network_rate_matrix,
    run_kmc,
    save_state,
    select_event,
    state_occupancy,
)
from jaxrxn.units import KB

RATE, A = 2.0e9, 2.5  # 1/s, Å
WALKER = square_lattice_walker(A, RATE)


@jax.jit
def _square_batch(keys):
    states = jax.vmap(lambda k: init_state(WALKER.start(), k))(keys)
    return jax.vmap(run_kmc, in_axes=(None, 0, None))(WALKER, states, 256)


def test_select_event_statistics():
    rates = jnp.array([0.0, 1.0, 0.0, 3.0, 0.0])
    events, dts, totals = jax.vmap(select_event, in_axes=(0, None))(
        jax.random.split(jax.random.key(0), 100_000), rates
    )
    counts = np.bincount(np.asarray(events), minlength=5)
    assert counts[0] == counts[2] == counts[4] == 0  # padding never chosen
    # P(event 3) = 3/4; binomial sigma = sqrt(0.75*0.25/1e5) = 0.0014
    assert abs(counts[3] / 1e5 - 0.75) < 0.005
    # exponential waiting time with mean 1/K = 0.25 s (std of mean 0.25/sqrt(1e5) = 8e-4)
    assert abs(float(jnp.mean(dts)) - 0.25) < 0.003
    assert float(totals[0]) == 4.0


def test_square_lattice_diffusion_within_2_percent():
    n = 20_000
    final, traj = _square_batch(jax.random.split(jax.random.key(42), n))
    assert not bool(jnp.any(final.absorbed))
    # 256 hops at total rate 4k take 64/k on average; stay below every replica's last event
    t_max = float(jnp.min(final.time))
    assert t_max > 40 / RATE
    t_grid = jnp.linspace(1.0, 40.0, 40) / RATE
    x0 = jnp.zeros((n, 2))
    msd = mean_squared_displacement(traj.time, traj.config.position, x0, t_grid)
    d = float(diffusion_coefficient(t_grid, msd, dim=2))
    d_exact = RATE * A**2
    # standard error from 20 independent batches of 1,000 replicas (the fitted D of one
    # replica set has no closed-form error: the MSD points are correlated)
    pos = traj.config.position.reshape(20, n // 20, *traj.config.position.shape[1:])
    t = traj.time.reshape(20, n // 20, -1)
    d_b = [float(diffusion_coefficient(t_grid, mean_squared_displacement(tb, pb, x0[: n // 20], t_grid), dim=2)) for tb, pb in zip(t, pos)]
    se = np.std(d_b, ddof=1) / np.sqrt(20) / d_exact
    assert se < 0.01  # resolves a 3 % error
    assert abs(d / d_exact - 1) < 3 * se, (d / d_exact, se)  # 3 sigma


def test_network_occupancy_is_boltzmann():
    temperature = 500.0
    energies = jnp.array([0.0, 0.05, 0.02])
    inf = jnp.inf
    saddles = jnp.array([[inf, 0.30, 0.25], [0.30, inf, 0.28], [0.25, 0.28, inf]])
    k = network_rate_matrix(energies, saddles, 1.0e13, temperature)
    model = NetworkModel(k)
    config0 = jnp.array(0)
    final, traj = jax.jit(run_kmc, static_argnums=2)(model, init_state(config0, jax.random.key(1)), 200_000)
    occupancy = state_occupancy(config0, traj, 3)
    boltzmann = jnp.exp(-energies / (KB * temperature))
    np.testing.assert_allclose(occupancy, boltzmann / jnp.sum(boltzmann), rtol=0.03)


def test_absorbing_state_is_reported():
    k = jnp.array([[0.0, 1.0], [0.0, 0.0]])  # state 1 has no exit
    final, traj = run_kmc(NetworkModel(k), init_state(jnp.array(0), jax.random.key(0)), 3)
    assert int(final.config) == 1 and bool(final.absorbed)
    assert bool(jnp.isinf(final.time)) and int(traj.config[-1]) == 1


def test_checkpoint_resume_is_exact(tmp_path):
    keys = jax.random.split(jax.random.key(7), 4)
    states = jax.vmap(lambda k: init_state(WALKER.start(), k))(keys)
    run = jax.jit(jax.vmap(run_kmc, in_axes=(None, 0, None)), static_argnums=2)
    straight, _ = run(WALKER, states, 100)
    half, _ = run(WALKER, states, 50)
    save_state(tmp_path / "kmc.npz", half)
    resumed, _ = run(WALKER, load_state(tmp_path / "kmc.npz", states), 50)
    np.testing.assert_array_equal(resumed.config.position, straight.config.position)
    np.testing.assert_array_equal(resumed.time, straight.time)
    np.testing.assert_array_equal(jax.random.key_data(resumed.key), jax.random.key_data(straight.key))
    assert int(resumed.n_steps[0]) == 100


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_negative_nan_or_infinite_rates_raise(bad):
    rates = jnp.array([1.0, bad, 2.0])
    with pytest.raises(Exception, match="finite and non-negative"):
        jax.block_until_ready(jax.jit(select_event)(jax.random.key(0), rates))
    model = NetworkModel(jnp.array([[0.0, 1.0], [bad, 0.0]]))
    run = jax.jit(run_kmc, static_argnums=2)
    with pytest.raises(Exception, match="finite and non-negative"):
        jax.block_until_ready(run(model, init_state(jnp.array(0), jax.random.key(1)), 4))
