"""The GFN2-xTB reaction data set that ships with jaxrxn, and its held-out reactions.

``jaxrxn/data/xtb_reactions.h5`` is a :func:`jaxrxn.datasets.build_dataset` file (its card:
``jaxrxn/data/xtb_reactions.md``): 1,029 reactions of 230 reactant molecules (H, C, N, O),
split by reactant molecule into train / val / test. The shipped models (the NNP, the TS
and flow generators) were trained on its train molecules only; their held-out numbers are
on the reactions of the other two splits.
"""

from __future__ import annotations

from importlib import resources

import h5py
import numpy as np

from jaxrxn.generative.data import ReactionPath, read_transition1x


def shipped_dataset() -> str:
    """The path of the shipped data set's HDF5 file (Transition1x layout, with ``molecules/``)."""
    return str(resources.files("jaxrxn.data").joinpath("xtb_reactions.h5"))


def heldout_reactions(filename: str | None = None, level: str | None = "GFN2-xTB") -> list[ReactionPath]:
    """The reactions of a :func:`jaxrxn.datasets.build_dataset` file (default: the shipped
    one) whose reactant molecule is in its ``val`` or ``test`` split, in the file's order,
    with their path energies and forces at `level` (``None``: positions only)."""
    return _reactions_by_split(filename, level, heldout=True)


def training_reactions(filename: str | None = None, level: str | None = "GFN2-xTB") -> list[ReactionPath]:
    """The reactions of a :func:`jaxrxn.datasets.build_dataset` file (default: the shipped
    one) whose reactant molecule is in its ``train`` split: the complement of
    :func:`heldout_reactions`, in the file's order."""
    return _reactions_by_split(filename, level, heldout=False)


def _reactions_by_split(filename: str | None, level: str | None, heldout: bool) -> list[ReactionPath]:
    filename = shipped_dataset() if filename is None else filename
    with h5py.File(filename, "r") as f:
        if "molecules" not in f:
            raise ValueError(f"{filename!r} is not a jaxrxn.datasets file (no molecules/ with their split).")
        split = np.asarray(f["molecules/split"]).astype(str)
    return [r for r in read_transition1x(filename, "data", level) if (split[int(r.extras["molecule"])] != "train") == heldout]
