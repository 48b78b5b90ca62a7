"""Unit tests of the restore-test validator: real AWS Backup event shapes, against a fake gateway
(``FakeGateway``: restore jobs, tables, clusters, instances and the copy's database in memory, every
call recorded). The gateway's own rules (which AWS errors are answers) are tested on it directly."""

from __future__ import annotations

import json
import ssl
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from dr_common import postgres

from .handlers import FUNCTIONS_DIR, load_handler

ACCOUNT = "123456789012"
PLAN_ARN = f"arn:aws:backup:us-east-1:{ACCOUNT}:restore-testing-plan:restore_testing_plan_test-abc123"
OTHER_PLAN_ARN = f"arn:aws:backup:us-east-1:{ACCOUNT}:restore-testing-plan:someone_else-xyz789"
COPY_TABLE = "awsbackup-restore-test-0a1b2c3d4e5f"
COPY_CLUSTER = "awsbackup-restore-test-5f4e3d2c1b0a"
COPY_WRITER = f"{COPY_CLUSTER}-writer"
COPY_PREFIX = "awsbackup-restore-test-"
PROBED_HEARTBEAT = "2026-11-28T04:55:00+00:00"
JOB_ID = "A1B2C3D4-0000-1111-2222-333344445555"
SOURCE_TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/dynamodb-table-test"
SOURCE_CLUSTER = f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:aurora-cluster-test"
SOURCES = {"DynamoDB": SOURCE_TABLE, "Aurora": SOURCE_CLUSTER}
PACKAGED_BUNDLE = FUNCTIONS_DIR / "dr_common" / "rds-ca-us-east-1-bundle.pem"
COPY_ARNS = {
    "DynamoDB": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{COPY_TABLE}",
    "Aurora": f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:{COPY_CLUSTER}",
}
SWEEP_TIME = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
HEARTBEAT = "2026-11-28T04:55:00.000000+00:00"
CONTEXT = SimpleNamespace(
    function_name="restore-validation-test",
    memory_limit_in_mb=256,
    invoked_function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:restore-validation-test",
    aws_request_id="req-1",
)


