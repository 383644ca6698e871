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

:func:`find_reactions` is the batched :func:`jaxrxn.find_reaction`: reactions on JAX
potentials (one kind, any atom counts) run as padded batches, the end-state relaxations,
interpolation, CI-NEB, saddle refinement and IRC each one vmapped compiled call, with the
harmonic analysis and the verification of the IRC ends per reaction on the host; reactions
on outside calculators (xTB, PySCF, ASE) cannot share a vmap and run
:func:`jaxrxn.find_reaction` concurrently on worker threads. For JAX potentials each result
equals the reaction run alone up to the round-off of a wider array and the geodesic
interpolation's random nudges (drawn for the padded shape: the band starts a few 1e-3 Å
apart and converges to the same saddle).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxrxn._iterate import MAX_REALLOCATIONS
from jaxrxn._results import RESULTS
from jaxrxn.neighbors import OVERFLOW_MESSAGE, allocate, handled_by_driver, lists_in
from jaxrxn.optimize import MinimizeResult, StepRule, minimize
from jaxrxn.path.elastic_band import NEB, NEBResult, neb, validate_band
from jaxrxn.potentials.core import Potential
from jaxrxn.saddle.index import AbstractSaddleSolver, SaddleResult, ZeroModeSpec, resolve_zero_modes_spec, zero_mode_probe_calls
from jaxrxn.saddle.prfo import PRFO
from jaxrxn.saddle.search import saddle_search
from jaxrxn.system import System
from jaxrxn.validation import check_configuration

if TYPE_CHECKING:
    from jaxrxn.reaction import ReactionResult

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
    shapes and systems of the same kind (all periodic or all free). Potentials that carry
    neighbour lists (all or none, one cutoff and skin) get one list per member, allocated
    anew for the padded systems; solvers vmapped over the batch (:func:`batch_neb`) then
    rebuild them only when some atom of the batch moved half the skin.
    """
    if not potentials:
        raise ValueError("an empty batch.")
    sizes = [p.system.n_atoms if p.system is not None else None for p in potentials]
    if any(s is None for s in sizes):
        raise ValueError("every potential of a padded batch needs a system with atomic numbers.")
    n_atoms = max(sizes) if n_atoms is None else n_atoms
    energy_fn = _joined_energy_fn(potentials)
    padded = [
        p.replace(energy_fn=energy_fn, system=pad_system(p.system, n_atoms), neighbors=None) for p in potentials
    ]  # fmt: skip
    structures = {jax.tree_util.tree_structure(p) for p in padded}
    if len(structures) > 1:
        raise ValueError("the potentials of a batch differ in structure (parameters, or periodic and free systems mixed).")
    stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *padded)
    return stacked.replace(neighbors=_stacked_neighbors(potentials, stacked.system, n_atoms))


def _stacked_neighbors(potentials: Sequence[Potential], systems: System, n_atoms: int, multiplier: float = 1.25):
    """One neighbour list per member for the padded, stacked `systems`, allocated at each
    carried list's last build positions with one grid and shared capacities, `multiplier`
    times the counts there (:func:`jaxrxn.neighbors.allocate` with a batch axis); ``None``
    when no potential carries a list."""
    lists = [p.neighbors for p in potentials]
    if all(nl is None for nl in lists):
        return None
    if any(nl is None for nl in lists) or len({(nl.cutoff, nl.skin) for nl in lists}) > 1:
        raise ValueError("either every potential of a batch carries a neighbour list (one cutoff and skin) or none.")
    R = np.stack([np.asarray(pad_positions(nl.reference, n_atoms)) for nl in lists])
    return allocate(R, systems, lists[0].cutoff, skin=lists[0].skin, capacity_multiplier=multiplier)


def _run_batch(run, potentials: Sequence[Potential], stacked: Potential, *args):
    """``run(stacked, *args)``, a jitted vmapped solve. Without neighbour lists it runs
    once. With lists, a member whose list overflowed (which under ``jit`` cannot be widened
    where it happens) stops with ``RESULTS.neighbor_list_overflow``, and the batch runs
    again from the start with every list's capacities 1.5 times larger, up to
    :data:`jaxrxn._iterate.MAX_REALLOCATIONS` times, so the results equal a batch whose lists
    fit; every member's ``n_force_calls`` includes its evaluations in the discarded runs."""
    if not lists_in(stacked):
        return run(stacked, *args)
    n_pad, multiplier, spent = stacked.system.numbers.shape[-1], 1.25, 0
    for _ in range(MAX_REALLOCATIONS + 1):
        out = handled_by_driver(run(handled_by_driver(stacked), *args), False)
        if not bool(jnp.any(out.result == RESULTS.neighbor_list_overflow)):
            return eqx.tree_at(lambda r: r.n_force_calls, out, out.n_force_calls + spent)
        spent = spent + out.n_force_calls
        multiplier *= 1.5
        stacked = stacked.replace(neighbors=_stacked_neighbors(potentials, stacked.system, n_pad, multiplier))
    raise RuntimeError(OVERFLOW_MESSAGE)


