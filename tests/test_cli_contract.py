"""The CLI's exit-code contract (0 converged or done, 1 not converged, 2 bad input with one
line on stderr) for the subcommands and cases the other CLI tests leave out."""


import numpy as np
import pytest
from ase import Atoms

from jaxrxn.cli import main
from jaxrxn.explore.network import ReactionNetwork
from helpers import run_cli

R6 = 2 ** (1 / 6)  # LJ pair minimum (eps = sigma = 1)
TETRAHEDRON = R6 * np.array([[0, 0, 0], [1, 0, 0], [0.5, np.sqrt(3) / 2, 0], [0.5, np.sqrt(3) / 6, np.sqrt(2 / 3)]])
TRIANGLE = TETRAHEDRON[:3]


@pytest.fixture
def tet(tmp_path):
    fn = tmp_path / "tet.xyz"
    Atoms("Ar4", positions=TETRAHEDRON).write(str(fn))
    return str(fn)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["saddle", "MISSING", "--calc", "lj"], "does not exist"),
        (["saddle", "TET", "--calc", "lj", "--fmax", "-1"], "--fmax must be positive"),
        (["saddle", "TET", "--calc", "lj", "--method", "newton"], "invalid choice"),
        (["saddle", "TET", "--calc", "nope"], "unknown calculator"),
        (["irc", "MISSING", "--calc", "lj"], "does not exist"),
        (["irc", "TET", "--calc", "lj", "--step", "0"], "must be positive"),
        (["irc", "TET"], "required"),
        (["explore", "TET", "--calc", "lj", "--max-minima", "0"], "--max-minima must be >= 1"),
        (["train-flow", "lj7-2d", "-o", "M", "--train-seeds", "0"], "--train-seeds must be at least 1"),
    ],
)
def test_bad_input_exit_2_with_one_line(tet, tmp_path, capsys, argv, message):
    subs = {"MISSING": str(tmp_path / "missing.xyz"), "TET": tet, "M": str(tmp_path / "m.npz")}
    code, _, err = run_cli([subs.get(a, a) for a in argv], capsys)
    err = err.splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0], err


def test_irc_from_a_minimum_exits_1(tet, capsys):
    code, rep, err = run_cli(["irc", tet, "--calc", "lj", "--json"], capsys)
    assert code == 1 and not rep["converged"] and not err
    assert rep["energy"] == pytest.approx(-6.0, abs=1e-9)  # six pairs at the LJ minimum


def test_explore_finishes_exit_0_and_stops_early_exit_1(tmp_path, capsys):
    # LJ3 has one minimum, the equilateral triangle (-3 eps): the exploration finishes
    start, out = tmp_path / "lj3.xyz", tmp_path / "net.json"
    Atoms("Ar3", positions=TRIANGLE).write(str(start))
    code, _, err = run_cli(["explore", str(start), "--calc", "lj", "--n-alpha", "4", "-o", str(out)], capsys)
    assert code == 0 and not err
    net = ReactionNetwork.load(str(out))
    assert len(net.minima) == 1 and net.minima[0].energy == pytest.approx(-3.0, abs=1e-6)
    # a network with an unexplored minimum left when --max-minima is reached: exit 1
    net.add_minimum(1.2 * TRIANGLE, -2.0)
    net.save(str(out))
    code, _, err = run_cli(["explore", str(start), "--calc", "lj", "--max-minima", "1", "--resume", "-o", str(out)], capsys)
    assert code == 1 and not err
    assert ReactionNetwork.load(str(out)).unexplored() == [1]
    # --time-limit: no new minimum after it, but the one begun is finished and saved (here
    # a limit already past when the first of the two left is done); --resume goes on
    net.add_minimum(1.3 * TRIANGLE, -1.0)
    net.save(str(out))
    argv = ["explore", str(start), "--calc", "lj", "--n-alpha", "4", "--resume", "-o", str(out)]
    code, _, err = run_cli([*argv, "--time-limit", "1e-6"], capsys)
    assert code == 1 and "\n" not in err and "time limit of 1e-06 s reached" in err
    assert ReactionNetwork.load(str(out)).unexplored() == [2]
    code, _, err = run_cli(argv, capsys)
    assert code == 0 and not err and ReactionNetwork.load(str(out)).unexplored() == []


def test_train_flow_lj7_2d_stopped_early_exits_1(tmp_path, capsys):
    out = tmp_path / "m.npz"
    argv = ["train-flow", "lj7-2d", "-o", str(out), "--train-seeds", "1", "--steps", "4", "--batch-size", "4",
            "--features", "8", "--layers", "1", "--log-every", "2", "--stop-at", "2",
            "--checkpoint", str(tmp_path / "ck.npz"), "--json"]  # fmt: skip
    code, rep, _ = run_cli(argv, capsys)
    assert code == 1 and not rep["finished"] and rep["step"] == 2
    assert rep["kind"] == "atomistic" and rep["n_reactions"] > 0 and np.isfinite(rep["loss"])
    assert out.exists()


def test_internal_key_error_is_not_bad_input(tet, monkeypatch):
    import jaxrxn.commands.energy as energy

    def broken(args):
        return {}["missing"]

    monkeypatch.setattr(energy, "run", broken)
    with pytest.raises(KeyError):
        main(["energy", tet, "--calc", "lj"])
