"""Outside calculators (ASE calculators, xTB, PySCF) as a jaxrxn :class:`Potential`.

The calculator runs on the host through an XLA FFI custom call whose handler is a Python
function (:mod:`jaxrxn.potentials._xla_ffi`), so that JAX's persistent compilation cache can
keep the programs that call it (it keeps none with a ``jax.pure_callback``); a ``jax.custom_jvp`` tells
JAX that the derivative of its energy is minus its forces, so ``jax.grad``, every optimizer,
NEB and saddle search in jaxrxn work on it unchanged, also inside ``jit`` and
``lax.while_loop``. Under ``jax.vmap`` (a band's images, a batch of walkers) ONE host call
receives every configuration (``vmap_method="broadcast_all"``) and evaluates them
concurrently on ``workers`` threads or processes, each with its own calculator (calculators
hold state: a wavefunction guess, a cached structure). Second derivatives
(``Potential.hessian``) are not available through the bridge: the calculator provides only
first derivatives (see :mod:`jaxrxn.vibrations` for finite-difference and analytic ones).

A calculator that raises, returns NaN or does not converge is retried with ``attempt=1, 2,
...`` (the evaluator decides what a retry changes: a fresh guess, more SCF iterations); when
every attempt fails the bridge returns NaN energy and forces and records the failure in
``energy_fn.failures``. The solvers then stop on non-finite values with the last good
geometry kept, and :func:`calculator_result` names the failure
(``RESULTS.calculator_failed``). :func:`time_limit` bounds a run's wall-clock time the same
way (``RESULTS.time_limit_reached``): evaluations asked for after its limit fail without
calling the calculator.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from jaxrxn.potentials._xla_ffi import register_cpu_handler
from jaxrxn.potentials.core import Potential


class Evaluator(Protocol):
    """One calculator instance: ``evaluator(R, attempt) -> (energy eV, forces eV/Å)``.

    ``R`` is a NumPy array ``(n_atoms, 3)`` in Å; ``attempt`` is 0 for the first try and
    counts retries after a failure (raise or return non-finite values to fail).
    """

    def __call__(self, R: np.ndarray, attempt: int) -> tuple[float, np.ndarray]: ...


def _checked(evaluator: Evaluator, R: np.ndarray, max_retries: int):
    """``(energy, forces, n_retries, failure message or None)`` with retries on failure."""
    message = None
    for attempt in range(max_retries + 1):
        try:
            e, f = evaluator(R, attempt)
            e, f = float(e), np.asarray(f, float)
            if np.isfinite(e) and np.all(np.isfinite(f)):
                return e, f, attempt, None
            message = "the calculator returned a non-finite energy or forces"
        except Exception as err:  # any calculator error (SCF not converged, crashed binary)
            text = str(err).strip().splitlines()
            message = f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")
    return math.nan, np.full(R.shape, math.nan), max_retries, message


# Process workers keep their evaluator in a module global (one per process).
_PROCESS_EVALUATOR: Evaluator | None = None


def _process_init(make_evaluator: Callable[[], Evaluator]) -> None:
    global _PROCESS_EVALUATOR
    # Each worker process is one of `workers` concurrent evaluations: unless the user chose
    # otherwise, its calculator's OpenMP runs one thread (several spin-wait on a busy machine).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _PROCESS_EVALUATOR = make_evaluator()


def _process_task(R: np.ndarray, max_retries: int):
    assert _PROCESS_EVALUATOR is not None
    return _checked(_PROCESS_EVALUATOR, R, max_retries)


class HostEnergy:
    """Callable ``(R, system, params) -> energy`` (eV) evaluated on the host by outside calculators.

    **Arguments:**

    - `make_evaluator`: zero-argument factory of an :class:`Evaluator`; called once per
      worker (for ``executor="process"`` it must pickle: a module-level class or function).
    - `n_atoms`: the number of atoms every configuration must have.
    - `workers`: how many configurations of a batch are evaluated at the same time.
    - `executor`: ``"thread"`` (one evaluator per thread; right for codes that release the
      GIL, as tblite and PySCF's C kernels do) or ``"process"`` (spawned processes).
    - `max_retries`: further attempts after a failed evaluation.

    - `handle_in_params`: how compiled code finds this calculator. ``False`` (default):
      its identity is the static key jit caches on, so build it once and reuse it.
      ``True``: every evaluation names it by its `handle` (an integer scalar that the
      potential carries as its ``params``: build it with :meth:`potential`), and all such
      energies of one atom count compare equal (subclasses too, unless they change how
      JAX calls them), so a potential built for a new
      molecule or a new calculator of the same size reuses every compiled solver instead
      of compiling them again (tens of seconds per pipeline). The factories
      (:func:`ase_potential`, ``xtb_potential``, ``pyscf_potential``) do this.

    Counters (host-side, exact): `n_calls` configurations evaluated (one per energy,
    energy-and-forces or gradient of one configuration, whatever the batching),
    `n_host_calls` host round trips, `n_retries` repeated attempts, `failures` the messages
    of evaluations that failed every attempt (or came after a :meth:`time_limit`).
    """

    def __init__(
        self,
        make_evaluator: Callable[[], Evaluator],
        n_atoms: int,
        *,
        workers: int = 1,
        executor: str = "thread",
        max_retries: int = 2,
        name: str = "calculator",
        handle_in_params: bool = False,
    ):
        if executor not in ("thread", "process"):
            raise ValueError(f"executor must be 'thread' or 'process', got {executor!r}.")
        if workers < 1 or max_retries < 0:
            raise ValueError("workers must be at least 1 and max_retries non-negative.")
        self.make_evaluator = make_evaluator
        self.n_atoms = int(n_atoms)
        self.workers = int(workers)
        self.executor = executor
        self.max_retries = int(max_retries)
        self.name = name
        self.n_calls = 0
        self.n_host_calls = 0
        self.n_retries = 0
        self.failures: list[str] = []
        self._idle: list[Evaluator] = []  # thread evaluators not in use
        self._lock = threading.Lock()
        self._pool: Executor | None = None
        self._deadline: tuple[float, float] | None = None  # (time.monotonic() limit, seconds)
        self.handle_in_params = bool(handle_in_params)
        self.handle = next(_HANDLES)
        _LIVE[self.handle] = self

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        # Subclasses that keep this class's JAX side (PySCF's adds a host-side Hessian) trace
        # to the same program, so they compare equal too: xtb and PySCF share the solvers.
        return (
            self.handle_in_params
            and isinstance(other, HostEnergy)
            and other.handle_in_params
            and type(other).__call__ is type(self).__call__
            and other.n_atoms == self.n_atoms
        )

    def __hash__(self) -> int:
        return hash((HostEnergy, self.n_atoms)) if self.handle_in_params else id(self)

    def potential(self, system=None, **potential_kwargs) -> Potential:
        """The :class:`Potential` of this energy on `system`: its ``params`` are the
        handle when `handle_in_params` (see the class docstring), else ``None``."""
        params = np.int32(self.handle) if self.handle_in_params else None
        return Potential(self, params, system, **potential_kwargs)

    @contextlib.contextmanager
    def time_limit(self, seconds: float):
        """Within this block, evaluations asked for more than `seconds` (wall clock) after it
        began fail at once, without a calculator call, as failed evaluations do: the bridge
        returns NaN, the solver stops with its last good geometry and
        :func:`calculator_result` gives ``RESULTS.time_limit_reached``, the failure message
        naming the limit. An evaluation under way when the limit passes is not interrupted
        (a run overshoots by at most one host call). Nested limits: the inner one holds
        inside its block."""
        if not seconds > 0:
            raise ValueError(f"a time limit must be a positive number of seconds, got {seconds}.")
        previous = self._deadline
        self._deadline = (time.monotonic() + float(seconds), float(seconds))
        try:
            yield self
        finally:
            self._deadline = previous

    # ---- host side --------------------------------------------------------------------
    def _thread_task(self, R: np.ndarray):
        with self._lock:
            evaluator = self._idle.pop() if self._idle else None
        if evaluator is None:
            evaluator = self.make_evaluator()
        try:
            return _checked(evaluator, R, self.max_retries)
        finally:
            with self._lock:
                self._idle.append(evaluator)

    def _get_pool(self) -> Executor:
        if self._pool is None:
            if self.executor == "thread":
                self._pool = ThreadPoolExecutor(self.workers)
            else:
                import multiprocessing

                # spawn, not fork: the parent runs JAX's threads
                self._pool = ProcessPoolExecutor(
                    self.workers, multiprocessing.get_context("spawn"),
                    initializer=_process_init, initargs=(self.make_evaluator,),
                )  # fmt: skip
        return self._pool

    def evaluate_batch(self, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energies ``(...,)`` (eV) and forces ``(..., n_atoms, 3)`` (eV/Å) of a batch
        ``(..., n_atoms, 3)`` (Å), evaluated concurrently; failed ones are NaN."""
        R = np.asarray(R, dtype=float)
        if R.shape[-2:] != (self.n_atoms, 3):
            raise ValueError(
                f"the {self.name} was built for {self.n_atoms} atoms in 3D; got a "
                f"configuration of shape {R.shape[-2:]}."
            )
        batch = R.reshape(-1, self.n_atoms, 3)
        if self._deadline is not None and time.monotonic() > self._deadline[0]:
            self.failures.extend([TimeLimitReached(f"time limit of {self._deadline[1]:g} s reached")] * len(batch))
            return np.full(R.shape[:-2], math.nan), np.full(R.shape, math.nan)
        self.n_calls += len(batch)
        self.n_host_calls += 1
        # Even one worker runs in a pool thread, not in the calling thread: tblite's OpenMP
        # team, when started from the main thread, spin-waits on a busy machine (measured
        # 1.2 s vs 5-13 ms per 16-atom GFN2-xTB call under load; benchmarks/host_batch.py).
        if self.executor == "thread":
            out = list(self._get_pool().map(self._thread_task, batch))
        else:
            out = list(self._get_pool().map(_process_task, batch, [self.max_retries] * len(batch)))
        for _, _, retries, message in out:
            self.n_retries += retries
            if message is not None:
                self.failures.append(message)
        e = np.array([o[0] for o in out]).reshape(R.shape[:-2])
        f = np.stack([o[1] for o in out]).reshape(R.shape)
        return e, f

    def close(self) -> None:
        """Shut the worker pool down (a later call starts a new one)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # ---- JAX side ---------------------------------------------------------------------
    def __call__(self, R, system=None, params=None):
        if self.handle_in_params and params is None:
            raise ValueError(
                f"this {self.name} is found by the handle its potential carries as params: "
                "build the potential with energy_fn.potential(system), not Potential(energy_fn)."
            )
        # A handle that is not a traced params leaf is a compile-time constant, which is
        # right only for an energy compared by identity.
        handle = params if self.handle_in_params else np.int32(self.handle)
        return _host_energy(jnp.asarray(handle, jnp.int32), R)


class TimeLimitReached(str):
    """The failure message of an evaluation asked for after a :meth:`HostEnergy.time_limit`
    (``"time limit of 600 s reached"``): a ``str``, as every entry of
    :attr:`HostEnergy.failures` is, whose type says that the limit, not the calculator,
    stopped the run."""


def time_limited(failures: Sequence[str]) -> bool:
    """Whether a run whose calculator evaluations failed with `failures` (their messages,
    in order; empty when none failed) was stopped by a :func:`time_limit`: its last
    failure is the limit's, after which the calculator answers no more."""
    return bool(failures) and isinstance(failures[-1], TimeLimitReached)


#: Live host energies by handle. A compiled program names its calculator by handle (an
#: operand), so one program serves every calculator of a size; weak, so a dropped
#: potential's calculator is released.
_LIVE: weakref.WeakValueDictionary[int, HostEnergy] = weakref.WeakValueDictionary()
_HANDLES = itertools.count()


@atexit.register
def _release_calculators() -> None:
    # Calculators still held at exit (a potential in a script's globals) are released
    # while their libraries are loaded: at module teardown tblite's finalizer fails.
    for energy in list(_LIVE.values()):
        energy.close()
        energy._idle.clear()


def _dispatch(handles: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Host side of :func:`_host_energy`: energies ``R.shape[:-2]`` and forces ``R.shape``,
    each configuration evaluated by the calculator its handle names (one batch per
    calculator, concurrently within it)."""
    handles = np.broadcast_to(handles, R.shape[:-2]).reshape(-1)
    flat = R.reshape(-1, *R.shape[-2:])
    e, f = np.empty(len(flat), R.dtype), np.empty(flat.shape, R.dtype)
    for h in np.unique(handles):
        energy = _LIVE.get(int(h))
        if energy is None:
            raise RuntimeError(f"outside calculator {int(h)} no longer exists (its potential was deleted).")
        rows = handles == h
        e[rows], f[rows] = energy.evaluate_batch(flat[rows])
    return e.reshape(R.shape[:-2]), f.reshape(R.shape)


def _callback(handle, R):
    shapes = (jax.ShapeDtypeStruct(R.shape[:-2], R.dtype), jax.ShapeDtypeStruct(R.shape, R.dtype))

    # On CPU an FFI custom call, not jax.pure_callback: JAX's persistent compilation cache
    # keeps no program with a Python callback in it, so each process compiled its xTB
    # searches again. The handler reads host memory, so accelerators keep the callback
    # (only the branch of the platform compiled for is lowered). broadcast_all: under vmap
    # one host call gets the whole batch (leading axes).
    def on_cpu(handle, R):
        target = register_cpu_handler("jaxrxn_host_energy", _dispatch)
        return jax.ffi.ffi_call(target, shapes, vmap_method="broadcast_all")(handle, R)

    def elsewhere(handle, R):
        return jax.pure_callback(_dispatch, shapes, handle, R, vmap_method="broadcast_all")

    return jax.lax.platform_dependent(handle, R, cpu=on_cpu, default=elsewhere)


@jax.custom_jvp
def _host_energy(handle, R):
    """Energy (eV) of `R` (Å) from the outside calculator `handle` names; its derivative is
    minus the calculator's forces."""
    return _callback(handle, R)[0]


@_host_energy.defjvp
def _host_energy_jvp(primals, tangents):
    (handle, R), (_, dR) = primals, tangents
    e, f = _callback(handle, R)
    return e, -jnp.sum(f * dR)


class _ASEEvaluator:
    """An ASE calculator attached to its own copy of the template atoms."""

    def __init__(self, calculator, atoms):
        self.atoms = atoms.copy()  # Atoms.copy leaves the calculator behind (no deepcopy of it)
        self.atoms.constraints = []  # jaxrxn applies fixed-atom masks itself
        self.atoms.calc = calculator

    def __call__(self, R, attempt):
        if attempt:
            self.atoms.calc.reset()  # forget cached results and wavefunctions
        self.atoms.positions = R
        return self.atoms.get_potential_energy(), self.atoms.get_forces()


class ASEEnergy(HostEnergy):
    """:class:`HostEnergy` for an ASE calculator (``ase_potential`` builds it).

    `calculator` is either a calculator instance (one worker: a calculator object holds
    state and cannot serve two configurations at once) or a zero-argument factory returning
    a new calculator, which allows ``workers > 1``. ``atoms`` is the template (numbers, cell,
    pbc); its own calculator, if any, is ignored.
    """

    def __init__(
        self, calculator, atoms, *, workers: int = 1, executor: str = "thread", max_retries: int = 2,
        handle_in_params: bool = False,
    ):  # fmt: skip
        template = atoms.copy()
        self.atoms = template
        is_factory = isinstance(calculator, type) or (
            callable(calculator) and not hasattr(calculator, "get_potential_energy")
        )
        if not is_factory:
            if workers != 1 or executor != "thread":
                raise ValueError(
                    "several workers need a calculator factory (e.g. lambda: EMT()), not one "
                    "calculator instance."
                )
            instance = _ASEEvaluator(calculator, template)
            make = lambda: instance  # noqa: E731  (only one worker ever asks)
        else:
            make = _ASEFactory(calculator, template)
        super().__init__(
            make, len(atoms), workers=workers, executor=executor, max_retries=max_retries,
            name="ASE calculator", handle_in_params=handle_in_params,
        )  # fmt: skip


class _ASEFactory:
    # A class rather than a closure so that process workers can unpickle it.
    def __init__(self, make_calculator, atoms):
        self.make_calculator, self.atoms = make_calculator, atoms

    def __call__(self) -> _ASEEvaluator:
        return _ASEEvaluator(self.make_calculator(), self.atoms)


def ase_potential(calculator, atoms, *, workers: int = 1, executor: str = "thread", max_retries: int = 2, **potential_kwargs) -> Potential:
    """Wrap an ASE calculator as a :class:`Potential` for structures like `atoms`.

    **Arguments:**

    - `calculator`: any ASE ``Calculator`` that implements energy and forces (eV, eV/Å), or a
      zero-argument factory of one (``lambda: TBLite(method="GFN2-xTB")``), needed for
      ``workers > 1``.
    - `atoms`: template ``Atoms`` giving the atomic numbers, cell and pbc; configurations
      ``R`` of shape ``(len(atoms), 3)`` (Å) replace its positions. A calculator attached to
      it is ignored.
    - `workers`, `executor`, `max_retries`: see :class:`HostEnergy`.
    - `potential_kwargs`: ``fixed``, ``masses`` override those of the system, which is
      `atoms`' (its ``FixAtoms`` constraints become the fixed mask).

    The potential has no differentiable ``params``. ``potential.energy_fn.n_calls`` counts
    calculator evaluations (one per energy, energy-and-forces or gradient call).
    """
    from jaxrxn.system import System

    energy_fn = ASEEnergy(calculator, atoms, workers=workers, executor=executor, max_retries=max_retries, handle_in_params=True)
    return energy_fn.potential(System.from_atoms(atoms), **potential_kwargs)


def calculator_failures(potential: Potential) -> list[str]:
    """Messages of the outside-calculator evaluations of `potential` that failed every
    retry (empty for JAX potentials)."""
    return list(getattr(potential.energy_fn, "failures", ()))


def time_limit(potential: Potential, seconds: float) -> contextlib.AbstractContextManager:
    """Context manager bounding the wall-clock time of the runs on `potential`'s outside
    calculator inside it (:meth:`HostEnergy.time_limit`)::

        with time_limit(pot, 600):
            res = find_reaction(pot, R_is, R_fs)  # converged=False past 10 min, saying why

    ``ValueError`` for a JAX potential: its runs are compiled loops that their step limits
    bound, with no host call at which to stop."""
    if not isinstance(potential.energy_fn, HostEnergy):
        raise ValueError("time_limit applies to outside calculators; a JAX potential's runs are bounded by their step limits.")
    return potential.energy_fn.time_limit(seconds)


def failure_result(failures: Sequence[str]):
    """The ``RESULTS`` of a run whose calculator evaluations failed with `failures` (their
    messages, in order, not empty) and the one message that says why:
    ``time_limit_reached`` if the last one came after a :func:`time_limit`, else
    ``calculator_failed`` with the first."""
    from jaxrxn._results import RESULTS

    if time_limited(failures):
        return RESULTS.time_limit_reached, failures[-1]
    return RESULTS.calculator_failed, failures[0]


def describe_failures(failures: Sequence[str]) -> str:
    """One line for a run stopped by the calculator `failures` (not empty): the result's
    sentence and the message, as ``find_reaction`` reports a stage that failed."""
    from jaxrxn._results import RESULTS

    result, message = failure_result(failures)
    return f"{RESULTS[result]} ({message})"


def calculator_result(result, potential: Potential):
    """``RESULTS.calculator_failed`` when a run on `potential` did not succeed and one of its
    outside-calculator evaluations failed every retry (``RESULTS.time_limit_reached`` when the
    last failure is a :func:`time_limit`'s); `result` (a ``RESULTS``) otherwise.

    Host-side (call it after the run, on a potential built for that run): inside ``jit``
    the solvers see only the NaN the bridge returned (``nonfinite_state``,
    ``band_diverged``) and stop with the last good configuration; the bridge knows why.
    """
    from jaxrxn._results import RESULTS

    failures = calculator_failures(potential)
    if failures and result != RESULTS.successful:
        return failure_result(failures)[0]
    return result
