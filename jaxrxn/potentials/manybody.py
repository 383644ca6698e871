"""Many-body (embedded-atom type) metal potentials: Sutton-Chen and EAM from setfl files.

Both have the embedded-atom form

    E = sum_i F(rho_i) + 1/2 sum_i sum_{j != i} phi(r_ij),   rho_i = sum_{j != i} f(r_ij),

with energies in eV and distances in Å. Free clusters need no cutoff. In periodic cells the
sum runs over every periodic image within the cutoff (lattice translations are enumerated
once, from the cell, when the potential is built), so a cell may be smaller than twice the
cutoff: a one-atom primitive fcc cell gives the bulk energy. Large systems with a cutoff
carry a :class:`jaxrxn.neighbors.NeighborList` (:meth:`jaxrxn.Potential.with_neighbors`).
"""

from __future__ import annotations

import dataclasses
import io
import os

import jax.numpy as jnp
import numpy as np
from jax_md import energy as jmd_energy

from jaxrxn.neighbors import neighbor_displacements
from jaxrxn.potentials.core import Potential
from jaxrxn.system import System, image_reach, join_reach, loose_system, pair_displacements, safe_distances

#: Sutton-Chen parameters, A. P. Sutton & J. Chen, Phil. Mag. Lett. 61, 139 (1990), Table 1:
#: element -> (n, m, epsilon / eV, c, a / Å). ``a`` is the fcc lattice constant at which the
#: infinite-lattice energy is stationary (tests/test_manybody.py re-derives ``c`` from it).
SUTTON_CHEN = {
    "Cu": (9, 6, 0.012382, 39.432, 3.61),
    "Ni": (9, 6, 0.015707, 39.432, 3.52),
    "Ag": (12, 6, 0.002542, 144.41, 4.09),
    "Au": (10, 8, 0.012793, 34.408, 4.08),
    "Pt": (10, 8, 0.019833, 34.408, 3.92),
    "Pd": (12, 7, 0.004179, 108.27, 3.89),
}


# ---------------------------------------------------------------------------------------
# the embedded-atom sum shared by both potentials
# ---------------------------------------------------------------------------------------
def _embedded_atom_energy(R, system, reach, r_cutoff, pair_fn, density_fn, embedding_fn, neighbors=None):
    """``sum_i F(rho_i) + 1/2 sum_ij phi(r_ij)`` over every periodic image within
    `r_cutoff` (``None``: all pairs of a free cluster), or over the pairs of a carried
    neighbour list; padding atoms carry no energy."""
    if neighbors is None:
        d, valid = pair_displacements(R, system, reach)
        r = safe_distances(d, valid)
    else:
        cell = (None, None) if system is None or system.cell is None else (system.cell, system.pbc)
        _, d, valid = neighbor_displacements(R, neighbors.idx, *cell)
        r = jnp.sqrt(jnp.where(valid, sum(x * x for x in d), 1.0))
    if r_cutoff is not None:
        valid = valid & (r < r_cutoff)
    rho = jnp.sum(jnp.where(valid, density_fn(r), 0.0), axis=tuple(range(1, r.ndim)))
    pair = jnp.sum(jnp.where(valid, pair_fn(r), 0.0))
    embedded = embedding_fn(rho)
    if system is not None and system.atom_mask is not None:
        embedded = jnp.where(system.atom_mask, embedded, 0.0)
    return jnp.sum(embedded) + 0.5 * pair


