"""Temperature-accelerated dynamics (TAD).

M. R. Sørensen & A. F. Voter, JCP 112, 9599 (2000); the known-minimum-barrier stop and
pooled revisits of F. Montalenti & A. F. Voter, JCP 116, 4819 (2002); the dephasing of
D. Aristoff & T. Lelièvre, Multiscale Model. Simul. 12, 290 (2014).

MD runs at a high temperature ``T_hi`` inside the basin of the current minimum. Each escape
found by a quench is recorded with its barrier ``Ea`` and reflected (the last in-basin state
is restored with reversed velocities), and its high-temperature time ``t_hi`` since the
basin was entered is extrapolated to the low temperature,

    dt_lo = t_hi exp[Ea (1/kB T_lo - 1/kB T_hi)].

The basin is left through the event with the shortest ``dt_lo`` once the high-temperature
time exceeds the stop time

    t_stop = (ln(1/delta)/nu_min) (nu_min dt_lo_short / ln(1/delta))^(T_lo/T_hi),

after which, with probability at least ``1 - delta``, no event with a shorter ``dt_lo`` can
still appear. With a known lowest barrier ``E_min`` the run may also stop at
``dt_lo_short exp[-E_min (1/kB T_lo - 1/kB T_hi)]``, whichever comes first.

The bookkeeping is that of LAMMPS's ``tad`` command (``src/REPLICA/tad.cpp``): times from
basin entry, not from the last event; the forward barrier of each event.

Assumptions (as in the papers): harmonic transition-state theory holds at both temperatures,
prefactors do not depend on temperature and are all at least ``nu_min``, and ``T_hi`` is low
enough that the system neither melts nor reaches anharmonic channels that are closed at
``T_lo``. The probability of executing the wrong first event is at most ``delta``.

Pieces:

- pure bookkeeping (:func:`delta_beta`, :func:`extrapolate_time`, :func:`stop_time`,
  :class:`TADBook`, :func:`record_event`) that can be fed a recorded event sequence;
- :func:`tad_basin`: one jittable, vmappable escape from one basin (parallel replicas are
  ``jax.vmap`` over its MD state);
- :class:`NEBBarrier`: the default barrier of a detected event, climbing-image NEB from
  the basin minimum to the quenched product (as LAMMPS's ``tad``);
- :func:`run_tad`: the driver over states, with revisit pooling, checkpoints after each
  accepted event that resume bit for bit (the PRNG key lives in the state), and progress
  output.

Time is in fs throughout (``nu_min`` in 1/fs: 1e12 /s is 1e-3 /fs), energies in eV,
temperatures in K.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, Scalar

from jaxrxn._results import RESULTS
from jaxrxn.checkpoint import load_checkpoint, save_checkpoint
from jaxrxn.dynamics.md import Langevin, MaxDisplacement, MDState, Quench, run_md
from jaxrxn.geometry import align
from jaxrxn.path.interpolation import interpolate
from jaxrxn.path.elastic_band import NEB, NEBResult, neb
from jaxrxn.potentials.core import Potential
from jaxrxn.units import KB
from jaxrxn.validation import check_configuration

#: ``barrier_fn(R_min, E_min, R_new, E_new) -> Ea``: forward barrier (eV) from the basin
#: minimum ``R_min`` (Å, energy eV) to the new minimum ``R_new``. Must be jittable.
#: :class:`NEBBarrier` is the default.
BarrierFn = Callable[[Array, Scalar, Array, Scalar], Scalar]


def _translation_invariant(potential: Potential, R: Array) -> Array:
    """Whether moving every atom by the same 0.1 Å leaves the energy unchanged (to
    sqrt(machine epsilon), relative): true for a free cluster, false on a model surface."""
    shift = jnp.full_like(R, 0.1 / jnp.sqrt(R.shape[-1]))
    e0, e1 = potential.energy(R), potential.energy(R + shift)
    return jnp.abs(e1 - e0) <= jnp.sqrt(jnp.finfo(R.dtype).eps) * (1.0 + jnp.abs(e0))


class NEBBarrier(eqx.Module):
    """The default TAD barrier: climbing-image NEB from the basin minimum to the quenched product.

    As LAMMPS's ``tad`` does (``neb->ebf``, the forward barrier; rare_events.md §2.1), the
    barrier of an event is the highest energy on a CI-NEB band between the two minima,
    minus the basin energy (G. Henkelman, B. P. Uberuaga & H. Jónsson, JCP 113, 9901
    (2000)); here it is also at least the endothermicity ``E_new - E_min``.

    - `potential`: the surface (the same as the MD's).
    - `n_images`: band images, end points included. `interpolation`: ``"idpp"`` or
      ``"linear"`` initial band (:func:`jaxrxn.path.interpolate`).
    - `solver`, `fmax` (eV/Å), `max_steps`: the NEB run (:func:`jaxrxn.path.neb`).
    - `align`: first rigidly align the product onto the basin minimum (Kabsch). A free
      cluster drifts and rotates under the thermostat, and a band between unaligned ends
      relaxes to wrong barriers (on 2D LJ7, 1.03 and 1.06 eps instead of 1.4975 and
      1.4946 in two of three TAD visits). ``None`` (default) aligns when the potential's
      system has no fixed atoms and no cell and the energy is unchanged by a rigid
      translation of `R_min` (a free cluster; one energy call decides, inside ``jit``):
      a particle on a model surface is not aligned, since aligning one particle puts it
      onto the minimum. The band is minimum-image in the potential's periodic cell.

    - `throw`: a band that ends unconverged (``max_steps`` reached, NaN) raises inside
      ``jit`` with the band's :class:`jaxrxn.RESULTS` message instead of feeding an
      approximate barrier into the time extrapolation, where an error of ``dE`` changes the
      low-temperature time by ``exp(dE (1/kT_lo - 1/kT_hi))``. With ``throw=False`` the
      highest image of the unconverged band is used as is (check with :meth:`band`).
    Jittable; under ``jax.vmap`` over replicas the NEB runs after
    every quench (a batched ``lax.cond`` evaluates both branches), so pass a cheaper
    ``barrier_fn`` for large replica batches on a known catalogue.
    """

    potential: Potential
    n_images: int = eqx.field(static=True, default=7)
    solver: NEB = NEB(k=0.5, climb=True)
    fmax: float = 0.01
    max_steps: int = 1000
    interpolation: str = eqx.field(static=True, default="idpp")
    align: bool | None = eqx.field(static=True, default=None)
    throw: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if self.interpolation not in ("idpp", "linear"):
            raise ValueError(f"NEBBarrier interpolation must be 'idpp' or 'linear'; got {self.interpolation!r}.")
        if self.n_images < 3:
            raise ValueError(f"NEBBarrier needs at least 3 images (one interior); got {self.n_images}.")

    def band(self, R_min: Array, R_new: Array) -> NEBResult:
        """The relaxed CI-NEB band from `R_min` to `R_new` (Å)."""
        periodic = self.potential.system is not None and self.potential.system.cell is not None
        if self.align is None and self.potential.fixed is None and not periodic:
            R_new = jnp.where(_translation_invariant(self.potential, R_min), align(R_new, R_min), R_new)
        elif self.align:
            R_new = align(R_new, R_min)
        path0 = interpolate(R_min, R_new, self.n_images, self.interpolation, system=self.potential.system)
        return neb(self.potential, path0, self.solver, fmax=self.fmax, max_steps=self.max_steps)

    def __call__(self, R_min: Array, E_min: Scalar, R_new: Array, E_new: Scalar) -> Scalar:
        """Forward barrier (eV) from `R_min` (energy `E_min`) to `R_new` (energy `E_new`)."""
        res = self.band(R_min, R_new)
        Ea = jnp.maximum(jnp.max(res.energies) - E_min, E_new - E_min)
        if self.throw:
            Ea = res.result.error_if(Ea, res.result != RESULTS.successful)
        return Ea


# ---------------------------------------------------------------------------------------
# parameters and pure bookkeeping
# ---------------------------------------------------------------------------------------
class TAD(eqx.Module):
    """Hyperparameters of temperature-accelerated dynamics.

    - `T_lo`, `T_hi`: the temperature of interest and the accelerated one, K.
    - `delta`: allowed probability of executing the wrong first event (0.05 in the LAMMPS
      example; 0.001-0.05 in papers).
    - `nu_min`: smallest prefactor of any escape, 1/fs (LAMMPS's ``tmax`` = 1/nu_min).
    - `E_min`: known lowest barrier out of every state, eV (Montalenti & Voter 2002), or
      ``None``.
    - `dt`: MD time step, fs. `friction`: Langevin friction at ``T_hi``, 1/fs.
    - `t_event`: MD steps between quenches (well under the mean escape time at ``T_hi``).
    - `dephase_steps`: MD steps run after entering a basin before the clock starts (with
      reflection, not counted), to reach the quasi-stationary distribution.
    - `max_steps`: cap on the high-temperature MD steps spent in one visit of a basin.
    - `same_basin`: basin criterion (default 1 Å largest displacement, as in LAMMPS's Si
      example). `quench`: how copies are relaxed.
    - `n_keep`: events kept per state, ordered by ``dt_lo`` (pooled revisits draw on them).
    - `kB`: Boltzmann constant, eV/K (:data:`jaxrxn.units.KB`; LAMMPS uses 8.617343e-5).
    """

    T_lo: float
    T_hi: float
    delta: float = 0.05
    nu_min: float = 1e-3
    E_min: float | None = None
    dt: float = 1.0
    friction: float = 0.01
    t_event: int = eqx.field(static=True, default=50)
    dephase_steps: int = eqx.field(static=True, default=0)
    max_steps: int = eqx.field(static=True, default=1_000_000)
    same_basin: Callable = MaxDisplacement()
    quench: Quench = Quench()
    n_keep: int = eqx.field(static=True, default=8)
    kB: float = KB

    def __check_init__(self):
        if not self.T_hi > self.T_lo > 0:
            raise ValueError(f"TAD needs T_hi > T_lo > 0 K; got T_lo={self.T_lo}, T_hi={self.T_hi}.")
        if not 0 < self.delta < 1:
            raise ValueError(f"TAD `delta` must lie in (0, 1); got {self.delta}.")
        if not self.nu_min > 0:
            raise ValueError(f"TAD `nu_min` must be positive (1/fs); got {self.nu_min}.")

    @property
    def integrator(self) -> Langevin:
        return Langevin(self.dt, self.T_hi, self.friction)


def delta_beta(tad: TAD) -> Scalar:
    """``1/kB T_lo - 1/kB T_hi`` in 1/eV."""
    return 1.0 / (tad.kB * tad.T_lo) - 1.0 / (tad.kB * tad.T_hi)


def extrapolate_time(tad: TAD, t_hi, Ea):
    """Low-temperature time of an event found after `t_hi` (any time unit) with barrier `Ea` (eV)."""
    return t_hi * jnp.exp(Ea * delta_beta(tad))


def stop_time(tad: TAD, dt_lo_short):
    """High-temperature time (fs) after which the shortest `dt_lo_short` (fs) is final."""
    conf = jnp.log(1.0 / tad.delta) / tad.nu_min
    t = conf * (dt_lo_short / conf) ** (tad.T_lo / tad.T_hi)
    if tad.E_min is not None:
        t = jnp.minimum(t, dt_lo_short * jnp.exp(-tad.E_min * delta_beta(tad)))
    return t


class TADBook(eqx.Module):
    """The bookkeeping of one state, a pytree of fixed shapes.

    - `t_hi`: high-temperature time spent in the state (fs), pooled over visits.
    - `t_lo_offset`: ``dt_lo`` of the last event executed from this state (0 on the first
      visit); only later events are candidates (the extrapolated events form one Poisson
      process per pathway, so successive visits take successive arrivals).
    - `dt_lo`, `Ea`, `t_event`, `R_new`, `E_new`, `entry`: the `n_keep` kept events (fs,
      eV, fs, Å, eV, and the MD state right after the transition); empty slots have
      ``dt_lo = inf``.
    - `n_events`: events detected in this state.
    """

    t_hi: Scalar
    t_lo_offset: Scalar
    dt_lo: Float[Array, " n_keep"]
    Ea: Float[Array, " n_keep"]
    t_event: Float[Array, " n_keep"]
    R_new: Float[Array, "n_keep n_atoms dim"]
    E_new: Float[Array, " n_keep"]
    entry: MDState
    n_events: Int[Array, ""]


def empty_book(tad: TAD, state: MDState) -> TADBook:
    """A fresh book for a state whose MD states look like `state`."""
    dtype = state.R.dtype
    k = tad.n_keep
    full = lambda v: jnp.full((k,), v, dtype)  # noqa: E731
    entry = jax.tree.map(lambda x: jnp.zeros((k,) + jnp.shape(x), jnp.asarray(x).dtype), state)
    zero = jnp.zeros((), dtype)
    return TADBook(
        zero, zero, full(jnp.inf), full(jnp.nan), full(jnp.nan),
        jnp.zeros((k,) + state.R.shape, dtype), full(jnp.nan), entry, jnp.array(0),
    )  # fmt: skip


def best_event(book: TADBook) -> tuple[Int[Array, ""], Scalar]:
    """Index and ``dt_lo`` (fs) of the earliest candidate event (``inf`` if none)."""
    dt = jnp.where(book.dt_lo > book.t_lo_offset, book.dt_lo, jnp.inf)
    i = jnp.argmin(dt)
    return i, dt[i]


def book_stop_time(tad: TAD, book: TADBook) -> Scalar:
    """Stop time (fs of high-temperature time in the state); ``inf`` before any event."""
    return stop_time(tad, best_event(book)[1])


def is_confident(tad: TAD, book: TADBook) -> Bool[Array, ""]:
    """Whether the high-temperature time has passed the stop time."""
    return book.t_hi > book_stop_time(tad, book)


def record_event(
    tad: TAD,
    book: TADBook,
    Ea,
    R_new=None,
    E_new=None,
    entry: MDState | None = None,
    detected=True,
) -> TADBook:
    """Record an event found at the book's current ``t_hi`` with barrier `Ea` (eV).

    Pure and jittable; `detected=False` leaves the book unchanged (for use under ``where``).
    The event replaces the kept event with the largest ``dt_lo`` if it is earlier.
    """
    dt_lo = extrapolate_time(tad, book.t_hi, Ea)
    slot = jnp.argmax(book.dt_lo)
    keep = detected & (dt_lo > book.t_lo_offset) & (dt_lo < book.dt_lo[slot])

    def put(buf, value):
        if value is None:
            return buf
        return jnp.where(keep, buf.at[slot].set(value), buf)

    return TADBook(
        book.t_hi,
        book.t_lo_offset,
        put(book.dt_lo, dt_lo),
        put(book.Ea, Ea),
        put(book.t_event, book.t_hi),
        put(book.R_new, R_new),
        put(book.E_new, E_new),
        book.entry if entry is None else jax.tree.map(put, book.entry, entry),
        book.n_events + jnp.asarray(detected, int),
    )


def advance_book(book: TADBook, dt_hi) -> TADBook:
    """The book after `dt_hi` fs more of high-temperature MD in the state."""
    return eqx.tree_at(lambda b: b.t_hi, book, book.t_hi + dt_hi)


# ---------------------------------------------------------------------------------------
# one basin
# ---------------------------------------------------------------------------------------
class BasinResult(eqx.Module):
    """Outcome of :func:`tad_basin`.

    - `book`: the state's bookkeeping after the visit (pass it back on a pooled revisit).
    - `state`: the MD state at the end of the visit (still in the basin).
    - `accepted`: an event was executed (the stop time was reached with an event in hand).
    - `index`: slot of the executed event in the book.
    - `dt_lo`: low-temperature time spent in the state on this visit, fs.
    - `Ea`, `t_event`: its barrier (eV) and the high-temperature time it was found at (fs).
    - `R_new`, `E_new`: the minimum it leads to (Å, eV). `entry`: MD state to continue from.
    - `n_md_steps`, `n_quenches`: work done in this visit.
    - `result`: ``successful`` when an event was executed, ``step_cap_reached`` when the
      visit ran out of `max_steps` first.
    """

    book: TADBook
    state: MDState
    accepted: Bool[Array, ""]
    index: Int[Array, ""]
    dt_lo: Scalar
    Ea: Scalar
    t_event: Scalar
    R_new: Float[Array, "n_atoms dim"]
    E_new: Scalar
    entry: MDState
    n_md_steps: Int[Array, ""]
    n_quenches: Int[Array, ""]
    result: RESULTS


def _reflect(last: MDState, now: MDState) -> MDState:
    # Restore the last in-basin state with reversed velocities but keep the advanced key
    # (fresh noise) and step counter, as LAMMPS's revert() does with x, v and image flags.
    return MDState(last.R, -last.V, last.F, last.energy, now.key, now.step, last.neighbors)


def _select(pred, a, b):
    return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


def tad_basin(
    potential: Potential,
    tad: TAD,
    R_basin: Float[Array, "n_atoms dim"],
    state: MDState,
    barrier_fn: BarrierFn | None = None,
    book: TADBook | None = None,
) -> BasinResult:
    """One TAD visit of the basin of `R_basin`, starting from the MD `state`.

    Runs Langevin MD at ``T_hi`` in blocks of ``t_event`` steps, quenching a copy after each;
    an escape is recorded with ``barrier_fn`` (default ``NEBBarrier(potential)``, CI-NEB
    from `R_basin` to the quenched product) and reflected. Stops when the high-temperature
    time passes the stop time (``accepted``) or after ``tad.max_steps`` steps. Jittable;
    ``jax.vmap`` over `state` runs independent replicas (a batched ``lax.cond`` evaluates
    both branches, so under vmap the barrier function runs after every quench).
    """
    check_configuration(R_basin, name="R_basin")
    barrier_fn = NEBBarrier(potential) if barrier_fn is None else barrier_fn
    integrator = tad.integrator
    E_basin = potential.energy(R_basin)
    book = empty_book(tad, state) if book is None else book

    def block(st):
        st = run_md(potential, integrator, st, tad.t_event)[0]
        q = tad.quench(potential, st.R)
        return st, q, ~tad.same_basin(R_basin, q.R)

    # dephasing: uncounted MD with reflection
    def dephase_body(c):
        st, last, n = c
        st, _, moved = block(st)
        st = _select(moved, _reflect(last, st), st)
        return st, _select(moved, last, st), n + 1

    n_dephase = -(-tad.dephase_steps // tad.t_event)
    st, _, _ = lax.while_loop(lambda c: c[2] < n_dephase, dephase_body, (state, state, jnp.array(0)))

    def cond(c):
        bk, st, _, n, _ = c
        return (~is_confident(tad, bk)) & (n * tad.t_event < tad.max_steps)

    def body(c):
        bk, st, last, n, nq = c
        st, q, moved = block(st)
        bk = advance_book(bk, tad.t_event * tad.dt)
        Ea = lax.cond(moved, lambda: barrier_fn(R_basin, E_basin, q.R, q.energy), lambda: jnp.zeros((), q.energy.dtype))
        bk = record_event(tad, bk, Ea, q.R, q.energy, st, detected=moved)
        st = _select(moved, _reflect(last, st), st)
        return bk, st, _select(moved, last, st), n + 1, nq + 1

    bk, st, _, n, nq = lax.while_loop(cond, body, (book, st, st, jnp.array(0), jnp.array(0)))
    i, dt_best = best_event(bk)
    accepted = is_confident(tad, bk) & jnp.isfinite(dt_best)
    entry = jax.tree.map(lambda x: x[i], bk.entry)
    # Continue with the newest key: the stored entry's key already drove the reflected run.
    entry = eqx.tree_at(lambda s: (s.key, s.step), entry, (st.key, st.step))
    n_md = (n + n_dephase) * tad.t_event
    return BasinResult(
        bk, st, accepted, i, dt_best - bk.t_lo_offset, bk.Ea[i], bk.t_event[i], bk.R_new[i], bk.E_new[i],
        entry, n_md, nq + n_dephase, RESULTS.where(accepted, RESULTS.successful, RESULTS.step_cap_reached),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# the driver over states
# ---------------------------------------------------------------------------------------
class TADRun(eqx.Module):
    """The whole state of a TAD run (a pytree; checkpointed after every executed event).

    - `state`: MD state to start the next visit from. `current`: index of the current state.
    - `minima`, `energies`: the known minima ``(max_states, n_atoms, dim)`` (Å, eV);
      `books`: their stacked :class:`TADBook`; `n_known`: how many slots are used.
    - `t_lo`: low-temperature clock, fs. `n_done`: events executed.
    - history ``(max_events,)``: `hist_t_lo` (clock after the event, fs), `hist_Ea` (eV),
      `hist_from`, `hist_to` (state indices), `hist_t_hi` (fs of high-T time at detection).
    """

    state: MDState
    current: Int[Array, ""]
    minima: Float[Array, "max_states n_atoms dim"]
    energies: Float[Array, " max_states"]
    books: TADBook
    n_known: Int[Array, ""]
    t_lo: Scalar
    n_done: Int[Array, ""]
    hist_t_lo: Float[Array, " max_events"]
    hist_Ea: Float[Array, " max_events"]
    hist_from: Int[Array, " max_events"]
    hist_to: Int[Array, " max_events"]
    hist_t_hi: Float[Array, " max_events"]


def tad_init(
    potential: Potential,
    tad: TAD,
    R0: Float[Array, "n_atoms dim"],
    key: PRNGKeyArray,
    *,
    max_states: int = 32,
    max_events: int = 100,
) -> TADRun:
    """Quench `R0`, draw velocities at ``T_hi`` from `key` (a raw ``uint32`` key) and set up the run."""
    check_configuration(R0, name="R0")
    q = tad.quench(potential, jnp.asarray(R0))
    if not bool(q.converged):
        raise ValueError("the starting configuration did not relax to a minimum; loosen tad.quench.fmax or raise max_steps.")
    state = tad.integrator.init(potential, q.R, key)
    book = empty_book(tad, state)
    books = jax.tree.map(lambda x: jnp.broadcast_to(x, (max_states,) + x.shape), book)
    dtype = q.R.dtype
    minima = jnp.zeros((max_states,) + q.R.shape, dtype).at[0].set(q.R)
    energies = jnp.full((max_states,), jnp.nan, dtype).at[0].set(q.energy)
    nanv = jnp.full((max_events,), jnp.nan, dtype)
    neg = jnp.full((max_events,), -1)
    return TADRun(state, jnp.array(0), minima, energies, books, jnp.array(1), jnp.zeros((), dtype), jnp.array(0),
                  nanv, nanv, neg, neg, nanv)  # fmt: skip


@eqx.filter_jit
def _visit(potential, tad, run: TADRun, barrier_fn, pool: bool):
    i = run.current
    book = jax.tree.map(lambda x: x[i], run.books)
    if not pool:
        book = empty_book(tad, run.state)
    return tad_basin(potential, tad, run.minima[i], run.state, barrier_fn, book)


@eqx.filter_jit
def _match(tad, minima, n_known, R):
    same = jax.vmap(lambda M: tad.same_basin(M, R))(minima)
    same = same & (jnp.arange(minima.shape[0]) < n_known)
    return jnp.any(same), jnp.argmax(same)


def _execute(tad: TAD, run: TADRun, res: BasinResult, n_known_limit: int) -> TADRun:
    i = run.current
    found, j = _match(tad, run.minima, run.n_known, res.R_new)
    found, j = bool(found), int(j)
    minima, energies, n_known = run.minima, run.energies, run.n_known
    if not found:
        j = int(run.n_known)
        if j >= n_known_limit:
            raise ValueError(f"TAD visited more than max_states={n_known_limit} distinct minima; raise max_states.")
        minima, energies, n_known = minima.at[j].set(res.R_new), energies.at[j].set(res.E_new), n_known + 1
    # The executed event's dt_lo becomes the offset for the next visit of state i.
    book = eqx.tree_at(lambda b: b.t_lo_offset, res.book, res.book.dt_lo[res.index])
    books = jax.tree.map(lambda all_, b: all_.at[i].set(b), run.books, book)
    k = int(run.n_done)
    t_lo = run.t_lo + res.dt_lo
    return TADRun(
        res.entry, jnp.array(j), minima, energies, books, n_known, t_lo, run.n_done + 1,
        run.hist_t_lo.at[k].set(t_lo), run.hist_Ea.at[k].set(res.Ea), run.hist_from.at[k].set(i),
        run.hist_to.at[k].set(j), run.hist_t_hi.at[k].set(res.t_event),
    )  # fmt: skip


def print_progress(run: TADRun, res: BasinResult) -> None:
    """Default progress line after each executed event."""
    k = int(run.n_done) - 1
    print(
        f"TAD event {k + 1}: state {int(run.hist_from[k])} -> {int(run.hist_to[k])}, "
        f"Ea = {float(res.Ea):.4f} eV, t_hi = {float(res.t_event):.1f} fs, "
        f"dt_lo = {float(res.dt_lo):.4g} fs, t_lo = {float(run.t_lo):.4g} fs, "
        f"{int(res.book.n_events)} events seen in the state",
        flush=True,
    )


def run_tad(
    potential: Potential,
    tad: TAD,
    run: TADRun,
    barrier_fn: BarrierFn | None = None,
    *,
    n_events: int,
    pool_revisits: bool = True,
    checkpoint: str | os.PathLike | None = None,
    callback: Callable[[TADRun, BasinResult], None] | None = print_progress,
) -> TADRun:
    """Execute TAD events until ``run.n_done == n_events`` and return the final run.

    Start from :func:`tad_init` or from :func:`load_tad` (resuming gives the same trajectory
    bit for bit). `barrier_fn` gives each detected event's barrier; the default is
    :class:`NEBBarrier` (CI-NEB between the basin minimum and the quenched product).
    After each executed event the run is saved to `checkpoint` (``.npz``) and
    `callback(run, basin_result)` is called. With `pool_revisits` the high-temperature time
    and the events found in a state are kept for later visits (Montalenti & Voter 2002);
    without it every visit starts afresh, as in LAMMPS. Raises ``RuntimeError`` if a visit
    reaches ``tad.max_steps`` without a confident event.
    """
    if n_events > run.hist_t_lo.shape[0]:
        raise ValueError(f"n_events={n_events} exceeds the run's max_events={run.hist_t_lo.shape[0]}.")
    max_states = run.minima.shape[0]
    while int(run.n_done) < n_events:
        res = _visit(potential, tad, run, barrier_fn, pool_revisits)
        if not bool(res.accepted):
            raise RuntimeError(
                f"TAD: state {int(run.current)} reached max_steps={tad.max_steps} without a confident "
                f"event ({int(res.book.n_events)} events seen); raise tad.max_steps or T_hi."
            )
        run = _execute(tad, run, res, max_states)
        if checkpoint is not None:
            save_checkpoint(checkpoint, run)
        if callback is not None:
            callback(run, res)
    return run


def load_tad(path: str | os.PathLike, like: TADRun) -> TADRun:
    """Load a run saved by :func:`run_tad`; `like` is a run of the same shapes (e.g. from :func:`tad_init`)."""
    return load_checkpoint(path, like)


def event_table(run: TADRun) -> dict[str, np.ndarray]:
    """The executed events as numpy arrays: ``t_lo`` (fs), ``Ea`` (eV), ``from``, ``to``, ``t_hi`` (fs)."""
    n = int(run.n_done)
    return {
        "t_lo": np.asarray(run.hist_t_lo[:n]),
        "Ea": np.asarray(run.hist_Ea[:n]),
        "from": np.asarray(run.hist_from[:n]),
        "to": np.asarray(run.hist_to[:n]),
        "t_hi": np.asarray(run.hist_t_hi[:n]),
    }
