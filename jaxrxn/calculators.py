"""Named potentials for the command line and scripts: ``potential_from_name``.

Names (case-insensitive):

- ``lj`` or ``lj:EPS:SIGMA``: Lennard-Jones (eV, Å); cutoff 3 sigma in periodic cells.
- ``morse:EL``: Girifalco-Weizer Morse for element EL (Cu, Fe, Pt, Ag, Ni, Al).
- further names (``emt``, ``sutton-chen:EL``, ``eam:FILE``) are registered by their
  modules through :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jaxrxn.io import System
from jaxrxn.potentials.core import Potential

#: name -> factory(argument string or None, positions, system) -> Potential
_REGISTRY: dict[str, Callable[[str | None, np.ndarray, System], Potential]] = {}


def register(name: str, factory: Callable[[str | None, np.ndarray, System], Potential]) -> None:
    """Make ``factory`` available as ``name`` (or ``name:ARG``) to :func:`potential_from_name`."""
    _REGISTRY[name.lower()] = factory


def _cell_kwargs(system: System) -> dict:
    if not system.periodic:
        return {}
    return {"cell": system.cell, "pbc": system.pbc}


def _common(system: System) -> dict:
    return {"fixed": system.fixed, "masses": np.asarray(system.masses)}


def _lj(arg, R, system):
    from jaxrxn.potentials.pair import lennard_jones

    eps, sigma = (1.0, 1.0) if not arg else (float(x) for x in arg.split(":"))
    cut = {"r_cutoff": 3.0 * sigma} if system.periodic else {}
    return lennard_jones(eps, sigma, **cut, **_cell_kwargs(system), **_common(system))


def _morse(arg, R, system):
    from jaxrxn.potentials.pair import morse_preset

    if not arg:
        raise ValueError("morse needs an element preset, e.g. --calc morse:Cu.")
    return morse_preset(arg, **_cell_kwargs(system), **_common(system))


register("lj", _lj)
register("morse", _morse)


def _load_optional_registrations() -> None:
    # Modules that register further names; absent ones are simply not offered.
    import importlib

    for mod in ("jaxrxn.potentials.emt", "jaxrxn.potentials.manybody"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise


def available_names() -> list[str]:
    _load_optional_registrations()
    return sorted(_REGISTRY)


def potential_from_name(name: str, R: np.ndarray, system: System) -> Potential:
    """Build the potential called `name` for the structure ``(R, system)``.

    Raises ``ValueError`` for an unknown name or a structure the potential cannot handle.
    """
    _load_optional_registrations()
    key, _, arg = name.partition(":")
    factory = _REGISTRY.get(key.lower())
    if factory is None:
        raise ValueError(f"unknown calculator {name!r}; available: {', '.join(sorted(_REGISTRY))}.")
    return factory(arg or None, R, system)
