"""Neural-network potentials that ship with jaxrxn, and the domain they may be used in.

``xtb-painn`` is the PaiNN potential (:class:`jaxrxn.nnp.model.NNPEnergy`) trained on the
GFN2-xTB reaction data set that ships in ``jaxrxn/data/xtb_reactions.h5`` (reaction paths,
reactants, products, transition states and perturbed copies; :func:`jaxrxn.nnp.data.configurations_from_dataset`).
Its file records how it was trained (``jaxrxn train-nnp`` settings, the data file's
SHA-256) and its errors on the held-out molecules.

A model's domain is what it was trained on: its elements, neutral closed-shell gas-phase
molecules, and at most the largest training molecule's atom count. Outside it the network
extrapolates without warning, so :func:`check_domain` refuses such structures with a
``ValueError`` that names the offending element or size (the CLI's exit code 2).

Usage::

    pot = jaxrxn.nnp.pretrained(numbers)                 # a Potential; pot.energy(R), pot.forces(R)
    energy_fn, params, meta = jaxrxn.nnp.load_pretrained("xtb-painn")   # for vmapped batches

and ``--calc nnp`` (or ``nnp:xtb-painn``, or ``nnp:MODEL.npz`` for a model written by
``jaxrxn train-nnp``) on every command.
"""

from __future__ import annotations

import functools
import os
from importlib import resources

import numpy as np

from jaxrxn.nnp.model import NNPEnergy, check_elements, load_model
from jaxrxn.potentials.core import Potential
from jaxrxn.system import System

#: shipped model name -> file in ``jaxrxn/data``
PRETRAINED = {"xtb-painn": "nnp_xtb_painn.npz"}
DEFAULT = "xtb-painn"


def model_path(name: str) -> str:
    """The file of the shipped model `name`, or `name` itself if it is a model file.
    Raises ``ValueError`` for anything else."""
    if name in PRETRAINED:
        return str(resources.files("jaxrxn.data").joinpath(PRETRAINED[name]))
    if os.path.exists(name):
        return name
    raise ValueError(f"unknown neural-network potential {name!r}: not a file, nor one of {sorted(PRETRAINED)}.")


@functools.lru_cache(maxsize=8)
def _load(path: str) -> tuple[NNPEnergy, dict, dict]:
    return load_model(path)


def load_pretrained(name: str = DEFAULT) -> tuple[NNPEnergy, dict, dict]:
    """``(energy_fn, params, metadata)`` of the shipped model `name` (:data:`PRETRAINED`) or
    of a model file written by ``jaxrxn train-nnp``. ``metadata`` holds ``max_atoms``, the
    training settings and the held-out errors (``test``, ``heldout``)."""
    return _load(os.path.abspath(model_path(name)))


def check_domain(
    energy_fn: NNPEnergy, metadata: dict, system: System, *, charge: int | None = None, multiplicity: int | None = None
) -> None:
    """Raise ``ValueError`` if the structure `system` lies outside the model's domain: an
    element it was not trained on (named), more real atoms than its largest training
    molecule (``metadata["max_atoms"]``), a periodic cell, or a charged or open-shell state
    (the training data are neutral singlets; `charge` and `multiplicity` default to the
    system's)."""
    charge = int(system.charge) if charge is None else charge
    multiplicity = int(system.multiplicity) if multiplicity is None else multiplicity
    numbers = np.asarray(system.numbers)
    if system.atom_mask is not None:
        numbers = np.where(np.asarray(system.atom_mask), numbers, 0)
    check_elements(energy_fn, numbers)
    n, limit = int(np.sum(numbers > 0)), metadata.get("max_atoms")
    if limit is not None and n > int(limit):
        raise ValueError(
            f"the neural-network potential was trained on molecules of at most {limit} atoms; the structure has {n}."
        )
    if system.periodic:
        raise ValueError("the neural-network potential was trained on gas-phase molecules; the structure is periodic.")
    if charge != 0 or multiplicity != 1:
        raise ValueError(
            f"the neural-network potential was trained on neutral singlet molecules; got charge {charge}, "
            f"multiplicity {multiplicity}."
        )


def pretrained(system_or_numbers, name: str = DEFAULT, **system_kw) -> Potential:
    """The shipped neural-network potential `name` (or a ``train-nnp`` model file) as a
    :class:`Potential` for a :class:`System` or atomic numbers (with `system_kw`, e.g.
    ``charge``, passed to :class:`System`). Energies in eV, forces in eV/Å; jit, vmap and
    grad go through it.

    Raises ``ValueError`` outside the model's domain (:func:`check_domain`).
    """
    energy_fn, params, metadata = load_pretrained(name)
    system = system_or_numbers if isinstance(system_or_numbers, System) else System(system_or_numbers, **system_kw)
    check_domain(energy_fn, metadata, system)
    return Potential(energy_fn, params, system)
