"""``jaxrxn saddle`` and ``jaxrxn irc`` on the LJ4 cluster (eps = sigma = 1): the
tetrahedron (E = -6 eps exactly) and its lowest rearrangement saddle (E = -5.07342 eps,
index 1). The saddle the CLI writes is checked with ASE's own Lennard-Jones calculator
(energy, forces, finite-difference Hessian); Sella 2.6 from the same guess does not find it
(it drifts to -3.21 eps), so it is no reference here."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write

from jaxrxn.cli import main

LJ4_SADDLE = np.array([
    [0.16381481, -0.06656726, 0.15302718], [0.94968035, 0.09589165, -0.62859923],
    [0.95864724, 0.71462103, 0.30521603], [0.1727817, 0.55216212, 1.08684244],
])  # fmt: skip
R6 = 2 ** (1 / 6)
TETRAHEDRON = R6 * np.array([[0, 0, 0], [1, 0, 0], [0.5, np.sqrt(3) / 2, 0], [0.5, np.sqrt(3) / 6, np.sqrt(2 / 3)]])


def run_json(argv, capsys):
    code = main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else None


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    guess, ts, tet = tmp_path / "guess.xyz", tmp_path / "ts.xyz", tmp_path / "tet.xyz"
    write(guess, Atoms("Ar4", positions=LJ4_SADDLE + 0.002 * rng.normal(size=(4, 3))))
    write(ts, Atoms("Ar4", positions=LJ4_SADDLE))
    write(tet, Atoms("Ar4", positions=TETRAHEDRON))
    return guess, ts, tet


def ase_check_saddle(atoms):
    """Energy, largest force and Hessian eigenvalues (central differences of the forces) of
    `atoms` with ASE's own Lennard-Jones (cutoff 50 sigma: energy shift below 2e-9 eps)."""
    from ase.calculators.lj import LennardJones

    atoms = atoms.copy()
    atoms.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=50.0)
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    x0, h, H = atoms.positions.ravel().copy(), 1e-5, np.zeros((12, 12))
    for i in range(12):
        for sign in (1, -1):
            x = x0.copy()
            x[i] += sign * h
            atoms.positions = x.reshape(4, 3)
            H[i] -= sign * atoms.get_forces().ravel() / (2 * h)
    return e, np.abs(f).max(), np.linalg.eigvalsh(0.5 * (H + H.T))


def test_cli_saddle_converges(files, capsys, tmp_path):
    guess, _, _ = files
    out = tmp_path / "saddle.xyz"
    argv = ["saddle", str(guess), "--calc", "lj", "--method", "prfo", "--fmax", "1e-4", "--output", str(out), "--json"]
    code, rep = run_json(argv, capsys)
    assert code == 0
    assert rep["converged"] and rep["saddle_index"] == 1
    # checked with ASE's calculator: a stationary point with one negative curvature
    # (six rigid-body zeros), at the -5.07342 eps of this module's docstring
    e, fmax, lam = ase_check_saddle(read(str(out)))
    assert fmax < 1e-4 and rep["energy"] == pytest.approx(e, abs=1e-8)
    assert lam[0] < -0.4 and np.all(np.abs(lam[1:7]) < 1e-4) and lam[7] > 0.1, lam
    assert e == pytest.approx(-5.07342, abs=1e-5)
    assert rep["n_force_calls"] > 0


def test_cli_saddle_at_a_minimum_exits_1(files, capsys):
    _, _, tet = files
    code, rep = run_json(["saddle", str(tet), "--calc", "lj", "--json"], capsys)
    assert code == 1 and rep["saddle_index"] == 0 and not rep["converged"]


def test_cli_irc_ends_in_two_tetrahedra(files, capsys, tmp_path):
    _, ts, _ = files
    out = tmp_path / "irc.extxyz"
    code, rep = run_json(["irc", str(ts), "--calc", "lj", "--fmax", "1e-4", "--output", str(out), "--json"], capsys)
    assert code == 0 and rep["converged"]
    assert rep["energy_forward"] == pytest.approx(-6.0, abs=1e-6)
    assert rep["energy_reverse"] == pytest.approx(-6.0, abs=1e-6)
    assert rep["energy"] == pytest.approx(-5.07342, abs=1e-5)  # checked with ASE in test_cli_saddle_converges
    assert out.exists()


def test_cli_bad_input_exits_2(tmp_path, capsys):
    assert main(["saddle", str(tmp_path / "missing.xyz"), "--calc", "lj"]) == 2
    assert main(["irc", str(tmp_path / "missing.xyz"), "--calc", "lj"]) == 2
    assert "error" in capsys.readouterr().err
