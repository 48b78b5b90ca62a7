"""Validates the copies AWS Backup restore testing makes, as the DR drill does, and reports back.

The restore testing plan (``lib/constructs/restore_testing.py``) restores the newest recovery point
of Aurora and of DynamoDB every day into a copy with a generated name (``awsbackup-restore-test-*``).
Three kinds of event reach ``handler``:

* AWS Backup's "Restore Job State Change" of this plan's jobs. A COMPLETED DynamoDB copy is checked
  at once: the newest heartbeat item (``pk = "heartbeat"``, highest ``sk``) is in the copy. A
  COMPLETED Aurora copy cannot be checked yet: "AWS Backup restores your Aurora cluster; it does not
  create or attach an Amazon RDS instance to your cluster" (AWS Backup developer guide, "Restoring an
  Amazon Aurora cluster"), and a cluster without an instance answers no SQL. So the handler gives it
  a ``db.serverless`` writer, as the drill does, tagged with the restore job id, and returns: the
  instance takes longer to create than an invocation may run. A FAILED (or ABORTED) restore job is a
  failed test.
* RDS's "RDS DB Instance Event" RDS-EVENT-0005 ("DB instance created") of such a writer: the copy
  now answers. ``SELECT max(checked_at) FROM dr_heartbeat`` over TLS on the copy's endpoint, with
  the source database secret's credentials (the copy keeps the master user and password of the
  backup); then the writer is deleted and only then the result reported, because reporting a final
  result makes AWS Backup delete the cluster, which Aurora refuses while it "still contains DB
  instances in non-deleting state".
* A schedule (the safety net): an Aurora restore test of this plan whose writer was not available
  within ``INSTANCE_DEADLINE_MINUTES`` of the restore (the instance failed, an event was lost) gets
  its writer deleted and is reported FAILED; a writer left behind by a finished test is deleted.

Each result is reported with ``backup:PutRestoreValidationResult``; AWS Backup then deletes the copy.
Per resource type it publishes, as CloudWatch EMF: ``RestoreDurationMinutes`` (restore job creation
until the copy is usable -- for Aurora, until its writer is available: how long a real restore
takes, against the RTO) and ``RestoreValidationFailed`` (1/0); each also without the resource-type
dimension, which is what the alarms watch. Events of other plans, other sources or a broken shape
are logged and counted as ``InvalidEvents``, never raised (a raise would only retry).

Network: the function runs in the VPC's isolated subnets with the functions' security group, which
may reach the database group on 5432; the Aurora copy is restored into the database subnet group with
that group. AWS Backup, RDS and Secrets Manager answer through their interface endpoints, DynamoDB
through its gateway endpoint. The SQL query uses the source database secret's credentials.

TLS: as the canary (``dr_common.postgres``), the connection is always encrypted; the server
certificate is verified only when ``DB_CA_BUNDLE`` names a PEM file packaged with the function.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError
from dr_common import InvalidEvent, observability, postgres
from dr_common.clients import Clients
from dr_common.events import event_time
from dr_common.observability import MetricUnit
from dr_common.settings import number, require

logger = observability.logger("restore-validation")

PACKAGE_DIR = Path(__file__).resolve().parent
RESTORE_JOB_STATE_CHANGE = "Restore Job State Change"
EVENT_SOURCE = "aws.backup"
RDS_INSTANCE_EVENT = "RDS DB Instance Event"
RDS_EVENT_SOURCE = "aws.rds"
INSTANCE_CREATED = "RDS-EVENT-0005"  # "DB instance created" (Aurora user guide, RDS event categories)
SCHEDULED_EVENT = "Scheduled Event"
SCHEDULE_SOURCE = "aws.events"
FAILED_JOB_STATUSES = frozenset({"FAILED", "ABORTED"})
HANDLED_STATUSES = FAILED_JOB_STATUSES | {"COMPLETED"}
FINAL_VALIDATION = frozenset({"SUCCESSFUL", "FAILED", "TIMED_OUT"})
COPY_PREFIX = "awsbackup-restore-test-"  # how AWS Backup restore testing names the copies
# The copy's writer: like the drill's (tools/dr_drill/stores.py), named after the copy, tagged with the job.
WRITER_SUFFIX = "-writer"
WRITER_CLASS = "db.serverless"
WRITER_SCALING = {"MinCapacity": 0.5, "MaxCapacity": 2.0}  # one SQL query; db.serverless needs a range
JOB_TAG = "restore-job-id"
SWEEP_LOOKBACK = timedelta(days=1)  # restore tests run daily; their copies live for hours
IDENTIFIER_LIMIT = 63  # RDS DB instance identifiers
DYNAMODB_HEARTBEAT_PK = "heartbeat"  # the canary's heartbeat items (health_check/handler.py)
SELECT_NEWEST_HEARTBEAT_SQL = "SELECT max(checked_at) FROM dr_heartbeat"
DB_TIMEOUT_SECONDS = 10
MESSAGE_LIMIT = 1000  # keep the ValidationStatusMessage short and readable
BOTO_CONFIG = Config(connect_timeout=3, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"})
TABLE_ARN = re.compile(r"^arn:aws[\w-]*:dynamodb:[^:]+:\d{12}:table/(?P<name>[^/]+)$")
CLUSTER_ARN = re.compile(r"^arn:aws[\w-]*:rds:[^:]+:\d{12}:cluster:(?P<name>[^:/]+)$")
INSTANCE_ARN = re.compile(r"^arn:aws[\w-]*:rds:[^:]+:\d{12}:db:(?P<name>[^:/]+)$")
INSTANCE_GONE = ("DBInstanceNotFound", "DBInstanceNotFoundFault")


class ValidationError(RuntimeError):
    """The restored copy does not hold what it should; the message is safe to log and report."""


@dataclass(frozen=True)
class Settings:
    plan_arn: str
    namespace: str
    environment_suffix: str
    rto_minutes: float
    secret_arn: str
    database_name: str
    instance_deadline_minutes: float

    ca_bundle: Path | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        require(
            environ,
            "RESTORE_TESTING_PLAN_ARN",
            "METRICS_NAMESPACE",
            "ENVIRONMENT_SUFFIX",
            "RTO_MINUTES",
            "DB_SECRET_ARN",
            "DB_NAME",
            "INSTANCE_DEADLINE_MINUTES",
        )
        return cls(
            plan_arn=environ["RESTORE_TESTING_PLAN_ARN"],
            namespace=environ["METRICS_NAMESPACE"],
            environment_suffix=environ["ENVIRONMENT_SUFFIX"],
            rto_minutes=number(environ, "RTO_MINUTES"),
            secret_arn=environ["DB_SECRET_ARN"],
            database_name=environ["DB_NAME"],
            instance_deadline_minutes=number(environ, "INSTANCE_DEADLINE_MINUTES"),
            ca_bundle=postgres.ca_bundle(environ, PACKAGE_DIR),
        )


@dataclass(frozen=True)
class RestoreJob:
    """What the validation needs of one restore job (from the event, completed by DescribeRestoreJob).

    ``completed`` is when the copy became usable: the job's completion, or for Aurora the moment its
    writer was available."""

    job_id: str
    status: str
    resource_type: str
    created_resource_arn: str | None
    created: datetime | None
    completed: datetime | None
    status_message: str | None = None

    @property
    def duration_minutes(self) -> float | None:
        if self.created is None or self.completed is None:
            return None
        return (self.completed - self.created).total_seconds() / 60


CLIENTS = Clients(BOTO_CONFIG)  # one per execution environment; unit tests pass stubs


def plan_of(detail: Mapping[str, Any]) -> str | None:
    """The restore testing plan named in the event: ``restoreTestingPlanArn`` (AWS Backup's field,
    the one its documentation filters on) or a ``createdBy`` object as DescribeRestoreJob has it."""
    arn = detail.get("restoreTestingPlanArn")
    created_by = detail.get("createdBy")
    if not arn and isinstance(created_by, Mapping):
        arn = created_by.get("restoreTestingPlanArn") or created_by.get("RestoreTestingPlanArn")
    return arn if isinstance(arn, str) and arn else None


def _kind(event: Any) -> str:
    """Which of the three events this is (restore job, RDS instance, schedule), or InvalidEvent."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event is a {type(event).__name__}, not an EventBridge event object")
    kinds: dict[tuple[Any, Any], str] = {
        (EVENT_SOURCE, RESTORE_JOB_STATE_CHANGE): "restore",
        (RDS_EVENT_SOURCE, RDS_INSTANCE_EVENT): "instance",
        (SCHEDULE_SOURCE, SCHEDULED_EVENT): "sweep",
    }
    kind = kinds.get((event.get("source"), event.get("detail-type")))
    if kind is None:
        raise InvalidEvent(f"unexpected event {event.get('source')!r} / {event.get('detail-type')!r}")
    if kind != "sweep" and not isinstance(event.get("detail"), Mapping):
        raise InvalidEvent("the event has no detail object")
    return kind


