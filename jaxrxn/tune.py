"""Differentiable barriers and fitting potential parameters to them.

A converged stationary point ``R*(theta)`` (minimum or saddle) of ``E(R, theta)`` is
differentiated implicitly, never by unrolling optimizer steps:

- energies by the envelope theorem: at a stationary point ``dE/dtheta = dE/dtheta|_R``
  (the geometry's own response drops out because ``grad_R E = 0``), so a barrier
  ``E(R_ts) - E(R_min)`` needs no linear solve;
- geometries by the implicit function theorem: ``dR*/dtheta = -H^+ d(grad_R E)/dtheta``
  through ``optimistix.ImplicitAdjoint``, with ``H^+`` the pseudo-inverse (lineax SVD) of the
  Hessian: the saddle Hessian is indefinite and, for free clusters, singular along the
  rigid-body modes, so neither Cholesky nor LU applies (LU is off by O(1) on 2D LJ7).

``jax.grad``, ``jax.jacrev``, ``jax.jacfwd`` and ``jax.vmap`` over a batch of reactions
compose. A stationary point that
did not converge is never differentiated silently: its derivatives are NaN.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
import numpy as np
import optax
from jax import lax
from jaxtyping import Array, Bool, Float, Int, PyTree, Scalar

from jaxrxn.potentials.core import Potential
from jaxrxn.system import System
from jaxrxn._iterate import AbstractIterativeSolver, iterative_solve
from jaxrxn._results import RESULTS
from jaxrxn.saddle.index import (
    ZeroModes,
    ZeroModeSpec,
    project_out,
    projected_hessian,
    zero_mode_probe_calls,
    zero_modes,
)



def _projected_solve(potential: Potential, R: Array, modes: ZeroModes, rhs: Array) -> Array:
    """Solve ``H dx = rhs`` on the true degrees of freedom (zero modes and fixed atoms
    projected out; see :func:`jaxrxn.saddle.projected_hessian`). ``rhs`` and ``dx`` have
    the shape of ``R``. The Hessian may be indefinite (saddles): LU, not Cholesky."""
    H, V = projected_hessian(potential, R, modes)
    b = project_out(rhs.reshape(-1), V)
    return lx.linear_solve(lx.MatrixLinearOperator(H), b, lx.LU()).value.reshape(R.shape)


class StationaryPoint(eqx.Module):
    """A refined stationary point: ``R`` (Å), ``energy`` (eV), gradient norm ``residual``
    (eV/Å, largest atom), ``converged``, the Newton iterations used, the evaluations
    spent (`n_force_calls`, `n_hessian_calls`) and the `result` code
    (``step_cap_reached`` after `max_iterations`, ``nonfinite_state``)."""

    R: Float[Array, "n_atoms dim"]
    energy: Scalar
    residual: Scalar
    converged: Bool[Array, ""]
    n_iterations: Array
    n_force_calls: Int[Array, ""]
    n_hessian_calls: Int[Array, ""]
    result: RESULTS


class NewtonState(eqx.Module):
    R: Array
    energy: Scalar
    gradient: Array
    modes: ZeroModes
    n_force_calls: Int[Array, ""]
    n_hessian_calls: Int[Array, ""]


def _largest(g):
    return jnp.sqrt(jnp.max(jnp.sum(g**2, -1)))


class NewtonPolish(AbstractIterativeSolver):
    """Newton-Raphson on ``grad E = 0`` with the exact projected Hessian and a
    backtracking line search on ``|grad E|^2``, on :mod:`jaxrxn._iterate` (``args`` is
    `gtol`, eV/Å).

    Each atom moves at most `max_step` (Å) per iteration; zero modes (`zero_modes_spec`)
    are decided once at the start and projected out with the fixed atoms. Written here
    rather than taken from ``optimistix.Newton``, which has neither a step cap nor the
    projection: from a 2D LJ7 saddle guess rattled by 0.03 Å it ran 50 steps to a
    residual of 0.64 eV/Å (the cluster flew apart), where this converges in 7.

    The Newton step ``dx = -H^+ g`` is a descent direction of ``|g|^2`` whatever the
    Hessian's signature (``d|g + H a dx|^2/da = -2|g|^2`` at ``a = 0``), so it is halved
    (at most `max_backtracks` times, one force call each) until ``|g|^2`` drops by the
    Armijo fraction (Nocedal & Wright, *Numerical Optimization*, 2nd ed., sec. 11.2).
    Without it, full steps on the shipped neural-network potential's eclipsed ethane
    saddle cycled between two points at 0.18 eV/Å for ever; with it they converge
    quadratically once near.
    """

    zero_modes_spec: ZeroModeSpec = eqx.field(static=True, default="auto")
    max_step: float = 0.1
    max_backtracks: int = eqx.field(static=True, default=8)

    def init(self, potential: Potential, R: Array, gtol) -> NewtonState:
        e, f = potential.energy_and_forces(R)
        modes = zero_modes(potential, R, self.zero_modes_spec, e0=e)
        probes = zero_mode_probe_calls(potential, R, self.zero_modes_spec, e0_known=True)
        return NewtonState(R, e, -f, modes, jnp.array(1 + probes), jnp.array(0))

    def step(self, potential: Potential, state: NewtonState, gtol) -> NewtonState:
        dx = -_projected_solve(potential, state.R, state.modes, state.gradient)
        dx = dx * jnp.minimum(1.0, self.max_step / jnp.maximum(_largest(dx), 1e-300))
        merit0 = jnp.sum(state.gradient**2)

        def trial(carry):
            # one evaluation site in the loop body (each copy of the network compiles anew)
            k, alpha, _, _, _, _ = carry
            R = state.R + alpha * dx
            e, f = potential.energy_and_forces(R)
            # a NaN merit (a step into a non-finite region) also backtracks
            ok = jnp.isfinite(e) & (jnp.sum(f**2) <= (1.0 - 2e-4 * alpha) * merit0)
            return k + 1, 0.5 * alpha, ok | (k >= self.max_backtracks), R, e, f

        start = (jnp.array(0), jnp.asarray(1.0, dx.dtype), jnp.array(False), state.R, state.energy, -state.gradient)
        k, _, _, R, e, f = lax.while_loop(lambda c: ~c[2], trial, start)
        return NewtonState(R, e, -f, state.modes, state.n_force_calls + k, state.n_hessian_calls + 1)

    def terminate(self, potential, state: NewtonState, gtol):
        finite = jnp.isfinite(state.energy)
        done = (_largest(state.gradient) <= gtol) | ~finite
        return done, RESULTS.where(finite, RESULTS.successful, RESULTS.nonfinite_state)

    def postprocess(self, potential, state: NewtonState, gtol, result):
        return state.R, (state.energy, _largest(state.gradient)), result, state


def polish_stationary_point(
    potential: Potential,
    R: Float[Array, "n_atoms dim"],
    *,
    zero_modes_spec: ZeroModeSpec = "auto",
    gtol: float = 1e-8,
    max_iterations: int = 50,
    max_step: float = 0.1,
    throw: bool = False,
) -> StationaryPoint:
    """Newton-Raphson on ``grad E = 0`` with the exact projected Hessian and a line
    search on ``|grad E|^2`` (:class:`NewtonPolish`).

    Converges quadratically to the stationary point (minimum or saddle of any index)
    nearest a good guess, e.g. the result of :func:`jaxrxn.minimize`, a dimer/P-RFO saddle
    or a CI-NEB climbing image. `gtol` (eV/Å) is the largest per-atom gradient accepted;
    each atom moves at most `max_step` Å per iteration. `throw`: raise unless converged.
    """
    R = jnp.asarray(R)
    solver = NewtonPolish(zero_modes_spec, max_step)
    sol = iterative_solve(solver, potential, R, jnp.asarray(gtol, R.dtype), max_steps=max_iterations, throw=throw)
    energy, residual = sol.aux
    return StationaryPoint(
        sol.value, energy, residual, sol.result == RESULTS.successful, sol.stats.num_steps,
        sol.stats.n_force_calls, sol.stats.n_hessian_calls, sol.result,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# implicit differentiation
# ---------------------------------------------------------------------------------------
@jax.custom_jvp
def _nan_tangent_unless(ok, x):
    return x


@_nan_tangent_unless.defjvp
def _nan_tangent_unless_jvp(primals, tangents):
    ok, x = primals
    _, dx = tangents
    # a multiplication (not a select) so that the NaN survives transposition (jax.grad)
    return x, jax.tree_util.tree_map(lambda t: t * jnp.where(ok, 1.0, jnp.nan), dx)


def _stationary_geometry(static: Potential, zero_modes_spec, gtol, max_iterations, params, R_guess):
    # Newton polish finds the point (its iterations are never differentiated); the
    # derivative comes from optimistix's implicit adjoint on grad_R E(R, params) = 0, with
    # lineax's SVD because the Hessian of a free cluster is singular along its rigid-body
    # modes (the minimum-norm solution is the projected one; LU there is wrong by O(1)).
    sp = polish_stationary_point(
        static.replace(params=lax.stop_gradient(params)), lax.stop_gradient(R_guess),
        zero_modes_spec=zero_modes_spec, gtol=gtol, max_iterations=max_iterations,
    )  # fmt: skip

    def gradient(R, p):
        return jax.grad(static.energy_fn)(R, static.system, p) * static.free_mask(R)

    svd = lx.SVD()
    sol = optx.root_find(
        gradient, optx.Newton(rtol=0.0, atol=gtol, linear_solver=svd), sp.R, params,
        max_steps=1, adjoint=optx.ImplicitAdjoint(linear_solver=svd), throw=False,
    )  # fmt: skip
    # the primal is the polished point itself; the tangent is the implicit one
    R = sp.R + (sol.value - lax.stop_gradient(sol.value))
    return _nan_tangent_unless(sp.converged, R), sp.converged


def stationary_point(
    potential: Potential,
    R_guess: Float[Array, "n_atoms dim"],
    *,
    zero_modes_spec: ZeroModeSpec = "auto",
    gtol: float = 1e-8,
    max_iterations: int = 50,
) -> tuple[Float[Array, "n_atoms dim"], Bool[Array, ""]]:
    """The stationary point near ``R_guess`` as a differentiable function of
    ``potential.params``: ``(R*, converged)``.

    ``jax.jacfwd``/``jax.jacrev``/``jax.grad`` of ``R*`` with respect to the params use the
    implicit function theorem (one Hessian solve), never the Newton iterations.
    `zero_modes_spec` names the rigid-body zero modes to project out, as in
    :func:`jaxrxn.saddle.saddle_search`: ``"auto"`` (detected), ``"free"`` (clusters),
    ``"periodic"`` (translations) or ``"none"``; fixed atoms are always excluded.
    """
    static = potential.replace(params=None)
    return _stationary_geometry(static, zero_modes_spec, gtol, max_iterations, potential.params, R_guess)


def stationary_energy(potential: Potential, R_guess, **kwargs) -> tuple[Scalar, Array, Array]:
    """Energy (eV) at the stationary point near ``R_guess``, differentiable in the params by
    the envelope theorem (no linear solve). Returns ``(energy, R*, converged)``; the
    energy's derivatives are NaN if the point did not converge."""
    R, ok = _refined_geometry(potential, R_guess, **kwargs)
    e = potential.energy(R)
    return _nan_tangent_unless(ok, e), R, ok


