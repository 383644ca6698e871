"""The :class:`System`: everything about a structure except its positions, as arrays.

A configuration ``R`` ``(n_atoms, dim)`` (Å) travels alone through jitted code; what the
energy needs besides it (atomic numbers, masses, cell, periodicity, fixed atoms, the padding
mask, total charge and spin multiplicity) is a :class:`System`, a pytree of arrays. Because
it is data and not part of a closure, a batch of *different* systems padded to one atom
count is ``jax.vmap``-ed like any array, and ``jax.grad`` reaches the cell (stress).

The system is the one place that owns periodicity: :func:`pair_displacements` and
:func:`lattice_translations` give every potential its minimum-image pair vectors, and NEB
reads the cell from the potential's system.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from jaxrxn.geometry import canonical_cell, cell_widths, minimum_image


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _array(x, dtype):
    """``x`` as a JAX array of `dtype` (JAX's default width for floats), tracers unchanged."""
    return jnp.asarray(np.asarray(x, dtype)) if _is_concrete(x) else jnp.asarray(x)


class System(eqx.Module):
    """A structure without its positions, as a pytree of arrays.

    **Fields** (all arrays, none static, so systems stack and vmap):

    - `numbers`: atomic numbers ``(n_atoms,)`` (0 for padding atoms), or ``None`` for a
      system of any size (a cell for model pair potentials); then masses, fixed and
      atom_mask are ``None`` unless given (meaning unit masses, nothing fixed, all real).
    - `masses`: amu ``(n_atoms,)``.
    - `fixed`: booleans ``(n_atoms,)``, ``True`` for atoms that never move (ASE ``FixAtoms``).
    - `atom_mask`: booleans ``(n_atoms,)``, ``False`` for padding atoms, which carry no
      energy, feel no force and never move (see :mod:`jaxrxn.batch`).
    - `cell`: ``(dim, dim)`` lattice vectors as rows (Å), or ``None`` for a free structure.
    - `pbc`: booleans ``(dim,)``, or ``None`` for a free structure.
    - `charge`: total charge (e), `multiplicity`: spin multiplicity ``2S+1``; read by
      quantum-chemistry calculators.

    **Constructor:** ``System(numbers, cell=None, pbc=None, *, masses=None, fixed=None,
    atom_mask=None, charge=0, multiplicity=1)``; `masses` default to the standard atomic
    masses (1 amu for number 0), `pbc` to all periodic when a `cell` is given (a cell given
    as lengths ``(dim,)`` is orthorhombic). A cell periodic along no axis becomes ``None``.
    """

    numbers: Int[Array, " n_atoms"] | None
    masses: Float[Array, " n_atoms"] | None
    fixed: Bool[Array, " n_atoms"] | None
    atom_mask: Bool[Array, " n_atoms"] | None
    cell: Float[Array, "dim dim"] | None
    pbc: Bool[Array, " dim"] | None
    charge: Float[Array, ""]
    multiplicity: Int[Array, ""]

    def __init__(
        self,
        numbers=None,
        cell=None,
        pbc=None,
        *,
        masses=None,
        fixed=None,
        atom_mask=None,
        charge=0,
        multiplicity=1,
    ):
        if numbers is not None:
            numbers = _array(numbers, int).reshape(-1)
            n = numbers.shape[0]
            if masses is None:
                from ase.data import atomic_masses

                z = np.asarray(numbers)
                masses = np.where(z > 0, atomic_masses[z], 1.0)
            fixed = np.zeros(n, bool) if fixed is None else fixed
            atom_mask = np.ones(n, bool) if atom_mask is None else atom_mask
        if cell is not None and _is_concrete(cell):
            cell, pbc = canonical_cell(cell, pbc)
        elif cell is None:
            pbc = None
        self.numbers = numbers
        self.masses = None if masses is None else _array(masses, float).reshape(-1)
        self.fixed = None if fixed is None else _array(fixed, bool).reshape(-1)
        self.atom_mask = None if atom_mask is None else _array(atom_mask, bool).reshape(-1)
        self.cell = None if cell is None else _array(cell, float)
        self.pbc = None if pbc is None else _array(pbc, bool)
        self.charge = _array(charge, float)
        self.multiplicity = _array(multiplicity, int)
        sizes = {x.shape[-1] for x in (self.numbers, self.masses, self.fixed, self.atom_mask) if x is not None}
        if len(sizes) > 1:
            raise ValueError(f"the per-atom arrays of a System disagree in length: {sorted(sizes)}.")

    # ---- host-side views -----------------------------------------------------------------
    @property
    def n_atoms(self) -> int | None:
        """Number of atoms, padding included (``None`` for a system of any size)."""
        for x in (self.numbers, self.masses, self.fixed, self.atom_mask):
            if x is not None:
                return x.shape[-1]
        return None

    @property
    def periodic(self) -> bool:
        """Whether any axis is periodic (static: a free system has ``cell=None``)."""
        return self.cell is not None

    @property
    def symbols(self) -> list[str]:
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in np.asarray(self.numbers)]

    def replace(self, **changes: Any) -> "System":
        """A copy with some fields replaced, e.g. ``system.replace(cell=new_cell)``."""
        return dataclasses.replace(self, **changes)

    # ---- ASE -----------------------------------------------------------------------------
    @classmethod
    def from_atoms(cls, atoms) -> "System":
        """The system of an ASE ``Atoms`` (numbers, masses, cell, pbc, ``FixAtoms``, charge
        from the initial charges, multiplicity from ``atoms.info["multiplicity"]`` or the
        initial magnetic moments). Any constraint but ``FixAtoms`` raises
        ``NotImplementedError`` rather than being silently ignored."""
        from ase.constraints import FixAtoms

        fixed = np.zeros(len(atoms), bool)
        for c in atoms.constraints:
            if isinstance(c, FixAtoms):
                fixed[c.get_indices()] = True
            else:
                raise NotImplementedError(f"constraint {type(c).__name__} is not supported; only FixAtoms is.")
        multiplicity = atoms.info.get("multiplicity")
        if multiplicity is None:
            multiplicity = int(round(abs(float(np.sum(atoms.get_initial_magnetic_moments()))))) + 1
        pbc = np.asarray(atoms.pbc, bool)
        return cls(
            atoms.numbers,
            np.asarray(atoms.cell[:], float) if pbc.any() else None,
            pbc if pbc.any() else None,
            masses=atoms.get_masses(),
            fixed=fixed,
            charge=float(round(float(np.sum(atoms.get_initial_charges())))),
            multiplicity=int(multiplicity),
        )

    def to_atoms(self, R, energy=None, forces=None):
        """An ASE ``Atoms`` at positions ``R`` ``(n_atoms, dim)`` (Å), padding atoms dropped;
        energy (eV) and forces (eV/Å) are attached as a ``SinglePointCalculator`` so
        ``ase.io.write`` and ``NEBTools`` see them. 2D configurations are embedded at z = 0."""
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator
        from ase.constraints import FixAtoms

        R = np.asarray(R, float)
        keep = np.ones(len(R), bool) if self.atom_mask is None else np.asarray(self.atom_mask, bool)
        R = R[keep]
        dim = R.shape[-1]
        if dim == 2:
            R = np.concatenate([R, np.zeros(R.shape[:-1] + (1,))], axis=-1)
        cell, pbc = np.zeros((3, 3)), np.zeros(3, bool)
        if self.cell is not None:
            cell[:dim, :dim] = np.asarray(self.cell)
            pbc[:dim] = np.asarray(self.pbc)
        fixed = np.zeros(len(R), bool) if self.fixed is None else np.asarray(self.fixed, bool)[keep]
        numbers = np.ones(len(R), int) if self.numbers is None else np.asarray(self.numbers)[keep]
        masses = None if self.masses is None else np.asarray(self.masses)[keep]
        atoms = Atoms(numbers=numbers, positions=R, cell=cell, pbc=pbc, masses=masses)
        if fixed.any():
            atoms.set_constraint(FixAtoms(mask=fixed))
        if float(self.charge) != 0:
            atoms.info["charge"] = float(self.charge)
        if int(self.multiplicity) != 1:
            atoms.info["multiplicity"] = int(self.multiplicity)
        if energy is not None or forces is not None:
            f = None if forces is None else np.asarray(forces, float)[keep]
            if f is not None and f.shape[-1] == 2:
                f = np.concatenate([f, np.zeros(f.shape[:-1] + (1,))], axis=-1)
            atoms.calc = SinglePointCalculator(atoms, energy=None if energy is None else float(energy), forces=f)
        return atoms