def parse(event: Mapping[str, Any], settings: Settings, clients: Clients) -> RestoreJob:
    """The restore job a "Restore Job State Change" event is about, or InvalidEvent saying why it is
    not one of ours."""
    detail = event["detail"]
    job_id, status = detail.get("restoreJobId"), detail.get("status")
    if not isinstance(job_id, str) or not job_id:
        raise InvalidEvent("the event names no restoreJobId")
    if status not in HANDLED_STATUSES:
        raise InvalidEvent(f"restore job status {status!r} is not one this function validates")
    plan = plan_of(detail)
    described: Mapping[str, Any] = {}
    if plan is None:  # not in the event: ask AWS Backup who created the job
        described = clients("backup").describe_restore_job(RestoreJobId=job_id)
        plan = (described.get("CreatedBy") or {}).get("RestoreTestingPlanArn")
    if plan != settings.plan_arn:
        raise InvalidEvent(f"restore job {job_id} was not created by this restore testing plan (created by {plan!r})")
    job = RestoreJob(
        job_id=job_id,
        status=str(status),
        resource_type=str(detail.get("resourceType") or described.get("ResourceType") or ""),
        created_resource_arn=detail.get("createdResourceArn") or described.get("CreatedResourceArn"),
        created=event_time(detail.get("creationDate") or described.get("CreationDate")),
        completed=event_time(detail.get("completionDate") or described.get("CompletionDate")),
        status_message=detail.get("statusMessage") or described.get("StatusMessage"),
    )
    if job.created is None or job.completed is None or not job.resource_type:
        described = clients("backup").describe_restore_job(RestoreJobId=job_id)
        job = replace(
            job,
            resource_type=job.resource_type or str(described.get("ResourceType") or ""),
            created_resource_arn=job.created_resource_arn or described.get("CreatedResourceArn"),
            created=job.created or event_time(described.get("CreationDate")),
            completed=job.completed or event_time(described.get("CompletionDate")),
        )
    if not job.resource_type:
        raise InvalidEvent(f"restore job {job_id} names no resource type")
    return job