def _refined_geometry(potential, R_guess, *, zero_modes_spec="auto", gtol=1e-8, max_iterations=50):
    # The envelope theorem makes the geometry's response irrelevant to the energy's
    # derivative, so the geometry is held constant (no Hessian solve in the backward pass).
    sp = polish_stationary_point(
        lax.stop_gradient(potential), lax.stop_gradient(R_guess),
        zero_modes_spec=zero_modes_spec, gtol=gtol, max_iterations=max_iterations,
    )  # fmt: skip
    return lax.stop_gradient(sp.R), sp.converged


def barrier(
    potential: Potential,
    R_minimum: Float[Array, "n_atoms dim"],
    R_saddle: Float[Array, "n_atoms dim"],
    **kwargs,
) -> Scalar:
    """Differentiable barrier ``E(saddle) - E(minimum)`` in eV.

    Both geometries are guesses refined to stationary points by Newton polish (pass a
    converged minimum and a CI-NEB/dimer/P-RFO saddle); the barrier's derivatives with
    respect to ``potential.params`` follow from the envelope theorem and are NaN when
    either refinement did not converge. ``kwargs`` go to :func:`polish_stationary_point`.
    """
    e_ts, _, _ = stationary_energy(potential, R_saddle, **kwargs)
    e_min, _, _ = stationary_energy(potential, R_minimum, **kwargs)
    return e_ts - e_min


