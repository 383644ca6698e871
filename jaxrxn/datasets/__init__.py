"""Reaction data sets made by jaxrxn itself: the GFN2-xTB builder (:func:`build_dataset`),
its reactant molecules (:mod:`jaxrxn.datasets.molecules`), the data card, and the data set
that ships with the package (:func:`shipped_dataset`, :func:`heldout_reactions`,
:func:`training_reactions`)."""

from jaxrxn.datasets.builder import BuildConfig as BuildConfig, assemble as assemble, build_dataset as build_dataset
from jaxrxn.datasets.shipped import (
    heldout_reactions as heldout_reactions, shipped_dataset as shipped_dataset, training_reactions as training_reactions,
)  # fmt: skip