def _periodicity(pot: Potential) -> dict:
    """``cell`` and ``pbc`` of a potential's system (both ``None`` without a cell), as keywords."""
    system = pot.system
    cell = None if system is None else system.cell
    return {"cell": cell, "pbc": None if cell is None else system.pbc}


def _check_configuration(pot: Potential, R: Array, name: str = "configuration") -> None:
    check_configuration(R, name=name, **_periodicity(pot))


def _members(batched, n_atoms: Sequence[int], n_pad: int) -> list:
    """The first ``len(n_atoms)`` members of a batched pytree, one pytree each, with every
    array leaf whose second-to-last axis is the padded atom axis (`n_pad` long) cut back to
    its member's atom count.

    The split is done on the host: each leaf is copied out once, sliced with NumPy, and each
    member's arrays are put back on the device together. Indexing on the device launched a
    tiny program per leaf and member (hundreds for a batched IRC or saddle search), and
    twice (sessions 40 and 41) XLA's CPU runtime stopped there for good, every thread idle
    and the host waiting to launch the next one."""
    leaves, treedef = jax.tree_util.tree_flatten(batched)
    on_host = [np.asarray(x) if eqx.is_array(x) and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x for x in leaves]
    members = []
    for i, n in enumerate(n_atoms):
        member = [x[i] if eqx.is_array(x) else x for x in on_host]  # a key array stays on the device
        member = [x[..., :n, :] if isinstance(x, np.ndarray) and x.ndim >= 2 and x.shape[-2] == n_pad else x for x in member]
        put = iter(jax.device_put([x for x in member if isinstance(x, np.ndarray | np.generic)]))
        member = [next(put) if isinstance(x, np.ndarray | np.generic) else x for x in member]
        members.append(jax.tree_util.tree_unflatten(treedef, member))
    return members


def _check_each(what: str, potentials: Sequence[Potential], arrays: Sequence, check: Callable) -> None:
    """``check(potential, array)`` for every member; a ``ValueError`` names the member
    (``"{what} {i}: ..."``) so that a bad input in a long batch can be found."""
    for i, (pot, x) in enumerate(zip(potentials, arrays)):
        try:
            check(pot, x)
        except ValueError as err:
            raise ValueError(f"{what} {i}: {err}") from None


def _padded(potentials: Sequence[Potential], arrays: Sequence[Array]) -> tuple[Potential, Array]:
    """The potentials stacked (:func:`stack_potentials`) and the members' configurations or
    bands ``(..., n_atoms_i, dim)`` padded to the batch's atom count and stacked."""
    stacked = stack_potentials(potentials)
    n_pad = stacked.system.numbers.shape[-1]
    return stacked, jnp.stack([pad_positions(x, n_pad) for x in arrays])


def _unpadded(out, arrays: Sequence[Array], n_pad: int) -> list:
    """A batched result split per member, each cut back to its member's atom count."""
    return _members(out, [x.shape[-2] for x in arrays], n_pad)


def over_batch(f: Callable, batch_size: int | None, *xs):
    """``f`` over the leading (batch) axis of the pytrees `xs`: one ``jax.vmap``, or with
    `batch_size` vmapped chunks of that many members one after another (``jax.lax.map``),
    which bounds the memory of a step that is large per member (an exact Hessian of a
    neural-network potential) at the cost of running the chunks in sequence. Each member's
    loop stops on its own criterion either way, so the results are the same up to rounding:
    XLA may order a reduction differently for another chunk shape, and over hundreds of
    steps a float32 network's trajectory can drift (three held-out reactions on the shipped
    NNP in chunks of 2: barriers within 3e-5 eV of the single batch's, force calls 3,174 /
    585 / 876 against 3,177 / 621 / 727; a float64 Lennard-Jones batch: identical)."""
    if batch_size is None:
        return jax.vmap(f)(*xs)
    return jax.lax.map(lambda args: f(*args), xs, batch_size=batch_size)


def _check_batch_size(batch_size: int | None) -> None:
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}.")


@functools.partial(jax.jit, static_argnames=("solver", "max_steps", "batch_size"))
def _neb_batch(potential, bands, solver, fmax, max_steps, batch_size=None):
    return over_batch(lambda p, b: neb(p, b, solver, fmax=fmax, max_steps=max_steps), batch_size, potential, bands)


