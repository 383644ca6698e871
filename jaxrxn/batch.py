"""Padded heterogeneous batches: many *different* reactions in one compiled call.

Reactions of different sizes (different molecules, slabs, metals) are padded to the largest
atom count. Padding atoms have ``system.atom_mask = False``: every potential leaves them out
of its sums (no energy, no force), the free mask keeps them in place (no effect on ``fmax``),
and they sit at the same far-away position in every image of a band, so NEB tangents,
springs and image distances do not see them either. The padded potentials (same
``energy_fn``, same parameter shapes, systems of one length) are stacked leaf by leaf into
one :class:`jaxrxn.Potential` with a leading batch axis, and ``jax.vmap`` runs the solver
over it: one compilation, one call, for the whole batch.

Entry points: :func:`batch_neb`, :func:`batch_minimize` and :func:`batch_saddle_search`
take lists (one potential and one band, configuration or guess per reaction) and return
per-reaction results, unpadded. Rigid-body modes (``NEB(remove_rigid=True)``, the zero
modes of saddle searches) and Kabsch alignment are taken over the real atoms only.
:func:`stack_potentials`, :func:`pad_positions` and :func:`unpad` are the pieces, for
hand-written batched loops (and for sharding with :func:`jaxrxn.parallel.sharded_vmap`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxrxn.optimize import MinimizeResult, StepRule, minimize
from jaxrxn.path.elastic_band import NEB, NEBResult, neb, validate_band
from jaxrxn.potentials.core import Potential
from jaxrxn.saddle.index import AbstractSaddleSolver, SaddleResult, ZeroModeSpec, resolve_zero_modes_spec, zero_mode_probe_calls
from jaxrxn.saddle.prfo import PRFO
from jaxrxn.saddle.search import saddle_search
from jaxrxn.system import System
from jaxrxn.validation import check_configuration

#: Where padding atom ``k`` sits (Å): far from any real atom, the same in every image.
PAD_ORIGIN = 1.0e3
PAD_SPACING = 10.0


def pad_system(system: System, n_atoms: int) -> System:
    """`system` with padding atoms appended up to `n_atoms`: number 0, mass 1, fixed,
    ``atom_mask`` False."""
    n = system.n_atoms
    if n is None:
        raise ValueError("padding needs a system with per-atom arrays (atomic numbers).")
    extra = n_atoms - n
    if extra < 0:
        raise ValueError(f"cannot pad a system of {n} atoms to {n_atoms}.")

    def grow(x, fill):
        return None if x is None else jnp.concatenate([x, jnp.full((extra,), fill, x.dtype)])

    return system.replace(
        numbers=grow(system.numbers, 0),
        masses=grow(system.masses, 1.0),
        fixed=grow(system.fixed, True),
        atom_mask=grow(system.atom_mask, False),
    )


def pad_positions(R: Float[Array, "... n_atoms dim"], n_atoms: int) -> Float[Array, "... n_pad dim"]:
    """Configurations or bands with padding atoms appended up to `n_atoms`, each at its own
    far-away point (``PAD_ORIGIN + k PAD_SPACING`` along every axis), identical in every
    image so no displacement between images involves them."""
    R = jnp.asarray(R)
    extra = n_atoms - R.shape[-2]
    k = jnp.arange(extra, dtype=R.dtype)[:, None]
    pad = jnp.broadcast_to(PAD_ORIGIN + PAD_SPACING * k, (extra, R.shape[-1]))
    pad = jnp.broadcast_to(pad, R.shape[:-2] + pad.shape)
    return jnp.concatenate([R, pad.astype(R.dtype)], axis=-2)


def _joined_energy_fn(potentials: Sequence[Potential]):
    """One static ``energy_fn`` for the whole batch: the common one, or (for energies that
    sum periodic images) the join of their image reaches."""
    fns = [p.energy_fn for p in potentials]
    if all(f == fns[0] for f in fns):
        return fns[0]
    if all(type(f) is type(fns[0]) and hasattr(f, "join") for f in fns):
        return functools.reduce(lambda a, b: a.join(b), fns)
    kinds = sorted({type(f).__name__ for f in fns})
    raise ValueError(f"a batch needs one kind of potential with one energy function; got {', '.join(kinds)}.")


def stack_potentials(potentials: Sequence[Potential], n_atoms: int | None = None) -> Potential:
    """Pad every potential's system to `n_atoms` (default: the largest) and stack them into
    one :class:`Potential` whose array leaves have a leading batch axis.

    All potentials need the same kind of energy (e.g. all EMT) with parameters of the same
    shapes and systems of the same kind (all periodic or all free).
    """
    if not potentials:
        raise ValueError("an empty batch.")
    sizes = [p.system.n_atoms if p.system is not None else None for p in potentials]
    if any(s is None for s in sizes):
        raise ValueError("every potential of a padded batch needs a system with atomic numbers.")
    n_atoms = max(sizes) if n_atoms is None else n_atoms
    energy_fn = _joined_energy_fn(potentials)
    padded = [p.replace(energy_fn=energy_fn, system=pad_system(p.system, n_atoms)) for p in potentials]
    structures = {jax.tree_util.tree_structure(p) for p in padded}
    if len(structures) > 1:
        raise ValueError("the potentials of a batch differ in structure (parameters, or periodic and free systems mixed).")
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *padded)


def unpad(tree, n_atoms: int, batch_n_atoms: int):
    """Cut every array leaf whose second-to-last axis is the padded atom axis
    (``batch_n_atoms`` long) back to the reaction's `n_atoms`."""

    def cut(x):
        if isinstance(x, jax.Array | np.ndarray) and x.ndim >= 2 and x.shape[-2] == batch_n_atoms:
            return x[..., :n_atoms, :]
        return x

    return jax.tree_util.tree_map(cut, tree)


