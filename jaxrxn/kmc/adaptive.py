"""Off-lattice adaptive KMC in the style of eOn (Xu & Henkelman, JCP 129, 114104 (2008)).

From the current minimum, batches of saddle searches run in parallel (``jax.vmap`` over
random keys): each displaces the free atoms randomly and climbs with min-mode following
(:func:`jaxrxn.saddle.dimer.min_mode_search`). A converged first-order saddle is pushed
a little along its unstable mode both ways and both sides are minimised
(:func:`jaxrxn.optimize.minimize`); it becomes a *process* only when one side returns to the
current minimum and the other does not. Processes with the same saddle (energy within
``energy_tol`` and every atom within ``distance_tol``) are merged. Rates are harmonic TST,
``k = nu exp(-(E‡ - E_min)/kT)``, with the Vineyard prefactor (:mod:`jaxrxn.rates`) or a
fixed one. Only processes within ``window_kT`` kT of the lowest barrier enter the rate
table (eOn's ``thermally_accessible_window``, default 20). Searching stops when eOn's
confidence ``C = 1 + x W0(-e^{-1/x}/x)``, ``x = N_f / (alpha N_s)``, reaches ``confidence``
(``N_f`` distinct processes in the window, ``N_s`` searches that found one of them; rare
_events.md §5.3), then one residence-time step (:func:`jaxrxn.kmc.residence.select_event`)
moves the system to the chosen product.

Local displacements (eOn's ``displace_least_coordinated_weight`` and ``displace_radius``):
with ``displace_radius`` set, each search picks an *epicentre* at random among the least
coordinated free atoms and displaces only the free atoms within that radius of it, which
is where the low-barrier processes of a surface (an adatom's hops) live.

Recycling by translation (:class:`StateLibrary`, in the spirit of eOn's saddle recycling
and kinetic database): a new minimum with the energy of an explored one that equals it,
atom for atom up to a permutation, after one rigid translation (periodic images allowed)
is the *same state* moved; its process table is the explored one, with every saddle and
product carried over by the same translation and permutation, so no new search is needed.
An adatom hopping on a terrace then costs one exploration for the whole trajectory.
:func:`run_akmc` runs the off-lattice trajectory with it; :meth:`StateLibrary.walker`
turns the explored states and processes into a lattice model
(:class:`jaxrxn.kmc.lattice.SublatticeWalker`) so thousands of vmapped replicas give
statistics (e.g. the diffusion coefficient) from the same process tables.

The searches and relaxations are jitted and vmapped; Vineyard prefactors are computed only
for distinct new processes; the bookkeeping of the process table (variable length) and the
library runs in Python between batches.
"""

from __future__ import annotations

import warnings
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from jaxrxn.geometry import minimum_image
from jaxrxn.kmc.lattice import SublatticeWalker
from jaxrxn.kmc.residence import select_event
from jaxrxn.optimize import minimize
from jaxrxn.potentials.core import Potential
from jaxrxn.rates import arrhenius_rate, vineyard_prefactor
from jaxrxn.saddle.dimer import min_mode_search
from jaxrxn.system import System
from jaxrxn.units import KB, TIME_UNIT_S


def lambert_w0(z: Float[Array, "..."]) -> Float[Array, "..."]:
    """Principal branch ``W0(z)`` for real ``z`` in ``[-1/e, 0]`` (Halley iterations from
    the branch-point series), the range the confidence criterion needs."""
    z = jnp.asarray(z)
    p = jnp.sqrt(jnp.maximum(2.0 * (jnp.e * z + 1.0), 0.0))
    w = -1.0 + p - p**2 / 3.0 + 11.0 / 72.0 * p**3
    w = jnp.where(z > -0.25, z, w)  # W0(z) ~ z near 0
    for _ in range(30):
        ew = jnp.exp(w)
        f = w * ew - z
        denom = ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0)
        w = jnp.where(jnp.abs(f) > 0, w - f / jnp.where(denom == 0, 1.0, denom), w)
    return w


