"""What the saddle searches share: zero modes, the projected Hessian, the saddle index,
the :class:`AbstractSaddleSolver` protocol and the :class:`SaddleResult` type.

Zero modes (rigid-body motions along which the energy does not change) are removed
consistently everywhere in jaxrxn's saddle, IRC and rate code:

- ``"free"``: translations and rotations (a free cluster or molecule),
- ``"periodic"``: translations only (a periodic crystal or slab without fixed atoms),
- ``"none"``: nothing (an external potential, a model surface),
- ``"auto"`` (default): decided per mode by testing the energy's invariance under a
  finite rigid translation / rotation of ``R``, so a 2D model particle gets none, a free
  LJ cluster gets all and a periodic slab gets the translations.

A potential with fixed atoms has no zero modes whatever the choice, and the fixed atoms'
coordinates are never degrees of freedom.
"""

from __future__ import annotations

import abc
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Scalar

from jaxrxn._iterate import AbstractIterativeSolver
from jaxrxn._linalg import eigh
from jaxrxn._results import RESULTS
from jaxrxn.geometry import rigid_body_modes
from jaxrxn.potentials.core import Potential, max_atom_force

ZeroModeSpec = Literal["auto", "free", "periodic", "none"]
_ZERO_MODE_CHOICES = ("auto", "free", "periodic", "none")


class ZeroModes(eqx.Module):
    """Which rigid-body modes of a system are zero modes.

    `translations`: ``(dim,)`` booleans; `rotations`: ``(dim*(dim-1)/2,)`` booleans, in the
    order of :func:`jaxrxn.geometry.rigid_body_modes`.
    """

    translations: Bool[Array, " dim"]
    rotations: Bool[Array, " n_rot"]


def _rotate(R, a: int, b: int, angle, masses):
    com = (masses @ R) / jnp.sum(masses)
    X = R - com
    c, s = jnp.cos(angle), jnp.sin(angle)
    xa, xb = X[:, a], X[:, b]
    X = X.at[:, a].set(c * xa - s * xb).at[:, b].set(s * xa + c * xb)
    return X + com


def zero_modes(
    potential: Potential, R: Float[Array, "n_atoms dim"], spec: ZeroModeSpec = "auto", e0: Scalar | None = None
) -> ZeroModes:
    """Decide the zero modes of ``potential`` at ``R`` (see the module docstring).

    ``"auto"`` compares the energy after a rigid translation by 0.37 Å along each axis
    and a rotation by 0.3 rad in each plane with the energy at ``R``; a mode counts as a
    zero mode when the two agree to ``sqrt(eps) * (1 + |E|)``. Pass the energy at ``R`` as
    `e0` (eV) when it is known; :func:`zero_mode_probe_calls` says how many evaluations
    the probes cost. A single atom's rotations about itself are not probed (they move
    nothing). Jittable.
    """
    if spec not in _ZERO_MODE_CHOICES:
        raise ValueError(f"zero_modes must be one of {_ZERO_MODE_CHOICES}; got {spec!r}.")
    n, dim = R.shape
    n_rot = dim * (dim - 1) // 2
    if _known_fixed(potential) or spec == "none":
        return ZeroModes(jnp.zeros(dim, bool), jnp.zeros(n_rot, bool))
    # fixed atoms only known at run time (a traced system): decide, then mask
    free = ~_any_fixed(potential)
    if spec == "free":
        return ZeroModes(jnp.ones(dim, bool) & free, jnp.ones(n_rot, bool) & free)
    if spec == "periodic":
        return ZeroModes(jnp.ones(dim, bool) & free, jnp.zeros(n_rot, bool))
    e0 = potential.energy(R) if e0 is None else e0
    tol = jnp.sqrt(jnp.finfo(R.dtype).eps) * (1.0 + jnp.abs(e0))
    trans = jnp.stack([jnp.abs(potential.energy(R.at[:, a].add(0.37)) - e0) <= tol for a in range(dim)])
    m = potential.atom_masses(R) * _real(potential, R)
    if n == 1:
        return ZeroModes(trans & free, jnp.ones(n_rot, bool) & free)
    rots = [
        jnp.abs(potential.energy(_rotate(R, a, b, 0.3, m)) - e0) <= tol
        for a in range(dim)
        for b in range(a + 1, dim)
    ]
    rots = jnp.stack(rots) if rots else jnp.zeros(0, bool)
    return ZeroModes(trans & free, rots & free)


