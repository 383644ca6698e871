"""The ``jaxrxn`` command: JSON keys and exit codes are a contract."""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from jaxrxn.cli import main
from helpers import run_cli


def test_energy_json(tmp_path, capsys):
    fn = str(tmp_path / "cu.extxyz")
    a = bulk("Cu", "fcc", a=3.6447, cubic=True).repeat((4, 4, 4))
    b = a.copy()
    b.rattle(0.05, seed=1)
    write(fn, [a, b])
    assert main(["energy", fn, "--calc", "morse:Cu", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["frame"] for d in lines] == [0, 1]
    assert lines[0]["energy"] == pytest.approx(-3.4126 * 256, abs=0.05)
    assert np.asarray(lines[1]["forces"]).shape == (256, 3)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["energy", "/nonexistent.xyz", "--calc", "lj"], "does not exist"),
        (["energy", "FILE", "--calc", "nope"], "unknown calculator"),
        (["energy", "FILE", "--calc", "morse:Xx"], "no Girifalco-Weizer"),
        (["energy", "FILE"], "required"),
    ],
)
def test_bad_input_exit_2(tmp_path, capsys, argv, message):
    fn = str(tmp_path / "x.xyz")
    write(fn, bulk("Cu", "fcc", a=3.6447, cubic=True).repeat((4, 4, 4)))
    argv = [fn if a == "FILE" else a for a in argv]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    err = err.splitlines()
    assert len(err) == 1 and message in err[0]


def test_compiled_programs_are_kept_in_the_users_cache_unless_jax_is_told_otherwise():
    """The CLI keeps JAX's persistent compilation cache in ``$XDG_CACHE_HOME/jaxrxn/xla``
    (a second `jaxrxn reaction` HCN -> HNC with GFN2-xTB: 49 s, then 20 s, the same barrier
    and calls; benchmarks/cli_compile_cache.py, 2026-12-07); JAX's own ``JAX_COMPILATION_CACHE_DIR``, empty
    to turn it off, wins."""
    from pathlib import Path

    from jaxrxn.cli import compilation_cache_dir

    assert compilation_cache_dir({"XDG_CACHE_HOME": "/scratch/me"}) == "/scratch/me/jaxrxn/xla"
    assert compilation_cache_dir({}) == str(Path.home() / ".cache" / "jaxrxn" / "xla")
    assert compilation_cache_dir({"JAX_COMPILATION_CACHE_DIR": "", "XDG_CACHE_HOME": "/scratch/me"}) is None
    assert compilation_cache_dir({"JAX_COMPILATION_CACHE_DIR": "/elsewhere"}) is None
