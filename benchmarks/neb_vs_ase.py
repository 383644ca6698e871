"""CI-NEB: jaxrxn vs ASE 3.29 on identical bands, then batch throughput.

    python benchmarks/neb_vs_ase.py [--n-batch 1000] [--n-ase 20] [--seed 0]

Part 1, one band per system, same process, same initial images, same fmax (0.05 eV/Å),
spring k = 0.1 eV/Å², climbing image on from the start:

- Muller-Brown A -> B, 9 interior images, linear band (paths_saddles.md §2a). ASE sees one
  H atom at (x, y, 0) with forces -grad V and zero z force; MB units are taken as eV, Å.
- Au on Al(100), ASE's NEB tutorial set-up (2x2x3, Au 1.7 Å up in the hollow, vacuum 4,
  tags > 1 fixed), 3 interior images (§2b).
- Cu adatom on Cu(100), 4x4x4 at EMT's a = 3.5898 Å, bottom two layers fixed, 3 interior
  images (§1.2).

EMT end points are relaxed with ASE's BFGS to fmax 0.001 and the band is ASE's linear
``NEB.interpolate()``; jaxrxn gets the same positions. ASE runs
``NEB(images, k=0.1, climb=True, method='improvedtangent')`` with FIRE and BFGS; its force
calls are counted by a wrapper around each image calculator's ``calculate()`` (ASE's
cache makes repeated reads free; end points are counted once). jaxrxn runs ``neb`` with
FIRE (NEB's default, maxstep 0.05) and L-BFGS and reports ``NEBResult.n_force_calls``
(ASE's counting); its time is given for the first call (compilation included) and for a
second, warm call. Barrier: E(highest interior image) - E(initial image).

Part 2, throughput: N Muller-Brown bands with end points moved by up to 0.05 from A and B
(not relaxed), one ``jax.vmap``-ed ``neb`` (FIRE) versus N sequential ASE FIRE runs; ASE
is timed on the first `--n-ase` bands and extrapolated linearly to N. A vmapped
``while_loop`` runs until its slowest band finishes, so one slow band costs the batch.

Times are wall seconds on whatever machine runs this (they include Python overhead on the
ASE side).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from ase import Atoms  # noqa: E402
from ase.calculators.calculator import Calculator, all_changes  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from ase.mep import NEB as AseNEB  # noqa: E402
from ase.optimize import BFGS, FIRE as AseFIRE  # noqa: E402

import jaxrxn  # noqa: E402
from jaxrxn.optimize import FIRE, LBFGS  # noqa: E402
from jaxrxn.path import NEB, linear, neb  # noqa: E402
from jaxrxn.potentials.emt import emt_from_atoms  # noqa: E402
from jaxrxn.systems import au_on_al100, cu_adatom_on_cu100  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from batch_muller_brown import A, B, random_ends  # noqa: E402

FMAX = 0.05
K = 0.1
ASE_STEPS = 1000
ASE_BFGS_MB_STEPS = 200  # ASE's BFGS diverges on raw Muller-Brown (§2a): capped to save time


# ---------------------------------------------------------------------------------------
# ASE side
# ---------------------------------------------------------------------------------------
class MullerBrown(Calculator):
    """Muller-Brown surface for one atom at (x, y, z): V(x, y), forces -grad V, zero z force."""

    implemented_properties = ["energy", "forces"]
    A_i = np.array([-200.0, -100.0, -170.0, 15.0])
    a_i = np.array([-1.0, -1.0, -6.5, 0.7])
    b_i = np.array([0.0, 0.0, 11.0, 0.6])
    c_i = np.array([-10.0, -10.0, -6.5, 0.7])
    x0 = np.array([1.0, 0.0, -0.5, -1.0])
    y0 = np.array([0.0, 0.5, 1.5, 1.0])

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        x, y = self.atoms.positions[0, :2]
        dx, dy = x - self.x0, y - self.y0
        terms = self.A_i * np.exp(self.a_i * dx**2 + self.b_i * dx * dy + self.c_i * dy**2)
        gx = np.sum(terms * (2 * self.a_i * dx + self.b_i * dy))
        gy = np.sum(terms * (self.b_i * dx + 2 * self.c_i * dy))
        self.results = {"energy": float(np.sum(terms)), "forces": np.array([[-gx, -gy, 0.0]])}


def counting(calc_class):
    """``calc_class`` whose instances count their actual ``calculate()`` calls."""

    class Counting(calc_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.calls = 0

        def calculate(self, *args, **kwargs):
            self.calls += 1
            super().calculate(*args, **kwargs)

    return Counting


CountingMB, CountingEMT = counting(MullerBrown), counting(EMT)


def ase_neb(images, calc_class, optimizer, steps=ASE_STEPS):
    """ASE CI-NEB (improved tangent) on copies of `images`: (barrier, calls, seconds, converged, steps)."""
    images = [im.copy() for im in images]
    for im in images:
        im.calc = calc_class()
    t = time.perf_counter()
    band = AseNEB(images, k=K, climb=True, method="improvedtangent")
    opt = optimizer(band, logfile=None)
    converged = opt.run(fmax=FMAX, steps=steps)
    seconds = time.perf_counter() - t
    E = np.array([im.get_potential_energy() for im in images])
    return float(E[1:-1].max() - E[0]), sum(im.calc.calls for im in images), seconds, bool(converged), opt.nsteps


# ---------------------------------------------------------------------------------------
# systems: ASE images + jaxrxn potential and band on the same positions
# ---------------------------------------------------------------------------------------
def muller_brown_system():
    path = np.asarray(linear(A, B, 11))
    images = [Atoms("H", positions=[[x, y, 0.0]]) for x, y in path[:, 0]]
    mb = jaxrxn.muller_brown()
    check = MullerBrown()
    images[5].calc = check
    assert abs(images[5].get_potential_energy() - float(mb.energy(jnp.asarray(path[5])))) < 1e-9
    return images, CountingMB, mb, path, None, None


def _relaxed(atoms):
    atoms.calc = EMT()
    BFGS(atoms, logfile=None).run(fmax=0.001)
    atoms.calc = None
    return atoms


def _emt_system(initial, final, n_interior):
    initial, final = _relaxed(initial), _relaxed(final)
    images = [initial] + [initial.copy() for _ in range(n_interior)] + [final]
    AseNEB(images, method="improvedtangent").interpolate()
    _, pot = emt_from_atoms(initial)
    path = np.stack([im.positions for im in images])
    return images, CountingEMT, pot, path, initial.cell[:], initial.pbc


def au_al_system():
    return _emt_system(*au_on_al100(), 3)


def cu_cu_system():
    return _emt_system(*cu_adatom_on_cu100(), 3)


def jaxrxn_neb(pot, path, solver):
    """(barrier, calls, first-call seconds, warm seconds, converged, steps)."""

    def once():
        t = time.perf_counter()
        r = neb(pot, path, solver, fmax=FMAX)
        r.barrier.block_until_ready()
        return r, time.perf_counter() - t

    r, first = once()
    r, warm = once()
    return float(r.barrier), int(r.n_force_calls), first, warm, bool(r.converged), int(r.n_steps)


# ---------------------------------------------------------------------------------------
def part1():
    print("Part 1: one CI-NEB band, identical images, fmax 0.05 eV/Å, k 0.1")
    header = f"{'system':<14}{'code':<8}{'optimizer':<10}{'conv':<6}{'steps':>6}{'calls':>7}{'barrier':>11}{'s (warm)':>10}{'s (1st)':>9}"
    print(header)
    print("-" * len(header))
    summary = []
    for name, build in (("Muller-Brown", muller_brown_system), ("Au/Al(100)", au_al_system), ("Cu/Cu(100)", cu_cu_system)):
        images, calc_class, pot, path, cell, pbc = build()
        ase = {}
        for opt_name, opt in (("FIRE", AseFIRE), ("BFGS", BFGS)):
            steps = ASE_BFGS_MB_STEPS if (name == "Muller-Brown" and opt is BFGS) else ASE_STEPS
            barrier, calls, sec, conv, n = ase_neb(images, calc_class, opt, steps)
            ase[opt_name] = (calls, sec, conv)
            print(f"{name:<14}{'ASE':<8}{opt_name:<10}{'yes' if conv else 'NO':<6}{n:>6}{calls:>7}{barrier:>11.4f}{sec:>10.3f}{'':>9}")
        jx = {}
        for opt_name, solver in (("FIRE", NEB(k=K)), ("LBFGS", NEB(k=K, optimizer=LBFGS()))):
            barrier, calls, first, warm, conv, n = jaxrxn_neb(pot, path, solver)
            jx[opt_name] = (calls, warm, conv)
            print(f"{name:<14}{'jaxrxn':<8}{opt_name:<10}{'yes' if conv else 'NO':<6}{n:>6}{calls:>7}{barrier:>11.4f}{warm:>10.3f}{first:>9.2f}")
        summary.append((name, ase, jx))
    print()
    print("Ratios ASE / jaxrxn (force calls; seconds against jaxrxn's warm run); '-' where either did not converge")
    for name, ase, jx in summary:
        for a_name, (a_calls, a_sec, a_conv) in ase.items():
            cells = []
            for j_name, (j_calls, j_sec, j_conv) in jx.items():
                ok = a_conv and j_conv
                calls = f"{a_calls / j_calls:5.2f}x" if ok else "    -"
                secs = f"{a_sec / j_sec:7.1f}x" if ok else "      -"
                cells.append(f"vs jaxrxn {j_name:<5}: calls {calls}, time {secs}")
            print(f"  {name:<14}ASE {a_name:<5} " + " | ".join(cells))


def part2(n_batch: int, n_ase: int, seed: int):
    print()
    print(f"Part 2: throughput, {n_batch} Muller-Brown CI-NEB bands (9 interior images, FIRE, fmax 0.05),")
    print("end points moved by up to 0.05 from A and B (not relaxed)")
    rng = np.random.default_rng(seed)
    starts, ends = random_ends(rng, A, n_batch), random_ends(rng, B, n_batch)
    bands = np.asarray(jax.vmap(lambda s, e: linear(s, e, 11))(jnp.asarray(starts), jnp.asarray(ends)))
    mb = jaxrxn.muller_brown()
    run = jax.jit(jax.vmap(lambda band: neb(mb, band, NEB(k=K, optimizer=FIRE(maxstep=0.05)), fmax=FMAX)))
    t = time.perf_counter()
    run(jnp.asarray(bands)).barrier.block_until_ready()
    first = time.perf_counter() - t
    t = time.perf_counter()
    r = run(jnp.asarray(bands))
    r.barrier.block_until_ready()
    warm = time.perf_counter() - t
    j_conv = int(jnp.sum(r.converged))

    n_ase = min(n_ase, n_batch)
    a_conv, a_calls, t = 0, 0, time.perf_counter()
    for band in bands[:n_ase]:
        images = [Atoms("H", positions=[[x, y, 0.0]]) for x, y in band[:, 0]]
        _, calls, _, conv, _ = ase_neb(images, CountingMB, AseFIRE)
        a_conv, a_calls = a_conv + conv, a_calls + calls
    ase_seconds = (time.perf_counter() - t) * n_batch / n_ase
    j_calls_subset = int(jnp.sum(r.n_force_calls[:n_ase]))

    print(f"  jaxrxn vmap : {n_batch} bands, {j_conv} converged, {int(jnp.sum(r.n_force_calls))} force calls, "
          f"{warm:.2f} s warm ({first:.2f} s first call with compilation) -> {n_batch / warm:.1f} bands/s, {j_conv / warm:.1f} converged bands/s")  # fmt: skip
    extrapolated = "" if n_ase == n_batch else f", timed on the first {n_ase} and extrapolated linearly to {n_batch}"
    print(f"  ASE FIRE    : {a_conv}/{n_ase} converged, {a_calls} force calls on those {n_ase} "
          f"(jaxrxn on the same {n_ase}: {j_calls_subset}); {ase_seconds:.1f} s{extrapolated} -> {n_batch / ase_seconds:.2f} bands/s, {a_conv / n_ase * n_batch / ase_seconds:.2f} converged bands/s")  # fmt: skip
    print(f"  throughput ratio jaxrxn / ASE: {ase_seconds / warm:.0f}x warm, {ase_seconds / first:.0f}x including compilation; "
          f"converged bands/s: {(j_conv / warm) / (a_conv / n_ase * n_batch / ase_seconds):.0f}x warm (target >= 10x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-batch", type=int, default=1000, help="bands in the vmapped batch (default 1000)")
    parser.add_argument("--n-ase", type=int, default=20, help="sequential ASE runs actually timed (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPU cores visible")
    part1()
    part2(args.n_batch, args.n_ase, args.seed)


if __name__ == "__main__":
    main()
