"""Verdicts against the objectives, the report files, and the HTML/SVG picture of each report."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime

import pytest

from lib.config import RecoveryObjectives
from tools.dr_drill import render
from tools.dr_drill.report import (
    Cleanup,
    FailoverReport,
    Leftover,
    Probe,
    Recovery,
    ResourceStatus,
    RestoreReport,
    StatusReport,
    format_duration,
    read_latest,
    write,
)

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
OBJECTIVES = RecoveryObjectives()


def recovery(
    store: str, *, restore_s: float = 90.0, loss_s: float | None = 600.0, error: str | None = None
) -> Recovery:
    return Recovery(
        store=store,
        source=f"{store}-dev",
        copy=f"drill-{store}-dev-abc123",
        method="recovery point",
        origin=f"arn:aws:backup:us-east-1:123456789012:recovery-point:{store}",
        origin_time=NOW,
        requested_s=0.5,
        restored_s=0.5 + restore_s * 0.8,
        validated_s=0.5 + restore_s,
        newest_heartbeat=NOW if loss_s is not None else None,
        data_loss_s=loss_s,
        error=error,
    )


def restore_report(*recoveries: Recovery, cleanup: Cleanup | None = None) -> RestoreReport:
    return RestoreReport(
        "abc123", "the local emulator at http://x", "dev", NOW, OBJECTIVES, list(recoveries), cleanup or Cleanup()
    )


def svgs(page: str) -> list[ElementTree.Element]:
    """Every inline SVG of a page, parsed: it must be well-formed XML."""
    return [ElementTree.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", page, re.S)]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0.0 s"), (1.44, "1.4 s"), (65, "1 min 05 s"), (900, "15 min"), (3600, "1 h"), (4 * 3600 + 600, "4 h 10 min")],
)
def test_durations_read_at_a_glance(seconds, text):
    assert format_duration(seconds) == text


def test_a_store_passes_only_within_both_objectives_and_without_error():
    within = recovery("s3")
    late = recovery("aurora", restore_s=OBJECTIVES.rto_minutes * 60 + 1)
    lossy = recovery("dynamodb", loss_s=OBJECTIVES.rpo_minutes * 60 + 1)
    broken = recovery("s3", loss_s=None, error="bucket holds no heartbeat/latest.json")

    assert [r.passed(OBJECTIVES) for r in (within, late, lossy, broken)] == [True, False, False, False]
    assert (late.rto_met(OBJECTIVES), late.rpo_met(OBJECTIVES)) == (False, True)
    assert (lossy.rto_met(OBJECTIVES), lossy.rpo_met(OBJECTIVES)) == (True, False)
    assert restore_report(within).outcome == "passed"
    assert restore_report(within, lossy).outcome == "failed"
    left = Cleanup(left=[Leftover("S3 bucket", "drill-s3-dev-abc123", "aws s3api delete-bucket", "AccessDenied")])
    assert restore_report(within, cleanup=left).outcome == "failed"


def test_the_restore_report_json_has_times_verdicts_and_cleanup():
    document = restore_report(
        recovery("dynamodb"), cleanup=Cleanup(deleted=["DynamoDB table drill-dynamodb-dev-abc123"])
    ).to_json()

    assert document["command"] == "restore" and document["outcome"] == "passed"
    assert document["objectives"] == {"rpo_minutes": 60, "rto_minutes": 240}
    (entry,) = document["recoveries"]
    assert (entry["requested_s"], entry["restored_s"], entry["validated_s"], entry["restore_s"]) == (
        0.5,
        72.5,
        90.5,
        90.0,
    )
    assert (entry["rto_met"], entry["rpo_met"], entry["passed"], entry["data_loss_s"]) == (True, True, True, 600.0)
    assert entry["newest_heartbeat"] == "2030-01-01T12:00:00+00:00"
    assert document["cleanup"] == {
        "deleted": ["DynamoDB table drill-dynamodb-dev-abc123"],
        "kept": [],
        "left_behind": [],
    }
    json.dumps(document)  # serialisable as it is


def test_the_restore_page_draws_a_bar_per_store_the_objectives_and_failures_in_red():
    report = restore_report(
        recovery("aurora", restore_s=600),
        recovery("dynamodb", loss_s=2 * 3600),
        recovery("s3", loss_s=None, error="<script>alert(1)</script> no heartbeat"),
    )

    page = render.restore_page(report)

    timeline, loss = svgs(page)
    assert "<script>" not in page and "&lt;script&gt;" in page
    labels = [text.text for text in timeline.iter("{http://www.w3.org/2000/svg}text")]
    assert {"aurora", "dynamodb", "s3", "RTO 240 min"} <= set(labels)
    assert "10 min within RTO" in labels and any(label.startswith("FAILED: <script>") for label in labels)
    bars = [rect.get("fill") for rect in timeline.iter("{http://www.w3.org/2000/svg}rect")]
    assert bars.count(render.PASS) == 2 and bars.count(render.PASS_LIGHT) == 2  # restored, then validated
    assert render.FAIL_LIGHT in bars  # s3: restored but not validated
    loss_labels = [text.text for text in loss.iter("{http://www.w3.org/2000/svg}text")]
    assert {"RPO 60 min", "10 min within RPO", "2 h OVER RPO", "no heartbeat found"} <= set(loss_labels)
    assert 'class="failed">FAILED' in page


def test_a_function_restore_has_no_data_loss_chart():
    function = Recovery(
        "function", "fn", "fn-copy", "function export", "s3://b/lambda-exports/fn/", None, False, 0, 1, 2
    )

    page = render.restore_page(restore_report(function))

    assert len(svgs(page)) == 1 and "PASSED" in page


def test_failover_outage_runs_from_the_first_refused_probe_to_the_next_answer():
    probes = [Probe(0.0, True), Probe(0.5, False, "refused"), Probe(1.0, False, "refused"), Probe(3.0, True)]
    report = FailoverReport("r", "t", "dev", NOW, OBJECTIVES, "c", "h:5432", "w", "r1", "r1", 0.1, 2.0, probes)

    assert (report.outage, report.unavailable_s, report.outcome) == ((0.5, 3.0), 2.5, "passed")
    chart = svgs(render.failover_page(report))[0]
    colours = [rect.get("fill") for rect in chart.iter("{http://www.w3.org/2000/svg}rect")]
    assert colours == [render.PASS, render.FAIL, render.PASS]  # runs, not one bar per probe
    assert report.to_json()["refused_probes"] == 2
    no_outage = FailoverReport(
        "r", "t", "dev", NOW, OBJECTIVES, "c", "h:5432", "w", "r1", "r1", probes=[Probe(0, True)]
    )
    assert (no_outage.unavailable_s, no_outage.outcome) == (0.0, "passed")


def test_the_status_page_shows_never_and_stale_points_in_red():
    fresh = ResourceStatus("arn:aws:s3:::data", "s3", NOW, 600.0, {"passed": True})
    stale = ResourceStatus("arn:aws:dynamodb:us-east-1:1:table/t", "dynamodb", NOW, 7200.0, None)
    never = ResourceStatus("arn:aws:rds:us-east-1:1:cluster:c", "aurora", None, None, None)
    report = StatusReport("r", "t", "dev", NOW, OBJECTIVES, "vault", [fresh, stale, never], None)

    page = render.status_page(report)

    assert report.outcome == "failed"
    labels = [text.text for text in svgs(page)[0].iter("{http://www.w3.org/2000/svg}text")]
    assert {"10 min old", "2 h old", "never backed up", "RPO 60 min"} <= set(labels)
    assert "No drill report yet." in page and ">never<" in page


def test_reports_are_written_with_a_timestamp_and_as_latest(tmp_path):
    path = write(
        tmp_path / "reports",
        "restore",
        {"outcome": "passed"},
        "<html></html>",
        datetime(2030, 1, 2, 3, 4, 5, 678000, UTC),
    )

    assert path == tmp_path / "reports" / "20300102T030405.678Z-restore.json"
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "20300102T030405.678Z-restore.html",
        "20300102T030405.678Z-restore.json",
        "latest-restore.html",
        "latest-restore.json",
    ]
    assert read_latest(tmp_path / "reports", "restore") == {"outcome": "passed"}
    assert read_latest(tmp_path / "reports", "failover") is None
    (tmp_path / "reports" / "latest-status.json").write_text("{broken")
    assert read_latest(tmp_path / "reports", "status") is None
