"""Outside calculators (ASE: EMT, xTB via tblite, DFT codes) as a jaxrxn :class:`Potential`.

The calculator runs on the host through ``jax.pure_callback``; a ``jax.custom_jvp`` tells
JAX that the derivative of its energy is minus its forces, so ``jax.grad``, every optimizer,
NEB and saddle search in jaxrxn work on it unchanged, also inside ``jit`` and
``lax.while_loop``. Under ``jax.vmap`` the configurations are evaluated one after another
(``vmap_method="sequential"``). Second derivatives (``Potential.hessian``) are not available:
the calculator provides only first derivatives.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np

from jaxrxn.potentials.core import Potential


class ASEEnergy:
    """Callable ``(R, params) -> energy`` (eV) that evaluates an ASE calculator.

    Holds its own copy of the template ``Atoms`` (numbers, cell, pbc) and counts how often the
    calculator was asked for energy and forces: `n_calls`. Its identity (not its contents)
    is the static key jit caches on, so build it once and reuse it.
    """

    def __init__(self, calculator, atoms):
        self.atoms = copy.deepcopy(atoms)
        self.atoms.constraints = []  # jaxrxn applies fixed-atom masks itself
        self.atoms.calc = calculator
        self.n_calls = 0
        self._energy = jax.custom_jvp(self._energy_primal)
        self._energy.defjvp(self._energy_jvp)

    def _evaluate(self, R):
        self.n_calls += 1
        R = np.asarray(R, dtype=float)
        if R.shape != self.atoms.positions.shape:
            raise ValueError(
                f"the calculator was built for {len(self.atoms)} atoms in 3D; got a "
                f"configuration of shape {R.shape}."
            )
        self.atoms.positions = R
        e = self.atoms.get_potential_energy()
        f = self.atoms.get_forces()
        return e, f

    def _callback(self, R):
        shapes = (jax.ShapeDtypeStruct((), R.dtype), jax.ShapeDtypeStruct(R.shape, R.dtype))

        def host(R_host):
            e, f = self._evaluate(R_host)
            return np.asarray(e, R_host.dtype), np.asarray(f, R_host.dtype)

        return jax.pure_callback(host, shapes, R, vmap_method="sequential")

    def _energy_primal(self, R):
        return self._callback(R)[0]

    def _energy_jvp(self, primals, tangents):
        (R,), (dR,) = primals, tangents
        e, f = self._callback(R)
        return e, -jnp.sum(f * dR)

    def __call__(self, R, params=None):
        return self._energy(R)


def ase_potential(calculator, atoms, **potential_kwargs) -> Potential:
    """Wrap an ASE calculator as a :class:`Potential` for structures like `atoms`.

    **Arguments:**

    - `calculator`: any ASE ``Calculator`` that implements energy and forces (eV, eV/Å).
    - `atoms`: template ``Atoms`` giving the atomic numbers, cell and pbc; configurations
      ``R`` of shape ``(len(atoms), 3)`` (Å) replace its positions.
    - `potential_kwargs`: ``fixed``, ``masses`` for :class:`Potential`. By default
      ``FixAtoms`` constraints of `atoms` become the fixed mask and its masses are used.

    The potential has no differentiable ``params``. ``potential.energy_fn.n_calls`` counts
    calculator evaluations (one per energy, energy-and-forces or gradient call).
    """
    from jaxrxn.io import from_atoms

    _, system = from_atoms(atoms)
    potential_kwargs.setdefault("fixed", system.fixed if system.fixed.any() else None)
    potential_kwargs.setdefault("masses", jnp.asarray(system.masses))
    return Potential(ASEEnergy(calculator, atoms), None, **potential_kwargs)