class FakeGateway:
    """AWS (and the copy's database) in memory, in place of ``gateway.Gateway``. ``calls`` records
    every call that changes something, in order; a lookup nobody set up fails the test (KeyError)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.jobs: dict[str, dict[str, Any]] = {}  # DescribeRestoreJob answers
        self.listed: list[dict[str, Any]] = []  # ListRestoreJobs answer
        self.items: dict[str, dict[str, Any]] = {}  # table -> its newest heartbeat item
        self.clusters: dict[str, dict[str, Any]] = {}
        self.instances: dict[str, dict[str, Any]] = {}
        self.busy: set[str] = set()  # instances that cannot be deleted now
        self.token = "copy:5432/?Action=connect&X-Amz-Signature=pa55-word"  # the probe's IAM token
        self.logins: list[tuple[str, int, str]] = []
        self.heartbeat: Any = datetime(2026, 11, 28, 4, 55, tzinfo=UTC)  # or an exception the query raises
        self.queries: list[dict[str, Any]] = []

    def describe_restore_job(self, job_id: str) -> Mapping[str, Any] | None:
        self.calls.append(("describe_restore_job", job_id))
        return self.jobs.get(job_id)

    def list_restore_jobs(
        self, resource_type: str, status: str, created_after: datetime
    ) -> Iterable[Mapping[str, Any]]:
        self.calls.append(("list_restore_jobs", resource_type, status, created_after))
        return self.listed

    def put_validation_result(self, job_id: str, status: str, message: str) -> None:
        self.calls.append(("put_validation_result", job_id, status, message))

    def newest_item(self, table: str, pk: str) -> Mapping[str, Any] | None:
        assert pk == "heartbeat"
        return self.items.get(table)

    def describe_cluster(self, identifier: str) -> Mapping[str, Any] | None:
        return self.clusters.get(identifier)

    def set_serverless_scaling(self, cluster: str, scaling: Mapping[str, float]) -> None:
        self.calls.append(("set_serverless_scaling", cluster, dict(scaling)))

    def create_instance(
        self, identifier: str, cluster: str, engine: str, instance_class: str, tags: Mapping[str, str]
    ) -> None:
        self.calls.append(("create_instance", identifier, cluster, engine, instance_class, dict(tags)))
        self.instances.setdefault(
            identifier,
            {"DBInstanceStatus": "creating", "TagList": [{"Key": key, "Value": value} for key, value in tags.items()]},
        )

    def describe_instance(self, identifier: str) -> Mapping[str, Any] | None:
        return self.instances.get(identifier)

    def delete_instance(self, identifier: str) -> bool:
        self.calls.append(("delete_instance", identifier))
        if identifier not in self.instances or identifier in self.busy:
            return False
        del self.instances[identifier]
        return True

    def db_login(self, host: str, port: int, user: str) -> postgres.Credentials:
        self.logins.append((host, port, user))
        return postgres.Credentials(user, self.token)

    def newest_heartbeat(
        self, host: str, port: int, database: str, credentials: postgres.Credentials, ca_bundle: Path | None
    ) -> Any:
        self.queries.append({"host": host, "port": port, "database": database, "username": credentials.username})
        if isinstance(self.heartbeat, Exception):
            raise self.heartbeat
        return self.heartbeat

    def changes(self, name: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == name]


@pytest.fixture
def validator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    for key, value in {
        "RESTORE_TESTING_PLAN_ARN": PLAN_ARN,
        "METRICS_NAMESPACE": "DisasterRecovery/RestoreTesting",
        "ENVIRONMENT_SUFFIX": "test",
        "RTO_MINUTES": "240",
        "DB_NAME": "appdb",
        "INSTANCE_DEADLINE_MINUTES": "60",
        "DB_USER": "dr_restore_probe",
        "DB_CA_BUNDLE": "dr_common/rds-ca-us-east-1-bundle.pem",
        "SOURCE_CLUSTER_ARN": SOURCE_CLUSTER,
        "SOURCE_TABLE_ARN": SOURCE_TABLE,
    }.items():
        monkeypatch.setenv(key, value)
    module = load_handler(monkeypatch, "restore_validation")
    monkeypatch.setattr(module, "gateway", FakeGateway())
    yield module


@pytest.fixture
def aws(validator: ModuleType) -> FakeGateway:
    return validator.gateway  # type: ignore[no-any-return]


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


def described(
    aws: FakeGateway,
    status: str = "COMPLETED",
    resource_type: str = "DynamoDB",
    *,
    plan: str = PLAN_ARN,
    created: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The restore test's DescribeRestoreJob answer (what the validator trusts), put into ``aws``:
    the same job as ``restore_event`` by default."""
    job: dict[str, Any] = {
        "RestoreJobId": JOB_ID,
        "Status": status,
        "ResourceType": resource_type,
        "SourceResourceArn": SOURCES[resource_type],
        "CreationDate": datetime(2026, 11, 28, 5, 0, 12, tzinfo=UTC),
        "CompletionDate": datetime(2026, 11, 28, 5, 42, 12, tzinfo=UTC),
        "CreatedBy": {"RestoreTestingPlanArn": plan},
    }
    if status == "COMPLETED":
        job["CreatedResourceArn"] = created or COPY_ARNS[resource_type]
    else:
        job["StatusMessage"] = "Access denied to KMS key"
    job.update(extra)
    aws.jobs[JOB_ID] = job
    return job


DESCRIBED = ("describe_restore_job", JOB_ID)


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


def test_completed_dynamodb_copy_with_a_heartbeat_is_reported_successful(validator, aws, capsys):
    aws.items[COPY_TABLE] = {"pk": {"S": "heartbeat"}, "sk": {"S": HEARTBEAT}}
    described(aws)

    result = validator.handler(restore_event(), CONTEXT)

    assert aws.calls == [
        DESCRIBED,
        (
            "put_validation_result",
            JOB_ID,
            "SUCCESSFUL",
            f"restored table {COPY_TABLE} holds heartbeats up to {HEARTBEAT}",
        ),
    ]
    assert (result["validation"], result["durationMinutes"], result["overRto"]) == ("SUCCESSFUL", 42.0, False)
    lines = emf(capsys)
    assert metric_values(lines, "RestoreValidationFailed") == {"DynamoDB": 0, None: 0}
    assert metric_values(lines, "RestoreDurationMinutes") == {"DynamoDB": 42.0, None: 42.0}
    assert all(line["EnvironmentSuffix"] == "test" for line in lines)