def _described_job(described: Mapping[str, Any]) -> RestoreJob:
    """A restore job as DescribeRestoreJob or ListRestoreJobs answer it."""
    return RestoreJob(
        job_id=str(described["RestoreJobId"]),
        status=str(described.get("Status") or ""),
        resource_type=str(described.get("ResourceType") or ""),
        created_resource_arn=described.get("CreatedResourceArn"),
        created=event_time(described.get("CreationDate")),
        completed=event_time(described.get("CompletionDate")),
        status_message=described.get("StatusMessage"),
    )


# --- the checks: what the drill checks in a restored copy -------------------------------------


def validate_dynamodb(job: RestoreJob, settings: Settings, clients: Clients) -> str:
    name = _name(TABLE_ARN, job.created_resource_arn, "DynamoDB table")
    answer = clients("dynamodb").query(
        TableName=name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": DYNAMODB_HEARTBEAT_PK}},
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
    )
    items = answer.get("Items", [])
    if not items:
        raise ValidationError(f"the restored table {name} holds no heartbeat item")
    newest = items[0].get("sk", {}).get("S", "?")
    return f"restored table {name} holds heartbeats up to {newest}"


def validate_aurora(job: RestoreJob, settings: Settings, clients: Clients) -> str:
    identifier = _name(CLUSTER_ARN, job.created_resource_arn, "Aurora DB cluster")
    clusters = clients("rds").describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    if not clusters or not clusters[0].get("Endpoint"):
        raise ValidationError(f"the restored cluster {identifier} has no endpoint")
    cluster = clusters[0]
    try:
        newest = newest_heartbeat(
            cluster["Endpoint"],
            int(cluster.get("Port") or 5432),
            cluster.get("DatabaseName") or settings.database_name,
            settings,
            clients,
        )
    except ValidationError as problem:
        raise ValidationError(f"restored cluster {identifier}: {problem}") from None
    if not newest:
        raise ValidationError(f"the restored cluster {identifier} holds no heartbeat row")
    return f"restored cluster {identifier} holds heartbeats up to {newest}"


