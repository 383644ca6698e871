"""Pair potentials on jax-md pair functions: Lennard-Jones and Morse, free space or
periodic cells.

Energies in eV, distances in Å. Free-space potentials may have no cutoff; periodic ones
need one, and the cell must be wider than twice the cutoff (checked). Large systems carry a
:class:`jaxrxn.neighbors.NeighborList` (``neighbor_list=True``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jax_md import energy as jmd_energy

from jaxrxn.neighbors import neighbor_displacements
from jaxrxn.potentials.core import Potential
from jaxrxn.system import System, loose_system, pair_displacements, real_numbers, safe_distances
from jaxrxn.validation import check_box

#: Morse parameters of L. A. Girifalco & V. G. Weizer, Phys. Rev. 114, 687 (1959):
#: element -> (D / eV, alpha / Å^-1, r0 / Å). Cu, Fe and Pt were checked against
#: independent copies (DL_POLY/KIM test files, OpenKIM, eOn); Ag, Ni, Al are from the
#: same table as usually reproduced.
GIRIFALCO_WEIZER = {
    "Cu": (0.3429, 1.3588, 2.866),
    "Fe": (0.4174, 1.3885, 2.845),
    "Pt": (0.7102, 1.6047, 2.897),
    "Ag": (0.3323, 1.3690, 3.115),
    "Ni": (0.4205, 1.4199, 2.780),
    "Al": (0.2703, 1.1646, 3.253),
}


def _param_matrix(value, numbers_i, numbers_j):
    """A scalar parameter, or an ``(N, N)`` table indexed by the two atomic numbers
    (Lennard-Jones or Morse mixtures)."""
    return value[numbers_i, numbers_j] if jnp.ndim(value) == 2 else value


@dataclasses.dataclass(frozen=True)
class PairEnergy:
    """``energy_fn(R, system, params, neighbors=None) = 1/2 sum_{i != j} phi(r_ij)`` over
    minimum-image pairs of real atoms (periodicity and padding read from the system), or
    over the pairs of a carried :class:`jaxrxn.neighbors.NeighborList`.

    `pair_fn` is a module-level jax-md style function ``phi(r, **params)``; `names` maps
    jaxrxn parameter names to its keywords; a parameter may be a scalar or an ``(N, N)``
    table indexed by atomic numbers. `r_cutoff`, `r_onset` (Å): jax-md's smooth
    multiplicative cutoff (``None``: none). Equal settings compare equal, so potentials
    built from them share one compiled solver.
    """

    pair_fn: Callable
    names: tuple[tuple[str, str], ...]
    r_cutoff: float | None = None
    r_onset: float | None = None

    @property
    def cutoff(self) -> float | None:
        """The radius (Å) a neighbour list must cover (``None``: no list possible)."""
        return self.r_cutoff

    def __call__(self, R, system, params, neighbors=None):
        z = real_numbers(system, R.shape[0])
        if neighbors is None:
            d, valid = pair_displacements(R, system)
            valid, zj = valid[:, :, 0], z[None, :]
            r = safe_distances(d[:, :, 0], valid)
        else:
            j, d, valid = neighbor_displacements(R, neighbors.idx, *_cell(system))
            r2 = sum(x * x for x in d)
            valid, zj = valid & (r2 < self.r_cutoff**2), z[j]
            r = jnp.sqrt(jnp.where(valid, r2, 1.0))
        pair_fn = self.pair_fn
        if self.r_cutoff is not None:
            pair_fn = jmd_energy.multiplicative_isotropic_cutoff(pair_fn, self.r_onset, self.r_cutoff)
        kw = {name: _param_matrix(params[key], z[:, None], zj) for key, name in self.names}
        return 0.5 * jnp.sum(jnp.where(valid, pair_fn(r, **kw), 0.0))


def _cell(system) -> tuple:
    return (None, None) if system is None or system.cell is None else (system.cell, system.pbc)


def pair_energy_fn(
    pair_fn: Callable,
    param_names: dict[str, str],
    *,
    r_cutoff: float | None,
    r_onset: float | None,
    system: System | None = None,
) -> PairEnergy:
    """A pure ``energy_fn(R, system, params, neighbors=None)`` from a jax-md pair function.

    ``param_names`` maps the jaxrxn parameter name to the keyword ``pair_fn`` expects.
    Periodic systems need a cutoff, and every periodic cell width must exceed twice it
    (minimum image; checked).
    """
    periodic = system is not None and system.cell is not None
    if periodic and r_cutoff is None:
        raise ValueError("a periodic pair potential needs a finite `r_cutoff` (Å).")
    if r_cutoff is not None:
        r_onset = 0.9 * r_cutoff if r_onset is None else r_onset
    if periodic:
        check_box(np.asarray(system.cell), r_cutoff, np.asarray(system.pbc))
    return PairEnergy(pair_fn, tuple(param_names.items()), r_cutoff, r_onset)


def _with_list(potential: Potential, neighbor_list: bool, R_reference, capacity_multiplier: float) -> Potential:
    if not neighbor_list:
        return potential
    if potential.energy_fn.r_cutoff is None:
        raise ValueError("neighbor_list=True needs a finite `r_cutoff` (Å).")
    if R_reference is None:
        raise ValueError("neighbor_list=True needs `R_reference`, the configuration (Å) to allocate the list at.")
    return potential.with_neighbors(R_reference, capacity_multiplier=capacity_multiplier)


def _lj_pair(dr, sigma=1.0, epsilon=1.0, **unused):
    # jax-md's own LJ is infinite at dr = 0 (the masked self-pairs), which makes the
    # gradient with respect to sigma NaN; guard it so grad over params works.
    nonzero = dr > 0
    x = (sigma / jnp.where(nonzero, dr, 1.0)) ** 6
    return jnp.where(nonzero, 4.0 * epsilon * (x * x - x), 0.0)


def lennard_jones(
    epsilon: float = 1.0,
    sigma: float = 1.0,
    *,
    r_cutoff: float | None = None,
    r_onset: float | None = None,
    cell=None,
    pbc=None,
    neighbor_list: bool = False,
    R_reference=None,
    capacity_multiplier: float = 1.25,
    dim: int = 3,
    dtype=None,
    system: System | None = None,
    fixed=None,
    masses=None,
) -> Potential:
    """Lennard-Jones ``4 eps [(sigma/r)^12 - (sigma/r)^6]`` summed over pairs.

    **Arguments:**

    - `epsilon` (eV), `sigma` (Å): differentiable ``params``.
    - `r_cutoff`, `r_onset` (Å): smooth multiplicative cutoff between them (jax-md);
      ``None`` means no cutoff (free space only). ``r_onset`` defaults to 0.9 ``r_cutoff``.
    - `cell`: ``(dim,)`` box lengths or ``(dim, dim)`` lattice vectors (rows), with `pbc`.
    - `neighbor_list`: carry a :class:`jaxrxn.neighbors.NeighborList` allocated at
      `R_reference` (Å) with `capacity_multiplier` head room (needs `r_cutoff`; see
      :meth:`Potential.with_neighbors`), for thousands of atoms in any cell, slab or
      cluster.
    - `dim`: 2 or 3.
    - `system`: a :class:`jaxrxn.System` instead of `cell`, `pbc`, `fixed`, `masses`
      (per-atom type or fixed masks ``(n_atoms,)``, masses amu).
    - `epsilon`, `sigma` may be ``(N, N)`` tables indexed by the two atoms' atomic numbers
      (a mixture; needs a system with numbers).
    """
    system = loose_system(cell, pbc, dim, system, fixed, masses)
    fn = pair_energy_fn(
        _lj_pair, {"epsilon": "epsilon", "sigma": "sigma"}, r_cutoff=r_cutoff, r_onset=r_onset, system=system
    )
    params = {"epsilon": jnp.asarray(epsilon, dtype), "sigma": jnp.asarray(sigma, dtype)}
    return _with_list(Potential(fn, params, system), neighbor_list, R_reference, capacity_multiplier)


def morse(
    D: float,
    alpha: float,
    r0: float,
    *,
    r_cutoff: float | None = None,
    r_onset: float | None = None,
    cell=None,
    pbc=None,
    neighbor_list: bool = False,
    R_reference=None,
    capacity_multiplier: float = 1.25,
    dim: int = 3,
    dtype=None,
    system: System | None = None,
    fixed=None,
    masses=None,
) -> Potential:
    """Morse ``D [(1 - exp(-alpha (r - r0)))^2 - 1]`` summed over pairs.

    `D` in eV, `alpha` in 1/Å, `r0` in Å (all differentiable ``params``); other arguments
    as for :func:`lennard_jones`.
    """
    system = loose_system(cell, pbc, dim, system, fixed, masses)
    fn = pair_energy_fn(
        jmd_energy.morse, {"D": "epsilon", "alpha": "alpha", "r0": "sigma"}, r_cutoff=r_cutoff,
        r_onset=r_onset, system=system,
    )  # fmt: skip
    params = {
        "D": jnp.asarray(D, dtype),
        "alpha": jnp.asarray(alpha, dtype),
        "r0": jnp.asarray(r0, dtype),
    }
    return _with_list(Potential(fn, params, system), neighbor_list, R_reference, capacity_multiplier)


def morse_preset(
    element: str, *, r_cutoff: float = 6.76, r_onset: float = 6.0, **kwargs
) -> Potential:
    """Girifalco-Weizer Morse potential for ``element`` (Cu, Fe, Pt, Ag, Ni, Al).

    The default smooth cutoff (6.0 to 6.76 Å) gives Cu fcc a = 3.6447 Å and a cohesive
    energy of 3.4126 eV/atom.
    """
    if element not in GIRIFALCO_WEIZER:
        raise ValueError(
            f"no Girifalco-Weizer Morse parameters for element {element!r}; "
            f"available: {', '.join(sorted(GIRIFALCO_WEIZER))}."
        )
    D, alpha, r0 = GIRIFALCO_WEIZER[element]
    return morse(D, alpha, r0, r_cutoff=r_cutoff, r_onset=r_onset, **kwargs)
