"""Nudged elastic band (NEB) with the improved tangent and a climbing image.

A band is a path array ``(n_images, n_atoms, dim)`` in Å with both end points included;
the end points never move. The NEB force on interior image ``i`` is

    F_i = F_perp(i) + F_spring(i) tau_i,    F_spring = k_{i+1} |R_{i+1}-R_i| - k_i |R_i-R_{i-1}|

with the improved tangent ``tau`` of G. Henkelman & H. Jonsson, JCP 113, 9978 (2000),
eqs. 8-12. The climbing image (the highest interior image) feels ``F - 2 (F.tau) tau`` and
no spring, G. Henkelman, B. P. Uberuaga & H. Jonsson, JCP 113, 9901 (2000). Optional
energy-weighted springs follow E. Lindgren et al., JCP 150, 044502 (2019), eq. 9.

The whole interior band is one array for the step rule (:mod:`jaxrxn.optimize`), so FIRE
or L-BFGS keep ONE state for the band. Convergence is ASE's: the largest per-atom NEB
force over all interior images (climbing image included) below ``fmax`` (eV/Å). Force
calls are counted as ASE counts them: the end points once, then every interior image per
iteration.
"""

from __future__ import annotations

import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Scalar

from jaxrxn._iterate import AbstractIterativeSolver, in_dtype_of, iterative_solve
from jaxrxn._results import RESULTS
from jaxrxn.geometry import canonical_cell, displacement, rigid_body_modes
from jaxrxn.optimize import FIRE, StepRule, step_rule
from jaxrxn.potentials.core import Potential, max_atom_force
from jaxrxn.validation import check_configuration, check_n_images, check_same_system


class ImagePotentials(eqx.Module):
    """One potential per image: ``potential.params`` leaves carry a leading image axis.

    Used for image-dependent surrogates (IDPP); a plain :class:`Potential` is the same
    surface for every image.
    """

    potential: Potential


def _band_energy_and_forces(potential, path, images: slice = slice(None), neighbors=None):
    """Energies ``(m,)`` (eV) and forces ``(m, n_atoms, dim)`` (eV/Å) of ``path[images]``,
    in the dtype of ``path``; `neighbors`: one list per image of ``path[images]``, already
    updated there (see :func:`_band_neighbors`)."""
    if isinstance(potential, ImagePotentials):
        pot = potential.potential
        params = jax.tree_util.tree_map(lambda p: p[images], pot.params)
        e, f = jax.vmap(lambda R, p: pot.replace(params=p).energy_and_forces(R))(path[images], params)
    elif neighbors is not None:
        at = lambda R, nl: potential.replace(neighbors=nl)._energy_and_forces(R, update=False)  # noqa: E731
        e, f = jax.vmap(at)(path[images], neighbors)
    else:
        e, f = jax.vmap(potential.energy_and_forces)(path[images])
    return in_dtype_of(path, e, f)


def _band_neighbors(potential, images, neighbors=None):
    """Neighbour lists of the band's `images` ``(m, n_atoms, dim)``, one per image: built
    at the images (`neighbors` ``None``) or the carried ones updated, all rebuilt when
    any image moved half the skin. A vmap of the potential's own update would rebuild
    every image at every step (its cond becomes a select). ``None`` for potentials
    without a list."""
    if isinstance(potential, ImagePotentials) or getattr(potential, "neighbors", None) is None:
        return None
    return potential._batch_neighbors(images, neighbors)


def _free_mask(potential, R):
    pot = potential.potential if isinstance(potential, ImagePotentials) else potential
    return pot.free_mask(R)


def _system_field(potential, name: str):
    """A field of the potential's system (``None`` without a system)."""
    pot = potential.potential if isinstance(potential, ImagePotentials) else potential
    system = getattr(pot, "system", None)
    return None if system is None else getattr(system, name)


def _system_cell(potential):
    """``(cell, pbc)`` of the potential's system, ``(None, None)`` for a free one."""
    cell = _system_field(potential, "cell")
    return (None, None) if cell is None else (cell, _system_field(potential, "pbc"))


def _safe_normalize(v: Array) -> Array:
    norm = jnp.sqrt(jnp.sum(v**2, axis=(-2, -1), keepdims=True))
    return v / jnp.where(norm > 0, norm, 1.0)


