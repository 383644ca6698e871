"""jaxrxn: reaction paths, saddles, rare events and generative path models in JAX.

Every computation is a pure function of arrays and pytrees, so ``jax.jit``, ``jax.vmap``
and ``jax.grad`` compose over it. Units: eV, Å, amu, fs, K. Importing jaxrxn flips no
global flags: enable float64 yourself (``jax.config.update("jax_enable_x64", True)``),
which saddle work needs.

Subpackages: :mod:`jaxrxn.potentials`, :mod:`jaxrxn.path`, :mod:`jaxrxn.saddle`,
:mod:`jaxrxn.dynamics`, :mod:`jaxrxn.explore`, :mod:`jaxrxn.kmc`, :mod:`jaxrxn.generative`.

Names are imported on first use (PEP 562), so ``import jaxrxn`` is cheap and pulls in
neither ASE nor jax-md; ``jaxrxn.neb`` imports :mod:`jaxrxn.path.elastic_band` when first touched.
"""

from __future__ import annotations

from jaxrxn._lazy import attach

__version__ = "0.1.0"

#: public name -> module that defines it
_NAMES = {
    "RESULTS": "jaxrxn._results",
    **dict.fromkeys(
        ("align", "kabsch", "minimum_image", "path_length", "rigid_body_projector", "rmsd"),
        "jaxrxn.geometry",
    ),
    **dict.fromkeys(("FIRE", "LBFGS", "MinimizeResult", "minimize"), "jaxrxn.optimize"),
    **dict.fromkeys(("NEB", "NEBResult", "geodesic", "idpp", "interpolate", "linear", "neb"), "jaxrxn.path"),
    **dict.fromkeys(
        ("Potential", "lennard_jones", "morse", "morse_preset", "muller_brown"), "jaxrxn.potentials"
    ),
    **dict.fromkeys(("emt", "emt_from_atoms"), "jaxrxn.potentials.emt"),
    **dict.fromkeys(
        ("arrhenius_rate", "htst_rate", "mean_waiting_time", "vineyard_prefactor"), "jaxrxn.rates"
    ),
    **dict.fromkeys(
        ("PRFO", "Dimer", "SaddleResult", "min_mode_search", "saddle_index", "saddle_search"),
        "jaxrxn.saddle",
    ),
    **dict.fromkeys(("barrier", "fit_to_barriers", "stationary_point"), "jaxrxn.tune"),
    "System": "jaxrxn.system",
    **dict.fromkeys(("ReactionResult", "find_reaction"), "jaxrxn.reaction"),
    **dict.fromkeys(("MechanismResult", "find_mechanism"), "jaxrxn.mechanism"),
    **dict.fromkeys(("batch_neb", "batch_minimize"), "jaxrxn.batch"),
}


__getattr__, __dir__, __all__ = attach(__name__, _NAMES)
