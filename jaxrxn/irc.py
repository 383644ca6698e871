"""Intrinsic reaction coordinate (IRC): the steepest-descent path in mass-weighted
coordinates from a first-order saddle down to the two minima it connects.

K. Fukui, Acc. Chem. Res. 14, 363 (1981). The path ``dx/ds = -g(x)/|g(x)|`` in
``x = sqrt(m) R`` (Å amu^1/2) is followed with the implicit second-order step of
C. Gonzalez & H. B. Schlegel, J. Chem. Phys. 90, 2154 (1989) and J. Phys. Chem. 94, 5523
(1990): from the last point ``x_k`` a pivot ``x* = x_k - (h/2) g_k/|g_k|`` is placed, and
the next point is the energy minimum on the sphere of radius ``h/2`` about the pivot,
where the gradient points along the radius; the arc through both points is then tangent
to the gradient at each end. The minimum on the sphere comes from quasi-Newton iterations,
one evaluation each, on a quadratic model whose Hessian starts as the saddle's (the
potential's, or the harmonic analysis' for an outside calculator) and is updated with
Bofill's formula along the path. The first step leaves the saddle along the unstable
eigenvector of the mass-weighted Hessian (zero modes removed).

An explicit integrator of the normalised gradient flow (the Bogacki-Shampine pair used
before) is stiff near a saddle: its stable step is ~|lambda_unstable| / lambda_max times
the distance from the saddle, whatever its tolerance, so it crept away (0.001-0.02
Å amu^1/2 per step; 1,233 evaluations for 0.03 eV on each branch of the LJ4 saddle). The
implicit step has no such limit.

Forces are small near any saddle, so a small force does not end the descent there: each
branch follows the path until it has left the saddle region, i.e. the energy has fallen
at least `min_drop` below the saddle, and then until the largest atom force drops below
`descent_fmax` or the path turns back on itself (the valley floor, looked for only once the
gradient has fallen below half its largest value on the branch). Only then does an
L-BFGS minimization converge the minimum to `fmax`. A branch that runs out of
`max_points` first reports ``RESULTS.step_cap_reached``.

Each branch is an :class:`IRCDescent` solver on :mod:`jaxrxn._iterate`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int, Scalar

from jaxrxn._iterate import AbstractIterativeSolver, iterative_solve
from jaxrxn._jit import dynamic_floats
from jaxrxn._linalg import eigh
from jaxrxn._results import RESULTS, finite_result
from jaxrxn.optimize import LBFGS, minimize
from jaxrxn.potentials.core import Potential, max_atom_force
from jaxrxn.geometry import rigid_body_modes
from jaxrxn.saddle.index import (
    ZeroModes,
    ZeroModeSpec,
    projected_hessian,
    removed_directions,
    resolve_zero_modes_spec,
    zero_mode_probe_calls,
    zero_modes,
)
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


class IRCArgs(eqx.Module):
    """Per-call data of an :class:`IRCDescent`: `sqrt_m` ``(n_atoms, 1)`` (amu^1/2), the
    saddle energy `e_saddle` (eV), the `zero_modes` to keep out of the steps, the starting
    mass-weighted Hessian `hessian` ``(n_dof, n_dof)`` (eV/(Å² amu)) and, when that is only
    a model to be fitted (`fit_curvature`), the unit `mode` ``(n_dof,)``, the saddle
    `x_saddle` ``(n_atoms, dim)`` and the mass-weighted gradient `g_saddle` ``(n_dof,)``
    there."""

    sqrt_m: Array
    e_saddle: Scalar
    zero_modes: ZeroModes
    hessian: Array
    fit_curvature: Bool[Array, ""]
    mode: Array
    x_saddle: Array
    g_saddle: Array


class IRCState(eqx.Module):
    """The last point of the path (mass-weighted `x` in Å amu^1/2, energy `e`, gradient `g`
    in eV/(Å amu^1/2)), the updated Hessian `H`, the current step's `pivot` and length
    `h`, the last evaluated point `xc` (gradient `gc`), the next point to evaluate `x_try`,
    iterations `k` of this step, arc length `s`, the stored `path`, `energies`, `arc` and
    the number `n` of points taken, and the largest gradient norm `g_peak` of the points taken."""

    x: Array
    e: Scalar
    g: Array
    H: Array
    pivot: Array
    h: Scalar
    xc: Array
    gc: Array
    x_try: Array
    k: Int[Array, ""]
    s: Scalar
    n: Int[Array, ""]
    at_bottom: Bool[Array, ""]
    stalled: Bool[Array, ""]
    path: Array
    energies: Array
    arc: Array
    n_force_calls: Int[Array, ""]
    g_peak: Scalar


def _bofill(H: Array, dx: Array, dg: Array) -> Array:
    """Bofill's update of a (possibly indefinite) Hessian for the step `dx` and gradient
    change `dg` (J. M. Bofill, J. Comput. Chem. 15, 1 (1994)): SR1 and Powell's symmetric
    Broyden mixed by ``phi = (xi.dx)^2 / (|xi|^2 |dx|^2)``, ``xi = dg - H dx``."""
    xi = dg - H @ dx
    xs, ss, xx = xi @ dx, dx @ dx, xi @ xi
    tiny = jnp.finfo(H.dtype).tiny
    ok = (ss > tiny) & (xx > tiny)
    ss_, xx_ = jnp.where(ok, ss, 1.0), jnp.where(ok, xx, 1.0)
    # phi * SR1 written without the division by xi.dx that SR1 alone needs
    sr1 = (xs / (xx_ * ss_)) * jnp.outer(xi, xi)
    psb = (jnp.outer(xi, dx) + jnp.outer(dx, xi)) / ss_ - xs * jnp.outer(dx, dx) / ss_**2
    phi = xs**2 / (xx_ * ss_)
    return jnp.where(ok, H + sr1 + (1.0 - phi) * psb, H)


def _sphere_minimum(H: Array, b: Array, r: Scalar, forward: Array) -> Array:
    """The minimum ``p`` of ``p.H.p / 2 - b.p`` on the sphere ``|p| = r`` (``(n,)``).

    ``(H - lam) p = b`` with ``lam`` below the lowest eigenvalue, where ``|p(lam)|`` rises
    monotonically to infinity: bisection on ``lam``. In the hard case (``b`` has no
    component along the lowest mode) the rest of the radius goes along that mode, on the
    side of `forward`.
    """
    w, U = eigh(H)
    beta = U.T @ b
    length = lambda lam: jnp.linalg.norm(beta / (w - lam))  # noqa: E731
    eps = jnp.finfo(H.dtype).eps * (1.0 + jnp.max(jnp.abs(w)))
    hi = w[0] - eps
    lo = w[0] - jnp.linalg.norm(b) / r - eps  # |p(lo)| <= r

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        longer = length(mid) > r
        return jnp.where(longer, lo, mid), jnp.where(longer, mid, hi)

    lo, _ = lax.fori_loop(0, 200, bisect, (lo, hi))
    p = U @ (beta / (w - lo))
    norm = jnp.linalg.norm(p)
    hard = length(hi) < r
    u0 = U[:, 0] * jnp.where(U[:, 0] @ forward < 0, -1.0, 1.0)
    return jnp.where(hard, p + jnp.sqrt(jnp.maximum(r**2 - norm**2, 0.0)) * u0, p * r / jnp.maximum(norm, eps))


class IRCDescent(AbstractIterativeSolver):
    """One branch of the IRC in ``x = sqrt(m) R`` from a point next to the saddle, with the
    Gonzalez-Schlegel step: each new point is the energy minimum on the sphere of radius
    ``h/2`` about the pivot ``x - (h/2) g/|g|``, found by quasi-Newton iterations (one
    evaluation each) on a Bofill-updated Hessian.

    - `step`: arc length of a step, Å amu^1/2 (halved when a step fails, grown back when
      the first iteration of a step already meets `tol`); `tol`: the error of a point,
      ``(h/2) |g_perp| / |g|`` with ``g_perp`` the gradient across the sphere's radius
      (Å amu^1/2). `max_inner`: iterations of one step before it is halved.
    - `descent_fmax` (eV/Å), `min_drop` (eV): the descent ends once the energy is at
      least `min_drop` below the saddle and the largest atom force is below
      `descent_fmax`, or once the path turns back (the valley floor: the gradient turns
      against the last one, or the sphere's minimum lies inside it) at least
      ``0.01 min_drop`` below the saddle and with the gradient below half its largest
      value on the branch; or when the steps shrink to nothing.
    - `max_points`: points stored (static); running out of them ends the descent with
      ``RESULTS.step_cap_reached``.
    """

    step_max: float = 0.1
    tol: float = 1e-4
    descent_fmax: float = 0.1
    min_drop: float = 0.1
    max_points: int = 400
    max_inner: int = 6

    def _evaluate(self, potential, x, sqrt_m):
        e, f = potential.energy_and_forces(x / sqrt_m)
        return e, -f / sqrt_m  # mass-weighted gradient

    def _pivot(self, x, g, h):
        return x - 0.5 * h * g / jnp.maximum(jnp.linalg.norm(g), jnp.finfo(g.dtype).tiny)

    def _propose(self, potential, H, pivot, h, xc, gc, args: IRCArgs):
        """The minimum on the sphere of radius ``h/2`` about `pivot` of the quadratic model
        about `xc` (gradient `gc`), with the rigid-body directions at `xc` shifted out of
        the way (their eigenvalues would bound the multiplier)."""
        V = removed_directions(potential, xc / args.sqrt_m, args.zero_modes, mass_weighted=True)
        P = jnp.eye(xc.size, dtype=xc.dtype) - V.T @ V
        Hp = P @ H @ P
        Hp = 0.5 * (Hp + Hp.T)
        H_eff = Hp + (1.0 + jnp.linalg.norm(Hp)) * (V.T @ V)
        b = H_eff @ (xc - pivot).reshape(-1) - P @ gc.reshape(-1)
        forward = (pivot - xc).reshape(-1)  # the new point lies ahead of the pivot
        return pivot + _sphere_minimum(H_eff, b, 0.5 * h, forward).reshape(xc.shape)

    def init(self, potential, x0, args: IRCArgs) -> IRCState:
        e0, g0 = self._evaluate(potential, x0, args.sqrt_m)
        # Without a Hessian, a model: the curvature along the mode from the gradients at
        # the saddle and here, its magnitude on every other direction (Bofill's updates
        # correct it along the path).
        d = (x0 - args.x_saddle).reshape(-1)
        kappa = (g0.reshape(-1) - args.g_saddle) @ d / jnp.maximum(d @ d, jnp.finfo(d.dtype).tiny)
        alpha = jnp.maximum(jnp.abs(kappa), jnp.finfo(d.dtype).eps)
        model = alpha * jnp.eye(d.size, dtype=d.dtype) + (kappa - alpha) * jnp.outer(args.mode, args.mode)
        H = jnp.where(args.fit_curvature, model, args.hessian)
        R0 = x0 / args.sqrt_m
        path = jnp.broadcast_to(R0, (self.max_points,) + R0.shape)
        z = jnp.zeros((), x0.dtype)
        h = z + self.step_max
        pivot = self._pivot(x0, g0, h)
        x_try = self._propose(potential, H, pivot, h, x0, g0, args)
        return IRCState(
            x0, e0, g0, H, pivot, h, x0, g0, x_try, jnp.array(0), z, jnp.array(0),
            jnp.array(False), jnp.array(False), path, jnp.full(self.max_points, e0),
            jnp.zeros(self.max_points, x0.dtype), jnp.array(1), jnp.linalg.norm(g0),
        )  # fmt: skip

    def step(self, potential, c: IRCState, args: IRCArgs) -> IRCState:
        sqrt_m, h = args.sqrt_m, c.h
        x_new = c.x_try
        e_new, g_new = self._evaluate(potential, x_new, sqrt_m)
        H = _bofill(c.H, (x_new - c.xc).reshape(-1), (g_new - c.gc).reshape(-1))
        # The point is on the path when the next quasi-Newton correction would move it less
        # than tol: an error estimate that knows the curvature across the path (a stiff
        # direction tolerates a larger gradient than a soft one).
        x_next = self._propose(potential, H, c.pivot, h, x_new, g_new, args)
        on_path = jnp.linalg.norm(x_next - x_new) <= self.tol
        lower = e_new < c.e
        outward = jnp.vdot(g_new, x_new - c.pivot) > 0  # the gradient points out of the sphere
        drop_old, drop = args.e_saddle - c.e, args.e_saddle - e_new
        # A floor is only looked for once the gradient has fallen below half its largest value
        # on the branch: while the path still steepens, a gradient that turns is the path
        # zigzagging across a stiff direction off a flat saddle, not its end (GFN2-xTB,
        # 206i cm^-1, the data set's rxn0041_0003: turns by 120-150 degrees at 1-3 meV below
        # the saddle, 40 meV above the minima, with the gradient still growing)
        settled = jnp.linalg.norm(g_new) < 0.5 * c.g_peak
        # the floor lies within this step: the sphere's minimum is above the last point, or
        # its gradient points out of the sphere (the minimum is inside); steps are halved
        # down to step/8 to end next to it
        floor_inside = on_path & (~lower | outward) & (drop_old >= 0.01 * self.min_drop) & settled
        accept = on_path & lower & ~floor_inside
        small_force = (drop >= self.min_drop) & (max_atom_force(-g_new * sqrt_m) < self.descent_fmax)
        turned = (drop >= 0.01 * self.min_drop) & (jnp.vdot(g_new, c.g) < 0) & settled
        floor = floor_inside & (h <= 0.125 * self.step_max)
        at_bottom = floor | (accept & (small_force | turned))
        # a step that does not descend, or does not settle in max_inner iterations, is halved
        retry = ~accept & ~floor & (on_path | (c.k + 1 >= self.max_inner))

        n = c.n + accept
        x, e, g = jnp.where(accept, x_new, c.x), jnp.where(accept, e_new, c.e), jnp.where(accept, g_new, c.g)
        s = jnp.where(accept, c.s + h, c.s)
        grown = jnp.where(c.k == 0, jnp.minimum(2.0 * h, self.step_max), h)
        h_next = jnp.where(retry, 0.5 * h, jnp.where(accept, grown, h))
        restart = accept | retry
        pivot = jnp.where(restart, self._pivot(x, g, h_next), c.pivot)
        x_try = jnp.where(restart, self._propose(potential, H, pivot, h_next, x, g, args), x_next)
        return IRCState(
            x, e, g, H, pivot, h_next, x_new, g_new, x_try, jnp.where(restart, 0, c.k + 1), s, n,
            at_bottom, h_next < 1e-6 * self.step_max,
            c.path.at[n].set(x / sqrt_m), c.energies.at[n].set(e), c.arc.at[n].set(s), c.n_force_calls + 1,
            jnp.where(accept, jnp.maximum(c.g_peak, jnp.linalg.norm(g_new)), c.g_peak),
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
    shallow_fmax: float | None = None,
    max_points: int = 400,
    max_min_steps: int = 1000,
    min_maxstep: float = 0.05,
    zero_modes_spec: ZeroModeSpec = "auto",
    mode: Float[Array, "n_atoms dim"] | None = None,
    hessian: Float[Array, "n_dof n_dof"] | None = None,
    throw: bool = False,
) -> IRCResult:
    """Follow the IRC from the first-order saddle ``R_saddle`` down both sides.

    **Arguments:**

    - `step`: arc length of a Gonzalez-Schlegel step, Å amu^1/2 (the largest: failed steps
      are halved); `tol`: error of each point across the path (Å amu^1/2).
    - `first_step`: the displacement off the saddle along the (mass-weighted) unstable
      mode, as the largest atom displacement in Å. In Å amu^1/2 a fixed length would move
      a Pt atom 14 times less than an H atom: off an EMT Pt hop saddle 0.01 Å amu^1/2
      gave a force smaller than the saddle's residual one, the descent turned back after
      two points and both branches ended at the saddle.
    - `min_drop` (eV), `descent_fmax` (eV/Å): the descent of a branch ends, and the
      minimizer takes over, once the energy is `min_drop` below the saddle and the largest
      atom force is below `descent_fmax` (or the path turns back); `fmax`: convergence of
      the end minima (eV/Å).
    - `shallow_fmax` (eV/Å, default `fmax`): the end threshold instead of a looser `fmax`
      for a branch whose descent ended less than `min_drop` below the saddle. The forces
      there are of the size of the saddle's own, so a loose `fmax` can take a point of
      the saddle region for a minimum: with ``fmax = 0.05`` eV/Å (``find_reaction``'s)
      both ends of the flat (149i cm^-1) GFN2-xTB saddle of the data set's held-out
      rxn0171_0009 stopped 1-2 meV below it, 4.7 eV above the reactant one branch leads to.
    - `max_points`: points stored per branch (static, sets memory); a branch that needs
      more reports ``RESULTS.step_cap_reached``. `max_min_steps`: cap of each minimization;
      `min_maxstep`: its L-BFGS step cap (Å per atom).
    - `zero_modes_spec`: as for :func:`jaxrxn.saddle.saddle_search`.
    - `mode`: the unstable mode at the saddle as a Cartesian displacement ``(n_atoms,
      dim)`` (e.g. from :func:`jaxrxn.vibrations.vibrations`), and `hessian`: the Cartesian
      Hessian there ``(n_atoms*dim, n_atoms*dim)`` (eV/Å², e.g. ``Vibrations.hessian``).
      Without a `mode` both come from the potential's Hessian, which an outside calculator
      (xTB, PySCF) cannot give through the bridge; with a `mode` no Hessian is computed
      and the saddle index is the caller's responsibility. A `mode` without a `hessian`
      starts the steps from a model Hessian (the mode's curvature, fitted to the first
      gradient, and its magnitude on every other direction), which costs more steps; with
      a `hessian` and ``zero_modes_spec="auto"`` the rigid-body directions it leaves
      (nearly) unchanged count as zero modes, without probes.
    - `throw`: raise (also under ``jit``) unless the result is ``successful``.

    Masses are the potential's (amu). Jitted as a whole (compiled once per shape).
    Returns an :class:`IRCResult`.
    """
    check_configuration(R_saddle, name="R_saddle")
    R_saddle = jnp.asarray(R_saddle)
    descent = IRCDescent(step, tol, descent_fmax, min_drop, max_points)
    zero_modes_spec = resolve_zero_modes_spec(potential, zero_modes_spec)
    if mode is not None:
        mode = jnp.asarray(mode, R_saddle.dtype)
        if mode.shape != R_saddle.shape or not bool(jnp.all(jnp.isfinite(mode))) or not bool(jnp.any(mode != 0)):
            raise ValueError(f"mode must be a finite, nonzero array of shape {R_saddle.shape}.")
    if hessian is not None:
        if mode is None:
            raise ValueError("a hessian comes with its unstable mode: pass mode as well.")
        hessian = jnp.asarray(hessian, R_saddle.dtype)
        if hessian.shape != (R_saddle.size,) * 2 or not bool(jnp.all(jnp.isfinite(hessian))):
            raise ValueError(f"hessian must be a finite array of shape {(R_saddle.size,) * 2}.")
    probes = 0 if mode is not None else zero_mode_probe_calls(potential, R_saddle, zero_modes_spec, e0_known=True)
    shallow_fmax = fmax if shallow_fmax is None else shallow_fmax
    # floats as traced scalars: a new fmax or step reuses the compiled IRC
    descent, first_step, fmax, shallow_fmax, min_maxstep = dynamic_floats((descent, first_step, fmax, shallow_fmax, min_maxstep))
    out = _irc(
        potential, R_saddle, descent, first_step, fmax, shallow_fmax, max_min_steps, min_maxstep, zero_modes_spec, probes, mode, hessian
    )  # fmt: skip
    if throw:
        out = out.result.error_if(out, out.result != RESULTS.successful)
    return out


def _zero_modes_of_hessian(potential: Potential, R, H_mw) -> ZeroModes:
    """The rigid-body modes along which the mass-weighted Hessian ``H_mw`` is (nearly)
    zero, ``|H v| <= 1e-3 |H|``: translations and rotations of a free molecule, none of a
    potential with an external field (Muller-Brown) or a fixed frame."""
    atom_mask = None if potential.system is None else potential.system.atom_mask
    V = rigid_body_modes(R, potential.atom_masses(R), atom_mask=atom_mask)
    present = jnp.linalg.norm(V, axis=1) > 0.5
    flat = jnp.linalg.norm(V @ H_mw, axis=1) <= 1e-3 * jnp.linalg.norm(H_mw, 2)
    zero = present & flat
    dim = R.shape[1]
    return ZeroModes(zero[:dim], zero[dim:])


@eqx.filter_jit
def _irc(
    potential, R_saddle, descent: IRCDescent, first_step, fmax, shallow_fmax, max_min_steps, min_maxstep, zero_modes_spec, probes, mode, hessian
):  # fmt: skip
    e_ts, f_ts = potential.energy_and_forces(R_saddle)
    sqrt_m = jnp.sqrt(potential.atom_masses(R_saddle))[:, None]
    inv_sqrt_m = jnp.repeat(1.0 / sqrt_m[:, 0], R_saddle.shape[1])
    n_dof = R_saddle.size
    if mode is None:
        modes = zero_modes(potential, R_saddle, zero_modes_spec, e0=e_ts)
        H, _ = projected_hessian(potential, R_saddle, modes, mass_weighted=True)
        w, U = eigh(H)
        n_neg, n_hessian = jnp.sum(w < -1e-6 * jnp.max(jnp.abs(w))), 1
        v = U[:, 0]
    else:  # a Cartesian displacement dR is sqrt(m) dR in mass-weighted coordinates
        v = (mode * sqrt_m).reshape(-1)
        v, n_neg, n_hessian = v / jnp.linalg.norm(v), 1, 0
        if hessian is None:
            # the model Hessian has no zero eigenvalues for the rigid-body directions to
            # hide behind, and the steps have no component along them: nothing to probe
            modes = zero_modes(potential, R_saddle, "none")
            H = jnp.zeros((n_dof, n_dof), R_saddle.dtype)
        else:
            H = hessian * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
            H = 0.5 * (H + H.T)
            auto = zero_modes_spec == "auto"
            modes = _zero_modes_of_hessian(potential, R_saddle, H) if auto else zero_modes(potential, R_saddle, zero_modes_spec)
    v = v * jnp.sign(v[jnp.argmax(jnp.abs(v))])
    x_ts = R_saddle * sqrt_m
    fit = jnp.array(mode is not None and hessian is None)
    args = IRCArgs(sqrt_m, e_ts, modes, H, fit, v, x_ts, (-f_ts / sqrt_m).reshape(-1))
    # mass-weighted length of the first step: its largest Cartesian atom move is first_step
    first = first_step / jnp.max(jnp.linalg.norm(v.reshape(R_saddle.shape) / sqrt_m, axis=-1))

    def branch(sign):
        x0 = x_ts + sign * first * v.reshape(R_saddle.shape)
        sol = iterative_solve(descent, potential, x0, args, max_steps=8 * descent.max_points, throw=False)
        path, energies, arc, n = sol.aux
        shallow = e_ts - energies[n - 1] < descent.min_drop
        end_fmax = jnp.where(shallow, jnp.minimum(shallow_fmax, fmax), fmax)  # never looser than fmax
        m = minimize(potential, sol.value, LBFGS(maxstep=min_maxstep), fmax=end_fmax, max_steps=max_min_steps)
        end = RESULTS.where(m.result == RESULTS.step_cap_reached, RESULTS.endpoint_not_minimum, m.result)
        result = RESULTS.where(sol.result == RESULTS.successful, end, sol.result)
        return IRCBranch(
            path, energies, arc + first, n, m.R, m.energy, m.fmax, result == RESULTS.successful,
            sol.stats.n_force_calls + m.n_force_calls, result,
        )  # fmt: skip

    # One branch after the other, not vmapped: a vmapped loop keeps evaluating the branch
    # that has finished until the other one does, which an outside calculator pays for. A
    # scan over the two signs traces (and compiles) the descent and minimization once.
    both = lax.map(branch, jnp.array([1.0, -1.0], R_saddle.dtype))
    fwd, rev = (jax.tree.map(lambda leaf, i=i: leaf[i], both) for i in (0, 1))
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
