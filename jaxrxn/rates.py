"""Rate constants: Arrhenius, Eyring and harmonic transition-state theory.

Units: energies in eV, temperatures in K, times in s, rates and prefactors in Hz (1/s).
Every scalar function is elementwise in ``jnp`` and so broadcasts and ``jax.vmap``s over
``(Ea, A, T)``.

Harmonic TST (G. H. Vineyard, J. Phys. Chem. Solids 3, 121 (1957)):
``k = nu* exp(-(E_saddle - E_min) / kT)`` with
``nu* = prod_i nu_i(min) / prod_j nu_j(saddle)`` over the real normal-mode frequencies
``nu = sqrt(lambda) / 2 pi`` of the mass-weighted Hessians (the imaginary mode at the
saddle excluded). Zero modes are removed the same way at both points
(:mod:`jaxrxn.saddle.index`): translations and rotations of a free cluster, the
translations of a periodic system, none when atoms are fixed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Scalar

from jaxrxn._linalg import eigvalsh
from jaxrxn.potentials.core import Potential
from jaxrxn.saddle.index import ZeroModeSpec, count_negative, projected_hessian, zero_modes
from jaxrxn.units import H, KB, TIME_UNIT_S


def arrhenius_rate(Ea: ArrayLike, A: ArrayLike, T: ArrayLike) -> Array:
    """``A exp(-Ea / kB T)``: rate (Hz) for barrier `Ea` (eV), prefactor `A` (Hz), `T` (K).

    The one Arrhenius law of the package (KMC rate tables, reaction networks, HTST). With
    no JAX array among the arguments it computes in NumPy, so host-side bookkeeping keeps
    float64 whether or not JAX's x64 mode is on.
    """
    exp = jnp.exp if any(isinstance(x, jax.Array) for x in (Ea, A, T)) else np.exp
    return A * exp(-Ea / (KB * T))


def mean_waiting_time(Ea: ArrayLike, A: ArrayLike, T: ArrayLike) -> Array:
    """Mean residence time ``1 / k`` (s) before an event of barrier `Ea` (eV), prefactor
    `A` (Hz), at `T` (K). E.g. 0.3 eV, 1e13 Hz, 300 K gives 1.0959e-8 s."""
    return 1.0 / arrhenius_rate(Ea, A, T)


def md_steps_to_event(Ea: ArrayLike, A: ArrayLike, T: ArrayLike, timestep_fs: ArrayLike = 1.0) -> Array:
    """Expected number of MD steps of `timestep_fs` (fs) to wait for one event."""
    return mean_waiting_time(Ea, A, T) / (timestep_fs * 1e-15)


def eyring_rate(dG: ArrayLike, T: ArrayLike, transmission: ArrayLike = 1.0) -> Array:
    """Eyring rate ``kappa kB T / h exp(-dG / kB T)`` (Hz) for free-energy barrier `dG`
    (eV) at `T` (K); H. Eyring, J. Chem. Phys. 3, 107 (1935)."""
    kT = KB * T
    return transmission * kT / H * jnp.exp(-dG / kT)


def _log_positive_modes(potential, R, modes, expect_negative: int):
    # Removed directions get eigenvalue exactly 1 and so add log(1) = 0 to the sums; both
    # points remove the same number of modes, so the 2 pi factors cancel but one.
    H, _ = projected_hessian(potential, R, modes, mass_weighted=True, shift=1.0)
    w = eigvalsh(H)
    n_neg = count_negative(w, jnp.max(jnp.abs(w)))
    logs = jnp.where(w > 0, jnp.log(jnp.where(w > 0, w, 1.0)), 0.0)
    return jnp.sum(logs), n_neg == expect_negative


def vineyard_prefactor(
    potential: Potential,
    R_min: Float[Array, "n_atoms dim"],
    R_saddle: Float[Array, "n_atoms dim"],
    *,
    zero_modes_spec: ZeroModeSpec = "auto",
    time_unit_s: float = TIME_UNIT_S,
) -> Scalar:
    """Vineyard prefactor ``nu*`` in Hz from the mass-weighted Hessians at a minimum and a
    first-order saddle.

    Masses are the potential's (amu), lengths Å, energies eV. For reduced units (LJ with
    unit masses) pass ``time_unit_s=1.0`` to get ``nu*`` in inverse time units. Zero
    modes are detected at the minimum (see :func:`jaxrxn.saddle.index.zero_modes`) and
    removed at both points. Returns NaN when ``R_min`` is not a minimum or ``R_saddle``
    is not a first-order saddle.
    """
    modes = zero_modes(potential, R_min, zero_modes_spec)
    log_min, ok_min = _log_positive_modes(potential, R_min, modes, 0)
    log_ts, ok_ts = _log_positive_modes(potential, R_saddle, modes, 1)
    nu = jnp.exp(0.5 * (log_min - log_ts)) / (2 * jnp.pi * time_unit_s)
    return jnp.where(ok_min & ok_ts, nu, jnp.nan)


def htst_rate(
    potential: Potential,
    R_min: Float[Array, "n_atoms dim"],
    R_saddle: Float[Array, "n_atoms dim"],
    T: ArrayLike,
    *,
    zero_modes_spec: ZeroModeSpec = "auto",
    time_unit_s: float = TIME_UNIT_S,
) -> Array:
    """Harmonic-TST rate (Hz) ``nu* exp(-(E_saddle - E_min)/kB T)`` at `T` (K); NaN when
    the points are not a minimum and a first-order saddle."""
    nu = vineyard_prefactor(
        potential, R_min, R_saddle, zero_modes_spec=zero_modes_spec, time_unit_s=time_unit_s
    )
    return arrhenius_rate(potential.energy(R_saddle) - potential.energy(R_min), nu, T)