def confidence(n_processes, n_searches, alpha: float = 1.0) -> Scalar:
    """eOn's confidence that no relevant process is missing: ``1 + x W0(-e^{-1/x}/x)``,
    ``x = n_processes / (alpha n_searches)``; 0 before any search has found a process."""
    x = jnp.asarray(n_processes, float) / (alpha * jnp.maximum(jnp.asarray(n_searches, float), 1.0))
    x = jnp.clip(x, 1e-6, 1.0)
    c = 1.0 + x * lambert_w0(-jnp.exp(-1.0 / x) / x)
    return jnp.where(jnp.asarray(n_searches) > 0, c, 0.0)


class ProcessBatch(eqx.Module):
    """The outcome of a batch of process searches (leading axis ``n_searches``).

    ``valid``: a converged first-order saddle connected to the current minimum.
    ``saddle`` / ``product`` configurations (Å), their energies (eV), ``barrier`` (eV) and
    ``prefactor`` (1/s; NaN when the batch was run without prefactors), ``n_force_calls``
    spent per search (saddle + both relaxations).
    """

    valid: Array
    saddle: Float[Array, "n_searches n_atoms dim"]
    saddle_energy: Float[Array, " n_searches"]
    product: Float[Array, "n_searches n_atoms dim"]
    product_energy: Float[Array, " n_searches"]
    barrier: Float[Array, " n_searches"]
    prefactor: Float[Array, " n_searches"]
    n_force_calls: Array


class AdaptiveKMC(eqx.Module):
    """Hyperparameters of adaptive KMC; lengths Å, energies eV, temperature K.

    ``prefactor`` (1/s) fixed for every process, or ``None`` for the Vineyard prefactor
    from Hessians (``time_unit_s`` converts the potential's time unit; see
    :func:`jaxrxn.rates.vineyard_prefactor`).

    ``displace_radius`` (Å): ``None`` displaces every free atom at the start of a search;
    a value displaces only the free atoms within it of an epicentre drawn among the least
    coordinated free atoms (neighbours closer than ``coordination_cutoff`` Å), as eOn's
    ``displace_least_coordinated_weight`` / ``displace_radius`` do (3.3 Å in eOn's example
    configurations).
    ``min_reverse_barrier`` (eV): a "process" whose product lies less than this below its
    saddle is dropped: such a product is no metastable state (the relaxation stopped on a
    plateau next to the saddle) and harmonic TST needs barriers well above kT.
    """

    temperature: float
    confidence: float = 0.99
    alpha: float = 1.0
    window_kT: float = 20.0
    batch_size: int = eqx.field(static=True, default=8)
    max_searches: int = eqx.field(static=True, default=128)
    displacement: float = 0.1
    saddle_fmax: float = 0.01
    saddle_max_steps: int = eqx.field(static=True, default=1000)
    relax_fmax: float = 0.01
    push: float = 0.05
    same_minimum_tol: float = 0.1
    energy_tol: float = 1e-3
    distance_tol: float = 0.05
    prefactor: float | None = eqx.field(static=True, default=None)
    time_unit_s: float = eqx.field(static=True, default=TIME_UNIT_S)
    displace_radius: float | None = eqx.field(static=True, default=None)
    coordination_cutoff: float = 3.0
    min_reverse_barrier: float = 0.0

    def search(
        self,
        potential: Potential,
        R_min: Float[Array, "n_atoms dim"],
        keys: PRNGKeyArray,
        masks: Float[Array, "n_masks n_atoms"] | None = None,
        *,
        with_prefactor: bool = True,
    ) -> ProcessBatch:
        """Run one vmapped batch of process searches from the minimum ``R_min``.

        ``masks`` ``(n_masks, n_atoms)`` 0/1: each search displaces the atoms of one mask
        drawn at random (see :func:`displacement_masks`); ``None`` displaces every free
        atom. ``with_prefactor=False`` skips the two Hessians per search (prefactor NaN);
        :func:`explore_minimum` then computes them only for distinct processes.
        """
        e_min = potential.energy(R_min)
        check_index = with_prefactor or self.prefactor is not None

        def one(key):
            k_mask, k_disp = jax.random.split(key)
            atoms = None
            if masks is not None:
                atoms = masks[jax.random.randint(k_mask, (), 0, masks.shape[0])]
            # Without a Hessian check here, the Vineyard prefactor computed later for each
            # distinct process rejects saddles of the wrong index (NaN), at far less cost.
            s = min_mode_search(
                potential, R_min, k_disp, displacement=self.displacement, atoms=atoms, fmax=self.saddle_fmax,
                max_steps=self.saddle_max_steps, check_index=check_index,
            )  # fmt: skip
            step = self.push * s.mode / jnp.max(jnp.linalg.norm(s.mode, axis=-1))
            # both sides in one vmapped relaxation: one while loop to compile, not two
            sides = jax.vmap(lambda R: minimize(potential, R, fmax=self.relax_fmax))(jnp.stack([s.R + step, s.R - step]))
            plus, minus = jax.tree_util.tree_map(lambda x: x[0], sides), jax.tree_util.tree_map(lambda x: x[1], sides)

            def is_start(R):
                return jnp.max(jnp.linalg.norm(R - R_min, axis=-1)) < self.same_minimum_tol

            plus_home, minus_home = is_start(plus.R), is_start(minus.R)
            relaxed = plus.converged & minus.converged
            valid = s.converged & relaxed & (plus_home != minus_home)
            product = jnp.where(plus_home, minus.R, plus.R)
            product_energy = jnp.where(plus_home, minus.energy, plus.energy)
            valid = valid & (s.energy - product_energy >= self.min_reverse_barrier)
            if not with_prefactor:
                nu = jnp.asarray(jnp.nan, R_min.dtype)
            elif self.prefactor is None:
                nu = vineyard_prefactor(potential, R_min, s.R, time_unit_s=self.time_unit_s)
                valid = valid & jnp.isfinite(nu)
            else:
                nu = jnp.asarray(self.prefactor, R_min.dtype)
            calls = s.n_force_calls + plus.n_force_calls + minus.n_force_calls
            return ProcessBatch(valid, s.R, s.energy, product, product_energy, s.energy - e_min, nu, calls)

        return jax.vmap(one)(keys)


