"""Intrinsic reaction coordinate (IRC): the steepest-descent path in mass-weighted
coordinates from a first-order saddle down to the two minima it connects.

K. Fukui, Acc. Chem. Res. 14, 363 (1981). The path ``dx/ds = -g(x)/|g(x)|`` in
``x = sqrt(m) R`` (Å amu^1/2) is integrated in arc length ``s`` with the embedded
Bogacki-Shampine 3(2) Runge-Kutta pair (P. Bogacki & L. F. Shampine, Appl. Math. Lett. 2,
321 (1989)) and an error-controlled step, which follows the curved path as closely as the
second-order Gonzalez-Schlegel integrator (J. Chem. Phys. 90, 2154 (1989)) for a tolerance
of ~1e-4 Å amu^1/2 per step. The first step leaves the saddle along the unstable
eigenvector of the mass-weighted Hessian (zero modes removed).

Forces are small near any saddle, so a small force does not end the descent there: each
branch follows the path until it has left the saddle region, i.e. the energy has fallen
at least `min_drop` below the saddle, and then until the largest atom force drops below
`descent_fmax` or the path turns back on itself (the valley floor). Only then does an
L-BFGS minimization converge the minimum to `fmax`. A branch that runs out of
`max_points` first reports ``RESULTS.step_cap_reached``.

Each branch is an :class:`IRCDescent` solver on :mod:`jaxrxn._iterate`. The step is the
embedded Runge-Kutta pair written out here rather than diffrax's ``Bosh3``: the descent
needs the energy at every accepted point (steps that raise it are rejected), which
diffrax's vector field does not return, so diffrax would spend a fourth evaluation per
step (4 instead of 3 calls).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Scalar

from jaxrxn._iterate import AbstractIterativeSolver, dynamic_floats, iterative_solve
from jaxrxn._results import RESULTS, finite_result
from jaxrxn.optimize import LBFGS, minimize
from jaxrxn.potentials.core import Potential, max_atom_force
from jaxrxn.saddle.index import ZeroModeSpec, projected_hessian, resolve_zero_modes_spec, zero_mode_probe_calls, zero_modes
from jaxrxn.validation import check_configuration


class IRCBranch(eqx.Module):
    """One direction of an IRC.

    - `path`: ``(max_points, n_atoms, dim)`` points along the path (Å), the first
      `n_points` valid (the saddle is not included), the rest repeat the last point.
    - `energies`: eV at those points. `arc_length`: mass-weighted arc length from the saddle
      (Å amu^1/2).
    - `R_min`, `energy_min`, `fmax_min`: the minimum reached after the final relaxation.
    - `converged`: the descent reached the valley floor within `max_points` and the
      minimization met `fmax`. `n_force_calls`: descent plus minimization.
    - `result`: ``successful``, ``step_cap_reached`` (the descent ran out of points),
      ``endpoint_not_minimum`` (the minimization did not meet `fmax`) or ``nonfinite_state``.
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
    result: RESULTS


