"""Unit tests of the restore-test validator: real AWS Backup event shapes, stubbed APIs, a fake database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from .handlers import load_handler

ACCOUNT = "123456789012"
PLAN_ARN = f"arn:aws:backup:us-east-1:{ACCOUNT}:restore-testing-plan:restore_testing_plan_test-abc123"
OTHER_PLAN_ARN = f"arn:aws:backup:us-east-1:{ACCOUNT}:restore-testing-plan:someone_else-xyz789"
COPY_TABLE = "awsbackup-restore-test-0a1b2c3d4e5f"
COPY_CLUSTER = "awsbackup-restore-test-5f4e3d2c1b0a"
COPY_WRITER = f"{COPY_CLUSTER}-writer"
COPY_PREFIX = "awsbackup-restore-test-"
PROBED_HEARTBEAT = "2026-11-28T04:55:00+00:00"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:aurora-credentials-test"
JOB_ID = "A1B2C3D4-0000-1111-2222-333344445555"
SWEEP_TIME = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
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
        "DB_NAME": "appdb",
        "INSTANCE_DEADLINE_MINUTES": "60",
        "DB_SECRET_ARN": SECRET_ARN,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    yield load_handler(monkeypatch, "restore_validation")


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


def writer_event() -> dict[str, Any]:
    """RDS-EVENT-0005 ("DB instance created") of the copy's writer, as RDS sends it to EventBridge
    (Aurora user guide, "Creating a rule that triggers on an Amazon Aurora event": DB instance event)."""
    arn = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:{COPY_WRITER}"
    return {
        "version": "0",
        "id": "68f6e973-1a0c-d37b-f2f2-94a7f62ffd4e",
        "detail-type": "RDS DB Instance Event",
        "source": "aws.rds",
        "account": ACCOUNT,
        "time": "2026-11-28T05:58:12Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {
            "EventCategories": ["creation"],
            "SourceType": "DB_INSTANCE",
            "SourceArn": arn,
            "Date": "2026-11-28T05:58:12.000Z",
            "Message": "DB instance created",
            "SourceIdentifier": COPY_WRITER,
            "EventID": "RDS-EVENT-0005",
        },
    }


def sweep_event() -> dict[str, Any]:
    """EventBridge's scheduled event (the sweep's rate rule)."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": SWEEP_TIME.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/restore-test-sweep-test"],
        "detail": {},
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