def removed_directions(
    potential: Potential, R: Float[Array, "n_atoms dim"], modes: ZeroModes, *, mass_weighted: bool = False
) -> Float[Array, "n_removed n_dof"]:
    """Orthonormal (or zero) rows spanning the directions that are not degrees of freedom:
    the zero modes of ``modes`` at ``R`` and the coordinates of fixed atoms.

    Cartesian rows, or mass-weighted ones (``sqrt(m) R`` coordinates) with
    ``mass_weighted=True``. Shape is static: unused modes are zero rows.
    """
    n, dim = R.shape
    masses = potential.atom_masses(R) if mass_weighted else None
    atom_mask = None if potential.system is None else potential.system.atom_mask
    V = rigid_body_modes(R, masses, atom_mask=atom_mask)
    keep = jnp.concatenate([modes.translations, modes.rotations]).astype(R.dtype)
    V = V * keep[:, None]
    fixed = None if potential.system is None else potential.system.fixed
    if fixed is None:
        return V
    if atom_mask is not None:  # padding atoms never move either
        fixed = fixed | ~atom_mask
    if isinstance(fixed, jax.core.Tracer):  # a traced system: one row per coordinate, zero unless fixed
        fixed_dof = jnp.repeat(fixed, dim).astype(R.dtype)
        return jnp.concatenate([V, jnp.eye(n * dim, dtype=R.dtype) * fixed_dof[:, None]])
    fixed_dof = np.repeat(np.asarray(fixed, bool), dim)
    return jnp.concatenate([V, jnp.eye(n * dim, dtype=R.dtype)[np.flatnonzero(fixed_dof)]])


def resolve_zero_modes_spec(potential: Potential, spec: ZeroModeSpec) -> ZeroModeSpec:
    """``"none"`` when the (concrete) system fixes atoms, else `spec`: entry points call it
    before jit so that a potential with fixed atoms spends no zero-mode probes."""
    return "none" if _known_fixed(potential) else spec


def _fixed_real(potential: Potential):
    """The fixed mask of the real atoms (padding atoms, fixed or not, do not pin the
    system: a padded molecule keeps its zero modes), or ``None``."""
    system = potential.system
    if system is None or system.fixed is None:
        return None
    return system.fixed if system.atom_mask is None else system.fixed & system.atom_mask


def _real(potential: Potential, R) -> Float[Array, " n_atoms"]:
    """1 for real atoms, 0 for padding atoms ``(n_atoms,)``."""
    mask = None if potential.system is None else potential.system.atom_mask
    return jnp.ones(R.shape[0], R.dtype) if mask is None else mask.astype(R.dtype)


def _known_fixed(potential: Potential) -> bool:
    """The potential's system fixes atoms, and that is known now (a concrete system)."""
    fixed = _fixed_real(potential)
    return fixed is not None and not isinstance(fixed, jax.core.Tracer) and bool(np.any(np.asarray(fixed)))


def _any_fixed(potential: Potential):
    """Whether any atom is fixed: ``False`` without a fixed mask, else a (traced) boolean."""
    fixed = _fixed_real(potential)
    return False if fixed is None else jnp.any(fixed)


def project_out(v: Float[Array, "... n_dof"], V: Float[Array, "n_removed n_dof"]):
    """``v`` with its components along the rows of ``V`` removed."""
    return v - (v @ V.T) @ V


def projected_hessian(
    potential: Potential,
    R: Float[Array, "n_atoms dim"],
    modes: ZeroModes,
    *,
    mass_weighted: bool = False,
    shift: float | Scalar | None = None,
) -> tuple[Float[Array, "n_dof n_dof"], Float[Array, "n_removed n_dof"]]:
    """Hessian with zero modes and fixed coordinates projected out, ``(n_dof, n_dof)``.

    Returns ``(P H P + shift V^T V, V)`` with ``V`` from :func:`removed_directions` and
    ``P = I - V^T V``: every removed direction becomes an eigenvector with eigenvalue
    `shift`, and the rest of the spectrum is that of the true degrees of freedom. The
    default shift, ``1 + |P H P|_F``, lies above every true eigenvalue, so removed
    directions are never taken for the lowest mode. Units eV/Å² (eV/(Å² amu) when
    ``mass_weighted``).
    """
    H = potential.hessian(R)
    if mass_weighted:
        inv_sqrt_m = jnp.repeat(1.0 / jnp.sqrt(potential.atom_masses(R)), R.shape[1])
        H = H * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    V = removed_directions(potential, R, modes, mass_weighted=mass_weighted)
    P = jnp.eye(R.size, dtype=R.dtype) - V.T @ V
    H = P @ H @ P
    H = 0.5 * (H + H.T)
    if shift is None:
        shift = 1.0 + jnp.linalg.norm(H)
    return H + shift * (V.T @ V), V


