"""Two-dimensional model surfaces.

Each is one particle in 2D: configurations have shape ``(1, 2)``. Parameters are the
potential's ``params`` so that they can be tuned by gradient (see :mod:`jaxrxn.tune`).
Energies are in the surfaces' own units, treated as eV with lengths in Å.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxrxn.potentials.core import Potential


def _particle(R, surface: str):
    """The coordinates ``(x, y)`` of the one particle; a configuration of another shape is
    refused when traced (shapes are static, so this also holds under ``jit``/``vmap``)
    instead of silently reading two of its numbers."""
    if R.shape != (1, 2):
        raise ValueError(f"the {surface} surface is one particle in 2D: configurations have shape (1, 2); got {R.shape}.")
    return R[0, 0], R[0, 1]


def _muller_brown_energy(R, system, p):
    x, y = _particle(R, "Muller-Brown")
    dx, dy = x - p["x0"], y - p["y0"]
    return jnp.sum(p["A"] * jnp.exp(p["a"] * dx**2 + p["b"] * dx * dy + p["c"] * dy**2))


def muller_brown(dtype=None) -> Potential:
    """Muller-Brown surface, K. Muller & L. D. Brown, Theor. Chim. Acta 53, 75 (1979).

    V(x, y) = sum_i A_i exp(a_i (x-x0_i)^2 + b_i (x-x0_i)(y-y0_i) + c_i (y-y0_i)^2).
    Minima: A (-0.558224, 1.441726) -146.6995, B (0.623499, 0.028038) -108.1667,
    C (-0.050011, 0.466694) -80.7678; saddles S1 (-0.822002, 0.624313) -40.6648 (A-C)
    and S2 (0.212487, 0.292988) -72.2489 (C-B).
    """
    f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    params = {
        "A": f([-200.0, -100.0, -170.0, 15.0]),
        "a": f([-1.0, -1.0, -6.5, 0.7]),
        "b": f([0.0, 0.0, 11.0, 0.6]),
        "c": f([-10.0, -10.0, -6.5, 0.7]),
        "x0": f([1.0, 0.0, -0.5, -1.0]),
        "y0": f([0.0, 0.5, 1.5, 1.0]),
    }
    return Potential(_muller_brown_energy, params)


def _leps_harmonic_energy(R, system, p):
    r_ab, x = _particle(R, "LEPS-harmonic")

    def q(r, d):
        e = jnp.exp(-p["alpha"] * (r - p["r0"]))
        return 0.5 * d * (1.5 * e**2 - e)

    def j(r, d):
        e = jnp.exp(-p["alpha"] * (r - p["r0"]))
        return 0.25 * d * (e**2 - 6.0 * e)

    r_ac = p["r_ac"]
    r_bc = r_ac - r_ab
    a1, b1, c1 = 1 + p["a"], 1 + p["b"], 1 + p["c"]
    jab, jbc, jac = j(r_ab, p["d_ab"]), j(r_bc, p["d_bc"]), j(r_ac, p["d_ac"])
    leps = (
        q(r_ab, p["d_ab"]) / a1
        + q(r_bc, p["d_bc"]) / b1
        + q(r_ac, p["d_ac"]) / c1
        - jnp.sqrt(
            jab**2 / a1**2
            + jbc**2 / b1**2
            + jac**2 / c1**2
            - jab * jbc / (a1 * b1)
            - jbc * jac / (b1 * c1)
            - jab * jac / (a1 * c1)
        )
    )
    return leps + 2.0 * p["k_c"] * (r_ab - (r_ac / 2.0 - x / p["c_ho"])) ** 2


def leps_harmonic(dtype=None) -> Potential:
    """LEPS potential coupled to a harmonic oscillator, coordinates ``(r_AB, x)``.

    The 2D test surface of H. Jonsson, G. Mills & K. W. Jacobsen, "Nudged elastic band
    method for finding minimum energy paths of transitions", in *Classical and Quantum
    Dynamics in Condensed Phase Simulations* (1998): atoms A and C fixed 3.742 apart, B
    between them, coupled to a fourth atom by a harmonic spring (``k_c``, ``c_ho``).
    """
    f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    params = {
        "a": f(0.05), "b": f(0.30), "c": f(0.05),
        "d_ab": f(4.746), "d_bc": f(4.746), "d_ac": f(3.445),
        "r0": f(0.742), "alpha": f(1.942), "r_ac": f(3.742),
        "k_c": f(0.2025), "c_ho": f(1.154),
    }  # fmt: skip
    return Potential(_leps_harmonic_energy, params)


def _wolfe_quapp_energy(R, system, p):
    x, y = _particle(R, "Wolfe-Quapp")
    return x**4 + y**4 - 2 * x**2 - 4 * y**2 + x * y + p["lx"] * x + p["ly"] * y


def wolfe_quapp(dtype=None) -> Potential:
    """Wolfe-Quapp surface, W. Quapp, J. Theor. Comput. Chem. 2, 385 (2003).

    V = x^4 + y^4 - 2x^2 - 4y^2 + xy + 0.3x + 0.1y: four minima, a valley-ridge
    inflection, a standard test for reaction-path following.
    """
    return Potential(_wolfe_quapp_energy, {"lx": jnp.asarray(0.3, dtype), "ly": jnp.asarray(0.1, dtype)})


def _double_well_energy(R, system, p):
    x, y = _particle(R, "double-well")
    return p["barrier"] * (x**2 - 1.0) ** 2 + 0.5 * p["k_y"] * y**2


def double_well(barrier: float = 1.0, k_y: float = 1.0, dtype=None) -> Potential:
    """Symmetric double well ``barrier (x^2-1)^2 + k_y y^2 / 2``.

    Minima at (+-1, 0) with E = 0, saddle at (0, 0) with E = ``barrier`` and curvatures
    ``-4 barrier`` (x) and ``k_y`` (y): every quantity has a closed form.
    """
    return Potential(
        _double_well_energy, {"barrier": jnp.asarray(barrier, dtype), "k_y": jnp.asarray(k_y, dtype)}
    )
