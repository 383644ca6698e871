"""Lattice KMC models built from a rate catalogue of barriers and prefactors.

Two models plug into :func:`jaxrxn.kmc.residence.run_kmc`:

- :class:`SublatticeWalker`: one particle (an interstitial H, an adatom, a vacancy) hopping
  among the sites of a periodic crystal, e.g. between octahedral (O) and tetrahedral (T)
  interstitial sites of an fcc or bcc metal. The hop table is built once, in NumPy, from
  the crystal geometry and a catalogue of :class:`HopType` entries (site labels, hop length,
  barrier in eV, prefactor in 1/s); rates follow Arrhenius ``k = nu exp(-Ea/kT)`` at the
  model's ``temperature`` (K), which can be swapped or vmapped without rebuilding.
- :class:`LatticeGas`: many particles on a periodic lattice with nearest-neighbour bonds
  ``E = -J * (number of occupied neighbour pairs)``; a particle hops into an empty
  neighbour site (equivalently, exchanges with a vacancy) with the bond-breaking barrier
  ``Ea = E_m + J * n_i`` (``n_i`` = occupied neighbours of the hopping particle), which obeys
  detailed balance with respect to ``exp(-E/kT)``.

Geometry of the interstitial sites (cubic lattice constant ``a``): fcc O at the cube centre
and edge midpoints (4 per cell, O-O hop ``a/sqrt(2)``), fcc T at ``(1/4,1/4,1/4)a`` and
equivalents (8 per cell, O-T hop ``sqrt(3) a/4``); bcc O at face centres and edge midpoints
(6 per cell), bcc T at ``(1/2,1/4,0)a`` and equivalents (12 per cell, T-T hop ``sqrt(2) a/4``,
O-T hop ``a/4``).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, Scalar

from jaxrxn.rates import arrhenius_rate


# ---------------------------------------------------------------------------------------
# One particle on a (multi-site) sublattice
# ---------------------------------------------------------------------------------------
class WalkerConfig(eqx.Module):
    """Unwrapped Cartesian position (Å) and basis-site index of a single walker."""

    position: Float[Array, " dim"]
    site: Int[Array, ""]


class HopType(NamedTuple):
    """A catalogue entry: hops from sites labelled ``source`` to ``target`` at ``distance`` Å.

    ``barrier`` in eV, ``prefactor`` in 1/s (attempt frequency of one hop).
    """

    source: str
    target: str
    distance: float
    barrier: float
    prefactor: float


class SublatticeWalker(eqx.Module):
    """A particle hopping among the basis sites of a periodic crystal.

    Padded tables over basis sites ``s`` and hop slots ``j`` (``max_hops`` per site; unused
    slots have ``barriers = inf`` so their rate is zero):
    ``hop_vectors (n_sites, max_hops, dim)`` Å, ``hop_targets (n_sites, max_hops)``,
    ``barriers`` eV, ``prefactors`` 1/s; ``temperature`` K.
    """

    hop_vectors: Float[Array, "n_sites max_hops dim"]
    hop_targets: Int[Array, "n_sites max_hops"]
    barriers: Float[Array, "n_sites max_hops"]
    prefactors: Float[Array, "n_sites max_hops"]
    temperature: Float[Array, ""]

    @classmethod
    def from_hops(cls, hops: Sequence[Sequence[tuple]], temperature: float) -> SublatticeWalker:
        """The padded tables from ragged per-site lists of hops ``(vector Å, target site,
        barrier eV, prefactor 1/s)``; every site needs at least one hop."""
        width = max(len(site_hops) for site_hops in hops)
        dim = len(hops[0][0][0])
        vectors = np.zeros((len(hops), width, dim))
        targets = np.zeros((len(hops), width), int)
        barriers = np.full((len(hops), width), np.inf)
        prefactors = np.zeros((len(hops), width))
        for i, site_hops in enumerate(hops):
            for j, (vec, target, barrier, prefactor) in enumerate(site_hops):
                vectors[i, j], targets[i, j], barriers[i, j], prefactors[i, j] = vec, target, barrier, prefactor
        return cls(
            jnp.asarray(vectors), jnp.asarray(targets), jnp.asarray(barriers), jnp.asarray(prefactors),
            jnp.asarray(float(temperature)),
        )

    def hop_rates(self) -> Float[Array, "n_sites max_hops"]:
        """Rate of every hop slot (1/s), zero for padding."""
        k = arrhenius_rate(jnp.where(jnp.isfinite(self.barriers), self.barriers, 0.0), self.prefactors, self.temperature)
        return jnp.where(jnp.isfinite(self.barriers), k, 0.0)

    def rates(self, config: WalkerConfig) -> Float[Array, " max_hops"]:
        return self.hop_rates()[config.site]

    def apply(self, config: WalkerConfig, event: Int[Array, ""]) -> WalkerConfig:
        return WalkerConfig(
            config.position + self.hop_vectors[config.site, event], self.hop_targets[config.site, event]
        )

    def start(self, site: int = 0) -> WalkerConfig:
        """A walker at the origin on basis site ``site``."""
        dim = self.hop_vectors.shape[-1]
        return WalkerConfig(jnp.zeros(dim, self.hop_vectors.dtype), jnp.asarray(site))

    def site_occupancy(self) -> Float[Array, " n_sites"]:
        """Stationary fraction of time on each basis site (null vector of the site generator)."""
        k = self.hop_rates()
        n = k.shape[0]
        generator = jnp.zeros((n, n), k.dtype).at[jnp.arange(n)[:, None], self.hop_targets].add(k)
        generator = generator - jnp.diag(jnp.sum(generator, axis=1))
        # p G = 0 with sum(p) = 1: replace one balance equation by the normalisation.
        lhs = generator.T.at[-1].set(1.0)
        rhs = jnp.zeros(n, k.dtype).at[-1].set(1.0)
        return jnp.linalg.solve(lhs, rhs)

    def analytic_diffusion_coefficient(self) -> Scalar:
        """Exact long-time D (Å^2/s) when no site has a mean drift.

        If ``sum_j k_sj lambda_sj = 0`` on every site ``s`` (true for the symmetric hop sets
        of cubic interstitial sublattices), successive hops are uncorrelated and
        ``D = 1/(2 dim) sum_s p_s sum_j k_sj |lambda_sj|^2`` with ``p_s`` the stationary
        occupancy. Call :meth:`max_site_drift` to check that premise.
        """
        k = self.hop_rates()
        dim = self.hop_vectors.shape[-1]
        per_site = jnp.sum(k * jnp.sum(self.hop_vectors**2, axis=-1), axis=1)
        return jnp.sum(self.site_occupancy() * per_site) / (2 * dim)

    def max_site_drift(self) -> Scalar:
        """Largest ``|sum_j k_sj lambda_sj| / sum_j k_sj |lambda_sj|`` over sites (0 = no drift)."""
        k = self.hop_rates()
        drift = jnp.linalg.norm(jnp.sum(k[..., None] * self.hop_vectors, axis=1), axis=-1)
        scale = jnp.sum(k * jnp.linalg.norm(self.hop_vectors, axis=-1), axis=1)
        return jnp.max(drift / jnp.maximum(scale, 1e-300))


def build_walker(
    cell: Float[np.ndarray, "dim dim"],
    fractional_sites: Float[np.ndarray, "n_sites dim"],
    labels: Sequence[str],
    catalogue: Sequence[HopType],
    temperature: float,
    *,
    tol: float = 1e-3,
) -> SublatticeWalker:
    """Build a :class:`SublatticeWalker` from crystal geometry and a hop catalogue.

    ``cell`` rows are the lattice vectors (Å); ``fractional_sites`` the basis sites in
    fractional coordinates with ``labels`` (e.g. ``"O"``, ``"T"``). Every pair of sites
    (through periodic images) whose labels and distance (within ``tol`` Å) match a
    catalogue entry becomes a hop with that entry's barrier and prefactor. Raises
    ``ValueError`` if the catalogue leaves a site without any hop.
    """
    cell = np.asarray(cell, float)
    frac = np.asarray(fractional_sites, float)
    dim = cell.shape[0]
    if cell.shape != (dim, dim) or frac.ndim != 2 or frac.shape[1] != dim or len(labels) != len(frac):
        raise ValueError("cell must be (dim, dim), fractional_sites (n_sites, dim) and labels one per site")
    cart = frac @ cell
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=dim)), float) @ cell
    hops: list[list[tuple[np.ndarray, int, float, float]]] = [[] for _ in frac]
    for i, j in itertools.product(range(len(frac)), repeat=2):
        for shift in shifts:
            vec = cart[j] + shift - cart[i]
            dist = np.linalg.norm(vec)
            if dist < tol:
                continue
            for hop in catalogue:
                if hop.source == labels[i] and hop.target == labels[j] and abs(dist - hop.distance) < tol:
                    hops[i].append((vec, j, hop.barrier, hop.prefactor))
    empty = [i for i, h in enumerate(hops) if not h]
    if empty:
        raise ValueError(f"the hop catalogue gives no hop from sites {empty} (labels {[labels[i] for i in empty]})")
    return SublatticeWalker.from_hops(hops, temperature)


def square_lattice_walker(a: float, rate: float) -> SublatticeWalker:
    """2D square lattice, spacing ``a`` (Å), 4 equal hops of ``rate`` (1/s): ``D = rate a^2``."""
    return build_walker(np.eye(2) * a, [[0.0, 0.0]], ["S"], [HopType("S", "S", a, 0.0, rate)], 300.0)


def fcc_interstitial_sites(a: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Cubic fcc cell (Å), fractional O and T interstitial sites, and their labels."""
    octa = [[0.5, 0.5, 0.5], [0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]]
    tetra = [list(p) for p in itertools.product((0.25, 0.75), repeat=3)]
    return np.eye(3) * a, np.array(octa + tetra), ["O"] * 4 + ["T"] * 8