VALIDATORS = {"DynamoDB": validate_dynamodb, "Aurora": validate_aurora}


def _name(pattern: re.Pattern[str], arn: str | None, what: str) -> str:
    match = pattern.match(arn or "")
    if match is None:
        raise ValidationError(f"the restore job created {arn!r}, which is not a {what}")
    return match.group("name")


def validate(job: RestoreJob, settings: Settings, clients: Clients) -> tuple[bool, str]:
    """(passed, message). A failed restore job, an unsupported type or any error is a failed test."""
    if job.status in FAILED_JOB_STATUSES:
        return False, f"restore job {job.status}: {job.status_message or 'no status message'}"
    validator = VALIDATORS.get(job.resource_type)
    if validator is None:
        return False, f"no validation for resource type {job.resource_type}"
    try:
        return True, validator(job, settings, clients)
    except ValidationError as problem:
        return False, str(problem)
    except Exception as error:  # a check that cannot run is a failed check, with its cause
        logger.exception("Validation could not run", job=job.job_id)
        return False, f"validation could not run: {type(error).__name__}: {error}"


# --- the Aurora copy's writer -----------------------------------------------------------------


def writer_of(cluster: str) -> str:
    """The writer's identifier: the copy's name (cut to fit, never ending in a hyphen: RDS forbids
    two in a row) + ``-writer``, so it keeps the copy prefix."""
    return cluster[: IDENTIFIER_LIMIT - len(WRITER_SUFFIX)].rstrip("-") + WRITER_SUFFIX


