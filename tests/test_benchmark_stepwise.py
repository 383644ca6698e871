"""benchmarks/dataset_stepwise.py runs find_mechanism on the held-out reactions the
single-step pipeline left unverified (benchmarks/dataset_lower_passes.py) and sorts each
against the stored TS; a mechanism counts only when every step is IRC-verified."""

import json
import pathlib
import sys

import pytest

_BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def stepwise():
    sys.path.insert(0, str(_BENCHMARKS))
    try:
        import dataset_stepwise
    finally:
        sys.path.remove(str(_BENCHMARKS))
    return dataset_stepwise


def _row(converged, n_steps, de):
    return {"converged": converged, "n_steps": n_steps, "highest_ts_minus_data_ev": de, "n_force_calls": 10}


@pytest.mark.parametrize(
    "row, expected",
    [
        (_row(True, 2, -0.5), "stepwise lower"),
        (_row(True, 3, 0.2), "stepwise higher"),
        (_row(True, 2, 0.009), "stepwise same energy"),
        (_row(True, 1, -0.5), "one step lower"),
        (_row(True, 1, -0.009), "one step same energy"),
        (_row(True, 1, 0.011), "one step higher"),
        (_row(False, 2, -1.0), "not verified"),  # steps found, one of them not verified
        (_row(False, 1, None), "not verified"),
    ],
)
def test_verdicts(stepwise, row, expected):
    assert stepwise.verdict(row) == expected


def test_committed_results_are_the_unverified_reactions_and_their_counts(stepwise):
    result = json.loads((_BENCHMARKS / "results" / "dataset_stepwise.json").read_text())
    single = json.loads((_BENCHMARKS / "results" / "dataset_lower_passes.json").read_text())
    assert [r["rxn"] for r in result["reactions"]] == [r["rxn"] for r in single["reactions"] if r["verdict"] == "not verified"]
    for row in result["reactions"]:
        assert stepwise.verdict(row) == row["verdict"], row["rxn"]
        assert row["n_steps"] == len(row["steps"])
        if row["converged"]:  # every step verified; the highest saddle is the mechanism's
            assert all(s["converged"] for s in row["steps"])
            worst = max(s["ts_minus_data_ev"] for s in row["steps"])
            assert row["highest_ts_minus_data_ev"] == pytest.approx(worst, abs=1e-8)
    assert stepwise.summarise(result["reactions"]) == result["summary"]