def test_a_copy_without_heartbeat_is_reported_failed_and_counted(validator, aws, capsys):
    described(aws)

    result = validator.handler(restore_event(), CONTEXT)

    assert aws.calls == [
        DESCRIBED,
        ("put_validation_result", JOB_ID, "FAILED", f"the restored table {COPY_TABLE} holds no heartbeat item"),
    ]
    assert result["validation"] == "FAILED"
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {"DynamoDB": 1, None: 1}


def test_completed_aurora_copy_gets_a_writer_and_is_not_reported_yet(validator, aws, capsys):
    """AWS Backup restores an Aurora cluster without any DB instance: validating it now can only fail."""
    aws.clusters[COPY_CLUSTER] = {"DBClusterIdentifier": COPY_CLUSTER, "Engine": "aurora-postgresql"}
    described(aws, resource_type="Aurora")

    result = validator.handler(restore_event(resource_type="Aurora"), CONTEXT)

    assert aws.calls == [
        DESCRIBED,
        ("set_serverless_scaling", COPY_CLUSTER, {"MinCapacity": 0.5, "MaxCapacity": 2.0}),
        (
            "create_instance",
            COPY_WRITER,
            COPY_CLUSTER,
            "aurora-postgresql",
            "db.serverless",
            {"restore-job-id": JOB_ID},
        ),
    ]  # no result reported, and the copy not queried yet
    assert aws.queries == []
    assert (result["validation"], result["writer"]) == ("PENDING", COPY_WRITER)
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {}  # nothing judged yet


def test_a_retried_completed_event_keeps_the_scaling_and_asks_for_the_writer_again(validator, aws):
    aws.clusters[COPY_CLUSTER] = {
        "Engine": "aurora-postgresql",
        "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 2.0},
    }
    described(aws, resource_type="Aurora")

    result = validator.handler(restore_event(resource_type="Aurora"), CONTEXT)

    assert [call[0] for call in aws.calls] == ["describe_restore_job", "create_instance"]
    assert result["validation"] == "PENDING"


def _writer_found(aws: FakeGateway, *, plan: str = PLAN_ARN) -> None:
    """The writer (with its job tag), its job, and the copy it belongs to."""
    aws.instances[COPY_WRITER] = {
        "DBInstanceIdentifier": COPY_WRITER,
        "DBClusterIdentifier": COPY_CLUSTER,
        "DBInstanceStatus": "available",
        "TagList": [{"Key": "restore-job-id", "Value": JOB_ID}],
    }
    described(aws, resource_type="Aurora", plan=plan)
    aws.clusters[COPY_CLUSTER] = {
        "DBClusterIdentifier": COPY_CLUSTER,
        "Endpoint": "copy.cluster-x.rds.amazonaws.com",
        "Port": 5432,
    }


def test_writer_created_event_validates_deletes_the_writer_then_reports(validator, aws, capsys):
    _writer_found(aws)

    result = validator.handler(writer_event(), CONTEXT)

    # The writer goes first: a final result makes AWS Backup delete the cluster, refused with an instance.
    assert aws.calls == [
        ("describe_restore_job", JOB_ID),
        ("delete_instance", COPY_WRITER),
        (
            "put_validation_result",
            JOB_ID,
            "SUCCESSFUL",
            f"restored cluster {COPY_CLUSTER} holds heartbeats up to {PROBED_HEARTBEAT}",
        ),
    ]
    assert result["validation"] == "SUCCESSFUL", result["validationMessage"]
    # The copy's endpoint, as the probe's own read-only user with an IAM token (no master secret).
    assert aws.logins == [("copy.cluster-x.rds.amazonaws.com", 5432, "dr_restore_probe")]
    assert aws.queries == [
        {"host": "copy.cluster-x.rds.amazonaws.com", "port": 5432, "database": "appdb", "username": "dr_restore_probe"}
    ]
    # The restore took until the writer was available (05:00:12 -> 05:58:12), not until the job ended (05:42:12).
    assert result["durationMinutes"] == 58.0
    lines = emf(capsys)
    assert metric_values(lines, "RestoreValidationFailed") == {"Aurora": 0, None: 0}
    assert metric_values(lines, "RestoreDurationMinutes") == {"Aurora": 58.0, None: 58.0}


