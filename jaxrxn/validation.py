"""Input checks shared by every entry point.

They run in Python on concrete arrays, before any jitted work, and raise a ``ValueError``
that names the problem. Inside ``jit``/``vmap`` (traced inputs) they are skipped: the
caller is expected to have validated the concrete inputs at the boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from jaxrxn.geometry import cell_widths, minimum_image

#: Two atoms closer than this (Å) are treated as overlapping. Real interatomic distances
#: are above ~0.5 Å (H2 is 0.74 Å); overlapping atoms make pair potentials blow up.
OVERLAP_THRESHOLD = 0.3


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def check_configuration(
    R,
    *,
    name: str = "configuration",
    dim: int | None = None,
    n_atoms: int | None = None,
    min_distance: float | None = OVERLAP_THRESHOLD,
    cell=None,
    pbc=None,
) -> None:
    """Validate one configuration ``R`` of shape ``(n_atoms, dim)``.

    Raises ``ValueError`` for a wrong rank or shape, NaN/inf coordinates, or two atoms
    closer than ``min_distance`` Å (minimum image when ``cell``/``pbc`` are given).
    """
    if _is_traced(R):
        return
    R = np.asarray(R)
    if R.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_atoms, dim); got an array of shape {R.shape}."
        )
    if dim is not None and R.shape[1] != dim:
        raise ValueError(f"{name} has dimension {R.shape[1]}; expected {dim}.")
    if n_atoms is not None and R.shape[0] != n_atoms:
        raise ValueError(f"{name} has {R.shape[0]} atoms; expected {n_atoms}.")
    if not np.all(np.isfinite(R)):
        bad = np.argwhere(~np.isfinite(R))[0]
        raise ValueError(f"{name} contains NaN or infinite coordinates (atom {bad[0]}).")
    if min_distance is not None and R.shape[0] > 1:
        n, dim = R.shape
        periodic = cell is not None and pbc is not None and np.any(pbc)
        # Blocks of rows keep the memory at ~_PAIR_BLOCK pairs (32,000 atoms at once would
        # need 25 GB).
        rows = max(1, _PAIR_BLOCK // n)
        for start in range(0, n, rows):
            d = R[start : start + rows, None, :] - R[None, :, :]
            if periodic:
                d = np.asarray(minimum_image(d, np.asarray(cell, float)[:dim, :dim], np.asarray(pbc)[:dim]))
            r = np.sqrt((d**2).sum(-1))
            r[np.arange(len(r)), np.arange(start, start + len(r))] = np.inf
            i, j = np.unravel_index(np.argmin(r), r.shape)
            i += start
            if r[i - start, j] < min_distance:
                raise ValueError(
                    f"{name} has overlapping atoms {min(i, j)} and {max(i, j)} "
                    f"({r[i - start, j]:.3g} Å apart, below {min_distance} Å)."
                )


#: Pairs measured at once by :func:`check_configuration`.
_PAIR_BLOCK = 2_000_000


def check_same_system(
    R_a,
    R_b,
    numbers_a: Sequence[int] | None = None,
    numbers_b: Sequence[int] | None = None,
    *,
    names: tuple[str, str] = ("initial state", "final state"),
) -> None:
    """Two end states must hold the same atoms in the same order."""
    if _is_traced(R_a) or _is_traced(R_b):
        return
    a, b = np.shape(R_a), np.shape(R_b)
    if a != b:
        raise ValueError(
            f"{names[0]} and {names[1]} have different shapes {a} and {b}: "
            "they must hold the same atoms in the same order."
        )
    if numbers_a is not None and numbers_b is not None:
        na, nb = np.asarray(numbers_a), np.asarray(numbers_b)
        if na.shape != nb.shape or np.any(na != nb):
            k = int(np.argmax(na != nb)) if na.shape == nb.shape else 0
            raise ValueError(
                f"{names[0]} and {names[1]} have different atoms or atom order "
                f"(first difference at atom {k}); NEB needs a one-to-one atom mapping."
            )


def check_box(box, r_cutoff: float, pbc=None) -> None:
    """A periodic box must be wider than twice the cutoff along every periodic axis.

    Otherwise the minimum-image convention silently drops interactions and the energy is
    discontinuous.
    """
    if box is None:
        return
    box = np.asarray(box, dtype=float)
    widths = cell_widths(box)
    periodic = np.ones(len(widths), bool) if pbc is None else np.asarray(pbc, bool)
    for ax, (w, p) in enumerate(zip(widths, periodic)):
        if p and w < 2 * r_cutoff:
            raise ValueError(
                f"periodic box width {w:.4g} Å along axis {ax} is below 2 x cutoff "
                f"({2 * r_cutoff:.4g} Å); use a larger supercell or a shorter cutoff "
                "(minimum image would make the energy discontinuous)."
            )


def check_n_images(n_images: int, minimum: int = 3) -> None:
    if n_images < minimum:
        raise ValueError(
            f"a band needs at least {minimum} images (end points included); got {n_images}."
        )