def batch_neb(
    potentials: Sequence[Potential],
    bands: Sequence[Float[Array, "n_images n_atoms dim"]],
    solver: NEB = NEB(),
    *,
    fmax: float = 0.05,
    max_steps: int = 1000,
    batch_size: int | None = None,
) -> list[NEBResult]:
    """Relax many different bands (CI-NEB with ``solver.climb``) in one compiled call.

    **Arguments:**

    - `potentials`: one :class:`Potential` per reaction (each with its own system: atomic
      numbers, cell, fixed atoms); all of one kind (e.g. EMT), any atom counts.
    - `bands`: one initial band ``(n_images, n_atoms_i, dim)`` (Å) per reaction, end points
      included; every band has the same number of images.
    - `solver`, `fmax` (eV/Å), `max_steps`: as for :func:`jaxrxn.neb` (applied to every band;
      each band stops on its own criterion inside the vmapped loop).
    - `batch_size`: at most this many bands at once, in vmapped chunks one after another
      (:func:`over_batch`; also for :func:`batch_minimize`, :func:`batch_saddle_search` and
      :func:`find_reactions`): less memory, the same results up to rounding; ``None``: all
      at once.

    **Returns:** one :class:`NEBResult` per reaction, in input order, with padding atoms
    removed; each equals the same reaction relaxed alone by :func:`jaxrxn.neb` (padding
    atoms change no energy, force or band geometry).

    Potentials that carry neighbour lists get one list per member; if one overflows, the
    batch runs again with wider lists (see :func:`_run_batch`; also for
    :func:`batch_minimize` and :func:`batch_saddle_search`), so the results equal a run
    whose lists fit, and ``n_force_calls`` include the discarded run.
    """
    if len(potentials) != len(bands):
        raise ValueError(f"{len(potentials)} potentials but {len(bands)} bands.")
    bands = [jnp.asarray(b) for b in bands]
    _check_each("reaction", potentials, bands, lambda pot, band: validate_band(band, **_periodicity(pot)))
    if len({b.shape[0] for b in bands}) != 1:
        raise ValueError(f"every band of a batch needs the same number of images; got {sorted({b.shape[0] for b in bands})}.")
    _check_batch_size(batch_size)
    stacked, paths = _padded(potentials, bands)
    out = _run_batch(_neb_batch, potentials, stacked, paths, solver, jnp.asarray(fmax, paths.dtype), max_steps, batch_size)
    return _unpadded(out, bands, paths.shape[-2])


@functools.partial(jax.jit, static_argnames=("optimizer", "max_steps", "batch_size"))
def _minimize_batch(potential, R, optimizer, fmax, max_steps, batch_size=None):
    return over_batch(lambda p, x: minimize(p, x, optimizer, fmax=fmax, max_steps=max_steps), batch_size, potential, R)


def batch_minimize(
    potentials: Sequence[Potential],
    configurations: Sequence[Float[Array, "n_atoms dim"]],
    optimizer: str | StepRule = "fire",
    *,
    fmax: float = 0.05,
    max_steps: int = 1000,
    batch_size: int | None = None,
) -> list[MinimizeResult]:
    """Relax many different structures (one potential each, any atom counts) in one
    compiled call; results per structure, padding removed, `batch_size` chunks (see
    :func:`batch_neb`)."""
    from jaxrxn.optimize import step_rule

    if len(potentials) != len(configurations):
        raise ValueError(f"{len(potentials)} potentials but {len(configurations)} configurations.")
    configurations = [jnp.asarray(R) for R in configurations]
    _check_each("configuration", potentials, configurations, _check_configuration)
    _check_batch_size(batch_size)
    stacked, R = _padded(potentials, configurations)
    out = _run_batch(_minimize_batch, potentials, stacked, R, step_rule(optimizer), jnp.asarray(fmax, R.dtype), max_steps, batch_size)
    return _unpadded(out, configurations, R.shape[-2])


