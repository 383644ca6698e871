"""MD integrators (units, NVE conservation, Langevin equipartition, fixed atoms) and transition detection."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxrxn
from jaxrxn.dynamics import Langevin, MaxDisplacement, VelocityVerlet, md_until_transition, run_md, temperature
from jaxrxn.units import FS, KB


def _spring(k=2.0, masses=(4.0,)):
    return jaxrxn.Potential(lambda R, system, p: 0.5 * p * jnp.sum(R**2), jnp.asarray(k), masses=jnp.asarray(masses))


def test_harmonic_period_in_fs():
    # x(t) = cos(omega t), omega = sqrt(k/m) in ASE time units; period 2 pi sqrt(m/k) / FS fs
    k, m, dt = 2.0, 4.0, 0.5
    pot = _spring(k, (m,))
    st = VelocityVerlet(dt).init(pot, jnp.array([[1.0, 0.0, 0.0]]), jax.random.PRNGKey(0), temperature=0.0)
    period_fs = 2 * np.pi * np.sqrt(m / k) / FS
    n = int(round(period_fs / 2 / dt))
    half = run_md(pot, VelocityVerlet(dt), st, n)[0]
    np.testing.assert_allclose(float(half.R[0, 0]), np.cos(np.pi * n * dt / (period_fs / 2)), atol=1e-3)
    assert float(half.R[0, 0]) < -0.999


def test_nve_conserves_energy_lj_cluster():
    pot = jaxrxn.lennard_jones(epsilon=0.0103, sigma=3.4, masses=jnp.full(7, 39.948))  # argon
    th = np.arange(6) * np.pi / 3
    R = jnp.asarray(np.concatenate([[[0, 0, 0]], 3.82 * np.stack([np.cos(th), np.sin(th), 0 * th], 1)]))
    integ = VelocityVerlet(2.0)
    st = integ.init(pot, R, jax.random.PRNGKey(1), temperature=30.0)
    m = pot.atom_masses(R)
    e0 = float(st.energy + 0.5 * jnp.sum(m[:, None] * st.V**2))
    end, frames = run_md(pot, integ, st, 2000, save_every=100)
    e = frames.energy + 0.5 * jnp.sum(m[None, :, None] * frames.V**2, axis=(1, 2))
    assert float(jnp.max(jnp.abs(e - e0))) < 2e-4  # eV, 4 ps at 2 fs


def test_langevin_equipartition_mass_independent_and_fixed_atoms():
    # Independent 3D oscillators of different masses, one fixed: <T> = T_bath on the free ones.
    masses = jnp.array([1.0, 16.0, 100.0, 12.0])
    centers = 2.0 * jnp.arange(12.0).reshape(4, 3)
    pot = jaxrxn.Potential(lambda R, system, p: 0.5 * p * jnp.sum((R - centers) ** 2), jnp.asarray(5.0), masses=masses,
                           fixed=[0, 0, 0, 1])  # fmt: skip
    integ = Langevin(dt=1.0, temperature=500.0, friction=0.05)
    R0 = centers.at[3, 0].add(0.3)
    keys = jax.random.split(jax.random.PRNGKey(2), 32)

    @jax.vmap
    def sample(key):
        st = run_md(pot, integ, integ.init(pot, R0, key), 500)[0]
        _, fr = run_md(pot, integ, st, 2000, save_every=20)
        return fr

    fr = sample(keys)
    for i in range(3):
        T_i = float(jnp.mean(masses[i] * fr.V[..., i, :] ** 2) / KB)
        np.testing.assert_allclose(T_i, 500.0, rtol=0.05)
    np.testing.assert_array_equal(np.asarray(fr.R[..., 3, :]), np.broadcast_to(np.asarray(R0[3]), fr.R[..., 3, :].shape))
    assert float(temperature(fr.V[0, -1, :3], masses[:3])) > 0


def test_transition_detected_in_double_well():
    # E = (x^2 - 1)^2 + y^2 (eV): minima at x = +-1, barrier 1 eV; at kT = 0.25 eV it hops.
    pot = jaxrxn.Potential(lambda R, system, p: (R[0, 0] ** 2 - 1) ** 2 + R[0, 1] ** 2, None, masses=jnp.array([1.0]))
    integ = Langevin(dt=1.0, temperature=0.25 / KB, friction=0.02)
    R0 = jnp.array([[-1.0, 0.0]])

    @jax.jit
    def go(key):
        return md_until_transition(pot, integ, integ.init(pot, R0, key), R0, t_event=20, max_steps=200_000,
                                   same_basin=MaxDisplacement(1.0))  # fmt: skip

    res = go(jax.random.PRNGKey(4))
    assert bool(res.transitioned) and res.result == jaxrxn.RESULTS.successful
    np.testing.assert_allclose(np.asarray(res.R_new), [[1.0, 0.0]], atol=0.05)
    assert float(res.E_new) < 1e-3
    assert int(res.step) % 20 == 0 and int(res.n_quenches) == int(res.step) // 20
    # the last in-basin state is still on the starting side
    assert float(jaxrxn.minimize(pot, res.last_in_basin.R).R[0, 0]) < 0


def test_no_transition_within_the_cap_is_a_result_code():
    pot = jaxrxn.Potential(lambda R, system, p: (R[0, 0] ** 2 - 1) ** 2 + R[0, 1] ** 2, None, masses=jnp.array([1.0]))
    integ = Langevin(dt=1.0, temperature=1.0, friction=0.02)  # 1 K: never crosses 1 eV
    R0 = jnp.array([[-1.0, 0.0]])
    res = md_until_transition(pot, integ, integ.init(pot, R0, jax.random.PRNGKey(0)), R0, t_event=20, max_steps=100)
    assert not bool(res.transitioned) and res.result == jaxrxn.RESULTS.step_cap_reached