class IRCResult(eqx.Module):
    """Outcome of :func:`irc`: the saddle, the `forward` branch (along the unstable mode
    with its sign chosen so its largest component is positive) and the `reverse` branch.

    `converged` is true when both ends relaxed to minima and the saddle is first order;
    `result` says otherwise (``saddle_wrong_index``, ``step_cap_reached`` when a branch ran
    out of `max_points`, ``endpoint_not_minimum``, ``not_connected`` when both ends fall into
    the same minimum, non-finite). `n_force_calls` counts every evaluation: the saddle's,
    the zero-mode probes, both descents and both minimizations.
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


class IRCArgs(eqx.Module):
    """Per-call data of an :class:`IRCDescent`: `sqrt_m` ``(n_atoms, 1)`` (amu^1/2) and
    the saddle energy `e_saddle` (eV)."""

    sqrt_m: Array
    e_saddle: Scalar


class IRCState(eqx.Module):
    """Mass-weighted position `x` (Å amu^1/2), energy, forces and FSAL direction `k1` at
    the last accepted point, step `h`, arc length `s`, the stored `path`, `energies`,
    `arc` and the number `n` of accepted steps."""

    x: Array
    e: Scalar
    f: Array
    k1: Array
    h: Scalar
    s: Scalar
    n: Int[Array, ""]
    at_bottom: Bool[Array, ""]
    stalled: Bool[Array, ""]
    path: Array
    energies: Array
    arc: Array
    n_force_calls: Int[Array, ""]


class IRCDescent(AbstractIterativeSolver):
    """One branch of the IRC: ``dx/ds = -g/|g|`` in ``x = sqrt(m) R`` from a point next
    to the saddle, with error-controlled Bogacki-Shampine 3(2) steps.

    - `step`: largest arc-length step, Å amu^1/2; `tol`: local error per step.
    - `descent_fmax` (eV/Å), `min_drop` (eV): the descent ends once the energy is at
      least `min_drop` below the saddle and the largest atom force is below
      `descent_fmax`, or once the path turns back (the valley floor) at least
      ``0.01 min_drop`` below the saddle; or when no step lowers the energy.
    - `max_points`: points stored (static); running out of them ends the descent with
      ``RESULTS.step_cap_reached``.
    """

    step_max: float = 0.1
    tol: float = 1e-4
    descent_fmax: float = 0.1
    min_drop: float = 0.1
    max_points: int = 400

    def _evaluate(self, potential, x, sqrt_m):
        e, f = potential.energy_and_forces(x / sqrt_m)
        g = -f / sqrt_m  # mass-weighted gradient
        return e, f, -g / jnp.maximum(jnp.linalg.norm(g), 1e-300)

    def init(self, potential, x0, args: IRCArgs) -> IRCState:
        e0, f0, k0 = self._evaluate(potential, x0, args.sqrt_m)
        R0 = x0 / args.sqrt_m
        path = jnp.broadcast_to(R0, (self.max_points,) + R0.shape)
        z = jnp.zeros((), x0.dtype)
        return IRCState(
            x0, e0, f0, k0, z + self.step_max, z, jnp.array(0), jnp.array(False), jnp.array(False),
            path, jnp.full(self.max_points, e0), jnp.zeros(self.max_points, x0.dtype), jnp.array(1),
        )  # fmt: skip

    def step(self, potential, c: IRCState, args: IRCArgs) -> IRCState:
        h, k1, sqrt_m = c.h, c.k1, args.sqrt_m
        _, _, k2 = self._evaluate(potential, c.x + 0.5 * h * k1, sqrt_m)
        _, _, k3 = self._evaluate(potential, c.x + 0.75 * h * k2, sqrt_m)
        x_new = c.x + h * (_B3[0] * k1 + _B3[1] * k2 + _B3[2] * k3)
        e_new, f_new, k4 = self._evaluate(potential, x_new, sqrt_m)
        err = h * jnp.linalg.norm(_ERR[0] * k1 + _ERR[1] * k2 + _ERR[2] * k3 + _ERR[3] * k4)
        accept = (err <= self.tol) & (e_new < c.e)
        factor = jnp.clip(0.9 * (self.tol / jnp.maximum(err, 1e-300)) ** (1.0 / 3.0), 0.2, 4.0)
        h_next = jnp.minimum(jnp.where(e_new < c.e, h * factor, 0.25 * h), self.step_max)
        # Neither a small force nor a turn ends the descent next to the saddle: the force is
        # small there, and the residual force of a saddle converged to some fmax can turn the
        # first steps back (heavy atoms, whose mass-weighted steps are short, ended two
        # points off an EMT Pt hop saddle, 2e-7 eV below it, and relaxed there). A turn
        # counts once the energy has fallen 1 % of `min_drop`, so that a branch into a
        # minimum less than `min_drop` below the saddle still ends at its floor (Birkholz 18
        # with GFN2-xTB, 0.013 eV deep, ran 4,800 calls to the point cap).
        drop = args.e_saddle - e_new
        small_force = (drop >= self.min_drop) & (max_atom_force(f_new) < self.descent_fmax)
        floor = small_force | ((drop >= 0.01 * self.min_drop) & (jnp.vdot(k1, k4) < 0))
        n = c.n + accept
        sel = lambda a, b: jnp.where(accept, a, b)  # noqa: E731
        x, e = sel(x_new, c.x), sel(e_new, c.e)
        return IRCState(
            x, e, sel(f_new, c.f), sel(k4, c.k1), h_next, sel(c.s + h, c.s), n,
            accept & floor, h_next < 1e-6 * self.step_max,
            c.path.at[n].set(x / sqrt_m), c.energies.at[n].set(e), c.arc.at[n].set(sel(c.s + h, c.s)),
            c.n_force_calls + 3,
        )  # fmt: skip

    def terminate(self, potential, c: IRCState, args: IRCArgs):
        finite = jnp.isfinite(c.e)
        full = c.n >= self.max_points - 1
        done = c.at_bottom | c.stalled | full | ~finite
        ok = c.at_bottom | c.stalled
        result = RESULTS.where(ok, RESULTS.successful, RESULTS.step_cap_reached)
        return done, RESULTS.where(finite, result, RESULTS.nonfinite_state)

    def postprocess(self, potential, c: IRCState, args: IRCArgs, result):
        # fill the unused tail with the last point so the arrays read as a finished path
        idx = jnp.minimum(jnp.arange(self.max_points), c.n)
        return c.x / args.sqrt_m, (c.path[idx], c.energies[idx], c.arc[idx], c.n + 1), result, c


def irc(
    potential: Potential,
    R_saddle: Float[Array, "n_atoms dim"],
    *,
    step: float = 0.1,
    first_step: float = 0.01,
    tol: float = 1e-4,
    descent_fmax: float = 0.1,
    min_drop: float = 0.1,
    fmax: float = 0.01,
    max_points: int = 400,
    max_min_steps: int = 1000,
    min_maxstep: float = 0.05,
    zero_modes_spec: ZeroModeSpec = "auto",
    mode: Float[Array, "n_atoms dim"] | None = None,
    throw: bool = False,
) -> IRCResult:
    """Follow the IRC from the first-order saddle ``R_saddle`` down both sides.

    **Arguments:**

    - `step`: largest arc-length step, Å amu^1/2; `tol`: local error per step (Å amu^1/2).
    - `first_step`: the displacement off the saddle along the (mass-weighted) unstable
      mode, as the largest atom displacement in Å. In Å amu^1/2 a fixed length would move
      a Pt atom 14 times less than an H atom: off an EMT Pt hop saddle 0.01 Å amu^1/2
      gave a force smaller than the saddle's residual one, the descent turned back after
      two points and both branches ended at the saddle.
    - `min_drop` (eV), `descent_fmax` (eV/Å): the descent of a branch ends, and the
      minimizer takes over, once the energy is `min_drop` below the saddle and the largest
      atom force is below `descent_fmax` (or the path turns back); `fmax`: convergence of
      the end minima (eV/Å).
    - `max_points`: points stored per branch (static, sets memory); a branch that needs
      more reports ``RESULTS.step_cap_reached``. `max_min_steps`: cap of each minimization;
      `min_maxstep`: its L-BFGS step cap (Å per atom).
    - `zero_modes_spec`: as for :func:`jaxrxn.saddle.saddle_search`.
    - `mode`: the unstable mode at the saddle as a Cartesian displacement ``(n_atoms,
      dim)`` (e.g. from :func:`jaxrxn.vibrations.vibrations`). Without it the first step
      comes from the potential's Hessian, which an outside calculator (xTB, PySCF) cannot
      give through the bridge; with it no Hessian is computed and the saddle index is the
      caller's responsibility.
    - `throw`: raise (also under ``jit``) unless the result is ``successful``.

    Masses are the potential's (amu). Jitted as a whole (compiled once per shape).
    Returns an :class:`IRCResult`.
    """
    check_configuration(R_saddle, name="R_saddle")
    R_saddle = jnp.asarray(R_saddle)
    descent = IRCDescent(step, tol, descent_fmax, min_drop, max_points)
    zero_modes_spec = resolve_zero_modes_spec(potential, zero_modes_spec)
    probes = 0 if mode is not None else zero_mode_probe_calls(potential, R_saddle, zero_modes_spec, e0_known=True)
    if mode is not None:
        mode = jnp.asarray(mode, R_saddle.dtype)
        if mode.shape != R_saddle.shape or not bool(jnp.all(jnp.isfinite(mode))) or not bool(jnp.any(mode != 0)):
            raise ValueError(f"mode must be a finite, nonzero array of shape {R_saddle.shape}.")
    # floats as traced scalars: a new fmax or step reuses the compiled IRC
    descent, first_step, fmax, min_maxstep = dynamic_floats((descent, first_step, fmax, min_maxstep))
    out = _irc(potential, R_saddle, descent, first_step, fmax, max_min_steps, min_maxstep, zero_modes_spec, probes, mode)
    if throw:
        out = out.result.error_if(out, out.result != RESULTS.successful)
    return out


@eqx.filter_jit
def _irc(potential, R_saddle, descent: IRCDescent, first_step, fmax, max_min_steps, min_maxstep, zero_modes_spec, probes, mode):
    e_ts = potential.energy(R_saddle)
    sqrt_m = jnp.sqrt(potential.atom_masses(R_saddle))[:, None]
    if mode is None:
        modes = zero_modes(potential, R_saddle, zero_modes_spec, e0=e_ts)
        H, _ = projected_hessian(potential, R_saddle, modes, mass_weighted=True)
        w, U = jnp.linalg.eigh(H)
        n_neg, n_hessian = jnp.sum(w < -1e-6 * jnp.max(jnp.abs(w))), 1
        v = U[:, 0]
    else:  # a Cartesian displacement dR is sqrt(m) dR in mass-weighted coordinates
        v = (mode * sqrt_m).reshape(-1)
        v, n_neg, n_hessian = v / jnp.linalg.norm(v), 1, 0
    v = v * jnp.sign(v[jnp.argmax(jnp.abs(v))])
    args = IRCArgs(sqrt_m, e_ts)
    # mass-weighted length of the first step: its largest Cartesian atom move is first_step
    first = first_step / jnp.max(jnp.linalg.norm(v.reshape(R_saddle.shape) / sqrt_m, axis=-1))

    def branch(sign):
        x0 = R_saddle * sqrt_m + sign * first * v.reshape(R_saddle.shape)
        sol = iterative_solve(descent, potential, x0, args, max_steps=8 * descent.max_points, throw=False)
        path, energies, arc, n = sol.aux
        m = minimize(potential, sol.value, LBFGS(maxstep=min_maxstep), fmax=fmax, max_steps=max_min_steps)
        end = RESULTS.where(m.result == RESULTS.step_cap_reached, RESULTS.endpoint_not_minimum, m.result)
        result = RESULTS.where(sol.result == RESULTS.successful, end, sol.result)
        return IRCBranch(
            path, energies, arc + first, n, m.R, m.energy, m.fmax, result == RESULTS.successful,
            sol.stats.n_force_calls + m.n_force_calls, result,
        )  # fmt: skip

    # One branch after the other, not vmapped: a vmapped loop keeps evaluating the branch
    # that has finished until the other one does, which an outside calculator pays for.
    fwd, rev = branch(1.0), branch(-1.0)
    same = (jnp.max(jnp.abs(fwd.R_min - rev.R_min)) < 1e-2) & (jnp.abs(fwd.energy_min - rev.energy_min) < 1e-6)
    # a branch's own code (cap, non-finite) first, else the minimizations' verdict
    result = RESULTS.where(fwd.result != RESULTS.successful, fwd.result, rev.result)
    result = RESULTS.where(same & (result == RESULTS.successful), RESULTS.not_connected, result)
    result = RESULTS.where(n_neg != 1, RESULTS.saddle_wrong_index, result)
    result = finite_result(result, fwd.R_min, rev.R_min, fwd.energy_min, rev.energy_min)
    return IRCResult(
        R_saddle, e_ts, fwd, rev, result == RESULTS.successful,
        1 + probes + fwd.n_force_calls + rev.n_force_calls, jnp.array(n_hessian), result,
    )  # fmt: skip
