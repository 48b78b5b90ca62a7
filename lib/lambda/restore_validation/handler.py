"""Validates the copies AWS Backup restore testing makes, as the DR drill does, and reports back.

The restore testing plan (``lib/constructs/restore_testing.py``) restores the newest recovery point
of Aurora and of DynamoDB every day into a copy with a generated name (``awsbackup-restore-test-*``).
AWS Backup's "Restore Job State Change" events for those jobs reach ``handler`` through an
EventBridge rule. For a COMPLETED job it checks the copy holds the canary's data:

* DynamoDB: the newest heartbeat item (``pk = "heartbeat"``, highest ``sk``) is in the copy;
* Aurora: ``SELECT max(checked_at) FROM dr_heartbeat`` over TLS on the copy's endpoint, with the
  source database secret's credentials (the copy keeps the master user and password of the backup).

and reports ``SUCCESSFUL`` or ``FAILED`` with ``backup:PutRestoreValidationResult``; AWS Backup then
deletes the copy. A FAILED (or ABORTED) restore job is a failed test too. Per resource type it
publishes, as CloudWatch EMF: ``RestoreDurationMinutes`` (job creation to completion: how long a
real restore takes, against the RTO) and ``RestoreValidationFailed`` (1/0); each also without the
resource-type dimension, which is what the alarms watch. Events of other plans, other sources or a
broken shape are logged and counted as ``InvalidEvents``, never raised (a raise would only retry).

Why two entry points. The Aurora copy lives in the VPC's isolated subnets, which have no NAT and no
interface endpoint for AWS Backup or RDS; the validator needs both APIs (and DynamoDB, the Lambda
API). So ``handler`` runs outside the VPC and does every AWS API call, and ``probe`` -- the same
package, deployed as a second function in the isolated subnets with the functions' security group,
which may reach the database on 5432 -- only reads the secret (Secrets Manager has an interface
endpoint) and runs the SQL; ``handler`` invokes it synchronously with the copy's endpoint.

TLS: as the canary, the connection is always encrypted; the server certificate is verified only
when ``DB_CA_BUNDLE`` names a PEM file packaged with the function (see the canary's docstring).
"""

from __future__ import annotations

import json
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pg8000.native
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

logger = Logger(service="restore-validation")

PACKAGE_DIR = Path(__file__).resolve().parent
RESTORE_JOB_STATE_CHANGE = "Restore Job State Change"
EVENT_SOURCE = "aws.backup"
FAILED_JOB_STATUSES = frozenset({"FAILED", "ABORTED"})
HANDLED_STATUSES = FAILED_JOB_STATUSES | {"COMPLETED"}
DYNAMODB_HEARTBEAT_PK = "heartbeat"  # the canary's heartbeat items (health_check/handler.py)
SELECT_NEWEST_HEARTBEAT_SQL = "SELECT max(checked_at) FROM dr_heartbeat"
DB_TIMEOUT_SECONDS = 10
MESSAGE_LIMIT = 1000  # keep the ValidationStatusMessage short and readable
BOTO_CONFIG = Config(connect_timeout=3, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"})
TABLE_ARN = re.compile(r"^arn:aws[\w-]*:dynamodb:[^:]+:\d{12}:table/(?P<name>[^/]+)$")
CLUSTER_ARN = re.compile(r"^arn:aws[\w-]*:rds:[^:]+:\d{12}:cluster:(?P<name>[^:/]+)$")


class InvalidEvent(ValueError):
    """An event this function does not handle; the message says why."""


class ValidationError(RuntimeError):
    """The restored copy does not hold what it should; the message is safe to log and report."""


@dataclass(frozen=True)
class Settings:
    plan_arn: str
    namespace: str
    environment_suffix: str
    rto_minutes: float
    probe_function: str
    database_name: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            plan_arn=environ["RESTORE_TESTING_PLAN_ARN"],
            namespace=environ["METRICS_NAMESPACE"],
            environment_suffix=environ["ENVIRONMENT_SUFFIX"],
            rto_minutes=float(environ["RTO_MINUTES"]),
            probe_function=environ["PROBE_FUNCTION_NAME"],
            database_name=environ["DB_NAME"],
        )


@dataclass(frozen=True)
class RestoreJob:
    """What the validation needs of one restore job (from the event, completed by DescribeRestoreJob)."""

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


@dataclass
class Clients:
    """boto3 clients, created on first use (unit tests pass stubs)."""

    made: dict[str, Any] = field(default_factory=dict)

    def __call__(self, service: str) -> Any:
        if service not in self.made:
            self.made[service] = boto3.client(service, config=BOTO_CONFIG)
        return self.made[service]


