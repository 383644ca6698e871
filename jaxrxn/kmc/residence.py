"""Residence-time (BKL / n-fold way / Gillespie) kinetic Monte Carlo in ``lax.scan``.

From the current state with escape rates ``k_i`` (1/s) and total ``K = sum_i k_i``, one step

1. picks event ``i`` with probability ``k_i / K`` (``cumsum`` + ``searchsorted``),
2. advances the clock by ``dt = -ln(u) / K`` with ``u`` uniform on (0, 1] (an exponential
   waiting time, not its mean ``1/K`` and never ``1/k_i``),
3. applies event ``i``.

A. B. Bortz, M. H. Kalos & J. L. Lebowitz, J. Comput. Phys. 17, 10 (1975);
D. T. Gillespie, J. Comput. Phys. 22, 403 (1976).

A *model* is any pytree (an :class:`equinox.Module`) with two pure methods

- ``rates(config) -> Float[Array, "n_events"]``: escape rates in 1/s of a fixed-size,
  padded event table, zero for events that are absent in this state;
- ``apply(config, event) -> config``: the configuration after event ``event``.

Because the table has a fixed size nothing recompiles from step to step, and a whole run
is one ``lax.scan`` that ``jax.vmap`` maps over replicas (a batch of :class:`KMCState`).
A state with no event left (``K = 0``) is absorbing: the run stays there, its clock
becomes ``inf`` and ``KMCState.absorbed`` says so.

The random key lives in :class:`KMCState`, so saving the state with
:func:`jaxrxn.checkpoint.save_checkpoint` and loading it back resumes the run exactly.
"""

from __future__ import annotations

from typing import Protocol

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree, Scalar

from jaxrxn.checkpoint import load_checkpoint, save_checkpoint
from jaxrxn.rates import arrhenius_rate


class KMCModel(Protocol):
    """What :func:`kmc_step` needs from a model (see the module docstring)."""

    def rates(self, config: PyTree) -> Float[Array, " n_events"]: ...

    def apply(self, config: PyTree, event: Int[Array, ""]) -> PyTree: ...


class KMCState(eqx.Module):
    """Where a KMC run is: configuration, clock (s), random key and counters."""

    config: PyTree
    time: Float[Array, ""]
    key: PRNGKeyArray
    n_steps: Int[Array, ""]
    absorbed: Bool[Array, ""]


class KMCTrajectory(eqx.Module):
    """One record per step (leading axis ``n_steps``).

    ``time`` is the clock after the step (s); ``config`` the configuration after the step;
    ``event`` the index chosen in the padded table; ``dt`` the waiting time before it (s),
    i.e. the time spent in the previous configuration; ``total_rate`` that state's K (1/s).
    """

    time: Float[Array, " n_steps"]
    config: PyTree
    event: Int[Array, " n_steps"]
    dt: Float[Array, " n_steps"]
    total_rate: Float[Array, " n_steps"]


def init_state(config: PyTree, key: PRNGKeyArray, time: float = 0.0) -> KMCState:
    """A run starting from ``config`` at clock ``time`` (s) with random key ``key``."""
    t = jnp.asarray(time, dtype=jnp.result_type(float))
    return KMCState(config, t, key, jnp.array(0), jnp.array(False))


def select_event(
    key: PRNGKeyArray, rates: Float[Array, " n_events"]
) -> tuple[Int[Array, ""], Float[Array, ""], Float[Array, ""]]:
    """Draw the next event and waiting time from a padded rate table (1/s).

    Returns ``(event, dt, K)``: event ``i`` chosen with probability ``k_i/K``, ``dt =
    -ln(u)/K`` (s) with ``u`` uniform on (0, 1], and the total rate ``K``. Zero-rate
    (padding) entries are never chosen. With ``K = 0``, ``dt = inf``. A negative, NaN or
    infinite rate raises (also inside ``jit``): it would silently bias the event choice.
    """
    k_event, k_time = jax.random.split(key)
    rates = eqx.error_if(
        rates, ~jnp.all((rates >= 0) & (rates < jnp.inf)),
        "KMC rates must be finite and non-negative (1/s); got a negative, NaN or infinite rate.",
    )  # fmt: skip
    cumulative = jnp.cumsum(rates)
    total = cumulative[-1]
    # target in (0, K]: the first index whose cumulative rate reaches it has k_i > 0.
    target = (1.0 - jax.random.uniform(k_event, dtype=rates.dtype)) * total
    event = jnp.clip(jnp.searchsorted(cumulative, target, side="left"), 0, rates.shape[0] - 1)
    u = 1.0 - jax.random.uniform(k_time, dtype=rates.dtype)
    dt = jnp.where(total > 0, -jnp.log(u) / jnp.where(total > 0, total, 1.0), jnp.inf)
    return event, dt, total


def kmc_step(model: KMCModel, state: KMCState) -> tuple[KMCState, KMCTrajectory]:
    """One residence-time step; returns the new state and this step's record."""
    key, sub = jax.random.split(state.key)
    rates = model.rates(state.config)
    event, dt, total = select_event(sub, rates)
    stuck = total <= 0
    moved = model.apply(state.config, event)
    config = jax.tree_util.tree_map(lambda new, old: jnp.where(stuck, old, new), moved, state.config)
    time = state.time + dt
    new = KMCState(config, time, key, state.n_steps + 1, state.absorbed | stuck)
    return new, KMCTrajectory(time, config, event, dt, total)


