"""One protocol for every iterative search in jaxrxn, and the one loop that drives it.

In the manner of optimistix's ``_iterate.py``: a method is an
:class:`AbstractIterativeSolver`, an :class:`equinox.Module` whose fields are its
hyperparameters (with units) and whose four pure methods say what one iteration does;
:func:`iterative_solve` runs them in a single ``lax.while_loop`` under ``jit``, counts
steps, maps failures to a :class:`jaxrxn.RESULTS` code, applies ``throw`` once and returns
a :class:`Solution`. Minimization, NEB, P-RFO, the dimer, Newton polish and the IRC
descent are all solvers on this protocol, so loops, result codes, ``throw`` and
compilation live here and nowhere else.

**Writing a solver.** Subclass :class:`AbstractIterativeSolver` and implement

- ``init(fn, y, args) -> state``: evaluate the start ``y`` (a configuration or a band)
  with ``fn`` (a :class:`jaxrxn.Potential`, passed as a pytree argument so that new
  parameters do not recompile) and build the state. ``args`` is a pytree of per-call data
  (tolerances such as ``fmax`` as arrays, a cell, zero modes).
- ``step(fn, state, args) -> state``: one iteration.
- ``terminate(fn, state, args) -> (done, result)``: a boolean scalar and the code to
  report if the loop stops here (``RESULTS.successful`` when converged, or a failure
  such as ``RESULTS.nonfinite_state`` that ends the loop early).
- ``postprocess(fn, state, args, result) -> (value, aux, result, state)``: the answer,
  any extra output, the result code after final checks (for example the saddle index)
  and the state with the evaluations of those checks counted.
  The driver reports ``RESULTS.nonfinite_state`` if a float in `value` or `aux` is not
  finite, so put only quantities there that must be finite.

The state must carry ``n_force_calls`` (every energy/force evaluation, however cheap)
and may carry ``n_hessian_calls``; the driver reads them into :class:`Stats`. A hand-
written loop (KMC, TAD, monitoring) can call ``init`` and ``step`` directly, as with
jax-md's ``(init_fn, apply_fn)`` pairs.

**throw.** With ``throw=True`` a result other than ``successful`` raises through
:func:`equinox.error_if`, also under ``jit``. Every public entry point defaults to
``throw=False`` (optimistix defaults to ``True``): jaxrxn's searches are mostly run as
vmapped batches, where one failing member would raise for the whole batch and lose every
result, and the library's own drivers (TAD, KMC, exploration) handle failed searches
themselves. Check ``result`` (or ``converged``) or pass ``throw=True``.
"""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import checkify
from jaxtyping import Array, Bool, Int, PyTree

from jaxrxn._jit import dynamic_floats
from jaxrxn._results import RESULTS, finite_result
from jaxrxn.neighbors import OVERFLOW_MESSAGE, any_overflow, enlarge, handled_by_driver, lists_in

State = TypeVar("State")
Y = TypeVar("Y")


class AbstractIterativeSolver(eqx.Module, Generic[Y, State]):
    """An iterative method: hyperparameters as fields, one iteration as pure methods.

    See the module docstring for the contract of each method.
    """

    @abc.abstractmethod
    def init(self, fn: Any, y: Y, args: PyTree) -> State: ...

    @abc.abstractmethod
    def step(self, fn: Any, state: State, args: PyTree) -> State: ...

    @abc.abstractmethod
    def terminate(self, fn: Any, state: State, args: PyTree) -> tuple[Bool[Array, ""], RESULTS]: ...

    @abc.abstractmethod
    def postprocess(
        self, fn: Any, state: State, args: PyTree, result: RESULTS
    ) -> tuple[Any, Any, RESULTS, State]: ...


class Stats(eqx.Module):
    """Work done by a solve: iterations, the cap on them, energy+force evaluations and
    Hessian evaluations (every call, including probes and final checks)."""

    num_steps: Int[Array, ""]
    max_steps: Int[Array, ""]
    n_force_calls: Int[Array, ""]
    n_hessian_calls: Int[Array, ""]


class Solution(eqx.Module, Generic[Y]):
    """What :func:`iterative_solve` returns: the `value`, its `result` code, `stats`, the
    final solver `state` (to restart from) and the solver's `aux` output."""

    value: Y
    result: RESULTS
    stats: Stats
    state: Any
    aux: Any