def _time(value: Any) -> datetime | None:
    """An event date (``2020-07-15T21:40:31.207Z``) or an SDK datetime; None if absent or unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def plan_of(detail: Mapping[str, Any]) -> str | None:
    """The restore testing plan named in the event: ``restoreTestingPlanArn`` (AWS Backup's field,
    the one its documentation filters on) or a ``createdBy`` object as DescribeRestoreJob has it."""
    arn = detail.get("restoreTestingPlanArn")
    created_by = detail.get("createdBy")
    if not arn and isinstance(created_by, Mapping):
        arn = created_by.get("restoreTestingPlanArn") or created_by.get("RestoreTestingPlanArn")
    return arn if isinstance(arn, str) and arn else None


def parse(event: Any, settings: Settings, clients: Clients) -> RestoreJob:
    """The restore job the event is about, or InvalidEvent saying why it is not one of ours."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event is a {type(event).__name__}, not an EventBridge event object")
    if (event.get("source"), event.get("detail-type")) != (EVENT_SOURCE, RESTORE_JOB_STATE_CHANGE):
        raise InvalidEvent(f"unexpected event {event.get('source')!r} / {event.get('detail-type')!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEvent("the event has no detail object")
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
        created=_time(detail.get("creationDate") or described.get("CreationDate")),
        completed=_time(detail.get("completionDate") or described.get("CompletionDate")),
        status_message=detail.get("statusMessage") or described.get("StatusMessage"),
    )
    if job.created is None or job.completed is None or not job.resource_type:
        described = clients("backup").describe_restore_job(RestoreJobId=job_id)
        job = RestoreJob(
            job_id=job_id,
            status=job.status,
            resource_type=job.resource_type or str(described.get("ResourceType") or ""),
            created_resource_arn=job.created_resource_arn or described.get("CreatedResourceArn"),
            created=job.created or _time(described.get("CreationDate")),
            completed=job.completed or _time(described.get("CompletionDate")),
            status_message=job.status_message,
        )
    if not job.resource_type:
        raise InvalidEvent(f"restore job {job_id} names no resource type")
    return job


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
    request = {
        "host": cluster["Endpoint"],
        "port": int(cluster.get("Port") or 5432),
        "database": cluster.get("DatabaseName") or settings.database_name,
    }
    answer = clients("lambda").invoke(
        FunctionName=settings.probe_function, InvocationType="RequestResponse", Payload=json.dumps(request).encode()
    )
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError") or not isinstance(payload, Mapping):
        reason = payload.get("errorMessage") if isinstance(payload, Mapping) else payload
        raise ValidationError(f"the probe of the restored cluster {identifier} failed: {reason}")
    if payload.get("error"):
        raise ValidationError(f"restored cluster {identifier}: {payload['error']}")
    newest = payload.get("newestHeartbeat")
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
    for dimension in (resource_type, None) if resource_type else (None,):
        with single_metric(name=name, unit=unit, value=value, namespace=settings.namespace) as metric:
            metric.add_dimension("EnvironmentSuffix", settings.environment_suffix)
            if dimension:
                metric.add_dimension("ResourceType", dimension)


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext, clients: Clients | None = None) -> dict[str, Any]:
    """EventBridge target: one restore job state change."""
    settings = Settings.from_environ(os.environ)
    clients = clients or Clients()
    try:
        job = parse(event, settings, clients)
    except InvalidEvent as problem:
        logger.warning("Ignored an event", reason=str(problem), event=event)
        _metric(settings, "InvalidEvents", 1, None, MetricUnit.Count)
        return {"ignored": str(problem)}
    passed, message = validate(job, settings, clients)
    report(job, passed, message, settings, clients)
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


# --- the probe: runs in the VPC, reaches the restored cluster ------------------------------------


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    if ca_bundle:
        path = Path(ca_bundle) if Path(ca_bundle).is_absolute() else PACKAGE_DIR / ca_bundle
        context = ssl.create_default_context(cafile=str(path))
    else:
        logger.warning("RDS CA bundle is not packaged (DB_CA_BUNDLE unset): encrypted, certificate not verified")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect(host: str, port: int, database: str, username: str, password: str, context: ssl.SSLContext) -> Any:
    """The one place that reaches PostgreSQL (unit tests replace it)."""
    return pg8000.native.Connection(
        user=username,
        password=password,
        host=host,
        port=port,
        database=database,
        ssl_context=context,
        timeout=DB_TIMEOUT_SECONDS,
        application_name="dr-restore-validation",
    )


@logger.inject_lambda_context(clear_state=True)
def probe(event: Any, context: LambdaContext, clients: Clients | None = None) -> dict[str, Any]:
    """Invoked by ``handler`` with ``{host, port, database}``: the newest heartbeat in that database,
    or ``{"error": ...}`` (never the password). Credentials: the source cluster's secret."""
    clients = clients or Clients()
    if not isinstance(event, Mapping) or not all(event.get(key) for key in ("host", "port", "database")):
        return {"error": "the probe needs host, port and database"}
    secret = clients("secretsmanager").get_secret_value(SecretId=os.environ["DB_SECRET_ARN"])
    try:
        credentials = json.loads(secret["SecretString"])
        username, password = str(credentials["username"]), str(credentials["password"])
    except (ValueError, KeyError, TypeError):
        return {"error": "the database secret is not JSON with username and password"}
    try:
        connection = connect(
            str(event["host"]),
            int(event["port"]),
            str(event["database"]),
            username,
            password,
            _ssl_context(os.environ.get("DB_CA_BUNDLE")),
        )
        try:
            rows = connection.run(SELECT_NEWEST_HEARTBEAT_SQL)
        finally:
            connection.close()
    except Exception as error:  # reported to the validator, redacted
        return {"error": f"{type(error).__name__}: {error}".replace(password, "***")}
    newest = rows[0][0] if rows else None
    return {"newestHeartbeat": newest.isoformat() if isinstance(newest, datetime) else newest}
