"""The restore validation's decisions: which events are this plan's, what a copy must hold, when a
writer is added, deleted or overdue, what is reported. Every AWS call (and the SQL query) goes
through the gateway it is given (``gateway.Gateway``; unit tests give a fake).

Anyone allowed to invoke the function can send it any event, so an event only names a restore job
(or a writer, which names its job in a tag). What the job restored, into which copy, and so which
database the function logs in to, is what AWS Backup's DescribeRestoreJob says (``restore_test``):
a job of this plan, of this kit's own cluster or table, into a ``awsbackup-restore-test-`` copy;
host, port and database then come from DescribeDBClusters of that copy. Anything else is refused
with one sentence, before any connection."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from dr_common import InvalidEvent, observability, postgres
from dr_common.events import event_time
from dr_common.observability import MetricUnit, current_logger
from dr_common.settings import number, require

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
DYNAMODB_HEARTBEAT_PK = "heartbeat"  # the canary's heartbeat items (health_check/logic.py)
MESSAGE_LIMIT = 1000  # keep the ValidationStatusMessage short and readable
TABLE_ARN = re.compile(r"^arn:aws[\w-]*:dynamodb:[^:]+:\d{12}:table/(?P<name>[^/]+)$")
CLUSTER_ARN = re.compile(r"^arn:aws[\w-]*:rds:[^:]+:\d{12}:cluster:(?P<name>[^:/]+)$")
INSTANCE_ARN = re.compile(r"^arn:aws[\w-]*:rds:[^:]+:\d{12}:db:(?P<name>[^:/]+)$")


class ValidationError(RuntimeError):
    """The restored copy does not hold what it should; the message is safe to log and report."""


class Gateway(Protocol):
    """The AWS calls (and the SQL query) the validation makes (``gateway.Gateway``)."""

    def describe_restore_job(self, job_id: str) -> Mapping[str, Any] | None: ...

    def list_restore_jobs(
        self, resource_type: str, status: str, created_after: datetime
    ) -> Iterable[Mapping[str, Any]]: ...

    def put_validation_result(self, job_id: str, status: str, message: str) -> None: ...

    def newest_item(self, table: str, pk: str) -> Mapping[str, Any] | None: ...

    def describe_cluster(self, identifier: str) -> Mapping[str, Any] | None: ...

    def set_serverless_scaling(self, cluster: str, scaling: Mapping[str, float]) -> None: ...

    def create_instance(
        self, identifier: str, cluster: str, engine: str, instance_class: str, tags: Mapping[str, str]
    ) -> None: ...

    def describe_instance(self, identifier: str) -> Mapping[str, Any] | None: ...

    def delete_instance(self, identifier: str) -> bool: ...

    def db_login(self, host: str, port: int, user: str) -> postgres.Credentials: ...

    def newest_heartbeat(
        self, host: str, port: int, database: str, credentials: postgres.Credentials, ca_bundle: Path
    ) -> Any: ...


@dataclass(frozen=True)
class Settings:
    plan_arn: str
    namespace: str
    environment_suffix: str
    rto_minutes: float
    db_user: str
    database_name: str
    instance_deadline_minutes: float
    ca_bundle: Path
    sources: Mapping[str, str]  # resource type -> this kit's resource whose restore tests are validated

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        require(
            environ,
            "RESTORE_TESTING_PLAN_ARN",
            "METRICS_NAMESPACE",
            "ENVIRONMENT_SUFFIX",
            "RTO_MINUTES",
            "DB_USER",
            "DB_NAME",
            "INSTANCE_DEADLINE_MINUTES",
            "DB_CA_BUNDLE",
            "SOURCE_CLUSTER_ARN",
            "SOURCE_TABLE_ARN",
        )
        return cls(
            plan_arn=environ["RESTORE_TESTING_PLAN_ARN"],
            namespace=environ["METRICS_NAMESPACE"],
            environment_suffix=environ["ENVIRONMENT_SUFFIX"],
            rto_minutes=number(environ, "RTO_MINUTES"),
            db_user=environ["DB_USER"],
            database_name=environ["DB_NAME"],
            instance_deadline_minutes=number(environ, "INSTANCE_DEADLINE_MINUTES"),
            ca_bundle=postgres.ca_bundle(environ, PACKAGE_DIR),
            sources={"Aurora": environ["SOURCE_CLUSTER_ARN"], "DynamoDB": environ["SOURCE_TABLE_ARN"]},
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


def plan_of(detail: Mapping[str, Any]) -> str | None:
    """The restore testing plan named in the event: ``restoreTestingPlanArn`` (AWS Backup's field,
    the one its documentation filters on) or a ``createdBy`` object as DescribeRestoreJob has it."""
    arn = detail.get("restoreTestingPlanArn")
    created_by = detail.get("createdBy")
    if not arn and isinstance(created_by, Mapping):
        arn = created_by.get("restoreTestingPlanArn") or created_by.get("RestoreTestingPlanArn")
    return arn if isinstance(arn, str) and arn else None


def kind(event: Any) -> str:
    """Which of the three events this is (restore job, RDS instance, schedule), or InvalidEvent."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event is a {type(event).__name__}, not an EventBridge event object")
    kinds: dict[tuple[Any, Any], str] = {
        (EVENT_SOURCE, RESTORE_JOB_STATE_CHANGE): "restore",
        (RDS_EVENT_SOURCE, RDS_INSTANCE_EVENT): "instance",
        (SCHEDULE_SOURCE, SCHEDULED_EVENT): "sweep",
    }
    found = kinds.get((event.get("source"), event.get("detail-type")))
    if found is None:
        raise InvalidEvent(f"unexpected event {event.get('source')!r} / {event.get('detail-type')!r}")
    if found != "sweep" and not isinstance(event.get("detail"), Mapping):
        raise InvalidEvent("the event has no detail object")
    return found


