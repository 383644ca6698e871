"""The GFN2-xTB reaction data set builder (jaxrxn.datasets): one tiny molecule, checked
against ASE with tblite's own ASE calculator (independent of jaxrxn's bridge)."""

import json
import os

import h5py
import numpy as np
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("tblite")

from jaxrxn.datasets import builder  # noqa: E402
from jaxrxn.datasets.builder import BuildConfig, build_dataset  # noqa: E402
from jaxrxn.generative.data import read_transition1x  # noqa: E402
from jaxrxn.geometry import rmsd_numpy  # noqa: E402
from jaxrxn.reaction import bond_graph  # noqa: E402

CFG = BuildConfig(seed=0, attempts=3)  # attempt 0 finds H2CO -> HCOH (hydrogen transfer C -> O)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    smi = d / "one.smi"
    smi.write_text("# one molecule\nC=O formaldehyde\n")
    out = str(d / "f.h5")
    summary = build_dataset(out, str(smi), CFG, log=lambda s: None)
    return out, str(smi), summary


def _atoms(numbers, R):
    from ase import Atoms
    from tblite.ase import TBLite

    a = Atoms(numbers=numbers, positions=R)
    a.calc = TBLite(method="GFN2-xTB", verbosity=0)
    return a


def test_builder_stores_verified_reaction(built):
    from ase.vibrations import Vibrations

    out, _, summary = built
    assert summary["reactions"] >= 1
    rxns = read_transition1x(out, "data", level="GFN2-xTB")
    assert len(rxns) == summary["reactions"]
    r = rxns[0]
    t = int(r.extras["ts_index"])
    assert np.allclose(r.transition_state, r.positions[t]) and np.allclose(r.reactant, r.positions[0])
    # the TS is a first-order saddle (ASE finite-difference vibrations on tblite)
    ts = _atoms(r.numbers, r.transition_state)
    vib = Vibrations(ts, name=os.path.join(os.path.dirname(out), "vib"), delta=0.005)
    vib.run()
    freqs = vib.get_frequencies()
    vib.clean()
    n_imag = int(np.sum((np.abs(freqs.imag) > 50.0)))
    assert n_imag == 1
    # stored energies and forces are GFN2-xTB's (tblite through ASE; SCF guesses differ,
    # so forces agree to ~1e-4 eV/Å), checked on the TS and on a steep IRC frame
    assert abs(ts.get_potential_energy() - r.energies[t]) < 1e-5
    steep = _atoms(r.numbers, r.positions[t - 3])
    assert np.abs(r.forces[t - 3]).max() > 0.5
    assert np.allclose(steep.get_forces(), r.forces[t - 3], atol=1e-3)
    assert abs(steep.get_potential_energy() - r.energies[t - 3]) < 1e-5
    # both stored ends are stationary points (relaxed to 0.01 eV/Å) and distinct; the
    # first is the relaxed reactant molecule itself (formaldehyde, same minimum)
    for R in (r.reactant, r.product):
        assert np.abs(_atoms(r.numbers, R).get_forces()).max() < 0.011
    expected = np.zeros((4, 4), bool)
    for i, j in ((0, 1), (0, 2), (0, 3)):
        expected[i, j] = expected[j, i] = True
    assert list(r.numbers) == [6, 8, 1, 1]
    assert np.array_equal(bond_graph(r.reactant, r.numbers), expected)
    with h5py.File(out) as f:
        R_mol = f["molecules/positions"][()]
    assert rmsd_numpy(r.reactant, R_mol) < 0.02
    assert not np.array_equal(bond_graph(r.product, r.numbers, 1.3), expected)
    assert r.extras["reaction_type"] == b"+H-O -C-H" and r.extras["kind"] == b"reactive"
    # an IRC path: energy rises to the TS and falls after it, in small steps
    assert np.all(np.diff(r.energies[: t + 1]) > 0) and np.all(np.diff(r.energies[t:]) < 0)
    steps = np.linalg.norm(np.diff(r.positions, axis=0), axis=-1).max(axis=1)
    assert steps.max() < 0.6