class ProcessTable(eqx.Module):
    """The distinct processes found from one minimum (NumPy arrays, variable length)."""

    saddle: np.ndarray
    saddle_energy: np.ndarray
    product: np.ndarray
    product_energy: np.ndarray
    barrier: np.ndarray
    prefactor: np.ndarray
    times_found: np.ndarray
    n_searches: int
    n_force_calls: int
    confidence: float

    def rates(self, temperature: float) -> np.ndarray:
        """HTST rate of each process (1/s)."""
        return arrhenius_rate(self.barrier, self.prefactor, temperature)


# ---------------------------------------------------------------------------------------
# Geometry helpers (NumPy): coordination, local displacement masks
# ---------------------------------------------------------------------------------------
def coordination_numbers(R, cell=None, pbc=None, cutoff: float = 3.0) -> np.ndarray:
    """Number of atoms closer than ``cutoff`` Å to each atom (periodic images included)."""
    R = np.asarray(R, float)
    dist = np.linalg.norm(np.asarray(minimum_image(R[:, None] - R[None], cell, pbc)), axis=-1)
    return np.sum(dist < cutoff, axis=1) - 1


def displacement_masks(R, free, radius: float, cell=None, pbc=None, cutoff: float = 3.0) -> np.ndarray:
    """eOn-style local displacement masks ``(n_epicentres, n_atoms)``: one per least
    coordinated free atom (the epicentre), 1 on the free atoms within ``radius`` Å of it."""
    R = np.asarray(R, float)
    free = np.asarray(free, bool).reshape(-1)
    coordination = coordination_numbers(R, cell, pbc, cutoff)
    centres = np.flatnonzero(free & (coordination == coordination[free].min()))
    dist = np.linalg.norm(np.asarray(minimum_image(R[centres][:, None] - R[None], cell, pbc)), axis=-1)
    return ((dist <= radius) & free[None]).astype(float)


