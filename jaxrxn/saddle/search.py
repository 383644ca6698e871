"""The saddle-search entry point, :func:`saddle_search` (P-RFO by default)."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxrxn._iterate import iterative_solve
from jaxrxn._results import RESULTS
from jaxrxn.potentials.core import Potential, max_atom_force
from jaxrxn.saddle.index import AbstractSaddleSolver, SaddleArgs, SaddleResult, ZeroModeSpec, _known_fixed, resolve_zero_modes_spec
from jaxrxn.saddle.prfo import PRFO
from jaxrxn.validation import check_configuration


def saddle_search(
    potential: Potential,
    R0: Float[Array, "n_atoms dim"],
    solver: AbstractSaddleSolver | None = None,
    *,
    fmax: float = 0.01,
    max_steps: int = 500,
    zero_modes_spec: ZeroModeSpec = "auto",
    mode0: Float[Array, "n_atoms dim"] | None = None,
    check_index: bool = True,
    throw: bool = False,
) -> SaddleResult:
    """Converge a first-order saddle point (transition state) from the guess ``R0``.

    **Arguments:**

    - `solver`: :class:`jaxrxn.saddle.PRFO` (default; exact Hessian each step) or
      :class:`jaxrxn.saddle.Dimer` (forces only).
    - `fmax`: convergence threshold on the largest atom force, eV/Å.
    - `max_steps`: iteration cap.
    - `zero_modes_spec`: ``"auto" | "free" | "periodic" | "none"``, see
      :mod:`jaxrxn.saddle.index`.
    - `mode0`: initial guess of the unstable mode ``(n_atoms, dim)``; ``None`` or all
      zeros for none (the dimer then starts from a fixed random direction, P-RFO from the
      lowest Hessian mode, RS-P-RFO as its `davidson_start` says).
    - `check_index`: compute the Hessian at the end and require exactly one negative
      curvature (otherwise ``RESULTS.saddle_wrong_index``, ``converged=False``).
    - `throw`: raise on failure (also under ``jit``).

    Runs on :func:`jaxrxn._iterate.iterative_solve`: jitted as a whole, compiled once per
    shape and solver; ``vmap``-able over ``R0`` / ``mode0``. `n_force_calls` counts every
    energy evaluation, the zero-mode probes of ``"auto"`` included.
    """
    check_configuration(R0, name="R0")
    solver = PRFO() if solver is None else solver
    if getattr(solver, "coordinates", None) is not None and _known_fixed(potential):
        raise ValueError("Internal coordinates need a free molecule: this system fixes atoms (use Cartesian coordinates, coordinates=None).")
    R0 = jnp.asarray(R0)
    # zeros for none: one compiled program with or without a mode0 (saddle.index.first_mode)
    mode0 = jnp.zeros_like(R0) if mode0 is None else jnp.asarray(mode0, R0.dtype)
    args = SaddleArgs(jnp.asarray(fmax, R0.dtype), mode0, resolve_zero_modes_spec(potential, zero_modes_spec), check_index)
    sol = iterative_solve(solver, potential, R0, args, max_steps=max_steps, throw=throw)
    energy, forces, index, curvature, mode = sol.aux
    return SaddleResult(
        sol.value, energy, forces, max_atom_force(forces), index, curvature, mode,
        sol.result == RESULTS.successful, sol.stats.num_steps, sol.stats.n_force_calls,
        sol.stats.n_hessian_calls, sol.result,
    )  # fmt: skip
