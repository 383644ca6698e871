"""Names of a package imported on first use (PEP 562 module ``__getattr__``).

Keeps ``import jaxrxn`` cheap: ASE, jax-md and flax load only with the modules that need
them, while ``jaxrxn.neb`` or ``jaxrxn.potentials.lennard_jones`` still work as attributes.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable


def attach(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for `package`.

    - `names`: public name -> absolute name of the module that defines it.

    Every public submodule of `package` is reachable as an attribute without its own
    import (``jaxrxn.irc.IRCBranch``). A name is bound in the package's namespace on first
    use, so later look-ups are plain attribute reads.
    """
    submodules = frozenset(
        m.name for m in pkgutil.iter_modules(sys.modules[package].__path__) if not m.name.startswith("_")
    )

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