def iterative_solve(
    solver: AbstractIterativeSolver, fn: Any, y0: Any, args: PyTree = None, *, max_steps: int, throw: bool
) -> Solution:
    """Run ``solver`` from ``y0`` until it terminates or `max_steps` iterations were taken.

    Jitted as a whole with :func:`equinox.filter_jit`: arrays in `fn`, `y0` and `args` are
    traced, and so are the solver's float hyperparameters and floats in `args`
    (:func:`dynamic_floats`), so a second call with new arrays of the same shapes, a new
    tolerance, a new step size or a new `max_steps` reuses the compiled loop. Integers
    (other than `max_steps`), booleans, strings and fields marked static are compile-time
    constants. A run that hits the cap reports
    ``RESULTS.step_cap_reached``; a non-finite value ``RESULTS.nonfinite_state``.

    **Neighbour lists.** When `fn` carries a :class:`jaxrxn.neighbors.NeighborList` and the
    call is not traced, a step in which any evaluation overflowed a list (at the state it
    reaches, or at a point it probed and discarded, such as a dimer's rotation probe) is
    undone and stops the loop at the last state whose lists fit; every list (in `fn` and in
    the state) is widened (:func:`jaxrxn.neighbors.enlarge`) and the loop continues from that
    state, up to :data:`MAX_REALLOCATIONS` times, so the result equals a run with a large
    enough list (the discarded step's evaluations are counted in ``n_force_calls``). An
    overflow in the final checks (``postprocess``) is handled in the same way. Under ``jit``
    an overflow raises, unless the lists are marked as handled by a driver outside
    (:func:`jaxrxn.neighbors.handled_by_driver`, as :mod:`jaxrxn.batch` does): then the loop
    stops there with ``RESULTS.neighbor_list_overflow``.
    """
    solver, args = dynamic_floats(solver), dynamic_floats(args)
    max_steps = jnp.asarray(max_steps, jnp.int32)  # traced: a new cap does not recompile
    if not lists_in(fn):
        return _solve(solver, fn, y0, args, max_steps, throw, None)[0]
    if _traced((fn, y0, args)):
        # lists handled by a driver outside (jaxrxn.batch): it reads the result, widens
        # and runs again
        sol, stop = _solve(solver, fn, y0, args, max_steps, throw, None)
        result = RESULTS.where(stop.overflow, RESULTS.neighbor_list_overflow, sol.result)
        return eqx.tree_at(lambda s: s.result, sol, result)
    fn = handled_by_driver(fn)
    sol, stop = _solve(solver, fn, y0, args, max_steps, throw, None)
    for _ in range(MAX_REALLOCATIONS):
        if not bool(stop.overflow):
            break
        system = getattr(fn, "system", None)
        if stop.at_init:  # nothing to keep: start again, with room for where the lists were built
            fn = enlarge((fn, stop.resume.state, stop.neighbors), system)[0]
            sol, stop = _solve(solver, fn, y0, args, max_steps, throw, None)
            continue
        fn, resume = enlarge((_with_neighbors(fn, stop.neighbors), stop.resume), system)
        sol, stop = _solve(solver, fn, y0, args, max_steps, throw, resume)
    sol = eqx.error_if(sol, stop.overflow, OVERFLOW_MESSAGE)
    return handled_by_driver(sol, False)


#: Times :func:`iterative_solve` widens overflowing neighbour lists before it raises.
MAX_REALLOCATIONS = 4


def _traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


class _Resume(eqx.Module):
    """Where a stopped loop continues: the last state whose lists fit, the steps taken and
    the evaluations spent on discarded steps."""

    state: Any
    num_steps: Int[Array, ""]
    wasted_calls: Int[Array, ""]


class _Stop(eqx.Module):
    """Why and where a loop with driver-handled lists stopped (see :func:`iterative_solve`)."""

    overflow: Bool[Array, ""]
    at_init: Bool[Array, ""]
    resume: _Resume
    neighbors: Any


def in_dtype_of(y: Array, *xs: Array) -> tuple[Array, ...]:
    """``xs`` cast to the dtype of ``y``: a solver's energies and forces follow its input
    (a float32 band stays float32 even when the potential's parameters are float64)."""
    return tuple(jnp.asarray(x, y.dtype) for x in xs)


def _all_finite(tree) -> Bool[Array, ""]:
    flags = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(x)]
    return jnp.all(jnp.stack(flags)) if flags else jnp.array(True)


def _keep_last_finite(old: State, new: State) -> State:
    """`new`, unless its floats went non-finite where `old`'s were all finite (a failed
    outside calculator returns NaN, a step can overflow): then `old`'s floats with `new`'s
    counters, so the result keeps the last good configuration and still counts every call."""
    bad = _all_finite(old) & ~_all_finite(new)
    return jax.tree_util.tree_map(lambda a, b: jnp.where(bad, a, b) if eqx.is_inexact_array(b) else b, old, new)


def _neighbors_at(fn, state):
    """The neighbour list `fn` carries (a :class:`jaxrxn.Potential` with one), updated at
    the configuration ``state.R`` of a single-configuration solver; ``None`` otherwise.
    Carried by the driver so each evaluation rebuilds it only when an atom moved half the
    skin since the last build, not since the list was allocated."""
    neighbors = getattr(fn, "neighbors", None)
    R = getattr(state, "R", None)
    if neighbors is None or R is None or R.shape != neighbors.reference.shape:
        return None
    return fn._neighbors_at(R)