def least_coordinated_position(cell=None, pbc=None, cutoff: float = 3.0, axes=None) -> Callable:
    """An observable for :func:`run_akmc`: ``R -> `` mean (unwrapped) position of the least
    coordinated atoms, restricted to ``axes`` (e.g. ``(0, 1)`` for an adatom's in-plane
    motion). It follows an adatom through exchange events, where the atom changes."""

    def track(R):
        R = np.asarray(R, float)
        c = coordination_numbers(R, cell, pbc, cutoff)
        position = R[c == c.min()].mean(axis=0)
        return position if axes is None else position[list(axes)]

    return track


# ---------------------------------------------------------------------------------------
# Exploring one minimum
# ---------------------------------------------------------------------------------------
def _merge(akmc: AdaptiveKMC, table: dict, batch: ProcessBatch) -> list[int]:
    new = []
    for i in np.flatnonzero(np.asarray(batch.valid)):
        saddle = np.asarray(batch.saddle[i])
        energy = float(batch.saddle_energy[i])
        for j, known in enumerate(table["saddle"]):
            if (abs(table["saddle_energy"][j] - energy) < akmc.energy_tol
                    and np.max(np.linalg.norm(known - saddle, axis=-1)) < akmc.distance_tol):
                table["times_found"][j] += 1
                break
        else:
            new.append(len(table["saddle"]))
            table["saddle"].append(saddle)
            table["saddle_energy"].append(energy)
            table["product"].append(np.asarray(batch.product[i]))
            table["product_energy"].append(float(batch.product_energy[i]))
            table["barrier"].append(float(batch.barrier[i]))
            table["prefactor"].append(float(batch.prefactor[i]))
            table["times_found"].append(1)
    return new


def _in_window(akmc: AdaptiveKMC, barriers: np.ndarray, temperature: float | None = None) -> np.ndarray:
    if barriers.size == 0:
        return np.zeros(0, bool)
    temperature = akmc.temperature if temperature is None else temperature
    return barriers <= barriers.min() + akmc.window_kT * KB * temperature


def window_rates(akmc: AdaptiveKMC, table: ProcessTable, temperature: float | None = None) -> np.ndarray:
    """HTST rates (1/s) of ``table``'s processes at ``temperature`` (default the AKMC's),
    zero outside the thermally accessible window."""
    temperature = akmc.temperature if temperature is None else temperature
    return np.where(_in_window(akmc, table.barrier, temperature), table.rates(temperature), 0.0)


# Module-level jitted entry points, so that exploring a second minimum (same shapes and
# hyperparameters) reuses the compiled search instead of tracing a new bound method.
@eqx.filter_jit
def _search(akmc, potential, R_min, keys, masks, with_prefactor):
    return akmc.search(potential, R_min, keys, masks, with_prefactor=with_prefactor)


@eqx.filter_jit
def _vineyard(potential, R_min, R_saddle, time_unit_s):
    return vineyard_prefactor(potential, R_min, R_saddle, time_unit_s=time_unit_s)


def explore_minimum(
    akmc: AdaptiveKMC,
    potential: Potential,
    R_min: Float[Array, "n_atoms dim"],
    key: PRNGKeyArray,
    *,
    cell=None,
    pbc=None,
) -> ProcessTable:
    """Search batches of processes from ``R_min`` until eOn's confidence is reached or
    ``max_searches`` searches were spent; returns the merged :class:`ProcessTable`
    (its ``confidence`` says whether the criterion was met).

    Periodicity comes from ``potential.system``; it only matters for local displacements
    (``akmc.displace_radius``), whose coordination numbers see periodic images. Vineyard
    prefactors are computed once per distinct process (two Hessians each); a process
    whose saddle fails the Hessian check (NaN prefactor) is dropped. `cell`, `pbc`:
    deprecated (a ``DeprecationWarning``), used only for a potential without a periodic
    system; values that contradict the system raise ``ValueError``.
    """
    return _explore(akmc, potential, R_min, key, *_periodicity(potential, cell, pbc, "explore_minimum"))