def add_writer(job: RestoreJob, clients: Clients) -> str:
    """Create the restored cluster's writer, tagged with the job (idempotent: a retried event finds
    it). API errors raise, so the invocation is retried; the sweep reports a writer that never came."""
    cluster = _name(CLUSTER_ARN, job.created_resource_arn, "Aurora DB cluster")
    rds = clients("rds")
    described = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
    if not described.get("ServerlessV2ScalingConfiguration"):  # a snapshot restore has none
        rds.modify_db_cluster(
            DBClusterIdentifier=cluster, ServerlessV2ScalingConfiguration=WRITER_SCALING, ApplyImmediately=True
        )
    writer = writer_of(cluster)
    try:
        rds.create_db_instance(
            DBInstanceIdentifier=writer,
            DBClusterIdentifier=cluster,
            Engine=described["Engine"],
            DBInstanceClass=WRITER_CLASS,
            Tags=[{"Key": JOB_TAG, "Value": job.job_id}],
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "DBInstanceAlreadyExists":
            raise
    return writer


def delete_writer(identifier: str, clients: Clients) -> bool:
    """DeleteDBInstance; False if the instance is gone or cannot be deleted now (still creating, or
    already deleting). The instance only has to leave "available": Aurora deletes a cluster whose
    instances are all deleting."""
    try:
        clients("rds").delete_db_instance(DBInstanceIdentifier=identifier)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in INSTANCE_GONE or code == "InvalidDBInstanceState":
            logger.info("Writer not deleted", instance=identifier, reason=code)
            return False
        raise
    return True


def writer_ready(event: Mapping[str, Any], settings: Settings, clients: Clients) -> tuple[RestoreJob, str]:
    """The restore job and writer of an RDS-EVENT-0005 ("DB instance created") of a copy's writer."""
    detail = event["detail"]
    if detail.get("EventID") != INSTANCE_CREATED:
        raise InvalidEvent(f"RDS event {detail.get('EventID')!r} is not {INSTANCE_CREATED} (DB instance created)")
    match = INSTANCE_ARN.match(str(detail.get("SourceArn") or ""))
    writer = match.group("name") if match else ""
    if not writer.startswith(COPY_PREFIX):
        raise InvalidEvent(f"DB instance {writer or detail.get('SourceArn')!r} is not a restore-test copy's writer")
    try:
        instance = clients("rds").describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in INSTANCE_GONE:
            raise InvalidEvent(f"DB instance {writer} no longer exists") from None
        raise
    job_id = {tag.get("Key"): tag.get("Value") for tag in instance.get("TagList", [])}.get(JOB_TAG)
    if not job_id:
        raise InvalidEvent(f"DB instance {writer} carries no {JOB_TAG} tag")
    described = clients("backup").describe_restore_job(RestoreJobId=job_id)
    plan = (described.get("CreatedBy") or {}).get("RestoreTestingPlanArn")
    if plan != settings.plan_arn:
        raise InvalidEvent(f"restore job {job_id} was not created by this restore testing plan (created by {plan!r})")
    usable = event_time(detail.get("Date")) or event_time(event.get("time"))
    return replace(_described_job(described), completed=usable), writer


def sweep(event: Mapping[str, Any], settings: Settings, clients: Clients) -> list[dict[str, Any]]:
    """The safety net, on a schedule: this plan's Aurora restore tests of the last day whose writer
    was not available in time are failed (writer deleted first), and writers of finished tests that
    are still there are deleted."""
    now = event_time(event.get("time")) or datetime.now(UTC)
    deadline = timedelta(minutes=settings.instance_deadline_minutes)
    outcomes = []
    pages = (
        clients("backup")
        .get_paginator("list_restore_jobs")
        .paginate(ByResourceType="Aurora", ByStatus="COMPLETED", ByCreatedAfter=now - SWEEP_LOOKBACK)
    )
    for listed in (job for page in pages for job in page.get("RestoreJobs", [])):
        if (listed.get("CreatedBy") or {}).get("RestoreTestingPlanArn") != settings.plan_arn:
            continue
        if listed.get("DeletionStatus") == "SUCCESSFUL":  # the copy, and so its writer, is gone
            continue
        job = _described_job(listed)
        final = listed.get("ValidationStatus") in FINAL_VALIDATION
        overdue = not final and job.completed is not None and now - job.completed > deadline
        if not (final or overdue):
            continue
        match = CLUSTER_ARN.match(job.created_resource_arn or "")
        if match is None:
            continue
        writer = writer_of(match.group("name"))
        deleted = delete_writer(writer, clients)
        if overdue and (deleted or not _exists(writer, clients)):
            message = (
                f"the restored cluster's writer {writer} was not available within "
                f"{settings.instance_deadline_minutes:g} minutes of the restore"
            )
            report(replace(job, completed=None), False, message, settings, clients)
            outcomes.append({"restoreJobId": job.job_id, "validation": "FAILED", "validationMessage": message})
        elif deleted:
            outcomes.append({"restoreJobId": job.job_id, "deletedWriter": writer})
    return outcomes


def _exists(instance: str, clients: Clients) -> bool:
    try:
        clients("rds").describe_db_instances(DBInstanceIdentifier=instance)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in INSTANCE_GONE:
            return False
        raise
    return True


def report(job: RestoreJob, passed: bool, message: str, settings: Settings, clients: Clients) -> None:
    """PutRestoreValidationResult for a completed restore (a failed job has no copy to judge), then
    the metrics. The API call raises on error, so the invocation is retried and dead-lettered."""
    if job.status == "COMPLETED":
        clients("backup").put_restore_validation_result(
            RestoreJobId=job.job_id,
            ValidationStatus="SUCCESSFUL" if passed else "FAILED",
            ValidationStatusMessage=message[:MESSAGE_LIMIT],
        )
    _metric(settings, "RestoreValidationFailed", 0 if passed else 1, job.resource_type, MetricUnit.Count)
    duration = job.duration_minutes
    if duration is not None:
        _metric(settings, "RestoreDurationMinutes", duration, job.resource_type, MetricUnit.NoUnit)


def _metric(settings: Settings, name: str, value: float, resource_type: str | None, unit: MetricUnit) -> None:
    """One EMF line per resource type and one over all types (what the alarms watch)."""
    environment = {"EnvironmentSuffix": settings.environment_suffix}
    for dimensions in (
        ({**environment, "ResourceType": resource_type}, environment) if resource_type else (environment,)
    ):
        observability.publish(settings.namespace, dimensions, {name: (value, unit)})


def _summary(job: RestoreJob, passed: bool, message: str, settings: Settings) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "restoreJobId": job.job_id,
        "resourceType": job.resource_type,
        "status": job.status,
        "validation": "SUCCESSFUL" if passed else "FAILED",
        "validationMessage": message,
        "durationMinutes": None if job.duration_minutes is None else round(job.duration_minutes, 2),
        "overRto": job.duration_minutes is not None and job.duration_minutes > settings.rto_minutes,
    }
    (logger.info if passed else logger.error)("Restore test validated", **summary)
    return summary


