"""Unit tests of the backup monitor: real AWS Backup event shapes, the RPO edges, EMF output, against a fake
gateway (``FakeGateway``: each resource's recovery points in memory, every read recorded). The gateway's own
rules (the filters it sends, every page read, one client per environment) are tested on it directly."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import ModuleType, SimpleNamespace
from typing import Any

import dr_common.clients
import pytest

from .handlers import load_handler

ACCOUNT = "123456789012"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/dynamodb-table-test"
CLUSTER_ARN = f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:aurora-cluster-test"
VAULT = "backup-vault-test"
PROTECTED = {"dynamodb-table": TABLE_ARN, "aurora-cluster": CLUSTER_ARN}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=2)  # two RPOs: where a healthy resource's newest point always lies
CONTEXT = SimpleNamespace(
    function_name="backup-monitor-test",
    memory_limit_in_mb=256,
    invoked_function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:backup-monitor-test",
    aws_request_id="req-1",
)


class FakeGateway:
    """AWS Backup's recovery points in memory, in place of ``gateway.Gateway``: ``points`` per resource
    ARN, as (creation date, status); ``reads`` records each (ARN, created after) asked for."""

    def __init__(self) -> None:
        self.points: dict[str, list[tuple[datetime, str]]] = {}
        self.reads: list[tuple[str, datetime | None]] = []

    def recovery_points(self, vault: str, arn: str, created_after: datetime | None) -> Iterable[Mapping[str, Any]]:
        assert vault == VAULT
        self.reads.append((arn, created_after))
        return [
            {"CreationDate": created, "Status": status}
            for created, status in self.points.get(arn, [])
            if created_after is None or created > created_after
        ]


@pytest.fixture
def monitor(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    for key, value in {
        "PROTECTED_RESOURCES": json.dumps(PROTECTED),
        "RPO_MINUTES": "60",
        "METRICS_NAMESPACE": "DisasterRecovery/Backup",
        "ENVIRONMENT_SUFFIX": "test",
        "BACKUP_VAULT_NAME": VAULT,
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    module = load_handler(monkeypatch, "backup_monitor")
    monkeypatch.setattr(module, "gateway", FakeGateway())
    yield module


@pytest.fixture
def logic(monitor: ModuleType) -> ModuleType:
    return sys.modules["logic"]  # the copy load_handler imported


def scheduled(time: str = "2026-11-28T12:00:00Z") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time,
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/backup-monitor-schedule-test"],
        "detail": {},
    }


def job_event(
    state: str, resource_arn: str = TABLE_ARN, detail_type: str = "Backup Job State Change"
) -> dict[str, Any]:
    """As AWS Backup sends it (docs: "Backup Job State Change" events)."""
    return {
        "version": "0",
        "id": "dafd4e2c-ae5d-11a9-08f8-d9f5e0d8c8f0",
        "detail-type": detail_type,
        "source": "aws.backup",
        "account": ACCOUNT,
        "time": "2026-11-28T11:05:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:backup:us-east-1:{ACCOUNT}:recovery-point:1a2b3c4d"],
        "detail": {
            "backupJobId": "4C6B5F26-1C43-5D4E-A1C1-9B1A1B1A1B1A",
            "backupVaultName": "backup-vault-test",
            "backupVaultArn": f"arn:aws:backup:us-east-1:{ACCOUNT}:backup-vault:backup-vault-test",
            "resourceArn": resource_arn,
            "resourceType": "DynamoDB",
            "state": state,
            "creationDate": "2026-11-28T11:00:00.000Z",
            "iamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/backup-service-role-test",
            "statusMessage": "Insufficient privileges" if state == "FAILED" else None,
        },
    }


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and "_aws" in line]


def metric_values(out: str, name: str) -> dict[str, float]:
    """Resource dimension (or "" for summaries) -> value of metric ``name`` in the EMF lines."""
    found = {}
    for line in emf_lines(out):
        if name in line:
            value = line[name]
            found[line.get("Resource", "")] = value[0] if isinstance(value, list) and len(value) == 1 else value
    return found


@pytest.mark.parametrize(("minutes", "breaches"), [(59, False), (60, False), (61, True)])
def test_age_breaches_only_above_the_rpo(logic: ModuleType, minutes: int, breaches: bool) -> None:
    age = logic.Age("dynamodb-table", TABLE_ARN, NOW - timedelta(minutes=minutes), NOW)
    assert age.minutes == minutes
    assert age.breaches(60) is breaches


def test_no_recovery_point_is_a_breach_not_silence(logic: ModuleType) -> None:
    age = logic.Age("dynamodb-table", TABLE_ARN, None, NOW)
    assert age.minutes is None
    assert age.breaches(60) is True


def test_newest_completed_point_skips_unfinished_points(monitor: ModuleType, logic: ModuleType) -> None:
    monitor.gateway.points[TABLE_ARN] = [
        (NOW - timedelta(hours=3), "COMPLETED"),
        (NOW - timedelta(minutes=5), "PARTIAL"),
        (NOW - timedelta(minutes=45), "COMPLETED"),
        (NOW - timedelta(minutes=1), "EXPIRED"),
    ]
    assert logic.newest_completed_point(monitor.gateway, VAULT, TABLE_ARN) == NOW - timedelta(minutes=45)


def test_a_healthy_resource_costs_one_read_of_its_recent_points(monitor: ModuleType, logic: ModuleType) -> None:
    """Seven days of hourly points must not be read every 5 minutes: only the last two RPOs are."""
    monitor.gateway.points[TABLE_ARN] = [(NOW - timedelta(minutes=70), "COMPLETED")]
    settings = logic.Settings.from_environ(monitor.os.environ)
    assert logic.newest_point(monitor.gateway, settings, TABLE_ARN, NOW) == NOW - timedelta(minutes=70)
    assert monitor.gateway.reads == [(TABLE_ARN, NOW - WINDOW)]


def test_a_breaching_resource_reports_its_true_age_from_the_whole_history(
    monitor: ModuleType, logic: ModuleType
) -> None:
    monitor.gateway.points[TABLE_ARN] = [
        (NOW - timedelta(hours=5), "COMPLETED"),
        (NOW - timedelta(minutes=100), "FAILED"),
    ]
    settings = logic.Settings.from_environ(monitor.os.environ)
    assert logic.newest_point(monitor.gateway, settings, TABLE_ARN, NOW) == NOW - timedelta(hours=5)
    assert monitor.gateway.reads == [(TABLE_ARN, NOW - WINDOW), (TABLE_ARN, None)]


def test_scheduled_run_publishes_each_age_the_worst_and_the_missing(
    monitor: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    monitor.gateway.points[TABLE_ARN] = [(NOW - timedelta(minutes=61), "COMPLETED")]
    summary = monitor.handler(scheduled(), CONTEXT)

    assert monitor.gateway.reads == [(TABLE_ARN, NOW - WINDOW), (CLUSTER_ARN, NOW - WINDOW), (CLUSTER_ARN, None)]
    assert summary["resources"] == {"dynamodb-table": 61.0, "aurora-cluster": "never"}
    assert summary["breaching"] == ["aurora-cluster", "dynamodb-table"]
    out = capsys.readouterr().out
    assert metric_values(out, "RecoveryPointAgeMinutes") == {"dynamodb-table": 61.0}
    assert metric_values(out, "WorstRecoveryPointAgeMinutes") == {"": 61.0}
    assert metric_values(out, "ResourcesWithoutRecoveryPoint") == {"": 1.0}
    (age_line,) = [line for line in emf_lines(out) if "RecoveryPointAgeMinutes" in line]
    directive = age_line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "DisasterRecovery/Backup"
    assert sorted(directive["Dimensions"][0]) == ["EnvironmentSuffix", "Resource"]


@pytest.mark.parametrize("state", ["FAILED", "ABORTED", "EXPIRED"])
def test_failed_aborted_and_expired_jobs_are_counted_per_resource(
    monitor: ModuleType, capsys: pytest.CaptureFixture[str], state: str
) -> None:
    result = monitor.handler(job_event(state), CONTEXT)
    assert result == {"resource": "dynamodb-table", "state": state, "failed": True}
    assert metric_values(capsys.readouterr().out, "FailedBackupJobs") == {"dynamodb-table": 1.0}


def test_a_completed_job_counts_nothing(monitor: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert monitor.handler(job_event("COMPLETED"), CONTEXT)["failed"] is False
    assert emf_lines(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (job_event("COMPLETED", detail_type="Restore Job State Change"), "unexpected event"),
        (job_event("FAILED", resource_arn="arn:aws:s3:::someone-elses-bucket"), "not a protected resource"),
        (job_event("EXPLODED"), "not one AWS Backup sends"),
        ({"source": "aws.backup"}, "has no"),
        ({**scheduled(), "time": "yesterday"}, "no valid time"),
        ({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}, "unexpected event"),
        (["not", "an", "object"], "not an EventBridge event object"),
    ],
)
def test_bad_events_are_logged_and_counted_never_raised(
    monitor: ModuleType, capsys: pytest.CaptureFixture[str], event: Any, reason: str
) -> None:
    result = monitor.handler(event, CONTEXT)
    assert reason in result["ignored"]
    assert metric_values(capsys.readouterr().out, "InvalidEvents") == {"": 1.0}


class FakeClient:
    """AWS Backup's client as the gateway uses it: ``pages`` of recovery points; each paginate's parameters recorded."""

    def __init__(self, pages: list[list[Mapping[str, Any]]]) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_recovery_points_by_backup_vault"
        return self

    def paginate(self, **params: Any) -> Any:
        self.requests.append(params)
        return [{"RecoveryPoints": page} for page in self.pages]


@pytest.fixture
def gateway(monitor: ModuleType) -> ModuleType:
    return sys.modules["gateway"]  # the copy load_handler imported


def test_the_gateway_reads_every_page_with_the_filters(gateway: ModuleType) -> None:
    first, second = {"RecoveryPointArn": "rp-1"}, {"RecoveryPointArn": "rp-2"}
    client = FakeClient([[first], [second]])
    aws = gateway.Gateway(clients=lambda service: client)

    assert list(aws.recovery_points(VAULT, TABLE_ARN, NOW - WINDOW)) == [first, second]
    assert list(aws.recovery_points(VAULT, TABLE_ARN, None)) == [first, second]
    assert client.requests == [
        {"BackupVaultName": VAULT, "ByResourceArn": TABLE_ARN, "ByCreatedAfter": NOW - WINDOW},
        {"BackupVaultName": VAULT, "ByResourceArn": TABLE_ARN},
    ]


def test_a_warm_environment_reuses_its_backup_client(
    monitor: ModuleType, gateway: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda keeps an execution environment warm between the 5-minute runs; the client is built once."""
    made: list[str] = []
    client = FakeClient([[{"CreationDate": NOW - timedelta(minutes=5), "Status": "COMPLETED"}]])

    def build(service: str, **options: Any) -> Any:
        made.append(service)
        return client

    monkeypatch.setattr(dr_common.clients.boto3, "client", build)
    monkeypatch.setattr(monitor, "gateway", gateway.Gateway())  # a real one, as the module makes per environment
    for _ in range(3):
        assert monitor.handler(scheduled(), CONTEXT)["breaching"] == []
    assert made == ["backup"]
