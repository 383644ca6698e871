"""Reaction paths: interpolation between end states (linear, IDPP, geodesic) and the nudged elastic band."""

from jaxrxn.path.interpolation import idpp as idpp, interpolate as interpolate, linear as linear
from jaxrxn.path.geodesic_interpolation import (
    GeodesicResult as GeodesicResult,
    geodesic as geodesic,
    geodesic_length as geodesic_length,
)
from jaxrxn.path.elastic_band import (
    NEB as NEB,
    ImagePotentials as ImagePotentials,
    NEBResult as NEBResult,
    NEBState as NEBState,
    neb as neb,
    neb_forces as neb_forces,
)
