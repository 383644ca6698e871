"""Smoke run of every benchmark and example: each script in its smallest honest mode.

    python benchmarks/smoke.py [--only NAME ...] [--force] [--timeout 900] [--list]

Every ``benchmarks/*.py`` (except private modules ``_*.py`` and this file) and every
``examples/*.py`` runs once as a subprocess with the arguments of :data:`MODES` (tiny sizes,
one case, few steps), ``OMP_NUM_THREADS=1`` and a per-script timeout. Each run happens in
its own temporary copy of the tree (``git ls-files``: tracked and untracked, not ignored
files; ``.git`` linked so scripts that read an older revision still can, and ``shared/``
with the data sets linked beside it), with
``PYTHONPATH`` set to that copy and the copy as working directory, so whatever a script
writes (``benchmarks/results/*.json``, a shipped model under ``jaxrxn/data``, ``out/``)
lands in the copy and the committed files are never overwritten. Scripts that resume from
their own results file get that file removed in the copy first (``fresh``), so they redo
their small case instead of reading the committed numbers.

Results (per script: command, exit code, seconds, the commit and whether the tree had
uncommitted changes, the last stderr line on failure) go to
``benchmarks/results/smoke.json`` after every script, and a table is printed at the end.
The run is resumable: a script that already passed on the same commit is skipped unless
``--force``. Exit code 0 only if every selected script passed. Wall times are upper bounds
on a shared machine; a script is a pass when it exits 0 within its timeout.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "smoke.json"

# Configurations labelled with GFN2-xTB for the NNP benchmarks that need a DATA.h5: the
# 62-reaction snapshot (the shipped NNP's data), one perturbed copy per point (train-nnp's own labelling, no training).
_CONFIGS = [
    [sys.executable, "-m", "jaxrxn.cli", "train-nnp", "benchmarks/data/xtb_reactions_62.h5", "--perturbed", "1",
     "--path-copies", "1", "--save-configurations", "configs.h5", "--steps", "1", "-o", "nnp_unused.npz"],
]  # fmt: skip

# script -> {"args": [...], "setup": [commands run first in the copy], "fresh": [results files
# removed in the copy], "timeout": seconds}. Paths are relative to the copy (the working dir).
MODES: dict[str, dict] = {
    # ---- benchmarks ------------------------------------------------------------------------
    "baker_trace": {"args": ["xtb", "01_hcn"]},
    "baker_variants": {"args": ["xtb", "default", "01_hcn"], "fresh": ["baker_xtb_variants.json"]},
    "baker_vs_sella": {"args": ["xtb", "01_hcn"], "fresh": ["baker_xtb.json"]},
    "batch_neb": {"args": ["--n", "4", "--images", "5"]},
    "batch_reactions": {"args": ["--n", "2", "--images", "5", "--out", "batch_reactions_smoke.json"], "timeout": 1800},
    "dataset_search": {"args": ["--molecules", "36", "--attempts", "1", "--work", "ds_work", "--out", "ds.json"]},
    "diffusion_paths": {"args": ["--family", "lj7", "--train-seeds", "8", "--test-seeds", "4", "--n-test", "2",
                                 "--steps", "20", "--batch", "8", "--features", "8", "--ode-steps", "10",
                                 "--cache", "diff_lj7.h5"]},  # fmt: skip
    "diffusion_xtb": {"args": ["--steps", "10", "--features", "8", "--layers", "1", "--limit", "1", "--ode-steps", "10",
                               "--neb", "--neb-steps", "5", "--out", "dxtb.json"]},  # fmt: skip
    "emt_md": {"args": ["--sizes", "1008", "--steps", "5", "--ase-steps", "1", "--repeat", "1", "--drift-steps", "10"]},
    "explore_lj7": {"args": ["5.0", "3", "2"]},
    "flow_generator": {"args": ["--train-seeds", "8", "--test-seeds", "4", "--steps", "20", "--features", "8",
                                "--kicks", "0.1", "--cache", "flow_g2.h5"]},  # fmt: skip
    "flow_generator_xtb": {"args": ["--steps", "10", "--features", "8", "--layers", "1", "--samples", "2", "--limit", "1",
                                    "--neb", "--neb-steps", "5", "--out", "fgx.json"]},  # fmt: skip
    "flow_lj7": {"args": ["--train-seeds", "8", "--test-seeds", "4", "--steps", "20", "--features", "8", "--batch", "8",
                          "--kicks", "0.1", "--etas", "0.5", "--cache", "flow_lj7.h5"]},  # fmt: skip
    "hcn_internal_xtb": {"args": []},
    "host_batch": {"args": ["--images", "4", "--repeats", "1", "--workers", "2"]},
    "interpolation_birkholz": {"args": ["--only", "02_hcn", "--max-steps", "20", "--out", "interp.json"]},
    "irc_settings": {"args": []},
    "kmc_throughput": {"args": ["--replicas", "100", "--steps", "100", "--numpy-steps", "500"]},
    "md_integrators": {"args": ["50"]},
    "md_vs_ase": {"args": ["5"]},
    "ml_hessian_ts": {"args": ["--limit", "1", "--out", "mlh.json"]},
    "neb_neighbors": {"args": ["--repeat", "1", "--no-dense"]},
    "neb_vs_ase": {"args": ["--n-batch", "10", "--n-ase", "2"]},
    "nnp_active": {"setup": _CONFIGS,
                   "args": ["--configs", "configs.h5", "--out", "ca.h5", "--n", "2", "--max-atoms", "7", "--copies", "1",
                            "--results", "na.json", "--bands", "nb.npz"], "timeout": 1800},  # fmt: skip
    "nnp_batch_neb": {"args": ["--images", "5", "--heldout-only", "--limit", "2", "--no-warm", "--skip-pipeline", "--skip-xtb",
                               "--out", "nnp_neb.json"]},  # fmt: skip
    # the committed run's settings (module docstring: --data-ts-guess, the committed held-out
    # climbing images, reactions of <= 7 atoms, 4 training reactions), one step, 8 configurations;
    # with its GFN2-xTB-labelled configurations made first it took > 900 s at load 11-13
    "nnp_fit_barriers": {"setup": _CONFIGS,
                         "args": ["--neb", "benchmarks/results/nnp_batch_neb_heldout.json", "--configs", "configs.h5",
                                  "--data-ts-guess", "--max-atoms", "7", "--n-train-reactions", "4",
                                  "--steps", "1", "--n-configs", "8", "--out", "fit.json"], "timeout": 1800},  # fmt: skip
    "nnp_networks": {"setup": _CONFIGS,
                     "args": ["configs.h5", "--steps", "10", "--features", "8", "--layers", "1", "--out", "nets.json"]},  # fmt: skip
    "nnp_pretrained": {"args": ["jaxrxn/data/nnp_xtb_painn.npz"]},
    "nnp_train_speed": {"setup": _CONFIGS, "args": ["configs.h5", "--steps", "2", "--buckets", "1", "2", "--out", "speed.json"]},
    "potentials": {"args": ["--calls", "1"]},
    "reaction_birkholz": {"args": ["02_hcn"], "fresh": ["reaction_birkholz.json"]},
    "reaction_molecules": {"args": ["hcn"], "fresh": ["reaction_molecules.json"]},
    "saddle_irc_xtb": {"args": ["hcn"], "fresh": ["saddle_irc_xtb.json"]},
    "saddle_vs_sella": {"args": ["3"]},
    "sharded_batch_neb": {"args": ["--n", "2"]},
    "tad_lj7_vs_kmc": {"args": ["8"]},
    "tad_two_exit": {"args": ["20", "10"]},
    "ts_generator": {"args": ["--family", "lj7", "--train-seeds", "8", "--test-seeds", "4", "--n-test", "2",
                              "--steps", "20", "--features", "8", "--batch", "8", "--cache", "ts_lj7.h5"]},  # fmt: skip
    "ts_generator_xtb": {"args": ["--steps", "10", "--no-refine", "--out", "tsx.json"]},
    "tune_gradient_cost": {"args": []},
    # ---- examples --------------------------------------------------------------------------
    "examples/akmc_cu_adatom": {"args": ["--replicas", "4", "--steps", "3", "--walkers", "100", "--max-searches", "8",
                                         "--temperatures", "800"]},  # fmt: skip
    "examples/batch_muller_brown": {"args": ["--n", "4", "--out", "out"]},
    "examples/cu_adatom_hop": {"args": ["--out", "out"]},
    "examples/explore_lj13": {"args": ["1", "--n-alpha", "4", "--follow-modes", "2"]},
    "examples/fit_morse_to_emt": {"args": ["--steps", "5"]},
    "examples/h_diffusion_lattice": {"args": ["--cells", "2", "--replicas", "100", "--steps", "50", "--out", "out"]},
    "examples/nanoreactor_morse_gas": {"args": ["1"]},
    "examples/quickstart": {"args": ["--out", "out"]},
    "examples/tad_cu_adatom": {"args": ["1"]},
    "examples/train_nnp": {"args": ["--steps", "20", "--out", "out"]},
    "examples/tune_muller_brown": {"args": []},
    "examples/xtb_molecule": {"args": []},
}


def scripts() -> list[str]:
    """Every runnable script as its MODES key (benchmarks by stem, examples as examples/stem)."""
    names = [p.stem for p in sorted((ROOT / "benchmarks").glob("*.py")) if not p.stem.startswith("_") and p.stem != "smoke"]
    return names + [f"examples/{p.stem}" for p in sorted((ROOT / "examples").glob("*.py"))]


def script_path(name: str) -> str:
    return f"{name}.py" if name.startswith("examples/") else f"benchmarks/{name}.py"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def copy_tree(dest: pathlib.Path) -> None:
    """The working tree's files (tracked and untracked, not ignored) copied into `dest`;
    ``.git`` linked so that ``git -C dest archive REV`` works."""
    for rel in git("ls-files", "--cached", "--others", "--exclude-standard").splitlines():
        src = ROOT / rel
        if rel.startswith("benchmarks/results/smoke.json") or not src.is_file():
            continue  # deleted in the tree, or this run's own record
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    (dest / ".git").symlink_to(ROOT / ".git")


def last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][-300:] if lines else ""


def run_one(name: str, timeout: float, env: dict) -> dict:
    mode = MODES[name]
    cmd = [sys.executable, script_path(name), *mode["args"]]
    row = {"command": " ".join(["python", *cmd[1:]]), "timeout_s": max(mode.get("timeout", 0), timeout)}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="smoke_") as tmp:
        # the data sets live in shared/ beside the checkout (benchmarks look one and two
        # levels up): linked beside the copy
        shared = next((p for p in (ROOT.parent / "shared", ROOT.parents[1] / "shared") if p.is_dir()), None)
        if shared is not None:
            (pathlib.Path(tmp) / "shared").symlink_to(shared)
        work = pathlib.Path(tmp) / "tree"
        copy_tree(work)
        for f in mode.get("fresh", []):
            (work / "benchmarks" / "results" / f).unlink(missing_ok=True)
        env = dict(env, PYTHONPATH=str(work))
        try:
            for setup in mode.get("setup", []):
                p = subprocess.run(setup, cwd=work, env=env, capture_output=True, text=True, timeout=row["timeout_s"])
                if p.returncode:
                    row.update(exit=p.returncode, stderr_last=f"setup {' '.join(setup[1:4])}: {last_line(p.stderr)}")
                    break
            else:
                left = row["timeout_s"] - (time.perf_counter() - t0)
                p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=max(left, 1))
                row["exit"] = p.returncode
                row["stdout_last"] = last_line(p.stdout)
                if p.returncode:
                    row["stderr_last"] = last_line(p.stderr)
        except subprocess.TimeoutExpired as e:
            row.update(exit="timeout", stderr_last=last_line((e.stderr or b"").decode(errors="replace")))
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def record(name: str, row: dict) -> dict:
    """Store `row` under `name` in the results file, re-read under a lock so that runs with
    disjoint ``--only`` lists can share it; returns the file's new content."""
    with open(pathlib.Path(tempfile.gettempdir()) / "jaxrxn-smoke.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results[name] = row
        tmp = RESULTS.with_name("smoke.json.tmp")
        tmp.write_text(json.dumps(dict(sorted(results.items())), indent=1) + "\n")
        tmp.replace(RESULTS)
    return results


def table(results: dict, names: list[str]) -> str:
    out = ["| script | mode | exit | seconds | commit |", "|---|---|---|---|---|"]
    for n in names:
        r = results.get(n)
        if r is None:
            out.append(f"| {n} | {' '.join(MODES[n]['args']) if n in MODES else 'no mode in MODES'} | not run | | |")
            continue
        mode = r["command"].split(" ", 2)[2] if r["command"].count(" ") > 1 else ""
        out.append(f"| {n} | {mode} | {r['exit']} | {r['seconds']} | {r['commit']}{'+' if r['dirty'] else ''} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=None, help="script names (benchmark stem or examples/stem)")
    parser.add_argument("--force", action="store_true", help="rerun scripts that already passed on this commit")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per script (default 900; MODES may give one more)")
    parser.add_argument("--list", action="store_true", help="print the table of modes and exit")
    args = parser.parse_args()
    names = scripts()
    missing = sorted(set(names) - set(MODES))
    if missing:  # a new script: the others still run, and the run fails until it has a mode
        print(f"smoke.py: no small mode for {', '.join(missing)} (add them to MODES)", file=sys.stderr)
    if args.only:
        unknown = [n for n in args.only if n not in names]
        if unknown:
            print(f"smoke.py: unknown script {unknown[0]!r} (names: benchmark stems, examples/stem)", file=sys.stderr)
            return 2
        names = [n for n in names if n in args.only]
    runnable = [n for n in names if n in MODES]
    if args.list:
        for n in runnable:
            print(f"{script_path(n)} {' '.join(MODES[n]['args'])}")
        return 0
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for n in runnable:
        # per script: the tree may move on during a long run (the copy is taken now)
        commit = git("rev-parse", "--short", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results/smoke.json"))
        old = results.get(n)
        if not args.force and old and old["exit"] == 0 and old["commit"] == commit and not old["dirty"] and not dirty:
            print(f"{n}: passed on {commit}, skipped", flush=True)
            continue
        print(f"{n}: {' '.join(MODES[n]['args'])} ...", flush=True)
        row = run_one(n, args.timeout, env)
        row.update(commit=commit, dirty=dirty)
        print(f"{n}: exit {row['exit']} in {row['seconds']} s" + (f": {row.get('stderr_last')}" if row["exit"] else ""), flush=True)
        results = record(n, row)
    print(table(results, names))
    return 0 if all(results.get(n, {}).get("exit") == 0 for n in names) else 1


if __name__ == "__main__":
    sys.exit(main())