def _split(batched, n: int) -> list:
    return [jax.tree_util.tree_map(lambda x, i=i: x[i] if eqx.is_array(x) else x, batched) for i in range(n)]


@functools.partial(jax.jit, static_argnames=("solver", "max_steps"))
def _neb_batch(potential, bands, solver, fmax, max_steps):
    return jax.vmap(lambda p, b: neb(p, b, solver, fmax=fmax, max_steps=max_steps))(potential, bands)


def batch_neb(
    potentials: Sequence[Potential],
    bands: Sequence[Float[Array, "n_images n_atoms dim"]],
    solver: NEB = NEB(),
    *,
    fmax: float = 0.05,
    max_steps: int = 1000,
) -> list[NEBResult]:
    """Relax many different bands (CI-NEB with ``solver.climb``) in one compiled call.

    **Arguments:**

    - `potentials`: one :class:`Potential` per reaction (each with its own system: atomic
      numbers, cell, fixed atoms); all of one kind (e.g. EMT), any atom counts.
    - `bands`: one initial band ``(n_images, n_atoms_i, dim)`` (Å) per reaction, end points
      included; every band has the same number of images.
    - `solver`, `fmax` (eV/Å), `max_steps`: as for :func:`jaxrxn.neb` (applied to every band;
      each band stops on its own criterion inside the vmapped loop).

    **Returns:** one :class:`NEBResult` per reaction, in input order, with padding atoms
    removed; each equals the same reaction relaxed alone by :func:`jaxrxn.neb` (padding
    atoms change no energy, force or band geometry).
    """
    if len(potentials) != len(bands):
        raise ValueError(f"{len(potentials)} potentials but {len(bands)} bands.")
    bands = [jnp.asarray(b) for b in bands]
    for i, (pot, band) in enumerate(zip(potentials, bands)):
        try:
            cell = None if pot.system is None or pot.system.cell is None else pot.system.cell
            validate_band(band, cell, None if cell is None else pot.system.pbc)
        except ValueError as err:
            raise ValueError(f"reaction {i}: {err}") from None
    if len({b.shape[0] for b in bands}) != 1:
        raise ValueError(f"every band of a batch needs the same number of images; got {sorted({b.shape[0] for b in bands})}.")
    stacked = stack_potentials(potentials)
    n_pad = stacked.system.numbers.shape[-1]
    paths = jnp.stack([pad_positions(b, n_pad) for b in bands])
    out = _neb_batch(stacked, paths, solver, jnp.asarray(fmax, paths.dtype), max_steps)
    return [unpad(r, b.shape[1], n_pad) for r, b in zip(_split(out, len(bands)), bands)]


@functools.partial(jax.jit, static_argnames=("optimizer", "max_steps"))
def _minimize_batch(potential, R, optimizer, fmax, max_steps):
    return jax.vmap(lambda p, x: minimize(p, x, optimizer, fmax=fmax, max_steps=max_steps))(potential, R)


def batch_minimize(
    potentials: Sequence[Potential],
    configurations: Sequence[Float[Array, "n_atoms dim"]],
    optimizer: str | StepRule = "fire",
    *,
    fmax: float = 0.05,
    max_steps: int = 1000,
) -> list[MinimizeResult]:
    """Relax many different structures (one potential each, any atom counts) in one
    compiled call; results per structure, padding removed (see :func:`batch_neb`)."""
    from jaxrxn.optimize import step_rule

    if len(potentials) != len(configurations):
        raise ValueError(f"{len(potentials)} potentials but {len(configurations)} configurations.")
    configurations = [jnp.asarray(R) for R in configurations]
    stacked = stack_potentials(potentials)
    n_pad = stacked.system.numbers.shape[-1]
    R = jnp.stack([pad_positions(x, n_pad) for x in configurations])
    out = _minimize_batch(stacked, R, step_rule(optimizer), jnp.asarray(fmax, R.dtype), max_steps)
    return [unpad(r, x.shape[0], n_pad) for r, x in zip(_split(out, len(configurations)), configurations)]


