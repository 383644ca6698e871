"""Rare-event dynamics: MD with transition detection, temperature-accelerated dynamics,
and the NanoReactor compression wall with a bond-graph reaction detector."""

from jaxrxn.dynamics.md import (
    Langevin as Langevin,
    MaxDisplacement as MaxDisplacement,
    MDState as MDState,
    Quench as Quench,
    TransitionResult as TransitionResult,
    VelocityVerlet as VelocityVerlet,
    kinetic_energy as kinetic_energy,
    md_until_transition as md_until_transition,
    run_md as run_md,
    temperature as temperature,
)
from jaxrxn.dynamics.tad import (
    TAD as TAD,
    NEBBarrier as NEBBarrier,
    BasinResult as BasinResult,
    TADBook as TADBook,
    TADRun as TADRun,
    event_table as event_table,
    load_tad as load_tad,
    run_tad as run_tad,
    tad_basin as tad_basin,
    tad_init as tad_init,
)
from jaxrxn.dynamics.bonds import (
    BondChange as BondChange,
    bond_graph as bond_graph,
    covalent_cutoffs as covalent_cutoffs,
    detect_reactions as detect_reactions,
    molecules as molecules,
    reaction_frames as reaction_frames,
    split_reaction as split_reaction,
)
from jaxrxn.dynamics.nanoreactor import (
    LogFermiWall as LogFermiWall,
    SphericalPiston as SphericalPiston,
    valence_morse as valence_morse,
)
