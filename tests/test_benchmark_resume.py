"""The resumable evaluation loop shared by the generative benchmarks
(benchmarks/_generative.py: ``rows_to_resume``, ``resumed_rows``, ``evaluate_each`` and ``part_of``): an
interrupted run keeps its rows, a file written by another run is refused, no reaction is
evaluated twice, and a run split into parts joins into the whole."""

import importlib.util
import json
import pathlib
from types import SimpleNamespace

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "_generative.py"


@pytest.fixture(scope="module")
def generative():
    spec = importlib.util.spec_from_file_location("_generative", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(generative, out, reactions, identity, calls, resume=True, merge=(), order=None):
    args = SimpleNamespace(out=str(out), resume=resume, merge=[str(m) for m in merge])
    rows = generative.rows_to_resume(args, order, **identity)

    def evaluate(r):
        calls.append(r.rxn)
        return {"rxn": r.rxn, "value": len(calls)}

    def write(rows):
        out.write_text(json.dumps({**identity, "reactions": rows}))

    return generative.evaluate_each(reactions, rows, evaluate, write)


def test_resume_keeps_rows_and_evaluates_the_rest(generative, tmp_path):
    out = tmp_path / "results.json"
    reactions = [SimpleNamespace(rxn=f"rxn{i}") for i in range(4)]
    identity = {"settings": {"model": "abc", "refine": True}, "data": {"sha256": "0f"}}
    calls: list[str] = []
    _run(generative, out, reactions[:2], identity, calls)  # "interrupted" after two
    assert json.loads(out.read_text())["reactions"][-1]["rxn"] == "rxn1"  # written after each reaction
    rows = _run(generative, out, reactions, identity, calls)
    assert calls == ["rxn0", "rxn1", "rxn2", "rxn3"]  # none evaluated twice
    assert [r["rxn"] for r in rows] == [r.rxn for r in reactions]
    assert [r["value"] for r in json.loads(out.read_text())["reactions"]] == [1, 2, 3, 4]


def test_resume_refuses_a_file_of_another_run(generative, tmp_path):
    out = tmp_path / "results.json"
    reactions = [SimpleNamespace(rxn="rxn0")]
    identity = {"settings": {"model": "abc", "refine": True}, "data": {"sha256": "0f"}}
    _run(generative, out, reactions, identity, [])
    other = {"settings": {"model": "abc", "refine": False}, "data": {"sha256": "0f"}}
    with pytest.raises(SystemExit, match="differs from this run in settings"):
        _run(generative, out, reactions, other, [])
    # a key the file lacks reads as None: files written before a setting existed resume
    # only for runs without it
    with pytest.raises(SystemExit, match="neb"):
        _run(generative, out, reactions, {**identity, "neb": {"images": 11}}, [])
    assert len(_run(generative, out, reactions, {**identity, "neb": None}, [])) == 1


def test_parts_merge_into_the_whole_run(generative, tmp_path):
    """``--part I/N`` runs, then ``--merge`` of their files: every reaction evaluated once,
    the rows in the reactions' order; a part of another run is refused; bad specs exit."""
    reactions = [SimpleNamespace(rxn=f"rxn{i}") for i in range(5)]
    identity = {"settings": {"model": "abc"}, "data": {"sha256": "0f"}}
    calls: list[str] = []
    parts = [tmp_path / f"part{i}.json" for i in range(2)]
    for i, out in enumerate(parts):
        _run(generative, out, generative.part_of(reactions[:4], f"{i}/2"), identity, calls)
    assert calls == ["rxn0", "rxn2", "rxn1", "rxn3"]
    joined = tmp_path / "joined.json"  # the parts cover it all: joined and written, nothing evaluated
    rows = _run(generative, joined, reactions[:4], identity, calls, merge=parts, order=[r.rxn for r in reactions])
    assert len(calls) == 4 and [r["rxn"] for r in json.loads(joined.read_text())["reactions"]] == [f"rxn{i}" for i in range(4)]
    whole = tmp_path / "whole.json"
    order = [r.rxn for r in reactions]
    rows = _run(generative, whole, reactions, identity, calls, merge=parts, order=order)
    assert calls == ["rxn0", "rxn2", "rxn1", "rxn3", "rxn4"]  # only the one no part did
    assert [r["rxn"] for r in rows] == order
    assert [r["rxn"] for r in json.loads(whole.read_text())["reactions"]] == order
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"settings": {"model": "xyz"}, "data": {"sha256": "0f"}, "reactions": []}))
    with pytest.raises(SystemExit, match="other.json differs from this run in settings"):
        _run(generative, tmp_path / "new.json", reactions, identity, [], merge=[other])
    with pytest.raises(SystemExit, match="does not exist"):
        _run(generative, tmp_path / "new.json", reactions, identity, [], merge=[tmp_path / "missing.json"])
    # parts that each added a column to their share of the same rows (an add-on such as
    # --peer run with --part on a finished file): the merge keeps every row's columns, and
    # for a key in both the first file's value
    finished = [{"rxn": f"rxn{i}", "value": i} for i in range(4)]
    for i, out in enumerate(parts):
        rows = [dict(r, **({"extra": i} if k % 2 == i else {})) for k, r in enumerate(finished)]
        out.write_text(json.dumps({**identity, "reactions": [dict(r, value=r["value"] + 10 * i) for r in rows]}))
    joined = _run(generative, tmp_path / "extra.json", [], identity, [], merge=parts, order=order)
    assert [r.get("extra") for r in joined] == [0, 1, 0, 1]
    assert [r["value"] for r in joined] == [0, 1, 2, 3]
    for spec in ("2/2", "1", "a/b", "-1/2"):
        with pytest.raises(SystemExit, match="expected I/N"):
            generative.part_of(reactions, spec)


