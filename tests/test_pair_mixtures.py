"""Species-dependent pair parameters (Lennard-Jones and Morse mixtures: ``(N, N)`` tables
indexed by the two atoms' atomic numbers) against a NumPy double loop written here, with
and without a neighbour list; forces and parameter gradients against finite differences
of that loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrxn import System
from jaxrxn.potentials.pair import lennard_jones, morse

BOX = 14.0  # Å, cubic, periodic: wider than 2 (cutoff + skin)
CUTOFF, ONSET = 6.0, 5.0  # Å
CU, AU = 29, 79


def _structure():
    """27 atoms on a rattled 3x3x3 grid of the box, Cu and Au mixed."""
    rng = np.random.default_rng(11)
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    R = (grid + 0.5) * BOX / 3 + rng.normal(scale=0.3, size=grid.shape)
    numbers = np.where(rng.random(len(R)) < 0.5, CU, AU)
    numbers[:2] = CU, AU  # both species present
    return R, numbers


def _table(cu_cu, cu_au, au_au):
    t = np.ones((AU + 1, AU + 1))
    t[CU, CU], t[CU, AU], t[AU, CU], t[AU, AU] = cu_cu, cu_au, cu_au, au_au
    return t


LJ = {"epsilon": _table(0.41, 0.35, 0.24), "sigma": _table(2.34, 2.52, 2.63)}
MORSE = {"D": _table(0.343, 0.40, 0.475), "alpha": _table(1.359, 1.45, 1.583), "r0": _table(2.866, 2.94, 3.02)}


def _lj(r, p, zi, zj):
    x = (p["sigma"][zi, zj] / r) ** 6
    return 4.0 * p["epsilon"][zi, zj] * (x * x - x)


def _morse(r, p, zi, zj):
    return p["D"][zi, zj] * ((1.0 - np.exp(-p["alpha"][zi, zj] * (r - p["r0"][zi, zj]))) ** 2 - 1.0)


def _switch(r):
    """C1 switch from 1 at ONSET to 0 at CUTOFF in r^2 (HOOMD's, as jax-md uses)."""
    rc2, ro2, r2 = CUTOFF**2, ONSET**2, r**2
    inner = (rc2 - r2) ** 2 * (rc2 + 2.0 * r2 - 3.0 * ro2) / (rc2 - ro2) ** 3
    return np.where(r < ONSET, 1.0, np.where(r < CUTOFF, inner, 0.0))


def _reference_energy(R, numbers, phi, p):
    """``1/2 sum_{i != j} phi(r_ij) S(r_ij)`` over minimum-image pairs, a plain loop."""
    e = 0.0
    for i in range(len(R)):
        for j in range(len(R)):
            if i == j:
                continue
            d = R[j] - R[i]
            d -= BOX * np.round(d / BOX)
            r = np.sqrt(d @ d)
            if r < CUTOFF:
                e += 0.5 * phi(r, p, numbers[i], numbers[j]) * _switch(r)
    return e


@pytest.mark.parametrize("kind", ["lj", "morse"])
def test_mixture_tables_against_a_numpy_loop_and_finite_differences(kind):
    R, numbers = _structure()
    phi, params, build = {"lj": (_lj, LJ, lennard_jones), "morse": (_morse, MORSE, morse)}[kind]
    system = System(numbers, np.eye(3) * BOX, (True, True, True))
    dense = build(*[jnp.asarray(params[k]) for k in params], r_cutoff=CUTOFF, r_onset=ONSET, system=system)
    listed = dense.with_neighbors(jnp.asarray(R))
    e_ref = _reference_energy(R, numbers, phi, params)
    # forces by central differences of the loop
    h, f_ref = 1e-5, np.zeros_like(R)
    for i in range(len(R)):
        for c in range(3):
            Rp, Rm = R.copy(), R.copy()
            Rp[i, c] += h
            Rm[i, c] -= h
            f_ref[i, c] = -(_reference_energy(Rp, numbers, phi, params) - _reference_energy(Rm, numbers, phi, params)) / (2 * h)
    for pot in (dense, listed):
        e, f = jax.jit(lambda p, x: p.energy_and_forces(x))(pot, jnp.asarray(R))
        assert abs(float(e) - e_ref) < 1e-9
        np.testing.assert_allclose(np.asarray(f), f_ref, rtol=0, atol=1e-6)
    # the unlike-pair entry of every table: gradient against central differences
    grads = jax.grad(lambda q: listed.replace(params=q).energy(jnp.asarray(R)))(listed.params)
    for name in params:
        shifted = {k: v.copy() for k, v in params.items()}
        shifted[name][CU, AU] += h
        e_plus = _reference_energy(R, numbers, phi, shifted)
        shifted[name][CU, AU] -= 2 * h
        e_minus = _reference_energy(R, numbers, phi, shifted)
        fd = (e_plus - e_minus) / (2 * h)
        assert abs(fd) > 1e-3, name  # the entry matters here
        assert float(grads[name][CU, AU]) == pytest.approx(fd, rel=1e-6, abs=1e-8), name
