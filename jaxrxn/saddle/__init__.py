"""Saddle points (transition states): P-RFO with exact Hessians, restricted-step P-RFO on
an approximate gradient-updated Hessian (for outside calculators), the dimer method and
min-mode following, behind one entry point :func:`saddle_search`."""

from jaxrxn.saddle.index import (
    SaddleResult as SaddleResult,
    ZeroModes as ZeroModes,
    hessian_analysis as hessian_analysis,
    projected_hessian as projected_hessian,
    saddle_index as saddle_index,
    zero_modes as zero_modes,
)
from jaxrxn.saddle.search import saddle_search as saddle_search
from jaxrxn.saddle.dimer import Dimer as Dimer, min_mode_search as min_mode_search
from jaxrxn.saddle.prfo import PRFO as PRFO
from jaxrxn.saddle.rsprfo import RSPRFO as RSPRFO, lindh_hessian as lindh_hessian
from jaxrxn.saddle.internal import InternalCoordinates as InternalCoordinates, redundant_internals as redundant_internals