def improved_tangents(
    path: Float[Array, "n_images n_atoms dim"],
    energies: Float[Array, " n_images"],
    cell=None,
    pbc=None,
) -> Float[Array, "n_interior n_atoms dim"]:
    """Unit tangents of the interior images, Henkelman & Jonsson, JCP 113, 9978 (2000).

    Uphill neighbour's segment on a monotonic stretch; at an extremum both segments
    weighted by the larger and smaller energy differences (eqs. 8-11), which keeps the
    tangent continuous where the energy ordering flips.
    """
    seg = displacement(path[1:], path[:-1], cell, pbc)
    t_plus, t_minus = seg[1:], seg[:-1]
    e_next, e_here, e_prev = energies[2:], energies[1:-1], energies[:-2]
    up = (e_next > e_here) & (e_here > e_prev)
    down = (e_next < e_here) & (e_here < e_prev)
    dv_next, dv_prev = jnp.abs(e_next - e_here), jnp.abs(e_prev - e_here)
    dv_max, dv_min = jnp.maximum(dv_next, dv_prev), jnp.minimum(dv_next, dv_prev)
    w_plus = jnp.where(e_next > e_prev, dv_max, dv_min)[:, None, None]
    w_minus = jnp.where(e_next > e_prev, dv_min, dv_max)[:, None, None]
    mixed = t_plus * w_plus + t_minus * w_minus
    tau = jnp.where(up[:, None, None], t_plus, jnp.where(down[:, None, None], t_minus, mixed))
    return _safe_normalize(tau)


def spring_constants(
    energies: Float[Array, " n_images"], k: float, energy_weighted: bool, k_min: float
) -> Float[Array, " n_segments"]:
    """Spring constant (eV/Å²) of each segment ``(i-1, i)``, ``(n_images-1,)``.

    Energy-weighted (Lindgren et al. 2019): ``k_max - dk (E_max - E_i)/(E_max - E_ref)``
    with ``E_i`` the higher energy of the segment's two images and ``E_ref`` the higher end
    point; segments below ``E_ref`` get ``k_min``. Stiffer springs near the top put more
    resolution at the saddle.
    """
    n_seg = energies.shape[0] - 1
    if not energy_weighted:
        return jnp.full((n_seg,), k, energies.dtype)
    e_seg = jnp.maximum(energies[1:], energies[:-1])
    e_ref = jnp.maximum(energies[0], energies[-1])
    e_max = jnp.max(energies)
    span = jnp.where(e_max > e_ref, e_max - e_ref, 1.0)
    weighted = k - (k - k_min) * (e_max - e_seg) / span
    return jnp.where(e_seg > e_ref, weighted, k_min)


def neb_forces(
    path: Float[Array, "n_images n_atoms dim"],
    energies: Float[Array, " n_images"],
    forces: Float[Array, "n_images n_atoms dim"],
    *,
    k: float = 0.1,
    climbing: Bool[Array, ""] | bool = False,
    energy_weighted: bool = False,
    k_min: float | None = None,
    free: Array | None = None,
    cell=None,
    pbc=None,
) -> Float[Array, "n_interior n_atoms dim"]:
    """NEB forces (eV/Å) on the interior images, given true energies (eV) and forces.

    `climbing` turns the highest interior image into the climbing image. `free` is the
    ``(n_atoms, 1)`` mask of movable atoms (fixed atoms get zero NEB force).
    """
    tau = improved_tangents(path, energies, cell, pbc)
    seg = displacement(path[1:], path[:-1], cell, pbc)
    if free is not None:
        tau = _safe_normalize(tau * free)
        seg = seg * free
    lengths = jnp.sqrt(jnp.sum(seg**2, axis=(-2, -1)))
    ks = spring_constants(energies, k, energy_weighted, k / 10 if k_min is None else k_min)
    f_true = forces[1:-1]
    f_par = jnp.sum(f_true * tau, axis=(-2, -1), keepdims=True)
    spring = (ks[1:] * lengths[1:] - ks[:-1] * lengths[:-1])[:, None, None]
    f_nudged = f_true - f_par * tau + spring * tau
    f_climb = f_true - 2.0 * f_par * tau
    i_max = jnp.argmax(energies[1:-1])
    is_climber = (jnp.arange(tau.shape[0]) == i_max) & climbing
    out = jnp.where(is_climber[:, None, None], f_climb, f_nudged)
    return out if free is None else out * free


