"""Saddle searches: jaxrxn (P-RFO, dimer) against Sella 2.6 from identical starts.

Systems: Muller-Brown (both saddles, starts 0.05-0.1 from them in random directions; Sella gets a
fixed dummy He atom 50 Å away and a z restraint, since it projects out a lone atom's
translations), 2D LJ7 (rattled saddles, embedded in z = 0 with a z restraint for Sella)
and the EMT Cu/Cu(100) hop (adatom over the bridge). For each: success rate (converged to
the reference saddle energy within 1e-4, index 1), mean force and Hessian calls, seconds
per search after compilation. Both sides get the same start and nothing else (no initial
mode for either). P-RFO takes an exact (JAX) Hessian every step; "grad-equiv" counts each
as the 2 n_dof gradients a finite-difference Hessian costs (what it would cost with a
gradient-only calculator, as Sella has), so ``force calls + 2 n_dof Hessians``. Sella's
calls include its own iterative Hessian estimates. Sella runs in this process.

Sella projects out rigid rotations of a non-periodic system; with a dummy atom 50 Å away
a rotation about it moves the lone H atom sideways, so the projection leaves the H atom
only the line towards the dummy and the search runs off (0% success with rotations projected). The dummy
already pins translations, so MB runs use ``proj_rot=False``; Sella then needs the 7-12
calls of shared/reference/paths_saddles.md §2a on that table's four starts.
Run: ``python benchmarks/saddle_vs_sella.py [n_starts] [mb|lj7|emt ...]``.
"""

from __future__ import annotations

import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase import Atoms  # noqa: E402
from ase.calculators.calculator import Calculator, all_changes  # noqa: E402
from ase.constraints import FixAtoms  # noqa: E402
from sella import Sella  # noqa: E402

from jaxrxn.potentials import lennard_jones, muller_brown  # noqa: E402
from jaxrxn.saddle import PRFO, Dimer, saddle_search  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100
PARTS = sys.argv[2:] or ["mb", "lj7", "emt"]
FMAX = 1e-3


