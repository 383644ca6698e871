"""Initial bands between two end states: linear and IDPP interpolation.

Both return a path ``(n_images, n_atoms, dim)`` in Å with the end points included. The
end states' :class:`jaxrxn.System` (``system=``, e.g. ``potential.system``) says what is
periodic and what is fixed: in a periodic cell the atoms move along minimum-image
displacements (an atom that crosses the cell boundary between the end states takes the
short way), and fixed atoms stay at their initial-state positions in every image.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxrxn.geometry import displacement, minimum_image
from jaxrxn.optimize import LBFGS, StepRule
from jaxrxn.path.elastic_band import NEB, ImagePotentials, relax_band
from jaxrxn.potentials.core import Potential
from jaxrxn.system import System, free_atoms, loose_system
from jaxrxn.validation import check_configuration, check_n_images, check_same_system


def _ends_system(R_initial, system: System | None, cell, pbc, fixed) -> System | None:
    """The end states' system: `system`, or one built from the shorthand `cell`
    (``(dim,)`` lengths or ``(dim, dim)`` rows, Å), `pbc` and `fixed` ``(n_atoms,)``."""
    if system is not None and (cell is not None or pbc is not None or fixed is not None):
        raise ValueError("give the end states' `system`, or the shorthand `cell`/`pbc`/`fixed`, not both.")
    return loose_system(cell, pbc, np.shape(R_initial)[-1], system, fixed)


def _validate_ends(R_initial, R_final, n_images, system: System | None) -> None:
    cell, pbc = (None, None) if system is None else (system.cell, system.pbc)
    check_n_images(n_images)
    check_configuration(R_initial, name="initial state", cell=cell, pbc=pbc)
    check_configuration(R_final, name="final state", cell=cell, pbc=pbc)
    check_same_system(R_initial, R_final)


def linear(
    R_initial: Float[Array, "n_atoms dim"],
    R_final: Float[Array, "n_atoms dim"],
    n_images: int,
    *,
    system: System | None = None,
    cell=None,
    pbc=None,
    fixed=None,
) -> Float[Array, "n_images n_atoms dim"]:
    """Evenly spaced images on the straight (minimum-image) line between the end states.

    `n_images` counts all images, end points included. `system`: the end states'
    :class:`jaxrxn.System` (its cell and pbc make the displacement minimum-image, its fixed
    and padding atoms stay put); `cell` ``(dim, dim)`` (rows, Å), `pbc` ``(dim,)`` and
    `fixed` ``(n_atoms,)`` booleans are a shorthand for a system without atomic numbers.
    """
    system = _ends_system(R_initial, system, cell, pbc, fixed)
    _validate_ends(R_initial, R_final, n_images, system)
    R_initial = jnp.asarray(R_initial)
    cell, pbc = (None, None) if system is None else (system.cell, system.pbc)
    step = displacement(jnp.asarray(R_final, R_initial.dtype), R_initial, cell, pbc)
    step = step * free_atoms(system, R_initial.shape[0], R_initial.dtype)
    t = jnp.linspace(0.0, 1.0, n_images, dtype=R_initial.dtype)[:, None, None]
    return R_initial[None] + t * step[None]


def _distances(R: Array, cell, pbc) -> Array:
    d = minimum_image(R[None, :, :] - R[:, None, :], cell, pbc)
    # the +eye keeps sqrt differentiable on the diagonal, which the mask then drops
    return jnp.sqrt(jnp.sum(d**2, axis=-1) + jnp.eye(R.shape[0], dtype=R.dtype))


def _idpp_energy(R, system, params):
    """Smidstrup et al. (2014) eq. 2: ``sum_{i<j} (d_ij - d_ij^target)^2 / d_ij^4``.

    ``params``: ``target`` distances ``(n_atoms, n_atoms)``; distances are minimum-image in
    the `system`'s cell (module-level so that every call reuses one compiled band).
    """
    d = _distances(R, *_surrogate_cell(system, R.dtype))
    pairs = jnp.triu(jnp.ones_like(d), 1)
    return jnp.sum(pairs * (d - params["target"]) ** 2 / d**4)


def idpp(
    R_initial: Float[Array, "n_atoms dim"],
    R_final: Float[Array, "n_atoms dim"],
    n_images: int,
    *,
    system: System | None = None,
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
    apart. Distances are minimum-image in the `system`'s cell, whose fixed atoms do not
    move (`cell`, `pbc`, `fixed`: shorthand, as for :func:`linear`).
    `fmax` (surrogate units) and `max_steps` control the relaxation: the result is only a
    starting band, and a band stopped by `max_steps` is still returned.
    """
    system = _ends_system(R_initial, system, cell, pbc, fixed)
    path0 = linear(R_initial, R_final, n_images, system=system)
    dtype = path0.dtype
    surrogate = Potential(_idpp_energy, None, system)
    d0 = _distances(path0[0], *_surrogate_cell(system, dtype))
    d1 = _distances(path0[-1], *_surrogate_cell(system, dtype))
    t = jnp.linspace(0.0, 1.0, n_images, dtype=dtype)[:, None, None]
    surrogate = surrogate.replace(params={"target": d0[None] + t * (d1 - d0)[None]})
    solver = NEB(k=k, climb=False, optimizer=optimizer)
    # only the end points are checked (by `linear`): the straight line may pass atoms
    # through each other, which is what the 1/d^4 weight repairs
    return relax_band(ImagePotentials(surrogate), path0, solver, fmax=fmax, max_steps=max_steps).path


def _surrogate_cell(system: System | None, dtype):
    return (None, None) if system is None or system.cell is None else (system.cell.astype(dtype), system.pbc)


def interpolate(
    R_initial, R_final, n_images: int, method: str = "idpp", **kwargs
) -> Float[Array, "n_images n_atoms dim"]:
    """``method="idpp"`` (:func:`idpp`) or ``"linear"`` (:func:`linear`)."""
    methods = {"idpp": idpp, "linear": linear}
    if method not in methods:
        raise ValueError(f"unknown interpolation {method!r}; use 'idpp' or 'linear'.")
    return methods[method](R_initial, R_final, n_images, **kwargs)

