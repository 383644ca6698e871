"""Initial paths on the Birkholz & Schlegel reaction set with GFN2-xTB.

A. B. Birkholz & H. B. Schlegel, JCC 36, 1157 (2015): 20 reactions, reactant and product
(frames 0 and 2 of each ``.trj``), charge -1 for 15_oxirane and 18_sn2. For every reaction
the end points are relaxed with GFN2-xTB (tblite's ASE calculator and ASE's BFGS, fmax
0.01 eV/Å), the product is Kabsch-aligned onto the reactant, and four initial bands of
``--n-images`` images are built:

- ``geodesic``: :func:`jaxrxn.path.geodesic` (Zhu, Thompson & Martinez, JCP 150, 164103
  (2019)), all 20 reactions in ONE ``jax.vmap`` call, padded to the largest molecule
  (``System.atom_mask``), so it compiles once; its wall time is that of the whole batch;
- ``geodesic_interpolate``: the authors' package with its command-line defaults (bisection,
  then smoothing; sweeping above 35 atoms);
- ``idpp``: :func:`jaxrxn.path.idpp`; ``linear``: :func:`jaxrxn.path.linear`.

Measured for each band: its length in the geodesic metric by jaxrxn's
:func:`~jaxrxn.path.geodesic_length` and by the reference package's own length function,
the highest interpolated xTB energy relative to the relaxed reactant (eV), the smallest
interatomic distance over all images (Å), the wall time; then (phase 2) the CI-NEB force
calls to convergence from each band with :func:`jaxrxn.neb` (``--fmax``, ``--max-steps``;
a run that stops unconverged is recorded as failed).

Phase 1 (relaxation, interpolations, their xTB energies from tblite's ASE calculator) runs
for every reaction before phase 2 (NEB), smallest molecules first. Results are written after every step to ``--out`` (default
``benchmarks/results/interpolation_birkholz.json``), which is also the checkpoint: a rerun
skips what is there. Run in the background, e.g.
``nice -n 10 python benchmarks/interpolation_birkholz.py > interp.log 2>&1 &``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase.io import read  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.path import NEB, geodesic, geodesic_length, idpp, linear, neb  # noqa: E402
from jaxrxn.potentials.qm import xtb_potential  # noqa: E402
from jaxrxn.system import System  # noqa: E402

DATA = pathlib.Path("/work/shared/data/reaction_sets/birkholz_rx")
CHARGES = {"15_oxirane": -1, "18_sn2": -1}
METHODS = ("geodesic", "geodesic_interpolate", "idpp", "linear")


def reference_length(symbols, path) -> float:
    from geodesic_interpolate.geodesic import Geodesic

    smoother = Geodesic(symbols, np.asarray(path), 1.7, threshold=3.0, log_level=logging.DEBUG)
    smoother.compute_disps()
    return float(smoother.length)


def reference_path(symbols, R0, R1, n_images) -> np.ndarray:
    """``geodesic_interpolate``'s command line with its defaults."""
    from geodesic_interpolate.geodesic import Geodesic
    from geodesic_interpolate.interpolation import redistribute

    np.random.seed(0)
    raw = redistribute(symbols, [R0, R1], n_images, tol=2e-3 * 5)
    smoother = Geodesic(symbols, raw, 1.7, threshold=3.0, friction=1e-2, log_level=logging.DEBUG)
    if len(symbols) > 35:
        return smoother.sweep(tol=2e-3, max_iter=15, micro_iter=20)
    return smoother.smooth(tol=2e-3, max_iter=15)


def min_distance(path) -> float:
    path = np.asarray(path)
    d = np.linalg.norm(path[:, :, None] - path[:, None], axis=-1)
    d[:, np.arange(path.shape[1]), np.arange(path.shape[1])] = np.inf
    return float(d.min())


def interpolate(method, R0, R1, n_images, symbols):
    if method == "geodesic_interpolate":
        return reference_path(symbols, R0, R1, n_images), {}
    if method == "idpp":
        return np.asarray(idpp(R0, R1, n_images)), {}
    return np.asarray(linear(R0, R1, n_images)), {}


