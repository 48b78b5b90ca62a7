"""Every alarm and every dashboard graph watches a metric that something really emits.

An alarm on a metric nobody publishes never fires, and a graph without data misleads. After an hour
of normal operation every metric an alarm or a widget of the deployed dashboard names must have data
in the last three hours, except the ones listed in ``SILENT_WHEN_HEALTHY`` (AWS publishes them only
when the event they count happens) and ``NOT_EMULATED`` (AWS-service metrics the local emulator
cannot produce); each exception says why, and an exception that has data after all fails the test
too, so the list cannot go stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from lib import output_keys as keys

pytestmark = [pytest.mark.long, pytest.mark.aws_minutes(65)]

# (namespace, metric name): why it has no data while all is well.
SILENT_WHEN_HEALTHY = {
    ("AWS/Backup", "NumberOfBackupJobsFailed"): "counted only when a job fails",
    ("AWS/Backup", "NumberOfBackupJobsAborted"): "counted only when a job is aborted",
    ("AWS/Backup", "NumberOfBackupJobsExpired"): "counted only when a job expires",
    ("AWS/DynamoDB", "ReadThrottleEvents"): "published only when a read is throttled",
    ("AWS/DynamoDB", "WriteThrottleEvents"): "published only when a write is throttled",
    ("AWS/DynamoDB", "SystemErrors"): "published only when DynamoDB answers a 500",
    ("DisasterRecovery/RestoreTesting", "RestoreValidationFailed"): "published when a restore test is judged, on "
    "the restore testing plan's schedule (days apart), not every hour",
    ("DisasterRecovery/RestoreTesting", "RestoreDurationMinutes"): "published when a restore test is judged",
}
# AWS-service metrics of resources the emulator runs differently: it has no hypervisor or storage
# layer to measure, so it does not invent numbers.
NOT_EMULATED = {
    ("AWS/RDS", "CPUUtilization"): "Aurora runs as a local PostgreSQL: no instance CPU to measure",
    ("AWS/RDS", "FreeableMemory"): "Aurora runs as a local PostgreSQL: no instance memory to measure",
    ("AWS/RDS", "AuroraReplicaLagMaximum"): "one local server per cluster: no replica to lag",
    ("AWS/RDS", "DatabaseConnections"): "not sampled from the local server",
    ("AWS/DynamoDB", "ConsumedReadCapacityUnits"): "moto meters no capacity",
    ("AWS/DynamoDB", "ConsumedWriteCapacityUnits"): "moto meters no capacity",
}
WINDOW = timedelta(hours=3)
Metric = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, name, dimensions


def _metrics_of(rows: list[list[Any]]) -> Iterator[Metric]:
    """Every metric a widget's ``metrics`` rows name: ``[namespace, name, dim, value, ..., {options}]``,
    where ``"."`` repeats the field at the same place in the row before; a row of options only (a math
    expression) names none itself."""
    previous: list[Any] = []
    for row in rows:
        fields = [field for field in row if not isinstance(field, dict)]
        if not fields:
            continue
        fields = [previous[i] if field == "." else field for i, field in enumerate(fields)]
        previous = fields
        namespace, name, *dimensions = fields
        yield namespace, name, tuple(zip(dimensions[::2], dimensions[1::2], strict=True))


def _watched(client: Callable[[str], Any], dashboard: str, suffix: str) -> set[Metric]:
    """What the deployed dashboard's widgets and this environment's metric alarms read."""
    cloudwatch = client("cloudwatch")
    watched: set[Metric] = set()
    body = json.loads(cloudwatch.get_dashboard(DashboardName=dashboard)["DashboardBody"])
    for widget in body["widgets"]:
        watched.update(_metrics_of(widget.get("properties", {}).get("metrics", [])))
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
        for alarm in page["MetricAlarms"]:
            if not alarm["AlarmName"].endswith(f"-{suffix}"):
                continue
            queries = alarm.get("Metrics") or [
                {"MetricStat": {"Metric": {k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions")}}}
            ]
            for query in queries:
                metric = (query.get("MetricStat") or {}).get("Metric")
                if metric:
                    dims = tuple((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
                    watched.add((metric["Namespace"], metric["MetricName"], dims))
    return watched


def test_every_alarm_and_graph_watches_a_metric_with_data_after_an_hour(client, clock, outputs, suffix) -> None:
    clock.advance(60)
    now = clock.now()
    cloudwatch = client("cloudwatch")

    silent = set()
    watched = _watched(client, outputs[keys.DASHBOARD_NAME], suffix)
    for namespace, name, dimensions in sorted(watched):
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            Dimensions=[{"Name": n, "Value": v} for n, v in dimensions],
            StartTime=now - WINDOW,
            EndTime=now,
            Period=300,
            Statistics=["SampleCount"],
        )["Datapoints"]
        if not points:
            silent.add((namespace, name))

    not_emulated = set(NOT_EMULATED) if clock.is_emulated else set()
    assert silent - set(SILENT_WHEN_HEALTHY) - not_emulated == set(), "watched, but nothing emits them"
    assert not_emulated - silent == set(), "listed as not emulated, but they have data: take them off the list"
    named = {(namespace, name) for namespace, name, _ in watched}
    assert (set(SILENT_WHEN_HEALTHY) | set(NOT_EMULATED)) - named == set(), "listed, but nothing watches them"