def _explore(akmc: AdaptiveKMC, potential: Potential, R_min, key, cell, pbc) -> ProcessTable:
    """:func:`explore_minimum` with the periodicity resolved."""
    R_min = jnp.asarray(R_min)
    masks = None
    if akmc.displace_radius is not None:
        free = np.asarray(potential.free_mask(R_min))[:, 0] > 0
        masks = jnp.asarray(displacement_masks(R_min, free, akmc.displace_radius, cell, pbc, akmc.coordination_cutoff))
    table = {k: [] for k in ("saddle", "saddle_energy", "product", "product_energy", "barrier", "prefactor",
                             "times_found")}
    n_searches = n_calls = 0
    conf = 0.0
    while n_searches < akmc.max_searches:
        key, sub = jax.random.split(key)
        batch = _search(akmc, potential, R_min, jax.random.split(sub, akmc.batch_size), masks, False)
        new = _merge(akmc, table, batch)
        for j in new:
            nu = akmc.prefactor
            if nu is None:
                nu = float(_vineyard(potential, R_min, jnp.asarray(table["saddle"][j]), akmc.time_unit_s))
            table["prefactor"][j] = nu
        drop = [j for j in new if not np.isfinite(table["prefactor"][j])]
        for k in table:
            table[k] = [v for j, v in enumerate(table[k]) if j not in drop]
        n_searches += akmc.batch_size
        n_calls += int(jnp.sum(batch.n_force_calls))
        window = _in_window(akmc, np.asarray(table["barrier"]))
        n_found = int(np.sum(np.asarray(table["times_found"])[window])) if window.size else 0
        conf = float(confidence(int(window.sum()), n_found, akmc.alpha))
        if conf >= akmc.confidence:
            break
    arrays = {k: np.asarray(v) for k, v in table.items()}
    return ProcessTable(**arrays, n_searches=n_searches, n_force_calls=n_calls, confidence=conf)


def _periodicity(potential: Potential | None, cell, pbc, caller: str, system: System | None = None):
    """``(cell, pbc)`` for coordination numbers and minimum images: those of `system`
    (default: the potential's), or (deprecated) the `cell`/`pbc` a caller still passes."""
    if system is None and potential is not None:
        system = potential.system
    own = None if system is None or system.cell is None else (np.asarray(system.cell, float), np.asarray(system.pbc, bool))
    if cell is None and pbc is None:
        return own if own is not None else (None, None)
    warnings.warn(
        f"{caller}(cell=, pbc=) is deprecated: periodicity comes from the potential's system "
        "(build the potential with a periodic jaxrxn.System, e.g. System.from_atoms(atoms)); drop them.",
        DeprecationWarning,
        stacklevel=3,
    )
    given = None if cell is None else np.asarray(cell, float)
    given_pbc = np.ones(3, bool) if pbc is None else np.broadcast_to(np.asarray(pbc, bool), (3,))
    if own is not None and (
        given is None or not np.allclose(given, own[0]) or not np.array_equal(given_pbc[: len(own[1])], own[1])
    ):
        raise ValueError(f"{caller}: the cell/pbc given differ from the system's; drop them.")
    return given, (None if given is None else given_pbc)


class AKMCStep(eqx.Module):
    """One adaptive-KMC step: the process table at the start, the chosen process, ``dt`` (s)."""

    table: ProcessTable
    event: int
    dt: float
    R: np.ndarray
    energy: float