# ---------------------------------------------------------------------------------------
# Sutton-Chen
# ---------------------------------------------------------------------------------------
def sutton_chen(
    element_or_params: str | dict,
    *,
    cell=None,
    pbc=None,
    r_cutoff: float | None = None,
    r_onset: float | None = None,
    dim: int = 3,
    dtype=None,
    system: System | None = None,
    fixed=None,
    masses=None,
) -> Potential:
    """Sutton-Chen many-body potential (A. P. Sutton & J. Chen, Phil. Mag. Lett. 61, 139 (1990)).

    ``E = eps [1/2 sum_i sum_{j!=i} (a/r_ij)^n - c sum_i sqrt(rho_i)]``,
    ``rho_i = sum_{j!=i} (a/r_ij)^m``.

    **Arguments:**

    - `element_or_params`: an element of :data:`SUTTON_CHEN` (Cu, Ni, Ag, Au, Pt, Pd) or a
      dict with keys ``n, m, epsilon`` (eV), ``c``, ``a`` (Å). ``epsilon``, ``c`` and ``a``
      are differentiable ``params``; the integer exponents ``n`` and ``m`` are fixed.
    - `cell`: ``(dim,)`` box lengths or ``(dim, dim)`` lattice vectors (rows, Å), with `pbc`.
      All periodic images within `r_cutoff` are summed, so any cell size is exact up to the
      cutoff.
    - `r_cutoff`, `r_onset` (Å): both terms are multiplied by jax-md's smooth switch between
      them (``r_onset`` defaults to 0.8 ``r_cutoff``). ``None`` (free clusters only) means no
      cutoff. The power-law tails decay slowly: the density of a bulk crystal cut at
      ``r_cutoff`` misses a fraction ~ ``(a / r_cutoff)^(m-3)`` of its lattice sum.
    - `dim`: spatial dimension. `fixed`, `masses`: per-atom masks and masses (amu), or a
      whole :class:`jaxrxn.System` as `system` (instead of `cell`, `pbc`, `fixed`,
      `masses`). One element: atomic numbers are not read.

    Returns a :class:`Potential` with ``params = {"epsilon", "c", "a"}``.
    """
    if isinstance(element_or_params, str):
        if element_or_params not in SUTTON_CHEN:
            raise ValueError(
                f"no Sutton-Chen parameters for element {element_or_params!r}; "
                f"available: {', '.join(sorted(SUTTON_CHEN))}."
            )
        n, m, epsilon, c, a = SUTTON_CHEN[element_or_params]
    else:
        missing = {"n", "m", "epsilon", "c", "a"} - set(element_or_params)
        if missing:
            raise ValueError(f"Sutton-Chen parameters lack {', '.join(sorted(missing))}.")
        p = element_or_params
        n, m, epsilon, c, a = int(p["n"]), int(p["m"]), p["epsilon"], p["c"], p["a"]
    system = loose_system(cell, pbc, dim, system, fixed, masses)
    if system is not None and system.cell is not None and r_cutoff is None:
        raise ValueError("a periodic Sutton-Chen potential needs a finite `r_cutoff` (Å).")
    if r_cutoff is not None:
        r_onset = 0.8 * r_cutoff if r_onset is None else r_onset
    energy_fn = SuttonChenEnergy(int(n), int(m), r_cutoff, r_onset, image_reach(system, r_cutoff or 0.0))
    params = {k: jnp.asarray(v, dtype) for k, v in (("epsilon", epsilon), ("c", c), ("a", a))}
    return Potential(energy_fn, params, system)


@dataclasses.dataclass(frozen=True)
class SuttonChenEnergy:
    """``energy_fn(R, system, params)`` of Sutton-Chen with exponents `n`, `m`, jax-md's
    smooth switch between `r_onset` and `r_cutoff` (Å; ``None``: no cutoff) and `reach`
    periodic images per axis (see :func:`jaxrxn.system.image_reach`)."""

    n: int
    m: int
    r_cutoff: float | None = None
    r_onset: float | None = None
    reach: tuple[int, ...] = ()

    @property
    def cutoff(self) -> float | None:
        """The radius (Å) a neighbour list must cover (``None``: no list possible)."""
        return self.r_cutoff

    def __call__(self, R, system, params, neighbors=None):
        eps, cc, aa = params["epsilon"], params["c"], params["a"]
        if self.r_cutoff is None:
            switch = lambda r: 1.0  # noqa: E731
        else:
            switch = jmd_energy.multiplicative_isotropic_cutoff(lambda r: jnp.ones_like(r), self.r_onset, self.r_cutoff)

        def embedding(rho):
            # sqrt has an infinite slope at rho = 0 (an isolated atom); keep grads finite.
            positive = rho > 0
            return -eps * cc * jnp.where(positive, jnp.sqrt(jnp.where(positive, rho, 1.0)), 0.0)

        return _embedded_atom_energy(
            R, system, self.reach, self.r_cutoff,
            lambda r: eps * (aa / r) ** self.n * switch(r), lambda r: (aa / r) ** self.m * switch(r), embedding,
            neighbors,
        )  # fmt: skip

    def join(self, other: "SuttonChenEnergy") -> "SuttonChenEnergy":
        return dataclasses.replace(self, reach=join_reach(self.reach, other.reach))


# ---------------------------------------------------------------------------------------
# EAM from LAMMPS setfl tables
# ---------------------------------------------------------------------------------------
def _hermite_table(y, dx):
    """Piecewise-cubic interpolant of a table ``y[k] = f(k dx)``, as LAMMPS's ``pair_style
    eam`` builds it: Hermite cubics with slopes from fourth-order central differences.
    Pure jnp in ``y``, so gradients flow to the tabulated values. Beyond the last point the
    function continues linearly with the end slope."""
    npts = y.shape[0]
    slope = jnp.concatenate(
        [
            (y[1] - y[0])[None],
            0.5 * (y[2] - y[0])[None],
            ((y[:-4] - y[4:]) + 8.0 * (y[3:-1] - y[1:-3])) / 12.0,
            0.5 * (y[-1] - y[-3])[None],
            (y[-1] - y[-2])[None],
        ]
    )
    dy = y[1:] - y[:-1]
    c2 = 3.0 * dy - 2.0 * slope[:-1] - slope[1:]
    c3 = slope[:-1] + slope[1:] - 2.0 * dy

    def fn(x):
        t = jnp.maximum(x / dx, 0.0)
        k = jnp.clip(jnp.floor(t).astype(jnp.int32), 0, npts - 2)
        p = t - k
        inside = ((c3[k] * p + c2[k]) * p + slope[k]) * p + y[k]
        beyond = y[-1] + slope[-1] * (t - (npts - 1))
        return jnp.where(t <= npts - 1, inside, beyond)

    return fn


