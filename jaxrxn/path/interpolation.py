"""Initial bands between two end states: linear and IDPP interpolation.

Both return a path ``(n_images, n_atoms, dim)`` in Å with the end points included. In a
periodic cell the atoms move along minimum-image displacements (an atom that crosses the
cell boundary between the end states takes the short way). Fixed atoms stay at their
initial-state positions in every image.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxrxn.geometry import displacement, minimum_image
from jaxrxn.optimize import LBFGS, StepRule
from jaxrxn.path.elastic_band import NEB, ImagePotentials, relax_band
from jaxrxn.potentials.core import Potential
from jaxrxn.validation import check_configuration, check_n_images, check_same_system


def _fixed_mask(fixed, n_atoms: int, dtype) -> Array:
    if fixed is None:
        return jnp.zeros((n_atoms, 1), dtype)
    return jnp.asarray(np.asarray(fixed, bool).reshape(n_atoms, 1), dtype)


def _validate_ends(R_initial, R_final, n_images, cell, pbc) -> None:
    check_n_images(n_images)
    check_configuration(R_initial, name="initial state", cell=cell, pbc=pbc)
    check_configuration(R_final, name="final state", cell=cell, pbc=pbc)
    check_same_system(R_initial, R_final)


def linear(
    R_initial: Float[Array, "n_atoms dim"],
    R_final: Float[Array, "n_atoms dim"],
    n_images: int,
    *,
    cell=None,
    pbc=None,
    fixed=None,
) -> Float[Array, "n_images n_atoms dim"]:
    """Evenly spaced images on the straight (minimum-image) line between the end states.

    `n_images` counts all images, end points included. `cell` ``(dim, dim)`` (rows, Å) and
    `pbc` ``(dim,)`` make the displacement minimum-image; `fixed` ``(n_atoms,)`` booleans.
    """
    _validate_ends(R_initial, R_final, n_images, cell, pbc)
    R_initial = jnp.asarray(R_initial)
    step = displacement(jnp.asarray(R_final, R_initial.dtype), R_initial, cell, pbc)
    step = step * (1.0 - _fixed_mask(fixed, R_initial.shape[0], R_initial.dtype))
    t = jnp.linspace(0.0, 1.0, n_images, dtype=R_initial.dtype)[:, None, None]
    return R_initial[None] + t * step[None]


def _distances(R: Array, cell, pbc) -> Array:
    d = minimum_image(R[None, :, :] - R[:, None, :], cell, pbc)
    # the +eye keeps sqrt differentiable on the diagonal, which the mask then drops
    return jnp.sqrt(jnp.sum(d**2, axis=-1) + jnp.eye(R.shape[0], dtype=R.dtype))


def _idpp_energy(R, system, params):
    """Smidstrup et al. (2014) eq. 2: ``sum_{i<j} (d_ij - d_ij^target)^2 / d_ij^4``.

    ``params``: ``target`` distances ``(n_atoms, n_atoms)`` and, for periodic systems,
    ``cell`` and ``pbc`` (module-level so that every call reuses one compiled band).
    """
    d = _distances(R, params.get("cell"), params.get("pbc"))
    pairs = jnp.triu(jnp.ones_like(d), 1)
    return jnp.sum(pairs * (d - params["target"]) ** 2 / d**4)


def idpp(
    R_initial: Float[Array, "n_atoms dim"],
    R_final: Float[Array, "n_atoms dim"],
    n_images: int,
    *,
    cell=None,
    pbc=None,
    fixed=None,
    k: float = 0.1,
    optimizer: StepRule | str = LBFGS(),
    fmax: float = 0.005,
    max_steps: int = 2000,
) -> Float[Array, "n_images n_atoms dim"]:
    """Image-dependent pair potential interpolation.

    S. Smidstrup, A. Pedersen, K. Stokbro & H. Jonsson, JCP 140, 214106 (2014). Target
    interatomic distances are interpolated linearly between the end states, and the linear
    band is relaxed as an NEB (improved tangent, no climbing, spring `k`) on the surrogate
    ``S_k = sum_{i<j} (d_ij - d_ij^(k))^2 / d_ij^4``, whose ``1/d^4`` weight keeps atoms
    apart. Distances are minimum-image with `cell`/`pbc`; `fixed` atoms do not move.
    `fmax` (surrogate units) and `max_steps` control the relaxation: the result is only a
    starting band, and a band stopped by `max_steps` is still returned.
    """
    path0 = linear(R_initial, R_final, n_images, cell=cell, pbc=pbc, fixed=fixed)
    dtype = path0.dtype
    cell_j = None if cell is None else jnp.asarray(cell, dtype)[: path0.shape[-1], : path0.shape[-1]]
    pbc_j = None if cell is None else (
        jnp.ones(cell_j.shape[0], bool) if pbc is None else jnp.asarray(pbc, bool)[: path0.shape[-1]]
    )  # fmt: skip
    d0, d1 = _distances(path0[0], cell_j, pbc_j), _distances(path0[-1], cell_j, pbc_j)
    t = jnp.linspace(0.0, 1.0, n_images, dtype=dtype)[:, None, None]
    targets = d0[None] + t * (d1 - d0)[None]
    params = {"target": targets}
    if cell_j is not None:  # every image carries the cell: ImagePotentials slices all leaves
        params["cell"] = jnp.broadcast_to(cell_j, (n_images,) + cell_j.shape)
        params["pbc"] = jnp.broadcast_to(pbc_j, (n_images,) + pbc_j.shape)
    surrogate = Potential(_idpp_energy, params, fixed=fixed)
    solver = NEB(k=k, climb=False, optimizer=optimizer)
    # only the end points are checked (by `linear`): the straight line may pass atoms
    # through each other, which is what the 1/d^4 weight repairs
    return relax_band(ImagePotentials(surrogate), path0, solver, fmax=fmax, max_steps=max_steps, cell=cell_j, pbc=pbc_j).path


def interpolate(
    R_initial, R_final, n_images: int, method: str = "idpp", **kwargs
) -> Float[Array, "n_images n_atoms dim"]:
    """``method="idpp"`` (:func:`idpp`) or ``"linear"`` (:func:`linear`)."""
    methods = {"idpp": idpp, "linear": linear}
    if method not in methods:
        raise ValueError(f"unknown interpolation {method!r}; use 'idpp' or 'linear'.")
    return methods[method](R_initial, R_final, n_images, **kwargs)