@functools.partial(jax.jit, static_argnames=("solver", "max_steps", "zero_modes_spec", "check_index", "batch_size"))
def _saddle_batch(potential, R, mode0, solver, fmax, max_steps, zero_modes_spec, check_index, batch_size=None):
    def one(p, x, m):
        return saddle_search(
            p, x, solver, fmax=fmax, max_steps=max_steps, zero_modes_spec=zero_modes_spec, mode0=m,
            check_index=check_index,
        )  # fmt: skip

    return over_batch(one, batch_size, potential, R, mode0)


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
    batch_size: int | None = None,
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
    - `batch_size`: at most this many searches at once (:func:`batch_neb`); P-RFO's exact
      Hessians make a search's step large: the shipped NNP's for the 223 held-out reactions
      (16 atoms padded) asked for 64 GB at once.

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
    _check_each("saddle", potentials, guesses, functools.partial(_check_configuration, name="guess"))
    solver = PRFO() if solver is None else solver
    _check_batch_size(batch_size)
    stacked, R = _padded(potentials, guesses)
    n_pad = R.shape[-2]
    mode0 = None
    if modes is not None:
        mode0 = jnp.stack([jnp.pad(jnp.asarray(m, x.dtype), ((0, n_pad - x.shape[0]), (0, 0))) for m, x in zip(modes, guesses)])
    specs = {resolve_zero_modes_spec(p, zero_modes_spec) for p in potentials}
    spec = specs.pop() if len(specs) == 1 else zero_modes_spec
    out = _run_batch(_saddle_batch, potentials, stacked, R, mode0, solver, jnp.asarray(fmax, R.dtype), max_steps, spec, check_index, batch_size)
    # Inside the batch every search probes the zero modes of a traced system of n_pad atoms;
    # alone, one with fixed atoms (or a single atom) probes fewer: count what it would spend.
    probed = zero_mode_probe_calls(Potential(stacked.energy_fn), R[0], spec, e0_known=True)
    results = []
    for pot, x, r in zip(potentials, guesses, _unpadded(out, guesses, n_pad)):
        extra = probed - zero_mode_probe_calls(pot, x, zero_modes_spec, e0_known=True)
        results.append(eqx.tree_at(lambda s: s.n_force_calls, r, r.n_force_calls - extra))
    return results


# ---------------------------------------------------------------------------------------
# many reactions: the batched jaxrxn.find_reaction
# ---------------------------------------------------------------------------------------