def loose_system(cell, pbc, dim: int, system: System | None, fixed=None, masses=None) -> System | None:
    """A potential constructor's system: `system` itself, or one of any size built from the
    loose `cell` (``(dim,)`` lengths or a ``(dim, dim)`` matrix, Å; see
    :func:`jaxrxn.geometry.canonical_cell`), `pbc`, `fixed` and `masses` (``None`` when all
    are absent)."""
    if system is not None or (cell is None and fixed is None and masses is None):
        return system
    cell, pbc = canonical_cell(cell, pbc, dim)
    return System(None, cell, pbc, fixed=fixed, masses=masses)


def model_system(n_atoms: int = 1) -> System:
    """A placeholder :class:`System` (number 1, mass 1, no cell) for model surfaces."""
    return System(np.ones(n_atoms, int), masses=np.ones(n_atoms))


# ---------------------------------------------------------------------------------------
# periodicity: the one implementation every potential uses
# ---------------------------------------------------------------------------------------
def image_reach(system: System | None, cutoff: float) -> tuple[int, ...]:
    """Static number of cell images ``(dim,)`` along each axis that can bring an atom within
    `cutoff` (Å) once displacements are wrapped to fractional ``[-1/2, 1/2]``: a shift by
    ``k`` cells along an axis of perpendicular width ``w`` moves an image at least
    ``(|k| - 1/2) w`` away. Zero along non-periodic axes; ``()`` for a free system."""
    if system is None or system.cell is None:
        return ()
    cell, pbc = np.asarray(system.cell, float), np.asarray(system.pbc, bool)
    widths = cell_widths(cell)
    return tuple(int(math.floor(cutoff / w + 0.5)) if p else 0 for w, p in zip(widths, pbc))


