"""The ASE pipeline a careful user writes, for the reaction benchmarks, with every
calculator evaluation counted: relax both ends (BFGS; or, with ``relax=False``, only their
energies, as ``find_reaction(relax=False)``), align them, IDPP,
``ase.mep.NEB(climb=True, method="improvedtangent")`` with FIRE or BFGS, Sella (internal
coordinates) from the climbing image, Sella's IRC both ways, and the IRC ends compared with
the relaxed end states (:func:`jaxrxn.reaction.same_species`, the test jaxrxn applies to
itself)."""

from __future__ import annotations

import time

import numpy as np


def find_reaction_set(name: str) -> str:
    """``shared/data/reaction_sets/NAME`` beside the repository (a checkout in ``work/main``
    or a worktree in ``work/wt/NAME``)."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for up in ("..", os.path.join("..", "..")):
        path = os.path.normpath(os.path.join(root, up, "shared", "data", "reaction_sets", name))
        if os.path.isdir(path):
            return path
    raise FileNotFoundError(f"reaction set {name!r} not found beside {root}")


def counting_xtb(counter: dict, charge: int = 0):
    """A tblite GFN2-xTB ASE calculator that adds one to ``counter["n"]`` per evaluation."""
    from tblite.ase import TBLite

    class Counting(TBLite):
        def calculate(self, *args, **kwargs):
            counter["n"] += 1
            return super().calculate(*args, **kwargs)

    return Counting(method="GFN2-xTB", charge=charge, verbosity=0)


def in_worker_thread(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on a worker thread: tblite spin-waits when called from the
    main thread of a busy machine (seconds per call instead of milliseconds)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def ase_pipeline(
    numbers, R0, R1, *, charge: int = 0, n_images: int = 8, optimizer: str = "bfgs",
    neb_fmax: float = 0.05, fmax: float = 0.01, neb_steps: int = 1000, rmsd_tol: float = 0.2, relax: bool = True,
) -> dict:  # fmt: skip
    from ase import Atoms
    from ase.build import minimize_rotation_and_translation
    from ase.mep import NEB
    from ase.optimize import BFGS, FIRE
    from sella import IRC, Sella

    from jaxrxn.reaction import same_species

    counter = {"n": 0}
    calls: dict[str, int] = {}
    out: dict = {"n_force_calls_by_stage": calls, "failed_stage": None}
    t0 = time.perf_counter()

    def stage(name, start):
        calls[name] = counter["n"] - start

    def make(R):
        a = Atoms(numbers=numbers, positions=np.asarray(R, float))
        a.calc = counting_xtb(counter, charge)
        return a

    try:
        start = counter["n"]
        ends = [make(R) for R in (R0, R1)]
        for a in ends:
            if relax:
                BFGS(a, logfile=None).run(fmax=fmax, steps=1000)
        minimize_rotation_and_translation(ends[0], ends[1])
        e_is, e_fs = (float(a.get_potential_energy()) for a in ends)
        stage("relax", start)
        start = counter["n"]
        images = [ends[0]] + [make(ends[0].positions) for _ in range(n_images - 2)] + [ends[1]]
        band = NEB(images, climb=True, method="improvedtangent")
        band.interpolate("idpp")
        opt = (BFGS if optimizer == "bfgs" else FIRE)(band, logfile=None)
        out["neb_converged"] = bool(opt.run(fmax=neb_fmax, steps=neb_steps))
        stage("neb", start)
        energies = [float(im.get_potential_energy()) for im in images]
        top = 1 + int(np.argmax(energies[1:-1]))
        start = counter["n"]
        ts = make(images[top].positions)
        out["saddle_converged"] = bool(Sella(ts, order=1, internal=True, logfile=None).run(fmax=fmax, steps=500))
        stage("saddle", start)
        e_ts = float(ts.get_potential_energy())
        out.update(barrier=e_ts - e_is, reverse_barrier=e_ts - e_fs, reaction_energy=e_fs - e_is, ts_energy=e_ts)
        out["R_ts"], out["R_ci"] = ts.positions.copy(), images[top].positions.copy()  # kept if the IRC fails
        start = counter["n"]
        irc_ends = []
        for direction in ("forward", "reverse"):
            a = make(ts.positions)
            IRC(a, logfile=None, dx=0.1, eta=1e-4).run(fmax=fmax, steps=1000, direction=direction)
            irc_ends.append(a.positions.copy())
        stage("irc", start)
        best = None
        for order in ((0, 1), (1, 0)):
            checks = [same_species(irc_ends[i], ref.positions, numbers, rmsd_tol) for i, ref in zip(order, ends)]
            if best is None or sum(c[0] for c in checks) > sum(c[0] for c in best):
                best = checks
        out["connects"] = bool(all(c[0] for c in best))
        out["irc_rmsd"] = [float(c[1]) for c in best]
    except Exception as err:  # an SCF failure or a torn band: report, do not stop the benchmark
        out["failed_stage"] = next((s for s in ("relax", "neb", "saddle", "irc") if s not in calls), "irc")
        out["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        out["connects"] = False
    out["n_force_calls"] = counter["n"]
    out["seconds"] = time.perf_counter() - t0
    return out
