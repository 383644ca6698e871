"""Effective Medium Theory (EMT) in JAX, numerically identical to ASE's ``EMT`` calculator.

EMT after K. W. Jacobsen, P. Stoltze & J. K. Nørskov, Surf. Sci. 366, 394 (1996), in the
form and with the parameter set of ``ase.calculators.emt.EMT`` (ASE 3.29, default
``asap_cutoff=False``). For atom ``i`` with neighbours ``j`` at distance ``r`` (Å):

- neighbour density ``sigma1_i = sum_j chi_ij exp(-eta2_j (r - beta s0_j)) w(r)`` with
  ``chi_ij = n0_j / n0_i``;
- neutral-sphere radius ``s_i = -ln(sigma1_i / (12 gamma1_i)) / (beta eta2_i)``;
- cohesive function ``E_c,i = E0_i (1 + lambda_i s_i) exp(-lambda_i s_i)``;
- atomic-sphere correction ``6 V0_i exp(-kappa_i s_i)
  - sum_j V0_i / (2 gamma2_i) chi_ij exp(-kappa_j (r / beta - s0_j)) w(r)``;

and the total energy is ``sum_i (E_c,i + AS_i - E0_i)`` (eV), zero for isolated atoms
(ASE/ASAP convention). ``beta = 1.809`` (ASE's rounding of ``(16 pi / 3)^(1/3) / sqrt(2)``).
``w(r) = 1 / (1 + exp(a (r - r_c)))`` is a logistic cutoff with ``r_c`` the mean of the
third and fourth fcc neighbour distances of the largest ``s0`` in the whole parameter
table (Ag), ``a`` set so that ``w = 1e-4`` at the fourth neighbour distance; neighbours
are counted out to ``r_c + 0.5`` Å (a hard edge, as in ASE). ``gamma1``, ``gamma2``
normalise the first three fcc shells of each element to its reference crystal.

Periodic cells may be skewed and periodic along any subset of axes (slabs are
``pbc=(True, True, False)``); without a neighbour list every periodic image inside the
cutoff is summed, so cells narrower than twice the cutoff are exact. Large systems carry a
:class:`jaxrxn.neighbors.NeighborList` (``neighbor_list=True`` or
:meth:`Potential.with_neighbors`).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
import numpy as np
from ase.data import chemical_symbols
from ase.units import Bohr
from jaxtyping import Array, Float, Int

from jaxrxn.neighbors import neighbor_displacements
from jaxrxn.potentials.core import Potential
from jaxrxn.system import (
    System,
    image_reach,
    join_reach,
    pair_displacements,
    real_numbers,
    safe_distances,
)

_PARAMETER_NAMES = ("E0", "s0", "V0", "eta2", "kappa", "lambda", "n0")

#: ASE's EMT table, in ASE's units: E0 (eV), s0 (bohr), V0 (eV), eta2, kappa, lambda
#: (1/bohr), n0 (1/bohr^3). Al-Pt are the published EMT metals; H, C, N, O are ASE's
#: "not for any serious use" extras.
EMT_PARAMETERS: dict[str, dict[str, float]] = {
    symbol: dict(zip(_PARAMETER_NAMES, values))
    for symbol, values in {
        "Al": (-3.28, 3.00, 1.493, 1.240, 2.000, 1.169, 0.00700),
        "Cu": (-3.51, 2.67, 2.476, 1.652, 2.740, 1.906, 0.00910),
        "Ag": (-2.96, 3.01, 2.132, 1.652, 2.790, 1.892, 0.00547),
        "Au": (-3.80, 3.00, 2.321, 1.674, 2.873, 2.182, 0.00703),
        "Ni": (-4.44, 2.60, 3.673, 1.669, 2.757, 1.948, 0.01030),
        "Pd": (-3.90, 2.87, 2.773, 1.818, 3.107, 2.155, 0.00688),
        "Pt": (-5.85, 2.90, 4.067, 1.812, 3.145, 2.192, 0.00802),
        "H": (-3.21, 1.31, 0.132, 2.652, 2.790, 3.892, 0.00547),
        "C": (-3.50, 1.81, 0.332, 1.652, 2.790, 1.892, 0.01322),
        "N": (-5.10, 1.88, 0.132, 1.652, 2.790, 1.892, 0.01222),
        "O": (-4.60, 1.95, 0.332, 1.652, 2.790, 1.892, 0.00850),
    }.items()
}

#: Powers of bohr that turn each table entry into eV / Å units.
_BOHR_POWER = {"E0": 0, "s0": 1, "V0": 0, "eta2": -1, "kappa": -1, "lambda": -1, "n0": -3}

BETA = 1.809


def _cutoff_constants() -> tuple[float, float, float]:
    """``(r_c, r_list, a)``: logistic midpoint (Å), neighbour radius (Å), slope (1/Å)."""
    s0_max = max(p["s0"] for p in EMT_PARAMETERS.values()) * Bohr
    r1nn = BETA * s0_max
    r_c = r1nn * 0.5 * (math.sqrt(3.0) + 2.0)
    slope = math.log(1.0 / 1e-4 - 1.0) / (2.0 * r1nn - r_c)
    return r_c, r_c + 0.5, slope


R_C, R_LIST, A_CUT = _cutoff_constants()


#: Length of the parameter tables: indexed by atomic number up to the heaviest element.
N_TABLE = max(chemical_symbols.index(symbol) for symbol in EMT_PARAMETERS) + 1


def _check_elements(numbers) -> None:
    for z in np.unique(np.asarray(numbers, int).reshape(-1)):
        symbol = chemical_symbols[z] if 0 <= z < len(chemical_symbols) else str(z)
        if symbol not in EMT_PARAMETERS:
            raise ValueError(
                f"EMT has no parameters for element {symbol!r}; available: {', '.join(EMT_PARAMETERS)}."
            )


def emt_params(dtype=None) -> dict[str, Float[Array, " n_table"]]:
    """EMT parameter tables in eV and Å units, indexed by atomic number.

    Keys ``E0`` (eV), ``s0`` (Å), ``V0`` (eV), ``eta2``, ``kappa``, ``lambda`` (1/Å),
    ``n0`` (1/Å^3); each an array of shape ``(N_TABLE,)`` whose entry ``Z`` holds element
    ``Z``'s value (entries of elements without parameters hold 1 and are never read: the
    constructors reject such elements).
    """
    table = {name: np.ones(N_TABLE) for name in _PARAMETER_NAMES}
    for symbol, values in EMT_PARAMETERS.items():
        z = chemical_symbols.index(symbol)
        for name in _PARAMETER_NAMES:
            table[name][z] = values[name] * Bohr ** _BOHR_POWER[name]
    return {name: jnp.asarray(v, dtype) for name, v in table.items()}


def _logistic(r):
    return 1.0 / (1.0 + jnp.exp(A_CUT * (r - R_C)))


def _reference_gammas(p):
    """``gamma1``, ``gamma2`` per species: the first three fcc shells (12, 6, 24 atoms at
    ``beta s0 sqrt(1, 2, 3)``), weighted by the cutoff, normalised to 12."""
    shell = jnp.sqrt(jnp.asarray([1.0, 2.0, 3.0], p["s0"].dtype))
    count = jnp.asarray([12.0, 6.0, 24.0], p["s0"].dtype)
    r1 = BETA * p["s0"][:, None]
    r = r1 * shell
    x = count * _logistic(r) / 12.0
    gamma1 = jnp.sum(x * jnp.exp(-p["eta2"][:, None] * (r - r1)), axis=1)
    gamma2 = jnp.sum(x * jnp.exp(-p["kappa"][:, None] / BETA * (r - r1)), axis=1)
    return gamma1, gamma2


def _emt_energy_from_pairs(
    r: Float[Array, " n_pairs"],
    valid: Float[Array, " n_pairs"],
    center: Int[Array, " n_pairs"],
    other: Int[Array, " n_pairs"],
    species: Int[Array, " n_atoms"],
    p: dict,
    atom_mask=None,
):
    """Total EMT energy (eV) from ordered pairs ``(center, other)`` at distances `r` (Å).

    Every interacting pair appears in both orders; `valid` is 1 for pairs to count
    (inside the neighbour radius, not padding) and 0 otherwise. `species` index the
    parameter tables `p` (atomic numbers); atoms outside `atom_mask` contribute nothing.
    """
    n_atoms = species.shape[0]
    gamma1, gamma2 = _reference_gammas(p)
    si, sj = species[center], species[other]
    # Pairs outside the list sit at r_c so no exp overflows into a NaN gradient.
    r = jnp.where(valid, r, R_C)
    w = jnp.where(valid, _logistic(r), 0.0)
    chi = p["n0"][sj] / p["n0"][si]

    sigma1 = jax.ops.segment_sum(
        chi * jnp.exp(-p["eta2"][sj] * (r - BETA * p["s0"][sj])) * w, center, n_atoms
    )
    # Atoms without neighbours contribute 0 (the s -> infinity limit of E_c + AS - E0).
    has_neighbours = sigma1 > 0.0
    real = 1.0 if atom_mask is None else atom_mask
    e0, lam, kappa = p["E0"][species], p["lambda"][species], p["kappa"][species]
    s = -jnp.log(jnp.where(has_neighbours, sigma1, 1.0) / (12.0 * gamma1[species]))
    s = s / (BETA * p["eta2"][species])
    embedded = (
        e0 * (1.0 + lam * s) * jnp.exp(-lam * s) + 6.0 * p["V0"][species] * jnp.exp(-kappa * s)
    )
    atomic = jnp.sum((jnp.where(has_neighbours, embedded, 0.0) - e0) * real)

    pair_as = (
        -0.5 * p["V0"][si] / gamma2[si] * chi
        * jnp.exp(-p["kappa"][sj] * (r / BETA - p["s0"][sj])) * w
    )  # fmt: skip
    return atomic + jnp.sum(pair_as)


def _list_terms(R, cell, pbc, atom_mask, species, p, idx):
    """Per-slot and per-atom quantities of EMT on a full neighbour list (every pair in both
    rows of the dense ``(n_atoms, capacity)`` `idx`), shared by the energy and its analytic
    gradient.

    Per-atom parameters are combined once: with ``a_j = eta2_j beta s0_j + ln n0_j`` and
    ``b_j = kappa_j s0_j + ln n0_j``, atom ``i``'s density is ``sigma1_i = sum_j exp(a_j -
    eta2_j r) w(r) / n0_i`` and its atomic-sphere sum ``sum_j exp(b_j - kappa_j r / beta)
    w(r) / n0_i``: each slot costs two gathers of per-atom numbers besides its position,
    and every sum runs along a row (no scatter).
    """
    j, d, real = neighbor_displacements(R, idx, cell, pbc)
    r2 = sum(x * x for x in d)
    valid = real & (r2 < R_LIST**2)
    # Slots outside the list sit at r_c so no exp overflows into a NaN gradient.
    r = jnp.sqrt(jnp.where(valid, r2, R_C**2))
    w = jnp.where(valid, _logistic(r), 0.0)

    gamma1, gamma2 = _reference_gammas(p)
    at = {k: p[k][species] for k in _PARAMETER_NAMES}
    at["gamma1"], at["gamma2"] = gamma1[species], gamma2[species]
    at["a"] = at["eta2"] * BETA * at["s0"] + jnp.log(at["n0"])
    at["b"] = at["kappa"] * at["s0"] + jnp.log(at["n0"])
    e1 = jnp.exp(at["a"][j] - at["eta2"][j] * r)
    e2 = jnp.exp(at["b"][j] - (at["kappa"][j] / BETA) * r)
    sigma1 = jnp.sum(e1 * w, axis=1) / at["n0"]
    # Atoms without neighbours contribute 0 (the s -> infinity limit of E_c + AS - E0).
    has = (sigma1 > 0.0) & atom_mask
    e0, lam, kappa, V0 = at["E0"], at["lambda"], at["kappa"], at["V0"]
    sigma = jnp.where(has, sigma1, 1.0)
    s = -jnp.log(sigma / (12.0 * at["gamma1"])) / (BETA * at["eta2"])
    embedded = jnp.where(has, e0 * (1.0 + lam * s) * jnp.exp(-lam * s) + 6.0 * V0 * jnp.exp(-kappa * s), 0.0)
    # The atomic-sphere pair sum of atom i is q_i sum_j exp(b_j - kappa_j r / beta) w.
    q = jnp.where(atom_mask, -0.5 * V0 / (at["gamma2"] * at["n0"]), 0.0)
    atomic = jnp.where(atom_mask, embedded - e0, 0.0) + q * jnp.sum(e2 * w, axis=1)
    return dict(d=d, r=r, w=w, valid=valid, j=j, e1=e1, e2=e2, at=at, s=s, sigma=sigma, has=has, q=q, atomic=atomic)


@jax.custom_jvp
def _emt_list_energy(R, cell, pbc, atom_mask, species, p, idx):
    """Total EMT energy (eV) on a full neighbour list, with an analytic gradient in ``R``."""
    return jnp.sum(_list_terms(R, cell, pbc, atom_mask, species, p, idx)["atomic"])


def _emt_list_energy_and_gradient(R, cell, pbc, atom_mask, species, p, idx):
    """``(E, dE/dR)``: the gradient as row sums over the full list. The derivative of the
    energy with respect to the distance of pair ``ij`` has a part from atom ``i``'s row and
    one from atom ``j``'s; the latter needs only per-atom numbers of ``j`` (gathered) and
    parameters of ``i``, so no scatter is needed."""
    t = _list_terms(R, cell, pbc, atom_mask, species, p, idx)
    at, j, r, w, s, has = t["at"], t["j"], t["r"], t["w"], t["s"], t["has"]
    e0, lam, kappa, V0, eta2 = at["E0"], at["lambda"], at["kappa"], at["V0"], at["eta2"]
    dE_ds = -e0 * lam**2 * s * jnp.exp(-lam * s) - 6.0 * V0 * kappa * jnp.exp(-kappa * s)
    # P_i = dE_i / dsigma1_i / n0_i (the 1/n0_i of sigma1_i included)
    P = jnp.where(has, -dE_ds / (BETA * eta2 * t["sigma"] * at["n0"]), 0.0)
    q = t["q"]
    dw = -A_CUT * w * (1.0 - w)
    g = P[:, None] * t["e1"] * (dw - eta2[j] * w) + q[:, None] * t["e2"] * (dw - kappa[j] / BETA * w)
    e1_i = jnp.exp(at["a"][:, None] - eta2[:, None] * r)
    e2_i = jnp.exp(at["b"][:, None] - (kappa[:, None] / BETA) * r)
    g = g + P[j] * e1_i * (dw - eta2[:, None] * w) + q[j] * e2_i * (dw - kappa[:, None] / BETA * w)
    g = jnp.where(t["valid"], g / r, 0.0)
    grad = jnp.stack([-jnp.sum(g * x, axis=1) for x in t["d"]], axis=-1)
    return jnp.sum(t["atomic"]), grad


def _emt_list_energy_jvp(primals, tangents):
    R, cell, pbc, atom_mask, species, p, idx = primals
    R_dot, cell_dot, _, _, _, p_dot, _ = tangents
    e, grad = _emt_list_energy_and_gradient(*primals)
    e_dot = jnp.zeros_like(e) if _is_zero(R_dot) else jnp.sum(grad * R_dot)
    # The cell and the parameters through forward mode of the energy itself (stress,
    # parameter gradients), only when they are differentiated.
    others, others_dot = (cell, p), (cell_dot, p_dot)
    if not all(_is_zero(t) for t in jax.tree_util.tree_leaves(others_dot, is_leaf=_is_zero)):
        others_dot = jax.tree_util.tree_map(
            lambda x, t: jnp.zeros_like(x) if _is_zero(t) else t, others, others_dot, is_leaf=_is_zero
        )
        energy = lambda c, q: jnp.sum(_list_terms(R, c, pbc, atom_mask, species, q, idx)["atomic"])  # noqa: E731
        e_dot = e_dot + jax.jvp(energy, others, others_dot)[1]
    return e, e_dot


def _is_zero(t) -> bool:
    return isinstance(t, SymbolicZero)


_emt_list_energy.defjvp(_emt_list_energy_jvp, symbolic_zeros=True)


def _emt_energy_from_list(R, system, p, neighbors):
    n = R.shape[0]
    atom_mask = jnp.ones(n, bool) if system.atom_mask is None else system.atom_mask
    return _emt_list_energy(R, system.cell, system.pbc, atom_mask, real_numbers(system, n), p, neighbors.idx)


@dataclasses.dataclass(frozen=True)
class EMTEnergy:
    """``energy_fn(R, system, params, neighbors=None)`` of EMT, reading the system (cell,
    pbc, padding mask, numbers).

    Without `neighbors`, every pair and every periodic image within the neighbour radius
    is summed (`reach`, static, is the number of cell images per axis, see
    :func:`jaxrxn.system.image_reach`; potentials with equal reach share one compiled
    solver, and a batch takes the largest reach of its members, :meth:`join`). With a
    :class:`jaxrxn.neighbors.NeighborList` built for :attr:`cutoff`, the sums run over the
    list.
    """

    reach: tuple[int, ...] = ()

    #: The radius (Å) a neighbour list must cover.
    cutoff = R_LIST

    def __call__(self, R, system, params, neighbors=None):
        n = R.shape[0]
        if neighbors is not None:
            return _emt_energy_from_list(R, system, params, neighbors)
        d, valid = pair_displacements(R, system, self.reach)
        r = safe_distances(d, valid)
        valid = valid & (r < R_LIST)
        n_images = d.shape[2]
        center = jnp.repeat(jnp.arange(n), n * n_images)
        other = jnp.tile(jnp.repeat(jnp.arange(n), n_images), n)
        return _emt_energy_from_pairs(
            r.reshape(-1), valid.reshape(-1), center, other, real_numbers(system, n), params, system.atom_mask
        )

    def join(self, other: "EMTEnergy") -> "EMTEnergy":
        return EMTEnergy(join_reach(self.reach, other.reach))


def emt(
    numbers,
    cell=None,
    pbc=None,
    *,
    fixed=None,
    masses=None,
    neighbor_list: bool = False,
    R_reference=None,
    skin: float = 0.5,
    capacity_multiplier: float = 1.25,
    dtype=None,
    system: System | None = None,
) -> Potential:
    """EMT potential for atoms with atomic numbers `numbers`, identical to ASE's ``EMT``.

    **Arguments:**

    - `numbers`: atomic numbers ``(n_atoms,)``; elements Al, Cu, Ag, Au, Ni, Pd, Pt
      (and ASE's rough H, C, N, O). Any other element raises ``ValueError``.
    - `cell`: ``(3, 3)`` lattice vectors as rows or ``(3,)`` lengths (Å); ``None`` for a
      free cluster. `pbc`: ``(3,)`` booleans (default all ``True`` when `cell` is given).
      Non-periodic rows of `cell` may be zero.
    - `fixed`: per-atom booleans (ASE ``FixAtoms``). `masses`: amu ``(n_atoms,)``,
      default the standard atomic masses.
    - `system`: a :class:`jaxrxn.System` instead of `numbers`, `cell`, `pbc`, `fixed`,
      `masses` (pass ``numbers=None``).
    - `neighbor_list`: carry a :class:`jaxrxn.neighbors.NeighborList` allocated at
      `R_reference` ``(n_atoms, 3)`` (Å) with a Verlet `skin` (Å) and
      `capacity_multiplier` head room (see :meth:`Potential.with_neighbors`): for
      thousands of atoms. Any cell whose periodic widths are at least twice
      ``R_LIST + skin`` (about 12.8 Å), slabs and free clusters.
    - `dtype`: dtype of the parameters (default JAX's float width); the energy is computed
      in the dtype of the configuration.

    **Returns:** a :class:`Potential` with ``params`` the parameter tables indexed by
    atomic number (``E0``, ``s0``, ``V0``, ``eta2``, ``kappa``, ``lambda``, ``n0`` in
    eV / Å units, see :func:`emt_params`) and the system. The cutoff function is fixed by
    the whole parameter table, as in ASE, so it does not move with ``params``.
    """
    if system is None:
        system = System(numbers, cell, pbc, masses=masses, fixed=fixed)
    _check_elements(np.asarray(system.numbers)[np.asarray(system.atom_mask)])
    potential = Potential(EMTEnergy(image_reach(system, R_LIST)), emt_params(dtype), system)
    if neighbor_list:
        if R_reference is None:
            raise ValueError("neighbor_list=True needs `R_reference`, the configuration (Å) to allocate the list at.")
        potential = potential.with_neighbors(R_reference, skin=skin, capacity_multiplier=capacity_multiplier)
    return potential


def emt_from_atoms(atoms, *, neighbor_list: bool = False) -> tuple[jnp.ndarray, Potential]:
    """Positions ``(n_atoms, 3)`` (Å) and the EMT :class:`Potential` of an ASE ``Atoms``
    (cell, pbc, ``FixAtoms`` and masses taken from it)."""
    system = System.from_atoms(atoms)
    R = jnp.asarray(np.array(atoms.positions, float))
    potential = emt(None, system=system, neighbor_list=neighbor_list, R_reference=R if neighbor_list else None)
    return R, potential

