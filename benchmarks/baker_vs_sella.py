"""Baker transition-state set: jaxrxn's RSPRFO against Sella 2.6 on the same calculator.

J. Baker & F. Chan, J. Comput. Chem. 17, 888 (1996): 25 transition-state guesses
(shared/data/reaction_sets/baker_ts/, with the published HF/3-21G TS energies, charges and
multiplicities in its README). Both searches start from the guess with no starting mode,
run to the same ``fmax`` (0.01 eV/Å) on the same calculator object (jaxrxn's
``xtb_potential`` / ``pyscf_potential``; Sella reaches it through a thin ASE wrapper), and
every gradient each one asks for is counted at the calculator. Sella runs
``Sella(atoms, order=1, internal=True)``; jaxrxn runs ``saddle_search(..., RSPRFO())`` in
Cartesian coordinates (``--coords cartesian``, result key ``jaxrxn``) or its molecular
default ``RSPRFO.molecular(numbers, R)`` in redundant internal coordinates built from the
guess (``--coords internal``, key ``jaxrxn_internal``; the previous internal default,
Lindh's model with Bofill updates, is kept under ``jaxrxn_internal_previous``; for xTB the
molecular default before its curvature check at convergence under ``jaxrxn_internal_unconfirmed``,
and before fragments were welded by all their near-shortest contacts and bends above 140
degrees got linear bends under ``jaxrxn_internal_closest_weld``). Neither search computes a Hessian, so
gradients are the whole cost of both.

Both final geometries are then checked with one Hessian that neither search is charged for:
PySCF's analytic Hessian for HF, central differences of gradients for xTB (``6 n_atoms``
calls). Success:

- ``hf``: index 1 and the energy within 1e-5 Hartree of the published one;
- ``xtb``: index 1 and the energy within 1e-4 eV of Sella's from the same guess, or a
  different first-order saddle that is lower than Sella's ("lower").

Results are checkpointed per molecule to ``benchmarks/results/baker_<calc>.json`` (rerun to
continue; a Sella result already there is reused, it does not depend on jaxrxn's
settings) and printed as a table. Run:
``python benchmarks/baker_vs_sella.py xtb|hf [--coords cartesian|internal] [names]``.
HF/3-21G takes hours on 2 cores: run it in the background with ``nice``.
"""

from __future__ import annotations

import fcntl
import json
import pathlib
import sys
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase.calculators.calculator import Calculator, all_changes  # noqa: E402
from ase.io import read  # noqa: E402
from sella import Sella  # noqa: E402

from jaxrxn.potentials.qm import pyscf_potential, xtb_potential  # noqa: E402
from jaxrxn.saddle import RSPRFO, saddle_search  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
BAKER = HERE.parents[1] / "shared/data/reaction_sets/baker_ts"
if not BAKER.is_dir():  # a worktree one level deeper
    BAKER = HERE.parents[2] / "shared/data/reaction_sets/baker_ts"
HARTREE = 27.211386245988
FMAX = 0.01
MAX_STEPS = 300

#: (charge, multiplicity, published HF/3-21G TS energy in Hartree), from the set's README
REFERENCE = {
    "01_hcn": (0, 1, -92.24604), "02_hcch": (0, 1, -76.29343), "03_h2co": (0, 1, -113.05003),
    "04_ch3o": (0, 2, -113.69365), "05_cyclopropyl": (0, 2, -115.72100),
    "06_bicyclobutane": (0, 1, -153.90494), "07_bicyclobutane": (0, 1, -153.89754),
    "08_formyloxyethyl": (0, 2, -264.64757), "09_parentdieslalder": (0, 1, -231.60321),
    "10_tetrazine": (0, 1, -292.81026), "11_trans_butadiene": (0, 1, -154.05046),
    "12_ethane_h2_abstraction": (0, 1, -78.54323), "13_hf_abstraction": (0, 1, -176.98453),
    "14_vinyl_alcohol": (0, 1, -151.91310), "15_hocl": (0, 1, -569.897524),
    "16_h2po4_anion": (-1, 1, -637.92388), "17_claisen": (0, 1, -267.23859),
    "18_silyene_insertion": (0, 1, -367.20778), "19_hnccs": (0, 1, -525.43040),
    "20_hconh3_cation": (1, 1, -168.24752), "21_acrolein_rot": (0, 1, -189.67574),
    "22_hconhoh": (0, 1, -242.256958), "23_hcn_h2": (0, 1, -93.31114),
    "24_h2cnh": (0, 1, -93.33296), "25_hcnh2": (0, 1, -93.28172),
}  # fmt: skip


