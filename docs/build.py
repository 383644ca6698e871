"""Build the documentation: run every tutorial (each writes the figures its page shows),
then ``mkdocs build --strict`` (a broken reference, a missing figure or a failed tutorial
fails the build).

    python docs/build.py [--site DIR] [--serve]

``tests/test_docs.py`` runs the same two steps on a copy of docs/, so the test suite fails
when the documentation does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ("neb", "saddles", "molecules", "batches", "tuning", "dynamics", "exploration", "kmc", "generative", "nnp")


#: Runs tutorial scripts one after the other as ``__main__`` (fresh globals each, argv
#: ``[script, figures]``), marking where each starts and how long it took.
_RUNNER = """
import runpy, sys, time
figures, scripts = sys.argv[1], sys.argv[2:]
for script in scripts:
    print("@@tutorial", script, flush=True)
    sys.argv = [script, figures]
    t0 = time.perf_counter()
    runpy.run_path(script, run_name="__main__")
    print("@@seconds", time.perf_counter() - t0, flush=True)
"""


def run_tutorials(names: tuple[str, ...], docs: Path) -> dict[str, float]:
    """Run ``docs/tutorials/NAME.py`` for each name, writing their figures into
    ``docs/tutorials/figures``. They run as scripts in one Python process, so JAX and jaxrxn
    are imported once and programs two tutorials share are compiled once. Returns each
    tutorial's wall time in seconds. Raises ``RuntimeError`` naming the tutorial that failed,
    with the output."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.setdefault("MPLBACKEND", "Agg")
    scripts = [str(docs / "tutorials" / f"{name}.py") for name in names]
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(docs / "tutorials" / "figures"), *scripts],
                          cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    started = [line.split(maxsplit=1)[1] for line in proc.stdout.splitlines() if line.startswith("@@tutorial ")]
    seconds = [float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("@@seconds ")]
    if proc.returncode != 0 or len(seconds) != len(names):  # an exit mid-way skips the rest
        failed = Path(started[-1]).stem if started else "(before the first)"
        raise RuntimeError(f"tutorial {failed} failed:\n{proc.stdout}\n{proc.stderr}")
    return dict(zip(names, seconds))


def mkdocs_build(config: Path, site: Path) -> None:
    """``mkdocs build --strict``; raises ``RuntimeError`` with mkdocs' output on failure."""
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          cwd=config.parent, capture_output=True, text=True,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", default=str(ROOT / "site"), help="output folder (default: site/)")
    parser.add_argument("--serve", action="store_true", help="then serve the docs at http://127.0.0.1:8000")
    args = parser.parse_args()
    for name, seconds in run_tutorials(TUTORIALS, ROOT / "docs").items():
        print(f"{name}: {seconds:.1f} s", flush=True)
    mkdocs_build(ROOT / "mkdocs.yml", Path(args.site))
    print(f"site written to {args.site}")
    if args.serve:
        subprocess.run([sys.executable, "-m", "mkdocs", "serve", "-f", str(ROOT / "mkdocs.yml")], cwd=ROOT)


if __name__ == "__main__":
    main()
