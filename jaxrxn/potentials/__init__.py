"""Energy surfaces: the :class:`Potential` type and the built-in potentials."""

from jaxrxn.potentials.analytic import (
    double_well as double_well,
    leps_harmonic as leps_harmonic,
    muller_brown as muller_brown,
    wolfe_quapp as wolfe_quapp,
)
from jaxrxn.potentials.core import (
    Potential as Potential,
    energy as energy,
    energy_and_forces as energy_and_forces,
    forces as forces,
    hessian as hessian,
    max_atom_force as max_atom_force,
)
from jaxrxn.potentials.pair import (
    GIRIFALCO_WEIZER as GIRIFALCO_WEIZER,
    lennard_jones as lennard_jones,
    morse as morse,
    morse_preset as morse_preset,
)
