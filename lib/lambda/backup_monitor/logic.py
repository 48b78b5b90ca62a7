"""The backup monitor's decisions: which events are ours, each protected resource's newest completed
recovery point and its age against the RPO, what is published. AWS Backup is read through the
gateway it is given (``gateway.Gateway``; unit tests give a fake)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from dr_common import InvalidEvent, observability
from dr_common.events import event_time
from dr_common.observability import MetricUnit, current_logger
from dr_common.settings import json_value, number, require

JOB_STATE_CHANGE = "Backup Job State Change"
SCHEDULED_EVENT = "Scheduled Event"
FAILED_JOB_STATES = frozenset({"FAILED", "ABORTED", "EXPIRED"})
CHECKED_JOB_STATES = FAILED_JOB_STATES | {"CREATED", "PENDING", "RUNNING", "COMPLETED", "PARTIAL"}
RESOURCE_DIMENSION = "Resource"
# How far back a healthy resource's newest completed point must lie, in RPOs.
LOOKBACK_RPOS = 2


class Gateway(Protocol):
    """The AWS Backup read the monitor makes (``gateway.Gateway``)."""

    def recovery_points(self, vault: str, arn: str, created_after: datetime | None) -> Iterable[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class Settings:
    protected: Mapping[str, str]  # label -> resource ARN
    rpo_minutes: float
    namespace: str
    environment_suffix: str
    vault: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        names = ("PROTECTED_RESOURCES", "RPO_MINUTES", "METRICS_NAMESPACE", "ENVIRONMENT_SUFFIX", "BACKUP_VAULT_NAME")
        require(environ, *names)
        return cls(
            protected=json_value(environ, "PROTECTED_RESOURCES"),
            rpo_minutes=number(environ, "RPO_MINUTES"),
            namespace=environ["METRICS_NAMESPACE"],
            environment_suffix=environ["ENVIRONMENT_SUFFIX"],
            vault=environ["BACKUP_VAULT_NAME"],
        )

    def label_of(self, arn: str) -> str | None:
        return next((label for label, protected in self.protected.items() if protected == arn), None)


@dataclass(frozen=True)
class Age:
    """One resource's newest completed recovery point, as of ``now``."""

    label: str
    arn: str
    newest: datetime | None
    now: datetime

    @property
    def minutes(self) -> float | None:
        return None if self.newest is None else (self.now - self.newest).total_seconds() / 60

    def breaches(self, rpo_minutes: float) -> bool:
        """Older than the RPO, or no recovery point at all."""
        return self.minutes is None or self.minutes > rpo_minutes


def newest_completed_point(
    gateway: Gateway, vault: str, arn: str, created_after: datetime | None = None
) -> datetime | None:
    """Creation time of the resource's newest COMPLETED recovery point in the vault, or None; only
    points created after ``created_after`` when it is given."""
    newest: datetime | None = None
    for point in gateway.recovery_points(vault, arn, created_after):
        created = point.get("CreationDate")
        if point.get("Status") == "COMPLETED" and isinstance(created, datetime):
            newest = created if newest is None or created > newest else newest
    return newest


def newest_point(gateway: Gateway, settings: Settings, arn: str, now: datetime) -> datetime | None:
    """The newest completed point, reading only the recent ones while backups are healthy.

    A resource keeps every hourly point for the whole retention (168 at 7 days, far more in prod),
    and this runs every 5 minutes: reading them all would cost more each day. Two RPOs back always
    holds the newest point of a healthy resource; only a resource already breaching pays for the
    whole history, to report its true age."""
    recent = newest_completed_point(
        gateway, settings.vault, arn, now - timedelta(minutes=LOOKBACK_RPOS * settings.rpo_minutes)
    )
    return recent if recent is not None else newest_completed_point(gateway, settings.vault, arn)


def measure(gateway: Gateway, settings: Settings, now: datetime) -> list[Age]:
    """Each protected resource's age, its read timed in the trace (``## <label> recovery points``,
    annotated with the resource)."""
    ages = []
    for label, arn in settings.protected.items():
        with observability.step(f"{label} recovery points", resource=label):
            ages.append(Age(label, arn, newest_point(gateway, settings, arn, now), now))
    return ages


def publish_ages(ages: Iterable[Age], settings: Settings) -> dict[str, Any]:
    """EMF lines for each age and the summary; returns what was measured, for the logs and callers."""
    ages = list(ages)
    summary: dict[str, Any] = {"rpoMinutes": settings.rpo_minutes, "resources": {}}
    for age in ages:
        minutes = age.minutes
        summary["resources"][age.label] = "never" if minutes is None else round(minutes, 2)
        if minutes is None:
            current_logger().warning("No completed recovery point", resource=age.label, arn=age.arn)
            continue
        metric(settings, "RecoveryPointAgeMinutes", minutes, {RESOURCE_DIMENSION: age.label}, MetricUnit.NoUnit)
    measured = [age.minutes for age in ages if age.minutes is not None]
    never = sum(1 for age in ages if age.minutes is None)
    if measured:
        metric(settings, "WorstRecoveryPointAgeMinutes", max(measured), {}, MetricUnit.NoUnit)
    metric(settings, "ResourcesWithoutRecoveryPoint", never, {})
    summary["breaching"] = sorted(age.label for age in ages if age.breaches(settings.rpo_minutes))
    return summary


def metric(
    settings: Settings, name: str, value: float, dimensions: Mapping[str, str], unit: MetricUnit = MetricUnit.Count
) -> None:
    """One EMF line (each resource needs dimensions of its own) with the environment's dimension."""
    observability.publish(
        settings.namespace, {"EnvironmentSuffix": settings.environment_suffix, **dimensions}, {name: (value, unit)}
    )


def classify(event: Mapping[str, Any], settings: Settings) -> tuple[str, EventBridgeEvent]:
    """("schedule" | "job", the event), or InvalidEvent saying why it is not one of ours."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event is a {type(event).__name__}, not an EventBridge event object")
    parsed = EventBridgeEvent(dict(event))
    try:
        source, detail_type = parsed.source, parsed.detail_type
    except KeyError as missing:
        raise InvalidEvent(f"the event has no {missing} field") from None
    if (source, detail_type) == ("aws.events", SCHEDULED_EVENT):
        scheduled_time(parsed)
        return "schedule", parsed
    if (source, detail_type) != ("aws.backup", JOB_STATE_CHANGE):
        raise InvalidEvent(f"unexpected event {source!r} / {detail_type!r}")
    detail = parsed.detail if isinstance(parsed.get("detail"), Mapping) else {}
    arn, state = detail.get("resourceArn"), detail.get("state")
    if state not in CHECKED_JOB_STATES:
        raise InvalidEvent(f"backup job state {state!r} is not one AWS Backup sends")
    if not isinstance(arn, str) or settings.label_of(arn) is None:
        raise InvalidEvent(f"backup job for {arn!r}, which is not a protected resource")
    return "job", parsed


def scheduled_time(event: EventBridgeEvent) -> datetime:
    when = event_time(event.get("time"))
    if when is None:
        raise InvalidEvent("the scheduled event has no valid time")
    return when


def count_job(event: EventBridgeEvent, settings: Settings) -> dict[str, Any]:
    detail = event.detail
    label = settings.label_of(detail["resourceArn"]) or ""
    failed = detail["state"] in FAILED_JOB_STATES
    if failed:
        current_logger().warning(
            "Backup job did not complete", resource=label, state=detail["state"], job=detail.get("backupJobId")
        )
        metric(settings, "FailedBackupJobs", 1, {RESOURCE_DIMENSION: label})
    return {"resource": label, "state": detail["state"], "failed": failed}
