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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ("neb", "saddles", "batches", "tuning", "dynamics", "exploration", "kmc", "generative", "nnp")


def run_tutorial(name: str, docs: Path) -> float:
    """Run ``docs/tutorials/NAME.py`` writing its figures into ``docs/tutorials/figures``;
    returns the wall time in seconds. Raises ``RuntimeError`` with its output on failure."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.setdefault("MPLBACKEND", "Agg")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(docs / "tutorials" / f"{name}.py"), str(docs / "tutorials" / "figures")],
                          cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"tutorial {name} failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - t0


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
    for name in TUTORIALS:
        print(f"{name}: {run_tutorial(name, ROOT / 'docs'):.1f} s", flush=True)
    mkdocs_build(ROOT / "mkdocs.yml", Path(args.site))
    print(f"site written to {args.site}")
    if args.serve:
        subprocess.run([sys.executable, "-m", "mkdocs", "serve", "-f", str(ROOT / "mkdocs.yml")], cwd=ROOT)


if __name__ == "__main__":
    main()