def count_negative(eigenvalues: Float[Array, " n"], scale: Scalar, rtol: float = 1e-6) -> Int[Array, ""]:
    """Number of eigenvalues below ``-rtol * scale`` (a relative threshold against noise)."""
    return jnp.sum(eigenvalues < -rtol * scale)


def hessian_analysis(
    potential: Potential, R: Float[Array, "n_atoms dim"], modes: ZeroModes, rtol: float = 1e-6
) -> tuple[Int[Array, ""], Scalar, Float[Array, "n_atoms dim"], Float[Array, "n_dof n_dof"]]:
    """Saddle index, lowest curvature (eV/Å²), its unit eigenvector ``(n_atoms, dim)`` and
    the projected Cartesian Hessian at ``R``."""
    H, _ = projected_hessian(potential, R, modes)
    w, U = eigh(H)
    scale = jnp.max(jnp.abs(w))
    return count_negative(w, scale, rtol), w[0], U[:, 0].reshape(R.shape), H


def saddle_index(
    potential: Potential, R: Float[Array, "n_atoms dim"], zero_modes_spec: ZeroModeSpec = "auto"
) -> Int[Array, ""]:
    """Number of negative eigenvalues of the Hessian at ``R`` after removing zero modes
    and fixed atoms: 0 at a minimum, 1 at a transition state."""
    return hessian_analysis(potential, R, zero_modes(potential, R, zero_modes_spec))[0]


class SaddleResult(eqx.Module):
    """Outcome of a saddle search.

    - `R`: final configuration ``(n_atoms, dim)``, Å. `energy`: eV. `forces`: eV/Å.
    - `fmax`: largest atom force (eV/Å).
    - `saddle_index`: negative eigenvalues of the projected Hessian at `R` (-1 if not checked).
    - `curvature`: lowest curvature (eV/Å²) and `mode` its unit direction ``(n_atoms, dim)``.
    - `converged`: ``fmax`` met **and** index 1. A search that stops on a minimum or on a
      higher-order saddle reports ``converged=False`` with ``RESULTS.saddle_wrong_index``.
    - `n_steps`, `n_force_calls` (energy+force evaluations), `n_hessian_calls`, `result`.
    """

    R: Float[Array, "n_atoms dim"]
    energy: Scalar
    forces: Float[Array, "n_atoms dim"]
    fmax: Scalar
    saddle_index: Int[Array, ""]
    curvature: Scalar
    mode: Float[Array, "n_atoms dim"]
    converged: Bool[Array, ""]
    n_steps: Int[Array, ""]
    n_force_calls: Int[Array, ""]
    n_hessian_calls: Int[Array, ""]
    result: RESULTS


def random_unit_like(key, R: Float[Array, "n_atoms dim"], free: Float[Array, "n_atoms 1"]):
    """A random unit vector over the free coordinates of ``R``."""
    v = jax.random.normal(key, R.shape, R.dtype) * free
    return v / jnp.linalg.norm(v)


class SaddleArgs(eqx.Module):
    """Per-call data of a saddle solve.

    - `fmax`: convergence threshold on the largest atom force, eV/Å.
    - `mode0`: initial guess of the unstable mode ``(n_atoms, dim)``; all zeros or ``None``
      for none (each solver then starts from its own first direction, :func:`first_mode`).
    - `zero_modes_spec`: see the module docstring. `check_index`: compute the Hessian at
      the end and require exactly one negative curvature.
    """

    fmax: Scalar
    mode0: Array | None = None
    zero_modes_spec: ZeroModeSpec = eqx.field(static=True, default="auto")
    check_index: bool = eqx.field(static=True, default=True)


