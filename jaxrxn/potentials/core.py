"""The :class:`Potential`: where every energy in jaxrxn comes from.

A potential is a pure ``energy_fn(R, system, params) -> scalar`` (eV) of a configuration
``R`` of shape ``(n_atoms, dim)`` (Å), the :class:`jaxrxn.System` it belongs to (atomic
numbers, cell, masks: data, not a closure) and differentiable ``params``. The
:class:`Potential` holds all three and is itself a pytree (an :class:`equinox.Module`), so it
passes through ``jax.jit``, ``jax.vmap`` (over parameters, or over a stacked batch of
different systems, see :mod:`jaxrxn.batch`) and ``jax.grad`` with respect to
``potential.params`` or ``potential.system.cell``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree, Scalar

from jaxrxn._jit import dynamic_floats
from jaxrxn.neighbors import NeighborList, allocate, build_batch, check_overflow, update_batch
from jaxrxn.system import System, free_atoms

EnergyFn = Callable[[Float[Array, "n_atoms dim"], "System | None", PyTree], Scalar]


def _follow_dtype(tree, dtype):
    """Floating leaves of `tree` cast to `dtype`: a potential computes in its input's dtype."""

    def cast(x):
        return jnp.asarray(x, dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x

    return jax.tree_util.tree_map(cast, tree)


def _compiled(method):
    """`method(potential, R)` compiled as one program, also when called outside ``jit`` (a
    research script, a test), with Python floats in the potential traced so that new
    values do not compile again. Run eagerly, JAX dispatches (and compiles) every primitive
    on its own: a 9-atom EMT energy and forces took 6.8 s the first time and 1.4 s
    compiled, and 6.4 vs 1.1 s for a band's forces under an eager ``vmap``. Inside ``jit``
    it is inlined into the enclosing program."""
    compiled = eqx.filter_jit(method)

    @functools.wraps(method)
    def call(self, R):
        return compiled(dynamic_floats(self), R)

    return call


class Potential(eqx.Module):
    """An energy surface: ``energy_fn(R, system, params)`` with differentiable ``params``.

    **Arguments:**

    - `energy_fn`: pure function ``(R, system, params) -> energy`` with ``R`` of shape
      ``(n_atoms, dim)`` in Å and the energy in eV. Held as a static field (the jit cache
      key): a module-level function, or a hashable object equal by value, so that every
      potential built from it shares one compiled solver.
    - `params`: pytree of parameters (differentiable; ``jax.grad`` over it works).
    - `system`: the :class:`jaxrxn.System` (atomic numbers, masses, cell, pbc, fixed and
      padding masks), or ``None`` for model surfaces. A pytree field: stacked systems vmap.
    - `neighbors`: a carried :class:`jaxrxn.neighbors.NeighborList` (see
      :meth:`with_neighbors`), or ``None``: the energy then sums over its list, updated at
      each evaluation (rebuilt only when an atom moved more than half the skin since the
      list was built), and raises under jit if the list overflowed. Drivers (MD) carry the
      updated list in their state.
    - `fixed`, `masses`: shorthand: per-atom booleans (``True`` never moves, ASE's
      ``FixAtoms``) and masses (amu), set on `system` (or on a system without atomic
      numbers when none is given).

    The energy is evaluated in the dtype of ``R``: floating params and system arrays are
    cast to it, so a float32 configuration runs in float32 whatever the parameters hold.
    """

    energy_fn: EnergyFn = eqx.field(static=True)
    params: PyTree = None
    system: System | None = None
    neighbors: NeighborList | None = None

    def __init__(
        self,
        energy_fn: EnergyFn,
        params: PyTree = None,
        system: System | None = None,
        neighbors: NeighborList | None = None,
        *,
        fixed=None,
        masses=None,
    ):
        if system is None and (fixed is not None or masses is not None):
            system = System(masses=masses, fixed=fixed)
        elif system is not None and (fixed is not None or masses is not None):
            changes = {} if fixed is None else {"fixed": jnp.asarray(np.asarray(fixed, bool))}
            if masses is not None:
                changes["masses"] = jnp.asarray(masses)
            system = system.replace(**changes)
        self.energy_fn = energy_fn
        self.params = params
        self.system = system
        self.neighbors = neighbors

    @property
    def fixed(self) -> np.ndarray | None:
        """The fixed-atom mask ``(n_atoms,)`` as NumPy booleans, ``None`` when no atom is
        fixed (host side: it reads the concrete system)."""
        if self.system is None or self.system.fixed is None:
            return None
        fixed = np.asarray(self.system.fixed, bool)
        return fixed if fixed.any() else None

    @property
    def masses(self) -> Float[Array, " n_atoms"] | None:
        """Per-atom masses (amu) of the system, ``None`` without one."""
        return None if self.system is None else self.system.masses

    # ---- energies and derivatives ---------------------------------------------------
    @_compiled
    def energy(self, R: Float[Array, "n_atoms dim"]) -> Scalar:
        """Potential energy in eV."""
        return self._energy(R, self.params)

    def _energy(self, R, params, check: bool = True) -> Scalar:
        return self._energy_with(R, params, self._neighbors_at(R), check)

    def _neighbors_at(self, R) -> NeighborList | None:
        """The carried list updated at `R` (``None`` without one). Done outside
        differentiation where possible: under AD the update's ``lax.cond`` cost ~4x the
        EMT evaluation at 4,000 atoms even when nothing was rebuilt."""
        if self.neighbors is None:
            return None
        return self.neighbors.update(R, _follow_dtype(self.system, R.dtype))

    def _batch_neighbors(
        self, R: Float[Array, "batch n_atoms dim"], neighbors: NeighborList | None = None
    ) -> NeighborList | None:
        """One list per configuration of `R` (a band's images): built afresh from the
        carried list's capacities when `neighbors` is ``None``, else `neighbors` updated
        together with one rebuild decision (:func:`jaxrxn.neighbors.update_batch`).
        ``None`` for a potential without a list."""
        if self.neighbors is None:
            return None
        system = _follow_dtype(self.system, R.dtype)
        if neighbors is None:
            return build_batch(self.neighbors, R, system)
        return update_batch(neighbors, R, system)

    def _energy_with(self, R, params, neighbors: NeighborList | None, check: bool = True) -> Scalar:
        system, params = _follow_dtype(self.system, R.dtype), _follow_dtype(params, R.dtype)
        if neighbors is None:
            return self.energy_fn(R, system, params)
        e = self.energy_fn(R, system, params, neighbors)
        return check_overflow(e, neighbors) if check else e

    def with_neighbors(
        self, R: Float[Array, "n_atoms dim"], *, skin: float = 0.5, capacity_multiplier: float = 1.25
    ) -> "Potential":
        """This potential with a neighbour list allocated at concrete positions `R` (Å):
        pairs within the energy's cutoff plus `skin` (Å), capacities
        `capacity_multiplier` times the counts at `R` (see :func:`jaxrxn.neighbors.allocate`;
        not jittable). For systems of thousands of atoms: each evaluation then costs
        ``O(n_atoms)``, and the list is rebuilt only when an atom moved ``skin / 2``.
        Raises ``ValueError`` for an energy without a finite cutoff."""
        cutoff = getattr(self.energy_fn, "cutoff", None)
        if cutoff is None:
            raise ValueError(
                f"{type(self.energy_fn).__name__} has no finite cutoff, so it cannot use a "
                "neighbour list (give the potential an r_cutoff)."
            )
        return self.replace(neighbors=allocate(R, self.system, cutoff, skin=skin, capacity_multiplier=capacity_multiplier))

    def free_mask(self, R: Float[Array, "n_atoms dim"]) -> Float[Array, "n_atoms 1"]:
        """1.0 for atoms free to move, 0.0 for fixed and padding atoms, ``(n_atoms, 1)``."""
        return free_atoms(self.system, R.shape[0], R.dtype)

    @_compiled
    def energy_and_forces(
        self, R: Float[Array, "n_atoms dim"]
    ) -> tuple[Scalar, Float[Array, "n_atoms dim"]]:
        """Energy (eV) and forces ``-dE/dR`` (eV/Å), zero on fixed atoms."""
        return self._energy_and_forces(R)

    def _energy_and_forces(self, R, check: bool = True, update: bool = True):
        """`update=False` takes the carried list as already updated at `R` (drivers that
        carry it); `check=False` leaves overflow to the caller."""
        neighbors = self._neighbors_at(R) if update else self.neighbors
        e, g = jax.value_and_grad(self._energy_with)(R, self.params, neighbors, check)
        return e, -g * self.free_mask(R)

    def forces(self, R: Float[Array, "n_atoms dim"]) -> Float[Array, "n_atoms dim"]:
        """Forces ``-dE/dR`` in eV/Å, zero on fixed atoms."""
        return self.energy_and_forces(R)[1]

    @_compiled
    def hessian(self, R: Float[Array, "n_atoms dim"]) -> Float[Array, "n_dof n_dof"]:
        """Cartesian Hessian ``d2E/dR2`` in eV/Å², flattened to ``(n_atoms*dim, n_atoms*dim)``.

        Rows and columns of fixed atoms are zeroed (they are not degrees of freedom).
        """
        n = R.size
        H = jax.hessian(self._energy)(R, self.params).reshape(n, n)
        m = jnp.broadcast_to(self.free_mask(R), R.shape).reshape(-1)
        return H * m[:, None] * m[None, :]

    def atom_masses(self, R: Float[Array, "n_atoms dim"]) -> Float[Array, " n_atoms"]:
        """Per-atom masses (amu) ``(n_atoms,)``; ones without a system."""
        if self.system is None or self.system.masses is None:
            return jnp.ones(R.shape[0], R.dtype)
        return self.system.masses.astype(R.dtype)

    # ---- convenience -------------------------------------------------------------------
    def replace(self, **changes: Any) -> "Potential":
        """A copy with some fields replaced, e.g. ``potential.replace(params=new)``."""
        return dataclasses.replace(self, **changes)


def energy(potential: Potential, R) -> Scalar:
    """Energy (eV) of ``R``; ``jax.vmap(energy, (None, 0))`` evaluates a batch."""
    return potential.energy(R)


def forces(potential: Potential, R):
    """Forces (eV/Å) of ``R``, zero on fixed atoms."""
    return potential.forces(R)


def energy_and_forces(potential: Potential, R):
    """``(energy, forces)`` in eV and eV/Å."""
    return potential.energy_and_forces(R)


def hessian(potential: Potential, R):
    """Flattened Cartesian Hessian ``(n_atoms*dim, n_atoms*dim)`` in eV/Å²."""
    return potential.hessian(R)


def max_atom_force(F: Float[Array, "... n_atoms dim"]) -> Scalar:
    """Largest per-atom force norm (eV/Å), ASE's ``fmax`` criterion."""
    return jnp.sqrt(jnp.max(jnp.sum(F**2, axis=-1)))
