"""Random two-dimensional multi-Gaussian surfaces (the G2 family of generative.md §4.2).

A surface is a Muller-Brown-type sum of anisotropic Gaussians on one particle in 2D,

    V(x, y) = sum_i A_i exp(a_i (x-x0_i)^2 + b_i (x-x0_i)(y-y0_i) + c_i (y-y0_i)^2),

(K. Muller & L. D. Brown, Theor. Chim. Acta 53, 75 (1979)),
built as random perturbations of Muller-Brown's four terms plus 0-2 random extra
Gaussians, so 4-6 terms in all (see :func:`surface_params`). Each surface is
padded to :data:`N_SLOTS` terms (padding has ``A = 0``) so that a batch of surfaces stacks
into one array and ``jax.vmap`` runs over it. Energies are in Muller-Brown units (treated
as eV, lengths as Å).

The parameters are the potential's ``params`` (``{"A","a","b","c","x0","y0"}``, each
``(N_SLOTS,)``), and :func:`descriptor` stacks them into the ``(N_SLOTS, 6)`` array the
flow network is conditioned on.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxrxn.potentials.analytic import _muller_brown_energy
from jaxrxn.potentials.core import Potential

#: Gaussian slots per surface (the most terms a surface can have).
N_SLOTS = 6
#: Order of the descriptor columns.
DESCRIPTOR_KEYS = ("A", "x0", "y0", "a", "b", "c")
#: Region ``(x_min, x_max, y_min, y_max)`` (Å) in which minima are searched.
REGION = (-1.6, 1.3, -0.5, 2.1)

# Muller-Brown's own terms, the centre of the random family.
_MB = np.array([
    [-200.0, 1.0, 0.0, -1.0, 0.0, -10.0],
    [-100.0, 0.0, 0.5, -1.0, 0.0, -10.0],
    [-170.0, -0.5, 1.5, -6.5, 11.0, -6.5],
    [15.0, -1.0, 1.0, 0.7, 0.6, 0.7],
])  # fmt: skip


# The Muller-Brown functional form; padded slots have A = 0 and add exactly zero.
_energy = _muller_brown_energy


def surface_params(seed: int, dtype=jnp.float64) -> dict[str, Array]:
    """Random surface parameters from an integer seed (deterministic, numpy ``PCG64``).

    Muller-Brown's four terms with amplitudes scaled by U[0.8, 1.2], centres shifted by
    U[-0.1, 0.1] Å and exponent coefficients scaled by U[0.85, 1.15], plus 0-2 extra
    Gaussians (amplitude U[-60, 40], centre inside :data:`REGION`, negative-definite
    exponent with eigenvalues in [-10, -3] along a random direction) that add or remove
    wells and bend the paths. Random MB-type surfaces keep MB's curved minimum energy
    paths (the straight line overestimates the A-C barrier by ~40 %), which isotropic
    random wells would not.
    """
    rng = np.random.default_rng(np.random.PCG64(seed))
    rows = _MB.copy()
    rows[:, 0] *= rng.uniform(0.8, 1.2, 4)
    rows[:, 1:3] += rng.uniform(-0.1, 0.1, (4, 2))
    rows[:, 3:] *= rng.uniform(0.85, 1.15, (4, 3))
    rows = list(rows)
    for _ in range(int(rng.integers(0, 3))):
        lam = -rng.uniform(3.0, 10.0, size=2)
        cx = rng.uniform(REGION[0] + 0.3, REGION[1] - 0.3)
        cy = rng.uniform(REGION[2] + 0.3, REGION[3] - 0.3)
        rows.append([rng.uniform(-60.0, 40.0), cx, cy, *_exponent(lam, rng.uniform(0, np.pi))])
    rows += [[0.0] * 6] * (N_SLOTS - len(rows))
    table = np.asarray(rows, dtype=float)
    return {k: jnp.asarray(table[:, i], dtype) for i, k in enumerate(DESCRIPTOR_KEYS)}


def _exponent(lam: np.ndarray, theta: float) -> tuple[float, float, float]:
    """``(a, b, c)`` of the quadratic form with eigenvalues ``lam`` along angle ``theta``."""
    u = np.array([np.cos(theta), np.sin(theta)])
    w = np.array([-u[1], u[0]])
    M = lam[0] * np.outer(u, u) + lam[1] * np.outer(w, w)
    return float(M[0, 0]), float(2 * M[0, 1]), float(M[1, 1])


def random_surface(seed: int, dtype=jnp.float64) -> Potential:
    """The :class:`~jaxrxn.Potential` of :func:`surface_params` ``(seed)``; ``R`` is ``(1, 2)``."""
    return Potential(_energy, surface_params(seed, dtype))


def surface_from_params(params: dict[str, Array]) -> Potential:
    """A surface potential from a params dict (e.g. one row of a stacked batch)."""
    return Potential(_energy, params)


def descriptor(params: dict[str, Array]) -> Float[Array, "... n_slots 6"]:
    """Stack params into the ``(..., N_SLOTS, 6)`` descriptor (columns :data:`DESCRIPTOR_KEYS`)."""
    return jnp.stack([params[k] for k in DESCRIPTOR_KEYS], axis=-1)


def params_from_descriptor(desc: Float[Array, "... n_slots 6"]) -> dict[str, Array]:
    """Inverse of :func:`descriptor`."""
    return {k: desc[..., i] for i, k in enumerate(DESCRIPTOR_KEYS)}


def stack_params(seeds) -> dict[str, Array]:
    """Parameters of several surfaces stacked along a leading axis, for ``jax.vmap``."""
    ps = [surface_params(int(s)) for s in seeds]
    return {k: jnp.stack([p[k] for p in ps]) for k in DESCRIPTOR_KEYS}