# ---------------------------------------------------------------------------------------
# fitting parameters to targets
# ---------------------------------------------------------------------------------------
def _energy_difference(potential, guess, zero_modes_spec):
    """``E(second) - E(first)`` of two refined stationary points, their geometries and
    whether both converged."""
    e1, R1, ok1 = stationary_energy(potential, guess[1], zero_modes_spec=zero_modes_spec)
    e0, R0, ok0 = stationary_energy(potential, guess[0], zero_modes_spec=zero_modes_spec)
    return e1 - e0, (R0, R1), ok0 & ok1


@dataclasses.dataclass(frozen=True)
class BarrierTarget:
    """Target barrier ``E(saddle) - E(minimum)`` (eV); geometries are starting guesses,
    refined (and warm-started between fit steps) by Newton polish."""

    minimum: np.ndarray
    saddle: np.ndarray
    value: float
    weight: float = 1.0
    name: str = "barrier"
    potential: Potential | None = None  # a different system than the fit's potential

    def initial_guess(self):
        return (jnp.asarray(self.minimum), jnp.asarray(self.saddle))

    def evaluate(self, potential, guess, zero_modes_spec):
        return _energy_difference(potential, guess, zero_modes_spec)


@dataclasses.dataclass(frozen=True)
class ReactionEnergyTarget:
    """Target reaction energy ``E(final) - E(initial)`` (eV) between two minima."""

    initial: np.ndarray
    final: np.ndarray
    value: float
    weight: float = 1.0
    name: str = "reaction energy"
    potential: Potential | None = None

    def initial_guess(self):
        return (jnp.asarray(self.initial), jnp.asarray(self.final))

    def evaluate(self, potential, guess, zero_modes_spec):
        return _energy_difference(potential, guess, zero_modes_spec)