def remove_rigid_motion(
    R: Float[Array, "n_atoms dim"], f: Float[Array, "n_atoms dim"], atom_mask: Bool[Array, " n_atoms"] | None = None
) -> Float[Array, "n_atoms dim"]:
    """``f`` without its components along the rigid translations and rotations of ``R``
    (Cartesian, equal weights over the atoms of `atom_mask`, padding excluded; see
    :func:`jaxrxn.geometry.rigid_body_modes`)."""
    V = rigid_body_modes(R, atom_mask=atom_mask)
    v = f.reshape(-1)
    return (v - V.T @ (V @ v)).reshape(f.shape)


# ---------------------------------------------------------------------------------------
# solver
# ---------------------------------------------------------------------------------------
class NEBArgs(eqx.Module):
    """Per-call data of an :class:`NEB` solve: `fmax` (eV/Å) and the periodic `cell`
    ``(dim, dim)`` (rows, Å) and `pbc` ``(dim,)`` (both ``None`` for free space)."""

    fmax: Scalar
    cell: Array | None = None
    pbc: Array | None = None


class NEBState(eqx.Module):
    """State of a band relaxation.

    - `path` ``(n_images, n_atoms, dim)`` Å; `energies` ``(n_images,)`` eV; `forces` the
      true forces ``(n_images, n_atoms, dim)`` eV/Å (zero on fixed atoms).
    - `neb_forces` ``(n_images-2, n_atoms, dim)``: the projected forces the step rule sees.
    - `climbing`: whether the climbing image is switched on.
    - `neighbors`: the interior images' neighbour lists (leading image axis) of a
      potential that carries one, else ``None``.
    """

    path: Array
    energies: Array
    forces: Array
    neb_forces: Array
    opt_state: Any
    climbing: Bool[Array, ""]
    n_force_calls: Int[Array, ""]
    energy_limit: Scalar  # above this the band counts as diverged (eV)
    # the band with the smallest largest NEB force so far (with `rollback`): path,
    # energies, true forces, NEB forces, that force; and the rollbacks since it was found
    best: tuple[Array, Array, Array, Array, Scalar]
    n_rollbacks: Int[Array, ""]
    neighbors: Any = None