def make_potential(kind, atoms, charge, mult):
    if kind == "xtb":
        return xtb_potential(atoms.numbers, "gfn2", charge=charge, multiplicity=mult)
    # tight SCF: Hessian-vector products difference gradients 1e-3 Å apart (both codes)
    return pyscf_potential(atoms.numbers, "hf/3-21g", charge=charge, multiplicity=mult, conv_tol=1e-11)


class HostCalculator(Calculator):
    """ASE face of a jaxrxn host potential (the same evaluator jaxrxn calls)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, potential):
        super().__init__()
        self.fn = potential.energy_fn

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        e, f = self.fn.evaluate_batch(atoms.positions[None])
        self.results = {"energy": float(e[0]), "forces": np.asarray(f[0])}


def saddle_index(kind, potential, R):
    """Negative curvatures (eV/Å² below -0.02) of the Hessian at R with rigid-body modes
    projected out, and the calls it took (not charged to either search)."""
    n = R.size
    if kind == "hf":
        H = potential.energy_fn.hessian(R)
        cost = "1 analytic Hessian"
    else:
        h = 5e-3
        D = np.eye(n).reshape(n, *R.shape) * h
        _, fp = potential.energy_fn.evaluate_batch(R[None] + D)
        _, fm = potential.energy_fn.evaluate_batch(R[None] - D)
        H = -(fp - fm).reshape(n, n) / (2 * h)
        cost = f"{2 * n} gradients"
    H = 0.5 * (H + H.T)
    X = R - R.mean(0)
    rigid = [np.tile(e, len(R)) for e in np.eye(3)] + [np.cross(e, X).reshape(-1) for e in np.eye(3)]
    Q, s, _ = np.linalg.svd(np.array(rigid).T, full_matrices=False)
    Q = Q[:, s > 1e-8 * s.max()]
    P = np.eye(n) - Q @ Q.T
    w = np.linalg.eigvalsh(P @ H @ P)
    return int(np.sum(w < -0.02)), float(w[0]), cost


def run_sella(potential, atoms):
    atoms = atoms.copy()
    atoms.calc = HostCalculator(potential)
    n0 = potential.energy_fn.n_calls
    t = time.perf_counter()
    opt = Sella(atoms, order=1, internal=True, logfile=None)
    try:
        converged = bool(opt.run(fmax=FMAX, steps=MAX_STEPS))
        error = None
    except Exception as err:  # noqa: BLE001 - a failed search is a result here
        converged, error = False, f"{type(err).__name__}: {err}"
    out = {
        "converged": converged, "energy_eV": float(atoms.get_potential_energy()),
        "calls": potential.energy_fn.n_calls - n0, "hessians": 0, "steps": opt.nsteps,
        "seconds": time.perf_counter() - t, "R": atoms.positions.tolist(),
    }  # fmt: skip
    if error:
        out["error"] = error
    return out


def run_jaxrxn(potential, atoms, internal=False):
    n0 = potential.energy_fn.n_calls
    t = time.perf_counter()
    solver = RSPRFO.molecular(atoms.numbers, atoms.positions) if internal else RSPRFO()
    res = saddle_search(
        potential, jnp.asarray(atoms.positions), solver, fmax=FMAX, max_steps=MAX_STEPS, zero_modes_spec="free"
    )
    calls = potential.energy_fn.n_calls - n0
    assert calls == int(res.n_force_calls), (calls, int(res.n_force_calls))
    return {
        "converged": bool(res.converged), "energy_eV": float(res.energy), "calls": calls,
        "hessians": int(res.n_hessian_calls), "steps": int(res.n_steps),
        "seconds": time.perf_counter() - t, "R": np.asarray(res.R).tolist(),
    }  # fmt: skip


def judge(kind, name, run, sella=None):
    charge, mult, e_pub = REFERENCE[name]
    if run["index"] != 1:
        return "fail"
    if kind == "hf":
        return "ok" if abs(run["energy_eV"] / HARTREE - e_pub) < 1e-5 else "other"
    if abs(run["energy_eV"] - sella["energy_eV"]) < 1e-4:
        return "ok"
    if sella["index"] != 1:
        return "ok (Sella failed)"
    return "lower" if run["energy_eV"] < sella["energy_eV"] else "higher"


RUNS = {
    "sella": run_sella,
    "jaxrxn": run_jaxrxn,
    "jaxrxn_internal": lambda potential, atoms: run_jaxrxn(potential, atoms, internal=True),
}


def _save_row(out_path, name, row):
    """Merge one molecule's row into the results file under a lock (several processes may
    run disjoint molecules into the same file)."""
    with open(pathlib.Path(tempfile.gettempdir()) / f"{out_path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(out_path.read_text()) if out_path.exists() else {}
        results.setdefault(name, {}).update(row)
        out_path.write_text(json.dumps(results, indent=1))
        return results


def main(kind, coords, names):
    out_path = HERE / "results" / f"baker_{kind}.json"
    out_path.parent.mkdir(exist_ok=True)
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    codes = ("sella", "jaxrxn" if coords == "cartesian" else "jaxrxn_internal")
    for name in names:
        row = results.get(name, {})
        if all(c in row for c in codes):
            continue
        atoms = read(BAKER / f"{name}.xyz")
        charge, mult, _ = REFERENCE[name]
        for code in codes:
            if code in row:
                continue
            potential = make_potential(kind, atoms, charge, mult)
            run = RUNS[code]
            row[code] = run(potential, atoms)
            idx, lowest, cost = saddle_index(kind, potential, np.asarray(row[code]["R"]))
            row[code].update(index=idx, lowest_curvature=lowest, index_check_cost=cost)
        for code in row:
            row[code]["verdict"] = judge(kind, name, row[code], row["sella"])
        results = _save_row(out_path, name, row)
        print(name, {c: {k: row[c][k] for k in ("verdict", "calls", "energy_eV", "index")} for c in codes}, flush=True)
    table(results, codes[1], [n for n in names if n in results])


def table(results, code, names):
    """Markdown table of Sella against jaxrxn's `code` on `names`."""
    ok = lambda v: v in ("ok", "lower", "ok (Sella failed)")  # noqa: E731
    print(f"\n| molecule | Sella calls | Sella | {code} calls | {code} | E {code} - E Sella (eV) |")
    print("|---|---|---|---|---|---|")
    tot = {"sella": 0, code: 0}
    wins = {"sella": 0, code: 0}
    for name in names:
        s, j = results[name]["sella"], results[name][code]
        for c in tot:
            tot[c] += results[name][c]["calls"]
            wins[c] += ok(results[name][c]["verdict"])
        print(f"| {name} | {s['calls']} | {s['verdict']} | {j['calls']} | {j['verdict']} | {j['energy_eV'] - s['energy_eV']:+.5f} |")
    print(f"| **total ({len(names)})** | {tot['sella']} | {wins['sella']} ok | {tot[code]} | {wins[code]} ok | |")
    print("Calls are gradients at the calculator; analytic Hessians in the searches: 0 for both.")


if __name__ == "__main__":
    argv = sys.argv[1:]
    coords = "cartesian"
    if "--coords" in argv:
        at = argv.index("--coords")
        coords = argv[at + 1]
        del argv[at : at + 2]
    kind = argv[0] if argv else "xtb"
    if kind not in ("xtb", "hf") or coords not in ("cartesian", "internal"):
        raise SystemExit("usage: baker_vs_sella.py xtb|hf [--coords cartesian|internal] [names...]")
    main(kind, coords, argv[1:] or sorted(REFERENCE))