@dataclasses.dataclass(frozen=True)
class LatticeConstantTarget:
    """Target equilibrium lattice constant (Å) of ``energy_of_a(a, params) -> eV``.

    The minimum over ``a`` is differentiated implicitly like any stationary point.
    """

    energy_of_a: Callable[[Scalar, PyTree], Scalar]
    a_guess: float
    value: float
    weight: float = 1.0
    name: str = "lattice constant"
    potential: Potential | None = None

    def initial_guess(self):
        return jnp.full((1, 1), self.a_guess)

    def evaluate(self, potential, guess, zero_modes_spec):
        curve = Potential(lambda R, system, p: self.energy_of_a(R[0, 0], p), potential.params)
        R, ok = stationary_point(curve, guess)
        return _nan_tangent_unless(ok, R[0, 0]), R, ok


@dataclasses.dataclass(frozen=True)
class BarrierBatchTarget:
    """Target barriers ``E(saddle_k) - E(minimum_k)`` (eV) of K molecules of different
    sizes under one potential (e.g. a neural-network potential), padded to one atom count
    and refined in one vmapped Newton loop: one compilation for the whole batch, where K
    :class:`BarrierTarget` compile K loops.

    - `systems`: the K padded systems with a leading batch axis, e.g.
      ``jaxrxn.batch.stack_potentials(potentials).system``.
    - `minima`, `saddles`: ``(K, n_pad, dim)`` guesses padded the same way
      (:func:`jaxrxn.batch.pad_positions`).
    - `value`, `weight`: ``(K,)`` targets (eV) and loss weights; `name`: K names.
    """

    systems: System
    minima: np.ndarray
    saddles: np.ndarray
    value: np.ndarray
    weight: np.ndarray | float = 1.0
    name: tuple[str, ...] = ()
    potential: Potential | None = None

    def initial_guess(self):
        return (jnp.asarray(self.minima), jnp.asarray(self.saddles))

    def evaluate(self, potential, guess, zero_modes_spec):
        # minima and saddles as 2K lanes of one vmapped loop (one compilation of the Hessian)
        k = guess[0].shape[0]
        systems = jax.tree_util.tree_map(lambda x: jnp.concatenate([x, x]), self.systems)

        def one(system, R):
            return stationary_energy(potential.replace(system=system), R, zero_modes_spec=zero_modes_spec)

        e, R, ok = jax.vmap(one)(systems, jnp.concatenate(guess))
        return e[k:] - e[:k], (R[:k], R[k:]), ok[:k] & ok[k:]


