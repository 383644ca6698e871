"""Molecular dynamics (velocity Verlet NVE and BAOAB Langevin) with transition detection.

Units are ASE's: positions in Å, energies in eV, masses in amu, temperatures in K, and
time steps and frictions given in fs and 1/fs. Internally time is in ASE's unit
Å·sqrt(amu/eV) (:data:`jaxrxn.units.FS` = 0.0982 of it per fs), so ``F / m`` in eV/(Å·amu) is an
acceleration in that unit and velocities are in Å per ASE time unit, exactly as
``atoms.get_velocities()`` reports them.

Fixed atoms (the potential's ``fixed`` mask) never move: their velocities, forces and noise
are zeroed. Masses come from ``potential.masses`` (1 amu when absent).

Transition detection (:func:`md_until_transition`) is the scheme of parallel-replica and
temperature-accelerated dynamics (A. F. Voter, PRB 57, R13985 (1998)): every ``t_event`` MD
steps a *copy* of the configuration is quenched and compared with the basin minimum; the
trajectory itself is never disturbed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, Scalar

from jaxrxn._results import RESULTS, finite_result
from jaxrxn.geometry import align
from jaxrxn._iterate import MAX_REALLOCATIONS
from jaxrxn.neighbors import OVERFLOW_MESSAGE, NeighborList, enlarge
from jaxrxn.optimize import StepRule, minimize, step_rule
from jaxrxn.potentials.core import Potential
from jaxrxn.units import FS, KB
from jaxrxn.validation import check_configuration

#: ``bias(R, t)``: an extra, possibly time-dependent energy (eV) of ``R`` (Å) at time ``t`` (fs),
#: e.g. a NanoReactor wall. Its gradient is added to the potential's forces.
Bias = Callable[[Float[Array, "n_atoms dim"], Scalar], Scalar]


class MDState(eqx.Module):
    """One point of an MD trajectory.

    - `R`: positions ``(n_atoms, dim)``, Å. `V`: velocities, Å per ASE time unit.
    - `F`: total forces at `R` (potential plus bias), eV/Å. `energy`: potential plus bias, eV.
    - `key`: PRNG key of the thermostat (a raw ``uint32`` key, so checkpoints are plain arrays).
    - `step`: number of steps taken.
    - `neighbors`: the potential's neighbour list, updated at `R` (``None`` for a potential
      without one); carried so that it is rebuilt only when an atom moved half its skin.
    """

    R: Float[Array, "n_atoms dim"]
    V: Float[Array, "n_atoms dim"]
    F: Float[Array, "n_atoms dim"]
    energy: Scalar
    key: PRNGKeyArray
    step: Int[Array, ""]
    neighbors: NeighborList | None = None


def total_energy_and_forces(potential: Potential, bias: Bias | None = None):
    """``f(R, t, neighbors=None) -> (E, F)``: the potential plus an optional bias (eV,
    eV/Å), fixed atoms zeroed. With `neighbors` (the potential's list, already updated at
    `R`) an overflow is left to the caller instead of raising."""

    def fn(R, t, neighbors=None):
        if neighbors is None:
            e, F = potential.energy_and_forces(R)
        else:
            e, F = potential.replace(neighbors=neighbors)._energy_and_forces(R, check=False, update=False)
        if bias is not None:
            eb, gb = jax.value_and_grad(bias)(R, t)
            e, F = e + eb, F - gb * potential.free_mask(R)
        return e, F

    return fn


def kinetic_energy(V: Float[Array, "n_atoms dim"], masses: Float[Array, " n_atoms"]) -> Scalar:
    """Kinetic energy (eV) of velocities in Å per ASE time unit."""
    return 0.5 * jnp.sum(masses[:, None] * V**2)


def temperature(V: Float[Array, "n_atoms dim"], masses: Float[Array, " n_atoms"], n_dof: int | None = None) -> Scalar:
    """Instantaneous temperature (K), ``2 K / (n_dof kB)``; `n_dof` defaults to all coordinates."""
    n_dof = V.size if n_dof is None else n_dof
    return 2.0 * kinetic_energy(V, masses) / (n_dof * KB)


class _Integrator(eqx.Module):
    def init(
        self,
        potential: Potential,
        R: Float[Array, "n_atoms dim"],
        key: PRNGKeyArray,
        *,
        temperature: float | None = None,
        bias: Bias | None = None,
    ) -> MDState:
        """Start at `R` with Maxwell-Boltzmann velocities at `temperature` (K; the
        thermostat's by default, 0 gives zero velocities). `key` is a raw ``uint32`` key."""
        check_configuration(R, name="R")
        T = getattr(self, "temperature", 0.0) if temperature is None else temperature
        key, sub = jax.random.split(key)
        m = potential.atom_masses(R)
        free = potential.free_mask(R)
        V = jax.random.normal(sub, R.shape, R.dtype) * jnp.sqrt(KB * T / m)[:, None] * free
        neighbors = potential._neighbors_at(R)
        e, F = total_energy_and_forces(potential, bias)(R, jnp.zeros((), R.dtype), neighbors)
        return MDState(R, V, F, e, key, jnp.array(0), neighbors)


def _forces_at(potential: Potential, bias, state: MDState, R, t):
    """Energy, forces and the carried list (updated) at the new positions `R`."""
    neighbors = None
    if state.neighbors is not None:
        neighbors = potential.replace(neighbors=state.neighbors)._neighbors_at(R)
    e, F = total_energy_and_forces(potential, bias)(R, t, neighbors)
    return e, F, neighbors


class VelocityVerlet(_Integrator):
    """Microcanonical (NVE) velocity Verlet; `dt` in fs.

    L. Verlet, Phys. Rev. 159, 98 (1967); W. C. Swope et al., JCP 76, 637 (1982).
    """

    dt: float = 1.0

    def step(self, potential: Potential, state: MDState, bias: Bias | None = None) -> MDState:
        """One step of `dt` fs; the bias is evaluated at the step's end time."""
        h = self.dt * FS
        m = potential.atom_masses(state.R)[:, None]
        free = potential.free_mask(state.R)
        V = state.V + 0.5 * h * state.F / m
        R = state.R + h * V * free
        e, F, neighbors = _forces_at(potential, bias, state, R, (state.step + 1) * self.dt)
        V = (V + 0.5 * h * F / m) * free
        return MDState(R, V, F, e, state.key, state.step + 1, neighbors)


class Langevin(_Integrator):
    """Langevin dynamics with the BAOAB splitting of Leimkuhler & Matthews, AMRX 2013, 34.

    - `dt`: time step, fs. `temperature`: K. `friction`: gamma, 1/fs (ASE's ``Langevin``
      takes the same number as ``friction`` in 1/fs after multiplying by ``1/units.fs``).

    BAOAB samples configurations with O(dt^2) accuracy at any friction and, with the
    Ornstein-Uhlenbeck step solved exactly, is stable for large `friction`.
    """

    dt: float = 1.0
    temperature: float = 300.0
    friction: float = 0.01

    def step(self, potential: Potential, state: MDState, bias: Bias | None = None) -> MDState:
        """One step of `dt` fs, drawing the noise from ``state.key``."""
        h = self.dt * FS
        m = potential.atom_masses(state.R)[:, None]
        free = potential.free_mask(state.R)
        key, sub = jax.random.split(state.key)
        c1 = jnp.exp(-self.friction * self.dt)
        c2 = jnp.sqrt((1.0 - c1**2) * KB * self.temperature / m)
        V = state.V + 0.5 * h * state.F / m  # B
        R = state.R + 0.5 * h * V * free  # A
        V = c1 * V + c2 * jax.random.normal(sub, V.shape, V.dtype)  # O
        R = R + 0.5 * h * V * free  # A
        e, F, neighbors = _forces_at(potential, bias, state, R, (state.step + 1) * self.dt)
        V = (V + 0.5 * h * F / m) * free  # B
        return MDState(R, V, F, e, key, state.step + 1, neighbors)


Integrator = VelocityVerlet | Langevin


def run_md(
    potential: Potential,
    integrator: Integrator,
    state: MDState,
    n_steps: int,
    *,
    bias: Bias | None = None,
    save_every: int | None = None,
) -> tuple[MDState, MDState | None]:
    """Advance `state` by `n_steps` steps in ``lax.scan``.

    Returns ``(final_state, frames)``; with `save_every` the frames are the states after
    every `save_every` steps (leading axis ``n_steps // save_every``), else ``None``.

    A carried neighbour list (``state.neighbors``) that overflows stops the run at the last
    step whose list fit. Called outside jit, the list is then widened
    (:func:`jaxrxn.neighbors.enlarge`) and the run continues from that step (with
    `save_every`: runs again from `state`), up to :data:`jaxrxn._iterate.MAX_REALLOCATIONS`
    times: the trajectory equals one with a large enough list. Under jit the overflow
    raises.
    """
    return _run_resuming(potential, integrator, state, n_steps, bias, save_every, MAX_REALLOCATIONS)


def _run_resuming(potential, integrator, state, n_steps, bias, save_every, tries: int):
    concrete = state.neighbors is not None and not _traced((potential, state))
    if concrete and bool(state.neighbors.overflow):  # the forces of `state` came from it too
        state = enlarge(state, potential.system)
        e, F = total_energy_and_forces(potential, bias)(state.R, state.step * integrator.dt, state.neighbors)
        state = eqx.tree_at(lambda s: (s.F, s.energy), state, (F, e))
    final, frames, stopped = _run_md(potential, integrator, state, n_steps, bias, save_every)
    if state.neighbors is None:
        return final, frames
    if tries == 0 or not concrete or not bool(stopped):
        return eqx.error_if((final, frames), stopped | jnp.any(final.neighbors.overflow), OVERFLOW_MESSAGE)
    again = functools.partial(_run_resuming, potential, integrator, bias=bias, save_every=save_every, tries=tries - 1)
    if save_every is not None:  # frames: run again from the start, with room for where it stopped
        return again(enlarge((state, final), potential.system)[0], n_steps)
    final = enlarge(final, potential.system)
    return again(final, n_steps - int(final.step - state.step))


def _traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


@eqx.filter_jit
def _run_md(potential, integrator, state, n_steps: int, bias, save_every: int | None):
    """``(final, frames, stopped)``; with a carried list, a step whose list overflowed is
    undone and every later step skipped (`stopped`)."""
    if state.neighbors is None:

        def advance(carry, _):
            return (integrator.step(potential, carry[0], bias), carry[1]), None

    else:

        def advance(carry, _):
            def go(st):
                new = integrator.step(potential, st, bias)
                overflow = jnp.any(new.neighbors.overflow)
                return lax.cond(overflow, lambda: st, lambda: new), overflow

            return lax.cond(carry[1], lambda st: (st, jnp.array(True)), go, carry[0]), None

    start = (state, jnp.array(False))
    if save_every is None:
        final, stopped = lax.scan(advance, start, None, length=n_steps)[0]
        return final, None, stopped

    def block(carry, _):
        carry = lax.scan(advance, carry, None, length=save_every)[0]
        return carry, carry[0]

    (final, stopped), frames = lax.scan(block, start, None, length=n_steps // save_every)
    return final, frames, stopped


# ---------------------------------------------------------------------------------------
# basin comparison
# ---------------------------------------------------------------------------------------
class MaxDisplacement(eqx.Module):
    """Two minima are the same basin if no atom moved more than `threshold` Å.

    With `align=True` the new minimum is first rigidly aligned (Kabsch) onto the reference,
    for free clusters whose thermostat makes them drift and rotate. This is LAMMPS's
    ``compute event/displace`` criterion (1.0 Å in its Si example).

    The threshold must be below the largest atomic displacement between the basin's
    minimum and its closest neighbouring minimum, or escapes there go unseen: on 2D LJ7
    the C1 minimum is only 0.46 Å from the hexagon, so 0.2 Å is used there.
    """

    threshold: float = 1.0
    align: bool = False

    def distance(self, R_ref: Array, R_new: Array) -> Scalar:
        """Largest atomic displacement (Å)."""
        if self.align:
            R_new = align(R_new, R_ref)
        return jnp.sqrt(jnp.max(jnp.sum((R_new - R_ref) ** 2, axis=-1)))

    def __call__(self, R_ref: Array, R_new: Array) -> Bool[Array, ""]:
        return self.distance(R_ref, R_new) <= self.threshold


class Quench(eqx.Module):
    """How a copy is relaxed to identify its basin: optimizer, `fmax` (eV/Å), `max_steps`."""

    optimizer: StepRule = eqx.field(default_factory=lambda: step_rule("fire"))
    fmax: float = 0.01
    max_steps: int = 500

    def __call__(self, potential: Potential, R: Array):
        return minimize(potential, R, self.optimizer, fmax=self.fmax, max_steps=self.max_steps)


class TransitionResult(eqx.Module):
    """Outcome of :func:`md_until_transition`.

    - `state`: MD state at the end (at the first check that found a new basin, if any).
    - `last_in_basin`: MD state at the last check that was still in the basin.
    - `transitioned`: whether the system left the basin.
    - `step`: MD steps taken when the transition was detected (or the total, if none); the
      transition happened in the `t_event` steps before it.
    - `R_new`, `E_new`: the quenched new minimum (Å, eV); the basin minimum if none.
    - `n_quenches`, `n_force_calls`: work counters.
    - `result`: ``successful`` when a transition was found, ``step_cap_reached`` when
      `max_steps` ran out first, ``nonfinite_state`` when the trajectory blew up.
    """

    state: MDState
    last_in_basin: MDState
    transitioned: Bool[Array, ""]
    step: Int[Array, ""]
    R_new: Float[Array, "n_atoms dim"]
    E_new: Scalar
    n_quenches: Int[Array, ""]
    n_force_calls: Int[Array, ""]
    result: RESULTS


def md_until_transition(
    potential: Potential,
    integrator: Integrator,
    state: MDState,
    R_basin: Float[Array, "n_atoms dim"],
    *,
    t_event: int = 50,
    max_steps: int = 100_000,
    same_basin: Callable[[Array, Array], Bool[Array, ""]] = MaxDisplacement(),
    quench: Quench = Quench(),
    bias: Bias | None = None,
) -> TransitionResult:
    """Run MD until a quenched copy lands outside the basin of `R_basin` (or `max_steps`).

    Every `t_event` steps a copy of the configuration is quenched and compared with
    `R_basin` by `same_basin(R_basin, R_quenched)` (default :class:`MaxDisplacement`, or a
    bond-graph criterion from :mod:`jaxrxn.dynamics.bonds`). Jittable and vmappable over
    `state` (replicas).
    """

    def cond(c):
        st, _, moved, *_ = c
        return (~moved) & (st.step - state.step < max_steps)

    def body(c):
        st, last, _, _, _, nq, nf = c
        st = run_md(potential, integrator, st, t_event, bias=bias)[0]
        q = quench(potential, st.R)
        moved = ~same_basin(R_basin, q.R)
        last = jax.tree.map(lambda a, b: jnp.where(moved, a, b), last, st)
        return st, last, moved, q.R, q.energy, nq + 1, nf + q.n_force_calls + t_event

    e0 = potential.energy(R_basin)
    init = (state, state, jnp.array(False), R_basin, e0, jnp.array(0), jnp.array(0))
    st, last, moved, R_new, E_new, nq, nf = lax.while_loop(cond, body, init)
    R_new = jnp.where(moved, R_new, R_basin)
    E_new = jnp.where(moved, E_new, e0)
    result = RESULTS.where(moved, RESULTS.successful, RESULTS.step_cap_reached)
    result = finite_result(result, st.R, R_new, E_new)
    return TransitionResult(st, last, moved, st.step - state.step, R_new, E_new, nq, nf, result)