def find_reactions(
    pairs: Sequence[tuple],
    potentials: Sequence[Potential],
    *,
    relax: bool = True,
    interpolation: str | None = None,
    n_images: int = 8,
    neb_fmax: float | None = None,
    neb_max_steps: int | None = None,
    fmax: float = 0.01,
    saddle_max_steps: int = 300,
    rmsd_tol: float = 0.2,
    refine_interpolation_max: bool | None = None,
    hessian_from: Sequence[Potential | None] | None = None,
    ts_guess: Sequence | None = None,
    workers: int = 1,
    time_limit: float | None = None,
    batch_size: int | None = None,
    progress: bool | Callable[[str], None] = False,
    on_result: Callable[[int, ReactionResult], None] | None = None,
) -> list[ReactionResult]:
    """Transition states of many reactions, refined and verified by IRCs.

    **Arguments:**

    - `pairs`: ``(R_initial, R_final)`` end states ``(n_atoms_i, 3)`` (Å) per reaction.
    - `potentials`: one :class:`Potential` per reaction. JAX potentials run as padded
      batches, one per kind of energy (all EMT, all Morse, ...; any atom counts); outside
      calculators run :func:`jaxrxn.find_reaction` on `workers` threads at once.
    - the other keywords as for :func:`jaxrxn.find_reaction`, applied to every reaction
      (the CI-NEB's `neb_fmax` and `neb_max_steps` default per reaction as there: loose
      for an outside calculator, 0.1 eV/Å and 500 steps on a JAX potential; a padded
      batch takes one threshold, not a sequence; `refine_interpolation_max` is for outside
      calculators, which run :func:`jaxrxn.find_reaction` itself: ``True`` with a JAX
      potential among the potentials is refused).
    - `hessian_from`: one JAX potential (or ``None``) per reaction whose exact Hessian
      starts that reaction's saddle searches (``find_reaction``'s `hessian_from`: free
      molecules on outside calculators only).
    - `ts_guess`: one transition-state guess (or ``None``) per reaction where the first
      saddle search starts (``find_reaction``'s `ts_guess`: an array, or a function of the
      end states such as :class:`jaxrxn.generative.ts_generator.PretrainedTSGuess`);
      outside calculators only (refused with reactions on JAX potentials, whose padded
      batches have no such stage).
    - `time_limit`: wall-clock seconds each reaction on an outside calculator may run, from
      its start (:func:`jaxrxn.potentials.external.time_limit`): past them it ends at the
      stage reached, its message saying the time limit was reached, and the next reaction
      starts; so one reaction whose SCF struggles cannot hold up the rest. Refused
      (``ValueError``) with reactions on JAX potentials, whose padded batches the step caps
      bound.
    - `batch_size`: at most this many reactions of a padded batch in one vmapped chunk, the
      chunks one after another (:func:`over_batch`): each stage takes less memory, with the
      same results up to rounding; ``None``: all at once. The saddle stage's exact Hessians
      dominate: the shipped NNP on the 223 held-out reactions of its data set (16 atoms
      padded) asked for 64 GB at once there.
    - `on_result`: called as ``on_result(index, result)`` as soon as a reaction is done (a
      padded batch's reactions together, an outside calculator's one by one), e.g. to
      write a checkpoint.

    **Returns:** one :class:`jaxrxn.reaction.ReactionResult` per reaction, in input order.
    Raises ``ValueError`` for unusable end points (naming the reaction) before any work.

    Outside calculators keep `workers` reactions in flight; once the process holds half
    the memory mappings Linux allows (:func:`jaxrxn._jit.near_map_limit`: each new atom
    count compiles the pipeline's solvers again, and kept, they would stop a long run over
    many sizes), no new reaction starts until those in flight are done, JAX's
    compiled code is dropped and the run goes on.
    """
    from jaxrxn._jit import near_map_limit
    from jaxrxn.potentials.external import HostEnergy
    from jaxrxn.potentials.external import time_limit as limited
    from jaxrxn.reaction import band_schedule, check_end_points, check_hessian_potential, find_reaction, free_molecule

    if len(pairs) != len(potentials):
        raise ValueError(f"{len(pairs)} reactions but {len(potentials)} potentials.")
    schedule, _ = band_schedule(neb_fmax, neb_max_steps, outside=False)  # bad values fail here, before any work
    _check_batch_size(batch_size)
    padded = not all(isinstance(p.energy_fn, HostEnergy) for p in potentials)  # some run as a padded batch
    if len(schedule) > 1 and padded:
        raise ValueError(f"a padded batch on a JAX potential takes one neb_fmax, not a sequence; got {neb_fmax!r}.")
    if time_limit is not None and padded:
        raise ValueError("time_limit is for outside calculators; a padded batch on a JAX potential is bounded by its step caps.")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit}.")
    if refine_interpolation_max and padded:
        raise ValueError("refine_interpolation_max is for outside calculators; a padded batch on a JAX potential has no such stage.")
    _check_each("reaction", potentials, pairs, lambda pot, pair: check_end_points(*pair, **_periodicity(pot)))
    hessian_from = [None] * len(pairs) if hessian_from is None else list(hessian_from)
    if len(hessian_from) != len(pairs):
        raise ValueError(f"{len(pairs)} reactions but {len(hessian_from)} hessian_from entries.")

    def check_hessian(pot, k) -> None:
        if hessian_from[k] is not None:
            usable = isinstance(pot.energy_fn, HostEnergy) and free_molecule(pot, np.shape(pairs[k][0])[0])
            check_hessian_potential(hessian_from[k], pot.system.numbers if usable else None, usable)

    _check_each("reaction", potentials, range(len(pairs)), check_hessian)
    ts_guess = [None] * len(pairs) if ts_guess is None else list(ts_guess)
    if len(ts_guess) != len(pairs):
        raise ValueError(f"{len(pairs)} reactions but {len(ts_guess)} ts_guess entries.")
    if padded and any(g is not None for g in ts_guess):
        raise ValueError("ts_guess is for outside calculators; a padded batch on a JAX potential has no such stage.")

    def check_guess(pot, k) -> None:
        if ts_guess[k] is not None and not callable(ts_guess[k]):
            check_configuration(ts_guess[k], name="TS guess", n_atoms=np.shape(pairs[k][0])[0], dim=np.shape(pairs[k][0])[1], **_periodicity(pot))

    _check_each("reaction", potentials, range(len(pairs)), check_guess)
    options = dict(
        relax=relax, interpolation=interpolation, n_images=n_images, neb_fmax=neb_fmax, neb_max_steps=neb_max_steps,
        fmax=fmax, saddle_max_steps=saddle_max_steps, rmsd_tol=rmsd_tol, refine_interpolation_max=refine_interpolation_max,
    )  # fmt: skip
    results: list = [None] * len(pairs)
    host = [i for i, p in enumerate(potentials) if isinstance(p.energy_fn, HostEnergy)]
    on_jax = [i for i in range(len(pairs)) if i not in set(host)]
    # one batch per kind of energy; molecules and the rest differ in static settings
    # (rigid-body removal, interpolation)
    groups: dict[tuple, list[int]] = {}
    for i in on_jax:
        groups.setdefault((type(potentials[i].energy_fn), free_molecule(potentials[i], np.shape(pairs[i][0])[0])), []).append(i)
    for (_, molecule), idx in groups.items():
        _log(progress, f"{len(idx)} {'molecular ' if molecule else ''}reactions on a JAX potential as one padded batch")
        done = _batched([pairs[i] for i in idx], [potentials[i] for i in idx], molecule, options, progress, batch_size)
        for i, r in zip(idx, done):
            results[i] = r
            if on_result is not None:
                on_result(i, r)

    def run_one(i: int) -> ReactionResult:
        with limited(potentials[i], time_limit) if time_limit is not None else contextlib.nullcontext():
            return find_reaction(*pairs[i], potentials[i], hessian_from=hessian_from[i], ts_guess=ts_guess[i], **options)

    if host:
        _log(progress, f"{len(host)} reactions on outside calculators, {workers} at a time")
        size = max(1, workers)
        waiting = list(reversed(host))
        in_flight: dict = {}
        with ThreadPoolExecutor(max_workers=size) as pool:
            while waiting or in_flight:
                # Compiled code may only be dropped with no reaction in flight: near the
                # limit, stop starting reactions until those running are done.
                draining = near_map_limit()
                if draining and not in_flight:
                    jax.clear_caches()
                    draining = False
                while waiting and len(in_flight) < size and not draining:
                    i = waiting.pop()
                    in_flight[pool.submit(run_one, i)] = i
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = in_flight.pop(fut)
                    results[i] = fut.result()
                    if on_result is not None:
                        on_result(i, results[i])
    return results


