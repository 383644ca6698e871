"""Unequal masses: Vineyard prefactor and the IRC's first step are mass-weighted.

2D LJ7 (eps = sigma = 1) with masses 1, 2, ..., 7 amu. Stationary points do not depend on
the masses (the saddle of tests/helpers.py, 1.4976 eps above the hexagon); the prefactor
and the IRC direction do. The reference is computed here by a second method: a central-
difference Hessian of the forces, mass-weighted and diagonalised by NumPy.
"""

import jax
import jax.numpy as jnp
import numpy as np
from helpers import LJ7_SADDLE_11_0373, lj7_hexagon

from jaxrxn.irc import irc
from jaxrxn.optimize import minimize
from jaxrxn.potentials import lennard_jones
from jaxrxn.rates import htst_rate, vineyard_prefactor

MASSES = np.arange(1.0, 8.0)
POT = lennard_jones(dim=2, masses=jnp.asarray(MASSES))
SQRT_M = np.repeat(np.sqrt(MASSES), 2)  # per coordinate (x, y of each atom)


def fd_hessian(R, h=1e-5):
    """Cartesian Hessian by central differences of the forces."""
    R = np.asarray(R, float)
    n = R.size
    H = np.zeros((n, n))
    force = jax.jit(lambda R: POT.forces(R))
    for i in range(n):
        d = np.zeros(n)
        d[i] = h
        fp = np.asarray(force(jnp.asarray((R.ravel() + d).reshape(R.shape)))).ravel()
        fm = np.asarray(force(jnp.asarray((R.ravel() - d).reshape(R.shape)))).ravel()
        H[i] = -(fp - fm) / (2 * h)
    return 0.5 * (H + H.T)


def mass_weighted_eigen(R):
    """Eigenvalues and vectors of M^-1/2 H M^-1/2."""
    return np.linalg.eigh(fd_hessian(R) / np.outer(SQRT_M, SQRT_M))


def test_vineyard_prefactor_and_htst_rate_with_unequal_masses():
    R_min = minimize(POT, jnp.asarray(lj7_hexagon()), "lbfgs", fmax=1e-9, max_steps=3000).R
    R_ts = jnp.asarray(LJ7_SADDLE_11_0373)
    lam_min, _ = mass_weighted_eigen(R_min)
    lam_ts, _ = mass_weighted_eigen(R_ts)
    # 3 rigid modes (2 translations, 1 rotation) at both points, 1 negative at the saddle
    pos_min = np.sort(lam_min)[3:]
    pos_ts = np.sort(lam_ts)[4:]
    assert np.sort(lam_ts)[0] < -1 and np.all(np.abs(np.sort(lam_min)[:3]) < 1e-4)
    nu_ref = np.sqrt(np.prod(pos_min) / np.prod(pos_ts)) / (2 * np.pi)
    nu = float(vineyard_prefactor(POT, R_min, R_ts, time_unit_s=1.0))
    np.testing.assert_allclose(nu, nu_ref, rtol=1e-5)
    # with unit masses the same saddle has 2.980 (rare_events.md §6.3): the masses matter
    assert abs(nu / 2.980 - 1) > 0.2
    Ea = float(POT.energy(R_ts) - POT.energy(R_min))
    np.testing.assert_allclose(Ea, 1.4976, atol=1e-4)
    kT = 0.2
    np.testing.assert_allclose(float(htst_rate(POT, R_min, R_ts, kT / 8.617333262e-5, time_unit_s=1.0)),
                               nu_ref * np.exp(-Ea / kT), rtol=1e-4)  # fmt: skip


def test_irc_leaves_the_saddle_along_the_mass_weighted_mode():
    R_ts = jnp.asarray(LJ7_SADDLE_11_0373)
    lam, vec = mass_weighted_eigen(R_ts)
    v = vec[:, np.argmin(lam)]
    res = jax.jit(lambda R: irc(POT, R, fmax=1e-3))(R_ts)
    for branch in (res.forward, res.reverse):
        dx = SQRT_M * (np.asarray(branch.path[0]) - np.asarray(R_ts)).ravel()  # mass-weighted step
        assert abs(abs(dx @ v) / np.linalg.norm(dx) - 1) < 1e-6
    # the step off the saddle in Cartesian coordinates is not along the unweighted mode
    lam_c, vec_c = np.linalg.eigh(fd_hessian(R_ts))
    u = vec_c[:, np.argmin(lam_c)]
    dR = (np.asarray(res.forward.path[0]) - np.asarray(R_ts)).ravel()
    assert abs(dR @ u) / np.linalg.norm(dR) < 0.99  # 0.976, against 1 - 1e-6 above
    # the first step moves the farthest-moving atom by first_step = 0.01 Å (irc's
    # definition since 7f4f13f: a fixed mass-weighted length left heavy atoms at the
    # saddle), and the arc length counts that step's mass-weighted length
    for branch in (res.forward, res.reverse):
        dR = np.asarray(branch.path[0]) - np.asarray(R_ts)
        np.testing.assert_allclose(np.linalg.norm(dR, axis=-1).max(), 0.01, rtol=1e-8)
        dx = SQRT_M * dR.ravel()
        np.testing.assert_allclose(float(branch.arc_length[0]), np.linalg.norm(dx), rtol=1e-8)
    # and the branches end in the hexagon C0 and in C1 (rare_events.md §6.3)
    assert bool(res.converged)
    ends = sorted([float(res.forward.energy_min), float(res.reverse.energy_min)])
    np.testing.assert_allclose(ends, [-12.5349, -11.5013], atol=1e-4)
