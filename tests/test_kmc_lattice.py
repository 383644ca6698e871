"""Lattice KMC: interstitial hops built from a barrier/prefactor catalogue.

Analytic references (random walk with uncorrelated hops, D = (1/2d) sum_j k_j lambda_j^2):
- fcc octahedral sublattice, 12 O-O hops of length a/sqrt(2) at rate G: D = G a^2.
- fcc O -> T -> O: 8 O->T hops (rate G_OT) and 4 T->O hops (G_TO), length sqrt(3) a/4, each
  hop independent of the last: D = a^2 / (16 (1/(8 G_OT) + 1/(4 G_TO))).
- bcc tetrahedral sublattice, 4 T-T hops of length sqrt(2) a/4: D = G a^2 / 12.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn.kmc.lattice import (
    HopType,
    LatticeGas,
    bcc_interstitial_sites,
    build_walker,
    fcc_hydrogen_walker,
    square_lattice_neighbors,
)
from jaxrxn.kmc.residence import diffusion_coefficient, init_state, mean_squared_displacement, run_kmc
from jaxrxn.units import KB

A_PD = 3.89  # Å
NU = 1.0e13  # 1/s
N_REP, N_STEPS = 3000, 200


def _kmc_diffusion(walker, temperatures, key):
    """KMC D (Å^2/s) at each temperature: replicas and temperatures both vmapped."""

    def one_temperature(temperature, key):
        model = eqx.tree_at(lambda w: w.temperature, walker, temperature)
        states = jax.vmap(lambda k: init_state(model.start(0), k))(jax.random.split(key, N_REP))
        final, traj = jax.vmap(run_kmc, in_axes=(None, 0, None))(model, states, N_STEPS)
        t_grid = jnp.linspace(0.05, 0.6, 12) * jnp.mean(final.time)
        msd = mean_squared_displacement(traj.time, traj.config.position, jnp.zeros((N_REP, 3)), t_grid)
        return diffusion_coefficient(t_grid, msd, 3), jnp.min(final.time) > t_grid[-1]

    keys = jax.random.split(key, len(temperatures))
    return jax.jit(jax.vmap(one_temperature))(jnp.asarray(temperatures), keys)


def test_fcc_octahedral_sublattice_diffusion_vs_analytic():
    barrier = 0.23
    walker = fcc_hydrogen_walker(A_PD, 300.0, barrier_oo=barrier, prefactor=NU)
    assert walker.hop_vectors.shape == (4, 12, 3)  # 12 O neighbours per O site
    temperatures = np.array([300.0, 500.0, 800.0])
    d_kmc, covered = _kmc_diffusion(walker, temperatures, jax.random.key(0))
    assert bool(jnp.all(covered))
    d_exact = NU * np.exp(-barrier / (KB * temperatures)) * A_PD**2
    # 3000 replicas: relative standard error of <r^2> ~ 0.82/sqrt(3000) = 1.5 %
    np.testing.assert_allclose(np.asarray(d_kmc), d_exact, rtol=0.05)
    # the same analytic value from the catalogue's generic formula
    np.testing.assert_allclose(float(walker.analytic_diffusion_coefficient()), d_exact[0], rtol=1e-12)


def test_fcc_octahedral_tetrahedral_path():
    b_ot, b_to, temperature = 0.25, 0.10, 400.0
    walker = fcc_hydrogen_walker(A_PD, temperature, barrier_ot=b_ot, barrier_to=b_to, prefactor=NU)
    n_hops = np.asarray(jnp.sum(jnp.isfinite(walker.barriers), axis=1))
    assert list(n_hops) == [8] * 4 + [4] * 8  # O has 8 T neighbours, T has 4 O neighbours
    assert float(walker.max_site_drift()) < 1e-12
    kT = KB * temperature
    g_ot, g_to = NU * np.exp(-b_ot / kT), NU * np.exp(-b_to / kT)
    d_exact = A_PD**2 / (16 * (1 / (8 * g_ot) + 1 / (4 * g_to)))
    np.testing.assert_allclose(float(walker.analytic_diffusion_coefficient()), d_exact, rtol=1e-10)
    d_kmc, covered = _kmc_diffusion(walker, [temperature], jax.random.key(1))
    assert bool(covered[0])
    np.testing.assert_allclose(float(d_kmc[0]), d_exact, rtol=0.05)


def test_fcc_octahedral_tetrahedral_direction_prefactors():
    # harmonic-TST prefactors differ per direction (EMT Pd-H: 7.05e12 O->T, 5.38e11 T->O,
    # examples/h_diffusion_lattice.py); D = a^2 / (16 (1/(8 k_OT) + 1/(4 k_TO))) as above
    b_ot, b_to, temperature, nu_ot, nu_to = 0.55, 0.0034, 600.0, 7.05e12, 5.38e11
    walker = fcc_hydrogen_walker(A_PD, temperature, barrier_ot=b_ot, barrier_to=b_to, prefactor_ot=nu_ot,
                                 prefactor_to=nu_to)  # fmt: skip
    kT = KB * temperature
    k_ot, k_to = nu_ot * np.exp(-b_ot / kT), nu_to * np.exp(-b_to / kT)
    d_exact = A_PD**2 / (16 * (1 / (8 * k_ot) + 1 / (4 * k_to)))
    np.testing.assert_allclose(float(walker.analytic_diffusion_coefficient()), d_exact, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(walker.prefactors[:4, :8]), nu_ot)
    np.testing.assert_allclose(np.asarray(walker.prefactors[4:, :4]), nu_to)


def test_bcc_tetrahedral_catalogue():
    a = 2.87
    cell, frac, labels = bcc_interstitial_sites(a)
    assert labels.count("O") == 6 and labels.count("T") == 12
    # octahedral sites are isolated under a T-T-only catalogue: the builder must refuse
    with pytest.raises(ValueError, match="no hop"):
        build_walker(cell, frac, labels, [HopType("T", "T", np.sqrt(2) * a / 4, 0.0, 1.0)], 300.0)
    walker = build_walker(cell, frac[6:], labels[6:], [HopType("T", "T", np.sqrt(2) * a / 4, 0.0, 1.0)], 300.0)
    assert walker.hop_vectors.shape == (12, 4, 3)
    assert float(walker.max_site_drift()) < 1e-12
    np.testing.assert_allclose(float(walker.analytic_diffusion_coefficient()), a**2 / 12, rtol=1e-12)


def test_lattice_gas_rates_obey_detailed_balance():
    gas = LatticeGas(jnp.asarray(square_lattice_neighbors(6)), 0.1, 0.3, 1e13, 400.0)
    occ = (jax.random.uniform(jax.random.key(3), (36,)) < 0.4).astype(jnp.int32)
    rates_fn, apply_fn = jax.jit(lambda o: gas.rates(o)), jax.jit(lambda o, e: gas.apply(o, e))
    energy_fn = jax.jit(lambda o: gas.energy(o))
    rates = np.asarray(rates_fn(occ))
    d_e = np.asarray(gas.hop_energy_change(occ)).reshape(-1)
    kT = KB * 400.0
    checked = 0
    for event in np.flatnonzero(rates > 0):
        after = apply_fn(occ, jnp.asarray(event))
        assert abs(float(energy_fn(after) - energy_fn(occ)) - d_e[event]) < 1e-12
        site, slot = divmod(int(event), 4)
        back = int(gas.neighbors[site, slot]) * 4 + [1, 0, 3, 2][slot]  # the opposite neighbour slot
        reverse = float(rates_fn(after)[back])
        np.testing.assert_allclose(rates[event] / reverse, np.exp(-d_e[event] / kT), rtol=1e-10)
        checked += 1
    assert checked > 10
