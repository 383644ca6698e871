"""The NanoReactor: a periodically compressing spherical wall that forces reactions.

L.-P. Wang, A. Titov, R. McGibbon, F. Liu, V. S. Pande & T. J. Martínez, Nat. Chem. 6, 1044
(2014). Molecules are held in a sphere whose radius switches between a large ``r1`` (for
``t1``) and a small ``r2`` (for ``t2``); each compression drives collisions hard enough to
cross barriers that plain MD at the same temperature would wait nanoseconds for. The wall is
a bias ``bias(R, t)`` for :mod:`jaxrxn.dynamics.md`:

    V(x, t) = sum_i theta(r_i - R(t)) 1/2 k(t) m_i^s (r_i - R(t))^2,   r_i = |x_i - x_c|,

with ``s = 1`` when mass-scaled (every atom outside the wall then feels the same
acceleration, so hydrogens are not torn from heavy atoms) and ``s = 0`` otherwise.

Defaults are the authors' example TeraChem input (``leeping/nanoreactor``,
``example.md/start.in``): ``md_r1 14.0``, ``md_k1 1.0``, ``md_r2 9.0``, ``md_k2 0.5``,
``mdbc_mass_scaled yes``, ``mdbc_t1 3000``, ``mdbc_t2 1000`` steps of ``timestep 0.5`` fs.
TeraChem's spring constants are kcal mol^-1 Å^-2 (per amu when mass-scaled); here they are
converted to eV Å^-2 amu^-1 with 1 kcal/mol = 0.0433641 eV, and the phases to fs (1500 fs
expanded, 500 fs compressed, a 2 ps period).

Also here: the log-Fermi wall of xtb (S. Grimme, JCTC 15, 2847 (2019)) and a valence-limited
reactive Morse gas for tests and examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Scalar

from jaxrxn.dynamics.md import Bias
from jaxrxn.potentials.core import Potential
from jaxrxn.units import BOHR, KB, KCAL_PER_MOL


def _radial(R, center):
    c = jnp.zeros(R.shape[-1], R.dtype) if center is None else jnp.asarray(center, R.dtype)
    d = R - c
    # sqrt with a safe gradient at the centre itself
    r2 = jnp.sum(d**2, axis=-1)
    return jnp.sqrt(jnp.where(r2 > 0, r2, 1.0)) * (r2 > 0)


class SphericalPiston(eqx.Module):
    """The NanoReactor's time-dependent spherical harmonic wall (Wang et al. 2014).

    - `r1`, `r2`: wall radii in the expanded and compressed phases, Å.
    - `k1`, `k2`: spring constants, eV Å^-2 amu^-1 when `mass_scaled`, else eV Å^-2.
    - `t1`, `t2`: durations of the expanded and compressed phases, fs; the cycle starts
      expanded at ``t = 0``.
    - `mass_scaled`: multiply the spring constant by each atom's mass (amu).
    - `center`: centre of the sphere (Å); the origin if ``None``.
    """

    r1: float = 14.0
    k1: float = 1.0 * KCAL_PER_MOL
    r2: float = 9.0
    k2: float = 0.5 * KCAL_PER_MOL
    t1: float = 1500.0
    t2: float = 500.0
    mass_scaled: bool = eqx.field(static=True, default=True)
    center: Sequence[float] | None = None

    def schedule(self, t) -> tuple[Scalar, Scalar]:
        """Wall radius (Å) and spring constant at time `t` (fs), periodic in ``t1 + t2``."""
        expanded = jnp.mod(t, self.t1 + self.t2) < self.t1
        return jnp.where(expanded, self.r1, self.r2), jnp.where(expanded, self.k1, self.k2)

    def energy(self, R: Float[Array, "n_atoms dim"], t, masses: Float[Array, " n_atoms"] | None = None) -> Scalar:
        """Wall energy (eV) of `R` (Å) at time `t` (fs); `masses` (amu) for mass scaling."""
        radius, k = self.schedule(t)
        excess = jnp.maximum(_radial(R, self.center) - radius, 0.0)
        w = jnp.ones(R.shape[0], R.dtype) if (masses is None or not self.mass_scaled) else jnp.asarray(masses, R.dtype)
        return 0.5 * k * jnp.sum(w * excess**2)

    def bias(self, potential: Potential, R_like: Array) -> Bias:
        """``bias(R, t)`` for the MD integrators, using the potential's masses."""
        masses = potential.atom_masses(R_like)
        return lambda R, t: self.energy(R, t, masses)