def test_a_failed_query_deletes_the_writer_and_reports_failed(validator, aws, capsys):
    _writer_found(aws)
    aws.heartbeat = RuntimeError("connection refused")

    result = validator.handler(writer_event(), CONTEXT)

    assert [call[0] for call in aws.calls[-2:]] == ["delete_instance", "put_validation_result"]
    assert aws.calls[-1] == (
        "put_validation_result",
        JOB_ID,
        "FAILED",
        f"restored cluster {COPY_CLUSTER}: RuntimeError: connection refused",
    )
    assert result["validation"] == "FAILED" and "connection refused" in result["validationMessage"]
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {"Aurora": 1, None: 1}


def test_query_errors_never_carry_the_token(validator, aws):
    _writer_found(aws)
    aws.heartbeat = RuntimeError(f"auth failed for {aws.token}")

    result = validator.handler(writer_event(), CONTEXT)

    assert result["validationMessage"] == f"restored cluster {COPY_CLUSTER}: RuntimeError: auth failed for ***"
    assert "pa55-word" not in aws.calls[-1][3]


@pytest.mark.parametrize(
    "change",
    [
        {"EventID": "RDS-EVENT-0003"},  # deleted, not created
        {"SourceArn": f"arn:aws:rds:us-east-1:{ACCOUNT}:db:aurora-writer-test"},  # the kit's own writer
    ],
)
def test_other_rds_instance_events_are_ignored(validator, aws, capsys, change):
    event = writer_event()
    event["detail"].update(change)

    result = validator.handler(event, CONTEXT)

    assert "ignored" in result and aws.calls == []
    assert metric_values(emf(capsys), "InvalidEvents") == {None: 1}


def test_a_writer_that_is_gone_is_ignored(validator, aws):
    assert "no longer exists" in validator.handler(writer_event(), CONTEXT)["ignored"]


def test_a_writer_of_another_plans_job_is_left_alone(validator, aws):
    _writer_found(aws, plan=OTHER_PLAN_ARN)

    result = validator.handler(writer_event(), CONTEXT)

    assert aws.calls == [("describe_restore_job", JOB_ID)]
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
        "SourceResourceArn": SOURCE_CLUSTER,
        **extra,
    }


# The sweep's ListRestoreJobs call: the completed Aurora restores of the last day.
LISTING = ("list_restore_jobs", "Aurora", "COMPLETED", SWEEP_TIME - timedelta(days=1))


def test_sweep_fails_a_test_whose_writer_is_late_deleting_the_writer_first(validator, aws, capsys):
    aws.listed = [
        _listed("LATE", 61),  # past the 60-minute deadline, never validated
        _listed("RECENT", 30),  # its writer may still come
        _listed("FOREIGN", 120, plan=OTHER_PLAN_ARN),
        _listed("DONE", 90, ValidationStatus="SUCCESSFUL", DeletionStatus="SUCCESSFUL"),
    ]
    late_writer = f"{COPY_PREFIX}late-writer"
    aws.instances[late_writer] = {"DBInstanceStatus": "available"}

    result = validator.handler(sweep_event(), CONTEXT)

    assert aws.calls == [
        LISTING,
        ("delete_instance", late_writer),
        (
            "put_validation_result",
            "LATE",
            "FAILED",
            f"the restored cluster's writer {late_writer} was not available within 60 minutes of the restore",
        ),
    ]
    assert [outcome["restoreJobId"] for outcome in result["swept"]] == ["LATE"]
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {"Aurora": 1, None: 1}


