"""AWS Backup's jobs: the lifecycle of backup and restore jobs, the engine that keeps them with the
recovery points of one account and region, and the delivery of AWS Backup's events and metrics.

moto stores backup vaults and plans but never backs anything up. Here a backup job copies a
resource's data into a recovery point and a restore job creates a new resource from it; what is
copied and how a resource is recreated is its kind's business (``resources``: DynamoDB tables,
S3 buckets, Aurora clusters). Recovery points are ``recovery_points.RecoveryPoint``; plan schedules
and retention are ``plans``.

Jobs take time on the emulator's clock, as on AWS (``due_job_steps`` is a timer source). A backup
job is CREATED and tries to start a minute later, then every 10 minutes while the resource cannot be
backed up (a stopped Aurora cluster), until its start window closes (EXPIRED); once started it is
PENDING for a minute, RUNNING for a duration that follows the resource's type and size
(``backup_minutes``), then COMPLETED with its recovery point -- or EXPIRED if the completion window,
counted from its creation, closes first. A restore job is PENDING for a minute, RUNNING for
``restore_minutes``, and creates the resource when it completes. Each state change is sent to
EventBridge (source ``aws.backup``) and counted in the ``AWS/Backup`` metrics at the next
five-minute mark, AWS Backup's cadence (``due_deliveries``).

Payloads live on disk, one directory per recovery point under ``<state dir>/backup/``: an hourly
plan keeps days of copies of every table and bucket, which would otherwise sit in the server's
memory next to the originals, and Aurora dumps are files anyway. S3 object bodies are stored once by
content, shared by every point that holds them (``storage``). A directory is removed with its
recovery point (``storage.discard``, which also deletes the bodies no point refers to any more); the
files of a server that stopped reference nothing and can be removed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ... import world
from ...clock import CLOCK, Due
from ...pipeline import caller, policy
from ..cloudwatch import metrics
from ..kms import usage as key_usage
from .recovery_points import RecoveryPoint, event_time, without_empty
from .resources import KINDS, BackupFailure, ResourceKind, Snapshot, kind_of
from .storage import discard, payload_root

logger = logging.getLogger(__name__)

STEP_ORDER = 22  # after the plan rules and retention of that instant (``plans``), the steps of jobs
DELIVERY_ORDER = 23  # and last the events and metrics of that instant's five-minute mark
DEFAULT_START_WINDOW_MINUTES = 480  # AWS Backup's default for StartBackupJob
DEFAULT_MAX_RESULTS = 1000
ACTIVE_JOB_STATES = ("CREATED", "PENDING", "RUNNING")
EVENT_SOURCE = "aws.backup"
# Jobs and restores copy and create resources as AWS Backup acting with the job's role.
BACKUP_SERVICE = "backup.amazonaws.com"
# A job's first attempt to start; then "at least every 10 minutes" until its start window closes.
FIRST_ATTEMPT = timedelta(minutes=1)
RETRY_INTERVAL = timedelta(minutes=10)
PENDING_TIME = timedelta(minutes=1)  # PENDING before RUNNING, for backups and restores alike
# AWS Backup sends its events to EventBridge "in a best-effort manner every 5 minutes".
DELIVERY_INTERVAL = timedelta(minutes=5)
MAX_CATCH_UP_ROUNDS = 10  # a job has at most four steps; CREATED retries each count as one
# How long a job runs, in minutes: a fixed part per resource type plus one per GiB. Plausible values
# (Aurora snapshots are incremental but take minutes; a cluster restore takes tens of minutes; a
# DynamoDB restore takes minutes even for a small table); AWS publishes no figures. (Every full GiB
# adds a minute.)
BACKUP_MINUTES = {"DynamoDB": 3, "S3": 5, "Aurora": 10}
RESTORE_MINUTES = {"DynamoDB": 10, "S3": 5, "Aurora": 25}
GIB = 1024**3


def backup_minutes(resource_type: str, size: int) -> int:
    return BACKUP_MINUTES[resource_type] + size // GIB


def restore_minutes(resource_type: str, size: int) -> int:
    return RESTORE_MINUTES[resource_type] + size // GIB


def now() -> datetime:
    return CLOCK.now()


def emit(
    account_id: str, region: str, detail_type: str, detail: dict[str, Any], resources: list[str], moment: datetime
) -> None:
    """Send one AWS Backup event, of the change at ``moment``, to the region's default event bus."""
    entry = {
        "Source": EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "Resources": resources,
        "Time": moment.timestamp(),
    }
    failed = [answer for answer in world.put_events(account_id, region, [entry]) if "ErrorCode" in answer]
    if failed:
        logger.warning("EventBridge refused the %s event: %s", detail_type, failed)


