"""Figures: 2D surfaces with paths, energy profiles. Writes PNG files (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


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