def _log(progress, text: str) -> None:
    if progress is True:
        print(f"jaxrxn reactions: {text}", file=sys.stderr, flush=True)
    elif callable(progress):
        progress(text)


@functools.partial(jax.jit, static_argnames=("method", "n_images"))
def _interpolate_batch(R0, R1, system, method: str, n_images: int):
    from jaxrxn.path.geodesic_interpolation import geodesic
    from jaxrxn.path.interpolation import idpp, linear

    def one(a, b, s):
        if method == "geodesic":
            return geodesic(a, b, n_images, s).path
        return (idpp if method == "idpp" else linear)(a, b, n_images, system=s)

    return jax.vmap(one)(R0, R1, system)


@functools.partial(jax.jit, static_argnames=("options", "batch_size"))
def _irc_batch(potential, R, options: tuple, batch_size=None):
    from jaxrxn.irc import irc

    return over_batch(lambda p, x: irc(p, x, **dict(options)), batch_size, potential, R)


@jax.jit
def _energies(potential, R):
    return jax.vmap(lambda p, x: p.energy(x))(potential, R)


def _batched(pairs, potentials, molecule: bool, options: dict, progress, batch_size: int | None = None) -> list:
    from jaxrxn.geometry import rmsd_numpy
    from jaxrxn.optimize import LBFGS
    from jaxrxn.path.elastic_band import improved_tangents
    from jaxrxn.reaction import (
        IRC_END_FMAX, IRC_OPTIONS, ReactionResult, _aligned_onto, _connects, band_schedule, irc_from_initial_side, judge_saddle, matched_irc_ends,
        not_connected_message, off_second_order_point, pipeline_neb,
    )  # fmt: skip
    from jaxrxn.vibrations import vibrations

    t_start = time.perf_counter()
    n = len(pairs)
    fmax = options["fmax"]
    interpolation = options["interpolation"] or ("geodesic" if molecule else "idpp")
    if interpolation == "geodesic" and not molecule:
        raise ValueError("geodesic interpolation is for free molecules (atomic numbers, no cell, no fixed atoms).")
    if interpolation not in ("geodesic", "idpp", "linear"):
        raise ValueError(f"unknown interpolation {interpolation!r}; use 'geodesic', 'idpp' or 'linear'.")
    out = [ReactionResult() for _ in range(n)]
    active = list(range(n))
    stacked = stack_potentials(potentials)
    n_pad = stacked.system.numbers.shape[-1]

    def stage(name: str, t0: float, calls: Sequence[int], idx: Sequence[int]) -> None:
        for i, c in zip(idx, calls):
            out[i].n_force_calls_by_stage[name] = out[i].n_force_calls_by_stage.get(name, 0) + int(c)
        _log(progress, f"{name}: {len(idx)} reactions, {sum(int(c) for c in calls)} force calls, {time.perf_counter() - t0:.1f} s")

    def fail(i: int, stage_name: str, message: str, R_keep=None) -> None:
        out[i].failed_stage, out[i].message = stage_name, message
        if R_keep is not None:
            out[i].R_ts = np.asarray(R_keep)
        active.remove(i)

    def sub(idx):
        return [potentials[i] for i in idx]

    # --- relax and align ---------------------------------------------------------------
    t0 = time.perf_counter()
    R0 = [np.asarray(p[0], float) for p in pairs]
    R1 = [np.asarray(p[1], float) for p in pairs]
    if options["relax"]:
        mins = batch_minimize(potentials * 2, R0 + R1, LBFGS(maxstep=0.2), fmax=fmax, max_steps=1000, batch_size=batch_size)
        stage("relax", t0, [int(mins[i].n_force_calls) + int(mins[n + i].n_force_calls) for i in range(n)], range(n))
        for i in range(n):
            for m in (mins[i], mins[n + i]):
                if i in active and not (bool(jnp.all(jnp.isfinite(m.R))) and np.isfinite(float(m.energy))):
                    fail(i, "relax", RESULTS[m.result], m.R)
                elif i in active and not bool(m.converged):
                    fail(i, "relax", f"an end state did not relax to fmax {fmax} eV/Å: {RESULTS[m.result]}", m.R)
        R0 = [np.asarray(mins[i].R) for i in range(n)]
        R1 = [np.asarray(mins[n + i].R) for i in range(n)]
        e0 = [float(mins[i].energy) for i in range(n)]
        e1 = [float(mins[n + i].energy) for i in range(n)]
    else:
        padded = jnp.stack([pad_positions(R, n_pad) for R in R0 + R1])
        e = np.asarray(_energies(jax.tree_util.tree_map(lambda x: jnp.concatenate([x, x]), stacked), padded))
        e0, e1 = list(e[:n]), list(e[n:])
        stage("relax", t0, [2] * n, range(n))
    for i in list(active):
        if molecule:
            R1[i] = _aligned_onto(R1[i], R0[i])
        r = out[i]
        r.R_initial, r.R_final, r.e_initial, r.e_final = R0[i], R1[i], e0[i], e1[i]
        r.reaction_energy = e1[i] - e0[i]
        if not (np.isfinite(e0[i]) and np.isfinite(e1[i])):
            fail(i, "relax", "an end state has a non-finite energy", R0[i])
        elif (rmsd_numpy(R0[i], R1[i]) if molecule else np.max(np.abs(R0[i] - R1[i]))) < 1e-3:
            fail(i, "input", "the initial and final states are the same structure: there is no reaction")

    # --- interpolate, CI-NEB ---------------------------------------------------------------
    idx = list(active)
    if idx:
        t0 = time.perf_counter()
        part = stack_potentials(sub(idx), n_pad)
        bands = _interpolate_batch(
            jnp.stack([pad_positions(R0[i], n_pad) for i in idx]), jnp.stack([pad_positions(R1[i], n_pad) for i in idx]),
            part.system, interpolation, options["n_images"],
        )  # fmt: skip
        bands = [np.asarray(b[:, : R0[i].shape[0]]) for i, b in zip(idx, bands)]
        stage("interpolation", t0, [0] * len(idx), idx)
        t0 = time.perf_counter()
        solver = pipeline_neb(molecule)
        ((neb_fmax,), (neb_max_steps,)) = band_schedule(options["neb_fmax"], options["neb_max_steps"], outside=False)
        nebs = batch_neb(sub(idx), bands, solver, fmax=neb_fmax, max_steps=neb_max_steps, batch_size=batch_size)
        stage("neb", t0, [r.n_force_calls for r in nebs], idx)
    tangents, starts = {}, {}
    for i, band in zip(idx, nebs if idx else []):
        r = out[i]
        r.R_final = R1[i] = np.asarray(band.path[-1])  # geodesic moves the final state rigidly
        r.band, r.band_energies, r.neb_converged = np.asarray(band.path), np.asarray(band.energies), bool(band.converged)
        ts = int(band.ts_index)
        # as find_reaction: a diverged band's best images (the rollback kept them) go on to the
        # saddle search; a JAX potential has no calculator failures to give up on
        if not np.all(np.isfinite(r.band_energies)):
            fail(i, "neb", RESULTS[band.result], r.band[ts])
        elif r.band_energies[ts] <= max(r.band_energies[0], r.band_energies[-1]):
            fail(i, "neb", "the band has no energy maximum between the end states (no barrier found)", r.band[ts])
        else:
            system = potentials[i].system
            tangents[i] = np.asarray(improved_tangents(band.path, band.energies, system.cell, system.pbc))[ts - 1]
            starts[i] = r.band[ts]

    # --- saddle, frequencies ------------------------------------------------------------------
    def saddles_from(idx: list[int], starts: dict, modes: dict) -> dict:
        """One batched saddle search from ``starts[i]`` (first mode ``modes[i]``) for the
        reactions `idx`, each judged as find_reaction does (:func:`judge_saddle`); returns
        ``{i: (failure, vibrations)}`` of those that reached a point of the wrong index
        (left active), the others failed or on to the IRC."""
        t0 = time.perf_counter()
        saddles = batch_saddle_search(
            sub(idx), [starts[i] for i in idx], PRFO(), fmax=fmax, max_steps=options["saddle_max_steps"],
            modes=[modes[i] for i in idx], check_index=True, batch_size=batch_size,
        )  # fmt: skip
        stage("saddle", t0, [s.n_force_calls for s in saddles], idx)
        wrong_index = {}
        for i, res in zip(idx, saddles):
            failure, vib = judge_saddle(out[i], res, starts[i], functools.partial(frequencies, i) if molecule else None)
            if vib is not None and failure is not None:
                wrong_index[i] = (failure, vib)
            elif failure is not None:
                fail(i, *failure)
        return wrong_index

    def frequencies(i: int, R_ts: np.ndarray):
        vib = vibrations(potentials[i], R_ts)
        stages = out[i].n_force_calls_by_stage
        stages["frequencies"] = stages.get("frequencies", 0) + vib.n_force_calls
        return vib

    wrong_index = saddles_from(list(active), starts, tangents) if active else {}
    # as find_reaction: off a point of index 2 or more along its second imaginary mode, one
    # way and then the other (off_second_order_point)
    for i in [i for i in wrong_index if out[i].saddle_index < 2]:
        fail(i, *wrong_index[i][0])
    escapes = {i: off_second_order_point(out[i].R_ts, vib.modes) for i, (_, vib) in wrong_index.items() if out[i].saddle_index >= 2}
    for attempt in range(2):
        idx = list(escapes)
        if not idx:
            break
        wrong_index = saddles_from(idx, {i: escapes[i][attempt][0] for i in idx}, {i: escapes[i][attempt][1] for i in idx})
        escapes = {i: escapes[i] for i in wrong_index}
    for i in escapes:
        fail(i, *wrong_index[i][0])

    # --- IRC (from the Hessian's unstable mode, the vibrational mode of a molecule) and verify
    idx = list(active)
    if idx:
        t0 = time.perf_counter()
        part = stack_potentials(sub(idx), n_pad)
        R_ts = jnp.stack([pad_positions(out[i].R_ts, n_pad) for i in idx])
        irc_options = tuple(sorted({**IRC_OPTIONS, "fmax": IRC_END_FMAX, "shallow_fmax": fmax}.items()))
        paths = _members(_irc_batch(part, R_ts, irc_options, batch_size), [out[i].R_ts.shape[0] for i in idx], n_pad)
        # alone, a molecule's IRC starts along the given vibrational mode: no zero-mode
        # probes and no Hessian; here each starts from its own Hessian's lowest mode
        probes = zero_mode_probe_calls(Potential(part.energy_fn), R_ts[0], "auto", e0_known=True)
        alone = [0 if molecule else zero_mode_probe_calls(potentials[i], out[i].R_ts, "auto", e0_known=True) for i in idx]
        calls = [int(p.n_force_calls) - probes + a for p, a in zip(paths, alone)]
        stage("irc", t0, calls, idx)
    ends: dict[int, list[np.ndarray]] = {}  # the IRC's (reverse, forward) end minima

    def match_ends(i: int, R_ends, energies) -> None:
        numbers = np.asarray(potentials[i].system.numbers) if molecule else None
        out[i].irc_match, out[i].irc_ends = matched_irc_ends(R_ends, energies, R0[i], R1[i], numbers, options["rmsd_tol"], molecule)
        irc_from_initial_side(out[i])

    for i, path in zip(idx, paths if idx else []):
        r = out[i]
        r.n_hessian_calls += 0 if molecule else int(path.n_hessian_calls)
        nf, nr = int(path.forward.n_points), int(path.reverse.n_points)
        r.irc_path = np.concatenate([np.asarray(path.reverse.path[:nr])[::-1], r.R_ts[None], np.asarray(path.forward.path[:nf])])
        r.irc_energies = np.asarray(path.profile()[1])
        if path.result == RESULTS.nonfinite_state:
            fail(i, "irc", RESULTS[path.result], r.R_ts)
            continue
        ends[i] = [np.asarray(path.reverse.R_min), np.asarray(path.forward.R_min)]
        match_ends(i, ends[i], (float(path.reverse.energy_min), float(path.forward.energy_min)))
    # as in find_reaction: ends that do not match are first relaxed to the saddle's fmax
    loose = [i for i in ends if not _connects(out[i].irc_match)] if fmax < IRC_END_FMAX else []
    if loose:
        t0 = time.perf_counter()
        mins = batch_minimize(sub(loose) * 2, [ends[i][0] for i in loose] + [ends[i][1] for i in loose], LBFGS(maxstep=0.2), fmax=fmax,
                              max_steps=1000, batch_size=batch_size)  # fmt: skip
        k = len(loose)
        stage("irc", t0, [int(mins[j].n_force_calls) + int(mins[k + j].n_force_calls) for j in range(k)], loose)
        for j, i in enumerate(loose):
            pair = (mins[j], mins[k + j])
            if not all(np.isfinite(float(m.energy)) for m in pair):
                fail(i, "irc", "the IRC's ends did not relax (non-finite energy)", out[i].R_ts)
                ends.pop(i)
                continue
            match_ends(i, [np.asarray(m.R) for m in pair], tuple(float(m.energy) for m in pair))
    for i in ends:
        r = out[i]
        r.connects = _connects(r.irc_match)
        if not r.connects:
            fail(i, "verify", not_connected_message(r.irc_match), r.R_ts)
            continue
        r.converged, r.message, r.ts_source = True, "successful", "band"
    seconds = time.perf_counter() - t_start
    for r in out:
        r.n_force_calls = sum(r.n_force_calls_by_stage.values())
        r.seconds = seconds  # the batch's wall time: its reactions ran together
    return out
