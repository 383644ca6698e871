"""Adaptive KMC (eOn style; Xu & Henkelman, JCP 129, 114104 (2008)) on the Muller-Brown surface.

From minimum A (-0.558224, 1.441726), E = -146.6995, the lowest saddle is at
(-0.822002, 0.624313), E = -40.6648, leading to minimum C (-0.050011, 0.466694),
E = -80.7678 (rare_events.md §0, [run]). MB energies are in its own units; the test treats
them as eV with a fixed prefactor and kT = 10 so the window holds the process.
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import lambertw

import jaxrxn
from jaxrxn.kmc.adaptive import AdaptiveKMC, akmc_step, confidence, lambert_w0
from jaxrxn.kmc.residence import KB_EV

A = np.array([[-0.558224, 1.441726]])


def test_lambert_w0_and_confidence():
    z = -np.exp(-1.0 / np.array([0.05, 0.2, 0.5, 0.9])) / np.array([0.05, 0.2, 0.5, 0.9])
    z = np.concatenate([z, [-0.3678794, -0.3, -1e-3, 0.0]])
    np.testing.assert_allclose(np.asarray(lambert_w0(jnp.asarray(z))), lambertw(z).real, atol=1e-7)
    # x = 1 (every search found a new process): no confidence; x -> 0: certainty
    assert abs(float(confidence(4, 4))) < 1e-6
    assert float(confidence(1, 50)) > 0.999
    assert float(confidence(0, 0)) == 0.0
    # monotone in the number of repeated finds
    assert float(confidence(2, 4)) < float(confidence(2, 8)) < float(confidence(2, 16))


def test_akmc_muller_brown_finds_a_to_c():
    mb = jaxrxn.muller_brown()
    akmc = AdaptiveKMC(temperature=10.0 / KB_EV, prefactor=1e12, batch_size=8, max_searches=48)
    step = akmc_step(akmc, mb, jnp.asarray(A), jax.random.key(0))
    table = step.table
    assert table.confidence >= 0.99, table.confidence
    lowest = int(np.argmin(table.barrier))
    np.testing.assert_allclose(table.saddle_energy[lowest], -40.6648, atol=2e-3)
    np.testing.assert_allclose(table.barrier[lowest], -40.6648 + 146.6995, atol=2e-3)
    np.testing.assert_allclose(table.saddle[lowest, 0], [-0.822002, 0.624313], atol=2e-3)
    np.testing.assert_allclose(table.product[lowest, 0], [-0.050011, 0.466694], atol=2e-3)
    np.testing.assert_allclose(step.energy, table.product_energy[step.event])
    assert np.isfinite(step.dt) and step.dt > 0
    print(f"MB A: {table.n_searches} searches, {len(table.barrier)} processes, "
          f"found {table.times_found}, confidence {table.confidence:.4f}")