class LogFermiWall(eqx.Module):
    """xtb's log-Fermi spherical wall, ``kB T sum_i ln(1 + exp(beta (r_i - radius)))``.

    - `radius`: Å. `beta`: steepness, 1/Å (xtb's default 6 bohr^-1 = 11.34 Å^-1).
    - `temperature`: K (xtb's default 300 K). `center`: Å, the origin if ``None``.

    Smooth everywhere; a time-independent alternative to :class:`SphericalPiston`.
    """

    radius: float = 14.0
    beta: float = 6.0 / BOHR
    temperature: float = 300.0
    center: Sequence[float] | None = None

    def energy(self, R: Float[Array, "n_atoms dim"], t=0.0, masses=None) -> Scalar:
        """Wall energy (eV) of `R` (Å); `t` and `masses` are accepted for a common signature."""
        r = _radial(R, self.center)
        return KB * self.temperature * jnp.sum(jax.nn.softplus(self.beta * (r - self.radius)))

    def bias(self, potential: Potential, R_like: Array) -> Bias:
        """``bias(R, t)`` for the MD integrators."""
        return lambda R, t: self.energy(R, t)


def valence_morse(
    species: Sequence[int],
    D: Float[Array, "n_species n_species"],
    alpha: float = 2.0,
    r0: float = 1.2,
    *,
    penalty: float | None = None,
    r_switch: float = 2.2,
    width: float = 0.15,
    r_cutoff: float = 3.0,
    r_on: float = 2.0,
    masses: Sequence[float] | None = None,
    dtype=None,
) -> Potential:
    """A reactive Morse gas in which every atom makes one bond: A2 + B2 -> 2 AB.

    ``E = sum_{i<j} D_ab [(1 - e^{-alpha (r - r0)})^2 - 1] c(r)
    + sum_i P max(z_i - 1, 0)^2``, with ``z_i = sum_j 1/(1 + e^{(r_ij - r_switch)/width})``
    the coordination number and ``c`` a cosine switch from 1 at `r_on` to 0 at `r_cutoff`.
    The valence penalty `P` (default 1.5 max D) makes a third atom near a bonded pair cost
    more than the extra bond gains, so molecules are closed-shell: they repel at contact and
    exchange partners only through a four-centre transition state.

    With the defaults and ``D_AA = D_BB = 2.0``, ``D_AB = 2.5`` eV (measured by CI-NEB and
    minimisations of one A2 + B2 pair; ``examples/nanoreactor_morse_gas.py`` prints them):
    bonds of exactly ``-D`` at ``r0`` (the switch is 1 there), A2 + B2 -> 2 AB releases
    1.0 eV, the rectangular four-centre saddle lies 1.93 eV above the separated molecules,
    and A2...B2 contact complexes are bound by at most 0.15 eV. So at 1500 K
    (kT = 0.13 eV) the exchange is thermally closed on picosecond time scales and a gas
    reacts only when something (a NanoReactor compression) forces hard collisions.

    The earlier defaults (``r_switch=1.8, width=0.1, r_cutoff=5.0, r_on=0.0``: one cosine
    over the whole range) give a sticky model instead: A2...B2 complexes bound by 1.8 eV and
    a four-centre saddle 0.15 eV *below* the separated molecules, i.e. a liquid droplet
    that exchanges partners without any barrier.

    - `species`: per-atom species index (0, 1, ...). `D`: well depths per species pair, eV.
    - `alpha`: 1/Å. `r0`, `r_switch`, `width`, `r_on`, `r_cutoff`: Å (``r_on < r_cutoff``).
      `masses`: amu per atom. `dtype`: of the params and masses (default JAX's float
      dtype); with float32 params and positions the energy and forces are float32.

    ``params`` holds ``D``, ``alpha``, ``r0`` and ``penalty`` (differentiable).
    """
    if not 0.0 <= r_on < r_cutoff:
        raise ValueError(f"valence_morse needs 0 <= r_on < r_cutoff; got r_on={r_on}, r_cutoff={r_cutoff}.")
    species = jnp.asarray(species)
    D = jnp.asarray(D, float if dtype is None else dtype)
    n = species.shape[0]
    offdiag = ~jnp.eye(n, dtype=bool)

    def energy_fn(R, system, params):
        d = R[:, None, :] - R[None, :, :]
        r2 = jnp.sum(d**2, -1)
        r = jnp.sqrt(jnp.where(offdiag, r2, 1.0))
        Dij = params["D"][species[:, None], species[None, :]]
        x = jnp.exp(-params["alpha"] * (r - params["r0"]))
        s = jnp.clip((r - r_on) / (r_cutoff - r_on), 0.0, 1.0)
        cut = 0.5 * (1.0 + jnp.cos(jnp.pi * s))
        pair = jnp.where(offdiag, Dij * ((1.0 - x) ** 2 - 1.0) * cut, 0.0)
        z = jnp.sum(jnp.where(offdiag, jax.nn.sigmoid((r_switch - r) / width), 0.0), axis=1)
        return 0.5 * jnp.sum(pair) + params["penalty"] * jnp.sum(jnp.maximum(z - 1.0, 0.0) ** 2)

    P = 1.5 * float(jnp.max(D)) if penalty is None else penalty
    params = {"D": D, "alpha": jnp.asarray(alpha, D.dtype), "r0": jnp.asarray(r0, D.dtype),
              "penalty": jnp.asarray(P, D.dtype)}  # fmt: skip
    m = None if masses is None else jnp.asarray(masses, D.dtype)
    return Potential(energy_fn, params, masses=m)