Target = BarrierTarget | ReactionEnergyTarget | LatticeConstantTarget | BarrierBatchTarget


def _target_rows(t: Target) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A target's values, weights and names as 1D rows (one row per barrier)."""
    value = np.atleast_1d(np.asarray(t.value, float))
    names = (t.name,) if isinstance(t.name, str) else tuple(t.name)
    names = names if len(names) == len(value) else tuple(f"{t.__class__.__name__}[{k}]" for k in range(len(value)))
    return value, np.broadcast_to(np.asarray(t.weight, float), value.shape), names


class FitResult(eqx.Module):
    """Outcome of :func:`fit_to_barriers`.

    - `params`: fitted parameters. `loss_history`: ``(n_steps + 1,)``.
    - `values`, `targets`, `errors`: per target, after the fit (value - target).
    - `initial_values`: per target, before the fit.
    - `converged`: every stationary point converged at the last step.
    - `result`: ``successful`` when every stationary point converged and, with ``tol >
      0``, every error is within `tol`; ``step_cap_reached`` when `n_steps` ran out first;
      ``stationary_point_lost`` when an update moved a target's point out of reach (then
      `params`, `values` and `loss_history` are those of the last step where every point
      converged, and `lost` names the targets that did not).
    """

    params: PyTree
    loss_history: np.ndarray
    initial_values: np.ndarray
    values: np.ndarray
    targets: np.ndarray
    errors: np.ndarray
    names: tuple[str, ...] = eqx.field(static=True)
    converged: bool = eqx.field(static=True)
    result: RESULTS
    lost: tuple[str, ...] = eqx.field(static=True, default=())


