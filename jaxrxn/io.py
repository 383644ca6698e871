"""Bridges to ASE: ``Atoms`` in and out, and paths as extxyz files.

A :class:`System` holds everything about a structure that is not its positions (atomic
numbers, masses, cell, pbc, fixed atoms), so positions can travel through jitted code as a
plain ``(n_atoms, 3)`` array (Å) while the rest stays on the Python side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class System:
    """Non-positional description of a structure.

    - `numbers`: atomic numbers ``(n_atoms,)``. `masses`: amu ``(n_atoms,)``.
    - `cell`: ``(3, 3)`` lattice vectors as rows, Å. `pbc`: ``(3,)`` booleans.
    - `fixed`: ``(n_atoms,)`` booleans from ASE's ``FixAtoms``.
    """

    numbers: np.ndarray
    masses: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    fixed: np.ndarray

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def periodic(self) -> bool:
        return bool(np.any(self.pbc))

    @property
    def symbols(self) -> list[str]:
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in self.numbers]


def from_atoms(atoms) -> tuple[np.ndarray, System]:
    """Positions ``(n_atoms, 3)`` (Å) and the :class:`System` of an ASE ``Atoms``.

    ``FixAtoms`` becomes the fixed mask; any other constraint raises
    ``NotImplementedError`` rather than being silently ignored.
    """
    from ase.constraints import FixAtoms

    fixed = np.zeros(len(atoms), bool)
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            fixed[c.get_indices()] = True
        else:
            raise NotImplementedError(
                f"constraint {type(c).__name__} is not supported; only FixAtoms is."
            )
    system = System(
        numbers=np.asarray(atoms.numbers, int),
        masses=np.asarray(atoms.get_masses(), float),
        cell=np.asarray(atoms.cell[:], float),
        pbc=np.asarray(atoms.pbc, bool),
        fixed=fixed,
    )
    # a copy: ASE optimizers later move atoms.positions in place
    return np.array(atoms.positions, float), system


def to_atoms(R, system: System, energy=None, forces=None):
    """An ASE ``Atoms`` at positions ``R`` (Å); energy (eV) and forces (eV/Å) are attached
    as a ``SinglePointCalculator`` so ``ase.io.write`` and ``NEBTools`` see them."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.constraints import FixAtoms

    R = np.asarray(R, float)
    if R.shape[-1] == 2:  # a 2D model configuration: embed in z = 0
        R = np.concatenate([R, np.zeros(R.shape[:-1] + (1,))], axis=-1)
    atoms = Atoms(numbers=system.numbers, positions=R, cell=system.cell, pbc=system.pbc, masses=system.masses)
    if np.any(system.fixed):
        atoms.set_constraint(FixAtoms(mask=system.fixed))
    if energy is not None or forces is not None:
        f = None if forces is None else np.asarray(forces, float)
        if f is not None and f.shape[-1] == 2:
            f = np.concatenate([f, np.zeros(f.shape[:-1] + (1,))], axis=-1)
        atoms.calc = SinglePointCalculator(
            atoms, energy=None if energy is None else float(energy), forces=f
        )
    return atoms


def model_system(n_atoms: int = 1) -> System:
    """A placeholder :class:`System` (hydrogen atoms, no cell) for 2D model surfaces."""
    return System(
        numbers=np.ones(n_atoms, int),
        masses=np.ones(n_atoms),
        cell=np.zeros((3, 3)),
        pbc=np.zeros(3, bool),
        fixed=np.zeros(n_atoms, bool),
    )


def read_structures(filename: str, index: str | int = ":") -> list:
    """All frames of any file ASE reads, as a list of ``Atoms`` (ASE's default reads only
    the last frame; this reads all unless `index` says otherwise)."""
    from ase.io import read

    frames = read(filename, index=index)
    return frames if isinstance(frames, list) else [frames]


def write_path(
    filename: str,
    path,
    system: System,
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