def akmc_step(
    akmc: AdaptiveKMC,
    potential: Potential,
    R_min: Float[Array, "n_atoms dim"],
    key: PRNGKeyArray,
    *,
    cell=None,
    pbc=None,
) -> AKMCStep:
    """Explore the current minimum, then take one residence-time step over the processes
    in the thermally accessible window. Raises ``RuntimeError`` if no process was found.
    Periodicity comes from ``potential.system`` (`cell`, `pbc`: deprecated, as in
    :func:`explore_minimum`)."""
    k_search, k_event = jax.random.split(key)
    table = _explore(akmc, potential, R_min, k_search, *_periodicity(potential, cell, pbc, "akmc_step"))
    if table.barrier.size == 0:
        raise RuntimeError(
            f"adaptive KMC found no connected process in {table.n_searches} searches; raise "
            "max_searches or change displacement"
        )
    rates = window_rates(akmc, table)
    event, dt, _ = select_event(k_event, jnp.asarray(rates))
    event = int(event)
    return AKMCStep(table, event, float(dt), table.product[event], float(table.product_energy[event]))


# ---------------------------------------------------------------------------------------
# Recycling by translation: a library of explored states
# ---------------------------------------------------------------------------------------
class StateMatch(eqx.Module):
    """How a configuration is an explored library state moved: atom ``i`` of the
    configuration is reference atom ``perm[i]`` translated by ``translation`` (Å) plus the
    lattice vector ``shifts[i]``. :meth:`apply` carries any reference configuration (a
    saddle, a product) over the same way."""

    index: int
    perm: np.ndarray
    translation: np.ndarray
    shifts: np.ndarray

    def apply(self, X_ref: np.ndarray) -> np.ndarray:
        return np.asarray(X_ref)[self.perm] + self.translation + self.shifts


