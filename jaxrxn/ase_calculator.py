"""The reverse bridge: a jaxrxn :class:`~jaxrxn.potentials.core.Potential` as an ASE calculator.

With :class:`JaxrxnCalculator` every jaxrxn potential runs inside ASE's optimizers, NEB, MD
and vibrational analysis, so jaxrxn methods and ASE methods can be compared on the very same
energy surface.
"""

from __future__ import annotations

import equinox as eqx
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from jaxrxn.potentials.core import Potential


@eqx.filter_jit
def _energy_and_gradient(potential: Potential, R):
    # The raw gradient, not Potential.forces: ASE applies its own constraints (FixAtoms).
    e, g = eqx.filter_value_and_grad(lambda R: potential.energy(R))(R)
    return e, -g


class JaxrxnCalculator(Calculator):
    """ASE calculator that evaluates a jaxrxn potential (energy eV, forces eV/Å).

    **Arguments:**

    - `potential`: a :class:`Potential` built for the structures it will see (its cell and
      pbc are part of the potential, not read from the ``Atoms``).
    - `dtype`: dtype of the positions passed to JAX; float64 needs
      ``jax_enable_x64`` (otherwise JAX computes in float32).

    The energy and forces are compiled once per number of atoms and reused. Forces are
    ``-dE/dR`` on every atom; ASE's own constraints (``FixAtoms``) act on top.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, potential: Potential, dtype=np.float64, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential
        self.dtype = dtype

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        R = np.asarray(self.atoms.positions, self.dtype)
        e, f = _energy_and_gradient(self.potential, R)
        self.results = {
            "energy": float(e),
            "free_energy": float(e),
            "forces": np.asarray(f, dtype=float),
        }