class NEB(AbstractIterativeSolver):
    """Climbing-image NEB with the improved tangent, relaxed by one step rule for the band.

    A solver on :mod:`jaxrxn._iterate` (``args`` is an :class:`NEBArgs`); :func:`neb` is
    its entry point.

    **Arguments:**

    - `k`: spring constant, eV/Å² (ASE's default 0.1). With `energy_weighted`, the
      stiffest spring (Lindgren et al. 2019) and `k_min` (default ``k/10``) the softest.
    - `climb`: use a climbing image (the answer is then the saddle, not an image near it).
    - `climb_after`: switch the climbing image on only once the plain band's largest NEB
      force is below this (eV/Å); ``0`` climbs from the start. A roughly relaxed band
      picks the right image to climb and the climber then needs few extra steps. The run
      still only converges with the climbing image on.
    - `restart_factor`: restart the step rule when a step raises the largest NEB force by
      more than this factor, or when another image becomes the climber.
    - `optimizer`: :class:`jaxrxn.FIRE`, :class:`jaxrxn.LBFGS`, or ``"fire"``/``"lbfgs"``.
    - `divergence_factor`: the run stops as diverged (``RESULTS.band_diverged``) once an
      image's energy exceeds the initial band's highest energy by this many times the
      initial band's energy range (plus 1 eV), so a blown-up band in a vmapped batch
      does not run to the step cap.
    - `remove_rigid`: project each image's rigid translations and rotations out of its NEB
      force (for a free molecule without fixed atoms). A molecule's energy does not change
      when it turns, so the band can rotate images freely; the true force has no such
      component, but the spring force along a tangent that mixes in a rotation does, and
      quasi-Newton steps then turn and stretch images apart. Off for periodic systems
      and slabs (fixed atoms already pin them).
    - `rollback`: keep the band with the smallest largest NEB force seen so far, and go
      back to it (step rule restarted, steps halved for each rollback since that band was
      found) when a step raises that force above `rollback_factor` times the best, leaves
      an energy above the divergence limit, or meets a failed calculator (non-finite
      energies or forces). After `max_rollbacks` rollbacks without a better band the run
      stops as diverged. The result is then the best band, not the last. (Halving only
      until the next rollback instead let a restarted L-BFGS retrace the same three steps
      back to the same rollback forever.) Measured on the Claisen rearrangement with GFN2-xTB (8 images,
      L-BFGS): without it the climbing image fell over the saddle into the product basin
      after ~100 steps, its neighbour became the climber along a 1.6 Å segment and
      climbed to +20 eV until the SCF failed.
    """

    k: float = 0.1
    climb: bool = True
    energy_weighted: bool = False
    k_min: float | None = None
    climb_after: float = eqx.field(static=True, default=0.0)  # selects code in Python
    restart_factor: float = 2.0
    optimizer: StepRule = FIRE(maxstep=0.05)
    divergence_factor: float = 100.0
    remove_rigid: bool = False
    rollback: bool = False
    rollback_factor: float = 2.0
    max_rollbacks: int = 6

    def __check_init__(self):
        if self.k <= 0:
            raise ValueError(f"the spring constant k must be positive; got {self.k}.")

    def _rule(self) -> StepRule:
        return step_rule(self.optimizer)

    def _project(self, potential, path, energies, forces, climbing, args: NEBArgs):
        f = neb_forces(
            path, energies, forces, k=self.k, climbing=climbing,
            energy_weighted=self.energy_weighted, k_min=self.k_min,
            free=_free_mask(potential, path[0]), cell=args.cell, pbc=args.pbc,
        )  # fmt: skip
        if not self.remove_rigid:
            return f
        mask = _system_field(potential, "atom_mask")
        return jax.vmap(remove_rigid_motion, in_axes=(0, 0, None))(path[1:-1], f, mask)

    def _climb_decision(self, potential, path, energies, forces, climbing, args: NEBArgs):
        """Climbing flag and NEB forces after this evaluation."""
        if not self.climb:
            return jnp.array(False), self._project(potential, path, energies, forces, False, args)
        if self.climb_after <= 0:
            climbing = jnp.array(True)
        else:
            plain = self._project(potential, path, energies, forces, False, args)
            climbing = climbing | (max_atom_force(plain) < self.climb_after)
        return climbing, self._project(potential, path, energies, forces, climbing, args)

    def init(self, potential, path: Float[Array, "n_images n_atoms dim"], args: NEBArgs) -> NEBState:
        """Evaluate every image (end points included) and set up the step rule."""
        neighbors = _band_neighbors(potential, path)
        energies, forces = _band_energy_and_forces(potential, path, neighbors=neighbors)
        climbing, f_neb = self._climb_decision(potential, path, energies, forces, jnp.array(False), args)
        opt_state = self._rule().init(path[1:-1], f_neb)
        n_calls = jnp.array(path.shape[0])
        limit = jnp.max(energies) + self.divergence_factor * (jnp.max(energies) - jnp.min(energies) + 1.0)
        if neighbors is not None:
            # the end points' lists are not carried, but an overflow there must be seen
            overflow = jnp.broadcast_to(jnp.any(neighbors.overflow), neighbors.overflow[1:-1].shape)
            neighbors = eqx.tree_at(lambda nl: nl.overflow, jax.tree_util.tree_map(lambda x: x[1:-1], neighbors), overflow)
        best = (path, energies, forces, f_neb, max_atom_force(f_neb))
        return NEBState(path, energies, forces, f_neb, opt_state, climbing, n_calls, limit, best, jnp.array(0), neighbors)

    def step(self, potential, state: NEBState, args: NEBArgs) -> NEBState:
        """Move the interior images once; evaluates ``n_images - 2`` images."""
        rule = self._rule()
        interior = state.path[1:-1]
        dx, opt_state = rule.update(state.neb_forces, state.opt_state, interior)
        if self.rollback:
            dx = dx * 0.5**state.n_rollbacks
        interior = interior + dx * _free_mask(potential, interior[0])
        path = state.path.at[1:-1].set(interior)
        neighbors = None if state.neighbors is None else _band_neighbors(potential, interior, state.neighbors)
        e_in, f_in = _band_energy_and_forces(potential, path, slice(1, -1), neighbors)
        energies = state.energies.at[1:-1].set(e_in)
        forces = state.forces.at[1:-1].set(f_in)
        climbing, f_neb = self._climb_decision(potential, path, energies, forces, state.climbing, args)
        # The climbing image changes the force field: a quasi-Newton memory of the old one
        # would be wrong, so the step rule restarts when it switches on.
        # The same holds when another image becomes the climber, and a step that made the
        # band's force much worse means the memory no longer describes this force field
        # (NEB forces are not a gradient, so curvature pairs can mislead).
        switched = climbing & ~state.climbing
        new_climber = climbing & (jnp.argmax(e_in) != jnp.argmax(state.energies[1:-1]))
        worse = max_atom_force(f_neb) > self.restart_factor * max_atom_force(state.neb_forces)
        restart = switched | new_climber | worse
        best, n_rollbacks = state.best, state.n_rollbacks
        if self.rollback:
            f_max = max_atom_force(f_neb)
            finite = jnp.all(jnp.isfinite(energies)) & jnp.all(jnp.isfinite(f_neb))
            # a new climbing force field starts a new record instead of being compared with the old one
            back = ~finite | (jnp.max(energies) > state.energy_limit) | ((f_max > self.rollback_factor * best[-1]) & ~switched)
            path, energies, forces, f_neb = jax.tree_util.tree_map(
                lambda b, x: jnp.where(back, b, x), best[:4], (path, energies, forces, f_neb)
            )
            interior = path[1:-1]
            restart = restart | back
            better = ~back & ((f_max < best[-1]) | switched)
            best = jax.tree_util.tree_map(
                lambda x, b: jnp.where(better, x, b), (path, energies, forces, f_neb, f_max), best
            )
            n_rollbacks = jnp.where(back, n_rollbacks + 1, jnp.where(better, 0, n_rollbacks))
        fresh = rule.init(interior, f_neb)
        opt_state = jax.tree_util.tree_map(lambda a, b: jnp.where(restart, a, b), fresh, opt_state)
        return NEBState(
            path, energies, forces, f_neb, opt_state, climbing,
            state.n_force_calls + path.shape[0] - 2, state.energy_limit, best, n_rollbacks, neighbors,
        )  # fmt: skip

    def converged(self, state: NEBState, fmax) -> Bool[Array, ""]:
        """Largest NEB force below `fmax` with the climbing image on (if asked)."""
        done = max_atom_force(state.neb_forces) <= fmax
        return done & (state.climbing | (not self.climb))

    def diverged(self, state: NEBState) -> Bool[Array, ""]:
        """An image's energy is far above anything the initial band had (or not finite),
        or more than `max_rollbacks` rollbacks without a better band."""
        return (
            ~jnp.all(jnp.isfinite(state.energies))
            | (jnp.max(state.energies) > state.energy_limit)
            | (state.n_rollbacks > self.max_rollbacks)
        )

    def terminate(self, potential, state: NEBState, args: NEBArgs):
        diverged = self.diverged(state)
        done = self.converged(state, args.fmax) | diverged
        return done, RESULTS.where(diverged, RESULTS.band_diverged, RESULTS.successful)

    def postprocess(self, potential, state: NEBState, args: NEBArgs, result):
        # the driver turns a non-finite band into RESULTS.nonfinite_state
        if self.rollback:
            path, energies, forces, f_neb, _ = state.best
            return path, (energies, forces, f_neb), result, state
        return state.path, (state.energies, state.forces, state.neb_forces), result, state


