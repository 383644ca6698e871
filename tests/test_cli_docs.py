"""The command line as a user meets it: ``--version``, an example in every ``--help``,
progress on stderr only (never in ``--json`` stdout), and ``--quiet`` silence."""

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from helpers import run_cli
from jaxrxn.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
R6 = 2 ** (1 / 6)  # LJ pair minimum (eps = sigma = 1)
TETRAHEDRON = R6 * np.array([[0, 0, 0], [1, 0, 0], [0.5, np.sqrt(3) / 2, 0], [0.5, np.sqrt(3) / 6, np.sqrt(2 / 3)]])


def _cli(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "jaxrxn.cli", *argv], env=env, capture_output=True, text=True)


def test_version():
    proc = _cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip().startswith(f"jaxrxn {version('jaxrxn')} (jax {version('jax')}, Python ")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_has_an_example_and_the_shared_options(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    example = out[out.index("\nexample:\n") :]
    assert f"  jaxrxn {command} " in example  # the example runs this very command
    assert "--quiet" in out and "--progress" in out


@pytest.fixture
def frames(tmp_path):
    """Two LJ tetrahedra, the second stretched: ``jaxrxn energy`` is the cheapest command."""
    fn = tmp_path / "tet.extxyz"
    Atoms("Ar4", positions=TETRAHEDRON).write(str(fn))
    Atoms("Ar4", positions=1.05 * TETRAHEDRON).write(str(fn), append=True)
    return str(fn)


def test_progress_goes_to_stderr_never_into_json_stdout(frames, capsys):
    code = main(["energy", frames, "--calc", "lj", "--json", "--progress"])
    cap = capsys.readouterr()
    assert code == 0 and "energies and forces" in cap.err and "2/2" in cap.err  # the finished bar
    # stdout is exactly one JSON object per frame: nothing of the display leaked into it
    lines = [json.loads(line) for line in cap.out.splitlines()]
    assert [d["frame"] for d in lines] == [0, 1] and lines[0]["energy"] == pytest.approx(-6.0, abs=1e-9)


def test_quiet_prints_nothing_on_stderr(frames, capsys):
    code, rep, err = run_cli(["energy", frames, "--calc", "lj", "--json", "--quiet"], capsys)
    assert code == 0 and rep["frame"] == 1 and err == ""
    # --quiet is refused beside --progress rather than half-obeyed
    code, _, err = run_cli(["energy", frames, "--calc", "lj", "--quiet", "--progress"], capsys)
    assert code == 2 and "not allowed with" in err
