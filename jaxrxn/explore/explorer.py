"""SC-AFIR, MC-AFIR and DS-AFIR exploration drivers that build a :class:`ReactionNetwork`.

The pipeline, after GRRM (S. Maeda et al., JCC 39, 233 (2018)):

1. **AFIR paths** from a minimum: for every bias (a fragment pair pushed together or pulled
   apart; on a one-particle model surface, a pulling direction) the AFIR function is
   minimised for a ramp of force constants (:func:`jaxrxn.explore.afir.afir_path`). All
   biases of one minimum run as one ``jax.vmap``-ed, jitted call.
2. **Quench** every image of every path on the true surface (one vmapped ``minimize``).
   The first image whose quench is a different labelled structure than the start marks
   a reaction; the images up to it plus that product make the initial band. A product
   that falls apart into fragments is a dissociation channel (DC).
3. **CI-NEB** on the true surface for all bands at once (:func:`jaxrxn.path.neb`, vmapped).
4. **Mode following** (optional, `n_follow_modes`): from every new minimum, P-RFO with
   mode following (Baker, J. Comput. Chem. 7, 385 (1986); the eigenvector-following
   spirit of GRRM's SHS/ADDF) uphill along each of its softest Hessian modes, both
   signs, and along `n_follow_random` random directions. AFIR's pushes and pulls break a
   small cluster before its bound rearrangements show; following every soft mode reaches
   the low saddles that AFIR skips.
5. **Saddle search** (P-RFO with exact Hessians, :func:`jaxrxn.saddle.saddle_search`) from
   every interior local maximum of each relaxed band, not only the highest one, so a band
   crossing an intermediate yields both of its TS.
6. **Connection**: from each first-order saddle, descend both ways along its unstable mode
   (displace by `descent_step` and minimise: a steepest-descent reaction path, the way the
   LJ7 reference table was built) to the two minima the TS joins.
7. New minima join the queue; SC-AFIR repeats from every new minimum (lowest first) until
   none is left, `max_minima` were explored, or minima lie above `energy_window`.

The network is checkpointed to JSON after every explored minimum, and an exploration
resumes from such a file.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxrxn._linalg import eigh
from jaxrxn.explore.afir import (
    afir_path,
    afir_potential,
    directional_afir_potential,
    target_afir_potential,
)
from jaxrxn.explore.network import ReactionNetwork
from jaxrxn.geometry import rmsd_numpy
from jaxrxn.optimize import minimize
from jaxrxn.path.elastic_band import NEB, neb
from jaxrxn.potentials.core import Potential
from jaxrxn.rates import vineyard_prefactor
from jaxrxn.saddle import PRFO, saddle_search
from jaxrxn.saddle.index import projected_hessian, zero_modes
from jaxrxn.units import TIME_UNIT_S
from jaxrxn.validation import check_configuration


@dataclasses.dataclass(frozen=True)
class ExploreSettings:
    """Hyperparameters of an AFIR exploration (lengths Å, energies eV, forces eV/Å).

    - `alpha_max`: largest AFIR force constant (eV/Å); ``afir_alpha(gamma, unit="eV")``
      converts a model collision energy; ``0`` skips AFIR (mode following only).
      `n_alpha`: force constants in the ramp 0..alpha_max.
    - `n_directions`: pulling directions per minimum for a one-particle model surface.
    - `afir_fmax`, `quench_fmax`, `neb_fmax`, `saddle_fmax`: force thresholds.
    - `rmsd_tol`: a quench further than this (Å, RMS after rigid alignment, labelled atoms)
      from the start is a different structure.
    - `n_images`: images of each CI-NEB band; `neb_k`: its spring constant (eV/Å²).
    - `descent_step`: displacement along the unstable mode before descending (Å).
    - `bond_factor`: atoms closer than ``bond_factor (R_i + R_j)`` are bonded; a product
      whose bond graph falls apart is a dissociation channel.
    - `max_steps`: cap per quench, band and saddle search; `afir_max_steps`: per AFIR
      minimisation (past a barrier breakdown the path is no longer used, so a short cap
      saves the force calls of fragments drifting apart).
    - `energy_window`: do not explore minima more than this above the lowest one.
    - `n_follow_modes`: follow this many softest Hessian modes of each minimum uphill, both
      signs, by mode-following P-RFO (0: AFIR only); `n_follow_random`: random directions
      followed as well; `follow_step`: the displacement along the mode that starts each
      search (Å).
    - `prefactors`: compute Vineyard prefactors for every TS (``time_unit_s`` converts the
      potential's time unit to s: ASE units by default, ``1.0`` for reduced units).
    """

    alpha_max: float
    n_alpha: int = 16
    n_directions: int = 16
    afir_fmax: float = 1e-3
    quench_fmax: float = 1e-4
    neb_fmax: float = 0.05
    saddle_fmax: float = 1e-5
    rmsd_tol: float = 0.05
    n_images: int = 11
    neb_k: float = 1.0
    descent_step: float = 0.02
    bond_factor: float = 1.3
    max_steps: int = 2000
    afir_max_steps: int = 300
    energy_window: float = float("inf")
    n_follow_modes: int = 0
    n_follow_random: int = 0
    follow_step: float = 0.1
    prefactors: bool = False
    time_unit_s: float = TIME_UNIT_S


@dataclasses.dataclass
class ExploreStats:
    """Counters of an exploration: force calls per stage and wall time (s)."""

    afir_force_calls: int = 0
    quench_force_calls: int = 0
    neb_force_calls: int = 0
    saddle_force_calls: int = 0
    n_afir_paths: int = 0
    n_bands: int = 0
    n_saddle_searches: int = 0
    wall_time: float = 0.0

    @property
    def force_calls(self) -> int:
        return self.afir_force_calls + self.quench_force_calls + self.neb_force_calls + self.saddle_force_calls


# ---------------------------------------------------------------------------------------
# jitted batch kernels (compiled once per potential and batch shape)
# ---------------------------------------------------------------------------------------
@eqx.filter_jit
def _afir_paths(afir: Potential, R0, alphas, biases, fmax, max_steps):
    def one(bias):
        return afir_path(afir.replace(params={**afir.params, **bias}), R0, alphas, "lbfgs", fmax=fmax, max_steps=max_steps)

    return jax.vmap(one)(biases)


@eqx.filter_jit
def _quench(potential: Potential, Rs, fmax, max_steps):
    flat = Rs.reshape((-1,) + Rs.shape[-2:])
    res = jax.vmap(lambda R: minimize(potential, R, "lbfgs", fmax=fmax, max_steps=max_steps))(flat)
    shape = Rs.shape[:-2]
    return res.R.reshape(Rs.shape), res.energy.reshape(shape), res.converged.reshape(shape), jnp.sum(res.n_force_calls)


@eqx.filter_jit
def _neb_batch(potential: Potential, bands, solver, fmax, max_steps):
    return jax.vmap(lambda b: neb(potential, b, solver, fmax=fmax, max_steps=max_steps))(bands)


@eqx.filter_jit
def _saddle_batch(potential: Potential, R0s, fmax, max_steps):
    return jax.vmap(lambda R: saddle_search(potential, R, fmax=fmax, max_steps=max_steps))(R0s)


@eqx.filter_jit
def _follow_batch(potential: Potential, R0s, mode0s, fmax, max_steps):
    solver = PRFO(follow_mode=True)
    return jax.vmap(lambda R, m: saddle_search(potential, R, solver, fmax=fmax, max_steps=max_steps, mode0=m))(R0s, mode0s)


@eqx.filter_jit
def _soft_modes(potential: Potential, R):
    """Eigenvectors ``(n_dof, n_dof)`` of the projected Hessian, softest first, and the
    number of removed directions (zero modes, fixed atoms), which sort last."""
    H, V = projected_hessian(potential, R, zero_modes(potential, R))
    return eigh(H)[1], jnp.sum(jnp.any(V != 0, axis=1))


def _pad(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Pad a batch to the next power of two (repeating the first row), so that the jitted
    kernels compile for a handful of batch sizes only."""
    n = len(x)
    m = 1 << max(0, (n - 1).bit_length())
    return np.concatenate([x, np.repeat(x[:1], m - n, axis=0)]), n


def _aligned_rmsd(P: np.ndarray, Q: np.ndarray, rigid: bool) -> float:
    """RMS distance (labelled atoms) after optimal rigid alignment of P onto Q."""
    if not rigid or P.shape[0] < 2:
        return float(np.sqrt(np.mean(np.sum((P - Q) ** 2, -1))))
    return rmsd_numpy(P, Q)


def _resample(polyline: np.ndarray, n: int) -> np.ndarray:
    """``n`` images equally spaced in arc length along a polyline ``(m, n_atoms, dim)``."""
    seg = np.sqrt(((polyline[1:] - polyline[:-1]) ** 2).sum((-2, -1)))
    keep = np.concatenate([[True], seg > 1e-10])
    polyline = polyline[keep]
    s = np.concatenate([[0.0], np.cumsum(seg[seg > 1e-10])])
    t = np.linspace(0.0, s[-1], n)
    k = np.clip(np.searchsorted(s, t, side="right") - 1, 0, len(s) - 2)
    w = ((t - s[k]) / np.maximum(s[k + 1] - s[k], 1e-300))[:, None, None]
    return (1 - w) * polyline[k] + w * polyline[k + 1]


def _fragmented(R: np.ndarray, radii: np.ndarray, factor: float) -> bool:
    """Whether the bond graph (r_ij < factor (R_i + R_j)) has more than one component."""
    n = R.shape[0]
    if n < 2:
        return False
    r = np.sqrt(((R[:, None] - R[None]) ** 2).sum(-1))
    bonded = r < factor * (radii[:, None] + radii[None])
    seen, stack = {0}, [0]
    while stack:
        i = stack.pop()
        for j in np.nonzero(bonded[i])[0]:
            if j not in seen:
                seen.add(int(j))
                stack.append(int(j))
    return len(seen) < n


# ---------------------------------------------------------------------------------------
# the explorer
# ---------------------------------------------------------------------------------------
class AFIRExplorer:
    """Builds a :class:`ReactionNetwork` of `potential` by AFIR.

    **Arguments:**

    - `potential`: the true surface.
    - `settings`: an :class:`ExploreSettings`.
    - `radii`: per-atom radii (Å) for the AFIR weights and the bond graph (covalent radii,
      :func:`jaxrxn.explore.afir.covalent_radii`; ``0.5 * 2^(1/6) sigma`` for LJ). Not used
      for a one-particle model surface, where AFIR becomes a pulling force along
      `settings.n_directions` directions (:func:`directional_afir_potential`).
    - `network`: a network to extend (resume); a new one otherwise.
    - `checkpoint`: JSON file written after every explored minimum.
    - `rigid`: the system is free in space (align before comparing structures); ``False``
      for model surfaces, slabs and periodic cells.
    """

    def __init__(
        self,
        potential: Potential,
        settings: ExploreSettings,
        *,
        radii: Sequence[float] | None = None,
        network: ReactionNetwork | None = None,
        checkpoint: str | None = None,
        rigid: bool | None = None,
    ):
        self.potential = potential
        self.settings = settings
        self.radii = None if radii is None else np.asarray(radii, float)
        self.network = ReactionNetwork() if network is None else network
        self.checkpoint = checkpoint
        self._rigid = rigid
        self.stats = ExploreStats()
        self.alphas = jnp.linspace(0.0, settings.alpha_max, settings.n_alpha)

    # ---- biases ------------------------------------------------------------------------
    def _biases(self, R: np.ndarray):
        """The AFIR potential (bias zero) and the batch of bias params for minimum ``R``."""
        n, dim = R.shape
        if n == 1:
            k = self.settings.n_directions
            if dim == 2:
                th = 2 * np.pi * np.arange(k) / k
                dirs = np.stack([np.cos(th), np.sin(th)], -1)
            else:
                dirs = np.random.default_rng(0).normal(size=(k, dim))
                dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
            base = directional_afir_potential(self.potential, dirs[0][None])
            return base, {"direction": jnp.asarray(dirs[:, None, :])}
        if self.radii is None:
            raise ValueError("a many-atom system needs `radii` (Å) for the AFIR weights.")
        # SC-AFIR on an atomic cluster: every atom pair is a fragment pair, pushed together
        # (rho = +1) and pulled apart (rho = -1).
        # Every atom against the rest is a fragment pair too (it digs in or rolls over).
        eye = np.eye(n)
        groups = [(eye[i], eye[j]) for i, j in itertools.combinations(range(n), 2)]
        groups += [(eye[i], 1.0 - eye[i]) for i in range(n)]
        mask_a = np.array([a for a, _ in groups for _ in (0, 1)])[:, None, :]
        mask_b = np.array([b for _, b in groups for _ in (0, 1)])[:, None, :]
        rho = np.array([s for _ in groups for s in (1.0, -1.0)])[:, None]
        base = afir_potential(self.potential, [[0], [1]], alpha=0.0, radii=self.radii)
        return base, {"mask_a": jnp.asarray(mask_a), "mask_b": jnp.asarray(mask_b), "rho": jnp.asarray(rho)}

    def _is_rigid(self, R) -> bool:
        return (R.shape[0] > 1 and self.potential.fixed is None) if self._rigid is None else self._rigid

    # ---- stages ------------------------------------------------------------------------
    def seed(self, R0) -> int:
        """Relax ``R0`` and add it as an EQ; returns its index."""
        check_configuration(R0, name="start structure")
        Q, E, ok, calls = _quench(self.potential, jnp.asarray(R0)[None], self.settings.quench_fmax, self.settings.max_steps)
        self.stats.quench_force_calls += int(calls)
        if not bool(ok[0]):
            raise ValueError("the start structure did not relax to a minimum; check the potential and geometry.")
        return self.network.add_minimum(np.asarray(Q[0]), float(E[0]))[0]

    def _bands_from_paths(self, R_start: np.ndarray, paths: np.ndarray, k_min: int):
        """Quench the AFIR images; return initial bands and record dissociation channels."""
        s = self.settings
        # a loose quench only tells basins apart; bands and saddles are refined tightly
        Q, E, ok, calls = _quench(self.potential, jnp.asarray(paths), 10 * s.quench_fmax, s.max_steps // 4)
        self.stats.quench_force_calls += int(calls)
        Q, E, ok = np.asarray(Q), np.asarray(E), np.asarray(ok)
        rigid = self._is_rigid(R_start)
        bands, seen, guesses = [], [], []
        for p in range(paths.shape[0]):
            for k in range(1, paths.shape[1]):
                if _aligned_rmsd(Q[p, k], R_start, rigid) > s.rmsd_tol:
                    break
            else:
                continue
            product = Q[p, k]
            if self.radii is not None and _fragmented(product, self.radii, s.bond_factor):
                # the relaxed fragments: the channel's dissociation limit
                self.network.add_channel(product, float(E[p, k]), k_min)
                continue
            if not ok[p, k]:
                continue
            # the last AFIR image before the breakdown is itself a saddle guess
            guesses.append(paths[p, k - 1])
            # one band per labelled product: other paths to it relax to the same MEP
            if any(_aligned_rmsd(product, q, rigid) < s.rmsd_tol for q in seen):
                continue
            seen.append(product)
            polyline = np.concatenate([paths[p, :k], product[None]])
            bands.append(_resample(polyline, s.n_images))
        return bands, guesses

    def _saddles_from_bands(self, bands: list[np.ndarray]) -> list[np.ndarray]:
        """CI-NEB on every band; saddle guesses at every interior local maximum."""
        s = self.settings
        batch, n = _pad(np.stack(bands))
        res = _neb_batch(self.potential, jnp.asarray(batch), NEB(k=s.neb_k, climb=True, optimizer="fire"), s.neb_fmax, s.max_steps)
        self.stats.n_bands += n
        self.stats.neb_force_calls += int(np.sum(np.asarray(res.n_force_calls)[:n]))
        paths, energies = np.asarray(res.path)[:n], np.asarray(res.energies)[:n]
        guesses = []
        for path, e in zip(paths, energies):
            for i in range(1, len(e) - 1):
                if e[i] > e[i - 1] and e[i] >= e[i + 1]:
                    guesses.append(path[i])
        return guesses

    def _follow_modes(self, k: int) -> list[int]:
        """Mode-following P-RFO from EQ `k` along its softest modes (both signs) and random
        directions; descend from every saddle found. Returns new EQ indices."""
        s = self.settings
        R = self.network.minima[k].R
        U, n_removed = _soft_modes(self.potential, jnp.asarray(R))
        U = np.asarray(U)
        n_dof = U.shape[0] - int(n_removed)
        dirs = [U[:, i] for i in range(min(s.n_follow_modes, n_dof))]
        dirs = dirs + [-d for d in dirs]
        if s.n_follow_random:
            # random directions inside the true degrees of freedom, seeded by the EQ index
            # so that a resumed exploration repeats them
            V = U[:, :n_dof]
            g = np.random.default_rng(k).normal(size=(s.n_follow_random, n_dof)) @ V.T
            dirs += list(g / np.linalg.norm(g, axis=1, keepdims=True))
        if not dirs:
            return []
        D = np.stack(dirs).reshape((-1,) + R.shape)
        batch, n = _pad(R[None] + s.follow_step * D)
        modes, _ = _pad(D)
        sad = _follow_batch(self.potential, jnp.asarray(batch), jnp.asarray(modes), s.saddle_fmax, s.max_steps)
        return self._descend(sad, n)

    def _connect(self, guesses: list[np.ndarray]) -> list[int]:
        """Saddle searches from the guesses; descend from each TS; add EQ and TS. Returns
        the indices of new minima."""
        s = self.settings
        batch, n = _pad(np.stack(guesses))
        sad = _saddle_batch(self.potential, jnp.asarray(batch), s.saddle_fmax, s.max_steps)
        return self._descend(sad, n)

    def _descend(self, sad, n: int) -> list[int]:
        """Count the first ``n`` saddle searches of batch ``sad``; from each converged,
        distinct first-order saddle descend both ways; add EQ and TS. Returns new EQ
        indices."""
        s = self.settings
        self.stats.n_saddle_searches += n
        self.stats.saddle_force_calls += int(np.sum(np.asarray(sad.n_force_calls)[:n]))
        conv = np.asarray(sad.converged)[:n]
        R_ts, E_ts, mode = np.asarray(sad.R)[:n][conv], np.asarray(sad.energy)[:n][conv], np.asarray(sad.mode)[:n][conv]
        if len(R_ts) == 0:
            return []
        # drop duplicate saddles before the descents
        keep = []
        for i in range(len(R_ts)):
            if not any(abs(E_ts[i] - E_ts[j]) < 1e-6 and _aligned_rmsd(R_ts[i], R_ts[j], self._is_rigid(R_ts[i])) < 1e-3 for j in keep):
                keep.append(i)
        R_ts, E_ts, mode = R_ts[keep], E_ts[keep], mode[keep]
        step = s.descent_step * mode / np.linalg.norm(mode.reshape(len(mode), -1), axis=1)[:, None, None]
        starts = np.concatenate([R_ts + step, R_ts - step])
        batch, m = _pad(starts)
        Q, E, ok, calls = _quench(self.potential, jnp.asarray(batch), s.quench_fmax, s.max_steps)
        self.stats.quench_force_calls += int(calls)
        Q, E, ok = np.asarray(Q)[:m], np.asarray(E)[:m], np.asarray(ok)[:m]
        new = []
        nt = len(R_ts)
        for i in range(nt):
            ends = []
            for j in (i, i + nt):
                if not ok[j] or E[j] >= E_ts[i]:
                    break
                if self.radii is not None and _fragmented(Q[j], self.radii, s.bond_factor):
                    break
                k, is_new = self.network.add_minimum(Q[j], float(E[j]))
                ends.append((k, Q[j]))
                if is_new:
                    new.append(k)
            if len(ends) != 2:
                continue
            nu_f = nu_b = float("nan")
            if s.prefactors:
                nu_f, nu_b = (
                    float(vineyard_prefactor(self.potential, jnp.asarray(q), jnp.asarray(R_ts[i]), time_unit_s=s.time_unit_s))
                    for _, q in ends
                )
            self.network.add_transition_state(R_ts[i], float(E_ts[i]), (ends[0][0], ends[1][0]), nu_f, nu_b)
        return new

    def _refine(self, bands: list, guesses: list) -> list[int]:
        """Saddle guesses from the bands' maxima plus `guesses`, refined and connected on
        the true surface; returns the new EQ indices."""
        if bands:
            guesses = guesses + self._saddles_from_bands(bands)
        return self._connect(guesses) if guesses else []

    def explore_minimum(self, k: int) -> list[int]:
        """Run AFIR from EQ `k` and refine everything it finds; returns new EQ indices."""
        s = self.settings
        R = self.network.minima[k].R
        bands, guesses = [], []
        if s.alpha_max > 0:
            base, biases = self._biases(R)
            paths = _afir_paths(base, jnp.asarray(R), self.alphas, biases, s.afir_fmax, s.afir_max_steps)
            self.stats.afir_force_calls += int(np.sum(np.asarray(paths.n_force_calls)))
            self.stats.n_afir_paths += int(paths.R.shape[0])
            bands, guesses = self._bands_from_paths(R, np.asarray(paths.R), k)
        new = self._refine(bands, guesses)
        if s.n_follow_modes or s.n_follow_random:
            new = new + [i for i in self._follow_modes(k) if i not in new]
        self.network.minima[k].explored = True
        return new

    def run(self, R0=None, *, max_minima: int = 20, verbose: bool = False) -> ReactionNetwork:
        """Explore from ``R0`` (or resume the network given at construction).

        SC-AFIR from every unexplored minimum, lowest first, until none is left within
        `energy_window` of the lowest or `max_minima` minima have been explored.
        """
        t0 = time.perf_counter()
        if R0 is not None:
            self.seed(R0)
        if not self.network.minima:
            raise ValueError("nothing to explore: give a start structure or a network with minima.")
        while True:
            e_low = self.network.minimum_energies.min()
            todo = [k for k in self.network.unexplored() if self.network.minima[k].energy - e_low <= self.settings.energy_window]
            n_done = sum(m.explored for m in self.network.minima)
            if not todo or n_done >= max_minima:
                break
            new = self.explore_minimum(todo[0])
            if verbose:
                print(f"explored EQ{todo[0]}: {len(new)} new minima; network {len(self.network.minima)} EQ, "
                      f"{len(self.network.transition_states)} TS, {len(self.network.channels)} DC")  # fmt: skip
            if self.checkpoint:
                self.network.save(self.checkpoint)
        self.stats.wall_time += time.perf_counter() - t0
        return self.network

    @property
    def finished(self) -> bool:
        """True when no minimum within the energy window is left unexplored."""
        e_low = self.network.minimum_energies.min()
        return not any(self.network.minima[k].energy - e_low <= self.settings.energy_window for k in self.network.unexplored())


def sc_afir(
    potential: Potential,
    R0,
    settings: ExploreSettings,
    *,
    radii=None,
    max_minima: int = 20,
    checkpoint: str | None = None,
    resume: ReactionNetwork | None = None,
) -> tuple[ReactionNetwork, ExploreStats]:
    """Single-component AFIR from `R0` (or from the unexplored minima of `resume`)."""
    ex = AFIRExplorer(potential, settings, radii=radii, network=resume, checkpoint=checkpoint)
    net = ex.run(None if resume is not None else R0, max_minima=max_minima)
    return net, ex.stats


def _random_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    Q, Rr = np.linalg.qr(rng.normal(size=(dim, dim)))
    Q = Q * np.sign(np.diag(Rr))
    if np.linalg.det(Q) < 0:
        Q[:, 0] = -Q[:, 0]
    return Q


def mc_afir(
    potential: Potential,
    R_a,
    R_b,
    settings: ExploreSettings,
    *,
    radii,
    n_samples: int = 8,
    distance: float = 4.0,
    seed: int = 0,
) -> tuple[ReactionNetwork, ExploreStats]:
    """Multi-component AFIR: fragments `R_a` and `R_b` (Å) in random relative orientations.

    Each sample rotates both fragments at random, puts their centres `distance` Å apart
    along a random direction, pushes them together with a force ramped to
    ``settings.alpha_max``, and refines the path (complex -> product) by CI-NEB, P-RFO and
    descents. `radii` covers the atoms of A then B. Returns the network and the counters.
    """
    R_a, R_b = np.asarray(R_a, float), np.asarray(R_b, float)
    n_a, dim = R_a.shape
    rng = np.random.default_rng(seed)
    ex = AFIRExplorer(potential, settings, radii=radii)
    starts = []
    for _ in range(n_samples):
        A = (R_a - R_a.mean(0)) @ _random_rotation(rng, dim).T
        B = (R_b - R_b.mean(0)) @ _random_rotation(rng, dim).T
        u = rng.normal(size=dim)
        starts.append(np.concatenate([A, B + distance * u / np.linalg.norm(u)]))
    afir = afir_potential(potential, [range(n_a), range(n_a, n_a + len(R_b))], alpha=0.0, radii=radii)
    t0 = time.perf_counter()
    bands, guesses = [], []
    for R in starts:
        paths = _afir_paths(afir, jnp.asarray(R), ex.alphas[1:], {"rho": jnp.ones((1, 1))}, settings.afir_fmax, settings.afir_max_steps)
        ex.stats.afir_force_calls += int(np.sum(np.asarray(paths.n_force_calls)))
        ex.stats.n_afir_paths += 1
        path = np.asarray(paths.R)
        # the weakest-force image relaxes to the encounter complex: the path's reactant
        Q, E, ok, calls = _quench(potential, jnp.asarray(path[:, 0]), settings.quench_fmax, settings.max_steps)
        ex.stats.quench_force_calls += int(calls)
        start_k, _ = ex.network.add_minimum(np.asarray(Q[0]), float(E[0]))
        b, g = ex._bands_from_paths(np.asarray(Q[0]), np.concatenate([np.asarray(Q[:1])[None], path[:, 1:]], 1), start_k)
        bands, guesses = bands + b, guesses + g
    ex._refine(bands, guesses)
    ex.stats.wall_time = time.perf_counter() - t0
    return ex.network, ex.stats


def ds_afir(
    potential: Potential,
    R_start,
    R_target,
    settings: ExploreSettings,
    *,
    radii,
) -> tuple[ReactionNetwork, ExploreStats]:
    """Double-ended AFIR: a path from `R_start` to `R_target` (same atoms, same order).

    After GRRM's DS-AFIR (S. Maeda et al., JCC 39, 233 (2018)), which finds one path between
    two given structures. The bias of :func:`jaxrxn.explore.afir.target_afir_potential`
    pulls the system toward the target's interatomic distances with force constants
    ramped to ``settings.alpha_max`` (eV/Å); each image of that AFIR path is quenched,
    and every change of basin along it (start -> intermediates -> target) gives one band,
    refined by CI-NEB, P-RFO and descents into the TS and minima between the two
    structures. Both end structures are relaxed and added to the network.

    Raises ``RuntimeError`` when the last image of the AFIR path does not quench to the
    target (the force never broke the last barrier): raise ``settings.alpha_max``.
    """
    from jaxrxn.validation import check_same_system

    check_same_system(R_start, R_target, names=("start structure", "target structure"))
    s = settings
    ex = AFIRExplorer(potential, settings, radii=radii)
    t0 = time.perf_counter()
    k0 = ex.seed(R_start)
    k_target = ex.seed(R_target)
    R0, R_end = ex.network.minima[k0].R, ex.network.minima[k_target].R
    afir = target_afir_potential(potential, jnp.asarray(R_end), alpha=0.0, radii=radii)
    paths = _afir_paths(afir, jnp.asarray(R0), ex.alphas, {"target": jnp.asarray(R_end)[None]}, s.afir_fmax, s.afir_max_steps)
    ex.stats.afir_force_calls += int(np.sum(np.asarray(paths.n_force_calls)))
    ex.stats.n_afir_paths = 1
    path = np.asarray(paths.R)[0]
    Q, _, ok, calls = _quench(potential, jnp.asarray(path), 10 * s.quench_fmax, s.max_steps // 4)
    ex.stats.quench_force_calls += int(calls)
    Q, ok = np.asarray(Q), np.asarray(ok)
    rigid = ex._is_rigid(R0)
    if not (ok[-1] and _aligned_rmsd(Q[-1], R_end, rigid) < s.rmsd_tol):
        raise RuntimeError(
            f"the DS-AFIR path did not reach the target: its last image (alpha = {s.alpha_max}) quenches "
            f"{_aligned_rmsd(Q[-1], R_end, rigid):.3g} Å RMS from it; raise settings.alpha_max"
        )
    # one band per change of basin along the path, from the basin's minimum through the
    # AFIR images to the next basin's quench; the last image before a change is a guess
    bands, guesses = [], []
    basin, first = R0, 0
    for k in range(1, len(path)):
        if _aligned_rmsd(Q[k], basin, rigid) <= s.rmsd_tol:
            continue
        if ok[k]:
            bands.append(_resample(np.concatenate([basin[None], path[first + 1 : k], Q[k][None]]), s.n_images))
            guesses.append(path[k - 1])
        basin, first = Q[k], k
    ex._refine(bands, guesses)
    ex.stats.wall_time = time.perf_counter() - t0
    return ex.network, ex.stats