def test_builder_resumes_without_redoing(built, monkeypatch):
    out, smi, summary = built
    ledger = os.path.join(out + ".work", "ledger.jsonl")
    n_lines = len(open(ledger).read().splitlines())
    calls = []
    real = builder.run_attempt

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(builder, "run_attempt", counting)
    again = build_dataset(out, smi, CFG, log=lambda s: None)
    assert calls == [] and again["reactions"] == summary["reactions"]
    assert len(open(ledger).read().splitlines()) == n_lines
    # a killed run: drop the last attempt from the ledger; only that one is redone
    lines = open(ledger).read().splitlines()
    with open(ledger, "w") as f:
        f.write("\n".join(lines[:-1]) + "\n")
    build_dataset(out, smi, CFG, log=lambda s: None)
    assert len(calls) == 1
    redone = json.loads(open(ledger).read().splitlines()[-1])
    assert (redone["molecule"], redone["attempt"]) == (json.loads(lines[-1])["molecule"], json.loads(lines[-1])["attempt"])


def test_builders_share_a_work_directory_by_claims(built, monkeypatch):
    """An attempt claimed by another live builder is left to it; the claim of a process
    that is gone is released and the attempt run again."""
    import subprocess

    out, smi, summary = built
    work = out + ".work"
    ledger = os.path.join(work, "ledger.jsonl")
    lines = open(ledger).read().splitlines()
    records = [json.loads(line) for line in lines]
    assert sorted((r["molecule"], r["attempt"]) for r in records) == [(0, 0), (0, 1), (0, 2)]
    # attempts 1 and 2 unfinished: 1 claimed by a live builder, 2 by one that is gone
    with open(ledger, "w") as f:
        f.write("\n".join(line for line, r in zip(lines, records) if r["attempt"] == 0) + "\n")
    live = subprocess.Popen(["sleep", "120"])
    gone = subprocess.Popen(["true"])
    gone.wait()
    for attempt, pid in ((1, live.pid), (2, gone.pid)):
        with open(os.path.join(work, f"claim_0000_{attempt:04d}"), "w") as f:
            f.write(str(pid))
    ran = []
    real = builder.run_attempt
    monkeypatch.setattr(builder, "run_attempt", lambda *a, **k: ran.append(1) or real(*a, **k))
    try:
        build_dataset(out, smi, CFG, log=lambda s: None)
        assert len(ran) == 1
        finished = [json.loads(line)["attempt"] for line in open(ledger).read().splitlines()]
        assert sorted(finished) == [0, 2]
    finally:
        live.kill()
        live.wait()
    # the live builder is gone now: its attempt is run by the next builder
    again = build_dataset(out, smi, CFG, log=lambda s: None)
    assert len(ran) == 2 and again["reactions"] == summary["reactions"]
    assert sorted(json.loads(line)["attempt"] for line in open(ledger).read().splitlines()) == [0, 1, 2]


def test_builder_drops_compiled_programs_past_its_memory_limit(built, monkeypatch):
    import jax

    out, smi, summary = built
    ledger = os.path.join(out + ".work", "ledger.jsonl")
    lines = open(ledger).read().splitlines()
    with open(ledger, "w") as f:
        f.write("\n".join(lines[:-1]) + "\n")
    cleared, logged = [], []
    monkeypatch.setattr(jax, "clear_caches", lambda: cleared.append(1))
    again = build_dataset(out, smi, CFG, max_memory_gb=1e-3, log=logged.append)
    assert cleared == [1] and any("GB: compiled programs dropped" in line for line in logged)
    assert again["reactions"] == summary["reactions"] and len(open(ledger).read().splitlines()) == len(lines)
    # memory maps near the kernel's limit (XLA's CPU code) drop them too, without a memory limit
    with open(ledger, "w") as f:
        f.write("\n".join(lines[:-1]) + "\n")
    monkeypatch.setattr(builder, "MAP_FRACTION", 0.0)
    build_dataset(out, smi, CFG, log=logged.append)
    assert cleared == [1, 1] and any("(vm.max_map_count): compiled programs dropped" in line for line in logged)


def test_builder_takes_only_molecules_of_its_atom_range(built, monkeypatch, capsys):
    from helpers import run_cli

    out, smi, _ = built
    ledger = os.path.join(out + ".work", "ledger.jsonl")
    lines = open(ledger).read().splitlines()
    with open(ledger, "w") as f:  # one attempt of formaldehyde (4 atoms) left to run
        f.write("\n".join(lines[:-1]) + "\n")
    ran = []
    real = builder.run_attempt
    monkeypatch.setattr(builder, "run_attempt", lambda *a, **k: ran.append(1) or real(*a, **k))
    build_dataset(out, smi, CFG, atoms=(5, 10), log=lambda s: None)
    assert ran == []
    build_dataset(out, smi, CFG, atoms=(4, 4), log=lambda s: None)
    assert ran == [1]
    code, _, err = run_cli(["build-dataset", smi, "-o", out, "--atoms", "10-4"], capsys)
    assert code == 2 and "--atoms takes MIN-MAX" in err


