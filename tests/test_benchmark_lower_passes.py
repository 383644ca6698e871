"""benchmarks/dataset_lower_passes.py sorts each pipeline saddle against the data set's stored
TS; the data card's "Known limits" numbers are its counts. The verdicts follow the benchmarks'
same-TS criterion (RMSD < 0.1 Å and energy within 0.01 eV, decided by ``pipeline_ts`` as
``same_ts``), and a saddle without a verified IRC is never counted as a pass."""

import json
import pathlib
import sys

import pytest

_BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def lower_passes():
    sys.path.insert(0, str(_BENCHMARKS))
    try:
        import dataset_lower_passes
    finally:
        sys.path.remove(str(_BENCHMARKS))
    return dataset_lower_passes


def _row(converged, same_ts, de, rxn="r"):
    return {"rxn": rxn, "converged": converged, "same_ts": same_ts, "ts_minus_data_ev": de, "n_force_calls": 10}


@pytest.mark.parametrize(
    "row, expected",
    [
        (_row(True, True, 1e-5), "same"),
        (_row(True, False, 0.009), "same energy"),  # another conformation of the stored TS
        (_row(True, False, -0.009), "same energy"),
        (_row(True, False, -0.011), "lower"),
        (_row(True, False, 0.3), "higher"),
        (_row(False, False, -1.0), "not verified"),  # a lower saddle whose IRC misses the end states
        (_row(True, False, None), "not verified"),
    ],
)
def test_verdicts(lower_passes, row, expected):
    assert lower_passes.verdict(row) == expected


def test_committed_summary_is_the_count_of_its_rows(lower_passes):
    result = json.loads((_BENCHMARKS / "results" / "dataset_lower_passes.json").read_text())
    for row in result["reactions"]:
        assert lower_passes.verdict(row) == row["verdict"], row["rxn"]
    assert lower_passes.summarise(result["reactions"]) == result["summary"]
    assert result["summary"]["lower"] == 14 and result["summary"]["reactions"] == 223  # the card's numbers
