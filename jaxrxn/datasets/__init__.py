"""Reaction data sets made by jaxrxn itself: the GFN2-xTB builder (:func:`build_dataset`),
its reactant molecules (:mod:`jaxrxn.datasets.molecules`) and the data card."""

from jaxrxn.datasets.builder import BuildConfig as BuildConfig, assemble as assemble, build_dataset as build_dataset
