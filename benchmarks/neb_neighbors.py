"""CI-NEB of an adatom hop on a large EMT slab: neighbour lists carried per image (this
tree) against the code before (one list under the image vmap, so its rebuild-or-not cond
became a select that rebuilt every image at every step) and against EMT without a list.

System: Au adatom on Al(100), ``fcc100('Al', (8, 8, 4))`` (257 atoms), Au 1.7 Å above a
hollow site, the two bottom layers fixed; the final state moves Au to the next hollow
(2.86 Å along x). Both ends relaxed with jaxrxn (FIRE, fmax 0.01 eV/Å), 5 interior images
interpolated linearly, CI-NEB (FIRE, fmax 0.05 eV/Å) with ``neighbor_list=True`` (0.5 Å skin).

Each variant runs in a subprocess with its own tree on the path, alternately, ``--repeat``
times: "before" is the code at git revision ``--before`` (default f2fdda8, main before
per-image lists), "now" this tree; "dense" is this tree with EMT summed over every pair
and periodic image (no list). Each subprocess compiles (first call, timed separately) and
then times a second, identical call. Force calls and barriers must agree; the wall time is
the best of the repeats. The load average is saved with every run (the machine is shared).

Run: ``python benchmarks/neb_neighbors.py [--repeat 2] [--before f2fdda8]``. Results go to
``benchmarks/results/neb_neighbors.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

RESULTS = pathlib.Path(__file__).parent / "results" / "neb_neighbors.json"
ROOT = pathlib.Path(__file__).resolve().parent.parent

SCRIPT = """
import json, time, jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
from ase.build import add_adsorbate, fcc100
from ase.constraints import FixAtoms
from jaxrxn.optimize import minimize
from jaxrxn.path.elastic_band import NEB, neb
from jaxrxn.potentials.emt import emt_from_atoms

slab = fcc100("Al", size=(8, 8, 4), vacuum=6.0)
add_adsorbate(slab, "Au", 1.7, "hollow")
slab.set_constraint(FixAtoms(mask=slab.get_tags() > 2))
final = slab.copy()
final.positions[-1, 0] += slab.cell[0, 0] / 8
R0, pot = emt_from_atoms(slab, neighbor_list={listed})
R1 = jnp.asarray(final.positions)
ends = [minimize(pot, R, "fire", fmax=0.01, max_steps=2000).R for R in (R0, R1)]
path = jnp.stack([ends[0] + t * (ends[1] - ends[0]) for t in np.linspace(0.0, 1.0, 7)])

def run():
    r = neb(pot, path, NEB(), fmax=0.05, max_steps=1000)
    return jax.block_until_ready(r)

t0 = time.perf_counter()
run()
first = time.perf_counter() - t0
t0 = time.perf_counter()
r = run()
wall = time.perf_counter() - t0
print(json.dumps({{"wall_s": wall, "first_call_s": first, "n_atoms": len(slab), "n_steps": int(r.n_steps),
                  "n_force_calls": int(r.n_force_calls), "barrier_eV": float(r.barrier),
                  "converged": bool(r.converged)}}))
"""


def run_variant(path: str, listed: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=path)
    # run in the tree itself: `python -c` puts the working directory first on the path
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(listed=listed)], env=env, cwd=path, capture_output=True, text=True
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--before", default="f2fdda8", help="git revision of the code before")
    parser.add_argument("--no-dense", action="store_true", help="skip the run without a list")
    args = parser.parse_args()
    runs: dict[str, list] = {"before": [], "now": [], "dense": []}
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "jaxrxn"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        variants = [("before", tree, True), ("now", str(ROOT), True)]
        if not args.no_dense:
            variants.append(("dense", str(ROOT), False))
        for _ in range(args.repeat):
            for label, path, listed in variants:
                runs[label].append(run_variant(path, listed))
                print(f"{label:6s} {runs[label][-1]}", flush=True)
    best = {k: min(r["wall_s"] for r in v) for k, v in runs.items() if v and all("wall_s" in r for r in v)}
    results = {
        "system": "Au adatom on Al(100) 8x8x4 (257 atoms), two bottom layers fixed, 7 images, CI-NEB FIRE fmax 0.05",
        "revision_before": args.before,
        "runs": runs,
        "best_wall_s": best,
    }
    if "before" in best and "now" in best:
        results["before_over_now"] = best["before"] / best["now"]
        print(f"wall before/now: {results['before_over_now']:.2f}x", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