def xtb_calculator(charge: int):
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", charge=charge, verbosity=0)


def relax_ends(name, atoms_is, atoms_fs, entry, save):
    from ase.optimize import BFGS

    charge = CHARGES.get(name, 0)
    ends, info = [], {}
    for label, atoms in (("is", atoms_is), ("fs", atoms_fs)):
        atoms = atoms.copy()
        atoms.calc = xtb_calculator(charge)
        opt = BFGS(atoms, logfile=None)
        converged = bool(opt.run(fmax=0.01, steps=1000))
        ends.append(atoms.positions.copy())
        info[label] = {"converged": converged, "energy": float(atoms.get_potential_energy()),
                       "n_steps": opt.nsteps}  # fmt: skip
    R0, R1 = ends
    R1 = np.asarray(jaxrxn.align(jnp.asarray(R1), jnp.asarray(R0)))
    entry.update(n_atoms=len(atoms_is), charge=charge, relax=info, relaxed=[R0.tolist(), R1.tolist()])
    entry["methods"] = {}
    save()


def band_energies(atoms, charge, path) -> np.ndarray:
    calc = xtb_calculator(charge)
    energies = []
    for R in path:
        image = atoms.copy()
        image.positions = R
        image.calc = calc
        try:
            energies.append(image.get_potential_energy())
        except Exception:  # SCF failure on a broken image
            energies.append(np.nan)
    return np.asarray(energies)


def geodesic_batch(names, frames, reactions, n_images, save):
    """All reactions' geodesic paths in one vmapped call, padded to the largest molecule."""
    todo = [n for n in names if "geodesic" not in reactions[n]["methods"]]
    if not todo:
        return
    n_pad = max(len(frames[n][0]) for n in todo)
    R0 = np.zeros((len(todo), n_pad, 3))
    R1 = np.zeros_like(R0)
    systems = []
    for k, name in enumerate(todo):
        n = reactions[name]["n_atoms"]
        R0[k, :n], R1[k, :n] = reactions[name]["relaxed"]
        R0[k, n:] = R1[k, n:] = 20.0 + 3.0 * np.arange(n_pad - n)[:, None]
        numbers = np.pad(frames[name][0].numbers, (0, n_pad - n))
        systems.append(System(numbers, atom_mask=np.arange(n_pad) < n))
    system = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *systems)
    t0 = time.perf_counter()
    res = jax.vmap(lambda a, b, s: geodesic(a, b, n_images, s))(jnp.asarray(R0), jnp.asarray(R1), system)
    jax.block_until_ready(res.path)
    seconds = time.perf_counter() - t0
    for k, name in enumerate(todo):
        n = reactions[name]["n_atoms"]
        reactions[name]["methods"]["geodesic"] = {
            "path": np.asarray(res.path[k, :, :n]).tolist(), "converged": bool(res.converged[k]),
            "n_steps": int(res.n_steps[k]), "batch_seconds": seconds, "batch_size": len(todo),
        }  # fmt: skip
    save()
    print(f"geodesic batch of {len(todo)} reactions padded to {n_pad} atoms: {seconds:.1f} s", flush=True)