class NEBResult(eqx.Module):
    """Outcome of :func:`neb`.

    - `path` ``(n_images, n_atoms, dim)`` Å, end points included.
    - `energies` ``(n_images,)`` eV; `forces` true forces ``(n_images, n_atoms, dim)`` eV/Å.
    - `barrier`: ``E[ts_index] - E[0]`` (eV), the forward barrier; with a converged
      climbing image, ``path[ts_index]`` is the saddle.
    - `ts_index`: index of the highest image.
    - `converged`, `n_steps`, `n_force_calls` (ASE's counting), `max_force` (largest
      per-atom NEB force, eV/Å), `result` (a :class:`jaxrxn.RESULTS` code).
    """

    path: Float[Array, "n_images n_atoms dim"]
    energies: Float[Array, " n_images"]
    forces: Float[Array, "n_images n_atoms dim"]
    barrier: Scalar
    ts_index: Int[Array, ""]
    converged: Bool[Array, ""]
    n_steps: Int[Array, ""]
    n_force_calls: Int[Array, ""]
    max_force: Scalar
    result: RESULTS


def validate_band(path, cell=None, pbc=None, numbers=None) -> None:
    """Raise ``ValueError`` for a band that cannot be relaxed (before any jitted work)."""
    if isinstance(path, jax.core.Tracer):
        return
    path = np.asarray(path)
    if path.ndim != 3:
        raise ValueError(f"a band must have shape (n_images, n_atoms, dim); got {path.shape}.")
    check_n_images(path.shape[0])
    for i, R in enumerate(path):
        check_configuration(R, name=f"image {i}", cell=cell, pbc=pbc)
    check_same_system(path[0], path[-1], numbers, numbers)


