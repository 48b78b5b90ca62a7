"""The benchmark's arithmetic and its refusal of bad input (running it is `make bench`, not a test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import bench


def test_summary_and_ratios_use_medians() -> None:
    summary = bench.summarize({"synth": [9.0, 8.0, 30.0], "floor": [4.0, 5.0, 4.0], "unit": []})
    assert summary["synth"] == {"min": 8.0, "median": 9.0, "max": 30.0, "runs": 3}
    assert "unit" not in summary
    (ratio,) = bench.ratios(summary)
    assert ratio == {"ratio": "synth / floor (in-process)", "value": 9.0 / 4.0, "target": 1.5}


@pytest.mark.parametrize("argv", [["--cases", "synth,warp"], ["--repeat", "0"]])
def test_bad_arguments_are_refused_before_anything_runs(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "unknown case(s) warp" in error or "--repeat must be at least 1" in error


def test_the_soak_case_reads_each_days_time_and_the_last_over_the_first(tmp_path: Path) -> None:
    report = {
        "per_day": [
            {"wall_seconds": 20.0, "cpu_seconds": 15.0},
            {"wall_seconds": 22.0, "cpu_seconds": 15.5},
            {"wall_seconds": 25.0, "cpu_seconds": 16.5},
        ],
        "last_day_over_first_cpu": 1.1,
        "invariants": [{"name": "canary succeeded on every run", "passed": True}, {"name": "budgets", "passed": False}],
    }
    (tmp_path / "soak.json").write_text(json.dumps(report))
    details = bench.CASES["soak"].details
    assert details is not None
    assert details(tmp_path) == {
        "day_wall_s": [20.0, 22.0, 25.0],
        "day_cpu_s": [15.0, 15.5, 16.5],
        "last_over_first": 1.25,
        "last_over_first_cpu": 1.1,
        "broken_invariants": ["budgets"],
    }
