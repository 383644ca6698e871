"""Energy surfaces: the :class:`Potential` type and the built-in potentials.

Names are imported on first use (PEP 562): ``jaxrxn.potentials.Potential`` does not pull
in jax-md, which only the pair and many-body potentials need.
"""

from __future__ import annotations

from jaxrxn._lazy import attach

#: public name -> module that defines it
_NAMES = {
    **dict.fromkeys(
        ("double_well", "leps_harmonic", "muller_brown", "wolfe_quapp"), "jaxrxn.potentials.analytic"
    ),
    **dict.fromkeys(
        ("Potential", "energy", "energy_and_forces", "forces", "hessian", "max_atom_force"),
        "jaxrxn.potentials.core",
    ),
    **dict.fromkeys(
        ("GIRIFALCO_WEIZER", "lennard_jones", "morse", "morse_preset"), "jaxrxn.potentials.pair"
    ),
}


__getattr__, __dir__, __all__ = attach(__name__, _NAMES)