def parse(event: Mapping[str, Any], settings: Settings, gateway: Gateway) -> RestoreJob:
    """The restore test a "Restore Job State Change" event is about, as AWS Backup describes it
    (``restore_test``), or InvalidEvent saying why it is not one of ours."""
    detail = event["detail"]
    job_id, status = detail.get("restoreJobId"), detail.get("status")
    if not isinstance(job_id, str) or not job_id:
        raise InvalidEvent("the event names no restoreJobId")
    if status not in HANDLED_STATUSES:
        raise InvalidEvent(f"restore job status {status!r} is not one this function validates")
    plan = plan_of(detail)
    if plan is not None and plan != settings.plan_arn:  # another plan's event: not worth an AWS call
        raise InvalidEvent(f"restore job {job_id} was not created by this restore testing plan (created by {plan!r})")
    job = restore_test(job_id, settings, gateway)
    if job.status not in HANDLED_STATUSES:
        raise InvalidEvent(f"restore job {job_id} is {job.status or 'of no status'}, not one this function validates")
    return job


def restore_test(job_id: str, settings: Settings, gateway: Gateway) -> RestoreJob:
    """The restore job as DescribeRestoreJob answers it, if it is a restore test of this plan of this
    kit's own resource; InvalidEvent saying why not (nothing else was done)."""
    described = gateway.describe_restore_job(job_id)
    if described is None:
        raise InvalidEvent(f"AWS Backup has no restore job {job_id}")
    plan = (described.get("CreatedBy") or {}).get("RestoreTestingPlanArn")
    if plan != settings.plan_arn:
        raise InvalidEvent(f"restore job {job_id} was not created by this restore testing plan (created by {plan!r})")
    job = described_job(described)
    source = described.get("SourceResourceArn")
    if source is None or source != settings.sources.get(job.resource_type):
        raise InvalidEvent(
            f"restore job {job_id} restored {source!r}, which is not this kit's {job.resource_type or 'resource'}"
        )
    return job


