"""The shipped GFN2-xTB reaction data set (jaxrxn/data/xtb_reactions.h5) against its card
(jaxrxn/data/xtb_reactions.md), both as committed: every number of the card is recounted
here with h5py directly, and the splits are checked for leaks."""

import json
import os
import re

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "jaxrxn", "data")
FILE, CARD = os.path.join(DATA, "xtb_reactions.h5"), os.path.join(DATA, "xtb_reactions.md")


def _table(text: str, header: str) -> dict[str, list[str]]:
    """Rows of the markdown table whose header row starts with ``| header |``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def _reactions(f, group):
    return [g for grp in f[group].values() for g in grp.values()]


def test_card_matches_shipped_file():
    text = open(CARD).read()
    with h5py.File(FILE, "r") as f:
        rxns = _reactions(f, "data")
        kinds = [g["kind"][()].decode() for g in rxns]
        counts = _table(text, "quantity")
        assert int(counts["reactions"][0]) == len(rxns)
        assert int(counts["reactive"][0]) == kinds.count("reactive")
        assert int(counts["conformational"][0]) == kinds.count("conformational")
        assert int(counts["molecules"][0]) == len(f["molecules/smiles"])
        assert int(counts["molecules_with_reactions"][0]) == len({int(g["molecule"][()]) for g in rxns})
        assert int(counts["configurations"][0]) == sum(len(g["GFN2-xTB.energy"]) for g in rxns)
        sizes = _table(text, "atoms")
        n_atoms = [len(g["atomic_numbers"]) for g in rxns]
        assert {int(k): int(v[0]) for k, v in sizes.items()} == {n: n_atoms.count(n) for n in set(n_atoms)}
        elements = _table(text, "element")
        symbols = {"H": 1, "C": 6, "N": 7, "O": 8}
        Z = np.concatenate([g["atomic_numbers"][()] for g in rxns])
        assert set(elements) <= set(symbols) and set(np.unique(Z)) <= set(symbols.values())
        assert {k: int(v[0]) for k, v in elements.items()} == {s: int(np.sum(Z == z)) for s, z in symbols.items() if np.any(Z == z)}
        barriers = np.array([g["GFN2-xTB.energy"][int(g["ts_index"][()])] - g["GFN2-xTB.energy"][0] for g in rxns] or [0.0])
        row = _table(text, "min")
        (lo, med, mean, hi) = [float(x) for x in [next(iter(row))] + row[next(iter(row))]]
        assert np.allclose([lo, med, mean, hi], [barriers.min(), np.median(barriers), barriers.mean(), barriers.max()], atol=1e-4)
        assert barriers.min() > 0 or not rxns
        # every stored TS is the highest frame and first order by the builder's analysis
        for g in rxns:
            E = g["GFN2-xTB.energy"][()]
            assert int(np.argmax(E)) == int(g["ts_index"][()])
            assert g["frequencies"][0] < -50.0 < g["frequencies"][1]
        # start methods: attempts as the stored ledger summary, reactions recounted from the
        # stored `start_method` of each reaction (every reaction has one), yield their ratio
        summary = json.loads(f.attrs["attempts"])
        methods = [g["start_method"][()].decode() for g in rxns]
        starts = _table(text, "start method")
        assert set(starts) == {m for m, s in summary.items() if s["attempts"]}
        assert set(starts) - {"no_search"} == set(methods)
        for m, (attempts, reactions, rate) in starts.items():
            assert int(attempts) == summary[m]["attempts"] == sum(summary[m]["outcomes"].values())
            assert int(reactions) == methods.count(m) == summary[m]["outcomes"].get("reaction", 0)
            assert abs(float(rate) - methods.count(m) / summary[m]["attempts"]) <= 0.005
        outcomes = _table(text, "outcome")
        for o, counts in outcomes.items():
            assert [int(c) for c in counts] == [summary[m]["outcomes"].get(o, 0) for m in starts]
        assert sum(int(c) for row in outcomes.values() for c in row) == sum(s["attempts"] for s in summary.values())
        for g in rxns:  # the description of the start matches its method
            kind, _, atoms = g["start"][()].decode().partition(" ")
            want = "driven_scan" if kind in ("h2", "form") or ":" in atoms else "distortion"
            assert g["start_method"][()].decode() == want and kind in ("stretch", "transfer", "h2", "form")
        splits = _table(text, "split")
        mol_split = [s.decode() for s in f["molecules/split"][()]]
        for s in ("train", "val", "test"):
            assert int(splits[s][0]) == mol_split.count(s)
            assert int(splits[s][1]) == len(_reactions(f, s))
        type_splits = _table(text, "type split")
        for s in ("type_train", "type_test"):
            assert int(type_splits[s][1]) == len(_reactions(f, s))
        assert sum(len(_reactions(f, s)) for s in ("train", "val", "test")) == len(rxns)
        assert len(_reactions(f, "type_train")) + len(_reactions(f, "type_test")) == len(rxns)
        # no leaks: test molecules never in training, held-out reaction types never in training
        smiles = {s: {g["smiles"][()] for g in _reactions(f, s)} for s in ("train", "val", "test")}
        assert not (smiles["test"] & smiles["train"]) and not (smiles["val"] & smiles["train"])
        for g in _reactions(f, "test"):
            assert mol_split[int(g["molecule"][()])] == "test"
        types = {s: {g["reaction_type"][()] for g in _reactions(f, s)} for s in ("type_train", "type_test")}
        assert not (types["type_test"] & types["type_train"])
    assert re.search(r"!\[barrier histogram\]\(xtb_reactions_barriers\.png\)", text)
    assert os.path.exists(os.path.join(DATA, "xtb_reactions_barriers.png"))
