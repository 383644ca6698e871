"""Stepwise reactions: elementary steps joined through intermediates.

:func:`jaxrxn.find_reaction` verifies one elementary step: the IRC of the saddle it finds
must end in both end states. When the band between them passes another minimum, that
saddle may join one end state to the other minimum instead, and the reaction is reported
as not connected although the saddle is a verified step of it. :func:`find_mechanism`
goes on from there: an IRC end that is neither end state is an intermediate, and the legs
still missing (initial state -> intermediate, intermediate -> final state, or both when the
saddle joins two intermediates) are searched the same way, again and again, until every leg
is a verified elementary step or `max_steps` are spent. A saddle that only turns one end
state into another of its conformers (cis and trans, say) is no step of the reaction: the
leg is searched again to that conformer. On Muller-Brown A -> B the band passes the
minimum C and the mechanism is A -> C -> B through both saddles of the surface.

On the shipped GFN2-xTB data set's held-out reactions (benchmarks/dataset_stepwise.py) it
verifies 14 of the 30 whose single-step pipeline does not (16 with 5 searches): 8 as single
saddles found after the first search (5 of them the data set's TS, 4 where the band had
passed by way of a conformational saddle of the product), 5 as mechanisms of two steps and 1
of three (4 with every saddle below the data set's TS).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from jaxrxn.potentials.core import Potential
from jaxrxn.reaction import (
    ReactionResult,
    _connects,
    _log,
    bond_graph,
    find_reaction,
    free_molecule,
    irc_from_initial_side,
    matched_irc_ends,
    not_connected_message,
    same_species,
)

__all__ = ["MechanismResult", "find_mechanism"]


@dataclasses.dataclass
class MechanismResult:
    """Outcome of :func:`find_mechanism` (host-side). Energies in eV, positions in Å.

    - `steps`: the elementary steps from the initial to the final state, each a
      :class:`jaxrxn.reaction.ReactionResult` whose `R_initial`, `R_final` are the step's
      own end minima; a failed search stands where its leg belongs (`failed_step`).
    - `converged`: every step verified and together they join the initial state to the
      final state.
    - `barrier`: the highest saddle's energy minus the initial state's; `ts_step`: the index
      of that step. `energy_span`: the largest rise from a minimum to a later saddle (the
      effective barrier when an intermediate lies below the initial state).
    - `intermediate_energies`: each intermediate's energy minus the initial state's.
    - `n_searches`: the :func:`jaxrxn.find_reaction` searches made, at least ``len(steps)``
      (more when a search's saddle was dropped: a conformational change of an end state, or
      steps replaced by one that joins the end states by itself); `n_force_calls`: all of
      their force calls.
    - `failed_step`: index in `steps` of the search that failed, ``None`` if none;
      `message` says why.
    """

    steps: list[ReactionResult] = dataclasses.field(default_factory=list)
    converged: bool = False
    barrier: float | None = None
    ts_step: int | None = None
    energy_span: float | None = None
    intermediate_energies: list[float] = dataclasses.field(default_factory=list)
    n_searches: int = 0
    n_force_calls: int = 0
    failed_step: int | None = None
    message: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The scalar fields, and each step's :meth:`ReactionResult.to_json`."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "steps"}
        out["steps"] = [s.to_json() for s in self.steps]
        return out


def _between(result: ReactionResult, R_a: np.ndarray, R_b: np.ndarray, e_a: float, e_b: float,
             numbers, rmsd_tol: float, molecule: bool) -> ReactionResult:  # fmt: skip
    """The search `result` as the step from the minimum `R_a` to `R_b` (energies `e_a`,
    `e_b`, eV): its IRC's ends matched against them (:func:`matched_irc_ends`), verified
    when both match."""
    match, ends = matched_irc_ends(result.irc_ends, result.irc_match["irc_end_energies"], R_a, R_b, numbers, rmsd_tol, molecule)
    connects = bool(_connects(match))
    return irc_from_initial_side(dataclasses.replace(
        result, R_initial=R_a, R_final=R_b, e_initial=e_a, e_final=e_b, reaction_energy=e_b - e_a,
        barrier=result.ts_energy - e_a, reverse_barrier=result.ts_energy - e_b, irc_match=match, irc_ends=ends,
        connects=connects, converged=connects, failed_stage=None if connects else "verify",
        message="successful" if connects else result.message,
    ))  # fmt: skip


class _Split(NamedTuple):
    """How the saddle of a search that does not join its leg's end states splits the leg:
    `step` is that saddle as a verified step (``None`` when it is only a conformational
    change of an end state: dropped); `before` / `after` are the minima ``(R, energy)``
    still to be reached from the leg's initial state / to reach its final state from
    (``None`` on a side whose IRC end is that side's end state)."""

    step: ReactionResult | None
    before: tuple[np.ndarray, float] | None
    after: tuple[np.ndarray, float] | None


def _split(result: ReactionResult, numbers, rmsd_tol: float, molecule: bool) -> _Split | None:
    """The :class:`_Split` of `result`, a search whose IRC (``irc_ends``, in ``irc_match``'s
    order) does not join its end states, or ``None`` when its saddle shows no way on:

    - one end is its side's end state, the other a new minimum (an intermediate; also a
      conformer of the matched state): the saddle is the step between them, and the rest of
      the leg runs from or to the intermediate;
    - one end matches its state by bonds only, and the other is a conformer of that state
      too (e.g. cis and trans), or the same structure (a flat saddle whose two ways end
      alike): the saddle is a conformational change within the state and is dropped; the
      leg ends at the conformer on the other side instead, which is that state by
      :func:`jaxrxn.find_reaction`'s criterion;
    - neither end matches: the saddle is the step between two intermediates, with a leg to
      the first and one from the second;
    - ``None``: both ends are the matched state, or one structure other than a conformer of
      an end state, or an end is its state's species with like atoms renumbered (a
      symmetric product or a bifurcation, not an intermediate).
    """
    if result.failed_stage != "verify" or result.irc_ends is None:
        return None
    initial, final = result.irc_match["initial"], result.irc_match["final"]
    ends, energies = np.asarray(result.irc_ends), [float(e) for e in result.irc_match["irc_end_energies"]]
    if initial.get("renumbered") or final.get("renumbered"):
        return None
    one_structure = same_species(ends[0], ends[1], None, rmsd_tol, molecule)[0]  # a saddle both of whose ways end alike
    new = [None if m["match"] else (ends[k], energies[k]) for k, m in enumerate((initial, final))]
    if new[0] is not None and new[1] is not None:
        return None if one_structure else _Split(_between(result, ends[0], ends[1], *energies, numbers, rmsd_tol, molecule), *new)
    k = 0 if new[0] is not None else 1  # the side of the new minimum
    state = result.R_final if k == 0 else result.R_initial  # the matched one
    if same_species(new[k][0], state, None, rmsd_tol, molecule)[0]:
        return None  # both ends are the matched state
    if not one_structure:
        sides = [(result.R_initial, result.e_initial), (result.R_final, result.e_final)]
        sides[k] = new[k]
        (R_a, e_a), (R_b, e_b) = sides
        step = _between(result, R_a, R_b, e_a, e_b, numbers, rmsd_tol, molecule)
        if step.converged:
            return _Split(step, *new)
    by_bonds_only = (final if k == 0 else initial)["rmsd"] > rmsd_tol
    if by_bonds_only and numbers is not None and np.array_equal(bond_graph(new[k][0], numbers), bond_graph(state, numbers)):
        return _Split(None, *new)  # the matched end has the state's bonds only, as the new one
    return None


class _JoinsEndStates(Exception):
    """Raised inside :func:`find_mechanism` by a later search whose saddle's IRC joins the
    mechanism's own end states: that saddle is the reaction, one step (`step`)."""

    def __init__(self, step: ReactionResult):
        super().__init__("the saddle joins the end states")
        self.step = step


def _joining_step(steps: list[ReactionResult], end_states: tuple, numbers, rmsd_tol: float, molecule: bool) -> ReactionResult | None:
    """The step, of the lowest saddle, whose IRC ends match the mechanism's own
    `end_states` ``(R_initial, R_final, e_initial, e_final)`` by
    :func:`jaxrxn.reaction.match_irc_ends`' criteria (as that step alone, between them),
    or ``None``. A leg to an intermediate that is a conformer of an end state can find such
    a step: then the reaction is that one step, as :func:`jaxrxn.find_reaction` would have
    verified it had its band found that saddle."""
    joining = [s for s in (_between(step, *end_states, numbers, rmsd_tol, molecule) for step in steps) if s.converged]
    return min(joining, key=lambda s: s.ts_energy) if joining else None


def find_mechanism(
    R_initial,
    R_final,
    potential: Potential,
    *,
    max_steps: int = 3,
    relax: bool = True,
    rmsd_tol: float = 0.2,
    progress: bool | Callable[[str], None] = False,
    first: ReactionResult | None = None,
    **options,
) -> MechanismResult:
    """Elementary steps and intermediates from `R_initial` to `R_final`.

    **Arguments:**

    - `R_initial`, `R_final`, `potential`, `relax`, `rmsd_tol`, `progress` and `options`
      (``interpolation``, ``n_images``, ``neb_fmax``, ``neb_max_steps``, ``fmax``,
      ``saddle_max_steps``, ``remove_rigid``, ``ts_guess``, ``refine_interpolation_max``): as for
      :func:`jaxrxn.find_reaction`, which searches each leg (a `ts_guess` serves the first
      leg only; the legs from an intermediate start from minima already relaxed, so they
      are not relaxed again).
    - `max_steps`: the most elementary steps (searches) to spend; at least 1. With 1 this
      is :func:`jaxrxn.find_reaction` alone.
    - `first`: the first search's result when it was already made, with these end states
      and options (e.g. by :func:`jaxrxn.find_reactions`' padded batch): the mechanism goes
      on from it instead of searching again (it counts as a search, its force calls
      included; `ts_guess` is then unused). Its end states, relaxed or not, are the
      mechanism's.

    When a search's saddle does not join its leg's end states, its IRC ends (`irc_ends`)
    say how to go on: a new minimum on one side or on both (an intermediate) makes the
    saddle the step to, from or between intermediates, and the legs still missing are
    searched next (the one before the saddle first); a saddle between two conformers of an
    end state (both ends have its bonds, one is not within `rmsd_tol` of it) is no step of
    the reaction: it is dropped, and the leg is searched again to the conformer on the
    other side, which is that end state by :func:`jaxrxn.find_reaction`'s criterion.

    When one of the steps found, or a later search's saddle, joins the end states by itself
    (its IRC ends match them as :func:`jaxrxn.find_reaction` matches, e.g. by bonds when the
    intermediate was a conformer of an end state), the mechanism is that one step. A search that fails
    otherwise (no saddle, both IRC ends one structure or an end renumbered, an
    intermediate met before, the steps spent) ends the mechanism with ``converged=False``.
    Raises ``ValueError`` for unusable end points or `max_steps` < 1.
    """
    if int(max_steps) < 1:
        raise ValueError(f"max_steps must be at least 1; got {max_steps}.")
    if first is not None and first.R_initial is not None and np.shape(first.R_initial) != np.shape(R_initial):
        raise ValueError(f"first is a search of {np.shape(first.R_initial)[0]} atoms; the end states have {np.shape(R_initial)[0]}.")
    molecule = free_molecule(potential, np.shape(R_initial)[0])
    numbers = np.asarray(potential.system.numbers, int) if molecule else None
    out = MechanismResult()
    budget = [int(max_steps)]  # searches left (some kept for later legs while one runs)
    seen: list[np.ndarray] = []  # the end states (as the first search relaxed them), then each intermediate
    end_states: tuple = ()  # (R_initial, R_final, e_initial, e_final) of the first search

    def search(R_a, R_b, relax_ends: bool, guess) -> ReactionResult:
        budget[0] -= 1
        out.n_searches += 1
        if out.n_searches == 1 and first is not None:
            result = first
        else:
            _log(progress, f"mechanism: search {out.n_searches}")
            result = find_reaction(R_a, R_b, potential, relax=relax_ends, rmsd_tol=rmsd_tol, ts_guess=guess, progress=progress, **options)
        out.n_force_calls += result.n_force_calls
        out.seconds += result.seconds
        return result

    def legs(R_a, R_b, relax_ends: bool, guess=None) -> tuple[list[ReactionResult], int | None, str]:
        """Steps joining `R_a` to `R_b`, the index among them of a failed search (or
        ``None``) and why it failed."""
        nonlocal end_states
        result = search(R_a, R_b, relax_ends, guess)
        if result.converged:
            return [result], None, ""
        if not seen:  # the end states themselves: a saddle leading back to one is no way on
            seen.extend([result.R_initial, result.R_final])
            end_states = (result.R_initial, result.R_final, result.e_initial, result.e_final)
        elif result.failed_stage == "verify":  # a leg's band may find the reaction's own saddle
            whole = _between(result, *end_states, numbers, rmsd_tol, molecule)
            if whole.converged:
                raise _JoinsEndStates(whole)
        split = _split(result, numbers, rmsd_tol, molecule)
        if split is None:
            return [result], 0, f"{result.failed_stage}: {result.message}"
        todo = [m for m in (split.before, split.after) if m is not None]
        if len(todo) > budget[0]:
            return [result], 0, f"{result.failed_stage}: {result.message} (max_steps spent)"
        if any(same_species(R, S, None, rmsd_tol, molecule)[0] for R, _ in todo for S in seen):
            return [result], 0, "verify: the saddle leads to an intermediate met before"
        seen.extend(R for R, _ in todo)
        if split.step is None:
            _log(progress, "mechanism: the saddle is a conformational change of an end state; searching to its other conformer")
        else:
            a, b = ("an intermediate" if m is not None else f"the {side} state" for m, side in ((split.before, "initial"), (split.after, "final")))
            _log(progress, f"mechanism: the saddle joins {a} to {b}; searching the rest")
        steps = [] if split.step is None else [split.step]
        if split.before is not None:
            reserve = len(todo) - 1  # kept for the leg after the saddle
            budget[0] -= reserve
            before, failed, why = legs(result.R_initial, split.before[0], False)
            budget[0] += reserve
            steps = [*before, *steps]
            if failed is not None:
                return steps, failed, why
        if split.after is not None:
            after, failed, why = legs(split.after[0], result.R_final, False)
            if failed is not None:
                return [*steps, *after], len(steps) + failed, why
            steps = [*steps, *after]
        if split.step is None:  # the leg reached the matched state's conformer: that state, by its bonds
            if split.before is not None:
                k, s = len(steps) - 1, steps[-1]
                steps[k] = _between(s, s.R_initial, result.R_final, s.e_initial, result.e_final, numbers, rmsd_tol, molecule)
            else:
                k, s = 0, steps[0]
                steps[k] = _between(s, result.R_initial, s.R_final, result.e_initial, s.e_final, numbers, rmsd_tol, molecule)
            if not steps[k].converged:
                return steps, k, f"verify: {not_connected_message(steps[k].irc_match)}"
        return steps, None, ""

    try:
        steps, failed, why = legs(R_initial, R_final, relax, options.pop("ts_guess", None))
    except _JoinsEndStates as joined:
        _log(progress, "mechanism: a later search's saddle joins the end states by itself")
        steps, failed, why = [joined.step], None, ""
    if failed is None and len(steps) > 1:
        direct = _joining_step(steps, end_states, numbers, rmsd_tol, molecule)
        if direct is not None:
            _log(progress, "mechanism: one of the steps joins the end states by itself")
            steps = [direct]
    out.steps, out.failed_step = steps, failed
    out.converged = failed is None and all(s.converged for s in steps)
    e0 = steps[0].e_initial
    if e0 is not None:
        out.intermediate_energies = [s.e_final - e0 for s in steps[:-1] if s.e_final is not None]
        saddles = [(k, s.ts_energy) for k, s in enumerate(steps) if s.ts_energy is not None]
        if saddles:
            out.ts_step, e_ts = max(saddles, key=lambda kv: kv[1])
            out.barrier = e_ts - e0
            lowest, span = e0, -np.inf
            for s in steps:
                if s.ts_energy is not None:
                    span = max(span, s.ts_energy - lowest)
                if s.e_final is not None:
                    lowest = min(lowest, s.e_final)
            out.energy_span = float(span)
    out.message = "successful" if out.converged else f"step {failed + 1 if failed is not None else len(steps)}: {why}"
    _log(progress, f"mechanism: {len(steps)} step(s), {'verified' if out.converged else 'NOT verified'}")
    return out