def test_sweep_fails_a_test_whose_writer_never_came(validator, aws):
    aws.listed = [_listed("NOWRITER", 75)]
    writer = f"{COPY_PREFIX}nowriter-writer"

    result = validator.handler(sweep_event(), CONTEXT)

    assert aws.calls[-1] == (
        "put_validation_result",
        "NOWRITER",
        "FAILED",
        f"the restored cluster's writer {writer} was not available within 60 minutes of the restore",
    )
    assert result["swept"][0]["validation"] == "FAILED"


def test_sweep_waits_while_a_late_writer_cannot_be_deleted_yet(validator, aws, capsys):
    """A writer still being created cannot be deleted; reporting now would make AWS Backup try to
    delete a cluster that still has it. The next sweep (or the writer's creation event) finishes it."""
    aws.listed = [_listed("CREATING", 70)]
    writer = f"{COPY_PREFIX}creating-writer"
    aws.instances[writer] = {"DBInstanceStatus": "creating"}
    aws.busy.add(writer)

    result = validator.handler(sweep_event(), CONTEXT)

    assert aws.changes("put_validation_result") == []
    assert result["swept"] == []
    assert metric_values(emf(capsys), "RestoreValidationFailed") == {}


def test_sweep_deletes_a_writer_left_behind_by_a_finished_test(validator, aws):
    aws.listed = [_listed("LEFT", 20, ValidationStatus="FAILED", DeletionStatus="FAILED")]
    writer = f"{COPY_PREFIX}left-writer"
    aws.instances[writer] = {"DBInstanceStatus": "available"}

    result = validator.handler(sweep_event(), CONTEXT)

    assert aws.calls == [LISTING, ("delete_instance", writer)]
    assert result["swept"] == [{"restoreJobId": "LEFT", "deletedWriter": writer}]


def test_writer_names_keep_the_copy_prefix_and_fit_rds_limits(validator):
    writer_of = validator.logic.writer_of
    assert writer_of(COPY_CLUSTER) == f"{COPY_CLUSTER}-writer"
    long_copy = COPY_PREFIX + "x" * 40
    assert len(writer_of(long_copy)) == 63 and writer_of(long_copy).startswith(COPY_PREFIX)
    cut_at_a_hyphen = COPY_PREFIX + "x" * 32 + "-abc"  # the 56 characters kept end in "-"
    assert writer_of(cut_at_a_hyphen) == COPY_PREFIX + "x" * 32 + "-writer"


def test_failed_restore_job_is_a_failed_test_and_over_the_rto_is_flagged(validator, aws, capsys):
    described(
        aws,
        "FAILED",
        CreationDate=datetime(2026, 11, 28, 0, 0, tzinfo=UTC),
        CompletionDate=datetime(2026, 11, 28, 4, 30, tzinfo=UTC),
    )

    result = validator.handler(restore_event("FAILED"), CONTEXT)

    assert aws.calls == [DESCRIBED]  # a failed job has no copy to judge
    assert (result["validation"], result["overRto"]) == ("FAILED", True)
    assert "Access denied to KMS key" in result["validationMessage"]
    lines = emf(capsys)
    assert metric_values(lines, "RestoreValidationFailed") == {"DynamoDB": 1, None: 1}
    assert metric_values(lines, "RestoreDurationMinutes") == {"DynamoDB": 270.0, None: 270.0}


def test_restore_jobs_of_another_plan_are_ignored_and_counted(validator, aws, capsys):
    result = validator.handler(restore_event(plan=OTHER_PLAN_ARN), CONTEXT)

    assert "not created by this restore testing plan" in result["ignored"]
    assert metric_values(emf(capsys), "InvalidEvents") == {None: 1}


def test_plan_missing_from_the_event_is_read_with_describe_restore_job(validator, aws, capsys):
    aws.jobs[JOB_ID] = {"RestoreJobId": JOB_ID, "CreatedBy": {"RestoreTestingPlanArn": OTHER_PLAN_ARN}}

    result = validator.handler(restore_event(plan=None), CONTEXT)

    assert aws.calls == [("describe_restore_job", JOB_ID)]
    assert "ignored" in result  # an on-demand restore or another plan's job: nothing to validate