def test_completed_aurora_copy_gets_a_writer_and_is_not_reported_yet(validator, capsys):
    """AWS Backup restores an Aurora cluster without any DB instance: validating it now can only fail."""
    stubbed = StubbedClients(validator)
    rds = stubbed.stub("rds")
    rds.add_response(
        "describe_db_clusters",
        {"DBClusters": [{"DBClusterIdentifier": COPY_CLUSTER, "Engine": "aurora-postgresql", "DBClusterMembers": []}]},
        {"DBClusterIdentifier": COPY_CLUSTER},
    )
    rds.add_response(
        "modify_db_cluster",
        {"DBCluster": {"DBClusterIdentifier": COPY_CLUSTER}},
        {
            "DBClusterIdentifier": COPY_CLUSTER,
            "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 2.0},
            "ApplyImmediately": True,
        },
    )
    rds.add_response(
        "create_db_instance",
        {"DBInstance": {"DBInstanceIdentifier": COPY_WRITER, "DBInstanceStatus": "creating"}},
        {
            "DBInstanceIdentifier": COPY_WRITER,
            "DBClusterIdentifier": COPY_CLUSTER,
            "Engine": "aurora-postgresql",
            "DBInstanceClass": "db.serverless",
            "Tags": [{"Key": "restore-job-id", "Value": JOB_ID}],
        },
    )
    stubbed.stub("backup")  # no response queued: a PutRestoreValidationResult now would fail the test
    stubbed.stub("secretsmanager")  # nor may the copy be queried yet

    result = validator.handler(restore_event(resource_type="Aurora"), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert (result["validation"], result["writer"]) == ("PENDING", COPY_WRITER)
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {}  # nothing judged yet


def test_a_retried_completed_event_finds_the_writer_already_there(validator):
    stubbed = StubbedClients(validator)
    rds = stubbed.stub("rds")
    rds.add_response(
        "describe_db_clusters",
        {
            "DBClusters": [
                {
                    "Engine": "aurora-postgresql",
                    "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 2.0},
                }
            ]
        },
    )
    rds.add_client_error("create_db_instance", "DBInstanceAlreadyExists", http_status_code=400)

    result = validator.handler(restore_event(resource_type="Aurora"), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert result["validation"] == "PENDING"


def _writer_found(stubbed: StubbedClients, *, plan: str = PLAN_ARN) -> None:
    """DescribeDBInstances of the writer (with its job tag) and DescribeRestoreJob of that job."""
    stubbed.stub("rds").add_response(
        "describe_db_instances",
        {
            "DBInstances": [
                {
                    "DBInstanceIdentifier": COPY_WRITER,
                    "DBClusterIdentifier": COPY_CLUSTER,
                    "DBInstanceStatus": "available",
                    "TagList": [{"Key": "restore-job-id", "Value": JOB_ID}],
                }
            ]
        },
        {"DBInstanceIdentifier": COPY_WRITER},
    )
    stubbed.stub("backup").add_response(
        "describe_restore_job",
        {
            "RestoreJobId": JOB_ID,
            "Status": "COMPLETED",
            "ResourceType": "Aurora",
            "CreatedResourceArn": f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:{COPY_CLUSTER}",
            "CreationDate": datetime(2026, 11, 28, 5, 0, 12, tzinfo=UTC),
            "CompletionDate": datetime(2026, 11, 28, 5, 42, 12, tzinfo=UTC),
            "CreatedBy": {"RestoreTestingPlanArn": plan},
        },
        {"RestoreJobId": JOB_ID},
    )


def _copy_answers(
    stubbed: StubbedClients, monkeypatch: pytest.MonkeyPatch, validator: ModuleType, rows: list[Any] | Exception
) -> dict[str, Any]:
    """DescribeDBClusters of the copy, the source secret, and a database connection answering ``rows``;
    returns what ``connect`` was called with."""
    stubbed.stub("rds").add_response(
        "describe_db_clusters",
        {
            "DBClusters": [
                {"DBClusterIdentifier": COPY_CLUSTER, "Endpoint": "copy.cluster-x.rds.amazonaws.com", "Port": 5432}
            ]
        },
        {"DBClusterIdentifier": COPY_CLUSTER},
    )
    _secret_stub(stubbed)
    seen: dict[str, Any] = {}

    def connect(host, port, database, username, password, context):
        seen.update(host=host, port=port, database=database, username=username, tls=context is not None)
        return FakeConnection(rows)

    monkeypatch.setattr(validator, "connect", connect)
    return seen


def test_writer_created_event_validates_deletes_the_writer_then_reports(validator, capsys, monkeypatch):
    stubbed = StubbedClients(validator)
    _writer_found(stubbed)
    seen = _copy_answers(stubbed, monkeypatch, validator, [[datetime(2026, 11, 28, 4, 55, tzinfo=UTC)]])
    # The writer goes first: a final result makes AWS Backup delete the cluster, refused with an instance.
    stubbed.stub("rds").add_response(
        "delete_db_instance",
        {"DBInstance": {"DBInstanceIdentifier": COPY_WRITER, "DBInstanceStatus": "deleting"}},
        {"DBInstanceIdentifier": COPY_WRITER},
    )
    stubbed.stub("backup").add_response(
        "put_restore_validation_result",
        {},
        {
            "RestoreJobId": JOB_ID,
            "ValidationStatus": "SUCCESSFUL",
            "ValidationStatusMessage": f"restored cluster {COPY_CLUSTER} holds heartbeats up to {PROBED_HEARTBEAT}",
        },
    )

    result = validator.handler(writer_event(), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert result["validation"] == "SUCCESSFUL", result["validationMessage"]
    # The copy's endpoint, over TLS, with the source database secret's user.
    assert seen == {
        "host": "copy.cluster-x.rds.amazonaws.com",
        "port": 5432,
        "database": "appdb",
        "username": "dbadmin",
        "tls": True,
    }
    # The restore took until the writer was available (05:00:12 -> 05:58:12), not until the job ended (05:42:12).
    assert result["durationMinutes"] == 58.0
    lines = emf(capsys)
    assert metric_values(lines, "RestoreValidationFailed") == {"Aurora": 0, None: 0}
    assert metric_values(lines, "RestoreDurationMinutes") == {"Aurora": 58.0, None: 58.0}


def test_a_failed_query_deletes_the_writer_and_reports_failed(validator, capsys, monkeypatch):
    stubbed = StubbedClients(validator)
    _writer_found(stubbed)
    _copy_answers(stubbed, monkeypatch, validator, RuntimeError("connection refused"))
    stubbed.stub("rds").add_response("delete_db_instance", {"DBInstance": {}}, {"DBInstanceIdentifier": COPY_WRITER})
    stubbed.stub("backup").add_response(
        "put_restore_validation_result",
        {},
        {
            "RestoreJobId": JOB_ID,
            "ValidationStatus": "FAILED",
            "ValidationStatusMessage": f"restored cluster {COPY_CLUSTER}: RuntimeError: connection refused",
        },
    )

    result = validator.handler(writer_event(), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert result["validation"] == "FAILED" and "connection refused" in result["validationMessage"]
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {"Aurora": 1, None: 1}


@pytest.mark.parametrize(
    "change",
    [
        {"EventID": "RDS-EVENT-0003"},  # deleted, not created
        {"SourceArn": f"arn:aws:rds:us-east-1:{ACCOUNT}:db:aurora-writer-test"},  # the kit's own writer
    ],
)
def test_other_rds_instance_events_are_ignored(validator, capsys, change):
    event = writer_event()
    event["detail"].update(change)

    result = validator.handler(event, CONTEXT, clients=StubbedClients(validator).clients)

    assert "ignored" in result
    assert metric_values(emf(capsys), "InvalidEvents") == {None: 1}


def test_a_writer_of_another_plans_job_is_left_alone(validator):
    stubbed = StubbedClients(validator)
    _writer_found(stubbed, plan=OTHER_PLAN_ARN)

    result = validator.handler(writer_event(), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert "not created by this restore testing plan" in result["ignored"]


def _listed(job_id: str, minutes_ago: float, *, plan: str = PLAN_ARN, **extra: Any) -> dict[str, Any]:
    """A ListRestoreJobs member: an Aurora restore test that completed ``minutes_ago`` before the sweep."""
    completed = SWEEP_TIME - timedelta(minutes=minutes_ago)
    return {
        "RestoreJobId": job_id,
        "Status": "COMPLETED",
        "ResourceType": "Aurora",
        "CreatedResourceArn": f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:{COPY_PREFIX}{job_id.lower()}",
        "CreationDate": completed - timedelta(minutes=20),
        "CompletionDate": completed,
        "CreatedBy": {"RestoreTestingPlanArn": plan},
        **extra,
    }


def _sweep_lists(stubbed: StubbedClients, jobs: list[dict[str, Any]]) -> None:
    stubbed.stub("backup").add_response(
        "list_restore_jobs",
        {"RestoreJobs": jobs},
        {"ByResourceType": "Aurora", "ByStatus": "COMPLETED", "ByCreatedAfter": SWEEP_TIME - timedelta(days=1)},
    )


def test_sweep_fails_a_test_whose_writer_is_late_deleting_the_writer_first(validator, capsys):
    stubbed = StubbedClients(validator)
    _sweep_lists(
        stubbed,
        [
            _listed("LATE", 61),  # past the 60-minute deadline, never validated
            _listed("RECENT", 30),  # its writer may still come
            _listed("FOREIGN", 120, plan=OTHER_PLAN_ARN),
            _listed("DONE", 90, ValidationStatus="SUCCESSFUL", DeletionStatus="SUCCESSFUL"),
        ],
    )
    late_writer = f"{COPY_PREFIX}late-writer"
    stubbed.stub("rds").add_response("delete_db_instance", {"DBInstance": {}}, {"DBInstanceIdentifier": late_writer})
    stubbed.stub("backup").add_response(
        "put_restore_validation_result",
        {},
        {
            "RestoreJobId": "LATE",
            "ValidationStatus": "FAILED",
            "ValidationStatusMessage": f"the restored cluster's writer {late_writer} was not available within 60 "
            "minutes of the restore",
        },
    )

    result = validator.handler(sweep_event(), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert [outcome["restoreJobId"] for outcome in result["swept"]] == ["LATE"]
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {"Aurora": 1, None: 1}


def test_sweep_fails_a_test_whose_writer_never_came(validator):
    stubbed = StubbedClients(validator)
    _sweep_lists(stubbed, [_listed("NOWRITER", 75)])
    writer = f"{COPY_PREFIX}nowriter-writer"
    stubbed.stub("rds").add_client_error("delete_db_instance", "DBInstanceNotFound", http_status_code=404)
    stubbed.stub("rds").add_client_error("describe_db_instances", "DBInstanceNotFound", http_status_code=404)
    stubbed.stub("backup").add_response(
        "put_restore_validation_result",
        {},
        {
            "RestoreJobId": "NOWRITER",
            "ValidationStatus": "FAILED",
            "ValidationStatusMessage": f"the restored cluster's writer {writer} was not available within 60 minutes "
            "of the restore",
        },
    )

    result = validator.handler(sweep_event(), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert result["swept"][0]["validation"] == "FAILED"


def test_sweep_waits_while_a_late_writer_cannot_be_deleted_yet(validator, capsys):
    """A writer still being created cannot be deleted; reporting now would make AWS Backup try to
    delete a cluster that still has it. The next sweep (or the writer's creation event) finishes it."""
    stubbed = StubbedClients(validator)
    _sweep_lists(stubbed, [_listed("CREATING", 70)])
    stubbed.stub("rds").add_client_error("delete_db_instance", "InvalidDBInstanceState", http_status_code=400)
    stubbed.stub("rds").add_response("describe_db_instances", {"DBInstances": [{"DBInstanceStatus": "creating"}]})

    result = validator.handler(sweep_event(), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert result["swept"] == []
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {}


def test_sweep_deletes_a_writer_left_behind_by_a_finished_test(validator):
    stubbed = StubbedClients(validator)
    _sweep_lists(stubbed, [_listed("LEFT", 20, ValidationStatus="FAILED", DeletionStatus="FAILED")])
    writer = f"{COPY_PREFIX}left-writer"
    stubbed.stub("rds").add_response("delete_db_instance", {"DBInstance": {}}, {"DBInstanceIdentifier": writer})

    result = validator.handler(sweep_event(), CONTEXT, clients=stubbed.clients)

    stubbed.verify()
    assert result["swept"] == [{"restoreJobId": "LEFT", "deletedWriter": writer}]


def test_writer_names_keep_the_copy_prefix_and_fit_rds_limits(validator):
    assert validator.writer_of(COPY_CLUSTER) == f"{COPY_CLUSTER}-writer"
    long_copy = COPY_PREFIX + "x" * 40
    assert len(validator.writer_of(long_copy)) == 63 and validator.writer_of(long_copy).startswith(COPY_PREFIX)
    cut_at_a_hyphen = COPY_PREFIX + "x" * 32 + "-abc"  # the 56 characters kept end in "-"
    assert validator.writer_of(cut_at_a_hyphen) == COPY_PREFIX + "x" * 32 + "-writer"


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
        {"SecretId": SECRET_ARN},
    )


def test_the_heartbeat_query_runs_over_tls_and_closes_the_connection(validator, monkeypatch):
    stubbed = StubbedClients(validator)
    _secret_stub(stubbed)
    connection = FakeConnection([[datetime(2026, 11, 28, 4, 55, tzinfo=UTC)]])
    monkeypatch.setattr(validator, "connect", lambda *args: connection)

    newest = validator.newest_heartbeat("copy.example", 5432, "appdb", SECRET_ARN, stubbed.clients)

    assert newest == "2026-11-28T04:55:00+00:00"
    assert connection.statements == ["SELECT max(checked_at) FROM dr_heartbeat"] and connection.closed


def test_query_errors_never_carry_the_password(validator, monkeypatch):
    stubbed = StubbedClients(validator)
    _secret_stub(stubbed, password="pa55-word")
    monkeypatch.setattr(validator, "connect", lambda *args: FakeConnection(RuntimeError("auth failed for pa55-word")))

    with pytest.raises(validator.ValidationError, match=r"^RuntimeError: auth failed for \*\*\*$"):
        validator.newest_heartbeat("h", 5432, "appdb", SECRET_ARN, stubbed.clients)