class JaxCalc(Calculator):
    """ASE calculator on a jaxrxn potential over the first `n` atoms' first `dim` coords,
    plus a stiff z restraint for 2D models; counts calls."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, pot, n, dim):
        super().__init__()
        self.n, self.dim, self.calls = n, dim, 0
        self.f = jax.jit(lambda R: pot.energy_and_forces(R))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        P = atoms.positions
        e, f = self.f(jnp.asarray(P[: self.n, : self.dim]))
        F = np.zeros_like(P)
        F[: self.n, : self.dim] = np.asarray(f)
        e = float(e)
        if self.dim == 2:
            e += 0.5 * 1000 * np.sum(P[: self.n, 2] ** 2)
            F[: self.n, 2] = -1000 * P[: self.n, 2]
        self.results = {"energy": e, "forces": F}


def sella_run(pot, R, dim, dummy):
    n = R.shape[0]
    P = np.zeros((n, 3))
    P[:, :dim] = R
    if dummy:
        atoms = Atoms("H" * n + "He", positions=np.vstack([P, [[50.0, 50.0, 50.0]]]))
        atoms.set_constraint(FixAtoms(indices=[n]))
    else:
        atoms = Atoms("H" * n, positions=P)
    calc = JaxCalc(pot, n, dim)
    atoms.calc = calc
    # rotations about the far dummy are not symmetries of a model surface (see docstring)
    projection = {"proj_rot": False} if dummy else {}
    t = time.perf_counter()
    try:
        ok = Sella(atoms, order=1, internal=False, logfile=None, **projection).run(fmax=FMAX, steps=300)
        e = atoms.get_potential_energy()
    except ValueError:  # Sella's eigensolver meets NaN on some starts: a failure
        ok, e = False, np.nan
    return ok, e, calc.calls, time.perf_counter() - t


def report(name, E_ref, jx, sella, n_dof):
    print(f"\n== {name}: {N} starts, fmax {FMAX}, n_dof {n_dof}")
    rows = {}
    for label, (conv, E, idx, nf, nh, sec) in jx.items():
        ok = np.asarray(conv) & (np.abs(np.asarray(E) - E_ref) < 1e-4) & (np.asarray(idx) == 1)
        rows[label] = (ok.mean(), np.mean(nf), np.mean(nh), sec)
    ok_s = np.array([s[0] and abs(s[1] - E_ref) < 1e-4 for s in sella])
    rows["sella"] = (ok_s.mean(), np.mean([s[2] for s in sella]), 0.0, np.mean([s[3] for s in sella]))
    # same start, same saddle: jaxrxn's energy within 1e-4 of Sella's where both succeed
    E_sella = np.array([s[1] for s in sella])
    agree = {label: np.mean(np.abs(np.asarray(r[1]) - E_sella) < 1e-4) for label, r in jx.items()}
    agree["sella"] = 1.0
    print(f"{'method':10s} {'success':>8s} {'force calls':>12s} {'max calls':>10s} {'hess calls':>11s} "
          f"{'grad-equiv':>11s} {'s/search':>9s} {'calls/sella':>12s} {'equiv/sella':>12s} {'E=sella':>8s}")
    max_calls = {label: np.max(r[3]) for label, r in jx.items()}
    max_calls["sella"] = max(s[2] for s in sella)
    for label, (sr, nf, nh, sec) in rows.items():
        equiv = nf + 2 * n_dof * nh
        print(f"{label:10s} {sr:8.2f} {nf:12.2f} {max_calls[label]:10d} {nh:11.2f} {equiv:11.2f} {sec:9.1e} "
              f"{nf / rows['sella'][1]:12.2f} {equiv / rows['sella'][1]:12.2f} {agree[label]:8.2f}")


def run_jax(pot, starts, solver, **kw):
    f = jax.jit(jax.vmap(lambda R: saddle_search(pot, R, solver, fmax=FMAX, max_steps=500, **kw)))
    jax.block_until_ready(f(starts[:1].repeat(len(starts), 0)))  # compile
    t = time.perf_counter()
    r = jax.block_until_ready(f(starts))
    sec = (time.perf_counter() - t) / len(starts)
    return r.converged, r.energy, r.saddle_index, r.n_force_calls, r.n_hessian_calls, sec


def muller_brown_bench():
    pot = muller_brown()
    rng = np.random.default_rng(0)
    for name, S, E in (("MB S1", (-0.822002, 0.624313), -40.6648), ("MB S2", (0.212487, 0.292988), -72.2489)):
        d = rng.normal(size=(N, 2))
        d *= (rng.uniform(0.05, 0.1, size=N) / np.linalg.norm(d, axis=1))[:, None]
        starts = jnp.asarray((np.array(S) + d)[:, None])
        jx = {"prfo": run_jax(pot, starts, PRFO()), "dimer": run_jax(pot, starts, Dimer())}
        sella = [sella_run(pot, np.asarray(s), 2, True) for s in starts]
        report(name, E, jx, sella, 2)


def lj7_bench():
    sys.path.insert(0, "tests")
    from helpers import LJ7_SADDLE_11_0403

    pot = lennard_jones(dim=2)
    rng = np.random.default_rng(1)
    starts = jnp.asarray(LJ7_SADDLE_11_0403 + 0.02 * rng.normal(size=(N, 7, 2)))
    jx = {"prfo": run_jax(pot, starts, PRFO(), zero_modes_spec="free"), "dimer": run_jax(pot, starts, Dimer())}
    sella = [sella_run(pot, np.asarray(s), 2, False) for s in starts]
    report("2D LJ7 saddle -11.0403 (rattle 0.02)", -11.0403, jx, sella, 14)


def emt_bench():
    from ase.calculators.emt import EMT

    from jaxrxn.optimize import minimize
    from jaxrxn.potentials.emt import emt_from_atoms
    from jaxrxn.systems import cu_adatom_on_cu100

    a = 3.5898
    slab, _ = cu_adatom_on_cu100(a)  # bottom two layers fixed
    R, pot = emt_from_atoms(slab)
    m = jax.jit(lambda R: minimize(pot, R, "lbfgs", fmax=1e-4, max_steps=1000))(jnp.asarray(R))
    guess = m.R.at[-1, 0].add(a / np.sqrt(2) / 2)
    n_dof = 3 * int(np.sum(~np.asarray(pot.fixed))) if pot.fixed is not None else R.size
    print("\n== EMT Cu/Cu(100) hop from the bridge guess, fmax", FMAX)
    for label, solver in (("prfo", PRFO()), ("dimer", Dimer())):
        # same start as Sella's and no initial mode (Sella gets none)
        f = jax.jit(lambda R, solver=solver: saddle_search(pot, R, solver, fmax=FMAX))
        jax.block_until_ready(f(guess))
        t = time.perf_counter()
        r = jax.block_until_ready(f(guess))
        nf, nh = int(r.n_force_calls), int(r.n_hessian_calls)
        print(f"{label:6s} barrier {float(r.energy - m.energy):.5f} eV converged {bool(r.converged)} index {int(r.saddle_index)} "
              f"force calls {nf} Hessian calls {nh} (n_dof {n_dof}: {nf + 2 * n_dof * nh} grad-equiv) {time.perf_counter() - t:.3f} s")
    atoms = slab.copy()
    atoms.positions = np.asarray(guess)
    atoms.calc = EMT()
    e_min = float(m.energy)
    calls = [0]
    orig = atoms.calc.calculate

    def counted(*args, **kw):
        calls[0] += 1
        return orig(*args, **kw)

    atoms.calc.calculate = counted
    t = time.perf_counter()
    Sella(atoms, order=1, internal=False, logfile=None).run(fmax=FMAX, steps=300)
    print(f"sella  barrier {atoms.get_potential_energy() - e_min:.5f} eV force calls {calls[0]} {time.perf_counter() - t:.3f} s")


if __name__ == "__main__":
    benches = {"mb": muller_brown_bench, "lj7": lj7_bench, "emt": emt_bench}
    for part in PARTS:
        benches[part]()