def _with_neighbors(fn, neighbors):
    return fn if neighbors is None else eqx.tree_at(lambda f: f.neighbors, fn, neighbors)


def overflow_checked(f, watch: bool = True):
    """`f` returning ``(overflowed, out)``: whether any evaluation inside it went through an
    overflowed list that the driver handles. Such evaluations give NaN, but a solver may
    discard them (a dimer's rotation probe, a rejected trial step), so the flag is carried
    out functionally: :func:`jaxrxn.neighbors.check_overflow` places a
    ``checkify.check`` there, and :func:`jax.experimental.checkify.checkify` returns it."""
    if not watch:
        return lambda *a: (jnp.array(False), f(*a))

    def checked(*a):
        dynamic, static = eqx.partition(a, eqx.is_array)
        run = checkify.checkify(lambda d: f(*eqx.combine(d, static)), errors=checkify.user_checks)
        err, out = run(dynamic)
        # an Error flattens to its failure flags (bool), codes and payloads (integers)
        flags = [jnp.any(x) for x in jax.tree_util.tree_leaves(err) if jnp.result_type(x) == jnp.bool_]
        return jnp.any(jnp.stack(flags)) if flags else jnp.array(False), out

    return checked


@eqx.filter_jit
def _solve(solver, fn, y0, args, max_steps: Int[Array, ""], throw: bool, resume: _Resume | None) -> tuple[Solution, _Stop]:
    # With lists whose overflow the driver handles, a step in which any evaluation overflowed
    # one is undone and ends the loop (`overflow`), so the caller can widen the lists and
    # resume; so does an overflow in the final checks of `postprocess`.
    watch = any(nl.driver_handles for nl in lists_in(fn))
    if resume is None:
        init_over, state = overflow_checked(solver.init, watch)(fn, y0, args)
        k0, wasted = jnp.array(0), jnp.array(0)
    else:
        state, k0, wasted, init_over = resume.state, resume.num_steps, resume.wasted_calls, jnp.array(False)
    neighbors = _neighbors_at(fn, state)
    at_init = (any_overflow((state, neighbors)) | init_over) if watch else jnp.array(False)
    done, result = solver.terminate(fn, state, args)

    def cond(carry):
        _, _, k, done, _, overflow, _ = carry
        return ~done & ~overflow & (k < max_steps)

    def body(carry):
        state, neighbors, k, _, _, _, wasted = carry
        at = _with_neighbors(fn, neighbors)
        step_over, new = overflow_checked(solver.step, watch)(at, state, args)
        done, result = solver.terminate(at, new, args)
        if not watch:
            new = _keep_last_finite(state, new)
            return new, _neighbors_at(at, new), k + 1, done, result, jnp.array(False), wasted
        # updated where the step went: an overflow there made its energy NaN, which
        # _keep_last_finite would hide
        new_neighbors = _neighbors_at(at, new)
        overflow = any_overflow((new, new_neighbors)) | step_over
        new = _keep_last_finite(state, new)
        wasted = wasted + jnp.where(overflow, new.n_force_calls - state.n_force_calls, 0)
        new, new_neighbors = jax.tree_util.tree_map(
            lambda a, b: jnp.where(overflow, a, b), (state, neighbors), (new, new_neighbors)
        )
        return new, new_neighbors, jnp.where(overflow, k, k + 1), done, result, overflow, wasted

    carry = (state, neighbors, k0, done, result, at_init, wasted)
    state, neighbors, num_steps, done, result, overflow, wasted = lax.while_loop(cond, body, carry)
    fn = _with_neighbors(fn, neighbors)
    result = RESULTS.where(done, result, RESULTS.step_cap_reached)
    last = state
    post_over, (value, aux, result, state) = overflow_checked(solver.postprocess, watch)(fn, state, args, result)
    # an overflow in the final checks: resume at the last state (the loop ends at once) and
    # check again with wider lists
    spent = jnp.where(post_over & ~overflow, state.n_force_calls - last.n_force_calls, 0)
    overflow = overflow | post_over
    stop = _Stop(overflow, at_init, _Resume(last, num_steps, wasted + spent), neighbors)
    result = finite_result(result, value, aux)
    stats = Stats(
        num_steps,
        max_steps,
        jnp.asarray(state.n_force_calls) + wasted,
        jnp.asarray(getattr(state, "n_hessian_calls", 0)),
    )
    sol = Solution(value, result, stats, state, aux)
    if throw:
        sol = result.error_if(sol, (result != RESULTS.successful) & ~overflow)
    return sol, stop
