"""Kinetic Monte Carlo: residence-time KMC, lattice models, RL-guided KMC."""

from jaxrxn.kmc.lattice import (
    HopType as HopType,
    LatticeGas as LatticeGas,
    SublatticeWalker as SublatticeWalker,
    WalkerConfig as WalkerConfig,
    build_walker as build_walker,
    fcc_hydrogen_walker as fcc_hydrogen_walker,
    square_lattice_walker as square_lattice_walker,
)
from jaxrxn.kmc.residence import (
    KMCState as KMCState,
    KMCTrajectory as KMCTrajectory,
    NetworkModel as NetworkModel,
    diffusion_coefficient as diffusion_coefficient,
    init_state as init_state,
    kmc_step as kmc_step,
    mean_squared_displacement as mean_squared_displacement,
    network_rate_matrix as network_rate_matrix,
    run_kmc as run_kmc,
    select_event as select_event,
    state_occupancy as state_occupancy,
)