@dataclass
class BackupJob:
    """One backup of one resource into one vault."""

    account_id: str
    job_id: str
    vault_name: str
    vault_arn: str
    resource_arn: str
    resource_type: str
    resource_name: str
    iam_role_arn: str
    creation_date: datetime
    start_by: datetime
    complete_by: datetime | None
    recovery_point_arn: str
    lifecycle: dict[str, Any] | None
    recovery_point_tags: dict[str, str]
    created_by: dict[str, str] | None
    idempotency_token: str | None
    directory: Path
    state: str = "CREATED"
    status_message: str | None = None
    completion_date: datetime | None = None
    backup_size: int = 0
    next_step: datetime | None = None  # when the job next tries to move on (None: finished)
    running_since: datetime | None = None
    expected_completion: datetime | None = None
    snapshot: Snapshot | None = None

    @property
    def percent_done(self) -> float:
        """How far the copy is, by the time it has run out of the time it takes."""
        if self.state == "COMPLETED":
            return 100.0
        if self.running_since is None or self.expected_completion is None:
            return 0.0
        until = self.completion_date or now()
        share = (until - self.running_since) / (self.expected_completion - self.running_since)
        return max(0.0, min(99.0, 100.0 * share))

    def describe(self) -> dict[str, Any]:
        """DescribeBackupJob's answer (ListBackupJobs lists the same fields)."""
        completed = self.state == "COMPLETED"
        return without_empty(
            {
                "AccountId": self.account_id,
                "BackupJobId": self.job_id,
                "BackupVaultName": self.vault_name,
                "BackupVaultArn": self.vault_arn,
                "RecoveryPointArn": self.recovery_point_arn if completed else None,
                "RecoveryPointLifecycle": self.lifecycle,
                "ResourceArn": self.resource_arn,
                "ResourceType": self.resource_type,
                "ResourceName": self.resource_name,
                "CreationDate": self.creation_date,
                "CompletionDate": self.completion_date,
                "State": self.state,
                "StatusMessage": self.status_message,
                "PercentDone": f"{self.percent_done:.1f}",
                "BackupSizeInBytes": self.backup_size,
                "BytesTransferred": round(self.backup_size * self.percent_done / 100),
                "IamRoleArn": self.iam_role_arn,
                "CreatedBy": self.created_by,
                "StartBy": self.start_by,
                "ExpectedCompletionDate": self.expected_completion if self.state == "RUNNING" else None,
                "IsParent": False,
            }
        )

    def event(self) -> tuple[dict[str, Any], list[str]]:
        """The detail and resources of the "Backup Job State Change" event for the current state."""
        if self.state == "CREATED":
            return {"backupJobId": self.job_id, "state": "CREATED", "creationDate": event_time(self.creation_date)}, []
        detail: dict[str, Any] = {
            "backupJobId": self.job_id,
            "backupSizeInBytes": str(self.backup_size),
            "backupVaultArn": self.vault_arn,
            "backupVaultName": self.vault_name,
            "bytesTransferred": str(round(self.backup_size * self.percent_done / 100)),
            "creationDate": event_time(self.creation_date),
            "iamRoleArn": self.iam_role_arn,
            "resourceArn": self.resource_arn,
            "resourceType": self.resource_type,
            "state": self.state,
            "startBy": event_time(self.start_by),
            "percentDone": round(self.percent_done),
        }
        if self.status_message is not None:
            detail["statusMessage"] = self.status_message
        if self.completion_date is not None:
            detail["completionDate"] = event_time(self.completion_date)
        if self.created_by:
            detail["createdBy"] = {
                "backupPlanId": self.created_by["BackupPlanId"],
                "backupPlanArn": self.created_by["BackupPlanArn"],
                "backupPlanVersion": self.created_by["BackupPlanVersion"],
                "backupPlanRuleId": self.created_by["BackupRuleId"],
            }
        return detail, [self.recovery_point_arn] if self.state == "COMPLETED" else []