def described_job(described: Mapping[str, Any]) -> RestoreJob:
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


def validate_dynamodb(job: RestoreJob, settings: Settings, gateway: Gateway) -> str:
    name = arn_name(TABLE_ARN, job.created_resource_arn, "DynamoDB table")
    item = gateway.newest_item(name, DYNAMODB_HEARTBEAT_PK)
    if item is None:
        raise ValidationError(f"the restored table {name} holds no heartbeat item")
    newest = item.get("sk", {}).get("S", "?")
    return f"restored table {name} holds heartbeats up to {newest}"


def validate_aurora(job: RestoreJob, settings: Settings, gateway: Gateway) -> str:
    identifier = arn_name(CLUSTER_ARN, job.created_resource_arn, "Aurora DB cluster")
    cluster = gateway.describe_cluster(identifier)
    if not cluster or not cluster.get("Endpoint"):
        raise ValidationError(f"the restored cluster {identifier} has no endpoint")
    try:
        newest = newest_heartbeat(
            cluster["Endpoint"],
            int(cluster.get("Port") or 5432),
            cluster.get("DatabaseName") or settings.database_name,
            settings,
            gateway,
        )
    except ValidationError as problem:
        raise ValidationError(f"restored cluster {identifier}: {problem}") from None
    if not newest:
        raise ValidationError(f"the restored cluster {identifier} holds no heartbeat row")
    return f"restored cluster {identifier} holds heartbeats up to {newest}"


VALIDATORS = {"DynamoDB": validate_dynamodb, "Aurora": validate_aurora}


def arn_name(pattern: re.Pattern[str], arn: str | None, what: str) -> str:
    """The name of the restore-test copy ``arn`` names; ValidationError if it is not such a copy."""
    match = pattern.match(arn or "")
    if match is None:
        raise ValidationError(f"the restore job created {arn!r}, which is not a {what}")
    if not match.group("name").startswith(COPY_PREFIX):
        raise ValidationError(f"the restore job created {arn!r}, which is not a restore-test copy ({COPY_PREFIX}*)")
    return match.group("name")


def validate(job: RestoreJob, settings: Settings, gateway: Gateway) -> tuple[bool, str]:
    """(passed, message). A failed restore job, an unsupported type or any error is a failed test."""
    if job.status in FAILED_JOB_STATUSES:
        return False, f"restore job {job.status}: {job.status_message or 'no status message'}"
    validator = VALIDATORS.get(job.resource_type)
    if validator is None:
        return False, f"no validation for resource type {job.resource_type}"
    try:  # timed in the trace: ``## <type> validation``, annotated with the store, the job and the result
        with observability.step(f"{job.resource_type} validation", store=job.resource_type, job=job.job_id):
            return True, validator(job, settings, gateway)
    except ValidationError as problem:
        return False, str(problem)
    except Exception as error:  # a check that cannot run is a failed check, with its cause
        current_logger().exception("Validation could not run", job=job.job_id)
        return False, f"validation could not run: {type(error).__name__}: {error}"


def newest_heartbeat(host: str, port: int, database: str, settings: Settings, gateway: Gateway) -> str | None:
    """The newest heartbeat in that database (ISO 8601), read over TLS as the probe's own read-only
    user with an IAM authentication token (the copy keeps the source's users, as a snapshot does);
    ValidationError saying why not (never with the token)."""
    credentials = gateway.db_login(host, port, settings.db_user)
    try:
        newest = gateway.newest_heartbeat(host, port, database, credentials, settings.ca_bundle)
    except Exception as error:  # reported as the validation's result, redacted
        raise ValidationError(credentials.redact(f"{type(error).__name__}: {error}")) from None
    return newest.isoformat() if isinstance(newest, datetime) else newest


# --- the Aurora copy's writer -----------------------------------------------------------------


