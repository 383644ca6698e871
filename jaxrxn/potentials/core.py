"""The :class:`Potential`: where every energy in jaxrxn comes from.

A potential is a pure ``energy_fn(R, params) -> scalar`` (eV) of a configuration ``R`` of
shape ``(n_atoms, dim)`` (Å) plus its differentiable ``params`` pytree. Because the
:class:`Potential` is itself a pytree (an :class:`equinox.Module`), it passes through
``jax.jit``, ``jax.vmap`` over its parameters, and ``jax.grad`` with respect to
``potential.params``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree, Scalar

EnergyFn = Callable[[Float[Array, "n_atoms dim"], PyTree], Scalar]


def _as_mask(fixed) -> tuple[bool, ...] | None:
    if fixed is None:
        return None
    return tuple(bool(x) for x in np.asarray(fixed).reshape(-1))


class Potential(eqx.Module):
    """An energy surface: ``energy_fn(R, params)`` with differentiable ``params``.

    **Arguments:**

    - `energy_fn`: pure function ``(R, params) -> energy`` with ``R`` of shape
      ``(n_atoms, dim)`` in Å and the energy in eV. Held as a static field: build a potential
      once and reuse it so that jitted solvers compile once.
    - `params`: pytree of parameters (differentiable; ``jax.grad`` over it works).
    - `fixed`: optional boolean per-atom mask, ``True`` for atoms that never move (ASE's
      ``FixAtoms``). Forces on fixed atoms are reported as zero, so every optimizer and
      saddle search leaves them in place.
    - `masses`: optional per-atom masses in amu ``(n_atoms,)``, used for mass-weighted
      coordinates (IRC, harmonic TST) and dynamics. Defaults to 1.
    """

    energy_fn: EnergyFn = eqx.field(static=True)
    params: PyTree = None
    fixed: tuple[bool, ...] | None = eqx.field(static=True, default=None, converter=_as_mask)
    masses: Float[Array, " n_atoms"] | None = None

    # ---- energies and derivatives ---------------------------------------------------
    def energy(self, R: Float[Array, "n_atoms dim"]) -> Scalar:
        """Potential energy in eV."""
        return self.energy_fn(R, self.params)

    def free_mask(self, R: Float[Array, "n_atoms dim"]) -> Float[Array, "n_atoms 1"]:
        """1.0 for atoms free to move and 0.0 for fixed atoms, shape ``(n_atoms, 1)``."""
        if self.fixed is None:
            return jnp.ones((R.shape[0], 1), R.dtype)
        if len(self.fixed) != R.shape[0]:
            raise ValueError(
                f"the potential's fixed mask has {len(self.fixed)} atoms but the "
                f"configuration has {R.shape[0]}."
            )
        return 1.0 - jnp.asarray(self.fixed, R.dtype)[:, None]

    def energy_and_forces(
        self, R: Float[Array, "n_atoms dim"]
    ) -> tuple[Scalar, Float[Array, "n_atoms dim"]]:
        """Energy (eV) and forces ``-dE/dR`` (eV/Å), zero on fixed atoms."""
        e, g = jax.value_and_grad(self.energy_fn)(R, self.params)
        return e, -g * self.free_mask(R)

    def forces(self, R: Float[Array, "n_atoms dim"]) -> Float[Array, "n_atoms dim"]:
        """Forces ``-dE/dR`` in eV/Å, zero on fixed atoms."""
        return self.energy_and_forces(R)[1]

    def hessian(self, R: Float[Array, "n_atoms dim"]) -> Float[Array, "n_dof n_dof"]:
        """Cartesian Hessian ``d2E/dR2`` in eV/Å², flattened to ``(n_atoms*dim, n_atoms*dim)``.

        Rows and columns of fixed atoms are zeroed (they are not degrees of freedom).
        """
        n = R.size
        H = jax.hessian(self.energy_fn)(R, self.params).reshape(n, n)
        m = jnp.broadcast_to(self.free_mask(R), R.shape).reshape(-1)
        return H * m[:, None] * m[None, :]

    def atom_masses(self, R: Float[Array, "n_atoms dim"]) -> Float[Array, " n_atoms"]:
        """Per-atom masses (amu); ones when none were given."""
        if self.masses is None:
            return jnp.ones(R.shape[0], R.dtype)
        return jnp.asarray(self.masses, R.dtype)

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