class StateLibrary:
    """Explored minima and their process tables, recycled by translation.

    A configuration ``R`` with energy ``E`` (eV) *is* library state ``s`` when ``|E - E_s|
    < energy_tol`` and one rigid translation (plus periodic images) maps every atom of
    ``R`` within ``match_tol`` Å onto a distinct atom of ``R_s`` of the same species and
    the same fixed/free status. Candidate translations take a least coordinated atom of
    ``R_s`` onto each least coordinated atom of ``R`` (so a moved adatom is found at once).
    This is only translation, no rotation or reflection: the mirror images of a process
    are found by searching, as in eOn's recycling; a state met again in another
    orientation is explored anew.

    Periodicity (minimum images, coordination numbers) comes from ``system``, by default
    ``potential.system`` (``cell``/``pbc``: deprecated, as in :func:`explore_minimum`);
    ``species`` ``(n_atoms,)`` atomic numbers (default: one species). ``recycle=False`` makes every
    :meth:`lookup` explore (plain AKMC, for comparison). Counters ``n_explored`` and
    ``n_recycled`` count explorations and lookups answered from the library;
    ``max_states`` caps the explorations (``RuntimeError`` beyond).
    """

    def __init__(
        self,
        akmc: AdaptiveKMC,
        potential: Potential,
        *,
        system: System | None = None,
        cell=None,
        pbc=None,
        species=None,
        match_tol: float = 0.1,
        energy_tol: float = 0.01,
        recycle: bool = True,
        max_states: int | None = None,
    ):
        self.akmc, self.potential = akmc, potential
        self.max_states = max_states
        self.cell, self.pbc = _periodicity(potential, cell, pbc, "StateLibrary", system)
        self.species = None if species is None else np.asarray(species)
        self.match_tol, self.energy_tol, self.recycle = match_tol, energy_tol, recycle
        self.states: list[np.ndarray] = []
        self.energies: list[float] = []
        self.tables: list[ProcessTable] = []
        self._anchors: list[np.ndarray] = []
        self._free: np.ndarray | None = None
        self.n_explored = 0
        self.n_recycled = 0

    def _free_mask(self, R) -> np.ndarray:
        if self._free is None:
            self._free = np.asarray(self.potential.free_mask(jnp.asarray(R)))[:, 0] > 0
        return self._free

    def _least_coordinated(self, R):
        c = coordination_numbers(R, self.cell, self.pbc, self.akmc.coordination_cutoff)
        free = self._free_mask(R)
        return np.flatnonzero(free & (c == c[free].min()))

    def match(self, R, energy: float) -> StateMatch | None:
        """The library state that ``R`` is a translation of, or ``None``."""
        R = np.asarray(R, float)
        for s, (R_s, E_s, anchors_s) in enumerate(zip(self.states, self.energies, self._anchors)):
            if abs(E_s - energy) >= self.energy_tol:
                continue
            for a in self._least_coordinated(R):
                t = R[a] - R_s[anchors_s[0]]
                diff = R[:, None] - R_s[None] - t
                image = np.asarray(minimum_image(diff, self.cell, self.pbc))
                dist = np.linalg.norm(image, axis=-1)
                perm = np.argmin(dist, axis=1)
                if np.max(dist[np.arange(len(R)), perm]) >= self.match_tol:
                    continue
                free = self._free_mask(R)
                if len(np.unique(perm)) != len(R) or np.any(free[perm] != free):
                    continue
                if self.species is not None and np.any(self.species[perm] != self.species):
                    continue
                shifts = (diff - image)[np.arange(len(R)), perm]
                return StateMatch(s, perm, t, shifts)
        return None

    def lookup(self, R, energy: float, key: PRNGKeyArray) -> StateMatch:
        """The library state of ``R`` (exploring ``R`` with :func:`explore_minimum` and
        adding it when it matches none, or always when ``recycle=False``)."""
        R = np.asarray(R, float)
        found = self.match(R, energy) if self.recycle else None
        if found is not None:
            self.n_recycled += 1
            return found
        if self.max_states is not None and len(self.states) >= self.max_states:
            raise RuntimeError(f"the state library is full ({self.max_states} explored states); raise max_states")
        table = _explore(self.akmc, self.potential, jnp.asarray(R), key, self.cell, self.pbc)
        if table.barrier.size == 0:
            raise RuntimeError(
                f"adaptive KMC found no connected process in {table.n_searches} searches; raise "
                "max_searches or change displacement"
            )
        self.states.append(R)
        self.energies.append(float(energy))
        self.tables.append(table)
        self._anchors.append(self._least_coordinated(R))
        self.n_explored += 1
        n = len(R)
        return StateMatch(len(self.states) - 1, np.arange(n), np.zeros(R.shape[1]), np.zeros_like(R))

    def walker(
        self,
        temperature: float,
        track: Callable[[np.ndarray], np.ndarray],
        include: Callable[[ProcessTable], np.ndarray] | None = None,
    ) -> tuple[SublatticeWalker, np.ndarray]:
        """The library as a lattice model at ``temperature`` (K): one site per explored
        state, one hop per process in the thermally accessible window whose product is a
        library state, with hop vector ``track(product) - track(state)`` (Å) and the
        process's barrier and prefactor. Returns the walker and, per state, the fraction of
        its escape rate that goes to states not in the library (left out of the model:
        explore those products, or check the fraction is negligible). ``include(table)``,
        if given, is a boolean mask of the processes to keep (e.g. only the hops, to
        separate mechanisms); the others are left out and not counted as lost. States with
        no kept process into the model (an excursion explored during :func:`run_akmc`
        whose exits lead to unexplored states) are dropped, repeatedly, and the rates into
        them counted as lost; the walker's sites are the remaining states in library
        order (the first state is always site 0); a dropped state's lost fraction is NaN.
        """
        candidates, totals, lost = [], [], []
        for R_s, table in zip(self.states, self.tables):
            rates = window_rates(self.akmc, table, temperature)
            if include is not None:
                rates = np.where(np.asarray(include(table), bool), rates, 0.0)
            hops, out = [], 0.0
            for p in np.flatnonzero(rates > 0):
                m = self.match(table.product[p], table.product_energy[p])
                if m is None:
                    out += rates[p]
                    continue
                vec = np.asarray(track(table.product[p])) - np.asarray(track(R_s))
                hops.append((vec, m.index, table.barrier[p], table.prefactor[p], rates[p]))
            candidates.append(hops)
            totals.append(rates.sum())
            lost.append(out)
        # A state whose every kept process leaves the model would absorb the walker: drop it
        # (its inflow counts as lost) until every remaining state has an exit inside.
        kept = list(range(len(candidates)))
        while True:
            alive = [s for s in kept if any(h[1] in kept for h in candidates[s])]
            if alive == kept:
                break
            kept = alive
        if 0 not in kept:
            raise ValueError("the first library state has no process into the library; explore its products first")
        index = {s: i for i, s in enumerate(kept)}
        rows, dropped = [], np.full(len(candidates), np.nan)
        for s in kept:
            rows.append([(v, index[t], b, nu) for v, t, b, nu, _ in candidates[s] if t in index])
            outside = sum(k for _, t, _, _, k in candidates[s] if t not in index)
            dropped[s] = (lost[s] + outside) / totals[s]
        return SublatticeWalker.from_hops(rows, temperature), dropped


