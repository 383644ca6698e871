"""Shared test utilities."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

#: An early 62-reaction snapshot of the GFN2-xTB data set (benchmarks/data/xtb_reactions_62.md):
#: a small file in the builder's layout for tests that label every configuration; the
#: shipped data set (jaxrxn/data/xtb_reactions.h5) is the full build.
XTB_SNAPSHOT_62 = str(Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "xtb_reactions_62.h5")


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


class TwoExitSurface:
    """One particle in 2D (mass 1 amu, eV, Å) in a well with two exits of unequal barrier
    and prefactor, with every harmonic quantity in closed form (tests and benchmarks of TAD).

    ``V(x, y) = U(x) + A (1 + c x)^2 y^2 / 2`` with ``U'(x) = A x (1 - x/b1)(1 + x/b2)
    (1 - x/2b1)(1 + x/2b2)``: minimum at the origin (both curvatures `A`), saddles at
    ``x = b1`` (exit C1) and ``x = -b2`` (C2) on ``y = 0``, product minima at ``2 b1`` and
    ``-2 b2``. The Vineyard prefactor of the exit at ``x_s`` is ``sqrt(A) / (2 pi (1 + c x_s))``
    per ASE time unit (Å sqrt(amu/eV)); the barrier curvature is ``U''(x_s)``.
    """

    def __init__(self, b1: float = 1.0, b2: float = 1.06, A: float = 2.0, c: float = 0.3):
        self.A, self.c = A, c
        roots = [b1, -b2, 2 * b1, -2 * b2]
        dU = np.polynomial.Polynomial.fromroots([0.0, *roots]) * (A * np.prod([-1 / r for r in roots]))
        self.U = dU.integ()  # U(0) = 0
        self.saddles_x = np.array([b1, -b2])
        self.products_x = np.array([2 * b1, -2 * b2])
        self.barriers = self.U(self.saddles_x)
        self.barrier_curvatures = self.U.deriv(2)(self.saddles_x)  # negative, eV/Å^2
        self.prefactors = np.sqrt(A) / (2 * np.pi * (1 + c * self.saddles_x))  # per ASE time unit

    def potential(self):
        from jaxrxn.potentials.core import Potential

        return Potential(_two_exit_energy, {"U": jnp.asarray(self.U.coef[::-1]), "A": self.A, "c": self.c})

    def kramers_factor(self, friction: float) -> np.ndarray:
        """Kramers-Langer transmission ``lambda / omega_b``, ``lambda^2 + friction lambda = omega_b^2``
        (friction per ASE time unit; H. A. Kramers, Physica 7, 284 (1940), spatial-diffusion regime)."""
        w_b = np.sqrt(-self.barrier_curvatures)
        return np.sqrt(1 + (friction / (2 * w_b)) ** 2) - friction / (2 * w_b)

    def rates(self, kT: float, friction: float) -> np.ndarray:
        """Kramers-corrected harmonic rates of exits C1 and C2 (per ASE time unit) at `kT` (eV)."""
        return self.kramers_factor(friction) * self.prefactors * np.exp(-self.barriers / kT)


def _two_exit_energy(R, system, p):
    x, y = R[0, 0], R[0, 1]
    return jnp.polyval(p["U"], x) + 0.5 * p["A"] * (1 + p["c"] * x) ** 2 * y**2


def run_cli(argv: list[str], capsys) -> tuple[int, dict | list | None, str]:
    """Run ``jaxrxn ARGV`` in-process: ``(exit code, the last stdout line parsed as JSON when
    it is one, stderr stripped)``; argparse's own exits count as exit codes."""
    from jaxrxn.cli import main

    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    cap = capsys.readouterr()
    out = cap.out.strip().splitlines()
    parsed = json.loads(out[-1]) if out and out[-1].startswith(("{", "[")) else None
    return code, parsed, cap.err.strip()