def fit_to_barriers(
    potential: Potential,
    targets: Sequence[Target],
    *,
    optimizer: optax.GradientTransformation | None = None,
    n_steps: int = 100,
    zero_modes_spec: ZeroModeSpec = "auto",
    tol: float = 0.0,
    print_every: int | None = 10,
    regularizer: Callable[[PyTree], Scalar] | None = None,
    huber_delta: float | None = None,
) -> FitResult:
    """Fit ``potential.params`` so that the targets (barriers, reaction energies, lattice
    constants) are reproduced, by gradient descent with optax.

    The loss is ``sum_k w_k (value_k - target_k)^2``, plus ``regularizer(params)`` when
    given (e.g. a neural-network potential's energy and force loss on its training data,
    :func:`jaxrxn.nnp.train.nnp_loss`, so that fitting barriers does not unlearn the rest
    of the surface; `loss_history` then includes it). With `huber_delta` (in the targets'
    units, e.g. eV) each squared error becomes twice optax's Huber loss: the same within
    `huber_delta`, linear beyond it, so that one target far off (a saddle the potential
    gets badly wrong) does not dominate the update (P. J. Huber, Ann. Math. Stat. 35, 73
    (1964)). Every step refines each target's
    stationary points by Newton polish starting from the previous step's geometries (warm
    starts), so one step costs a few Newton iterations, and differentiates them implicitly.
    Stops after `n_steps` or when every ``|error| <= tol``. Prints progress every
    `print_every` steps (``None`` for silence). A target whose stationary point stops
    converging after an update ends the fit with ``converged=False`` and
    ``RESULTS.stationary_point_lost``, returning the last parameters at which every point
    converged; one that does not converge with the starting parameters raises
    ``ValueError`` (nothing has been fitted then: the starting geometries are wrong).
    """
    optimizer = optax.adam(1e-2) if optimizer is None else optimizer
    if huber_delta is not None and not huber_delta > 0:
        raise ValueError(f"huber_delta must be positive (or None for squared errors); got {huber_delta}.")
    rows = [_target_rows(t) for t in targets]
    names = tuple(n for _, _, ns in rows for n in ns)
    goal = np.concatenate([v for v, _, _ in rows])
    weights = jnp.asarray(np.concatenate([w for _, w, _ in rows]))

    def values_and_guesses(params, guesses):
        vals, new, oks = [], [], []
        for t, g in zip(targets, guesses):
            pot = (t.potential or potential).replace(params=params)
            v, R, ok = t.evaluate(pot, g, zero_modes_spec)
            vals.append(jnp.atleast_1d(v))
            new.append(R)
            oks.append(jnp.atleast_1d(ok))
        return jnp.concatenate(vals), (new, jnp.concatenate(oks))

    def loss_fn(theta, guesses):
        vals, aux = values_and_guesses(theta, guesses)
        if huber_delta is None:
            loss = jnp.sum(weights * (vals - goal) ** 2)
        else:
            loss = jnp.sum(weights * 2.0 * optax.losses.huber_loss(vals, goal, delta=huber_delta))
        return loss if regularizer is None else loss + regularizer(theta), (vals, aux)

    step_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
    theta = potential.params
    guesses = [jax.tree_util.tree_map(jnp.asarray, t.initial_guess()) for t in targets]
    opt_state = optimizer.init(theta)
    history, initial, t0 = [], None, time.perf_counter()
    for step in range(n_steps + 1):
        (loss, (new_vals, (new_guesses, oks))), grad = step_fn(theta, guesses)
        oks = np.asarray(oks)
        if not oks.all() or not all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(grad)):
            lost = tuple(n for n, ok in zip(names, oks) if not ok) or names
            if step == 0:
                raise ValueError(
                    f"fit targets {list(lost)}: the stationary points do not converge with the "
                    "starting parameters; give geometries closer to this potential's minima and saddles."
                )
            if print_every:
                print(f"fit step {step:4d}  stationary points lost: {list(lost)}; keeping step {step - 1}")
            return FitResult(
                params=last_theta, loss_history=np.array(history), initial_values=initial,
                values=vals, targets=goal, errors=vals - goal, names=names, converged=False,
                result=RESULTS.stationary_point_lost, lost=lost,
            )  # fmt: skip
        vals, guesses = np.asarray(new_vals), new_guesses
        if initial is None:
            initial = vals
        history.append(float(loss))
        if print_every and (step % print_every == 0 or step == n_steps):
            errs = ", ".join(f"{n} {v - g:+.4g}" for n, v, g in zip(names, vals, goal))
            print(f"fit step {step:4d}  loss {float(loss):.4e}  errors: {errs}  ({time.perf_counter() - t0:.1f} s)")
        within = bool(np.all(np.abs(vals - goal) <= tol))
        reached = tol <= 0 or within
        if step == n_steps or within:
            break
        last_theta = theta
        updates, opt_state = optimizer.update(grad, opt_state, theta)
        theta = optax.apply_updates(theta, updates)
    return FitResult(
        params=theta, loss_history=np.array(history), initial_values=initial,
        values=vals, targets=goal, errors=vals - goal, names=names, converged=True,
        result=RESULTS.successful if reached else RESULTS.step_cap_reached,
    )  # fmt: skip

