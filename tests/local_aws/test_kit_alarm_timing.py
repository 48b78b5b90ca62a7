"""When the kit's own alarms page, measured on the emulator's CloudWatch (which follows AWS's evaluation
range and missing-data rules, tests/local_aws/test_conformance_alarms.py).

The alarms are the synthesized ones (the dev profile, as tests/unit builds it), created through
PutMetricAlarm with their template properties; the metrics their sources would publish are put on
the emulator's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.unit.templates import synthesized
from tools.local_aws.clock import CLOCK

Aws = Callable[[str], Any]
FIVE_MINUTES = timedelta(minutes=5)
API_KEYS = [
    "Namespace",
    "MetricName",
    "Statistic",
    "ExtendedStatistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
]


@pytest.fixture(scope="module")
def kit_alarms() -> dict[str, dict[str, Any]]:
    """The synthesized alarms' properties by alarm type (name without the suffix)."""
    found = Template.from_stack(synthesized().resilience).find_resources("AWS::CloudWatch::Alarm")
    return {p["Properties"]["AlarmName"].rsplit("-", 1)[0]: p["Properties"] for p in found.values()}


def _resolved(value: Any, table: str) -> Any:
    """Template values with every Ref or Fn::GetAtt (the one resource an alarm watches: a table, a vault)
    replaced by ``table``."""
    if isinstance(value, dict):
        if set(value) in ({"Ref"}, {"Fn::GetAtt"}):
            return table
        return {k: _resolved(v, table) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, table) for v in value]
    return value


def _create(aws: Aws, properties: dict[str, Any], name: str, table: str = "unused") -> None:
    properties = _resolved(properties, table)
    arguments = {key: properties[key] for key in API_KEYS if key in properties}
    if "Dimensions" in properties:
        arguments["Dimensions"] = properties["Dimensions"]
    if "Metrics" in properties:
        arguments["Metrics"] = properties["Metrics"]
    aws("cloudwatch").put_metric_alarm(AlarmName=name, **arguments)