def test_the_job_is_what_describe_restore_job_says_never_what_the_event_says(validator, aws):
    """An event names the job; its copy, dates and status come from AWS Backup. A forged event that
    points at the kit's own table (or says COMPLETED for a failed job) changes nothing."""
    described(
        aws,
        CreationDate=datetime(2026, 11, 28, 5, 0, tzinfo=UTC),
        CompletionDate=datetime(2026, 11, 28, 5, 10, tzinfo=UTC),
    )
    aws.items[COPY_TABLE] = {"sk": {"S": "2026-11-28T04:55"}}
    aws.items["dynamodb-table-test"] = {"sk": {"S": "the live table"}}
    event = restore_event(created=SOURCE_TABLE, creationDate="2026-11-01T00:00:00.000Z")

    result = validator.handler(event, CONTEXT)

    assert (result["validation"], result["durationMinutes"]) == ("SUCCESSFUL", 10.0)
    assert COPY_TABLE in result["validationMessage"]
    assert [call[0] for call in aws.calls] == ["describe_restore_job", "put_validation_result"]


def test_a_restore_test_of_another_resource_is_refused_before_any_connection(validator, aws, capsys):
    """This plan's job, but of a resource that is not the kit's cluster: nothing is touched."""
    described(aws, resource_type="Aurora", SourceResourceArn=f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:someone-else")
    aws.clusters[COPY_CLUSTER] = {"DBClusterIdentifier": COPY_CLUSTER, "Engine": "aurora-postgresql"}

    result = validator.handler(restore_event(resource_type="Aurora"), CONTEXT)

    assert aws.calls == [DESCRIBED] and aws.queries == []
    assert result["ignored"] == (
        f"restore job {JOB_ID} restored 'arn:aws:rds:us-east-1:{ACCOUNT}:cluster:someone-else', "
        "which is not this kit's Aurora"
    )
    assert metric_values(emf(capsys), "InvalidEvents") == {None: 1}


def test_a_forged_event_of_a_job_aws_backup_does_not_know_is_refused(validator, aws):
    """This plan's ARN and the live cluster in the event, but no such job: nothing is touched."""
    aws.clusters["aurora-cluster-test"] = {"DBClusterIdentifier": "aurora-cluster-test", "Engine": "aurora-postgresql"}

    result = validator.handler(restore_event(resource_type="Aurora", created=SOURCE_CLUSTER), CONTEXT)

    assert result["ignored"] == f"AWS Backup has no restore job {JOB_ID}"
    assert aws.calls == [DESCRIBED] and aws.queries == [] and aws.logins == []


def test_a_created_resource_that_is_not_a_restore_test_copy_is_never_queried(validator, aws):
    """A job that names the kit's live cluster as what it created: no writer, no login, a FAILED result."""
    described(aws, resource_type="Aurora", created=SOURCE_CLUSTER)
    aws.clusters["aurora-cluster-test"] = {"DBClusterIdentifier": "aurora-cluster-test", "Engine": "aurora-postgresql"}

    result = validator.handler(restore_event(resource_type="Aurora"), CONTEXT)

    assert aws.changes("create_instance") == [] and aws.queries == []
    assert result["validation"] == "FAILED"
    assert "which is not a restore-test copy" in result["validationMessage"]


def test_a_writer_of_another_cluster_is_refused(validator, aws):
    """A copy-named instance tagged with a real job id, but in another cluster: the copy is not queried."""
    _writer_found(aws)
    aws.instances[COPY_WRITER]["DBClusterIdentifier"] = "aurora-cluster-test"

    result = validator.handler(writer_event(), CONTEXT)

    assert result["ignored"] == f"DB instance {COPY_WRITER} is not the writer of restore job {JOB_ID}'s copy"
    assert aws.calls == [DESCRIBED] and aws.queries == []


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
def test_malformed_or_foreign_events_are_logged_and_counted_not_raised(validator, aws, capsys, event):
    result = validator.handler(event, CONTEXT)

    assert "ignored" in result and aws.calls == []
    assert metric_values(emf(capsys), "InvalidEvents") == {None: 1}


def test_a_copy_of_the_wrong_kind_fails_validation(validator, aws):
    described(aws, created="arn:aws:s3:::a-bucket")

    result = validator.handler(restore_event(), CONTEXT)

    assert result["validation"] == "FAILED" and "not a DynamoDB table" in result["validationMessage"]
    assert aws.changes("put_validation_result")[0][2] == "FAILED"


# --- the gateway ----------------------------------------------------------------------------------


class Refusing:
    """An RDS client whose instance calls fail with ``code``."""

    def __init__(self, code: str) -> None:
        self.error = ClientError({"Error": {"Code": code, "Message": "x"}}, "DeleteDBInstance")

    def create_db_instance(self, **_: Any) -> Any:
        raise self.error

    def delete_db_instance(self, **_: Any) -> Any:
        raise self.error

    def describe_db_instances(self, **_: Any) -> Any:
        raise self.error

    def describe_restore_job(self, **_: Any) -> Any:
        raise self.error


@pytest.fixture
def gateway(validator: ModuleType) -> ModuleType:
    return sys.modules["gateway"]  # the copy load_handler imported


@pytest.mark.parametrize(
    ("code", "deleted", "exists"),
    [
        ("DBInstanceNotFound", False, False),
        ("DBInstanceNotFoundFault", False, False),
        ("InvalidDBInstanceState", False, None),
    ],
)
def test_instance_errors_that_are_answers_are_returned_not_raised(gateway, code, deleted, exists):
    aws = gateway.Gateway(clients=lambda service: Refusing(code))

    assert aws.delete_instance(COPY_WRITER) is deleted
    if exists is None:
        with pytest.raises(ClientError):
            aws.describe_instance(COPY_WRITER)
    else:
        assert aws.describe_instance(COPY_WRITER) is None


def test_an_unknown_restore_job_is_none_other_errors_raise(gateway):
    assert (
        gateway.Gateway(clients=lambda service: Refusing("ResourceNotFoundException")).describe_restore_job("x") is None
    )
    with pytest.raises(ClientError):
        gateway.Gateway(clients=lambda service: Refusing("AccessDeniedException")).describe_restore_job("x")


def test_a_writer_that_exists_already_is_fine_other_errors_raise(gateway):
    gateway.Gateway(clients=lambda service: Refusing("DBInstanceAlreadyExists")).create_instance(
        COPY_WRITER, COPY_CLUSTER, "aurora-postgresql", "db.serverless", {"restore-job-id": JOB_ID}
    )
    with pytest.raises(ClientError):
        gateway.Gateway(clients=lambda service: Refusing("AccessDenied")).delete_instance(COPY_WRITER)


class FakeConnection:
    def __init__(self, rows: list[list[Any]]) -> None:
        self.rows, self.closed = rows, False
        self.statements: list[str] = []

    def run(self, statement: str) -> list[list[Any]]:
        self.statements.append(statement)
        return self.rows

    def close(self) -> None:
        self.closed = True


def test_the_heartbeat_query_runs_over_tls_and_closes_the_connection(gateway, monkeypatch):
    connection = FakeConnection([[datetime(2026, 11, 28, 4, 55, tzinfo=UTC)]])
    seen: dict[str, Any] = {}

    def connect(**options):
        context = options["ssl_context"]
        seen.update(
            host=options["host"],
            database=options["database"],
            verified=context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname,
        )
        return connection

    monkeypatch.setattr(postgres.pg8000.native, "Connection", connect)
    monkeypatch.setattr(postgres, "no_delay_socket", lambda host, port, timeout: None)
    credentials = postgres.Credentials("dbadmin", "pa55-word")

    newest = gateway.Gateway(clients=lambda service: None).newest_heartbeat(
        "copy.example", 5432, "appdb", credentials, PACKAGED_BUNDLE
    )

    assert newest == datetime(2026, 11, 28, 4, 55, tzinfo=UTC)
    assert seen == {"host": "copy.example", "database": "appdb", "verified": True}
    assert connection.statements == ["SELECT max(checked_at) FROM dr_heartbeat"] and connection.closed
