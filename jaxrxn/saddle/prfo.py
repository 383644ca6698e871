"""Partitioned rational function optimization (P-RFO) with the exact JAX Hessian.

J. Baker, J. Comput. Chem. 7, 385 (1986); A. Banerjee, N. Adams, J. Simons & R. Shepard,
J. Phys. Chem. 89, 52 (1985). In the eigenbasis of the Hessian (zero modes and fixed atoms
projected out, :mod:`jaxrxn.saddle.index`) the lowest mode is maximized and all others
minimized, each block with its own rational-function shift; the step is held inside a
trust radius updated from the ratio of actual to predicted energy change.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Scalar

from jaxrxn.potentials.core import Potential
from jaxrxn.saddle.index import SaddleState, ZeroModes, count_negative, projected_hessian


class PRFOState(eqx.Module):
    eigenvalues: Float[Array, " n_dof"]  # of the projected Hessian at R
    eigenvectors: Float[Array, "n_dof n_dof"]
    trust: Scalar
    predicted: Scalar  # model energy change of the last step
    energy_before: Scalar


def _safe_div(a, b):
    return jnp.where(jnp.abs(b) > 1e-300, a / jnp.where(jnp.abs(b) > 1e-300, b, 1.0), 0.0)


class PRFO(eqx.Module):
    """P-RFO saddle search with exact Hessians.

    - `trust_radius`: initial step length bound (Å, Euclidean over all coordinates).
    - `trust_min`, `trust_max`: bounds of the adaptive trust radius (Å).

    Each step costs one energy+force and one Hessian evaluation.
    """

    trust_radius: float = 0.1
    trust_min: float = 1e-4
    trust_max: float = 0.5

    def _diagonalize(self, potential, R, modes):
        H, _ = projected_hessian(potential, R, modes)
        return jnp.linalg.eigh(H)

    def init(self, potential: Potential, R, modes: ZeroModes, mode0=None) -> SaddleState:
        e, f = potential.energy_and_forces(R)
        w, U = self._diagonalize(potential, R, modes)
        z = jnp.zeros((), R.dtype)
        inner = PRFOState(w, U, z + self.trust_radius, z, e)
        return SaddleState(R, e, f, inner, jnp.array(0), jnp.array(1), jnp.array(1))

    def step(self, potential: Potential, state: SaddleState, modes: ZeroModes) -> SaddleState:
        st = state.inner
        R, w, U = state.R, st.eigenvalues, st.eigenvectors
        # Trust-radius update from the previous step's agreement with its quadratic model.
        ratio = _safe_div(state.energy - st.energy_before, st.predicted)
        good = (ratio > 0.75) & (ratio < 1.25)
        bad = (ratio < 0.25) | (ratio > 1.75)
        took_step = state.n_steps > 0
        trust = jnp.where(took_step & bad, 0.5 * st.trust, jnp.where(took_step & good, 2.0 * st.trust, st.trust))
        trust = jnp.clip(trust, self.trust_min, self.trust_max)

        g = U.T @ (-state.forces.reshape(-1))
        # Maximize along the lowest mode (Baker eq. 23) ...
        b0, g0 = w[0], g[0]
        lam_p = 0.5 * b0 + 0.5 * jnp.sqrt(b0**2 + 4.0 * g0**2)
        h0 = _safe_div(-g0, b0 - lam_p)
        # ... and minimize in the others (Baker eq. 24): lowest root of their augmented
        # Hessian. Mode 0 is decoupled by a large diagonal entry and zero gradient.
        n = w.size
        b_rest = w.at[0].set(jnp.abs(w[-1]) + 1.0)
        g_rest = g.at[0].set(0.0)
        aug = jnp.zeros((n + 1, n + 1), w.dtype)
        aug = aug.at[:n, :n].set(jnp.diag(b_rest)).at[:n, n].set(g_rest).at[n, :n].set(g_rest)
        lam_n = jnp.minimum(jnp.linalg.eigvalsh(aug)[0], 0.0)
        h = _safe_div(-g_rest, b_rest - lam_n).at[0].set(h0)

        length = jnp.linalg.norm(h)
        h = h * jnp.minimum(1.0, trust / jnp.maximum(length, 1e-300))
        predicted = g @ h + 0.5 * jnp.sum(w * h**2)
        R_new = R + (U @ h).reshape(R.shape)

        e, f = potential.energy_and_forces(R_new)
        w_new, U_new = self._diagonalize(potential, R_new, modes)
        inner = PRFOState(w_new, U_new, trust, predicted, state.energy)
        return SaddleState(
            R_new, e, f, inner, state.n_steps + 1, state.n_force_calls + 1, state.n_hessian_calls + 1
        )

    def analysis(self, potential, state: SaddleState, modes):
        w, U = state.inner.eigenvalues, state.inner.eigenvectors
        index = count_negative(w, jnp.max(jnp.abs(w)))
        return index, w[0], U[:, 0].reshape(state.R.shape), jnp.array(0)

    def mode_estimate(self, state: SaddleState):
        return state.inner.eigenvalues[0], state.inner.eigenvectors[:, 0].reshape(state.R.shape)
