"""jaxrxn: reaction paths, saddles, rare events and generative path models in JAX.

Every computation is a pure function of arrays and pytrees, so ``jax.jit``, ``jax.vmap``
and ``jax.grad`` compose over it. Units: eV, Å, amu, fs, K. Importing jaxrxn flips no
global flags: enable float64 yourself (``jax.config.update("jax_enable_x64", True)``),
which saddle work needs.
"""

from jaxrxn._results import RESULTS as RESULTS
from jaxrxn.geometry import (
    align as align,
    kabsch as kabsch,
    minimum_image as minimum_image,
    path_length as path_length,
    rigid_body_projector as rigid_body_projector,
    rmsd as rmsd,
)
from jaxrxn.optimize import (
    FIRE as FIRE,
    LBFGS as LBFGS,
    MinimizeResult as MinimizeResult,
    minimize as minimize,
)
from jaxrxn.potentials import (
    Potential as Potential,
    lennard_jones as lennard_jones,
    morse as morse,
    morse_preset as morse_preset,
    muller_brown as muller_brown,
)

__version__ = "0.1.0"
