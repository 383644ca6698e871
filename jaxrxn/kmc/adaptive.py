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

The searches, relaxations and prefactors are jitted and vmapped; the bookkeeping of the
process table (variable length) runs in Python between batches.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from jaxrxn.kmc.residence import KB_EV, select_event
from jaxrxn.optimize import minimize
from jaxrxn.potentials.core import Potential
from jaxrxn.rates import ASE_TIME_S, vineyard_prefactor
from jaxrxn.saddle.dimer import min_mode_search


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
    ``prefactor`` (1/s), ``n_force_calls`` spent per search (saddle + both relaxations).
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
    time_unit_s: float = eqx.field(static=True, default=ASE_TIME_S)

    def search(self, potential: Potential, R_min: Float[Array, "n_atoms dim"], keys: PRNGKeyArray) -> ProcessBatch:
        """Run one vmapped batch of process searches from the minimum ``R_min``."""
        e_min = potential.energy(R_min)

        def one(key):
            s = min_mode_search(
                potential, R_min, key, displacement=self.displacement, fmax=self.saddle_fmax,
                max_steps=self.saddle_max_steps,
            )
            step = self.push * s.mode / jnp.max(jnp.linalg.norm(s.mode, axis=-1))
            plus = minimize(potential, s.R + step, fmax=self.relax_fmax)
            minus = minimize(potential, s.R - step, fmax=self.relax_fmax)

            def is_start(R):
                return jnp.max(jnp.linalg.norm(R - R_min, axis=-1)) < self.same_minimum_tol

            plus_home, minus_home = is_start(plus.R), is_start(minus.R)
            relaxed = plus.converged & minus.converged
            valid = s.converged & relaxed & (plus_home != minus_home)
            product = jnp.where(plus_home, minus.R, plus.R)
            product_energy = jnp.where(plus_home, minus.energy, plus.energy)
            if self.prefactor is None:
                nu = vineyard_prefactor(potential, R_min, s.R, time_unit_s=self.time_unit_s)
            else:
                nu = jnp.asarray(self.prefactor, R_min.dtype)
            valid = valid & jnp.isfinite(nu)
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
        return self.prefactor * np.exp(-self.barrier / (KB_EV * temperature))


def _merge(akmc: AdaptiveKMC, table: dict, batch: ProcessBatch) -> None:
    for i in np.flatnonzero(np.asarray(batch.valid)):
        saddle = np.asarray(batch.saddle[i])
        energy = float(batch.saddle_energy[i])
        for j, known in enumerate(table["saddle"]):
            if (abs(table["saddle_energy"][j] - energy) < akmc.energy_tol
                    and np.max(np.linalg.norm(known - saddle, axis=-1)) < akmc.distance_tol):
                table["times_found"][j] += 1
                break
        else:
            table["saddle"].append(saddle)
            table["saddle_energy"].append(energy)
            table["product"].append(np.asarray(batch.product[i]))
            table["product_energy"].append(float(batch.product_energy[i]))
            table["barrier"].append(float(batch.barrier[i]))
            table["prefactor"].append(float(batch.prefactor[i]))
            table["times_found"].append(1)


def _in_window(akmc: AdaptiveKMC, barriers: np.ndarray) -> np.ndarray:
    if barriers.size == 0:
        return np.zeros(0, bool)
    return barriers <= barriers.min() + akmc.window_kT * KB_EV * akmc.temperature


def explore_minimum(
    akmc: AdaptiveKMC, potential: Potential, R_min: Float[Array, "n_atoms dim"], key: PRNGKeyArray
) -> ProcessTable:
    """Search batches of processes from ``R_min`` until eOn's confidence is reached or
    ``max_searches`` searches were spent; returns the merged :class:`ProcessTable`
    (its ``confidence`` says whether the criterion was met)."""
    search = eqx.filter_jit(akmc.search)
    table = {k: [] for k in ("saddle", "saddle_energy", "product", "product_energy", "barrier", "prefactor",
                             "times_found")}
    n_searches = n_calls = 0
    conf = 0.0
    while n_searches < akmc.max_searches:
        key, sub = jax.random.split(key)
        batch = search(potential, R_min, jax.random.split(sub, akmc.batch_size))
        _merge(akmc, table, batch)
        n_searches += akmc.batch_size
        n_calls += int(jnp.sum(batch.n_force_calls))
        window = _in_window(akmc, np.asarray(table["barrier"]))
        n_found = int(np.sum(np.asarray(table["times_found"])[window])) if window.size else 0
        conf = float(confidence(int(window.sum()), n_found, akmc.alpha))
        if conf >= akmc.confidence:
            break
    arrays = {k: np.asarray(v) for k, v in table.items()}
    return ProcessTable(**arrays, n_searches=n_searches, n_force_calls=n_calls, confidence=conf)


class AKMCStep(eqx.Module):
    """One adaptive-KMC step: the process table at the start, the chosen process, ``dt`` (s)."""

    table: ProcessTable
    event: int
    dt: float
    R: np.ndarray
    energy: float


def akmc_step(
    akmc: AdaptiveKMC, potential: Potential, R_min: Float[Array, "n_atoms dim"], key: PRNGKeyArray
) -> AKMCStep:
    """Explore the current minimum, then take one residence-time step over the processes
    in the thermally accessible window. Raises ``RuntimeError`` if no process was found."""
    k_search, k_event = jax.random.split(key)
    table = explore_minimum(akmc, potential, R_min, k_search)
    if table.barrier.size == 0:
        raise RuntimeError(
            f"adaptive KMC found no connected process in {table.n_searches} searches; raise "
            "max_searches or change displacement"
        )
    rates = np.where(_in_window(akmc, table.barrier), table.rates(akmc.temperature), 0.0)
    event, dt, _ = select_event(k_event, jnp.asarray(rates))
    event = int(event)
    return AKMCStep(table, event, float(dt), table.product[event], float(table.product_energy[event]))