def writer_of(cluster: str) -> str:
    """The writer's identifier: the copy's name (cut to fit, never ending in a hyphen: RDS forbids
    two in a row) + ``-writer``, so it keeps the copy prefix."""
    return cluster[: IDENTIFIER_LIMIT - len(WRITER_SUFFIX)].rstrip("-") + WRITER_SUFFIX


def add_writer(job: RestoreJob, gateway: Gateway) -> str:
    """Create the restored cluster's writer, tagged with the job (idempotent: a retried event finds
    it). API errors raise, so the invocation is retried; the sweep reports a writer that never came."""
    cluster = arn_name(CLUSTER_ARN, job.created_resource_arn, "Aurora DB cluster")
    described = gateway.describe_cluster(cluster)
    if described is None:
        raise ValidationError(f"the restored cluster {cluster} does not exist")
    if not described.get("ServerlessV2ScalingConfiguration"):  # a snapshot restore has none
        gateway.set_serverless_scaling(cluster, WRITER_SCALING)
    writer = writer_of(cluster)
    gateway.create_instance(writer, cluster, described["Engine"], WRITER_CLASS, {JOB_TAG: job.job_id})
    return writer


def writer_ready(event: Mapping[str, Any], settings: Settings, gateway: Gateway) -> tuple[RestoreJob, str]:
    """The restore job and writer of an RDS-EVENT-0005 ("DB instance created") of a copy's writer."""
    detail = event["detail"]
    if detail.get("EventID") != INSTANCE_CREATED:
        raise InvalidEvent(f"RDS event {detail.get('EventID')!r} is not {INSTANCE_CREATED} (DB instance created)")
    match = INSTANCE_ARN.match(str(detail.get("SourceArn") or ""))
    writer = match.group("name") if match else ""
    if not writer.startswith(COPY_PREFIX):
        raise InvalidEvent(f"DB instance {writer or detail.get('SourceArn')!r} is not a restore-test copy's writer")
    instance = gateway.describe_instance(writer)
    if instance is None:
        raise InvalidEvent(f"DB instance {writer} no longer exists")
    job_id = {tag.get("Key"): tag.get("Value") for tag in instance.get("TagList", [])}.get(JOB_TAG)
    if not job_id:
        raise InvalidEvent(f"DB instance {writer} carries no {JOB_TAG} tag")
    job = restore_test(job_id, settings, gateway)
    copy = CLUSTER_ARN.match(job.created_resource_arn or "")
    if (
        copy is None
        or writer_of(copy.group("name")) != writer
        or instance.get("DBClusterIdentifier") != copy.group("name")
    ):
        raise InvalidEvent(f"DB instance {writer} is not the writer of restore job {job_id}'s copy")
    usable = event_time(detail.get("Date")) or event_time(event.get("time"))
    return replace(job, completed=usable), writer


def sweep(event: Mapping[str, Any], settings: Settings, gateway: Gateway) -> list[dict[str, Any]]:
    """The safety net, on a schedule: this plan's Aurora restore tests of the last day whose writer
    was not available in time are failed (writer deleted first), and writers of finished tests that
    are still there are deleted."""
    now = event_time(event.get("time")) or datetime.now(UTC)
    deadline = timedelta(minutes=settings.instance_deadline_minutes)
    outcomes = []
    for listed in gateway.list_restore_jobs("Aurora", "COMPLETED", now - SWEEP_LOOKBACK):
        if (listed.get("CreatedBy") or {}).get("RestoreTestingPlanArn") != settings.plan_arn:
            continue
        if listed.get("SourceResourceArn") != settings.sources["Aurora"]:
            continue
        if listed.get("DeletionStatus") == "SUCCESSFUL":  # the copy, and so its writer, is gone
            continue
        job = described_job(listed)
        final = listed.get("ValidationStatus") in FINAL_VALIDATION
        overdue = not final and job.completed is not None and now - job.completed > deadline
        if not (final or overdue):
            continue
        match = CLUSTER_ARN.match(job.created_resource_arn or "")
        if match is None or not match.group("name").startswith(COPY_PREFIX):
            continue
        writer = writer_of(match.group("name"))
        deleted = gateway.delete_instance(writer)
        if overdue and (deleted or gateway.describe_instance(writer) is None):
            message = (
                f"the restored cluster's writer {writer} was not available within "
                f"{settings.instance_deadline_minutes:g} minutes of the restore"
            )
            report(replace(job, completed=None), False, message, settings, gateway)
            outcomes.append({"restoreJobId": job.job_id, "validation": "FAILED", "validationMessage": message})
        elif deleted:
            outcomes.append({"restoreJobId": job.job_id, "deletedWriter": writer})
    return outcomes