def _read_setfl(source) -> tuple[dict, dict]:
    """Parse a single-element DYNAMO/LAMMPS setfl file (path or text stream)."""
    name = getattr(source, "name", None)
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        try:
            with open(source) as fh:
                text = fh.read()
        except OSError as err:
            raise ValueError(f"cannot read setfl file {name!r}: {err.strerror}.") from None
    else:
        text = source.read()
    where = f"setfl file {name!r}" if name else "setfl text"
    lines = text.splitlines()
    if len(lines) < 7:
        raise ValueError(f"{where} has {len(lines)} lines; a setfl file has 3 comment lines, "
                         "3 header lines and the tables.")  # fmt: skip
    elements = lines[3].split()
    try:
        n_elements = int(elements[0])
        n_rho, d_rho, n_r, d_r, cutoff = lines[4].split()[:5]
        n_rho, n_r, d_rho, d_r, cutoff = int(n_rho), int(n_r), float(d_rho), float(d_r), float(cutoff)
        mass = float(lines[5].split()[1])
        values = np.array([float(x) for line in lines[6:] for x in line.split()])
    except (ValueError, IndexError) as err:
        raise ValueError(f"{where} is malformed ({err}); expected line 4 'N El', line 5 "
                         "'Nrho drho Nr dr cutoff', line 6 'Z mass a lattice', then numbers.") from None  # fmt: skip
    if n_elements != 1 or len(elements) != 2:
        raise ValueError(f"{where} describes {n_elements} elements; only single-element setfl files are supported.")
    if min(n_rho, n_r) < 5 or min(d_rho, d_r, cutoff) <= 0:
        raise ValueError(f"{where} has a bad grid (Nrho={n_rho}, drho={d_rho}, Nr={n_r}, dr={d_r}, cutoff={cutoff}).")
    expected = n_rho + 2 * n_r
    if values.size != expected:
        raise ValueError(f"{where} holds {values.size} tabulated numbers; Nrho + 2 Nr = {expected} expected.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{where} contains non-finite table values.")
    tables = {"F": values[:n_rho], "rho": values[n_rho : n_rho + n_r], "r_phi": values[n_rho + n_r :]}
    meta = {"element": elements[1], "mass": mass, "d_rho": d_rho, "d_r": d_r, "cutoff": cutoff}
    return tables, meta


def eam_from_setfl(
    filename: str | os.PathLike | io.TextIOBase,
    *,
    cell=None,
    pbc=None,
    dim: int = 3,
    dtype=None,
    system: System | None = None,
    fixed=None,
    masses=None,
) -> Potential:
    """Embedded-atom method potential (M. S. Daw & M. I. Baskes, Phys. Rev. B 29, 6443 (1984))
    from a single-element DYNAMO/LAMMPS *setfl* file.

    The file holds ``F(rho)`` on ``rho = k drho``, ``rho(r)`` and ``r phi(r)`` (eV Å) on
    ``r = k dr``; they are interpolated the way LAMMPS's ``pair_style eam/alloy`` does, and
    interactions end at the file's cutoff. jax-md's ``load_lammps_eam_parameters`` reads the
    same format, but its scipy splines fix the tables at load time (no gradients) and its
    ``eam`` adds each atom's own density ``rho(0)`` and extrapolates beyond the table, so the
    energy is written here.

    **Arguments:**

    - `filename`: path (or open text stream) of the setfl file.
    - `cell`, `pbc`: periodic cell as for :func:`sutton_chen` (images within the cutoff are
      summed).
    - `system`, `fixed`, `masses`: as for :func:`sutton_chen`.

    Returns a :class:`Potential` whose ``params`` are the tables ``{"F", "rho", "r_phi"}``
    (differentiable). Raises ``ValueError`` for a missing or malformed file.
    """
    tables, meta = _read_setfl(filename)
    system = loose_system(cell, pbc, dim, system, fixed, masses)
    cutoff = meta["cutoff"]
    energy_fn = EAMEnergy(meta["d_rho"], meta["d_r"], cutoff, image_reach(system, cutoff))
    params = {k: jnp.asarray(v, dtype) for k, v in tables.items()}
    return Potential(energy_fn, params, system)


@dataclasses.dataclass(frozen=True)
class EAMEnergy:
    """``energy_fn(R, system, params)`` of tabulated EAM: ``params`` holds the tables
    ``F`` (on ``rho = k d_rho``), ``rho`` and ``r_phi`` (on ``r = k d_r``); interactions
    end at `cutoff` (Å); `reach` periodic images per axis."""

    d_rho: float
    d_r: float
    cutoff: float
    reach: tuple[int, ...] = ()

    def __call__(self, R, system, params, neighbors=None):
        F = _hermite_table(params["F"], self.d_rho)
        rho = _hermite_table(params["rho"], self.d_r)
        r_phi = _hermite_table(params["r_phi"], self.d_r)
        return _embedded_atom_energy(R, system, self.reach, self.cutoff, lambda r: r_phi(r) / r, rho, F, neighbors)

    def join(self, other: "EAMEnergy") -> "EAMEnergy":
        return dataclasses.replace(self, reach=join_reach(self.reach, other.reach))
