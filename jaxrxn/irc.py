"""Intrinsic reaction coordinate (IRC): the steepest-descent path in mass-weighted
coordinates from a first-order saddle down to the two minima it connects.

K. Fukui, Acc. Chem. Res. 14, 363 (1981). The path ``dx/ds = -g(x)/|g(x)|`` in
``x = sqrt(m) R`` (Å amu^1/2) is integrated in arc length ``s`` with the embedded
Bogacki-Shampine 3(2) Runge-Kutta pair (P. Bogacki & L. F. Shampine, Appl. Math. Lett. 2,
321 (1989)) and an error-controlled step, which follows the curved path as closely as the
second-order Gonzalez-Schlegel integrator (J. Chem. Phys. 90, 2154 (1989)) for a tolerance
of ~1e-4 Å amu^1/2 per step. The first step leaves the saddle along the unstable
eigenvector of the mass-weighted Hessian (zero modes removed). Near each end the descent
stops when the largest atom force drops below `descent_fmax` (or the path turns back), and
an L-BFGS minimization converges the minimum to `fmax`.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int, Scalar

from jaxrxn._results import RESULTS, finite_result
from jaxrxn.optimize import LBFGS, minimize
from jaxrxn.potentials.core import Potential, max_atom_force
from jaxrxn.saddle.index import ZeroModeSpec, projected_hessian, zero_modes
from jaxrxn.validation import check_configuration


class IRCBranch(eqx.Module):
    """One direction of an IRC.

    - `path`: ``(max_points, n_atoms, dim)`` points along the path (Å), the first
      `n_points` valid (the saddle is not included), the rest repeat the last point.
    - `energies`: eV at those points. `arc_length`: mass-weighted arc length from the saddle
      (Å amu^1/2).
    - `R_min`, `energy_min`, `fmax_min`: the minimum reached after the final relaxation.
    - `converged`: the minimization met `fmax`. `n_force_calls`: descent plus minimization.
    """

    path: Float[Array, "max_points n_atoms dim"]
    energies: Float[Array, " max_points"]
    arc_length: Float[Array, " max_points"]
    n_points: Int[Array, ""]
    R_min: Float[Array, "n_atoms dim"]
    energy_min: Scalar
    fmax_min: Scalar
    converged: Bool[Array, ""]
    n_force_calls: Int[Array, ""]


class IRCResult(eqx.Module):
    """Outcome of :func:`irc`: the saddle, the `forward` branch (along the unstable mode
    with its sign chosen so its largest component is positive) and the `reverse` branch.

    `converged` is true when both ends relaxed to minima and the saddle is first order;
    `result` says otherwise (``saddle_wrong_index``, ``endpoint_not_minimum``,
    ``not_connected`` when both ends fall into the same minimum, non-finite).
    """

    R_saddle: Float[Array, "n_atoms dim"]
    energy_saddle: Scalar
    forward: IRCBranch
    reverse: IRCBranch
    converged: Bool[Array, ""]
    n_force_calls: Int[Array, ""]
    n_hessian_calls: Int[Array, ""]
    result: RESULTS

    def profile(self) -> tuple[np.ndarray, np.ndarray]:
        """Signed arc length (Å amu^1/2, reverse side negative) and energy (eV) along the
        whole path, saddle included, as NumPy arrays (host-side helper)."""
        nf, nr = int(self.forward.n_points), int(self.reverse.n_points)
        s = np.concatenate(
            [-np.asarray(self.reverse.arc_length[:nr])[::-1], [0.0], np.asarray(self.forward.arc_length[:nf])]
        )
        e = np.concatenate(
            [np.asarray(self.reverse.energies[:nr])[::-1], [float(self.energy_saddle)], np.asarray(self.forward.energies[:nf])]
        )
        return s, e


# Bogacki-Shampine 3(2) tableau; the 4th stage is the first of the next step (FSAL).
_B3 = (2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0)
_ERR = (-5.0 / 72.0, 1.0 / 12.0, 1.0 / 9.0, -1.0 / 8.0)


class _DescentCarry(eqx.Module):
    x: Array
    e: Scalar
    f: Array
    k1: Array
    h: Scalar
    s: Scalar
    n: Int[Array, ""]
    calls: Int[Array, ""]
    done: Bool[Array, ""]
    path: Array
    energies: Array
    arc: Array


def _descend(potential, x0, sqrt_m, step, tol, descent_fmax, max_points):
    """Integrate dx/ds = -g/|g| from x0 in mass-weighted coordinates."""
    shape = x0.shape

    def evaluate(x):
        e, f = potential.energy_and_forces(x / sqrt_m)
        g = -f / sqrt_m  # mass-weighted gradient
        return e, f, -g / jnp.maximum(jnp.linalg.norm(g), 1e-300)

    e0, f0, k0 = evaluate(x0)
    path = jnp.broadcast_to(x0 / sqrt_m, (max_points,) + shape)
    energies = jnp.full(max_points, e0)
    arc = jnp.zeros(max_points, x0.dtype)

    def cond(c):
        return (~c.done) & (c.n < max_points - 1)

    def body(c):
        h = c.h
        k1 = c.k1
        _, _, k2 = evaluate(c.x + 0.5 * h * k1)
        _, _, k3 = evaluate(c.x + 0.75 * h * k2)
        x_new = c.x + h * (_B3[0] * k1 + _B3[1] * k2 + _B3[2] * k3)
        e_new, f_new, k4 = evaluate(x_new)
        err = h * jnp.linalg.norm(_ERR[0] * k1 + _ERR[1] * k2 + _ERR[2] * k3 + _ERR[3] * k4)
        accept = (err <= tol) & (e_new < c.e)
        factor = jnp.clip(0.9 * (tol / jnp.maximum(err, 1e-300)) ** (1.0 / 3.0), 0.2, 4.0)
        h_next = jnp.minimum(jnp.where(e_new < c.e, h * factor, 0.25 * h), step)
        # the path has reached the basin's bottom when the force is small or the
        # direction turns back on itself
        at_bottom = accept & ((max_atom_force(f_new) < descent_fmax) | (jnp.vdot(k1, k4) < 0))
        too_small = h_next < 1e-6 * step
        n = c.n + accept
        sel = lambda a, b: jnp.where(accept, a, b)  # noqa: E731
        return _DescentCarry(
            sel(x_new, c.x), sel(e_new, c.e), sel(f_new, c.f), sel(k4, c.k1), h_next,
            sel(c.s + h, c.s), n, c.calls + 3, at_bottom | too_small,
            c.path.at[n].set(sel(x_new, c.x) / sqrt_m),
            c.energies.at[n].set(sel(e_new, c.e)),
            c.arc.at[n].set(sel(c.s + h, c.s)),
        )  # fmt: skip

    c = _DescentCarry(x0, e0, f0, k0, jnp.asarray(step, x0.dtype), jnp.zeros((), x0.dtype), jnp.array(0),
              jnp.array(1), jnp.array(False), path.at[0].set(x0 / sqrt_m), energies, arc)  # fmt: skip
    c = lax.while_loop(cond, body, c)
    # fill the unused tail with the last point so the arrays read as a finished path
    idx = jnp.minimum(jnp.arange(max_points), c.n)
    return c.path[idx], c.energies[idx], c.arc[idx], c.n + 1, c.x / sqrt_m, c.calls


def irc(
    potential: Potential,
    R_saddle: Float[Array, "n_atoms dim"],
    *,
    step: float = 0.1,
    first_step: float = 0.01,
    tol: float = 1e-4,
    descent_fmax: float = 0.1,
    fmax: float = 0.01,
    max_points: int = 400,
    max_min_steps: int = 1000,
    zero_modes_spec: ZeroModeSpec = "auto",
    throw: bool = False,
) -> IRCResult:
    """Follow the IRC from the first-order saddle ``R_saddle`` down both sides.

    **Arguments:**

    - `step`: largest arc-length step, Å amu^1/2; `first_step`: displacement off the
      saddle along the unstable mode (Å amu^1/2); `tol`: local error per step (Å amu^1/2).
    - `descent_fmax`: largest atom force (eV/Å) at which the path is handed to the
      minimizer; `fmax`: convergence of the end minima (eV/Å).
    - `max_points`: points stored per branch (static, sets memory).
    - `zero_modes_spec`: as for :func:`jaxrxn.saddle.saddle_search`.

    Masses are the potential's (amu). Jittable; returns an :class:`IRCResult`.
    """
    check_configuration(R_saddle, name="R_saddle")
    R_saddle = jnp.asarray(R_saddle)
    modes = zero_modes(potential, R_saddle, zero_modes_spec)
    H, _ = projected_hessian(potential, R_saddle, modes, mass_weighted=True)
    w, U = jnp.linalg.eigh(H)
    n_neg = jnp.sum(w < -1e-6 * jnp.max(jnp.abs(w)))
    v = U[:, 0]
    v = v * jnp.sign(v[jnp.argmax(jnp.abs(v))])
    sqrt_m = jnp.sqrt(potential.atom_masses(R_saddle))[:, None]
    x_ts = R_saddle * sqrt_m
    e_ts = potential.energy(R_saddle)

    def branch(sign):
        x0 = x_ts + sign * first_step * v.reshape(R_saddle.shape)
        path, energies, arc, n, R_end, calls = _descend(potential, x0, sqrt_m, step, tol, descent_fmax, max_points)
        arc = arc + first_step
        m = minimize(potential, R_end, LBFGS(maxstep=0.05), fmax=fmax, max_steps=max_min_steps)
        return IRCBranch(path, energies, arc, n, m.R, m.energy, m.fmax, m.converged, calls + m.n_force_calls)

    fwd, rev = branch(1.0), branch(-1.0)
    same = (jnp.max(jnp.abs(fwd.R_min - rev.R_min)) < 1e-2) & (jnp.abs(fwd.energy_min - rev.energy_min) < 1e-6)
    result = RESULTS.where(fwd.converged & rev.converged, RESULTS.successful, RESULTS.endpoint_not_minimum)
    result = RESULTS.where(same, RESULTS.not_connected, result)
    result = RESULTS.where(n_neg != 1, RESULTS.saddle_wrong_index, result)
    result = finite_result(result, fwd.R_min, rev.R_min, fwd.energy_min, rev.energy_min)
    out = IRCResult(
        R_saddle, e_ts, fwd, rev, result == RESULTS.successful,
        1 + fwd.n_force_calls + rev.n_force_calls, jnp.array(1), result,
    )  # fmt: skip
    if throw:
        out = result.error_if(out, result != RESULTS.successful)
    return out
