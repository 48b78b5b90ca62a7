"""The soak's invariant checks (tools/local_aws/soak.py) on synthetic data: each holds on a healthy
soak and breaks, naming what broke, on data that breaks it."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tools.local_aws import server, soak
from tools.local_aws.soak import BackupRule, Day, RecoveryPoint, RestoreJob, Transition

START = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
DAYS = 2
END = START + timedelta(days=DAYS)
HOURLY = BackupRule("cron(0 * ? * * *)", 7)
RESOURCES = ["arn:aws:rds:us-east-1:123456789012:cluster:aurora-cluster-dev", "arn:aws:dynamodb:::table/t-dev"]


def _at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def _change(alarm: str, hours: float, old: str, new: str) -> Transition:
    return Transition(alarm, _at(hours), old, new)


# --- canary -------------------------------------------------------------------------------------------


def test_canary_holds_when_every_scheduled_run_succeeded() -> None:
    assert soak.check_canary(576, 0, 576).passed


def test_canary_breaks_on_a_failed_run() -> None:
    check = soak.check_canary(576, 1, 576)
    assert not check.passed
    assert "failed 1 of its 576 runs" in check.detail


def test_canary_breaks_when_runs_are_missing() -> None:
    check = soak.check_canary(500, 0, 576)
    assert not check.passed
    assert "ran 500 times, not the 576" in check.detail


# --- RPO alarms and flapping -----------------------------------------------------------------------------


def test_rpo_alarms_hold_when_ok_throughout_and_a_fresh_deployments_first_alarm_clears() -> None:
    start = {
        "rpo-aurora-cluster-dev": "OK",
        "rpo-data-bucket-dev": "ALARM",
        "rpo-dynamodb-table-dev": "INSUFFICIENT_DATA",
    }
    end = dict.fromkeys(start, "OK")
    fresh = [
        _change("rpo-data-bucket-dev", 0.5, "ALARM", "OK"),
        _change("rpo-dynamodb-table-dev", 0.1, "INSUFFICIENT_DATA", "ALARM"),
        _change("rpo-dynamodb-table-dev", 1.2, "ALARM", "OK"),
    ]
    check = soak.check_rpo_alarms(start, end, fresh)
    assert check.passed, check.detail
    assert "rpo-data-bucket-dev, rpo-dynamodb-table-dev cleared" in check.detail


def test_rpo_alarms_break_on_a_breach_during_the_soak_even_when_ok_at_the_end() -> None:
    states = {"rpo-aurora-cluster-dev": "OK"}
    breach = [
        _change("rpo-aurora-cluster-dev", 5, "OK", "ALARM"),
        _change("rpo-aurora-cluster-dev", 6, "ALARM", "OK"),
    ]
    check = soak.check_rpo_alarms(states, states, breach)
    assert not check.passed
    assert "rpo-aurora-cluster-dev went from OK to ALARM during the soak" in check.detail


def test_rpo_alarms_break_on_a_breach_after_a_fresh_deployments_first_alarm_cleared() -> None:
    changes = [
        _change("rpo-x-dev", 0.1, "INSUFFICIENT_DATA", "ALARM"),
        _change("rpo-x-dev", 1, "ALARM", "OK"),
        _change("rpo-x-dev", 9, "OK", "ALARM"),
        _change("rpo-x-dev", 10, "ALARM", "OK"),
    ]
    assert not soak.check_rpo_alarms({"rpo-x-dev": "INSUFFICIENT_DATA"}, {"rpo-x-dev": "OK"}, changes).passed


def test_rpo_alarms_break_when_one_is_not_ok_at_the_end() -> None:
    check = soak.check_rpo_alarms({"rpo-x-dev": "ALARM"}, {"rpo-x-dev": "ALARM"}, [])
    assert not check.passed
    assert "rpo-x-dev is ALARM" in check.detail


def test_rpo_alarms_break_when_there_are_none() -> None:
    assert not soak.check_rpo_alarms({}, {"health-check-errors-dev": "OK"}, []).passed


@pytest.mark.parametrize(
    ("start", "path", "expected"),
    [
        ("OK", ["ALARM", "OK"], False),  # one episode: an alarm that paged once and cleared
        ("ALARM", ["OK"], False),  # a fresh deployment's alarm clearing
        ("OK", ["INSUFFICIENT_DATA", "OK", "INSUFFICIENT_DATA"], False),  # never paged
        ("OK", ["ALARM", "OK", "ALARM"], True),
        ("ALARM", ["OK", "ALARM"], True),
        ("OK", ["ALARM", "INSUFFICIENT_DATA", "ALARM", "OK"], True),
    ],
)
def test_an_alarm_flapped_when_it_went_back_to_alarm_after_leaving_it(
    start: str, path: list[str], expected: bool
) -> None:
    states = [start, *path]
    changes = [_change("a-dev", i, old, new) for i, (old, new) in enumerate(itertools.pairwise(states))]
    assert soak.flapped(start, changes) is expected


def test_flapping_check_names_the_alarm_and_when_it_went_to_alarm() -> None:
    changes = [
        _change("health-check-errors-dev", 1, "OK", "ALARM"),
        _change("health-check-errors-dev", 2, "ALARM", "OK"),
        _change("health-check-errors-dev", 3, "OK", "ALARM"),
        _change("restore-test-failed-dev", 1, "OK", "ALARM"),
    ]
    check = soak.check_flapping({"health-check-errors-dev": "OK", "restore-test-failed-dev": "OK"}, changes)
    assert not check.passed
    assert "health-check-errors-dev went to ALARM at 12-01 01:30, 12-01 03:30." in check.detail
    assert "restore-test-failed-dev" not in check.detail
    assert soak.check_flapping({"health-check-errors-dev": "OK"}, changes[:2]).passed


def test_an_alarm_flapping_every_hour_is_named_in_one_short_sentence() -> None:
    hourly = [
        _change("rpo-aurora-cluster-dev", hour + offset, old, new)
        for hour in range(48)
        for offset, old, new in ((0.2, "OK", "ALARM"), (0.3, "ALARM", "OK"))
    ]
    check = soak.check_flapping({"rpo-aurora-cluster-dev": "OK"}, hourly)
    assert not check.passed
    assert "went to ALARM at 12-01 00:42, 12-01 01:42, 12-01 02:42, ... (48 in all)." in check.detail


# --- recovery points ----------------------------------------------------------------------------------


def _hourly_points(resource: str, first: datetime, last: datetime) -> list[RecoveryPoint]:
    moment = first.replace(minute=0) + timedelta(hours=1)
    points = []
    while moment <= last:
        points.append(RecoveryPoint(resource, moment, moment + timedelta(days=HOURLY.delete_after_days)))
        moment += timedelta(hours=1)
    return points


def test_recovery_points_hold_for_an_hourly_plan_with_a_week_of_retention() -> None:
    points = [p for r in RESOURCES for p in _hourly_points(r, END - timedelta(days=7), END)]
    check = soak.check_recovery_points(RESOURCES, points, [HOURLY], START, END)
    assert check.passed, check.detail
    assert "48 taken per resource" in check.detail


def test_recovery_points_break_when_backups_stop() -> None:
    points = [p for r in RESOURCES for p in _hourly_points(r, START, END)]
    stopped = [p for p in points if p.resource != RESOURCES[0] or p.created < _at(10)]
    check = soak.check_recovery_points(RESOURCES, stopped, [HOURLY], START, END)
    assert not check.passed
    assert f"{RESOURCES[0]} got 10 points during the soak, not 48" in check.detail


def test_recovery_points_break_when_retention_stops_deleting() -> None:
    kept_forever = [
        RecoveryPoint(p.resource, p.created, None)
        for r in RESOURCES
        for p in _hourly_points(r, END - timedelta(days=9), END)
    ]
    check = soak.check_recovery_points(RESOURCES, kept_forever, [HOURLY], START, END)
    assert not check.passed
    assert "more than the 168 its retention keeps" in check.detail


def test_recovery_points_break_when_one_outlives_its_delete_at() -> None:
    points = [p for r in RESOURCES for p in _hourly_points(r, START, END)]
    overdue = [*points, RecoveryPoint(RESOURCES[1], END - timedelta(days=8), END - timedelta(hours=2))]
    check = soak.check_recovery_points(RESOURCES, overdue, [HOURLY], START, END)
    assert not check.passed
    assert f"{RESOURCES[1]} still has 1 points past their DeleteAt" in check.detail


# --- restore tests ------------------------------------------------------------------------------------

RUNS = [datetime(2026, 12, 1, 5, tzinfo=UTC), datetime(2026, 12, 2, 5, tzinfo=UTC)]
WINDOW = timedelta(hours=1)


def _tests(*results: tuple[str, str | None]) -> list[RestoreJob]:
    return [
        RestoreJob(kind, run + timedelta(minutes=20), status, validation)
        for run in RUNS
        for kind, (status, validation) in zip(("Aurora", "DynamoDB"), results, strict=True)
    ]


def test_restore_tests_hold_when_every_run_restored_and_validated_each_resource() -> None:
    ok = ("COMPLETED", "SUCCESSFUL")
    assert soak.check_restore_tests(RUNS, WINDOW, 2, _tests(ok, ok)).passed


def test_restore_tests_break_on_a_failed_validation() -> None:
    check = soak.check_restore_tests(RUNS, WINDOW, 2, _tests(("COMPLETED", "FAILED"), ("COMPLETED", "SUCCESSFUL")))
    assert not check.passed
    assert "the Aurora test of 2026-12-01 05:00 ended COMPLETED, validation FAILED" in check.detail


def test_restore_tests_break_when_a_run_did_not_happen() -> None:
    ok = ("COMPLETED", "SUCCESSFUL")
    first_day_only = [job for job in _tests(ok, ok) if job.created < RUNS[1]]
    check = soak.check_restore_tests(RUNS, WINDOW, 2, first_day_only)
    assert not check.passed
    assert "the run of 2026-12-02 05:00 made 0 restore jobs, not 2" in check.detail


# --- dead-letter queues -------------------------------------------------------------------------------


def test_dead_letter_queues_hold_when_nothing_arrived() -> None:
    depths = {"health-check-dlq-dev": 0, "undelivered-alerts-dev": 0}
    assert soak.check_dead_letter_queues(depths, depths).passed


def test_dead_letter_queues_break_when_a_message_arrived_during_the_soak() -> None:
    check = soak.check_dead_letter_queues(
        {"health-check-dlq-dev": 2, "undelivered-alerts-dev": 0},
        {"health-check-dlq-dev": 3, "undelivered-alerts-dev": 0},
    )
    assert not check.passed
    assert "health-check-dlq-dev holds 3 (had 2)" in check.detail


def test_dead_letter_queues_break_when_none_is_found() -> None:
    assert not soak.check_dead_letter_queues({}, {}).passed


# --- budgets ------------------------------------------------------------------------------------------


def test_budget_grows_a_seventh_of_the_way_to_the_ceiling_each_day_and_stops_at_it() -> None:
    assert soak.budget(460, 600, 1) == pytest.approx(480)
    assert soak.budget(460, 600, 7) == pytest.approx(600)
    assert soak.budget(460, 600, 9) == pytest.approx(600)
    assert soak.budget(700, 600, 1) == 600


def _day(day: int, rss: float | None, state: float) -> Day:
    rss_budget = None if rss is None else soak.budget(460, 600, day)
    return Day(day, 30.0, 20.0, rss, state, rss_budget, soak.budget(100, 300, day))


def test_budgets_hold_inside_each_days_budget() -> None:
    assert soak.check_budgets([_day(1, 470, 120), _day(2, 495, 150)]).passed


def test_budgets_break_on_a_leak_on_the_first_day() -> None:
    check = soak.check_budgets([_day(1, 590, 120)])
    assert not check.passed
    assert "day 1: server RSS 590 MB over 480 MB" in check.detail


def test_budgets_break_when_the_state_directory_grows_too_fast() -> None:
    check = soak.check_budgets([_day(1, 470, 120), _day(2, 480, 200)])
    assert not check.passed
    assert "day 2: state directory 200 MB over 157 MB" in check.detail


def test_budgets_break_when_the_servers_memory_cannot_be_read() -> None:
    assert not soak.check_budgets([_day(1, None, 120)]).passed


# --- exit 2: nothing to soak --------------------------------------------------------------------------

OUTPUTS = {
    "EnvironmentSuffix": "dev",
    "AlertsTopicArn": "arn:aws:sns:us-east-1:123456789012:alerts-topic-dev",
}


def _main(argv: list[str]) -> int:
    from tools.local_aws.__main__ import main

    return main(argv)


def test_no_deployment_exits_2_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing() -> dict[str, str]:
        raise soak.OutputsError("cfn-outputs/flat-outputs.json does not exist; run `make deploy` first.")

    monkeypatch.setattr(soak, "read_flat_outputs", missing)
    assert _main(["soak", "--days", "1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("No deployment to soak:") and error.count("\n") == 1


def test_a_deployment_on_aws_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(soak, "read_flat_outputs", lambda: OUTPUTS)
    monkeypatch.setattr(soak, "read_target", lambda: {"target": "aws"})
    assert _main(["soak", "--days", "1"]) == 2
    assert "needs the local emulator's clock" in capsys.readouterr().err


def test_an_emulator_that_does_not_answer_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as bound_not_listening:  # a port nothing answers on: connections are refused
        bound_not_listening.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound_not_listening.getsockname()[1]}"
        monkeypatch.setattr(soak, "read_flat_outputs", lambda: OUTPUTS)
        monkeypatch.setattr(soak, "read_target", lambda: {"target": "local", "endpoint_url": url})
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        assert _main(["soak", "--days", "1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"No emulator to soak: the local AWS emulator does not answer at {url}")
    assert "Traceback" not in error


def test_the_cpu_of_a_tree_counts_the_children_that_already_ended() -> None:
    """The soak's CPU figure covers the server and its function processes, which come and go:
    a child's time must still count after it exits (proc(5): cutime, cstime)."""
    before = server.tree_cpu_seconds(os.getpid())
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    assert server.tree_cpu_seconds(os.getpid()) - before >= 0.05