def phase1(name, atoms_is, args, entry, save):
    numbers, symbols = atoms_is.numbers, atoms_is.get_chemical_symbols()
    charge = CHARGES.get(name, 0)
    R0, R1 = (np.asarray(x) for x in entry["relaxed"])
    e_is = entry["relax"]["is"]["energy"]
    for method in METHODS:
        m = entry["methods"].get(method, {})
        if "length" in m or "error" in m:
            continue
        t0 = time.perf_counter()
        if method == "geodesic":  # computed by geodesic_batch
            path, extra = np.asarray(m.pop("path")), m
        else:
            try:
                path, extra = interpolate(method, R0, R1, args.n_images, symbols)
            except Exception as err:  # a refused or failed interpolation is a result
                entry["methods"][method] = {"error": f"{type(err).__name__}: {err}"}
                save()
                print(f"{name:14s} {method:21s} failed: {err}", flush=True)
                continue
            extra["seconds"] = time.perf_counter() - t0
        energies = band_energies(atoms_is, charge, path[1:-1])
        entry["methods"][method] = {
            "length": float(geodesic_length(jnp.asarray(path), System(numbers))),
            "length_reference_metric": reference_length(symbols, path),
            "max_energy_rel_is": float(np.max(energies) - e_is) if np.all(np.isfinite(energies)) else None,
            "min_distance": min_distance(path),
            "path": path.tolist(),
            **extra,
        }
        save()
        print(f"{name:14s} {method:21s} L={entry['methods'][method]['length']:.3f} "
              f"Emax={entry['methods'][method]['max_energy_rel_is']} "
              f"dmin={entry['methods'][method]['min_distance']:.3f}", flush=True)  # fmt: skip


def phase2(name, atoms_is, args, entry, save):
    pot = xtb_potential(atoms_is.numbers, "gfn2", charge=CHARGES.get(name, 0))
    solver = NEB(climb=True)
    for method in METHODS:
        m = entry["methods"][method]
        if "error" in m or "neb" in m:
            continue
        t0 = time.perf_counter()
        n0 = pot.energy_fn.n_calls
        try:
            r = neb(pot, jnp.asarray(m["path"]), solver, fmax=args.fmax, max_steps=args.max_steps)
        except Exception as err:  # a band NEB refuses (overlapping atoms) is a failure
            m["neb"] = {"converged": False, "error": f"{type(err).__name__}: {err}"}
            save()
            print(f"{name:14s} {method:21s} NEB refused: {err}", flush=True)
            continue
        m["neb"] = {
            "converged": bool(r.converged), "n_force_calls": int(r.n_force_calls),
            "n_calculator_calls": pot.energy_fn.n_calls - n0, "n_steps": int(r.n_steps),
            "barrier": float(r.barrier), "max_force": float(r.max_force),
            "result": str(r.result), "seconds": time.perf_counter() - t0,
        }  # fmt: skip
        save()
        print(f"{name:14s} {method:21s} NEB conv={m['neb']['converged']} calls={m['neb']['n_force_calls']} "
              f"barrier={m['neb']['barrier']:.3f} {m['neb']['seconds']:.0f}s", flush=True)  # fmt: skip


def main():
    ps = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ps.add_argument("--data", type=pathlib.Path, default=DATA)
    ps.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).parent / "results" / "interpolation_birkholz.json")
    ps.add_argument("--n-images", type=int, default=8)
    ps.add_argument("--fmax", type=float, default=0.05)
    ps.add_argument("--max-steps", type=int, default=250)
    ps.add_argument("--only", nargs="*", help="reaction names (file stems)")
    ps.add_argument("--no-neb", action="store_true")
    args = ps.parse_args()
    logging.disable(logging.INFO)

    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    settings = {"n_images": args.n_images, "fmax": args.fmax, "max_steps": args.max_steps}
    results.setdefault("settings", settings)
    reactions = results.setdefault("reactions", {})

    def save():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(args.out)

    files = sorted(args.data.glob("*.trj"))
    if args.only:
        files = [f for f in files if f.stem in args.only]
    frames = {f.stem: read(f, ":", format="xyz") for f in files}
    order = sorted(frames, key=lambda n: len(frames[n][0]))
    for name in order:
        if "relaxed" not in reactions.setdefault(name, {}):
            relax_ends(name, frames[name][0], frames[name][2], reactions[name], save)
            print(f"{name:14s} relaxed {reactions[name]['relax']}", flush=True)
    geodesic_batch(order, frames, reactions, args.n_images, save)
    for name in order:
        phase1(name, frames[name][0], args, reactions[name], save)
    if not args.no_neb:
        for name in order:
            phase2(name, frames[name][0], args, reactions[name], save)
    results["load_average"] = os.getloadavg()
    save()


if __name__ == "__main__":
    main()
