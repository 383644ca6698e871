"""Shared test utilities."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def central_difference_forces(energy, R, h: float = 1e-5) -> np.ndarray:
    """-dE/dR by central finite differences, for checking analytic forces."""
    R = np.asarray(R, float)
    F = np.zeros_like(R)
    for idx in np.ndindex(R.shape):
        Rp, Rm = R.copy(), R.copy()
        Rp[idx] += h
        Rm[idx] -= h
        F[idx] = -(float(energy(jnp.asarray(Rp))) - float(energy(jnp.asarray(Rm)))) / (2 * h)
    return F


def lj7_hexagon(scale: float = 1.1224620483) -> np.ndarray:
    """2D LJ7: one atom at the centre of a regular hexagon (Dellago et al. 1998), (7, 2)."""
    th = np.arange(6) * np.pi / 3
    return np.concatenate([[[0.0, 0.0]], scale * np.stack([np.cos(th), np.sin(th)], 1)])
