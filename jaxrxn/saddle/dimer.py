"""The dimer method and min-mode following (forces only, no Hessian).

G. Henkelman & H. Jónsson, J. Chem. Phys. 111, 7010 (1999): a dimer of half-length
``dR`` around ``R`` estimates the lowest curvature mode ``N`` by rotation; translation
follows the force with its component along ``N`` inverted. Rotations use conjugate
gradients on the curvature and the Fourier fit of the curvature versus the rotation
angle (one trial force per rotation; Heyden, Bell & Keil, J. Chem. Phys. 123, 224101
(2005)); translation uses L-BFGS on the modified force (J. Kästner & P. Sherwood,
J. Chem. Phys. 128, 014106 (2008)), with a fixed uphill step while the curvature is
positive. Zero modes and fixed atoms are projected out of the mode and the step.

:func:`min_mode_search` starts from a minimum after a random local displacement, as
adaptive kinetic Monte Carlo does (Xu & Henkelman, J. Chem. Phys. 129, 114104 (2008)).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, Int, PRNGKeyArray, Scalar

from jaxrxn.optimize import LBFGS, LBFGSState, cap_step
from jaxrxn.potentials.core import Potential
from jaxrxn.potentials.external import HostEnergy
from jaxrxn.saddle.index import (
    AbstractSaddleSolver,
    SaddleResult,
    SaddleState,
    ZeroModes,
    ZeroModeSpec,
    first_mode,
    hessian_analysis,
    project_out,
    removed_directions,
)
from jaxrxn.saddle.rsprfo import krylov_index
from jaxrxn.saddle.search import saddle_search


class DimerState(eqx.Module):
    N: Float[Array, "n_atoms dim"]  # unit mode estimate
    curvature: Scalar  # eV/Å² along N
    lbfgs: LBFGSState
    n_rotations: Int[Array, ""]


def _vdot(a, b):
    return jnp.vdot(a, b).real


class Dimer(AbstractSaddleSolver):
    """Dimer saddle search (Henkelman & Jónsson 1999) with CG/Fourier rotations and
    L-BFGS translation (Kästner & Sherwood 2008).

    - `dimer_separation`: half-length ``dR`` of the dimer, Å.
    - `max_rotations`: rotations per translation step (each costs one force call).
    - `rotation_angle_tol`: stop rotating once the optimal rotation angle is below this (rad).
    - `trial_angle`: trial rotation angle of the Fourier fit (rad).
    - `max_step`: largest atom displacement of a translation step, Å.
    - `convex_step`: uphill step length along the mode while the curvature is positive, Å.
    - `memory`: L-BFGS memory of the translation.
    """

    dimer_separation: float = 1e-3
    max_rotations: int = 4
    rotation_angle_tol: float = 2e-2
    trial_angle: float = math.pi / 4
    max_step: float = 0.1
    convex_step: float = 0.05
    memory: int = 10

    def _lbfgs(self) -> LBFGS:
        return LBFGS(memory=self.memory, maxstep=self.max_step)

    def _clean(self, potential, R, modes, v):
        """``v`` restricted to the free, non-zero-mode directions."""
        V = removed_directions(potential, R, modes)
        return project_out(v.reshape(-1), V).reshape(R.shape) * potential.free_mask(R)

    def _rotate(self, potential, R, F0, N, modes):
        """Rotate ``N`` toward the lowest-curvature mode at ``R``; returns (N, C, calls)."""
        dR = self.dimer_separation
        force = lambda x: potential.forces(x)  # noqa: E731

        def curvature_and_gradient(N, F1):
            dF = F1 - F0
            C = -_vdot(dF, N) / dR
            G = -2.0 * dF / dR  # gradient of N^T H N
            G = self._clean(potential, R, modes, G - _vdot(G, N) * N)
            return C, G

        F1 = force(R + dR * N)
        C, G = curvature_and_gradient(N, F1)

        def cond(c):
            N, F1, C, G, d, G_prev, i, angle = c
            return (i < self.max_rotations) & (angle > self.rotation_angle_tol) & (jnp.linalg.norm(G) > 0)

        def body(c):
            N, F1, C, G, d, G_prev, i, _ = c
            # Polak-Ribiere conjugate direction, restarted on the first rotation
            gg = _vdot(G_prev, G_prev)
            beta = jnp.where((i > 0) & (gg > 0), jnp.maximum(_vdot(G, G - G_prev) / jnp.where(gg > 0, gg, 1.0), 0.0), 0.0)
            d = -G + beta * d
            d = d - _vdot(d, N) * N
            Theta = d / jnp.linalg.norm(d)
            b1 = 0.5 * _vdot(G, Theta)  # C(theta) = a0/2 + a1 cos 2θ + b1 sin 2θ
            t = self.trial_angle
            N_t = jnp.cos(t) * N + jnp.sin(t) * Theta
            F1_t = force(R + dR * N_t)
            C_t = -_vdot(F1_t - F0, N_t) / dR
            a1 = (C - C_t + b1 * jnp.sin(2 * t)) / (1.0 - jnp.cos(2 * t))
            a0 = 2.0 * (C - a1)
            th = 0.5 * jnp.arctan2(b1, a1)
            fit = lambda th: 0.5 * a0 + a1 * jnp.cos(2 * th) + b1 * jnp.sin(2 * th)  # noqa: E731
            th = jnp.where(fit(th) > fit(th + 0.5 * jnp.pi), th + 0.5 * jnp.pi, th)
            th = jnp.where(th > 0.5 * jnp.pi, th - jnp.pi, th)  # the equivalent smaller angle
            N_new = jnp.cos(th) * N + jnp.sin(th) * Theta
            N_new = N_new / jnp.linalg.norm(N_new)
            # forces at the rotated end point interpolated from the two evaluated ones
            F1_new = (
                jnp.sin(t - th) / jnp.sin(t) * F1
                + jnp.sin(th) / jnp.sin(t) * F1_t
                + (1.0 - jnp.cos(th) - jnp.sin(th) * jnp.tan(0.5 * t)) * F0
            )
            C_new, G_new = curvature_and_gradient(N_new, F1_new)
            C_new = fit(th)
            return N_new, F1_new, C_new, G_new, d, G, i + 1, jnp.abs(th)

        z = jnp.zeros_like(N)
        init = (N, F1, C, G, z, z, jnp.array(0), jnp.array(jnp.inf, R.dtype))
        N, _, C, _, _, _, n_rot, _ = lax.while_loop(cond, body, init)
        return N, C, n_rot

    def start(self, potential: Potential, R, e, f, modes: ZeroModes, mode0=None) -> SaddleState:
        mode0 = first_mode(mode0, jax.random.normal(jax.random.key(0), R.shape, R.dtype).reshape(-1)).reshape(R.shape)
        N = self._clean(potential, R, modes, mode0)
        N = N / jnp.linalg.norm(N)
        inner = DimerState(N, jnp.zeros((), R.dtype), self._lbfgs().init(R, f), jnp.array(0))
        return SaddleState(R, e, f, inner, modes, jnp.array(1), jnp.array(0))

    def step(self, potential: Potential, state: SaddleState, args) -> SaddleState:
        R, F0, st, modes = state.R, state.forces, state.inner, state.modes
        N, C, n_rot = self._rotate(potential, R, F0, st.N, modes)
        F_par = _vdot(F0, N) * N
        concave = C < 0
        F_eff = jnp.where(concave, F0 - 2.0 * F_par, -F_par)
        lbfgs = self._lbfgs()
        dx_lbfgs, lb = lbfgs.update(F_eff, st.lbfgs, R)
        # Positive curvature: leave the basin along the mode with a fixed step, and forget
        # the L-BFGS history, which describes a different effective surface.
        f_eff_norm = jnp.linalg.norm(F_eff)
        dx_up = cap_step(self.convex_step * F_eff / jnp.maximum(f_eff_norm, 1e-300), self.max_step)
        dx = jnp.where(concave, dx_lbfgs, dx_up)
        lb = jax.tree.map(lambda a, b: jnp.where(concave, a, b), lb, lbfgs.init(R + dx, F_eff))
        R_new = R + self._clean(potential, R, modes, dx)
        e, f = potential.energy_and_forces(R_new)
        inner = DimerState(N, C, lb, st.n_rotations + n_rot)
        calls = state.n_force_calls + 2 + n_rot
        return SaddleState(R_new, e, f, inner, modes, calls, state.n_hessian_calls)

    def analysis(self, potential, state: SaddleState):
        # An outside calculator has no Hessian: then Lanczos from the dimer's own mode
        # with finite-difference products of forces (counted as force calls).
        if isinstance(potential.energy_fn, HostEnergy):
            index, curvature, mode, calls = krylov_index(potential, state.R, state.forces, state.modes, state.inner.N)
            return index, curvature, mode, jnp.array(0), calls
        index, curvature, mode, _ = hessian_analysis(potential, state.R, state.modes)
        return index, curvature, mode, jnp.array(1), jnp.array(0)

    def mode_estimate(self, state: SaddleState):
        return state.inner.curvature, state.inner.N


def min_mode_search(
    potential: Potential,
    R_min: Float[Array, "n_atoms dim"],
    key: PRNGKeyArray,
    *,
    displacement: float = 0.1,
    atoms: Array | None = None,
    solver: Dimer = Dimer(),
    fmax: float = 0.01,
    max_steps: int = 1000,
    zero_modes_spec: ZeroModeSpec = "auto",
    check_index: bool = True,
    throw: bool = False,
) -> SaddleResult:
    """Min-mode following from a minimum: displace randomly, then climb with the dimer.

    Every free atom (or those where the boolean/0-1 mask `atoms` ``(n_atoms,)`` is set) is
    displaced by a Gaussian of standard deviation `displacement` (Å) per coordinate; the
    displacement is also the initial mode. Deterministic in `key`, so
    ``jax.vmap(lambda k: min_mode_search(pot, R, k))(keys)`` runs independent searches
    as adaptive KMC does. Returns a :class:`SaddleResult`; searches that end anywhere but
    on a first-order saddle have ``converged=False``.
    """
    R_min = jnp.asarray(R_min)
    mask = potential.free_mask(R_min)
    if atoms is not None:
        mask = mask * jnp.asarray(atoms, R_min.dtype).reshape(-1, 1)
    d = displacement * jax.random.normal(key, R_min.shape, R_min.dtype) * mask
    return saddle_search(
        potential, R_min + d, solver, fmax=fmax, max_steps=max_steps,
        zero_modes_spec=zero_modes_spec, mode0=d, check_index=check_index, throw=throw,
    )  # fmt: skip