def on_restore_job(event: Mapping[str, Any], settings: Settings, clients: Clients) -> dict[str, Any]:
    job = parse(event, settings, clients)
    if job.status == "COMPLETED" and job.resource_type == "Aurora":
        try:
            writer = add_writer(job, clients)
        except ValidationError as problem:  # not a cluster: nothing to wait for
            report(job, False, str(problem), settings, clients)
            return _summary(job, False, str(problem), settings)
        logger.info("Writer requested for the restored cluster", job=job.job_id, instance=writer)
        return {"restoreJobId": job.job_id, "resourceType": "Aurora", "validation": "PENDING", "writer": writer}
    passed, message = validate(job, settings, clients)
    report(job, passed, message, settings, clients)
    return _summary(job, passed, message, settings)


def on_writer_created(event: Mapping[str, Any], settings: Settings, clients: Clients) -> dict[str, Any]:
    job, writer = writer_ready(event, settings, clients)
    passed, message = validate(job, settings, clients)
    delete_writer(writer, clients)  # before the report: a final result makes AWS Backup delete the cluster
    report(job, passed, message, settings, clients)
    return _summary(job, passed, message, settings)


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext, clients: Clients = CLIENTS) -> dict[str, Any]:
    """EventBridge target: a restore job state change, a copy's writer created, or the sweep schedule."""
    settings = Settings.from_environ(os.environ)
    try:
        kind = _kind(event)
        if kind == "sweep":
            return {"swept": sweep(event, settings, clients)}
        return (on_restore_job if kind == "restore" else on_writer_created)(event, settings, clients)
    except InvalidEvent as problem:
        logger.warning("Ignored an event", reason=str(problem), event=event)
        _metric(settings, "InvalidEvents", 1, None, MetricUnit.Count)
        return {"ignored": str(problem)}


# --- the SQL check of a restored Aurora copy ------------------------------------------------------


def newest_heartbeat(host: str, port: int, database: str, settings: Settings, clients: Clients) -> str | None:
    """The newest heartbeat in that database (ISO 8601), with the secret's credentials over TLS;
    ValidationError saying why not (never with the password)."""
    secret = clients("secretsmanager").get_secret_value(SecretId=settings.secret_arn)
    try:
        credentials = postgres.Credentials.from_secret(secret["SecretString"])
    except postgres.InvalidSecret as problem:
        raise ValidationError(str(problem)) from None
    try:
        connection = postgres.connect(
            host,
            port,
            database,
            credentials,
            context=postgres.ssl_context(settings.ca_bundle),
            timeout=DB_TIMEOUT_SECONDS,
            application_name="dr-restore-validation",
        )
        try:
            rows = connection.run(SELECT_NEWEST_HEARTBEAT_SQL)
        finally:
            connection.close()
    except Exception as error:  # reported as the validation's result, redacted
        raise ValidationError(credentials.redact(f"{type(error).__name__}: {error}")) from None
    newest = rows[0][0] if rows else None
    return newest.isoformat() if isinstance(newest, datetime) else newest
