"""Names of a package imported on first use (PEP 562 module ``__getattr__``).

Keeps ``import jaxrxn`` cheap: ASE, jax-md and flax load only with the modules that need
them, while ``jaxrxn.neb`` or ``jaxrxn.potentials.lennard_jones`` still work as attributes.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable


def attach(
    package: str, names: dict[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for `package`.

    - `names`: public name -> absolute name of the module that defines it.
    - `submodules`: submodules of `package` reachable as attributes without their own import.

    A name is bound in the package's namespace on first use, so later look-ups are plain
    attribute reads.
    """
    submodules = frozenset(submodules)

    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names, *submodules})

    return __getattr__, __dir__, sorted(names)