def neb(
    potential: Potential | ImagePotentials,
    path0: Float[Array, "n_images n_atoms dim"],
    solver: NEB = NEB(),
    *,
    fmax: float = 0.05,
    max_steps: int = 1000,
    cell=None,
    pbc=None,
    throw: bool = False,
) -> NEBResult:
    """Relax a band to the minimum energy path; with ``solver.climb`` find its saddle.

    **Arguments:**

    - `potential`: the energy surface (fixed atoms come from ``potential.fixed``).
    - `path0`: initial band ``(n_images, n_atoms, dim)`` in Å, end points included (see
      :func:`jaxrxn.path.interpolate`). End points should be relaxed minima.
    - `solver`: an :class:`NEB` (spring constant, climbing image, optimizer).
    - `fmax`: largest per-atom NEB force (eV/Å) over the interior images at convergence,
      ASE's criterion. `max_steps`: iteration cap.
    - `throw`: raise (also under ``jit``) when the band did not converge.
    - `cell`, `pbc`: deprecated. Periodicity (minimum-image displacements between images)
      comes from ``potential.system`` alone; values given here must equal it (else
      ``ValueError``) and only draw a ``DeprecationWarning``.

    Pure and jittable: ``jax.vmap`` over `path0` (or over the potential's params) relaxes a
    batch of bands of the same shape.
    """
    if cell is not None or pbc is not None:
        _check_redundant_cell(potential, cell, pbc, jnp.shape(path0)[-1])
    validate_band(path0, *_system_cell(potential))
    return relax_band(potential, path0, solver, fmax=fmax, max_steps=max_steps, throw=throw)


def _check_redundant_cell(potential, cell, pbc, dim: int) -> None:
    """Old ``neb(..., cell=, pbc=)`` calls: accepted (with a warning) when they repeat the
    potential's system, refused when they contradict it."""
    given, given_pbc = canonical_cell(cell, pbc, dim)
    own, own_pbc = _system_cell(potential)
    same = (given is None) == (own is None) and (
        given is None
        or (np.allclose(given, np.asarray(own)[:dim, :dim]) and np.array_equal(given_pbc, np.asarray(own_pbc)[:dim]))
    )
    if not same:
        raise ValueError(
            "neb() takes the cell and pbc from potential.system; the `cell`/`pbc` given differ from it "
            "(build the potential with the periodic System instead)."
        )
    warnings.warn(
        "neb(cell=, pbc=) is deprecated: the potential's system is the one source of periodicity; drop them.",
        DeprecationWarning,
        stacklevel=3,
    )


def relax_band(
    potential: Potential | ImagePotentials,
    path0: Float[Array, "n_images n_atoms dim"],
    solver: NEB,
    *,
    fmax: float,
    max_steps: int,
    throw: bool = False,
) -> NEBResult:
    """:func:`neb` without the input checks, for callers whose initial band may be
    unphysical by design: IDPP starts from the straight line, whose atoms may pass through
    each other, and repairs exactly that on its surrogate surface."""
    path0 = jnp.asarray(path0)
    dtype = path0.dtype
    cell, pbc = _system_cell(potential)
    if cell is not None:
        cell = jnp.asarray(cell, dtype)[: path0.shape[-1], : path0.shape[-1]]
    args = NEBArgs(jnp.asarray(fmax, dtype), cell, pbc)
    sol = iterative_solve(solver, potential, path0, args, max_steps=max_steps, throw=throw)
    energies, forces, f_neb = sol.aux
    ts = jnp.argmax(energies[1:-1]) + 1
    return NEBResult(
        sol.value, energies, forces, energies[ts] - energies[0], ts,
        sol.result == RESULTS.successful, sol.stats.num_steps, sol.stats.n_force_calls,
        max_atom_force(f_neb), sol.result,
    )  # fmt: skip