@functools.partial(jax.jit, static_argnames=("solver", "max_steps", "zero_modes_spec", "check_index"))
def _saddle_batch(potential, R, mode0, solver, fmax, max_steps, zero_modes_spec, check_index):
    def one(p, x, m):
        return saddle_search(
            p, x, solver, fmax=fmax, max_steps=max_steps, zero_modes_spec=zero_modes_spec, mode0=m,
            check_index=check_index,
        )  # fmt: skip

    return jax.vmap(one)(potential, R, mode0)


def batch_saddle_search(
    potentials: Sequence[Potential],
    guesses: Sequence[Float[Array, "n_atoms dim"]],
    solver: AbstractSaddleSolver | None = None,
    *,
    fmax: float = 0.01,
    max_steps: int = 500,
    zero_modes_spec: ZeroModeSpec = "auto",
    modes: Sequence[Float[Array, "n_atoms dim"]] | None = None,
    check_index: bool = True,
) -> list[SaddleResult]:
    """Converge many different saddle points (one potential and one guess each, any atom
    counts) in one compiled call.

    **Arguments:**

    - `potentials`, `guesses`: one :class:`Potential` (all of one kind, e.g. EMT, each with
      its own system) and one guess ``(n_atoms_i, dim)`` (Å) per saddle.
    - `solver`: a Cartesian :class:`jaxrxn.saddle.PRFO` (default), :class:`jaxrxn.saddle.Dimer`
      or :class:`jaxrxn.saddle.RSPRFO`, the same for every saddle.
    - `fmax` (eV/Å), `max_steps`, `zero_modes_spec`, `check_index`: as for
      :func:`jaxrxn.saddle_search`; each search stops on its own criterion inside the
      vmapped loop.
    - `modes`: optional initial unstable modes ``(n_atoms_i, dim)``, one per saddle.

    **Returns:** one :class:`jaxrxn.saddle.SaddleResult` per saddle, in input order, with
    padding atoms removed and ``converged`` per saddle. Each equals the saddle searched
    alone by :func:`jaxrxn.saddle_search`, step and force-call counts included: padding
    atoms have no energy, force or zero mode, and a search with fixed atoms is credited
    the zero-mode probes it would not have spent alone.
    """
    if len(potentials) != len(guesses):
        raise ValueError(f"{len(potentials)} potentials but {len(guesses)} guesses.")
    if modes is not None and len(modes) != len(guesses):
        raise ValueError(f"{len(modes)} modes but {len(guesses)} guesses.")
    guesses = [jnp.asarray(R) for R in guesses]
    for i, (pot, R) in enumerate(zip(potentials, guesses)):
        try:
            check_configuration(R, name="guess", cell=pot.system.cell, pbc=pot.system.pbc)
        except ValueError as err:
            raise ValueError(f"saddle {i}: {err}") from None
    solver = PRFO() if solver is None else solver
    stacked = stack_potentials(potentials)
    n_pad = stacked.system.numbers.shape[-1]
    R = jnp.stack([pad_positions(x, n_pad) for x in guesses])
    mode0 = None
    if modes is not None:
        mode0 = jnp.stack([jnp.pad(jnp.asarray(m, x.dtype), ((0, n_pad - x.shape[0]), (0, 0))) for m, x in zip(modes, guesses)])
    specs = {resolve_zero_modes_spec(p, zero_modes_spec) for p in potentials}
    spec = specs.pop() if len(specs) == 1 else zero_modes_spec
    out = _saddle_batch(stacked, R, mode0, solver, jnp.asarray(fmax, R.dtype), max_steps, spec, check_index)
    # Inside the batch every search probes the zero modes of a traced system of n_pad atoms;
    # alone, one with fixed atoms (or a single atom) probes fewer: count what it would spend.
    probed = zero_mode_probe_calls(Potential(stacked.energy_fn), R[0], spec, e0_known=True)
    results = []
    for pot, x, r in zip(potentials, guesses, _split(out, len(guesses))):
        extra = probed - zero_mode_probe_calls(pot, x, zero_modes_spec, e0_known=True)
        r = unpad(r, x.shape[0], n_pad)
        results.append(eqx.tree_at(lambda s: s.n_force_calls, r, r.n_force_calls - extra))
    return results
