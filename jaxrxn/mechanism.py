"""Stepwise reactions: elementary steps joined through intermediates.

:func:`jaxrxn.find_reaction` verifies one elementary step: the IRC of the saddle it finds
must end in both end states. When the band between them passes another minimum, that
saddle may join one end state to the other minimum instead, and the reaction is reported
as not connected although the saddle is a verified step of it. :func:`find_mechanism`
goes on from there: the IRC's end that is neither end state is an intermediate, and the
leg still missing (intermediate -> final state, or initial state -> intermediate) is
searched the same way, again and again, until every leg is a verified elementary step or
`max_steps` are spent. On Muller-Brown A -> B the band passes the minimum C and the
mechanism is A -> C -> B through both saddles of the surface.

On the shipped GFN2-xTB data set's held-out reactions (benchmarks/dataset_stepwise.py) it
verifies 8 of the 30 whose single-step pipeline does not: 5 as mechanisms of two steps
(3 with every saddle below the data set's TS) and 3 as single saddles found from an
intermediate that is a conformer of the product.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from jaxrxn.potentials.core import Potential
from jaxrxn.reaction import ReactionResult, _connects, _log, find_reaction, free_molecule, matched_irc_ends, same_species

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
    - `n_force_calls`: every search's (those whose saddle became a step, and those of steps
      dropped because one step joins the end states by itself).
    - `failed_step`: index in `steps` of the search that failed, ``None`` if none;
      `message` says why.
    """

    steps: list[ReactionResult] = dataclasses.field(default_factory=list)
    converged: bool = False
    barrier: float | None = None
    ts_step: int | None = None
    energy_span: float | None = None
    intermediate_energies: list[float] = dataclasses.field(default_factory=list)
    n_force_calls: int = 0
    failed_step: int | None = None
    message: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The scalar fields, and each step's :meth:`ReactionResult.to_json`."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "steps"}
        out["steps"] = [s.to_json() for s in self.steps]
        return out


class _Intermediate(NamedTuple):
    side: str  # "after": the saddle joins the leg's initial state to R; "before": R to its final state
    R: np.ndarray
    energy: float  # eV


def _intermediate(result: ReactionResult, rmsd_tol: float, molecule: bool) -> _Intermediate | None:
    """The intermediate an unconnected saddle of `result` leads to: its IRC's end on one
    side (``irc_ends``, in ``irc_match``'s order) is that side's end state, the other is
    not, nor the same structure as the matched state (an end with the matched state's bonds
    in another conformation is an intermediate: a conformer of it). ``None`` otherwise
    (both ends elsewhere, or an end that is its state's species with like atoms renumbered:
    a symmetric product or a bifurcation, not an intermediate)."""
    if result.failed_stage != "verify" or result.irc_ends is None:
        return None
    match = result.irc_match
    initial, final = match["initial"], match["final"]
    if initial["match"] == final["match"] or initial.get("renumbered") or final.get("renumbered"):
        return None
    k, matched_state = (1, result.R_initial) if initial["match"] else (0, result.R_final)
    R = np.asarray(result.irc_ends[k])
    if same_species(R, matched_state, None, rmsd_tol, molecule)[0]:
        return None  # both ends are the matched state
    return _Intermediate("after" if k == 1 else "before", R, float(match["irc_end_energies"][k]))


def _between(result: ReactionResult, R_a: np.ndarray, R_b: np.ndarray, e_a: float, e_b: float,
             numbers, rmsd_tol: float, molecule: bool) -> ReactionResult:  # fmt: skip
    """The search `result` as the step from the minimum `R_a` to `R_b` (energies `e_a`,
    `e_b`, eV): its IRC's ends matched against them (:func:`matched_irc_ends`), verified
    when both match."""
    match, ends = matched_irc_ends(result.irc_ends, result.irc_match["irc_end_energies"], R_a, R_b, numbers, rmsd_tol, molecule)
    connects = bool(_connects(match))
    return dataclasses.replace(
        result, R_initial=R_a, R_final=R_b, e_initial=e_a, e_final=e_b, reaction_energy=e_b - e_a,
        barrier=result.ts_energy - e_a, reverse_barrier=result.ts_energy - e_b, irc_match=match, irc_ends=ends,
        connects=connects, converged=connects, failed_stage=None if connects else "verify",
        message="successful" if connects else result.message,
    )  # fmt: skip


def _as_step(result: ReactionResult, mid: _Intermediate, numbers, rmsd_tol: float, molecule: bool) -> ReactionResult:
    """The search `result`, whose saddle's IRC joins one of its end states to the
    intermediate `mid`, as that verified elementary step."""
    if mid.side == "after":
        return _between(result, result.R_initial, mid.R, result.e_initial, mid.energy, numbers, rmsd_tol, molecule)
    return _between(result, mid.R, result.R_final, mid.energy, result.e_final, numbers, rmsd_tol, molecule)


