"""Automated exploration: AFIR (GRRM-style) and reaction networks of EQ, TS and DC."""

from jaxrxn.explore.afir import (
    AFIRPath as AFIRPath,
    afir_alpha as afir_alpha,
    afir_path as afir_path,
    afir_potential as afir_potential,
    covalent_radii as covalent_radii,
    directional_afir_potential as directional_afir_potential,
    target_afir_potential as target_afir_potential,
    thermal_gamma as thermal_gamma,
)
from jaxrxn.explore.network import (
    ReactionNetwork as ReactionNetwork,
    structure_fingerprint as structure_fingerprint,
)