def join_reach(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The reach that covers both `a` and `b` (for stacking systems into one batch)."""
    if not a or not b:
        if a != b:
            raise ValueError("cannot batch periodic and free systems together.")
        return a
    return tuple(max(x, y) for x, y in zip(a, b))


def lattice_translations(system: System, reach: tuple[int, ...], dtype):
    """Lattice translations ``(n_images, dim)`` (Å) for a static `reach` (see
    :func:`image_reach`), zero shift first, and a mask ``(n_images,)`` that drops shifts
    along non-periodic axes (a batch shares one reach; its members' pbc are data)."""
    grid = np.stack(np.meshgrid(*[np.arange(-m, m + 1) for m in reach], indexing="ij"), -1).reshape(-1, len(reach))
    grid = grid[np.argsort(np.abs(grid).sum(1), kind="stable")]
    ok = jnp.all((grid == 0) | system.pbc[None, :], axis=1)
    return jnp.asarray(grid, dtype) @ system.cell.astype(dtype), ok


def pair_displacements(
    R: Float[Array, "n_atoms dim"], system: System | None, reach: tuple[int, ...] = ()
) -> tuple[Float[Array, "n_atoms n_atoms n_images dim"], Bool[Array, "n_atoms n_atoms n_images"]]:
    """Displacements ``d[i, j, s] = R_j + T_s - R_i`` (Å) from atom ``i`` to the periodic
    images of atom ``j`` and the mask of real pairs.

    ``R_j - R_i`` is first wrapped to the minimum image, then shifted by each lattice
    translation ``T_s`` of :func:`lattice_translations` (``n_images = 1`` for a free system
    or ``reach`` of zeros). The mask drops each atom's own zero-shift copy, padding atoms
    (``system.atom_mask``) and translations along non-periodic axes.
    """
    n = R.shape[0]
    d = R[None, :, :] - R[:, None, :]
    not_self = ~jnp.eye(n, dtype=bool)
    if system is not None and system.cell is not None:
        d = minimum_image(d, system.cell.astype(R.dtype), system.pbc)
    if system is not None and system.cell is not None and reach:
        shifts, ok = lattice_translations(system, reach, R.dtype)
        d = d[:, :, None, :] + shifts[None, None]
        valid = (not_self[:, :, None] | (jnp.arange(shifts.shape[0]) > 0)[None, None, :]) & ok[None, None, :]
    else:
        d = d[:, :, None, :]
        valid = not_self[:, :, None]
    if system is not None and system.atom_mask is not None:
        real = system.atom_mask[:, None] & system.atom_mask[None, :]
        valid = valid & real[:, :, None]
    return d, valid


def safe_distances(d: Float[Array, "... dim"], valid: Bool[Array, "..."]) -> Float[Array, "..."]:
    """``|d|`` where `valid`, 1 elsewhere (masked entries keep gradients finite)."""
    return jnp.sqrt(jnp.where(valid, jnp.sum(d * d, axis=-1), 1.0))


def real_numbers(system: System | None, n_atoms: int) -> Int[Array, " n_atoms"]:
    """Atomic numbers with padding atoms given the first atom's number, so per-species
    tables can be indexed everywhere (padding is masked out of every sum anyway); zeros
    for a system without numbers."""
    if system is None or system.numbers is None:
        return jnp.zeros(n_atoms, int)
    if system.atom_mask is None:
        return system.numbers
    return jnp.where(system.atom_mask, system.numbers, system.numbers[0])


def free_atoms(system: System | None, n_atoms: int, dtype) -> Float[Array, "n_atoms 1"]:
    """1 for atoms that move, 0 for fixed and padding atoms, ``(n_atoms, 1)``."""
    free = jnp.ones(n_atoms, bool)
    if system is not None:
        if system.n_atoms is not None and system.n_atoms != n_atoms:
            raise ValueError(
                f"the potential's system has {system.n_atoms} atoms but the configuration has {n_atoms}."
            )
        if system.fixed is not None:
            free = free & ~system.fixed
        if system.atom_mask is not None:
            free = free & system.atom_mask
    return free.astype(dtype)[:, None]
