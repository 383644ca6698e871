"""EMT inside an MD loop on bulk Cu: jaxrxn (neighbour list carried in the MD state) vs
ASE's EMT vs asap3's EMT, in one process.

System: fcc Cu (a = 3.6 Å, cubic cells repeated, fully periodic), Maxwell-Boltzmann
velocities at 300 K, velocity Verlet with a 2 fs step. Per MD step each code evaluates EMT
energy and forces once.

- jaxrxn: ``emt_from_atoms(atoms, neighbor_list=True)``; :func:`jaxrxn.dynamics.run_md`
  runs one jitted ``lax.scan`` and carries the list (updated every step, rebuilt only when
  an atom moved more than half the 0.5 Å skin). Timed from a warm state (compiled; a list
  that overflowed during the warm-up was reallocated outside jit).
- ASE: ``ase.calculators.emt.EMT`` driven by ``ase.md.verlet.VelocityVerlet``.
- asap3: ``asap3.EMT`` (C++) with the same driver. Its default cutoff differs from ASE's
  EMT; the energy difference per atom is reported.
- before/after (``--before REV``): 1,008 atoms, velocity Verlet over ``--before-steps``
  steps (rebuilds included) in a jitted ``run_md``, run by the same script in
  subprocesses, alternately on the code of git revision REV (extracted with ``git
  archive``) and on this tree, ``--repeat`` times each; the best of each is kept. REV
  ``e71b0ba`` is the last commit whose ``neighbor_list=True`` rebuilt a jax-md list inside
  every energy call. (The first measurement of this comparison ran ``/work/main`` as
  "before" after the carried lists had already landed there, so it compared the new code
  with itself at a load of 20: its 146.9 vs 54.8 steps/s was noise, not a regression.)
- cost of carrying the list: per step, ``run_md`` (update: displacement check and the
  rebuild-or-not ``lax.cond``) against a ``lax.scan`` of energy+forces at a fixed list,
  both jitted, timed back to back.
- float32 (``--float32 SIZES``): the same MD in float32 (positions, velocities, parameters:
  a potential computes in its input's dtype), speed and the energy drift ``max |E_tot(t)
  - E_tot(0)|`` per atom over ``--drift-steps`` steps against float64's.

Each time is the best of ``--repeat`` runs; slow codes run ``--ase-steps`` steps only. The
load average is printed and saved with every size (the machine is shared). Results go to
``benchmarks/results/emt_md.json``.

Run: ``python benchmarks/emt_md.py [--sizes 1008 4000 32000] [--steps 20] [--ase-steps 2]
[--before e71b0ba] [--float32 4000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402
from ase import units  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: E402
from ase.md.verlet import VelocityVerlet as AseVerlet  # noqa: E402

from jaxrxn.dynamics import VelocityVerlet, kinetic_energy, run_md  # noqa: E402
from jaxrxn.potentials.emt import emt_from_atoms  # noqa: E402

REPEATS = {1008: (7, 6, 6), 4000: (10, 10, 10), 32000: (20, 20, 20)}
RESULTS = pathlib.Path(__file__).parent / "results" / "emt_md.json"
ROOT = pathlib.Path(__file__).resolve().parent.parent


def copper(n_atoms: int):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(REPEATS[n_atoms])
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    return atoms


def best_time(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def load() -> float:
    return os.getloadavg()[0]


def jaxrxn_md(atoms, n_steps: int, repeat: int, dtype=jnp.float64) -> dict:
    R, pot = emt_from_atoms(atoms, neighbor_list=True)
    R = R.astype(dtype)
    vv = VelocityVerlet(dt=2.0)
    state = vv.init(pot, R, jnp.asarray([0, 0], jnp.uint32))
    state = eqx_set_velocities(state, atoms)
    state = run_md(pot, vv, state, n_steps)[0]  # compiles; reallocates an overflowing list
    listed = pot.replace(neighbors=state.neighbors)
    fixed = jax.jit(fixed_list_scan, static_argnums=2)
    jax.block_until_ready(fixed(listed, state.R, n_steps))
    # alternately, so that both see the same load
    per_step, per_fixed = np.inf, np.inf
    for _ in range(repeat):
        per_step = min(per_step, best_time(lambda: jax.block_until_ready(run_md(pot, vv, state, n_steps)[0].R), 1))
        per_fixed = min(per_fixed, best_time(lambda: jax.block_until_ready(fixed(listed, state.R, n_steps)), 1))
    per_step, per_fixed = per_step / n_steps, per_fixed / n_steps
    call = jax.jit(lambda p, R: p.energy_and_forces(R))
    jax.block_until_ready(call(listed, state.R))
    per_call = best_time(lambda: jax.block_until_ready(call(listed, state.R)), repeat)
    rebuild = jax.jit(lambda p, R: p.neighbors.rebuild(R, p.system).idx)
    jax.block_until_ready(rebuild(listed, state.R))
    per_rebuild = best_time(lambda: jax.block_until_ready(rebuild(listed, state.R)), repeat)
    return {
        "ms_per_step": per_step * 1e3,
        "ms_per_step_fixed_list": per_fixed * 1e3,
        "ms_per_energy_forces_call": per_call * 1e3,
        "ms_per_list_rebuild": per_rebuild * 1e3,
        "list_capacity": int(listed.neighbors.capacity),
        "list_builds_in_warmup": int(state.neighbors.n_builds),
        "steps_per_s": 1.0 / per_step,
    }


def fixed_list_scan(potential, R, n_steps: int):
    """`n_steps` energy+forces evaluations in ``lax.scan`` at the potential's list as it is
    (no displacement check, no rebuild-or-not branch): the floor under ``run_md``'s step.
    Each step moves R by a negligible 1e-9 F so the evaluations depend on each other."""

    def body(R, _):
        _, F = potential._energy_and_forces(R, check=False, update=False)
        return R + 1e-9 * F, None

    return lax.scan(body, R, None, length=n_steps)[0]


def energy_drift(atoms, n_steps: int, dtype) -> dict:
    """Largest ``|E_tot(t) - E_tot(0)|`` (eV/atom) over `n_steps` velocity-Verlet steps of
    2 fs, total energies evaluated in float64 from the saved frames every 10 steps, and
    the list builds it took."""
    R, pot = emt_from_atoms(atoms, neighbor_list=True)
    vv = VelocityVerlet(dt=2.0)
    state = eqx_set_velocities(vv.init(pot, R.astype(dtype), jnp.asarray([0, 0], jnp.uint32)), atoms)
    final, frames = run_md(pot, vv, state, n_steps, save_every=10)
    masses = jnp.asarray(atoms.get_masses())
    e_tot = [float(state.energy) + float(kinetic_energy(state.V.astype(jnp.float64), masses))]
    for k in range(frames.R.shape[0]):
        e_tot.append(float(frames.energy[k]) + float(kinetic_energy(frames.V[k].astype(jnp.float64), masses)))
    e_tot = np.asarray(e_tot)
    return {
        "steps": n_steps,
        "max_abs_drift_eV_per_atom": float(np.max(np.abs(e_tot - e_tot[0])) / len(atoms)),
        "final_drift_eV_per_atom": float((e_tot[-1] - e_tot[0]) / len(atoms)),
        "list_builds": int(final.neighbors.n_builds),
    }


def eqx_set_velocities(state, atoms):
    """The MD state with ASE's Maxwell-Boltzmann velocities (Å per ASE time unit), so every
    code starts from the same velocities."""
    V = jnp.asarray(atoms.get_velocities(), state.R.dtype)
    return state.__class__(state.R, V, state.F, state.energy, state.key, state.step, state.neighbors)


def ase_md(atoms, calc, n_steps: int, repeat: int) -> float:
    atoms = atoms.copy()
    atoms.calc = calc
    dyn = AseVerlet(atoms, 2.0 * units.fs)
    dyn.run(1)  # builds the calculator's neighbour list
    return best_time(lambda: dyn.run(n_steps), repeat) / n_steps * 1e3


BEFORE = """
import time, json, numpy as np, jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
from ase.build import bulk
from jaxrxn.dynamics import VelocityVerlet, run_md
from jaxrxn.potentials.emt import emt_from_atoms
atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((7, 6, 6))
R, pot = emt_from_atoms(atoms, neighbor_list=True)
vv = VelocityVerlet(dt=2.0)
run = jax.jit(lambda s: run_md(pot, vv, s, {steps})[0])
s = vv.init(pot, R, jnp.asarray([0, 0], jnp.uint32), temperature=300.0)
out = jax.block_until_ready(run(s))
best = np.inf
for _ in range(2):
    t0 = time.perf_counter()
    jax.block_until_ready(run(s))
    best = min(best, time.perf_counter() - t0)
