"""Figures: 2D surfaces with paths, energy profiles. Writes PNG files (matplotlib, Agg)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrxn.system import System


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def surface_grid(potential, xlim: Sequence[float], ylim: Sequence[float], n: int = 200):
    """Energies of a 2D model potential on an ``n x n`` grid: ``(X, Y, E)``."""
    x = np.linspace(*xlim, n)
    y = np.linspace(*ylim, n)
    X, Y = np.meshgrid(x, y)
    pts = jnp.asarray(np.stack([X.ravel(), Y.ravel()], -1)[:, None, :])
    E = np.asarray(jax.jit(jax.vmap(lambda R: potential.energy(R)))(pts)).reshape(X.shape)
    return X, Y, E


def plot_surface(
    potential,
    filename: str,
    *,
    xlim: Sequence[float] = (-1.6, 1.2),
    ylim: Sequence[float] = (-0.4, 2.1),
    paths: Sequence[np.ndarray] = (),
    points: dict[str, np.ndarray] | None = None,
    vmax: float | None = 50.0,
    levels: int = 40,
    title: str | None = None,
) -> None:
    """Contour plot of a 2D potential with optional paths and labelled points.

    `paths`: arrays ``(n_images, 1, 2)`` or ``(n_images, 2)`` drawn as lines with markers.
    `points`: label -> ``(2,)`` position. `vmax` clips high energies for a readable map.
    """
    plt = _pyplot()
    X, Y, E = surface_grid(potential, xlim, ylim)
    if vmax is not None:
        E = np.minimum(E, vmax)
    fig, ax = plt.subplots(figsize=(6, 5))
    cs = ax.contourf(X, Y, E, levels=levels, cmap="viridis")
    ax.contour(X, Y, E, levels=levels, colors="k", linewidths=0.3, alpha=0.5)
    fig.colorbar(cs, ax=ax, label="energy")
    for k, p in enumerate(paths):
        p = np.asarray(p).reshape(-1, 2)
        ax.plot(p[:, 0], p[:, 1], "o-", color=f"C{(k + 1) % 10}", ms=4, lw=1.5)
    for label, xy in (points or {}).items():
        xy = np.asarray(xy).reshape(2)
        ax.plot(*xy, "w*", ms=12, mec="k")
        ax.annotate(label, xy, textcoords="offset points", xytext=(6, 6), color="w", weight="bold")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(filename, dpi=120)
    plt.close(fig)


def profile_fit(path, energies, forces, cell=None, pbc=None, n: int = 200):
    """Smooth energy profile along a band, as ASE's ``NEBTools`` fits it.

    Cubic Hermite pieces between images, with slopes ``dE/ds = -F . t`` from the true
    forces projected on the local path direction. Returns ``(s_images, s_fit, e_fit)``:
    arc length at each image (Å), a fine arc-length grid and the fitted energies (eV).
    """
    from jaxrxn.geometry import arc_length, displacement

    path, E, F = np.asarray(path), np.asarray(energies), np.asarray(forces)
    s = np.asarray(arc_length(jnp.asarray(path), cell, pbc))
    seg = np.asarray(displacement(jnp.asarray(path[1:]), jnp.asarray(path[:-1]), cell, pbc))
    # local direction: central differences inside, one-sided at the ends
    d = np.concatenate([seg[:1], seg[:-1] + seg[1:], seg[-1:]])
    d = d / np.maximum(np.linalg.norm(d.reshape(len(d), -1), axis=1), 1e-300)[:, None, None]
    slope = -np.sum(F * d, axis=(1, 2))
    s_fit, e_fit = [], []
    for i in range(len(s) - 1):
        h = s[i + 1] - s[i]
        t = np.linspace(0.0, 1.0, max(2, n // (len(s) - 1)))
        h00, h10 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t
        h01, h11 = -2 * t**3 + 3 * t**2, t**3 - t**2
        s_fit.append(s[i] + h * t)
        e_fit.append(h00 * E[i] + h10 * h * slope[i] + h01 * E[i + 1] + h11 * h * slope[i + 1])
    return s, np.concatenate(s_fit), np.concatenate(e_fit)


def plot_profile(
    result, filename: str, *, system: System | None = None, label: str | None = None, cell=None, pbc=None
) -> None:
    """Energy profile of an NEB result: images and a smooth force-based fit, relative to
    the initial state (x: path [Å], y: energy [eV]), with the barrier in the title.

    `system`: the :class:`jaxrxn.System` of the band (``potential.system``), whose cell
    and pbc give minimum-image distances along the path; ``None`` for a free structure.
    `cell`, `pbc`: deprecated (a ``DeprecationWarning``); pass `system` instead."""
    if cell is not None or pbc is not None:
        warnings.warn(
            "plot_profile(cell=, pbc=) is deprecated: pass system=potential.system instead.",
            DeprecationWarning,
            stacklevel=2,
        )
    elif system is not None and system.cell is not None:
        cell, pbc = system.cell, system.pbc
    plt = _pyplot()
    s, s_fit, e_fit = profile_fit(result.path, result.energies, result.forces, cell, pbc)
    E0 = float(np.asarray(result.energies)[0])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(s_fit, e_fit - E0, "-", color="C0", label=label)
    ax.plot(s, np.asarray(result.energies) - E0, "o", color="C1")
    ts = int(result.ts_index)
    ax.plot(s[ts], float(result.energies[ts]) - E0, "*", ms=12, color="C3")
    ax.set_xlabel("path [Å]")
    ax.set_ylabel("energy [eV]")
    ax.set_title(f"barrier {float(result.barrier):.4f} eV" + ("" if bool(result.converged) else " (not converged)"))
    fig.tight_layout()
    fig.savefig(filename, dpi=120)
    plt.close(fig)
