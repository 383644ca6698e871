"""Named potentials for the command line and scripts: ``potential_from_name``.

Names (case-insensitive):

- ``lj`` or ``lj:EPS:SIGMA``: Lennard-Jones (eV, Å); cutoff 3 sigma in periodic cells.
- ``morse:EL``: Girifalco-Weizer Morse for element EL (Cu, Fe, Pt, Ag, Ni, Al).
- ``emt``: ASE's EMT parameter set (:func:`jaxrxn.potentials.emt.emt`).
- ``sutton-chen:EL``: Sutton-Chen for EL (Cu, Ni, Ag, Au, Pt, Pd); cutoff 3 lattice
  constants in periodic cells.
- ``eam:FILE``: embedded-atom method from a DYNAMO/LAMMPS setfl file.
- ``xtb`` (GFN2-xTB), ``xtb:gfn1``: tight binding through tblite; ``pyscf:METHOD/BASIS``
  (``pyscf:hf/3-21g``, ``pyscf:b3lyp/def2-svp``): Hartree-Fock/DFT through PySCF. These
  take the molecule's ``charge`` and ``multiplicity`` (:func:`potential_from_name`).
- ``nnp``, ``nnp:NAME`` or ``nnp:MODEL.npz``: a neural-network potential, by default the
  shipped PaiNN trained on GFN2-xTB (``xtb-painn``, :func:`jaxrxn.nnp.model.pretrained`), or a model
  file written by ``jaxrxn train-nnp``; structures outside its domain (elements, size,
  charge, periodic cells) raise ``ValueError``.

This registry sits above the potentials: it imports them (inside each factory, so that
naming a potential imports only its module), and no potential imports it. Scripts add
their own names with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from jaxrxn.system import System
    from jaxrxn.potentials.core import Potential

#: Factory signature: (argument string after ``NAME:`` or None, positions, system) -> Potential.
Factory = Callable[[str | None, np.ndarray, "System"], "Potential"]

#: Cutoff of ``sutton-chen:EL`` in periodic cells, in units of the lattice constant.
SUTTON_CHEN_CUTOFF = 3.0


def _lj(arg, R, system):
    from jaxrxn.potentials.pair import lennard_jones

    eps, sigma = (1.0, 1.0) if not arg else (float(x) for x in arg.split(":"))
    cut = {"r_cutoff": 3.0 * sigma} if system.periodic else {}
    return lennard_jones(eps, sigma, **cut, system=system)


def _morse(arg, R, system):
    from jaxrxn.potentials.pair import morse_preset

    if not arg:
        raise ValueError("morse needs an element preset, e.g. --calc morse:Cu.")
    return morse_preset(arg, system=system)


def _emt(arg, R, system):
    from jaxrxn.potentials.emt import emt

    if arg:
        raise ValueError("emt takes no argument (use --calc emt).")
    return emt(None, system=system)


def _xtb(arg, R, system, *, charge, multiplicity):
    from jaxrxn.potentials.qm import xtb_potential

    return xtb_potential(system.numbers, arg or "gfn2", charge=charge, multiplicity=multiplicity, **_molecular(system, "xtb"))


def _pyscf(arg, R, system, *, charge, multiplicity):
    from jaxrxn.potentials.qm import pyscf_potential

    if not arg:
        raise ValueError("pyscf needs METHOD/BASIS, e.g. --calc pyscf:hf/3-21g or pyscf:b3lyp/def2-svp.")
    return pyscf_potential(system.numbers, arg, charge=charge, multiplicity=multiplicity, **_molecular(system, "pyscf"))


def _nnp(arg, R, system, *, charge, multiplicity):
    from jaxrxn.nnp.model import DEFAULT, check_domain, load_pretrained
    from jaxrxn.potentials.core import Potential

    energy_fn, params, metadata = load_pretrained(arg or DEFAULT)
    check_domain(energy_fn, metadata, system, charge=charge, multiplicity=multiplicity)
    return Potential(energy_fn, params, system)


def _molecular(system: System, name: str) -> dict:
    if system.periodic:
        raise ValueError(f"{name} here treats molecules only; the structure is periodic (pbc {system.pbc.tolist()}).")
    return {"fixed": system.fixed if system.fixed.any() else None, "masses": np.asarray(system.masses)}


def _sutton_chen(arg, R, system):
    from jaxrxn.potentials.manybody import SUTTON_CHEN, sutton_chen

    if not arg:
        raise ValueError("sutton-chen needs an element, e.g. --calc sutton-chen:Cu.")
    if arg not in SUTTON_CHEN:
        return sutton_chen(arg)  # raises the unknown-element error
    lattice_constant = SUTTON_CHEN[arg][4]
    cut = {"r_cutoff": SUTTON_CHEN_CUTOFF * lattice_constant} if system.periodic else {}
    return sutton_chen(arg, **cut, system=system)


def _eam(arg, R, system):
    from jaxrxn.potentials.manybody import eam_from_setfl

    if not arg:
        raise ValueError("eam needs a setfl file, e.g. --calc eam:Cu_u3.eam.alloy.")
    return eam_from_setfl(arg, system=system)


_REGISTRY: dict[str, Factory] = {
    "lj": _lj,
    "morse": _morse,
    "emt": _emt,
    "sutton-chen": _sutton_chen,
    "eam": _eam,
    "xtb": _xtb,
    "pyscf": _pyscf,
    "nnp": _nnp,
}
#: Names whose factories also take the keyword arguments ``charge`` and ``multiplicity``.
_ELECTRONIC: set[str] = {"xtb", "pyscf", "nnp"}


def register(name: str, factory: Factory, *, electronic: bool = False) -> None:
    """Make ``factory`` available as ``name`` (or ``name:ARG``) to :func:`potential_from_name`.

    ``electronic=True``: the factory also takes keyword arguments ``charge`` and
    ``multiplicity``; other potentials refuse a non-default charge or multiplicity.
    """
    _REGISTRY[name.lower()] = factory
    if electronic:
        _ELECTRONIC.add(name.lower())


def available_names() -> list[str]:
    return sorted(_REGISTRY)


def potential_from_name(name: str, R: np.ndarray, system: System, *, charge: int = 0, multiplicity: int = 1) -> Potential:
    """Build the potential called `name` for the structure ``(R, system)``.

    `charge` (e) and `multiplicity` (2S+1) are for electronic-structure calculators (xtb,
    pyscf). Raises ``ValueError`` for an unknown name, a structure the potential cannot
    handle, or a charge/multiplicity given to a potential without electrons.
    """
    key, _, arg = name.partition(":")
    key = key.lower()
    factory = _REGISTRY.get(key)
    if factory is None:
        raise ValueError(f"unknown calculator {name!r}; available: {', '.join(sorted(_REGISTRY))}.")
    if key in _ELECTRONIC:
        return factory(arg or None, R, system, charge=charge, multiplicity=multiplicity)
    if charge != 0 or multiplicity != 1:
        raise ValueError(f"calculator {key!r} has no electrons: --charge/--mult apply to xtb and pyscf only.")
    return factory(arg or None, R, system)