def bcc_interstitial_sites(a: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Cubic bcc cell (Å), fractional O and T interstitial sites, and their labels."""
    octa = []
    for axis in range(3):
        face = np.full(3, 0.5)
        face[axis] = 0.0
        edge = np.zeros(3)
        edge[axis] = 0.5
        octa += [face, edge]
    tetra = set()
    for perm in itertools.permutations(range(3)):
        for quarter, zero in itertools.product((0.25, 0.75), (0.0,)):
            p = np.zeros(3)
            p[perm[0]], p[perm[1]], p[perm[2]] = 0.5, quarter, zero
            tetra.add(tuple(p))
    tetra = sorted(tetra)
    return np.eye(3) * a, np.array(octa + [list(t) for t in tetra]), ["O"] * 6 + ["T"] * len(tetra)


def fcc_hydrogen_walker(
    a: float,
    temperature: float,
    *,
    barrier_oo: float | None = None,
    barrier_ot: float | None = None,
    barrier_to: float | None = None,
    prefactor: float = 1.0e13,
    prefactor_ot: float | None = None,
    prefactor_to: float | None = None,
) -> SublatticeWalker:
    """Interstitial H in an fcc metal (lattice constant ``a`` Å) at ``temperature`` K.

    Give ``barrier_oo`` (eV) for direct O-O hops and/or ``barrier_ot`` and ``barrier_to``
    (eV) for O->T and T->O hops through the tetrahedral site; one prefactor (1/s) for all,
    or ``prefactor_ot`` / ``prefactor_to`` for the two directions (harmonic-TST
    prefactors differ: the O and T wells have different curvatures).
    Barriers are inputs: from NEB on a potential of your choice, or fitted to experiment.
    """
    cell, frac, labels = fcc_interstitial_sites(a)
    catalogue = []
    if barrier_oo is not None:
        catalogue.append(HopType("O", "O", a / np.sqrt(2), barrier_oo, prefactor))
    if (barrier_ot is None) != (barrier_to is None):
        raise ValueError("give both barrier_ot and barrier_to, or neither")
    if barrier_ot is not None:
        catalogue += [
            HopType("O", "T", np.sqrt(3) * a / 4, barrier_ot, prefactor if prefactor_ot is None else prefactor_ot),
            HopType("T", "O", np.sqrt(3) * a / 4, barrier_to, prefactor if prefactor_to is None else prefactor_to),
        ]
    if not catalogue:
        raise ValueError("give barrier_oo or barrier_ot/barrier_to")
    if barrier_ot is None:
        cell, frac, labels = cell, frac[:4], labels[:4]
    return build_walker(cell, frac, labels, catalogue, temperature)


# ---------------------------------------------------------------------------------------
# Many particles on a lattice: hops into vacancies with bond-breaking barriers
# ---------------------------------------------------------------------------------------
def square_lattice_neighbors(length: int) -> Int[np.ndarray, "n_sites 4"]:
    """Neighbour table of a periodic ``length x length`` square lattice (+x, -x, +y, -y)."""
    idx = np.arange(length * length).reshape(length, length)
    return np.stack(
        [np.roll(idx, -1, 0), np.roll(idx, 1, 0), np.roll(idx, -1, 1), np.roll(idx, 1, 1)], axis=-1
    ).reshape(-1, 4)


class LatticeGas(eqx.Module):
    """Particles on a periodic lattice with nearest-neighbour attraction ``J`` (eV).

    Configuration: occupancy ``(n_sites,)`` of 0/1. Event ``e = i * z + n`` moves the
    particle on site ``i`` to its ``n``-th neighbour if that site is empty, with rate
    ``prefactor * exp(-(migration_barrier + J n_i)/kT)`` (1/s). ``neighbors (n_sites, z)``.
    """

    neighbors: Int[Array, "n_sites z"]
    bond_energy: float
    migration_barrier: float
    prefactor: float
    temperature: float

    def energy(self, occupancy: Int[Array, " n_sites"]) -> Scalar:
        """``-J`` times the number of occupied neighbour pairs (eV)."""
        occ = occupancy.astype(float)
        return -0.5 * self.bond_energy * jnp.sum(occ[:, None] * occ[self.neighbors])

    def coordination(self, occupancy: Int[Array, " n_sites"]) -> Int[Array, " n_sites"]:
        """Number of occupied neighbours of every site."""
        return jnp.sum(occupancy[self.neighbors], axis=1)

    def allowed(self, occupancy: Int[Array, " n_sites"]) -> Int[Array, "n_sites z"]:
        """1 where site ``i`` is occupied and its ``n``-th neighbour empty."""
        return occupancy[:, None] * (1 - occupancy[self.neighbors])

    def hop_energy_change(self, occupancy: Int[Array, " n_sites"]) -> Float[Array, "n_sites z"]:
        """``E(after) - E(before)`` (eV) for every (site, neighbour) hop, allowed or not."""
        n_from = self.coordination(occupancy)
        # at the destination the mover no longer counts itself as a neighbour
        n_to = self.coordination(occupancy)[self.neighbors] - 1
        return -self.bond_energy * (n_to - n_from[:, None])

    def rates(self, occupancy: Int[Array, " n_sites"]) -> Float[Array, " n_events"]:
        barrier = self.migration_barrier + self.bond_energy * self.coordination(occupancy)
        k = arrhenius_rate(barrier, self.prefactor, self.temperature)[:, None] * self.allowed(occupancy)
        return k.reshape(-1)

    def apply(self, occupancy: Int[Array, " n_sites"], event: Int[Array, ""]) -> Int[Array, " n_sites"]:
        z = self.neighbors.shape[1]
        site, slot = event // z, event % z
        return occupancy.at[site].set(0).at[self.neighbors[site, slot]].set(1)