def _joining_step(steps: list[ReactionResult], numbers, rmsd_tol: float, molecule: bool) -> ReactionResult | None:
    """The step, of the lowest saddle, whose IRC ends match the mechanism's own end states
    by :func:`jaxrxn.reaction.match_irc_ends`' criteria (as that step alone, between them),
    or ``None``. A leg to an intermediate that is a conformer of an end state can find such
    a step: then the reaction is that one step, as :func:`jaxrxn.find_reaction` would have
    verified it had its band found that saddle."""
    A, B, e_a, e_b = steps[0].R_initial, steps[-1].R_final, steps[0].e_initial, steps[-1].e_final
    joining = [s for s in (_between(step, A, B, e_a, e_b, numbers, rmsd_tol, molecule) for step in steps) if s.converged]
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
    **options,
) -> MechanismResult:
    """Elementary steps and intermediates from `R_initial` to `R_final`.

    **Arguments:**

    - `R_initial`, `R_final`, `potential`, `relax`, `rmsd_tol`, `progress` and `options`
      (``interpolation``, ``n_images``, ``neb_fmax``, ``neb_max_steps``, ``fmax``,
      ``saddle_max_steps``, ``remove_rigid``, ``ts_guess``): as for
      :func:`jaxrxn.find_reaction`, which searches each leg (a `ts_guess` serves the first
      leg only; the legs from an intermediate start from minima already relaxed, so they
      are not relaxed again).
    - `max_steps`: the most elementary steps (searches) to spend; at least 1. With 1 this
      is :func:`jaxrxn.find_reaction` alone.

    A search whose saddle's IRC joins one end of its leg to a minimum that is neither end
    (`irc_ends`) becomes a step to or from that intermediate, and the rest of the leg is
    searched next. When one of the steps found joins the end states by itself (its IRC
    ends match them as :func:`jaxrxn.find_reaction` matches, e.g. by bonds when the
    intermediate was a conformer of an end state), the mechanism is that one step. A search that fails otherwise (no saddle, both IRC ends elsewhere, an
    intermediate met before, the steps spent) ends the mechanism with ``converged=False``.
    Raises ``ValueError`` for unusable end points or `max_steps` < 1.
    """
    if int(max_steps) < 1:
        raise ValueError(f"max_steps must be at least 1; got {max_steps}.")
    molecule = free_molecule(potential, np.shape(R_initial)[0])
    numbers = np.asarray(potential.system.numbers, int) if molecule else None
    out = MechanismResult()
    budget = [int(max_steps)]
    seen: list[np.ndarray] = []

    def search(R_a, R_b, relax_ends: bool, guess) -> ReactionResult:
        budget[0] -= 1
        _log(progress, f"mechanism: searching leg {int(max_steps) - budget[0]}")
        return find_reaction(R_a, R_b, potential, relax=relax_ends, rmsd_tol=rmsd_tol, ts_guess=guess, progress=progress, **options)

    def legs(R_a, R_b, relax_ends: bool, guess=None) -> tuple[list[ReactionResult], int | None, str]:
        """Steps joining `R_a` to `R_b`, the index among them of a failed search (or
        ``None``) and why it failed."""
        result = search(R_a, R_b, relax_ends, guess)
        if result.converged:
            return [result], None, ""
        if not seen:  # the end states themselves: a saddle leading back to one is no way on
            seen.extend([result.R_initial, result.R_final])
        mid = _intermediate(result, rmsd_tol, molecule) if budget[0] > 0 else None
        if mid is None:
            spent = " (max_steps spent)" if budget[0] <= 0 and result.failed_stage == "verify" else ""
            return [result], 0, f"{result.failed_stage}: {result.message}{spent}"
        if any(same_species(mid.R, R, None, rmsd_tol, molecule)[0] for R in seen):
            return [result], 0, "verify: the saddle leads to an intermediate met before"
        seen.append(mid.R)
        _log(progress, f"mechanism: the saddle leads {'from the initial state to' if mid.side == 'after' else 'to the final state from'} an intermediate; searching the rest")
        step = _as_step(result, mid, numbers, rmsd_tol, molecule)
        if not step.converged:  # cannot happen when same_species and match_irc_ends agree
            return [result], 0, f"verify: {result.message}"
        if mid.side == "after":
            rest, failed, why = legs(mid.R, result.R_final, False)
            return [step, *rest], None if failed is None else failed + 1, why
        rest, failed, why = legs(result.R_initial, mid.R, False)
        return [*rest, step], failed, why

    steps, failed, why = legs(R_initial, R_final, relax, options.pop("ts_guess", None))
    out.n_force_calls = sum(s.n_force_calls for s in steps)
    out.seconds = sum(s.seconds for s in steps)
    if failed is None and len(steps) > 1:
        direct = _joining_step(steps, numbers, rmsd_tol, molecule)
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
