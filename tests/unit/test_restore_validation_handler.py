"""Unit tests of the restore-test validator and its probe: real AWS Backup event shapes, stubbed APIs."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

HANDLER_PATH = Path(__file__).resolve().parents[2] / "lib" / "lambda" / "restore_validation" / "handler.py"
ACCOUNT = "123456789012"
PLAN_ARN = f"arn:aws:backup:us-east-1:{ACCOUNT}:restore-testing-plan:restore_testing_plan_test-abc123"
OTHER_PLAN_ARN = f"arn:aws:backup:us-east-1:{ACCOUNT}:restore-testing-plan:someone_else-xyz789"
COPY_TABLE = "awsbackup-restore-test-0a1b2c3d4e5f"
COPY_CLUSTER = "awsbackup-restore-test-5f4e3d2c1b0a"
HEARTBEAT = "2026-11-28T04:55:00.000000+00:00"
CONTEXT = SimpleNamespace(
    function_name="restore-validation-test",
    memory_limit_in_mb=256,
    invoked_function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:restore-validation-test",
    aws_request_id="req-1",
)


@pytest.fixture
def validator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    for key, value in {
        "RESTORE_TESTING_PLAN_ARN": PLAN_ARN,
        "METRICS_NAMESPACE": "DisasterRecovery/RestoreTesting",
        "ENVIRONMENT_SUFFIX": "test",
        "RTO_MINUTES": "240",
        "PROBE_FUNCTION_NAME": "restore-validation-probe-test",
        "DB_NAME": "appdb",
        "DB_SECRET_ARN": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:aurora-credentials-test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("restore_validation_handler", HANDLER_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    yield module


class StubbedClients:
    """``Clients`` with botocore stubs: every call must be expected, and every expectation met."""

    def __init__(self, module: ModuleType) -> None:
        self.clients = module.Clients()
        self.stubs: dict[str, Stubber] = {}

    def stub(self, service: str) -> Stubber:
        if service not in self.stubs:
            client = boto3.client(service, region_name="us-east-1")
            self.clients.made[service] = client
            self.stubs[service] = Stubber(client)
            self.stubs[service].activate()
        return self.stubs[service]

    def verify(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


def restore_event(
    status: str = "COMPLETED",
    resource_type: str = "DynamoDB",
    *,
    plan: str | None = PLAN_ARN,
    created: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A "Restore Job State Change" event as AWS Backup sends it for a restore test."""
    created_arn = (
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{COPY_TABLE}"
        if resource_type == "DynamoDB"
        else f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:{COPY_CLUSTER}"
    )
    detail: dict[str, Any] = {
        "restoreJobId": "A1B2C3D4-0000-1111-2222-333344445555",
        "backupSizeInBytes": "4096",
        "creationDate": "2026-11-28T05:00:12.000Z",
        "iamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/backup-service-role-test",
        "percentDone": 100,
        "resourceType": resource_type,
        "status": status,
        "completionDate": "2026-11-28T05:42:12.000Z",
        "recoveryPointArn": f"arn:aws:backup:us-east-1:{ACCOUNT}:recovery-point:1EB3B5E7",
        "sourceResourceArn": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/dynamodb-table-test",
    }
    if status == "COMPLETED":
        detail["createdResourceArn"] = created or created_arn
    else:
        detail["statusMessage"] = "Access denied to KMS key"
    if plan is not None:
        detail["restoreTestingPlanArn"] = plan
    detail.update(extra)
    return {
        "version": "0",
        "id": "4f5f1f5d-1e38-4b3a-8a8e-6a0f2f3d1a11",
        "detail-type": "Restore Job State Change",
        "source": "aws.backup",
        "account": ACCOUNT,
        "time": "2026-11-28T05:42:13Z",
        "region": "us-east-1",
        "resources": [detail["recoveryPointArn"]],
        "detail": detail,
    }