builds = getattr(out, "neighbors", None)
print(json.dumps({{"steps_per_s": {steps} / best, "list_builds": None if builds is None else int(builds.n_builds)}}))
"""


def before_after_1008(rev: str, steps: int, repeat: int) -> dict:
    """Steps/s of the code at git revision `rev` and of this tree, alternately in
    subprocesses (same script, same load), best of `repeat` runs each."""
    runs: dict[str, list] = {"before": [], "now": []}
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "jaxrxn"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        for _ in range(repeat):
            for label, path in (("before", tree), ("now", str(ROOT))):
                env = dict(os.environ, PYTHONPATH=path)
                script = BEFORE.format(steps=steps)
                # run in the tree itself: `python -c` puts the working directory first on the path
                out = subprocess.run([sys.executable, "-c", script], env=env, cwd=path, capture_output=True, text=True)
                if out.returncode != 0:
                    return {"error": f"{label}: " + out.stderr.strip().splitlines()[-1]}
                runs[label].append(json.loads(out.stdout.strip().splitlines()[-1]) | {"load": load()})
                print(f"  1008 Cu  {label:6s} {runs[label][-1]}", flush=True)
    best = {k: max(r["steps_per_s"] for r in v) for k, v in runs.items()}
    return {
        "revision_before": rev,
        "steps": steps,
        "runs": runs,
        "before_steps_per_s": best["before"],
        "now_steps_per_s": best["now"],
        "now_over_before": best["now"] / best["before"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1008, 4000, 32000], choices=sorted(REPEATS))
    parser.add_argument("--steps", type=int, default=20, help="jaxrxn MD steps per timed run")
    parser.add_argument("--ase-steps", type=int, default=2, help="ASE/asap3 MD steps per timed run")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per code (best taken)")
    parser.add_argument("--before", default=None, help="git revision of the code before (1,008 atoms, subprocesses)")
    parser.add_argument("--before-steps", type=int, default=100, help="MD steps per before/after run")
    parser.add_argument("--float32", type=int, nargs="*", default=[], help="sizes to also run in float32 (speed, drift)")
    parser.add_argument("--drift-steps", type=int, default=500, help="MD steps of the drift comparison")
    args = parser.parse_args()
    try:
        import asap3
    except ImportError:
        asap3 = None
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["setup"] = {
        "jax": jax.__version__,
        "cpus": os.cpu_count(),
        "dtype": "float64 (and float32 where a row has jaxrxn_float32)",
        "asap3": getattr(asap3, "__version__", None),
        "md": "velocity Verlet, 2 fs, fcc Cu a = 3.6 A at 300 K",
    }
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, float64; asap3 {results['setup']['asap3']}", flush=True)
    for n in args.sizes:
        atoms = copper(n)
        row = {"load_before": load()}
        row["jaxrxn"] = jaxrxn_md(atoms, args.steps, args.repeat)
        step = row["jaxrxn"]["ms_per_step"]
        print(f"{n:6d} Cu  jaxrxn {step:9.2f} ms/step (E+F call {row['jaxrxn']['ms_per_energy_forces_call']:.2f} ms, "
              f"rebuild {row['jaxrxn']['ms_per_list_rebuild']:.1f} ms)  load {load():.1f}", flush=True)  # fmt: skip
        row["ase_ms_per_step"] = ase_md(atoms, EMT(), args.ase_steps, args.repeat if n < 32000 else 1)
        row["ase_over_jaxrxn"] = row["ase_ms_per_step"] / step
        print(f"{n:6d} Cu  ASE    {row['ase_ms_per_step']:9.2f} ms/step  ASE/jaxrxn {row['ase_over_jaxrxn']:.1f}x  "
              f"load {load():.1f}", flush=True)  # fmt: skip
        if asap3 is not None:
            row["asap3_ms_per_step"] = ase_md(atoms, asap3.EMT(), args.ase_steps * 5, args.repeat)
            row["asap3_over_jaxrxn"] = row["asap3_ms_per_step"] / step
            probe = atoms.copy()
            probe.calc = asap3.EMT()
            e_asap = probe.get_potential_energy()
            probe.calc = EMT()
            row["asap3_minus_ase_eV_per_atom"] = (e_asap - probe.get_potential_energy()) / n
            print(f"{n:6d} Cu  asap3  {row['asap3_ms_per_step']:9.2f} ms/step  asap3/jaxrxn {row['asap3_over_jaxrxn']:.2f}x  "
                  f"(E_asap3 - E_ASE = {row['asap3_minus_ase_eV_per_atom']:.2e} eV/atom)", flush=True)  # fmt: skip
        print(f"{n:6d} Cu  jaxrxn at a fixed list (no update) {row['jaxrxn']['ms_per_step_fixed_list']:.2f} ms/step",
              flush=True)  # fmt: skip
        if n in args.float32:
            row["jaxrxn_float32"] = jaxrxn_md(atoms, args.steps, args.repeat, jnp.float32)
            row["float64_over_float32_time"] = step / row["jaxrxn_float32"]["ms_per_step"]
            row["drift"] = {name: energy_drift(atoms, args.drift_steps, dt) for name, dt in
                            (("float64", jnp.float64), ("float32", jnp.float32))}  # fmt: skip
            print(f"{n:6d} Cu  float32 {row['jaxrxn_float32']['ms_per_step']:.2f} ms/step "
                  f"({row['float64_over_float32_time']:.2f}x float64's speed); drift {row['drift']}", flush=True)  # fmt: skip
        if n == 1008 and args.before:
            row["before_after"] = before_after_1008(args.before, args.before_steps, args.repeat)
            print(f"  1008 Cu  now/before: {row['before_after'].get('now_over_before')}", flush=True)
        row["load_after"] = load()
        results[str(n)] = row
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