@dataclass
class RestoreJob:
    """One restore of one recovery point into a new resource."""

    account_id: str
    job_id: str
    point: RecoveryPoint
    iam_role_arn: str
    creation_date: datetime
    idempotency_token: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "PENDING"
    status_message: str | None = None
    completion_date: datetime | None = None
    created_resource_arn: str | None = None
    next_step: datetime | None = None  # when the job next moves on (None: finished)
    # Called with the job once it has COMPLETED (restore testing starts its validation window then).
    on_completed: Callable[[RestoreJob], None] | None = field(default=None, repr=False)
    # Restore testing (tools/local_aws/restore_testing.py): the plan that started the job
    # ({"RestoreTestingPlanArn": ...}), the validation reported for it, the deletion of the copy.
    created_by: dict[str, str] | None = None
    validation_status: str | None = None
    validation_status_message: str | None = None
    deletion_status: str | None = None
    deletion_status_message: str | None = None

    @property
    def percent_done(self) -> float:
        return 100.0 if self.status == "COMPLETED" else 0.0

    def describe(self) -> dict[str, Any]:
        """DescribeRestoreJob's answer (ListRestoreJobs lists the same fields)."""
        return without_empty(
            {
                "AccountId": self.account_id,
                "RestoreJobId": self.job_id,
                "RecoveryPointArn": self.point.arn,
                "SourceResourceArn": self.point.resource_arn,
                "BackupVaultArn": self.point.vault.backup_vault_arn,
                "CreationDate": self.creation_date,
                "CompletionDate": self.completion_date,
                "Status": self.status,
                "StatusMessage": self.status_message,
                "PercentDone": f"{self.percent_done:.1f}",
                "BackupSizeInBytes": self.point.size,
                "IamRoleArn": self.iam_role_arn,
                "CreatedResourceArn": self.created_resource_arn,
                "ResourceType": self.point.resource_type,
                "RecoveryPointCreationDate": self.point.creation_date,
                "IsParent": False,
                "CreatedBy": self.created_by,
                "ValidationStatus": self.validation_status,
                "ValidationStatusMessage": self.validation_status_message,
                "DeletionStatus": self.deletion_status,
                "DeletionStatusMessage": self.deletion_status_message,
            }
        )

    def event(self) -> dict[str, Any]:
        """The detail of the "Restore Job State Change" event for the current status."""
        detail: dict[str, Any] = {
            "restoreJobId": self.job_id,
            "backupVaultArn": self.point.vault.backup_vault_arn,
            "recoveryPointArn": self.point.arn,
            "sourceResourceArn": self.point.resource_arn,
            "backupSizeInBytes": str(self.point.size),
            "creationDate": event_time(self.creation_date),
            "iamRoleArn": self.iam_role_arn,
            "percentDone": round(self.percent_done),
            "resourceType": self.point.resource_type,
            "status": self.status,
        }
        if self.status_message is not None:
            detail["statusMessage"] = self.status_message
        if self.created_resource_arn is not None:
            detail["createdResourceArn"] = self.created_resource_arn
        if self.completion_date is not None:
            detail["completionDate"] = event_time(self.completion_date)
        if self.created_by:  # AWS Backup names the restore testing plan in the event's detail
            detail["restoreTestingPlanArn"] = self.created_by["RestoreTestingPlanArn"]
        return detail


