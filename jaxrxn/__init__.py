"""jaxrxn: reaction paths, saddles, rare events and generative path models in JAX.

Every computation is a pure function of arrays and pytrees, so ``jax.jit``, ``jax.vmap``
and ``jax.grad`` compose over it. Units: eV, Å, amu, fs, K. Importing jaxrxn flips no
global flags: enable float64 yourself (``jax.config.update("jax_enable_x64", True)``),
which saddle work needs.

Subpackages: :mod:`jaxrxn.potentials`, :mod:`jaxrxn.path`, :mod:`jaxrxn.saddle`,
:mod:`jaxrxn.dynamics`, :mod:`jaxrxn.explore`, :mod:`jaxrxn.kmc`,
:mod:`jaxrxn.generative` (imported on demand: it pulls in flax).
"""

from jaxrxn import geometry as geometry, io as io, potentials as potentials
from jaxrxn._results import RESULTS as RESULTS
from jaxrxn.geometry import (
    align as align,
    kabsch as kabsch,
    minimum_image as minimum_image,
    path_length as path_length,
    rigid_body_projector as rigid_body_projector,
    rmsd as rmsd,
)
from jaxrxn.irc import IRCResult as IRCResult, irc as irc
from jaxrxn.optimize import (
    FIRE as FIRE,
    LBFGS as LBFGS,
    MinimizeResult as MinimizeResult,
    minimize as minimize,
)
from jaxrxn.path import (
    NEB as NEB,
    NEBResult as NEBResult,
    idpp as idpp,
    interpolate as interpolate,
    linear as linear,
    neb as neb,
)
from jaxrxn.potentials import (
    Potential as Potential,
    lennard_jones as lennard_jones,
    morse as morse,
    morse_preset as morse_preset,
    muller_brown as muller_brown,
)
from jaxrxn.potentials.emt import emt as emt, emt_from_atoms as emt_from_atoms
from jaxrxn.rates import (
    arrhenius_rate as arrhenius_rate,
    htst_rate as htst_rate,
    mean_waiting_time as mean_waiting_time,
    vineyard_prefactor as vineyard_prefactor,
)
from jaxrxn.saddle import (
    PRFO as PRFO,
    Dimer as Dimer,
    SaddleResult as SaddleResult,
    min_mode_search as min_mode_search,
    saddle_index as saddle_index,
    saddle_search as saddle_search,
)
from jaxrxn.tune import barrier as barrier, fit_to_barriers as fit_to_barriers, stationary_point as stationary_point

__version__ = "0.1.0"