def test_a_resumed_file_names_every_command_that_wrote_it(generative, tmp_path, monkeypatch):
    """``evaluated_by``: a fresh run names itself; a run that resumes rows written by
    another command line names both, oldest first, and the same command twice once."""
    out = tmp_path / "results.json"
    monkeypatch.setattr("sys.argv", ["x.py", "--limit", "2"])
    first = generative.evaluated_by("x.py", str(out), [])
    assert first == "python benchmarks/x.py --limit 2"
    out.write_text(json.dumps({"evaluated_by": first, "reactions": [{"rxn": "rxn0"}]}))
    assert generative.evaluated_by("x.py", str(out), []) == first  # nothing resumed
    assert generative.evaluated_by("x.py", str(out), [{"rxn": "rxn0"}]) == first
    monkeypatch.setattr("sys.argv", ["x.py", "--limit", "4", "--resume"])
    both = generative.evaluated_by("x.py", str(out), [{"rxn": "rxn0"}])
    assert both == "python benchmarks/x.py --limit 2 ; then python benchmarks/x.py --limit 4 --resume"
    # a merge of parts names each part's command line, then its own (until session 30: its own only)
    parts = []
    for i in (0, 1):
        parts.append(tmp_path / f"p{i}.json")
        parts[-1].write_text(json.dumps({"evaluated_by": f"python benchmarks/x.py --part {i}/2 --out p{i}.json", "reactions": []}))
    monkeypatch.setattr("sys.argv", ["x.py", "--merge", "p0.json", "p1.json", "--out", "all.json"])
    merged = generative.evaluated_by("x.py", str(tmp_path / "all.json"), [{"rxn": "rxn0"}], [str(p) for p in parts])
    assert merged.split(" ; then ") == [
        "python benchmarks/x.py --part 0/2 --out p0.json", "python benchmarks/x.py --part 1/2 --out p1.json",
        "python benchmarks/x.py --merge p0.json p1.json --out all.json",
    ]  # fmt: skip
