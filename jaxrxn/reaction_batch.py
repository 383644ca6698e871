"""Many reactions at once: :func:`find_reactions`, the batched :func:`jaxrxn.find_reaction`.

Reactions on JAX potentials (different molecules, different atom counts, one kind of
potential) run as padded batches (:mod:`jaxrxn.batch`): the end-state relaxations, the
interpolation, the CI-NEB, the saddle refinement and the IRC are each one vmapped,
compiled call for the whole batch; the harmonic analysis and the verification of the IRC
ends run per reaction on the host (NumPy). Reactions on outside calculators (xTB, PySCF,
ASE) cannot share a vmap: they run :func:`jaxrxn.find_reaction` concurrently on
`workers` threads, each with its own calculator.

Every result is a :class:`jaxrxn.reaction.ReactionResult` with the stages, force-call
counts and failure reporting of :func:`jaxrxn.find_reaction`; for JAX potentials each
equals the reaction run alone (padding atoms carry no energy, force, rigid-body mode or
alignment weight) up to the round-off of a wider array and the geodesic interpolation's
random nudges (drawn for the padded shape: the band starts a few 1e-3 Å apart and
converges to the same saddle).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

import jax
import jax.numpy as jnp
import numpy as np

from jaxrxn._results import RESULTS
from jaxrxn.batch import _split, batch_minimize, batch_neb, batch_saddle_search, pad_positions, stack_potentials, unpad
from jaxrxn.geometry import rmsd_numpy
from jaxrxn.optimize import LBFGS
from jaxrxn.path.elastic_band import NEB, improved_tangents
from jaxrxn.potentials.core import Potential
from jaxrxn.potentials.external import HostEnergy
from jaxrxn.reaction import (
    IRC_OPTIONS,
    ReactionResult,
    _aligned_onto,
    check_end_points,
    find_reaction,
    match_irc_ends,
    not_connected_message,
)


def find_reactions(
    pairs: Sequence[tuple],
    potentials: Sequence[Potential],
    *,
    relax: bool = True,
    interpolation: str | None = None,
    n_images: int = 8,
    neb_fmax: float = 0.1,
    neb_max_steps: int = 500,
    fmax: float = 0.01,
    saddle_max_steps: int = 300,
    rmsd_tol: float = 0.2,
    workers: int = 1,
    progress: bool | Callable[[str], None] = False,
    on_result: Callable[[int, ReactionResult], None] | None = None,
) -> list[ReactionResult]:
    """Transition states of many reactions, refined and verified by IRCs.

    **Arguments:**

    - `pairs`: ``(R_initial, R_final)`` end states ``(n_atoms_i, 3)`` (Å) per reaction.
    - `potentials`: one :class:`Potential` per reaction. JAX potentials of one kind (e.g.
      all Morse, all EMT; any atom counts) run as padded batches; outside calculators run
      :func:`jaxrxn.find_reaction` on `workers` threads at once.
    - the other keywords as for :func:`jaxrxn.find_reaction`, applied to every reaction.
    - `on_result`: called as ``on_result(index, result)`` as soon as a reaction is done (a
      padded batch's reactions together, an outside calculator's one by one), e.g. to
      write a checkpoint.

    **Returns:** one :class:`jaxrxn.reaction.ReactionResult` per reaction, in input order.
    Raises ``ValueError`` for unusable end points (naming the reaction) before any work.
    """
    if len(pairs) != len(potentials):
        raise ValueError(f"{len(pairs)} reactions but {len(potentials)} potentials.")
    for i, ((R0, R1), pot) in enumerate(zip(pairs, potentials)):
        system = pot.system
        try:
            check_end_points(R0, R1, cell=None if system is None else system.cell, pbc=None if system is None else system.pbc)
        except ValueError as err:
            raise ValueError(f"reaction {i}: {err}") from None
    options = dict(
        relax=relax, interpolation=interpolation, n_images=n_images, neb_fmax=neb_fmax, neb_max_steps=neb_max_steps,
        fmax=fmax, saddle_max_steps=saddle_max_steps, rmsd_tol=rmsd_tol,
    )  # fmt: skip
    results: list[ReactionResult | None] = [None] * len(pairs)
    host = [i for i, p in enumerate(potentials) if isinstance(p.energy_fn, HostEnergy)]
    on_jax = [i for i in range(len(pairs)) if i not in set(host)]
    # molecules and the rest differ in static settings (rigid-body removal, interpolation)
    groups: dict[bool, list[int]] = {}
    for i in on_jax:
        groups.setdefault(_is_molecule(pairs[i][0], potentials[i]), []).append(i)
    for molecule, idx in groups.items():
        _log(progress, f"{len(idx)} {'molecular ' if molecule else ''}reactions on a JAX potential as one padded batch")
        done = _batched([pairs[i] for i in idx], [potentials[i] for i in idx], molecule, options, progress)
        for i, r in zip(idx, done):
            results[i] = r
            if on_result is not None:
                on_result(i, r)
    if host:
        _log(progress, f"{len(host)} reactions on outside calculators, {workers} at a time")
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {pool.submit(find_reaction, *pairs[i], potentials[i], **options): i for i in host}
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                if on_result is not None:
                    on_result(i, results[i])
    return results


def _log(progress, text: str) -> None:
    if progress is True:
        import sys

        print(f"jaxrxn reactions: {text}", file=sys.stderr, flush=True)
    elif callable(progress):
        progress(text)


def _is_molecule(R0, potential: Potential) -> bool:
    """As :func:`jaxrxn.find_reaction` decides: atomic numbers, no cell, no fixed atoms,
    at least 3 atoms."""
    system = potential.system
    numbers = None if system is None else system.numbers
    periodic = system is not None and system.cell is not None
    return numbers is not None and not periodic and potential.fixed is None and np.shape(R0)[0] >= 3


@functools.partial(jax.jit, static_argnames=("method", "n_images"))
def _interpolate_batch(R0, R1, system, method: str, n_images: int):
    from jaxrxn.path.geodesic_interpolation import geodesic
    from jaxrxn.path.interpolation import idpp, linear

    def one(a, b, s):
        if method == "geodesic":
            return geodesic(a, b, n_images, s).path
        return (idpp if method == "idpp" else linear)(a, b, n_images, system=s)

    return jax.vmap(one)(R0, R1, system)


@functools.partial(jax.jit, static_argnames=("options",))
def _irc_batch(potential, R, options: tuple):
    from jaxrxn.irc import irc

    return jax.vmap(lambda p, x: irc(p, x, **dict(options)))(potential, R)


@jax.jit
def _energies(potential, R):
    return jax.vmap(lambda p, x: p.energy(x))(potential, R)


def _batched(pairs, potentials, molecule: bool, options: dict, progress) -> list[ReactionResult]:
    from jaxrxn.saddle import PRFO
    from jaxrxn.saddle.index import zero_mode_probe_calls
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
        mins = batch_minimize(potentials * 2, R0 + R1, LBFGS(maxstep=0.2), fmax=fmax, max_steps=1000)
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
        solver = NEB(climb=True, optimizer=LBFGS(maxstep=0.1), remove_rigid=molecule)
        nebs = batch_neb(sub(idx), bands, solver, fmax=options["neb_fmax"], max_steps=options["neb_max_steps"])
        stage("neb", t0, [r.n_force_calls for r in nebs], idx)
    tangents, starts = {}, {}
    for i, band in zip(idx, nebs if idx else []):
        r = out[i]
        r.R_final = R1[i] = np.asarray(band.path[-1])  # geodesic moves the final state rigidly
        r.band, r.band_energies, r.neb_converged = np.asarray(band.path), np.asarray(band.energies), bool(band.converged)
        ts = int(band.ts_index)
        if not np.all(np.isfinite(r.band_energies)) or band.result == RESULTS.band_diverged:
            fail(i, "neb", RESULTS[band.result], r.band[ts])
        elif r.band_energies[ts] <= max(r.band_energies[0], r.band_energies[-1]):
            fail(i, "neb", "the band has no energy maximum between the end states (no barrier found)", r.band[ts])
        else:
            system = potentials[i].system
            tangents[i] = np.asarray(improved_tangents(band.path, band.energies, system.cell, system.pbc))[ts - 1]
            starts[i] = r.band[ts]

    # --- saddle, frequencies ------------------------------------------------------------------
    idx = list(active)
    if idx:
        t0 = time.perf_counter()
        saddles = batch_saddle_search(
            sub(idx), [starts[i] for i in idx], PRFO(), fmax=fmax, max_steps=options["saddle_max_steps"],
            modes=[tangents[i] for i in idx], check_index=True,
        )  # fmt: skip
        stage("saddle", t0, [s.n_force_calls for s in saddles], idx)
    for i, res in zip(idx, saddles if idx else []):
        r = out[i]
        r.n_hessian_calls += int(res.n_hessian_calls)
        r.R_ts = np.asarray(res.R)
        if not (np.all(np.isfinite(r.R_ts)) and np.isfinite(float(res.energy))):
            fail(i, "saddle", RESULTS[res.result], starts[i])
            continue
        r.ts_energy = float(res.energy)
        r.barrier, r.reverse_barrier = r.ts_energy - r.e_initial, r.ts_energy - r.e_final
        r.saddle_index = int(res.saddle_index)
        if not bool(res.converged) and res.result != RESULTS.saddle_wrong_index:
            fail(i, "saddle", RESULTS[res.result], r.R_ts)
            continue
        if molecule:
            t0 = time.perf_counter()
            vib = vibrations(potentials[i], r.R_ts)
            r.n_hessian_calls += vib.n_hessian_calls
            r.n_force_calls_by_stage["frequencies"] = vib.n_force_calls
            if not np.all(np.isfinite(vib.frequencies)):
                fail(i, "frequencies", "the harmonic analysis failed", r.R_ts)
                continue
            r.saddle_index, r.imaginary_frequency_cm1 = vib.n_imaginary, vib.imaginary_frequency
        if r.saddle_index != 1:
            fail(i, "saddle", f"{RESULTS[RESULTS.saddle_wrong_index]} (index {r.saddle_index})", r.R_ts)

    # --- IRC (from the Hessian's unstable mode, the vibrational mode of a molecule) and verify
    idx = list(active)
    if idx:
        t0 = time.perf_counter()
        part = stack_potentials(sub(idx), n_pad)
        R_ts = jnp.stack([pad_positions(out[i].R_ts, n_pad) for i in idx])
        paths = _split(_irc_batch(part, R_ts, tuple(sorted({**IRC_OPTIONS, "fmax": fmax}.items()))), len(idx))
        # alone, a molecule's IRC starts along the given vibrational mode: no zero-mode
        # probes and no Hessian; here each starts from its own Hessian's lowest mode
        probes = zero_mode_probe_calls(Potential(part.energy_fn), R_ts[0], "auto", e0_known=True)
        alone = [0 if molecule else zero_mode_probe_calls(potentials[i], out[i].R_ts, "auto", e0_known=True) for i in idx]
        calls = [int(p.n_force_calls) - probes + a for p, a in zip(paths, alone)]
        stage("irc", t0, calls, idx)
    for i, path in zip(idx, paths if idx else []):
        r, n_atoms = out[i], out[i].R_ts.shape[0]
        path = unpad(path, n_atoms, n_pad)
        r.n_hessian_calls += 0 if molecule else int(path.n_hessian_calls)
        nf, nr = int(path.forward.n_points), int(path.reverse.n_points)
        r.irc_path = np.concatenate([np.asarray(path.reverse.path[:nr])[::-1], r.R_ts[None], np.asarray(path.forward.path[:nf])])
        r.irc_energies = np.asarray(path.profile()[1])
        if path.result == RESULTS.nonfinite_state:
            fail(i, "irc", RESULTS[path.result], r.R_ts)
            continue
        numbers = np.asarray(potentials[i].system.numbers) if molecule else None
        ends = (np.asarray(path.reverse.R_min), np.asarray(path.forward.R_min))
        energies = (float(path.reverse.energy_min), float(path.forward.energy_min))
        r.irc_match = match_irc_ends(ends, energies, R0[i], R1[i], numbers, options["rmsd_tol"], molecule)
        r.connects = r.irc_match["initial"]["match"] and r.irc_match["final"]["match"]
        if not r.connects:
            fail(i, "verify", not_connected_message(r.irc_match), r.R_ts)
            continue
        r.converged, r.message = True, "successful"
    seconds = time.perf_counter() - t_start
    for r in out:
        r.n_force_calls = sum(r.n_force_calls_by_stage.values())
        r.seconds = seconds  # the batch's wall time: its reactions ran together
    return out