class AKMCTrajectory(eqx.Module):
    """An off-lattice AKMC trajectory from :func:`run_akmc` (NumPy, ``n_steps + 1`` records,
    the start first): clock ``time`` (s), ``track`` the observable, ``energy`` (eV),
    ``state`` the library state each record was matched to (-1 for the last record, which
    is not looked up); per step ``barrier`` (eV) of the chosen process; the final
    configuration ``R`` (Å, unwrapped: atoms never jump by a cell vector)."""

    time: np.ndarray
    track: np.ndarray
    energy: np.ndarray
    state: np.ndarray
    barrier: np.ndarray
    R: np.ndarray


def run_akmc(
    library: StateLibrary,
    R0,
    energy0: float,
    key: PRNGKeyArray,
    n_steps: int,
    track: Callable[[np.ndarray], np.ndarray],
    *,
    temperature: float | None = None,
) -> AKMCTrajectory:
    """``n_steps`` adaptive-KMC steps from the minimum ``R0`` (energy ``energy0``, eV).

    Each step looks the current minimum up in ``library`` (a translated explored state
    reuses that state's process table; a new one is explored), draws a process among
    those in the thermally accessible window with probability ``k_i/K`` and the waiting
    time ``-ln(u)/K`` at ``temperature`` (default the AKMC's; explore at the highest
    temperature of a study so the window covers the lower ones), and moves to its
    product, carried over by the state's translation and permutation. ``track(R)`` is
    recorded after every step (e.g. :func:`least_coordinated_position`).
    """
    temperature = library.akmc.temperature if temperature is None else float(temperature)
    k_rng, k_explore = jax.random.split(key)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(k_rng)).ravel().tolist())
    R, energy = np.asarray(R0, float), float(energy0)
    times, tracks, energies, states, barriers = [0.0], [np.asarray(track(R))], [energy], [], []
    t = 0.0
    for step in range(n_steps):
        m = library.lookup(R, energy, jax.random.fold_in(k_explore, step))
        table = library.tables[m.index]
        rates = window_rates(library.akmc, table, temperature)
        cumulative = np.cumsum(rates)
        p = int(np.searchsorted(cumulative, (1.0 - rng.random()) * cumulative[-1], side="left"))
        t += -np.log(1.0 - rng.random()) / cumulative[-1]
        R, energy = m.apply(table.product[p]), float(table.product_energy[p])
        states.append(m.index)
        barriers.append(float(table.barrier[p]))
        times.append(t)
        tracks.append(np.asarray(track(R)))
        energies.append(energy)
    states.append(-1)  # the last state is not looked up
    return AKMCTrajectory(
        np.asarray(times), np.asarray(tracks), np.asarray(energies), np.asarray(states), np.asarray(barriers), R
    )
