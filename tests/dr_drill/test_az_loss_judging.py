"""The AZ-loss drill's steady-state hypothesis, judged over recorded runs (pure, no server)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lib.config import RecoveryObjectives
from tools.dr_drill import render
from tools.dr_drill.az_loss import HYPOTHESIS, judge
from tools.dr_drill.report import AFTER, BEFORE, LOSS, AlarmTrack, AzLossReport, Invocation

LOST, OTHER = "us-east-1a", "us-east-1b"


def invocation(at_s: float, phase: str, ok: bool = True, zone: str | None = OTHER, heartbeat: str = "h") -> Invocation:
    return Invocation(
        at_s, phase, ok, 0.2, availability_zone=zone, heartbeat_id=f"{heartbeat}{at_s}" if ok else None, error=None
    )


def passing(**changes: object) -> AzLossReport:
    """A run that keeps every clause: the writer failed over in 20 s, one failure in the lost AZ."""
    report = AzLossReport(
        "run", "the local emulator", "dev", datetime(2030, 1, 1, tzinfo=UTC), RecoveryObjectives(), LOST, LOST, 3, 3
    )
    report.started_s, report.loss_end_s = 10.0, 190.0
    report.failover, report.writer_switched_s, report.writer_answered_s = True, 15.0, 30.0
    report.invocations = [
        invocation(0, BEFORE),
        invocation(40, LOSS, ok=False, zone=LOST),
        invocation(100, LOSS),
        invocation(160, LOSS),
        *(invocation(190 + 60 * n, AFTER) for n in range(5)),
    ]
    report.alarms = [
        AlarmTrack("health-check-errors-dev", True, ((60.0, "ALARM"), (480.0, "OK")), "OK"),
        AlarmTrack("rpo-aurora-cluster-dev", False, (), "OK"),
    ]
    for name, value in changes.items():
        setattr(report, name, value)
    report.clauses = judge(report)
    return report


def broken(report: AzLossReport) -> list[str]:
    return [clause.name for clause in report.clauses if not clause.held]


def test_a_run_that_keeps_every_clause_passes():
    report = passing()

    assert broken(report) == [] and report.outcome == "passed"
    assert len(report.clauses) == 6


def test_a_failure_placed_outside_the_lost_az_breaks_the_hypothesis():
    report = passing()
    report.invocations[2] = invocation(100, LOSS, ok=False, zone=OTHER)

    assert broken(passing(invocations=report.invocations)) == [
        "during the loss, only invocations in the lost AZ or the failover window fail"
    ]


def test_a_failure_elsewhere_inside_the_failover_window_is_allowed():
    report = passing()
    report.invocations[1] = invocation(20, LOSS, ok=False, zone=OTHER)  # before the writer answered (30 s)

    assert broken(passing(invocations=report.invocations)) == []


@pytest.mark.parametrize(("failed", "held"), [(2, True), (3, False)])
def test_without_placement_failures_are_bounded_by_the_lost_azs_share(failed, held):
    """On AWS Lambda does not say where an invocation ran: a third of 3 subnets plus 10 % may fail."""
    during = [invocation(40 + 20 * n, LOSS, ok=n >= failed, zone=None) for n in range(6)]
    report = passing(invocations=[invocation(0, BEFORE, zone=None), *during, *passing().invocations[4:]])

    clause = report.clauses[0]
    assert clause.held is held and "placement unknown" in clause.detail


def test_a_failure_after_the_experiment_breaks_the_hypothesis():
    report = passing()
    report.invocations[-1] = invocation(430, AFTER, ok=False)

    assert broken(passing(invocations=report.invocations)) == [
        f"after the experiment, 100 % succeed (at least {HYPOTHESIS.recovery_minutes:g} min)"
    ]


def test_too_few_invocations_after_the_experiment_break_the_hypothesis():
    assert broken(passing(invocations=passing().invocations[:-1]))[0].startswith("after the experiment")


def test_a_writer_back_after_more_than_a_minute_breaks_the_hypothesis():
    assert broken(passing(writer_answered_s=75.0)) == [
        "the cluster endpoint answers as writer within 60 s of the failover"
    ]
    assert broken(passing(writer_answered_s=None))[0].startswith("during the loss") is False


def test_no_failover_is_needed_when_the_writer_is_elsewhere():
    report = passing(failover=False, writer_answered_s=None, writer_availability_zone=OTHER)

    assert broken(report) == []
    assert report.clauses[2].detail == f"no failover: the writer was in {OTHER}"


def test_a_lost_heartbeat_breaks_the_hypothesis():
    report = passing(missing_heartbeats={"s3": ["h100"]})

    assert broken(report) == ["no heartbeat lost: every committed heartbeat is in Aurora, DynamoDB and S3"]
    assert "s3: h100" in report.clauses[3].detail


def test_an_alarm_that_should_page_but_did_not_breaks_the_hypothesis():
    silent = AlarmTrack("health-check-errors-dev", True, (), "OK")

    report = passing(alarms=[silent])

    assert broken(report) == ["the alarms that should page did page, and returned to OK"]
    assert "did not page although the canary failed" in report.clauses[4].detail


def test_an_alarm_still_in_alarm_at_the_end_breaks_the_hypothesis():
    stuck = AlarmTrack("health-check-errors-dev", True, ((60.0, "ALARM"),), "ALARM")

    assert broken(passing(alarms=[stuck])) == ["the alarms that should page did page, and returned to OK"]


def test_an_rpo_alarm_that_fired_or_stopped_the_experiment_breaks_the_hypothesis():
    fired = AlarmTrack("rpo-aurora-cluster-dev", False, ((120.0, "ALARM"), (400.0, "OK")), "OK")
    assert broken(passing(alarms=[passing().alarms[0], fired])) == ["no RPO (or undelivered-alerts) alarm breached"]

    stopped = {"EXP1": "stopped: Experiment stopped by stop condition: alarm rpo-x is in ALARM."}
    assert broken(passing(experiments=stopped)) == ["no RPO (or undelivered-alerts) alarm breached"]


def test_an_error_or_an_interruption_is_never_a_pass():
    assert passing(error="experiment EXP1 ended before the disruption").outcome == "failed"
    assert passing(interrupted=True).outcome == "interrupted"


def test_the_page_shows_the_timeline_and_each_clause():
    report = passing()
    report.invocations[1] = replace(report.invocations[1], error="3 of 3 dependencies failed")

    page = render.az_loss_page(report)

    assert "<svg" in page and 'AZ-loss drill (us-east-1a): <span class="passed">PASSED' in page
    assert all(clause.name in page for clause in report.clauses)
    assert "3 of 3 dependencies failed" in page and "health-check-errors-dev" in page