def run_kmc(model: KMCModel, state: KMCState, n_steps: int) -> tuple[KMCState, KMCTrajectory]:
    """Run ``n_steps`` residence-time steps in one ``lax.scan``.

    Pure and jittable (``n_steps`` static); ``jax.vmap(run_kmc, in_axes=(None, 0, None))``
    runs a batch of replicas. Returns the final state and the per-step
    :class:`KMCTrajectory`.
    """
    return lax.scan(lambda s, _: kmc_step(model, s), state, None, length=n_steps)


# ---------------------------------------------------------------------------------------
# Observables
# ---------------------------------------------------------------------------------------
def positions_at(
    times: Float[Array, " n_steps"],
    positions: Float[Array, "n_steps dim"],
    x0: Float[Array, " dim"],
    t_grid: Float[Array, " n_grid"],
) -> Float[Array, "n_grid dim"]:
    """Position of one KMC trajectory at the clock values ``t_grid`` (s).

    A KMC trajectory is piecewise constant: between events the system sits still. ``times``
    and ``positions`` are the records after each event, ``x0`` the start.
    """
    idx = jnp.searchsorted(times, t_grid, side="right") - 1
    held = positions[jnp.clip(idx, 0, times.shape[0] - 1)]
    return jnp.where((idx >= 0)[:, None], held, x0[None, :])


def mean_squared_displacement(
    times: Float[Array, "n_replicas n_steps"],
    positions: Float[Array, "n_replicas n_steps dim"],
    x0: Float[Array, "n_replicas dim"],
    t_grid: Float[Array, " n_grid"],
) -> Float[Array, " n_grid"]:
    """Replica-averaged ``<|r(t) - r(0)|^2>`` (Å^2) at the clock values ``t_grid`` (s).

    Use ``t_grid`` below the shortest final clock of the replicas; beyond it a replica is
    frozen at its last position and biases the average low.
    """
    at = jax.vmap(positions_at, in_axes=(0, 0, 0, None))(times, positions, x0, t_grid)
    return jnp.mean(jnp.sum((at - x0[:, None, :]) ** 2, axis=-1), axis=0)


def diffusion_coefficient(
    t_grid: Float[Array, " n_grid"], msd: Float[Array, " n_grid"], dim: int
) -> Scalar:
    """Tracer diffusion coefficient from Einstein's relation ``<r^2> = 2 dim D t``.

    Least-squares slope through the origin of ``msd`` (Å^2) against ``t_grid`` (s), divided
    by ``2 dim``; D in Å^2/s (multiply by 1e-16 for cm^2/s).
    """
    return jnp.sum(t_grid * msd) / jnp.sum(t_grid * t_grid) / (2 * dim)


# ---------------------------------------------------------------------------------------
# Network KMC: states of a reaction network, rate matrix k_ij
# ---------------------------------------------------------------------------------------
class NetworkModel(eqx.Module):
    """KMC over the discrete states of a reaction network.

    ``rate_matrix[i, j]`` is the rate (1/s) of the transition ``i -> j`` (zero where there
    is no connection; the diagonal is ignored). The configuration is the integer index of
    the current state and event ``j`` moves the system to state ``j``.
    """

    rate_matrix: Float[Array, "n_states n_states"]

    def rates(self, config: Int[Array, ""]) -> Float[Array, " n_states"]:
        row = self.rate_matrix[config]
        return row.at[config].set(0.0)

    def apply(self, config: Int[Array, ""], event: Int[Array, ""]) -> Int[Array, ""]:
        return event.astype(jnp.asarray(config).dtype)


def network_rate_matrix(
    minimum_energies: Float[Array, " n_states"],
    saddle_energies: Float[Array, "n_states n_states"],
    prefactors: Float[Array, "n_states n_states"] | float,
    temperature: float,
) -> Float[Array, "n_states n_states"]:
    """Harmonic-TST rate matrix ``k_ij = nu_ij exp(-(E‡_ij - E_i) / kT)`` in 1/s.

    ``minimum_energies`` (eV) of the states, ``saddle_energies[i, j]`` (eV) of the lowest
    saddle between ``i`` and ``j`` (``inf`` where none is known), ``prefactors`` (1/s),
    ``temperature`` (K). With a symmetric saddle table and prefactors the rates obey
    detailed balance with respect to ``exp(-E_i/kT)``.
    """
    barriers = saddle_energies - minimum_energies[:, None]
    k = arrhenius_rate(barriers, prefactors, temperature)
    k = jnp.where(jnp.isfinite(saddle_energies), k, 0.0)
    return k * (1.0 - jnp.eye(k.shape[0], dtype=k.dtype))


def state_occupancy(
    config0: Int[Array, ""], trajectory: KMCTrajectory, n_states: int
) -> Float[Array, " n_states"]:
    """Fraction of the clock spent in each network state along one trajectory."""
    before = jnp.concatenate([jnp.asarray(config0)[None], trajectory.config[:-1]])
    spent = jax.ops.segment_sum(trajectory.dt, before, num_segments=n_states)
    return spent / jnp.sum(trajectory.dt)


def save_state(path, state: KMCState) -> None:
    """Checkpoint a (possibly batched) :class:`KMCState`, PRNG key included."""
    save_checkpoint(path, state)


def load_state(path, like: KMCState) -> KMCState:
    """Load a state saved by :func:`save_state`; ``like`` gives its structure."""
    return load_checkpoint(path, like)
