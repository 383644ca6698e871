"""Pair potentials on jax-md: Lennard-Jones and Morse, free space or periodic cells.

Energies in eV, distances in Å. Free-space potentials may have no cutoff; periodic ones
need one, and the cell must be wider than twice the cutoff (checked). Large periodic
systems use a jax-md neighbour list that is rebuilt inside ``energy_fn`` from a fixed-capacity
template, so the potential stays a pure function of ``R``.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax_md import energy as jmd_energy
from jax_md import partition, smap, space

from jaxrxn.geometry import minimum_image
from jaxrxn.potentials.core import Potential
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


def _cell_matrix(cell, dim: int) -> np.ndarray:
    cell = np.asarray(cell, dtype=float)
    return np.diag(cell) if cell.ndim == 1 else cell[:dim, :dim]


def pair_energy_fn(
    pair_fn: Callable,
    param_names: dict[str, str],
    *,
    r_cutoff: float | None,
    r_onset: float | None,
    cell=None,
    pbc=None,
    neighbor_list: bool = False,
    R_reference=None,
    capacity_multiplier: float = 1.25,
    dim: int = 3,
) -> Callable:
    """Build a pure ``energy_fn(R, params)`` from a jax-md pair function.

    ``param_names`` maps the jaxrxn parameter name to the keyword ``pair_fn`` expects.
    """
    periodic = cell is not None and (pbc is None or np.any(pbc))
    if periodic and r_cutoff is None:
        raise ValueError("a periodic pair potential needs a finite `r_cutoff` (Å).")
    if r_cutoff is not None:
        r_onset = 0.9 * r_cutoff if r_onset is None else r_onset
        pair_fn = jmd_energy.multiplicative_isotropic_cutoff(pair_fn, r_onset, r_cutoff)
    if periodic:
        cell_m = _cell_matrix(cell, dim)
        pbc_arr = np.ones(dim, bool) if pbc is None else np.asarray(pbc, bool)[:dim]
        check_box(cell_m, r_cutoff, pbc_arr)
    rename = lambda params: {param_names[k]: v for k, v in params.items()}  # noqa: E731

    if not neighbor_list:
        if periodic:
            c, p = jnp.asarray(cell_m), jnp.asarray(pbc_arr)
            displacement_fn = lambda a, b, **kw: minimum_image(a - b, c.astype(a.dtype), p)  # noqa: E731
        else:
            displacement_fn, _ = space.free()
        total = smap.pair(pair_fn, space.canonicalize_displacement_or_metric(displacement_fn))
        return lambda R, params: total(R, **rename(params))

    if not periodic or not np.all(pbc_arr) or not np.allclose(cell_m, np.diag(np.diag(cell_m))):
        raise ValueError(
            "neighbour lists need a fully periodic orthorhombic cell; use neighbor_list=False "
            "for free clusters, slabs and skewed cells."
        )
    if R_reference is None:
        raise ValueError("neighbor_list=True needs `R_reference`, a typical configuration.")
    box = jnp.asarray(np.diag(cell_m))
    displacement_fn, _ = space.periodic(box)
    neighbor_fn = partition.neighbor_list(
        displacement_fn,
        box,
        r_cutoff,
        capacity_multiplier=capacity_multiplier,
        format=partition.NeighborListFormat.Sparse,
    )
    template = neighbor_fn.allocate(jnp.mod(jnp.asarray(R_reference), box))
    total = smap.pair_neighbor_list(pair_fn, space.canonicalize_displacement_or_metric(displacement_fn))

    def energy_fn(R, params):
        nbrs = neighbor_fn.update(jnp.mod(R, box.astype(R.dtype)), template)
        e = total(R, neighbor=nbrs, **rename(params))
        return eqx.error_if(
            e,
            nbrs.did_buffer_overflow,
            "jaxrxn: neighbour list overflowed (atoms moved closer together than in "
            "R_reference); rebuild the potential with a larger capacity_multiplier.",
        )

    return energy_fn


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
    dim: int = 3,
    dtype=jnp.float64,
    **potential_kwargs,
) -> Potential:
    """Lennard-Jones ``4 eps [(sigma/r)^12 - (sigma/r)^6]`` summed over pairs.

    **Arguments:**

    - `epsilon` (eV), `sigma` (Å): differentiable ``params``.
    - `r_cutoff`, `r_onset` (Å): smooth multiplicative cutoff between them (jax-md);
      ``None`` means no cutoff (free space only). ``r_onset`` defaults to 0.9 ``r_cutoff``.
    - `cell`: ``(dim,)`` box lengths or ``(dim, dim)`` lattice vectors (rows), with `pbc`.
    - `neighbor_list`: use a jax-md neighbour list (periodic orthorhombic cells), for
      thousands of atoms; needs `R_reference`.
    - `dim`: 2 or 3.
    - `potential_kwargs`: ``fixed`` and ``masses`` for :class:`Potential`.
    """
    fn = pair_energy_fn(
        _lj_pair,
        {"epsilon": "epsilon", "sigma": "sigma"},
        r_cutoff=r_cutoff, r_onset=r_onset, cell=cell, pbc=pbc,
        neighbor_list=neighbor_list, R_reference=R_reference, dim=dim,
    )  # fmt: skip
    params = {"epsilon": jnp.asarray(epsilon, dtype), "sigma": jnp.asarray(sigma, dtype)}
    return Potential(fn, params, **potential_kwargs)


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
    dim: int = 3,
    dtype=jnp.float64,
    **potential_kwargs,
) -> Potential:
    """Morse ``D [(1 - exp(-alpha (r - r0)))^2 - 1]`` summed over pairs.

    `D` in eV, `alpha` in 1/Å, `r0` in Å (all differentiable ``params``); other arguments
    as for :func:`lennard_jones`.
    """
    fn = pair_energy_fn(
        jmd_energy.morse,
        {"D": "epsilon", "alpha": "alpha", "r0": "sigma"},
        r_cutoff=r_cutoff, r_onset=r_onset, cell=cell, pbc=pbc,
        neighbor_list=neighbor_list, R_reference=R_reference, dim=dim,
    )  # fmt: skip
    params = {
        "D": jnp.asarray(D, dtype),
        "alpha": jnp.asarray(alpha, dtype),
        "r0": jnp.asarray(r0, dtype),
    }
    return Potential(fn, params, **potential_kwargs)


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
