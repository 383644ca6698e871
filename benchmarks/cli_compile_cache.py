"""Wall time of the same ``jaxrxn reaction`` run twice, the second with the compiled programs
the first left in the CLI's persistent compilation cache.

The reaction: HCN -> HNC with GFN2-xTB (tblite) from the end states of reaction 02 of
A. B. Birkholz & H. B. Schlegel, J. Comput. Chem. 36, 1157 (2015)
(``../shared/data/reaction_sets/birkholz_rx/02_hcn.trj``, first and last frame). Each
run is a fresh ``jaxrxn`` process with ``XDG_CACHE_HOME`` in a new temporary folder, so the
first run starts from an empty cache; both must give the same barrier and calculator calls.

Run (tblite's OpenMP threads set explicitly, as the timings depend on them):

    OMP_NUM_THREADS=1 python benchmarks/cli_compile_cache.py [--data PATH] [--runs 2]

The machine's load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "reaction_sets" / "birkholz_rx" / "02_hcn.trj"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the reaction's trajectory (first and last frame)")
    parser.add_argument("--runs", type=int, default=2, help="runs one after the other on one cache")
    args = parser.parse_args()
    from ase.io import read, write

    print(f"load average {os.getloadavg()[:2]}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        frames = read(str(args.data), index=":", format="xyz")
        write(f"{tmp}/is.xyz", frames[0])
        write(f"{tmp}/fs.xyz", frames[-1])
        env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
        env["XDG_CACHE_HOME"] = f"{tmp}/cache"
        rows = []
        for run in range(args.runs):
            t0 = time.perf_counter()
            proc = subprocess.run(["jaxrxn", "reaction", f"{tmp}/is.xyz", f"{tmp}/fs.xyz", "--calc", "xtb", "--json", "-q"],
                                  env=env, capture_output=True, text=True)  # fmt: skip
            seconds = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(f"run {run + 1} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
            out = json.loads(proc.stdout)
            rows.append((seconds, out["barrier"], out["n_force_calls"]))
            print(f"run {run + 1}: {seconds:.1f} s, barrier {out['barrier']:.6f} eV, {out['n_force_calls']} xTB calls", flush=True)
        size = sum(f.stat().st_size for f in Path(f"{tmp}/cache").rglob("*") if f.is_file())
    same = all(r[1:] == rows[0][1:] for r in rows)
    print(f"cache {size / 1e6:.1f} MB; same barrier and calls in every run: {same}; "
          f"first/second wall time {rows[0][0] / rows[1][0]:.2f}x")  # fmt: skip
    print(f"load average {os.getloadavg()[:2]}")


if __name__ == "__main__":
    main()