def first_mode(mode0: Array | None, default: Array) -> Array:
    """A search's first direction, flattened ``(n_atoms * dim,)``: `mode0` where one is
    given, else the solver's own `default` (already flat). All zeros means none, decided at
    run time: :func:`jaxrxn.saddle.saddle_search` passes zeros for ``None``, so a search
    with a `mode0` and one without (a climbing image with its band's tangent, a TS guess)
    share one compiled program, and a batch may mix them. A GFN2-xTB `jaxrxn reaction` on a
    16-atom molecule compiled the internal-coordinate search once for each
    (20-25 s apiece, 2026-12-07)."""
    if mode0 is None:
        return default
    m = jnp.asarray(mode0, default.dtype).reshape(-1)
    return jnp.where(jnp.any(m != 0), m, default)


class SaddleState(eqx.Module):
    """Iteration state shared by the saddle solvers (`inner` is the solver's own)."""

    R: Float[Array, "n_atoms dim"]
    energy: Scalar
    forces: Float[Array, "n_atoms dim"]
    inner: eqx.Module
    modes: ZeroModes
    n_force_calls: Int[Array, ""]
    n_hessian_calls: Int[Array, ""]


def zero_mode_probe_calls(
    potential: Potential, R: Float[Array, "n_atoms dim"], spec: ZeroModeSpec, *, e0_known: bool = False
) -> int:
    """Energy evaluations :func:`zero_modes` spends deciding the zero modes (static);
    `e0_known`: the energy at ``R`` was passed in."""
    if spec != "auto" or _known_fixed(potential):
        return 0
    n, dim = R.shape
    return (0 if e0_known else 1) + dim + (dim * (dim - 1) // 2 if n > 1 else 0)


class AbstractSaddleSolver(AbstractIterativeSolver):
    """A first-order saddle search on :mod:`jaxrxn._iterate` (``args`` is a
    :class:`SaddleArgs`).

    Subclasses implement ``start(potential, R, energy, forces, modes, mode0) ->
    SaddleState`` (the energy and forces at ``R`` are given), ``step``,
    ``analysis(potential, state) -> (index, curvature, mode, extra_hessian_calls,
    extra_force_calls)`` and
    ``mode_estimate(state) -> (curvature, mode)``; the zero-mode detection (its probe
    evaluations counted), convergence on `fmax` and the final index check are shared.
    """

    @abc.abstractmethod
    def start(
        self, potential: Potential, R: Array, energy: Scalar, forces: Array, modes: ZeroModes, mode0: Array | None
    ) -> SaddleState: ...

    @abc.abstractmethod
    def analysis(self, potential: Potential, state: SaddleState): ...

    @abc.abstractmethod
    def mode_estimate(self, state: SaddleState): ...

    def init(self, potential: Potential, R: Array, args: SaddleArgs) -> SaddleState:
        e, f = potential.energy_and_forces(R)
        modes = zero_modes(potential, R, args.zero_modes_spec, e0=e)
        state = self.start(potential, R, e, f, modes, args.mode0)
        probes = zero_mode_probe_calls(potential, R, args.zero_modes_spec, e0_known=True)
        return eqx.tree_at(lambda s: s.n_force_calls, state, state.n_force_calls + probes)

    def terminate(self, potential: Potential, state: SaddleState, args: SaddleArgs):
        finite = jnp.isfinite(state.energy)
        done = (max_atom_force(state.forces) <= args.fmax) | ~finite
        return done, RESULTS.where(finite, RESULTS.successful, RESULTS.nonfinite_state)

    def postprocess(self, potential: Potential, state: SaddleState, args: SaddleArgs, result):
        if args.check_index:
            index, curvature, mode, extra_hessians, extra_forces = self.analysis(potential, state)
            state = eqx.tree_at(
                lambda s: (s.n_hessian_calls, s.n_force_calls),
                state,
                (state.n_hessian_calls + extra_hessians, state.n_force_calls + extra_forces),
            )
            result = RESULTS.where((result == RESULTS.successful) & (index != 1), RESULTS.saddle_wrong_index, result)
        else:
            curvature, mode = self.mode_estimate(state)
            index = jnp.array(-1)
        return state.R, (state.energy, state.forces, index, curvature, mode), result, state
