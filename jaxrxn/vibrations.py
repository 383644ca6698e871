"""Harmonic vibrational analysis of a molecule at a stationary point (minimum or saddle).

The Cartesian Hessian comes from the cheapest exact-enough source the potential has:

- a JAX potential: the exact Hessian by automatic differentiation (no force calls),
- PySCF (:func:`~jaxrxn.potentials.qm.pyscf_potential`): its analytic Hessian (one
  ``n_hessian_calls``),
- any other outside calculator (xTB, ASE): central differences of the forces, all
  ``6 n_free`` displaced configurations in one batched host call, so they run concurrently
  on the bridge's workers (``n_force_calls = 6 n_free``).

It is mass-weighted, translations and rotations are projected out (rank of the rigid-body
modes: 6, or 5 for a linear molecule: one within :data:`jaxrxn.geometry.LINEAR_TOL` of a straight line, as a
relaxed HCN or CO2 is, whose rotation about its axis is no rotation but the second of its
degenerate bends), and the eigenvalues become frequencies in cm^-1
(imaginary ones negative) and the zero-point energy in eV, with :mod:`jaxrxn.units`
(CODATA 2018; ``ase.vibrations.Vibrations`` uses CODATA 2014, ~1e-8 relative apart)
(E. B. Wilson, J. C. Decius,
P. C. Cross, *Molecular Vibrations*, McGraw-Hill 1955, ch. 2).

Host-side and not jittable (it decides the Hessian's source and counts calls in Python).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxrxn import units
from jaxrxn.geometry import is_linear, onto_line, rigid_body_modes
from jaxrxn.potentials.core import Potential
from jaxrxn.potentials.external import HostEnergy

#: Speed of light in cm/s (exact): wavenumbers from frequencies.
SPEED_OF_LIGHT_CM_S = 2.99792458e10

HessianMethod = Literal["auto", "jax", "analytic", "finite-difference"]


@dataclasses.dataclass(frozen=True)
class Vibrations:
    """Harmonic analysis at one geometry (NumPy arrays).

    - `frequencies`: ``(n_modes,)`` cm^-1 in ascending order, imaginary ones as negative
      numbers; ``n_modes = 3 n_free - 6`` (``- 5`` linear, ``- 0`` with fixed atoms).
    - `modes`: ``(n_modes, n_atoms, 3)`` Cartesian displacement directions (unit norm).
    - `zero_point_energy`: eV, half the sum of the real vibrational quanta.
    - `hessian`: Cartesian Hessian ``(3 n_atoms, 3 n_atoms)``, eV/Å².
    - `n_force_calls`, `n_hessian_calls`: what building the Hessian cost.
    """

    frequencies: np.ndarray
    modes: np.ndarray
    zero_point_energy: float
    hessian: np.ndarray
    n_force_calls: int
    n_hessian_calls: int

    @property
    def n_imaginary(self) -> int:
        """Number of imaginary frequencies: 0 at a minimum, 1 at a transition state."""
        return int(np.sum(self.frequencies < 0))

    @property
    def imaginary_frequency(self) -> float | None:
        """The lowest frequency (cm^-1, negative) if it is imaginary, else ``None``."""
        return float(self.frequencies[0]) if self.n_imaginary else None


def cartesian_hessian(
    potential: Potential, R, *, method: HessianMethod = "auto", delta: float = 0.01
) -> tuple[np.ndarray, int, int]:
    """Cartesian Hessian ``(3n, 3n)`` (eV/Å²) of `potential` at ``R`` ``(n, 3)`` (Å).

    Returns ``(H, n_force_calls, n_hessian_calls)``. ``method="auto"`` takes the analytic
    Hessian of an outside calculator that has one (PySCF), finite differences for other
    outside calculators, and the exact JAX Hessian otherwise. Finite differences are
    central with displacement `delta` (Å) along each free coordinate, as
    ``ase.vibrations.Vibrations(nfree=2)``, and symmetrised; rows and columns of fixed atoms
    are zero.
    """
    R = np.asarray(R, float)
    n = R.size
    host = isinstance(potential.energy_fn, HostEnergy)
    if method == "auto":
        if host:
            method = "analytic" if hasattr(potential.energy_fn, "hessian") else "finite-difference"
        else:
            method = "jax"
    free = np.ones(R.shape[0], bool) if potential.fixed is None else ~np.asarray(potential.fixed, bool)
    free_dof = np.flatnonzero(np.repeat(free, R.shape[1]))
    if method == "jax":
        if host:
            raise ValueError("an outside calculator has no JAX Hessian; use method='finite-difference' or 'auto'.")
        return np.asarray(potential.hessian(jnp.asarray(R))), 0, 0
    if method == "analytic":
        if not hasattr(potential.energy_fn, "hessian"):
            raise ValueError("this potential has no analytic Hessian; use method='finite-difference' or 'auto'.")
        H = np.asarray(potential.energy_fn.hessian(R), float)
        mask = np.zeros(n)
        mask[free_dof] = 1.0
        return H * mask[:, None] * mask[None, :], 0, 1
    if method != "finite-difference":
        raise ValueError(f"unknown Hessian method {method!r}.")
    if delta <= 0:
        raise ValueError(f"delta must be positive, got {delta}.")
    H = np.zeros((n, n))
    H[free_dof] = _force_differences(potential, R, np.eye(n)[free_dof], delta)
    H = 0.5 * (H + H.T)
    return H, 2 * len(free_dof), 0


def _force_differences(potential: Potential, R: np.ndarray, directions: np.ndarray, delta: float) -> np.ndarray:
    """``H d`` ``(k, 3n)`` (eV/Å²) for each unit Cartesian direction ``d`` of `directions`
    ``(k, 3n)``: central differences of the forces at ``R +- delta d`` (Å)."""
    steps = np.repeat(directions, 2, axis=0) * delta
    steps[1::2] *= -1.0
    displaced = jnp.asarray(R.reshape(1, -1) + steps).reshape(-1, *R.shape)
    # one vmapped call: an outside calculator evaluates every displacement in one host call
    forces = np.asarray(jax.vmap(potential.forces)(displaced)).reshape(len(directions), 2, R.size)
    return -(forces[:, 0] - forces[:, 1]) / (2 * delta)


def vibrations(
    potential: Potential,
    R,
    *,
    method: HessianMethod = "auto",
    delta: float = 0.01,
    project: bool = True,
    vibrational_only: bool = False,
) -> Vibrations:
    """Harmonic frequencies and zero-point energy of a molecule at ``R`` ``(n, 3)`` (Å).

    `method`, `delta`: the Hessian's source (:func:`cartesian_hessian`). `project`: remove
    translations and rotations (a free molecule; skipped when atoms are fixed, as they have
    no rigid-body modes). Masses are ``potential.atom_masses`` (amu). Meaningful at a
    stationary point: elsewhere the rotations are not zero modes.

    `vibrational_only`: central differences (displacement `delta` along each unit
    direction) only along the ``3n - 6`` (``3n - 5``) vibrational directions of a free
    molecule, not along all ``3n`` Cartesian coordinates: ``2 (3n - 6)`` force calls
    instead of ``6n`` for the same projected Hessian (up to the differences' error); the
    returned `hessian` is zero along translations and rotations.
    """
    R = np.asarray(R, float)
    masses = np.asarray(potential.atom_masses(jnp.asarray(R)), float)
    free = np.ones(R.shape[0], bool) if potential.fixed is None else ~np.asarray(potential.fixed, bool)
    dof = np.repeat(free, R.shape[1])
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(masses), R.shape[1])
    n_dof = int(dof.sum())
    if project and free.all():
        # a linear molecule's rotations are those of the straight line it is within tolerance of
        V = np.asarray(rigid_body_modes(jnp.asarray(onto_line(R, masses) if is_linear(R, masses) else R), jnp.asarray(masses)))
        V = V[np.linalg.norm(V, axis=1) > 0.5]  # vanished rotations (linear molecule)
        # orthonormal basis of the internal (vibrational) subspace
        _, s, Wt = np.linalg.svd(V, full_matrices=True)
        Q = Wt[len(V):].T
    else:
        Q = np.eye(n_dof)
    if vibrational_only:
        if not (project and free.all()) or method not in ("auto", "finite-difference"):
            raise ValueError("vibrational_only takes finite differences of a free molecule (project=True, no fixed atoms).")
        # a mass-weighted direction q is the Cartesian displacement q / sqrt(m)
        D = Q * inv_sqrt_m[:, None]
        scale = np.linalg.norm(D, axis=0)
        HD = _force_differences(potential, R, (D / scale).T, delta).T * scale  # (3n, k)
        K = D.T @ HD  # D^T H D = Q^T H_mw Q
        K = 0.5 * (K + K.T)
        S = Q / inv_sqrt_m[:, None]
        H, n_force, n_hess = S @ K @ S.T, 2 * Q.shape[1], 0
    else:
        H, n_force, n_hess = cartesian_hessian(potential, R, method=method, delta=delta)
    Hmw = (H * inv_sqrt_m[:, None] * inv_sqrt_m[None, :])[np.ix_(dof, dof)]
    w, U = np.linalg.eigh(Q.T @ Hmw @ Q)
    x_mw = (Q @ U).T  # (n_modes, n_dof), mass-weighted
    modes = np.zeros((len(w), R.size))
    modes[:, dof] = x_mw * inv_sqrt_m[dof]
    modes /= np.linalg.norm(modes, axis=1, keepdims=True)
    # sqrt of eV/(Å² amu) is an angular frequency in 1/TIME_UNIT_S
    omega = np.sqrt(np.abs(w)) / units.TIME_UNIT_S  # rad/s
    quanta = units.H / (2 * np.pi) * omega  # hbar*omega, eV
    frequencies = np.sign(w) * omega / (2 * np.pi * SPEED_OF_LIGHT_CM_S)
    zpe = 0.5 * float(np.sum(quanta[w > 0]))
    return Vibrations(frequencies, modes.reshape(len(w), *R.shape), zpe, H, n_force, n_hess)
