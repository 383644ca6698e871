"""Rates: Arrhenius figures of rare_events.md §1 and Vineyard prefactors of §6.3."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.rates import (
    arrhenius_rate,
    eyring_rate,
    md_steps_to_event,
    mean_waiting_time,
    vineyard_prefactor,
)
from jaxrxn.units import KB


def test_waiting_times_of_the_source_article():
    # rare_events.md §1 [run]: kT(300 K) = 0.0258520 eV
    assert KB * 300 == pytest.approx(0.0258520, abs=1e-7)
    assert mean_waiting_time(0.3, 1e13, 300.0) == pytest.approx(1.0959e-8, rel=1e-4)
    assert mean_waiting_time(1.0, 1e13, 300.0) == pytest.approx(6.2988e3, rel=1e-4)
    assert mean_waiting_time(0.3, 1e12, 300.0) == pytest.approx(1.0959e-7, rel=1e-4)
    assert mean_waiting_time(1.0, 1e12, 300.0) == pytest.approx(6.2988e4, rel=1e-4)
    assert md_steps_to_event(0.3, 1e13, 300.0) == pytest.approx(1.0959e7, rel=1e-4)
    assert md_steps_to_event(1.0, 1e13, 300.0, timestep_fs=2.0) == pytest.approx(6.2988e18 / 2, rel=1e-4)


def test_rates_vmap_over_barrier_prefactor_and_temperature():
    Ea = jnp.array([0.3, 1.0, 0.3, 1.0])
    A = jnp.array([1e13, 1e13, 1e12, 1e12])
    T = jnp.full(4, 300.0)
    tau = jax.vmap(mean_waiting_time)(Ea, A, T)
    np.testing.assert_allclose(tau, [1.0959e-8, 6.2988e3, 1.0959e-7, 6.2988e4], rtol=1e-4)
    k = jax.jit(jax.vmap(arrhenius_rate, (None, None, 0)))(0.5, 1e13, jnp.array([300.0, 600.0]))
    np.testing.assert_allclose(k, 1e13 * np.exp(-0.5 / (8.617333262e-5 * np.array([300.0, 600.0]))), rtol=1e-12)


def test_eyring_prefactor_is_kT_over_h():
    # kB T / h at 300 K = 6.2510e12 /s (CODATA kB and h)
    assert eyring_rate(0.0, 300.0) == pytest.approx(6.2510e12, rel=1e-4)
    assert eyring_rate(0.3, 300.0) == pytest.approx(6.2510e12 * 9.1248e-6, rel=1e-4)


def test_vineyard_muller_brown_matches_hessian_arithmetic():
    # paths_saddles.md §1.5: A->S1 prefactor sqrt(410.53 * 4068.20 / 490.24) / 2 pi (unit mass)
    from jaxrxn.potentials import muller_brown

    pot = muller_brown()
    A = jnp.array([[-0.558224, 1.441726]])
    S1 = jnp.array([[-0.822002, 0.624313]])
    nu = vineyard_prefactor(pot, A, S1, time_unit_s=1.0)
    assert float(nu) == pytest.approx(np.sqrt(410.53 * 4068.20 / 490.24) / (2 * np.pi), rel=1e-4)
    # a minimum given as the saddle is rejected, not turned into a number
    assert np.isnan(float(vineyard_prefactor(pot, A, A, time_unit_s=1.0)))


def test_arrhenius_rate_stays_in_numpy_without_jax_arrays():
    # host-side rate tables (reaction networks, AKMC) keep NumPy float64 whatever JAX's x64 mode
    Ea = np.array([0.3, 0.5])
    k = arrhenius_rate(Ea, np.array([1e13, 1e12]), 300.0)
    assert isinstance(k, np.ndarray) and k.dtype == np.float64
    np.testing.assert_allclose(k, [1e13, 1e12] * np.exp(-Ea / (8.617333262e-5 * 300.0)), rtol=1e-12)