def emf(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def metric_values(lines: list[dict[str, Any]], name: str) -> dict[str | None, float]:
    """{ResourceType or None: value} of one metric's EMF lines."""
    values = {line.get("ResourceType"): line[name] for line in lines if name in line}
    return {key: value[0] if isinstance(value, list) else value for key, value in values.items()}


def test_completed_dynamodb_copy_with_a_heartbeat_is_reported_successful(validator, capsys):
    stubbed = StubbedClients(validator)
    stubbed.stub("dynamodb").add_response(
        "query",
        {"Items": [{"pk": {"S": "heartbeat"}, "sk": {"S": HEARTBEAT}}]},
        {
            "TableName": COPY_TABLE,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "heartbeat"}},
            "ScanIndexForward": False,
            "Limit": 1,
            "ConsistentRead": True,
        },
    )
    stubbed.stub("backup").add_response(
        "put_restore_validation_result",
        {},
        {
            "RestoreJobId": "A1B2C3D4-0000-1111-2222-333344445555",
            "ValidationStatus": "SUCCESSFUL",
            "ValidationStatusMessage": f"restored table {COPY_TABLE} holds heartbeats up to {HEARTBEAT}",
        },
    )

    result = validator.handler(restore_event(), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert (result["validation"], result["durationMinutes"], result["overRto"]) == ("SUCCESSFUL", 42.0, False)
    lines = emf(capsys)
    assert metric_values(lines, "RestoreValidationFailed") == {"DynamoDB": 0, None: 0}
    assert metric_values(lines, "RestoreDurationMinutes") == {"DynamoDB": 42.0, None: 42.0}
    assert all(line["EnvironmentSuffix"] == "test" for line in lines)


def test_a_copy_without_heartbeat_is_reported_failed_and_counted(validator, capsys):
    stubbed = StubbedClients(validator)
    stubbed.stub("dynamodb").add_response("query", {"Items": []})
    stubbed.stub("backup").add_response(
        "put_restore_validation_result",
        {},
        {
            "RestoreJobId": "A1B2C3D4-0000-1111-2222-333344445555",
            "ValidationStatus": "FAILED",
            "ValidationStatusMessage": f"the restored table {COPY_TABLE} holds no heartbeat item",
        },
    )

    result = validator.handler(restore_event(), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert result["validation"] == "FAILED"
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {"DynamoDB": 1, None: 1}


def test_aurora_copy_is_probed_in_the_vpc_with_its_endpoint(validator, capsys):
    stubbed = StubbedClients(validator)
    stubbed.stub("rds").add_response(
        "describe_db_clusters",
        {
            "DBClusters": [
                {"DBClusterIdentifier": COPY_CLUSTER, "Endpoint": "copy.cluster-x.rds.amazonaws.com", "Port": 5432}
            ]
        },
        {"DBClusterIdentifier": COPY_CLUSTER},
    )
    payload = json.dumps({"newestHeartbeat": "2026-11-28T04:55:00+00:00"}).encode()
    stubbed.stub("lambda").add_response(
        "invoke",
        {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(payload), len(payload))},
        {
            "FunctionName": "restore-validation-probe-test",
            "InvocationType": "RequestResponse",
            "Payload": json.dumps(
                {"host": "copy.cluster-x.rds.amazonaws.com", "port": 5432, "database": "appdb"}
            ).encode(),
        },
    )
    stubbed.stub("backup").add_response("put_restore_validation_result", {})

    result = validator.handler(restore_event(resource_type="Aurora"), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert result["validation"] == "SUCCESSFUL", result["validationMessage"]
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {"Aurora": 0, None: 0}


def test_probe_error_fails_the_validation_without_raising(validator):
    stubbed = StubbedClients(validator)
    stubbed.stub("rds").add_response(
        "describe_db_clusters", {"DBClusters": [{"Endpoint": "copy.example", "Port": 5432}]}
    )
    payload = json.dumps({"error": "OperationalError: connection refused"}).encode()
    stubbed.stub("lambda").add_response(
        "invoke", {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(payload), len(payload))}
    )
    stubbed.stub("backup").add_response("put_restore_validation_result", {})

    result = validator.handler(restore_event(resource_type="Aurora"), CONTEXT, clients=stubbed.clients)

    assert result["validation"] == "FAILED" and "connection refused" in result["validationMessage"]


def test_failed_restore_job_is_a_failed_test_and_over_the_rto_is_flagged(validator, capsys):
    stubbed = StubbedClients(validator)  # no API call: a failed job has no copy to judge
    event = restore_event("FAILED", creationDate="2026-11-28T00:00:00.000Z", completionDate="2026-11-28T04:30:00.000Z")

    result = validator.handler(event, CONTEXT, clients=stubbed.clients)

    assert (result["validation"], result["overRto"]) == ("FAILED", True)
    assert "Access denied to KMS key" in result["validationMessage"]
    lines = emf(capsys)
    assert metric_values(lines, "RestoreValidationFailed") == {"DynamoDB": 1, None: 1}
    assert metric_values(lines, "RestoreDurationMinutes") == {"DynamoDB": 270.0, None: 270.0}


def test_restore_jobs_of_another_plan_are_ignored_and_counted(validator, capsys):
    result = validator.handler(restore_event(plan=OTHER_PLAN_ARN), CONTEXT, clients=StubbedClients(validator).clients)

    assert "not created by this restore testing plan" in result["ignored"]
    assert metric_values(emf(capsys), "InvalidEvents") == {None: 1}


def test_plan_missing_from_the_event_is_read_with_describe_restore_job(validator, capsys):
    stubbed = StubbedClients(validator)
    stubbed.stub("backup").add_response(
        "describe_restore_job",
        {
            "RestoreJobId": "A1B2C3D4-0000-1111-2222-333344445555",
            "CreatedBy": {"RestoreTestingPlanArn": OTHER_PLAN_ARN},
        },
        {"RestoreJobId": "A1B2C3D4-0000-1111-2222-333344445555"},
    )

    result = validator.handler(restore_event(plan=None), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert "ignored" in result  # an on-demand restore or another plan's job: nothing to validate


def test_plan_from_describe_restore_job_fills_in_what_the_event_lacks(validator):
    stubbed = StubbedClients(validator)
    described = {
        "RestoreJobId": "A1B2C3D4-0000-1111-2222-333344445555",
        "CreatedBy": {"RestoreTestingPlanArn": PLAN_ARN},
        "CreationDate": datetime(2026, 11, 28, 5, 0, tzinfo=UTC),
        "CompletionDate": datetime(2026, 11, 28, 5, 10, tzinfo=UTC),
        "ResourceType": "DynamoDB",
        "CreatedResourceArn": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{COPY_TABLE}",
    }
    stubbed.stub("backup").add_response("describe_restore_job", described)
    stubbed.stub("dynamodb").add_response("query", {"Items": [{"sk": {"S": "2026-11-28T04:55"}}]})
    stubbed.stub("backup").add_response("put_restore_validation_result", {})
    event = restore_event(plan=None)
    for key in ("creationDate", "completionDate", "createdResourceArn", "resourceType"):
        del event["detail"][key]

    result = validator.handler(event, CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert (result["validation"], result["durationMinutes"]) == ("SUCCESSFUL", 10.0)


@pytest.mark.parametrize(
    "event",
    [
        "not an event",
        {"source": "aws.backup", "detail-type": "Backup Job State Change", "detail": {}},
        {"source": "aws.backup", "detail-type": "Restore Job State Change"},
        {"source": "aws.backup", "detail-type": "Restore Job State Change", "detail": {"status": "COMPLETED"}},
        {
            "source": "aws.backup",
            "detail-type": "Restore Job State Change",
            "detail": {"restoreJobId": "X", "status": "RUNNING", "restoreTestingPlanArn": PLAN_ARN},
        },
    ],
)
def test_malformed_or_foreign_events_are_logged_and_counted_not_raised(validator, capsys, event):
    result = validator.handler(event, CONTEXT, clients=StubbedClients(validator).clients)

    assert "ignored" in result
    assert metric_values(emf(capsys), "InvalidEvents") == {None: 1}


def test_a_copy_of_the_wrong_kind_fails_validation(validator):
    stubbed = StubbedClients(validator)
    stubbed.stub("backup").add_response("put_restore_validation_result", {})

    result = validator.handler(restore_event(created="arn:aws:s3:::a-bucket"), CONTEXT, clients=stubbed.clients)

    assert result["validation"] == "FAILED" and "not a DynamoDB table" in result["validationMessage"]


class FakeConnection:
    def __init__(self, rows: list[list[Any]] | Exception) -> None:
        self.rows, self.closed = rows, False
        self.statements: list[str] = []

    def run(self, statement: str) -> list[list[Any]]:
        self.statements.append(statement)
        if isinstance(self.rows, Exception):
            raise self.rows
        return self.rows

    def close(self) -> None:
        self.closed = True


def _secret_stub(stubbed: StubbedClients, password: str = "pa55-word") -> None:
    stubbed.stub("secretsmanager").add_response(
        "get_secret_value",
        {"SecretString": json.dumps({"username": "dbadmin", "password": password})},
        {"SecretId": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:aurora-credentials-test"},
    )


def test_probe_reads_the_newest_heartbeat_over_tls(validator, monkeypatch):
    stubbed = StubbedClients(validator)
    _secret_stub(stubbed)
    connection = FakeConnection([[datetime(2026, 11, 28, 4, 55, tzinfo=UTC)]])
    seen: dict[str, Any] = {}

    def connect(host, port, database, username, password, context):
        seen.update(host=host, port=port, database=database, username=username, tls=context is not None)
        return connection

    monkeypatch.setattr(validator, "connect", connect)

    answer = validator.probe(
        {"host": "copy.example", "port": 5432, "database": "appdb"}, CONTEXT, clients=stubbed.clients
    )

    assert answer == {"newestHeartbeat": "2026-11-28T04:55:00+00:00"}
    assert seen == {"host": "copy.example", "port": 5432, "database": "appdb", "username": "dbadmin", "tls": True}
    assert connection.statements == ["SELECT max(checked_at) FROM dr_heartbeat"] and connection.closed


def test_probe_errors_are_answered_and_never_carry_the_password(validator, monkeypatch):
    stubbed = StubbedClients(validator)
    _secret_stub(stubbed, password="pa55-word")
    monkeypatch.setattr(validator, "connect", lambda *args: FakeConnection(RuntimeError("auth failed for pa55-word")))

    answer = validator.probe({"host": "h", "port": 5432, "database": "appdb"}, CONTEXT, clients=stubbed.clients)

    assert answer == {"error": "RuntimeError: auth failed for ***"}
    assert validator.probe({"host": "h"}, CONTEXT, clients=stubbed.clients) == {
        "error": "the probe needs host, port and database"
    }
