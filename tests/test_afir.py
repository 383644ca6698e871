"""AFIR function: constants, forces, AFIR paths (jaxrxn.explore.afir)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import central_difference_forces, lj7_hexagon

import jaxrxn
from jaxrxn.explore.afir import (
    afir_alpha,
    afir_path,
    afir_potential,
    directional_afir_potential,
    target_afir_potential,
    thermal_gamma,
    true_potential,
)
from jaxrxn.units import KJMOL_PER_EV

MB_A = np.array([[-0.558224, 1.441726]])


def test_alpha_of_gamma_matches_grrm_constants():
    # rare_events.md section 0 / 4.1 [run]: alpha(100 kJ/mol) = 118.81 kJ/mol/Å = 1.2314 eV/Å
    np.testing.assert_allclose(afir_alpha(100.0), 118.81, atol=5e-3)
    np.testing.assert_allclose(afir_alpha(100.0 / KJMOL_PER_EV, unit="eV"), 1.2314, atol=5e-5)
    np.testing.assert_allclose(afir_alpha(jnp.array([200.0, 300.0, 1000.0])), [205.45, 285.99, 791.05], atol=6e-3)


def test_thermal_rule_gives_99_kjmol():
    # gamma = RT ln(kB T t / h): 298.15 K, t = 10 h -> 99.0 kJ/mol (rare_events.md section 4.1)
    np.testing.assert_allclose(thermal_gamma(298.15, 10 * 3600.0), 99.0, atol=0.05)


def test_bad_units_and_fragments_raise():
    lj = jaxrxn.lennard_jones(dim=2)
    with pytest.raises(ValueError, match="unit"):
        afir_alpha(100.0, unit="kcal")
    with pytest.raises(ValueError, match="two fragments"):
        afir_potential(lj, [[0, 1]], alpha=1.0, radii=np.ones(7))
    with pytest.raises(ValueError, match="outside"):
        afir_potential(lj, [[0], [9]], alpha=1.0, radii=np.ones(7))
    with pytest.raises(ValueError, match="exactly one"):
        afir_potential(lj, [[0], [1]], radii=np.ones(7))


def test_fragment_term_is_weighted_mean_distance_and_forces_match_fd():
    lj = jaxrxn.lennard_jones(dim=2)
    R = jnp.asarray(lj7_hexagon() + 0.03 * np.random.default_rng(1).normal(size=(7, 2)))
    # one atom per fragment: the AFIR term is alpha * r_01 exactly
    pot = afir_potential(lj, [[0], [1]], alpha=0.7, radii=np.full(7, 0.56))
    r01 = float(jnp.linalg.norm(R[0] - R[1]))
    np.testing.assert_allclose(pot.energy(R) - lj.energy(R), 0.7 * r01, rtol=1e-12)
    # three fragments, covalent radii, pulled apart: forces against central differences
    pot3 = afir_potential(lj, [[0], [1, 2], [3, 4, 5]], alpha=1.3, rho=-1.0, numbers=[6, 1, 1, 8, 1, 1, 1])
    np.testing.assert_allclose(pot3.forces(R), central_difference_forces(pot3.energy, R), atol=1e-6)
    tgt = target_afir_potential(lj, lj7_hexagon(1.2), alpha=0.9, radii=np.full(7, 0.56))
    np.testing.assert_allclose(tgt.forces(R), central_difference_forces(tgt.energy, R), atol=1e-6)
    np.testing.assert_allclose(true_potential(pot3).energy(R), lj.energy(R), rtol=1e-14)


def test_directional_afir_on_muller_brown():
    mb = jaxrxn.muller_brown()
    pot = directional_afir_potential(mb, jnp.array([[3.0, -4.0]]), alpha=10.0)
    R = jnp.asarray(MB_A)
    # F = E - alpha d.R with d normalised: its force is the true force plus alpha d
    np.testing.assert_allclose(pot.forces(R) - mb.forces(R), 10.0 * np.array([[0.6, -0.8]]), atol=1e-10)
    with pytest.raises(ValueError, match="non-zero"):
        directional_afir_potential(mb, jnp.zeros((1, 2)))


def test_afir_path_starts_at_minimum_and_leaves_basin():
    mb = jaxrxn.muller_brown()
    pot = directional_afir_potential(mb, jnp.array([[np.cos(np.radians(300)), np.sin(np.radians(300))]]))
    path = jax.jit(lambda R: afir_path(pot, R, jnp.linspace(0.0, 400.0, 21), "lbfgs", fmax=1e-4))(jnp.asarray(MB_A))
    assert bool(jnp.all(path.converged))
    np.testing.assert_allclose(path.energy[0], -146.6995, atol=1e-3)  # minimum A (table 0)
    # pulled toward B: the F-minima end in the B basin (x > 0.5, y < 0.3)
    assert float(path.R[-1, 0, 0]) > 0.5 and float(path.R[-1, 0, 1]) < 0.3
    # the total is the sum over the 21 minimisations, each from the previous minimum
    step = jax.jit(lambda R, a: jaxrxn.minimize(pot.replace(params={**pot.params, "alpha": a}), R, "lbfgs", fmax=1e-4, max_steps=500))
    calls, R = 0, jnp.asarray(MB_A)
    for a in np.linspace(0.0, 400.0, 21):
        m = step(R, a)
        calls, R = calls + int(m.n_force_calls), m.R
    assert int(path.n_force_calls) == calls


def test_ds_afir_finds_the_lj7_hexagon_to_c1_saddle():
    # 2D LJ7 (rare_events.md §6.3 [run]): the hexagon C0 (-12.5349 eps) and C1 (-11.5013)
    # are joined by the saddle at -11.0373 (barriers 1.4976 / 0.4640). The target C1 is
    # made by descending from that saddle (tests/helpers.py) on the side away from C0;
    # DS-AFIR must find the path and the saddle from the two end structures alone.
    from helpers import LJ7_SADDLE_11_0373

    from jaxrxn.explore.explorer import ExploreSettings, ds_afir

    lj = jaxrxn.lennard_jones(dim=2)
    S = jnp.asarray(LJ7_SADDLE_11_0373)
    mode = np.linalg.eigh(np.asarray(lj.hessian(S)))[1][:, 0].reshape(7, 2)
    ends = [jaxrxn.minimize(lj, S + sign * 0.05 * mode, fmax=1e-8) for sign in (1.0, -1.0)]
    c0, c1 = sorted(ends, key=lambda m: float(m.energy))
    np.testing.assert_allclose([float(c0.energy), float(c1.energy)], [-12.5349, -11.5013], atol=1e-4)
    settings = ExploreSettings(alpha_max=8.0, n_alpha=6, n_images=7)
    net, stats = ds_afir(lj, np.asarray(c0.R), np.asarray(c1.R), settings, radii=np.full(7, 0.56))
    energies = net.minimum_energies
    start, target = int(np.argmin(np.abs(energies + 12.5349))), int(np.argmin(np.abs(energies + 11.5013)))
    np.testing.assert_allclose(energies[[start, target]], [-12.5349, -11.5013], atol=1e-4)
    joining = [t.energy for t in net.transition_states if set(t.minima) == {start, target}]
    np.testing.assert_allclose(joining, [-11.0373], atol=1e-4)
    assert stats.n_bands >= 1 and stats.afir_force_calls > 0
    # a ramp that stops below the breakdown force (5.6 eps/sigma here) never reaches C1
    with pytest.raises(RuntimeError, match="did not reach the target"):
        ds_afir(lj, np.asarray(c0.R), np.asarray(c1.R), ExploreSettings(alpha_max=4.0, n_alpha=6), radii=np.full(7, 0.56))
