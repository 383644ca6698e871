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


# ---------------------------------------------------------------------------------------
# docs/cli.md against the code
# ---------------------------------------------------------------------------------------
def _json_keys_and_exit_codes(module: str) -> tuple[set[str], set[int]]:
    """The keys a command module writes into its JSON report and the exit codes it returns,
    read from its source: dict displays assigned to ``out``/``report`` (or built per
    reaction into ``reports``) or passed to ``print_json``/``json_line``, keys assigned by
    subscript, plus what ``finish(..., potential=...)`` adds when a calculator fails; the
    integer constants of ``return`` statements, 0 and 1 from ``finish``, and 2 for bad input
    (which every command has)."""
    import ast
    import importlib

    tree = ast.parse(Path(importlib.import_module(module).__file__).read_text())
    keys, codes = set(), {2}

    def dict_keys(node):
        return {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
            if name in ("out", "report") and isinstance(value, ast.Dict):
                keys |= dict_keys(value)
            if name == "reports" and isinstance(value, ast.ListComp) and isinstance(value.elt, ast.Dict):
                keys |= dict_keys(value.elt)
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            target = node.targets[0]
            if isinstance(target.value, ast.Name) and target.value.id == "report" and isinstance(target.slice, ast.Constant):
                keys.add(target.slice.value)
        if isinstance(node, ast.Dict) and any(k is None and _is_to_json(v) for k, v in zip(node.keys, node.values)):
            keys |= dict_keys(node)  # {"is": ..., **result.to_json()}
        if _is_to_json(node):  # a ReactionResult's scalar fields, or a MechanismResult's (jaxrxn reaction)
            import dataclasses

            from jaxrxn.mechanism import MechanismResult
            from jaxrxn.reaction import ReactionResult

            if isinstance(node.func.value, ast.Name) and node.func.value.id == "mechanism":
                keys |= {f.name for f in dataclasses.fields(MechanismResult)}
            else:
                keys |= {f.name for f in dataclasses.fields(ReactionResult)} - set(ReactionResult._ARRAYS)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("print_json", "json_line") and node.args and isinstance(node.args[0], ast.Dict):
                keys |= dict_keys(node.args[0])
            if node.func.id == "finish":
                codes |= {0, 1}
                if any(kw.arg == "potential" for kw in node.keywords):
                    keys |= {"result", "calculator_failure"}
        if isinstance(node, ast.Return) and node.value is not None:
            codes |= {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and type(c.value) is int}
    return keys, codes


def _is_to_json(node) -> bool:
    import ast

    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "to_json"


def _documented() -> dict[str, tuple[set[str], set[int]]]:
    """Per ``## jaxrxn COMMAND`` section of docs/cli.md: the backticked keys in the first
    column of its table and the exit codes of its 'Exit codes:' line."""
    import re

    text = (ROOT / "docs" / "cli.md").read_text()
    sections = re.split(r"^## jaxrxn ", text, flags=re.M)[1:]
    out = {}
    for sec in sections:
        name = sec.split("\n", 1)[0].strip()
        keys = set()
        for row in re.findall(r"^\| (`[^|]+`) \|", sec, re.M):
            keys |= set(re.findall(r"`(\w+)`", row))
        codes = {int(c) for c in re.findall(r"`(\d)`", sec.split("Exit codes:", 1)[1].split("\n\n")[0])}
        out[name] = (keys, codes)
    return out


def test_cli_page_lists_every_command_with_its_json_keys_and_exit_codes():
    documented = _documented()
    assert sorted(documented) == sorted(COMMANDS)
    for name, (module, _) in COMMANDS.items():
        keys, codes = _json_keys_and_exit_codes(module)
        assert documented[name] == (keys, codes), (name, keys ^ documented[name][0], codes ^ documented[name][1])


def test_documented_keys_are_what_the_command_prints(frames, capsys):
    # the static reading above, checked once against a real run
    assert main(["energy", frames, "--calc", "lj", "--json", "-q"]) == 0
    printed = {k for line in capsys.readouterr().out.splitlines() for k in json.loads(line)}
    # calculator_failure appears only on a frame whose calculator failed (tests/test_qm.py prints one)
    assert printed | {"calculator_failure"} == _documented()["energy"][0] == _json_keys_and_exit_codes("jaxrxn.commands.energy")[0]
