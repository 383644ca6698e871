"""Result codes shared by every jaxrxn solver.

The codes extend optimistix's :class:`optimistix.RESULTS`, so a jaxrxn solution can be
inspected with the same idioms (``sol.result == RESULTS.successful``) and turned into an
error inside ``jit`` with ``RESULTS.error_if``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, Bool


class RESULTS(optx.RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """Why a jaxrxn search stopped.

    ``successful`` means the convergence criterion (usually ``fmax`` in eV/Å) was met.
    Every other member carries a sentence telling the user what to change.
    """

    step_cap_reached = (
        "The step cap was reached before the largest per-atom force fell below `fmax`; "
        "raise `max_steps`, loosen `fmax` or start closer to the answer."
    )
    nonfinite_state = (
        "Positions, energies or forces became NaN or infinite; the potential may be "
        "evaluated outside its valid range (overlapping atoms) or the step size is too large."
    )
    band_diverged = (
        "The band diverged: an image's energy rose far above the initial band's; use a "
        "smaller `maxstep`/`dt` for the optimizer or a better initial path."
    )
    saddle_wrong_index = (
        "The stationary point found is not a first-order saddle (it has zero or more than "
        "one negative curvature after removing rigid-body modes); it is not a transition state."
    )
    endpoint_not_minimum = (
        "An end point of the band or IRC is not a minimum of the potential; relax the end "
        "points first."
    )
    not_connected = (
        "The saddle does not connect the expected minima: descending both ways along the "
        "unstable mode led elsewhere."
    )
    calculator_failed = (
        "The outside calculator failed (SCF not converged, crashed or returned NaN) after its "
        "retries; the last good geometry is kept: check charge/multiplicity and the geometry, "
        "or loosen the SCF settings."
    )
    stationary_point_lost = (
        "A stationary point of a fit target stopped converging after a parameter update "
        "(the step moved the surface too far for Newton re-polishing from the previous "
        "geometry); the parameters of the last step where every point converged are kept: "
        "lower the learning rate or give better starting geometries."
    )
    neighbor_list_overflow = (
        "A neighbour list overflowed (atoms packed more densely, or the cell shrank, since it "
        "was allocated) and the search stopped at the last state whose lists fit; allocate the "
        "list with a larger `capacity_multiplier`, or run outside jit, where the drivers widen "
        "it themselves."
    )
    time_limit_reached = (
        "The run's time limit (`time_limit`, `--time-limit`) was reached: the outside "
        "calculator stopped answering and the last good geometry is kept; raise the limit or "
        "go on from that geometry."
    )


def finite_result(result: RESULTS, *trees) -> RESULTS:
    """Downgrade ``result`` to ``nonfinite_state`` if any float leaf of ``trees`` is not finite."""
    ok = jnp.array(True)
    for x in jax.tree_util.tree_leaves(trees):
        if eqx.is_inexact_array(x):
            ok = ok & jnp.all(jnp.isfinite(x))
    return RESULTS.where(ok, result, RESULTS.nonfinite_state)


def converged_flag(result: RESULTS) -> Bool[Array, ""]:
    """``True`` where ``result`` is ``successful``."""
    return result == RESULTS.successful