def test_splits_by_molecule_are_disjoint_and_seeded():
    cfg = BuildConfig(seed=3)
    a, b = builder.molecule_splits(50, cfg), builder.molecule_splits(50, cfg)
    assert list(a) == list(b)
    assert sum(s == "test" for s in a) == 5 and sum(s == "val" for s in a) == 5
    types = ["-C-H +O-H"] * 5 + ["-C-C"] * 3 + [""] * 4 + ["+C-O"] * 2
    t = builder.type_splits(types, cfg)
    test_types = {ty for ty, s in zip(types, t) if s == "test"}
    train_types = {ty for ty, s in zip(types, t) if s == "train"}
    assert "" not in test_types and test_types and not (test_types & train_types)


def test_assemble_leaves_out_a_reaction_whose_ts_is_not_highest(built, tmp_path):
    """A stored reaction with a frame above its TS (an IRC end on a shoulder) is left out of
    the file and counted as ``ts_not_highest``; the start-method summary counts attempts."""
    import shutil

    out, _, summary = built
    work = str(tmp_path / "w")
    shutil.copytree(out + ".work", work)
    name = sorted(n for n in os.listdir(work) if n.startswith("rxn_"))[0]
    d = dict(np.load(os.path.join(work, name)))
    E, t = d["energies"].copy(), int(d["ts_index"])
    E[-1] = E[t] + 1e-4
    np.savez(os.path.join(work, name), **(d | {"energies": E}))
    again = builder.assemble(str(tmp_path / "f.h5"), work=work)
    assert again["reactions"] == summary["reactions"] - 1
    assert again["outcomes"]["ts_not_highest"] == 1
    assert again["outcomes"].get("reaction", 0) == summary["outcomes"]["reaction"] - 1
    with h5py.File(tmp_path / "f.h5") as f:
        starts = json.loads(f.attrs["attempts"])
    ledger = [json.loads(line) for line in open(os.path.join(work, "ledger.jsonl"))]
    searches = [r for r in ledger if "start" in r]  # not the attempts that found no untried drive
    assert starts["driven_scan"]["attempts"] == len(searches) >= 1 and starts["distortion"]["attempts"] == 0
    # the attempts without a search are counted too: every ledger record is in one column
    assert starts["no_search"]["attempts"] == len(ledger) - len(searches)
    assert sum(s["attempts"] for s in starts.values()) == len(ledger)
    assert builder.start_method({"start": "transfer 3->1"}) == "distortion"
    assert builder.start_method({"start": "transfer 3:0->1"}) == "driven_scan"


def test_drives_equivalent_by_symmetry_are_drawn_once():
    """Acetaldehyde (C0 C1 O2, methyl H 3-5, aldehyde H 6) has 12 drives: methyl H -> C1 or
    O2 (6), H6 -> C0 or O2 (2), H2 from a methyl H and H6 (3), C0-O2 bond formation (1);
    its graph has 3! automorphisms (the methyl hydrogens), so 6 classes. Drawing with the
    earlier draws as `tried` gives each class once, then nothing."""
    from jaxrxn.datasets.molecules import BOND_SCALE, embed

    numbers, R0 = embed("CC=O", seed=0)
    assert len(builder.graph_automorphisms(numbers, np.asarray(bond_graph(R0, numbers, scale=BOND_SCALE)))) == 6
    tried, rng = [], np.random.default_rng(0)
    while (chosen := builder.choose_drive(numbers, R0, rng, tried)) is not None:
        tried.append(chosen[1])
        assert len(tried) <= 12
    kinds = sorted(t.split()[0] for t in tried)
    assert kinds == ["form", "h2", "transfer", "transfer", "transfer", "transfer"]
    methyl = [t for t in tried if t.startswith("transfer") and int(t.split()[1].split(":")[0]) in (3, 4, 5)]
    assert sorted(int(t.split("->")[1]) for t in methyl) == [1, 2]
