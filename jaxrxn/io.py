"""Bridges to ASE: ``Atoms`` in and out, and paths as extxyz files.

A :class:`jaxrxn.System` holds everything about a structure that is not its positions
(atomic numbers, masses, cell, pbc, fixed atoms), so positions travel through jitted code as
a plain ``(n_atoms, 3)`` array (Å) and the system as a pytree of arrays beside them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["System", "from_atoms", "model_system", "read_path", "read_structures", "to_atoms", "write_path"]


def __getattr__(name: str):
    # System pulls in JAX: imported on first use, so the CLI's help stays JAX-free
    if name in ("System", "model_system"):
        from jaxrxn import system

        return getattr(system, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def from_atoms(atoms) -> tuple[np.ndarray, "System"]:
    """Positions ``(n_atoms, 3)`` (Å) and the :class:`jaxrxn.System` of an ASE ``Atoms``
    (see :meth:`jaxrxn.System.from_atoms`)."""
    from jaxrxn.system import System

    # a copy: ASE optimizers later move atoms.positions in place
    return np.array(atoms.positions, float), System.from_atoms(atoms)


def to_atoms(R, system: "System", energy=None, forces=None):
    """An ASE ``Atoms`` at positions ``R`` (Å) (see :meth:`jaxrxn.System.to_atoms`)."""
    return system.to_atoms(R, energy, forces)


def read_structures(filename: str, index: str | int = ":") -> list:
    """All frames of any file ASE reads, as a list of ``Atoms`` (ASE's default reads only
    the last frame; this reads all unless `index` says otherwise)."""
    from ase.io import read

    frames = read(filename, index=index)
    return frames if isinstance(frames, list) else [frames]


def write_path(
    filename: str,
    path,
    system: "System",
    energies: Sequence[float] | None = None,
    forces=None,
) -> None:
    """Write a path ``(n_images, n_atoms, dim)`` (Å) as extxyz, one frame per image,
    with energies (eV) and forces (eV/Å) when given."""
    from ase.io import write

    path = np.asarray(path)
    images = [
        to_atoms(
            path[i],
            system,
            None if energies is None else energies[i],
            None if forces is None else np.asarray(forces)[i],
        )
        for i in range(path.shape[0])
    ]
    write(filename, images, format="extxyz")


def read_path(filename: str):
    """Read a path written by :func:`write_path` (or any multi-frame file).

    Returns ``(path (n_images, n_atoms, 3), system, energies or None, forces or None)``.
    """
    frames = read_structures(filename)
    R0, system = from_atoms(frames[0])
    path = np.stack([f.positions for f in frames])
    energies = forces = None
    if all(f.calc is not None for f in frames):
        try:
            energies = np.array([f.get_potential_energy() for f in frames])
            forces = np.stack([f.get_forces(apply_constraint=False) for f in frames])
        except Exception:  # a file with energies but no forces
            forces = None
    return path, system, energies, forces