@dataclass
class Engine:
    """The backup jobs, recovery points and restore jobs of one account and region."""

    backend: world.BackupBackend
    jobs: dict[str, BackupJob] = field(default_factory=dict)
    points: dict[str, RecoveryPoint] = field(default_factory=dict)
    restores: dict[str, RestoreJob] = field(default_factory=dict)
    # Events and metrics not yet delivered: (when the change happened, delivery), oldest first.
    outbox: list[tuple[datetime, Callable[[], None]]] = field(default_factory=list)
    # Guards the three stores and state changes; never held while data is copied, so a job can
    # be listed or stopped while another thread runs it.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # Serializes job steps: the clock's advance and a read that catches jobs up may race for one.
    _stepping: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def account_id(self) -> str:
        return str(self.backend.account_id)

    @property
    def region(self) -> str:
        return str(self.backend.region_name)

    def _emit(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        """Queue one event for the next five-minute delivery."""
        moment = now()
        self._queue(moment, lambda: emit(self.account_id, self.region, detail_type, detail, resources, moment))

    def _queue(self, moment: datetime, delivery: Callable[[], None]) -> None:
        with self._lock:
            self.outbox.append((moment, delivery))
        CLOCK.reschedule()

    def delivery_date(self) -> datetime | None:
        """The five-minute mark after the oldest undelivered change, if any."""
        with self._lock:
            if not self.outbox:
                return None
            oldest = self.outbox[0][0]
        interval = DELIVERY_INTERVAL.total_seconds()
        return datetime.fromtimestamp((oldest.timestamp() // interval + 1) * interval, UTC)

    def deliver(self) -> None:
        """Send every queued event and metric (in the order of the changes)."""
        with self._lock:
            queued, self.outbox = self.outbox, []
        for _, delivery in queued:
            delivery()

    def _vault_arn(self, name: str) -> str:
        return f"arn:{world.partition(self.region)}:backup:{self.region}:{self.account_id}:backup-vault:{name}"

    def vault(self, name: str) -> world.Vault:
        vault = self.backend.vaults.get(name)
        if vault is None:
            raise world.BackupNotFound(msg=f"Backup vault {name} does not exist")
        return vault

    # backup jobs

    def start_backup_job(
        self,
        vault_name: str,
        resource_arn: str,
        iam_role_arn: str,
        *,
        lifecycle: dict[str, Any] | None = None,
        recovery_point_tags: dict[str, str] | None = None,
        idempotency_token: str | None = None,
        start_window_minutes: int | None = None,
        complete_window_minutes: int | None = None,
    ) -> BackupJob:
        """StartBackupJob: the vault and resource type are checked first; the job then runs on the
        clock (a missing resource makes it FAILED, not an error)."""
        with self._lock:
            for job in self.jobs.values():
                if idempotency_token and job.idempotency_token == idempotency_token:
                    return job
            self.vault(vault_name)
            kind_of(resource_arn)
        return self.back_up(
            vault_name,
            resource_arn,
            iam_role_arn,
            lifecycle=lifecycle,
            recovery_point_tags=recovery_point_tags,
            idempotency_token=idempotency_token,
            start_window_minutes=start_window_minutes,
            complete_window_minutes=complete_window_minutes,
        )

    def back_up(
        self,
        vault_name: str,
        resource_arn: str,
        iam_role_arn: str,
        *,
        lifecycle: dict[str, Any] | None = None,
        recovery_point_tags: dict[str, str] | None = None,
        idempotency_token: str | None = None,
        start_window_minutes: int | None = None,
        complete_window_minutes: int | None = None,
        created_by: dict[str, str] | None = None,
    ) -> BackupJob:
        """Create a job (CREATED); its steps run on the clock (``step_backup_job``)."""
        kind = kind_of(resource_arn)
        created = now()
        point_id = world.new_id()
        resource_name = kind.name_in(resource_arn) or ""
        window = DEFAULT_START_WINDOW_MINUTES if start_window_minutes is None else int(start_window_minutes)
        job = BackupJob(
            account_id=self.account_id,
            job_id=world.new_id().upper(),
            vault_name=vault_name,
            vault_arn=self._vault_arn(vault_name),
            resource_arn=resource_arn,
            resource_type=kind.resource_type,
            resource_name=resource_name,
            iam_role_arn=iam_role_arn,
            creation_date=created,
            start_by=created + timedelta(minutes=window),
            complete_by=None
            if complete_window_minutes is None
            else created + timedelta(minutes=int(complete_window_minutes)),
            recovery_point_arn=kind(self.account_id, self.region).recovery_point_arn(resource_name, point_id),
            lifecycle=lifecycle,
            recovery_point_tags=dict(recovery_point_tags or {}),
            created_by=created_by,
            idempotency_token=idempotency_token,
            directory=payload_root() / point_id,
            next_step=created + FIRST_ATTEMPT,
        )
        with self._lock:
            self.jobs[job.job_id] = job
        self._emit_job(job)
        CLOCK.reschedule()
        return job

    def _emit_job(self, job: BackupJob) -> None:
        detail, resources = job.event()
        self._emit("Backup Job State Change", detail, resources)

    def step_dates(self) -> list[tuple[str, datetime]]:
        """(job id, when it next moves on) of every unfinished backup and restore job."""
        with self._lock:
            jobs: list[BackupJob | RestoreJob] = [*self.jobs.values(), *self.restores.values()]
        return [(job.job_id, job.next_step) for job in jobs if job.next_step is not None]

    def step(self, job_id: str) -> None:
        """Move a backup or restore job on, if its next step is due."""
        with self._stepping:
            if job_id in self.jobs:
                self.step_backup_job(self.jobs[job_id])
            elif job_id in self.restores:
                self.step_restore_job(self.restores[job_id])

    def catch_up(self) -> None:
        """Take every step that the clock's time has reached without an advance running it: real
        time passes in the emulator too (it is wall time plus an offset), so a client that polls a
        job -- the vault clean-up on ``cdk destroy`` waiting for an Aurora job -- sees it move on as
        it would on AWS. Bounded, so a step that fails to move its job on cannot loop."""
        for _ in range(MAX_CATCH_UP_ROUNDS):
            moment = now()
            due = [job_id for job_id, when in self.step_dates() if when <= moment]
            if not due:
                return
            for job_id in due:
                self.step(job_id)

    def step_backup_job(self, job: BackupJob) -> None:
        """One step: CREATED tries to start (or EXPIRES at StartBy), PENDING starts RUNNING (the data is
        copied as of that moment), RUNNING completes; past the completion window, EXPIRED. The step
        happens at the instant it was due, also when it is taken late (``catch_up``)."""
        with self._lock:
            moment = job.next_step
            if moment is None or now() < moment:
                return
            state = job.state
        kind = kind_of(job.resource_arn)(self.account_id, self.region)
        if job.complete_by is not None and moment >= job.complete_by:  # it can no longer complete in time
            discard(job.directory)
            self._finish(job, "EXPIRED", "Backup job expired before completion.", moment)
        elif state == "CREATED":
            if moment >= job.start_by:
                self._finish(job, "EXPIRED", "Backup job failed to start within the start window.", moment)
                return
            reason = kind.unready(job.resource_name)
            if reason is not None:
                self._set(job, "CREATED", reason, min(moment + RETRY_INTERVAL, job.start_by))
                return
            self._set(job, "PENDING", None, moment + PENDING_TIME)
        elif state == "PENDING":
            self._start_copy(job, kind, moment)
        else:
            self._complete(job, moment)

    def _set(self, job: BackupJob, state: str, message: str | None, next_step: datetime) -> None:
        """Record a state and when the job next moves on (capped by the completion window);
        a change of state is sent as an event."""
        with self._lock:
            changed = job.state != state
            job.state, job.status_message = state, message
            job.next_step = next_step if job.complete_by is None else min(next_step, job.complete_by)
        if changed:
            self._emit_job(job)
        CLOCK.reschedule()

    def _start_copy(self, job: BackupJob, kind: ResourceKind, moment: datetime) -> None:
        try:
            vault = self.backend.vaults.get(job.vault_name)
            if vault is None:
                raise BackupFailure(f"Backup job failed because backup vault {job.vault_arn} does not exist.")
            job.directory.mkdir(parents=True, exist_ok=False)
            with caller.acting_as(caller.service_caller(job.iam_role_arn, BACKUP_SERVICE)):
                _authorize_backup(kind, job)
                snapshot = kind.back_up(job.resource_name, job.directory)
        except Exception as error:
            discard(job.directory)
            if not isinstance(error, BackupFailure):
                logger.exception("backup job %s of %s failed", job.job_id, job.resource_arn)
            self._finish(job, "FAILED", str(error) if isinstance(error, BackupFailure) else repr(error), moment)
            return
        with self._lock:
            job.snapshot, job.backup_size, job.running_since = snapshot, snapshot.size, moment
            job.expected_completion = moment + timedelta(minutes=backup_minutes(job.resource_type, snapshot.size))
        self._set(job, "RUNNING", None, job.expected_completion)

    def _complete(self, job: BackupJob, moment: datetime) -> None:
        with self._lock:
            vault = self.backend.vaults.get(job.vault_name)
            if job.state != "RUNNING" or job.snapshot is None:  # stopped meanwhile
                discard(job.directory)
                return
        if vault is None:
            discard(job.directory)
            self._finish(
                job, "FAILED", f"Backup job failed because backup vault {job.vault_arn} does not exist.", moment
            )
            return
        with self._lock:
            point = RecoveryPoint(
                arn=job.recovery_point_arn,
                vault=vault,
                resource_arn=job.resource_arn,
                resource_type=job.resource_type,
                resource_name=job.resource_name,
                iam_role_arn=job.iam_role_arn,
                creation_date=job.creation_date,
                completion_date=moment,
                size=job.snapshot.size,
                lifecycle=job.lifecycle,
                created_by=job.created_by,
                directory=job.directory,
                restore_metadata=job.snapshot.restore_metadata,
            )
            self.points[point.arn] = point
            vault.num_of_recovery_points += 1
            if job.recovery_point_tags:
                self.backend.tag_resource(point.arn, job.recovery_point_tags)
        self._finish(job, "COMPLETED", None, moment)
        self._emit("Recovery Point State Change", point.event(), [point.arn])

    def _finish(self, job: BackupJob, state: str, message: str | None, moment: datetime | None = None) -> None:
        moment = moment or now()
        with self._lock:
            job.state = state
            job.status_message = message
            job.completion_date = moment
            job.next_step = None
        self._queue(
            moment,
            lambda: metrics.record_backup_job(self.account_id, self.region, job.vault_name, job.resource_type, state),
        )
        self._emit_job(job)

    def backup_job(self, job_id: str) -> BackupJob:
        self.catch_up()
        job = self.jobs.get(job_id)
        if job is None:
            raise world.BackupNotFound(msg=f"Backup job {job_id} not found")
        return job

    def list_backup_jobs(
        self,
        *,
        resource_arn: str | None = None,
        state: str | None = None,
        vault_name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        resource_type: str | None = None,
    ) -> list[BackupJob]:
        """ListBackupJobs' filters (ByResourceArn, ByState, ...), oldest job first."""
        self.catch_up()
        with self._lock:
            jobs = list(self.jobs.values())
        return [
            job
            for job in jobs
            if (resource_arn is None or job.resource_arn == resource_arn)
            and (state is None or job.state == state)
            and (vault_name is None or job.vault_name == vault_name)
            and _created_within(job.creation_date, created_after, created_before)
            and (resource_type is None or job.resource_type == resource_type)
        ]

    def stop_backup_job(self, job_id: str) -> None:
        """StopBackupJob: an unfinished job becomes ABORTED (Aurora jobs cannot be stopped)."""
        with self._stepping, self._lock:
            job = self.backup_job(job_id)
            if job.resource_type == "Aurora":
                raise world.BackupInvalidRequest(
                    msg=f"StopBackupJob is not supported for {job.resource_type} resources"
                )
            if job.state not in ACTIVE_JOB_STATES:
                raise world.BackupInvalidRequest(msg=f"Backup job {job_id} is {job.state} and cannot be stopped")
            discard(job.directory)
            self._finish(job, "ABORTED", "Backup job was stopped by user.")

    # recovery points

    def recovery_points(
        self,
        vault_name: str,
        resource_arn: str | None = None,
        *,
        resource_type: str | None = None,
        plan_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> list[RecoveryPoint]:
        """ListRecoveryPointsByBackupVault's filters (ByResourceArn, ByResourceType, ByBackupPlanId,
        ByCreatedAfter/Before), oldest first."""
        self.catch_up()
        vault = self.vault(vault_name)
        with self._lock:
            points = [point for point in self.points.values() if point.vault is vault]
        return [
            point
            for point in points
            if (resource_arn is None or point.resource_arn == resource_arn)
            and (resource_type is None or point.resource_type == resource_type)
            and (plan_id is None or (point.created_by or {}).get("BackupPlanId") == plan_id)
            and _created_within(point.creation_date, created_after, created_before)
        ]

    def recovery_points_of(self, resource_arn: str) -> list[RecoveryPoint]:
        self.catch_up()
        with self._lock:
            return [point for point in self.points.values() if point.resource_arn == resource_arn]

    def recovery_point(self, vault_name: str, arn: str) -> RecoveryPoint:
        point = self.points.get(arn)
        if point is None or point.vault is not self.vault(vault_name):
            raise world.BackupNotFound(msg=f"Recovery point {arn} not found in backup vault {vault_name}")
        return point

    def delete_recovery_point(self, vault_name: str, arn: str) -> None:
        with self._lock:
            self._delete(self.recovery_point(vault_name, arn))

    def _delete(self, point: RecoveryPoint) -> None:
        del self.points[point.arn]
        point.vault.num_of_recovery_points -= 1
        self.backend.tagger.delete_all_tags_for_resource(point.arn)
        discard(point.directory)

    def deletion_dates(self) -> list[tuple[str, datetime]]:
        """(ARN, DeleteAt) of every point with a retention."""
        with self._lock:
            points = list(self.points.values())
        return [
            (point.arn, point.calculated_lifecycle["DeleteAt"])
            for point in points
            if "DeleteAt" in point.calculated_lifecycle
        ]

    def expire(self, arn: str) -> None:
        """Delete a point whose retention ended (unless it was deleted meanwhile)."""
        with self._lock:
            point = self.points.get(arn)
            if point is not None:
                self._delete(point)

    # restore jobs

    def start_restore_job(
        self,
        recovery_point_arn: str,
        metadata: dict[str, str],
        iam_role_arn: str,
        *,
        resource_type: str | None = None,
        idempotency_token: str | None = None,
        created_by: dict[str, str] | None = None,
        on_completed: Callable[[RestoreJob], None] | None = None,
    ) -> RestoreJob:
        """StartRestoreJob: a PENDING job that runs on the clock (``step_restore_job``); a restore
        that cannot be done (the new name exists, metadata is missing) ends FAILED with the reason."""
        with self._lock:
            for existing in self.restores.values():
                if idempotency_token and existing.idempotency_token == idempotency_token:
                    return existing
            point = self.points.get(recovery_point_arn)
            if point is None:
                raise world.BackupNotFound(msg=f"Recovery point {recovery_point_arn} not found")
            if resource_type and resource_type != point.resource_type:
                raise world.BackupInvalidParameterValue(
                    msg=f"ResourceType {resource_type} does not match the recovery point's {point.resource_type}"
                )
            created = now()
            job = RestoreJob(
                account_id=self.account_id,
                job_id=world.new_id().upper(),
                point=point,
                iam_role_arn=iam_role_arn,
                creation_date=created,
                idempotency_token=idempotency_token,
                metadata=dict(metadata),
                created_by=created_by,
                next_step=created + PENDING_TIME,
                on_completed=on_completed,
            )
            self.restores[job.job_id] = job
        self._emit_restore(job)
        CLOCK.reschedule()
        return job

    def step_restore_job(self, job: RestoreJob) -> None:
        """One step: PENDING starts RUNNING; RUNNING creates the resource and COMPLETES (or FAILS), at
        the instant it was due."""
        with self._lock:
            moment = job.next_step
            if moment is None or now() < moment:
                return
            status = job.status
        if status == "PENDING":
            duration = timedelta(minutes=restore_minutes(job.point.resource_type, job.point.size))
            self._transition(job, "RUNNING", next_step=moment + duration)
            return
        kind = next(kind for kind in KINDS if kind.resource_type == job.point.resource_type)
        try:
            with caller.acting_as(caller.service_caller(job.iam_role_arn, BACKUP_SERVICE)):
                created = kind(self.account_id, self.region).restore(job.point.directory, dict(job.metadata))
        except Exception as error:
            if not isinstance(error, BackupFailure):
                logger.exception("restore job %s of %s failed", job.job_id, job.point.arn)
            self._transition(job, "FAILED", str(error) if isinstance(error, BackupFailure) else repr(error), at=moment)
            return
        with self._lock:
            job.created_resource_arn = created
            job.point.last_restore_time = moment
        self._transition(job, "COMPLETED", at=moment)
        if job.on_completed is not None:
            job.on_completed(job)

    def _transition(
        self,
        job: RestoreJob,
        status: str,
        message: str | None = None,
        next_step: datetime | None = None,
        at: datetime | None = None,
    ) -> None:
        with self._lock:
            job.status = status
            job.status_message = message
            job.next_step = next_step
            if status in ("COMPLETED", "FAILED"):
                job.completion_date = at or now()
        self._emit_restore(job)
        CLOCK.reschedule()

    def _emit_restore(self, job: RestoreJob) -> None:
        self._emit("Restore Job State Change", job.event(), [job.point.arn])

    def restore_job(self, job_id: str) -> RestoreJob:
        self.catch_up()
        job = self.restores.get(job_id)
        if job is None:
            raise world.BackupNotFound(msg=f"Restore job {job_id} not found")
        return job

    def list_restore_jobs(
        self,
        *,
        status: str | None = None,
        resource_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> list[RestoreJob]:
        """ListRestoreJobs' filters (ByStatus, ByResourceType, ByCreatedAfter/Before)."""
        self.catch_up()
        with self._lock:
            jobs = list(self.restores.values())
        return [
            job
            for job in jobs
            if (status is None or job.status == status)
            and (resource_type is None or job.point.resource_type == resource_type)
            and _created_within(job.creation_date, created_after, created_before)
        ]


def _created_within(created: datetime, after: datetime | None, before: datetime | None) -> bool:
    """The ByCreatedAfter / ByCreatedBefore filters of AWS Backup's list operations (both exclusive)."""
    return (after is None or created > after) and (before is None or created < before)


_engines_lock = threading.Lock()


def engine_for(backend: world.BackupBackend) -> Engine:
    """The engine of a Backup backend, created on first use; kept on the backend so that moto's
    reset of the backend discards it too."""
    with _engines_lock:
        engine = backend.__dict__.get("engine")
        if engine is None:
            engine = backend.__dict__["engine"] = Engine(backend)
        return engine


def backends() -> Iterator[world.BackupBackend]:
    yield from world.backup_backends_all()


def due_job_steps(start: datetime, end: datetime) -> Iterator[Due]:
    """The next step of every unfinished backup and restore job, if it falls at or before ``end``
    (one already past is due at ``start``: the clock jumped over it)."""
    for backend in backends():
        current = engine_for(backend)
        for job_id, when in current.step_dates():
            if when <= end:
                yield Due(max(when, start), STEP_ORDER, f"backup job step {job_id}", _step(current, job_id))


def _step(current: Engine, job_id: str) -> Callable[[], None]:
    def step() -> None:
        current.step(job_id)

    return step


def due_deliveries(start: datetime, end: datetime) -> Iterator[Due]:
    """The five-minute mark at which each engine's queued events and metrics are delivered."""
    for backend in backends():
        current = engine_for(backend)
        when = current.delivery_date()
        if when is not None and when <= end:
            yield Due(max(when, start), DELIVERY_ORDER, "AWS Backup events and metrics", current.deliver)


def _authorize_backup(kind: ResourceKind, job: BackupJob) -> None:
    """BackupFailure with IAM's AccessDenied message (it names the action) unless the job's role may
    do what AWS Backup does to this resource type, and decrypt it where a customer managed key
    encrypts it (AWS Backup Developer Guide, "Access control": the role passed to the job acts on
    the resource; "Encryption for backups in AWS Backup")."""
    who = caller.current()
    for action, resource in kind.backup_permissions(job.resource_name):
        denied = policy.authorize(who, action, resource)
        if denied is not None:
            raise BackupFailure(denied.message)
    key = kind.backup_key(job.resource_name)
    if key is not None:
        service, key_id = key
        denied = key_usage.denial("kms:Decrypt", key_id, service, kind.account_id, kind.region)
        if denied is not None:
            raise BackupFailure(denied.message)
