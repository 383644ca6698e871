"""``jaxrxn neb``: the JSON keys and exit codes are a contract."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from jaxrxn.cli import main


def _trimer(tmp_path):
    # Morse Cu trimer: the apex atom flips through the line of the other two.
    a = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [1.25, 2.1, 0]])
    b = a.copy()
    b.positions[2, 1] = -2.1
    fi, ff = str(tmp_path / "is.extxyz"), str(tmp_path / "fs.extxyz")
    write(fi, a)
    write(ff, b)
    return fi, ff


def test_neb_json_and_outputs(tmp_path, capsys):
    fi, ff = _trimer(tmp_path)
    out, png = str(tmp_path / "band.extxyz"), str(tmp_path / "profile.png")
    # 6 images: no image sits on the symmetric midpoint, so only climbing reaches the saddle
    code = main(["neb", fi, ff, "--calc", "morse:Cu", "--images", "6", "--climb", "--fmax", "0.01",
                 "--interpolate", "linear", "-o", out, "--plot", png, "--json"])  # fmt: skip
    d = json.loads(capsys.readouterr().out)
    assert code == 0 and d["converged"]
    assert set(d) == {"barrier", "converged", "n_force_calls", "n_steps", "ts_index", "energies"}
    ts = d["ts_index"]
    assert len(d["energies"]) == 6 and ts in (2, 3)
    assert d["barrier"] == pytest.approx(d["energies"][ts] - d["energies"][0])
    assert d["energies"][ts] == pytest.approx(max(d["energies"][1:-1]))
    # closed form (Girifalco-Weizer Cu, no switching below 6 Å): the apex flips through the
    # straight chain whose spacing minimises 2 V(r) + V(2 r); the ends are as written (not
    # relaxed), so the "barrier" is negative here. Without climbing it is 0.018 eV lower.
    from scipy.optimize import minimize_scalar

    from jaxrxn.potentials.pair import GIRIFALCO_WEIZER

    D, alpha, r0 = GIRIFALCO_WEIZER["Cu"]
    V = lambda r: D * (np.exp(-2 * alpha * (r - r0)) - 2 * np.exp(-alpha * (r - r0)))  # noqa: E731
    chain = minimize_scalar(lambda r: 2 * V(r) + V(2 * r), bounds=(2.0, 3.0), method="bounded", options={"xatol": 1e-12})
    P = np.array([[0, 0, 0], [2.5, 0, 0], [1.25, 2.1, 0]])
    E_is = sum(V(np.linalg.norm(P[i] - P[j])) for i, j in ((0, 1), (0, 2), (1, 2)))
    assert d["energies"][0] == pytest.approx(E_is, abs=1e-9)
    assert d["barrier"] == pytest.approx(chain.fun - E_is, abs=1e-4)  # -0.22506 eV
    from ase.io import read

    frames = read(out, ":")
    assert len(frames) == 6 and np.isclose(frames[ts].get_potential_energy(), d["energies"][ts])
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_neb_not_converged_exit_1(tmp_path, capsys):
    fi, ff = _trimer(tmp_path)
    assert main(["neb", fi, ff, "--calc", "morse:Cu", "--images", "5", "--max-steps", "2", "--interpolate", "linear", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["converged"] is False


def _bad(tmp_path, kind):
    fi, ff = _trimer(tmp_path)
    if kind == "order":
        write(ff, Atoms("Cu2Ag", positions=[[0, 0, 0], [2.5, 0, 0], [1.25, -2.1, 0]]))
    elif kind == "natoms":
        write(ff, Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]]))
    elif kind == "overlap":
        write(ff, Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [0.1, 0, 0]]))
    elif kind == "nan":
        write(ff, Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [np.nan, 0, 0]]), format="extxyz")
    return fi, ff


@pytest.mark.parametrize(
    "kind, extra, message",
    [
        ("order", [], "different atoms"),
        ("natoms", [], "different shapes"),
        ("overlap", [], "overlapping"),
        ("nan", [], "NaN"),
        (None, ["--images", "2"], "at least 3 images"),
    ],
)
def test_neb_bad_input_exit_2(tmp_path, capsys, kind, extra, message):
    fi, ff = _bad(tmp_path, kind)
    code = main(["neb", fi, ff, "--calc", "morse:Cu", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0]


def _batch_file(tmp_path):
    # the trimer flip, and the same flip with a spectator atom far outside the cutoff
    # (4 atoms: a different atom count in the same batch)
    fi, ff = _trimer(tmp_path)
    a = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [1.25, 2.1, 0], [20.0, 0, 0]])
    b = a.copy()
    b.positions[2, 1] = -2.1
    gi, gf = str(tmp_path / "is4.extxyz"), str(tmp_path / "fs4.extxyz")
    write(gi, a)
    write(gf, b)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{fi} {ff}\n# a comment\n{gi} {gf}\n")
    return str(pairs), fi, ff


def test_neb_batch_json_contract(tmp_path, capsys):
    pairs, fi, ff = _batch_file(tmp_path)
    flags = ["--calc", "morse:Cu", "--images", "5", "--climb", "--fmax", "0.01", "--interpolate", "linear", "--json"]
    code = main(["neb", "--batch", pairs, *flags])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and isinstance(out, list) and len(out) == 2
    assert main(["neb", fi, ff, *flags]) == 0
    single = json.loads(capsys.readouterr().out)
    for d in out:
        assert set(d) == set(single) and d["converged"]
        assert d["barrier"] == pytest.approx(single["barrier"], abs=1e-6)  # the spectator changes nothing
        assert d["ts_index"] == single["ts_index"] and len(d["energies"]) == 5
    # not converged within the step cap: exit 1
    assert main(["neb", "--batch", pairs, *flags, "--max-steps", "2"]) == 1
    capsys.readouterr()


@pytest.mark.parametrize("content, message", [
    ("only_one_file.xyz\n", "line 1: expected 'IS_FILE FS_FILE'"),
    ("missing_is.xyz missing_fs.xyz\n", "missing_is.xyz"),
    ("", "lists no reactions"),
])  # fmt: skip
def test_neb_batch_bad_input(tmp_path, capsys, content, message):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(content)
    code = main(["neb", "--batch", str(pairs), "--calc", "morse:Cu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
