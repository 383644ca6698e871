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


# Index-1 saddles of 2D LJ7 next to the hexagon, found by P-RFO from the hexagon
# displaced by +-0.3 along its softest Hessian mode (fmax 1e-6).
LJ7_SADDLE_11_0403 = np.array([
    [-0.1609647348, -0.1077838047], [1.4873778915, 0.1284604825], [0.5511537713, 0.7322247317],
    [-0.5630969961, 0.9261777508], [-1.2610663126, 0.0361781249], [-0.8087884194, -1.0027987985],
    [0.7553848001, -0.7124584867],
])  # fmt: skip
LJ7_SADDLE_11_0373 = np.array([
    [0.1717155897, -0.1842119342], [1.2106533044, 0.191901139], [0.3299214497, 0.9056175474],
    [-0.7425313125, 1.2068311379], [-0.8910139946, 0.1028825934], [-0.592634163, -0.9885529286],
    [0.5138891263, -1.2344675549],
])  # fmt: skip