# --- reporting --------------------------------------------------------------------------------


def report(job: RestoreJob, passed: bool, message: str, settings: Settings, gateway: Gateway) -> None:
    """PutRestoreValidationResult for a completed restore (a failed job has no copy to judge), then
    the metrics. The API call raises on error, so the invocation is retried and dead-lettered."""
    if job.status == "COMPLETED":
        gateway.put_validation_result(job.job_id, "SUCCESSFUL" if passed else "FAILED", message[:MESSAGE_LIMIT])
    metric(settings, "RestoreValidationFailed", 0 if passed else 1, job.resource_type, MetricUnit.Count)
    duration = job.duration_minutes
    if duration is not None:
        metric(settings, "RestoreDurationMinutes", duration, job.resource_type, MetricUnit.NoUnit)


def metric(settings: Settings, name: str, value: float, resource_type: str | None, unit: MetricUnit) -> None:
    """One EMF line per resource type and one over all types (what the alarms watch)."""
    environment = {"EnvironmentSuffix": settings.environment_suffix}
    for dimensions in (
        ({**environment, "ResourceType": resource_type}, environment) if resource_type else (environment,)
    ):
        observability.publish(settings.namespace, dimensions, {name: (value, unit)})


def summary(job: RestoreJob, passed: bool, message: str, settings: Settings) -> dict[str, Any]:
    result: dict[str, Any] = {
        "restoreJobId": job.job_id,
        "resourceType": job.resource_type,
        "status": job.status,
        "validation": "SUCCESSFUL" if passed else "FAILED",
        "validationMessage": message,
        "durationMinutes": None if job.duration_minutes is None else round(job.duration_minutes, 2),
        "overRto": job.duration_minutes is not None and job.duration_minutes > settings.rto_minutes,
    }
    (current_logger().info if passed else current_logger().error)("Restore test validated", **result)
    return result


def on_restore_job(event: Mapping[str, Any], settings: Settings, gateway: Gateway) -> dict[str, Any]:
    job = parse(event, settings, gateway)
    if job.status == "COMPLETED" and job.resource_type == "Aurora":
        try:
            writer = add_writer(job, gateway)
        except ValidationError as problem:  # not a cluster: nothing to wait for
            report(job, False, str(problem), settings, gateway)
            return summary(job, False, str(problem), settings)
        current_logger().info("Writer requested for the restored cluster", job=job.job_id, instance=writer)
        return {"restoreJobId": job.job_id, "resourceType": "Aurora", "validation": "PENDING", "writer": writer}
    passed, message = validate(job, settings, gateway)
    report(job, passed, message, settings, gateway)
    return summary(job, passed, message, settings)


def on_writer_created(event: Mapping[str, Any], settings: Settings, gateway: Gateway) -> dict[str, Any]:
    job, writer = writer_ready(event, settings, gateway)
    passed, message = validate(job, settings, gateway)
    gateway.delete_instance(writer)  # before the report: a final result makes AWS Backup delete the cluster
    report(job, passed, message, settings, gateway)
    return summary(job, passed, message, settings)
