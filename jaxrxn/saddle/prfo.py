"""Partitioned rational function optimization (P-RFO) with the exact JAX Hessian.

J. Baker, J. Comput. Chem. 7, 385 (1986); A. Banerjee, N. Adams, J. Simons & R. Shepard,
J. Phys. Chem. 89, 52 (1985). In the eigenbasis of the Hessian (zero modes and fixed atoms
projected out, :mod:`jaxrxn.saddle.index`) the lowest mode is maximized and all others
minimized, each block with its own rational-function shift; the step is held inside a
trust radius updated from the ratio of actual to predicted energy change, and steps far
off that prediction are rejected.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, Scalar

from jaxrxn._linalg import eigh, eigvalsh
from jaxrxn.potentials.core import Potential
from jaxrxn.saddle.index import AbstractSaddleSolver, SaddleState, ZeroModes, count_negative, first_mode, projected_hessian


class PRFOState(eqx.Module):
    eigenvalues: Float[Array, " n_dof"]  # of the projected Hessian at R
    eigenvectors: Float[Array, "n_dof n_dof"]
    trust: Scalar  # Å
    followed: Float[Array, " n_dof"]  # unit direction of the mode being maximized


def _safe_div(a, b):
    return jnp.where(jnp.abs(b) > 1e-300, a / jnp.where(jnp.abs(b) > 1e-300, b, 1.0), 0.0)


class PRFO(AbstractSaddleSolver):
    """P-RFO saddle search with exact Hessians.

    - `trust_radius`: initial step length bound (Å, Euclidean over all coordinates).
    - `trust_min`, `trust_max`: bounds of the adaptive trust radius (Å).
    - `follow_mode`: maximize along the eigenvector that overlaps most with the one
      maximized in the previous step (starting from `mode0` or the lowest mode) rather
      than always the lowest; keeps the search on one reaction mode when soft modes cross.

    Each step costs one energy+force and one Hessian evaluation.
    """

    trust_radius: float = 0.1
    trust_min: float = 1e-4
    trust_max: float = 0.3
    follow_mode: bool = False

    def _diagonalize(self, potential, R, modes):
        H, _ = projected_hessian(potential, R, modes)
        return eigh(H)

    def start(self, potential: Potential, R, e, f, modes: ZeroModes, mode0=None) -> SaddleState:
        w, U = self._diagonalize(potential, R, modes)
        z = jnp.zeros((), R.dtype)
        followed = first_mode(mode0, U[:, 0])
        followed = followed / jnp.linalg.norm(followed)
        inner = PRFOState(w, U, z + self.trust_radius, followed)
        return SaddleState(R, e, f, inner, modes, jnp.array(1), jnp.array(1))

    def step(self, potential: Potential, state: SaddleState, args) -> SaddleState:
        st, modes = state.inner, state.modes
        R, w, U, trust = state.R, st.eigenvalues, st.eigenvectors, st.trust
        g = U.T @ (-state.forces.reshape(-1))
        # Maximize along the mode that overlaps most with the one followed so far (mode
        # following, Baker sec. 3), or simply the lowest ...
        k = jnp.argmax(jnp.abs(U.T @ st.followed)) if self.follow_mode else 0
        followed = U[:, k] * jnp.sign(U[:, k] @ st.followed)
        b0, g0 = w[k], g[k]
        lam_p = 0.5 * b0 + 0.5 * jnp.sqrt(b0**2 + 4.0 * g0**2)
        h0 = _safe_div(-g0, b0 - lam_p)
        # ... and minimize in the others (Baker eq. 24): lowest root of their augmented
        # Hessian. Mode k is decoupled by a large diagonal entry and zero gradient.
        n = w.size
        b_rest = w.at[k].set(jnp.abs(w[-1]) + 1.0)
        g_rest = g.at[k].set(0.0)
        aug = jnp.zeros((n + 1, n + 1), w.dtype)
        aug = aug.at[:n, :n].set(jnp.diag(b_rest)).at[:n, n].set(g_rest).at[n, :n].set(g_rest)
        lam_n = jnp.minimum(eigvalsh(aug)[0], 0.0)
        h = _safe_div(-g_rest, b_rest - lam_n).at[k].set(h0)

        length = jnp.linalg.norm(h)
        h = h * jnp.minimum(1.0, trust / jnp.maximum(length, 1e-300))
        length = jnp.minimum(length, trust)
        predicted = g @ h + 0.5 * jnp.sum(w * h**2)
        R_new = R + (U @ h).reshape(R.shape)
        e, f = potential.energy_and_forces(R_new)

        # Trust region: compare the energy change with the quadratic model. A step whose
        # change is far off (or of the wrong sign) left the model's validity: reject it
        # and shrink, without spending a Hessian on the rejected point.
        actual = e - state.energy
        ratio = _safe_div(actual, predicted)
        noise = 1e-10 * (1.0 + jnp.abs(state.energy))
        reject = ((ratio < -0.5) | (ratio > 3.0) | ~jnp.isfinite(e)) & (jnp.abs(actual) > noise)
        good = (ratio > 0.75) & (ratio < 1.25) & (length > 0.9 * trust)
        bad = (ratio < 0.25) | (ratio > 1.75)
        trust_new = jnp.where(reject, 0.25 * length, jnp.where(bad, 0.5 * trust, jnp.where(good, 2.0 * trust, trust)))
        trust_new = jnp.clip(trust_new, self.trust_min, self.trust_max)

        def accepted(_):
            w_new, U_new = self._diagonalize(potential, R_new, modes)
            inner = PRFOState(w_new, U_new, trust_new, followed)
            return SaddleState(R_new, e, f, inner, modes, state.n_force_calls, state.n_hessian_calls + 1)

        def rejected(_):
            inner = PRFOState(w, U, trust_new, st.followed)
            return SaddleState(R, state.energy, state.forces, inner, modes, state.n_force_calls, state.n_hessian_calls)

        out = lax.cond(reject, rejected, accepted, None)
        return eqx.tree_at(lambda s: s.n_force_calls, out, state.n_force_calls + 1)

    def analysis(self, potential, state: SaddleState):
        w, U = state.inner.eigenvalues, state.inner.eigenvectors
        index = count_negative(w, jnp.max(jnp.abs(w)))
        return index, w[0], U[:, 0].reshape(state.R.shape), jnp.array(0), jnp.array(0)

    def mode_estimate(self, state: SaddleState):
        return state.inner.eigenvalues[0], state.inner.eigenvectors[:, 0].reshape(state.R.shape)