def _state(aws: Aws, name: str) -> str:
    return str(aws("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def _period_start(period: timedelta = FIVE_MINUTES) -> datetime:
    """Jump to one minute into a fresh period (5 minutes unless given); returns the period's start."""
    now = CLOCK.now()
    seconds = period.total_seconds()
    boundary = datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC) + period
    CLOCK.jump(boundary + timedelta(minutes=1) - now)
    return boundary


def _minutes(until: datetime, since: datetime) -> float:
    return (until - since).total_seconds() / 60


def _first_state(aws: Aws, name: str, state: str, minutes: int, each_minute: Callable[[], None]) -> datetime:
    """Advance minute by minute (calling ``each_minute`` first) until the alarm is in ``state``."""
    for _ in range(minutes):
        each_minute()
        CLOCK.advance(timedelta(minutes=1))
        if _state(aws, name) == state:
            return CLOCK.now()
    raise AssertionError(f"{name} did not reach {state} within {minutes} minutes")


class Publisher:
    """Publishes an alarm's metric once per alarm period, as the backup monitor (the age of the newest
    point, every 5 minutes) and the canary's schedule (one invocation per interval) do."""

    def __init__(self, aws: Aws, alarm: dict[str, Any], value: Callable[[datetime], float]) -> None:
        self.aws, self.alarm, self.value = aws, alarm, value
        self.every = timedelta(seconds=alarm["Period"])
        self.last_report: datetime | None = None
        self.running = True

    def tick(self) -> None:
        now = CLOCK.now()
        if not self.running or (self.last_report and now - self.last_report < self.every):
            return
        datum = {
            "MetricName": self.alarm["MetricName"],
            "Dimensions": self.alarm["Dimensions"],
            "Value": self.value(now),
        }
        self.aws("cloudwatch").put_metric_data(Namespace=self.alarm["Namespace"], MetricData=[datum])
        self.last_report = now


def _own_alarm(aws: Aws, kit_alarms: dict[str, dict[str, Any]], alarm_type: str, suffix: str) -> tuple[str, dict]:
    """The kit's alarm under a name and dimension values of this test's own (no other test's data reaches it)."""
    properties = dict(kit_alarms[alarm_type])
    properties["Dimensions"] = [{"Name": d["Name"], "Value": suffix} for d in properties["Dimensions"]]
    name = f"{alarm_type}-timing-{suffix}"
    _create(aws, properties, name)
    return name, properties


def test_rpo_alarm_pages_15_to_21_minutes_after_the_rpo_when_backups_stop(
    aws: Aws, kit_alarms: dict[str, dict[str, Any]], suffix: str
) -> None:
    """The monitor keeps reporting; the resource's newest point ages past the 60-minute RPO."""
    name, properties = _own_alarm(aws, kit_alarms, "rpo-dynamodb-table", suffix)
    last_backup = _period_start()
    monitor = Publisher(aws, properties, lambda now: _minutes(now, last_backup))
    fired = _first_state(aws, name, "ALARM", 120, monitor.tick)
    assert 75 <= _minutes(fired, last_backup) <= 81
    assert properties["Threshold"] == 60


# earliest and latest in alarm periods: 5 minutes for the RPO alarm, the canary's interval for its own.
@pytest.mark.parametrize(
    ("alarm_type", "healthy_value", "earliest", "latest"),
    [("rpo-dynamodb-table", 5.0, 5, 6), ("health-check-not-running", 1.0, 4, 5)],
)
def test_missing_data_pages_once_the_last_report_leaves_the_range(
    aws: Aws,
    kit_alarms: dict[str, dict[str, Any]],
    suffix: str,
    alarm_type: str,
    healthy_value: float,
    earliest: int,
    latest: int,
) -> None:
    """Missing data is breaching, but only once the last reported value has left the evaluation range:
    the backup monitor or the canary stopped."""
    name, properties = _own_alarm(aws, kit_alarms, alarm_type, suffix)
    publisher = Publisher(aws, properties, lambda now: healthy_value)
    period = int(publisher.every.total_seconds() // 60)
    _period_start(publisher.every)
    assert _first_state(aws, name, "OK", 2 * period, publisher.tick)
    publisher.running = False
    assert publisher.last_report is not None
    fired = _first_state(aws, name, "ALARM", 12 * period, lambda: None)
    assert earliest * period <= _minutes(fired, publisher.last_report) <= latest * period


def test_dynamodb_throttling_alarm_is_ok_without_traffic_and_clears_after_throttling(
    aws: Aws, kit_alarms: dict[str, dict[str, Any]], suffix: str
) -> None:
    """DynamoDB publishes throttle counts only when it throttles, and CloudWatch ignores missing data
    on AWS/DynamoDB alarms: the alarm must still be OK when nothing is throttled, page on a
    throttle, and clear once throttling stops."""
    table, name = f"throttled-{suffix}", f"throttling-{suffix}"
    _create(aws, kit_alarms["dynamodb-throttling"], name, table)
    start = _period_start()
    CLOCK.advance(timedelta(minutes=1))
    assert _state(aws, name) == "OK"

    aws("cloudwatch").put_metric_data(
        Namespace="AWS/DynamoDB",
        MetricData=[
            {"MetricName": "WriteThrottleEvents", "Dimensions": [{"Name": "TableName", "Value": table}], "Value": 3}
        ],
    )
    CLOCK.advance(timedelta(minutes=1))
    assert _state(aws, name) == "ALARM"
    cleared = _first_state(aws, name, "OK", 30, lambda: None)
    assert _minutes(cleared, start) < 11  # when the throttled period is no longer one of the last two


@pytest.mark.parametrize("state", ["Failed", "Aborted", "Expired"])
def test_a_backup_job_that_does_not_complete_pages_and_clears(
    aws: Aws, kit_alarms: dict[str, dict[str, Any]], suffix: str, state: str
) -> None:
    """A stopped Aurora cluster's hourly jobs expire at the end of their start window instead of
    failing; AWS Backup publishes NumberOfBackupJobsExpired for them (AWS Backup Developer Guide,
    "Monitoring AWS Backup metrics with CloudWatch",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/cloudwatch.html). The alarm must page for
    every job that ends without a recovery point, and clear once an hour counts none."""
    vault, name = f"vault-{suffix}", f"backup-job-failures-timing-{suffix}"
    _create(aws, kit_alarms["backup-job-failures"], name, vault)
    _period_start()
    CLOCK.advance(timedelta(minutes=1))
    assert _state(aws, name) == "OK"

    aws("cloudwatch").put_metric_data(
        Namespace="AWS/Backup",
        MetricData=[
            {
                "MetricName": f"NumberOfBackupJobs{state}",
                "Dimensions": [{"Name": "BackupVaultName", "Value": vault}],
                "Value": 1,
            }
        ],
    )
    CLOCK.advance(timedelta(minutes=1))
    assert _state(aws, name) == "ALARM"
    assert _first_state(aws, name, "OK", 125, lambda: None)


@pytest.mark.parametrize("phase", range(5))
def test_rpo_alarm_stays_ok_while_hourly_backups_land_minutes_after_their_hour(
    aws: Aws, kit_alarms: dict[str, dict[str, Any]], suffix: str, phase: int
) -> None:
    """A healthy hourly plan: each point is taken on the hour and completes 12 minutes later (the
    emulator's Aurora job; on AWS a job starts within its start window and then runs), so its age
    passes the RPO for 12 minutes every hour. Whatever minute the monitor reports at, that must not
    page: the alarm waits for four reports above the RPO."""
    name, properties = _own_alarm(aws, kit_alarms, "rpo-aurora-cluster", suffix)
    start = _period_start()
    CLOCK.jump(timedelta(minutes=phase))
    landing = timedelta(minutes=12)

    def age(now: datetime) -> float:
        taken = [start - timedelta(minutes=30) + timedelta(hours=h) for h in range(5)]
        return _minutes(now, max(t for t in taken if t + landing <= now))

    monitor = Publisher(aws, properties, age)
    states = set()
    for _ in range(180):
        monitor.tick()
        CLOCK.advance(timedelta(minutes=1))
        states.add(_state(aws, name))
    assert states <= {"INSUFFICIENT_DATA", "OK"}
    assert "OK" in states
