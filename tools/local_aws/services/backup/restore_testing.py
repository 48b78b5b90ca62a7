"""AWS Backup restore testing: plans, selections, scheduled restore tests, validation and clean-up.

moto 5.2.5 has no restore testing. Here a plan's ``ScheduleExpression`` is a timer source of the
emulator's clock (``due_restore_tests``). When it falls due, each selection of the plan picks, per
protected resource ARN, a COMPLETED recovery point of that resource created within
``SelectionWindowDays`` in the plan's included (and not excluded) vaults -- the newest one for
``LATEST_WITHIN_WINDOW``, any one for ``RANDOM_WITHIN_WINDOW`` -- and starts a restore job through
the backup engine (``jobs.Engine.start_restore_job``) into a generated name
(``awsbackup-restore-test-<id>``, as AWS Backup names restore-test copies), with the recovery
point's restore metadata and the selection's ``RestoreMetadataOverrides`` (keys matched without
regard to case, as AWS does). The job is ``CreatedBy`` the plan: DescribeRestoreJob shows
``CreatedBy.RestoreTestingPlanArn``, and the "Restore Job State Change" events carry
``restoreTestingPlanArn`` in their detail, so a validation rule filtering on it matches.

``PutRestoreValidationResult`` stores ValidationStatus / ValidationStatusMessage on the job. A final
status (SUCCESSFUL, FAILED, TIMED_OUT) deletes the copy at once; otherwise the copy is deleted when
the selection's ``ValidationWindowHours`` after the job's completion pass on the clock (a pending
VALIDATING becomes TIMED_OUT). DeletionStatus / DeletionStatusMessage say how that went: an Aurora
copy is restored without any DB instance, and if the validation added one that is not ``deleting``
by then, Aurora refuses to delete the cluster and the deletion FAILED.
Restore tests of DynamoDB tables and Aurora clusters are emulated; selections by wildcard or
``ProtectedResourceConditions``, and other resource types, are refused when they are created.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lib import schedules

from ... import world
from ...clock import CLOCK, Due
from ...pipeline import caller
from . import jobs as backup_engine
from .jobs import BACKUP_SERVICE
from .recovery_points import RecoveryPoint, without_empty
from .resources import AuroraClusters, BackupFailure, DynamoDBTables, kind_of

logger = logging.getLogger(__name__)

RUN_ORDER = 22  # after the backup plans (20) and retention (21) of the same instant
CLEANUP_ORDER = 23
COPY_PREFIX = "awsbackup-restore-test-"
SUPPORTED_TYPES = ("Aurora", "DynamoDB")
FINAL_VALIDATION = ("SUCCESSFUL", "FAILED", "TIMED_OUT")
VALIDATION_STATUSES = (*FINAL_VALIDATION, "VALIDATING")
# The restore metadata key that names the new resource, per resource type.
NAME_KEYS = {"DynamoDB": "targetTableName", "Aurora": "DBClusterIdentifier"}
DEFAULT_SELECTION_WINDOW_DAYS = 30
DEFAULT_VALIDATION_WINDOW_HOURS = 0


@dataclass
class RestoreTestingPlan:
    name: str
    arn: str
    schedule_expression: str
    schedule_timezone: str
    start_window_hours: int
    recovery_point_selection: dict[str, Any]
    creator_request_id: str | None
    creation_time: datetime
    last_update_time: datetime
    last_execution_time: datetime | None = None

    def describe(self) -> dict[str, Any]:
        return without_empty(
            {
                "RestoreTestingPlanName": self.name,
                "RestoreTestingPlanArn": self.arn,
                "ScheduleExpression": self.schedule_expression,
                "ScheduleExpressionTimezone": self.schedule_timezone,
                "StartWindowHours": self.start_window_hours,
                "RecoveryPointSelection": self.recovery_point_selection,
                "CreatorRequestId": self.creator_request_id,
                "CreationTime": self.creation_time,
                "LastUpdateTime": self.last_update_time,
                "LastExecutionTime": self.last_execution_time,
            }
        )

    def summary(self) -> dict[str, Any]:
        described = self.describe()
        described.pop("RecoveryPointSelection")
        described.pop("CreatorRequestId", None)
        return described


@dataclass
class RestoreTestingSelection:
    plan_name: str
    name: str
    protected_resource_type: str
    protected_resource_arns: list[str]
    iam_role_arn: str
    restore_metadata_overrides: dict[str, str]
    validation_window_hours: int
    creator_request_id: str | None
    creation_time: datetime

    def describe(self) -> dict[str, Any]:
        return without_empty(
            {
                "RestoreTestingPlanName": self.plan_name,
                "RestoreTestingSelectionName": self.name,
                "ProtectedResourceType": self.protected_resource_type,
                "ProtectedResourceArns": self.protected_resource_arns,
                "IamRoleArn": self.iam_role_arn,
                "RestoreMetadataOverrides": self.restore_metadata_overrides or None,
                "ValidationWindowHours": self.validation_window_hours,
                "CreatorRequestId": self.creator_request_id,
                "CreationTime": self.creation_time,
            }
        )

    def summary(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in self.describe().items()
            if key
            in (
                "CreationTime",
                "IamRoleArn",
                "ProtectedResourceType",
                "RestoreTestingPlanName",
                "RestoreTestingSelectionName",
                "ValidationWindowHours",
            )
        }


@dataclass
class RestoreTests:
    """The restore testing plans and selections of one account and region, and the copies they made."""

    backend: world.BackupBackend
    plans: dict[str, RestoreTestingPlan] = field(default_factory=dict)
    selections: dict[tuple[str, str], RestoreTestingSelection] = field(default_factory=dict)
    # restore job id -> when its copy is deleted if no final validation arrives first
    cleanups: dict[str, datetime] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def engine(self) -> backup_engine.Engine:
        return backup_engine.engine_for(self.backend)

    # plans

    def create_plan(self, plan: dict[str, Any], creator_request_id: str | None = None) -> RestoreTestingPlan:
        name = str(plan.get("RestoreTestingPlanName", ""))
        if not name or not name.replace("_", "").isalnum():
            raise world.BackupInvalidParameterValue(
                msg=f"Invalid RestoreTestingPlanName {name!r}: only letters, digits and underscores are allowed"
            )
        selection = plan.get("RecoveryPointSelection") or {}
        for key in ("Algorithm", "IncludeVaults", "RecoveryPointTypes"):
            if not selection.get(key):
                raise world.BackupInvalidParameterValue(msg=f"RecoveryPointSelection.{key} is required")
        try:
            schedules.occurrences(plan.get("ScheduleExpression", ""), _now(), _now(), _now())
        except schedules.ScheduleError as error:
            raise world.BackupInvalidParameterValue(msg=str(error)) from None
        with self._lock:
            if name in self.plans:
                raise world.BackupAlreadyExists(msg=f"Restore testing plan {name} already exists")
            suffix = world.random_string(6)
            created = _now()
            self.plans[name] = RestoreTestingPlan(
                name=name,
                arn=f"arn:aws:backup:{self.backend.region_name}:{self.backend.account_id}:restore-testing-plan:{name}-{suffix}",
                schedule_expression=plan["ScheduleExpression"],
                schedule_timezone=plan.get("ScheduleExpressionTimezone") or "Etc/UTC",
                start_window_hours=int(plan.get("StartWindowHours") or 24),
                recovery_point_selection=dict(selection),
                creator_request_id=creator_request_id,
                creation_time=created,
                last_update_time=created,
            )
            return self.plans[name]

    def plan(self, name: str) -> RestoreTestingPlan:
        plan = self.plans.get(name)
        if plan is None:
            raise world.BackupNotFound(msg=f"Restore testing plan {name} not found")
        return plan

    def delete_plan(self, name: str) -> str:
        with self._lock:
            plan = self.plan(name)
            if any(plan_name == name for plan_name, _ in self.selections):
                raise world.BackupInvalidRequest(
                    msg=f"Restore testing plan {name} has restore testing selections; delete them first"
                )
            del self.plans[name]
            return plan.arn

    # selections

    def create_selection(
        self, plan_name: str, selection: dict[str, Any], creator_request_id: str | None = None
    ) -> RestoreTestingSelection:
        plan = self.plan(plan_name)
        name = str(selection.get("RestoreTestingSelectionName", ""))
        if not name or not name.replace("_", "").isalnum():
            raise world.BackupInvalidParameterValue(
                msg=f"Invalid RestoreTestingSelectionName {name!r}: only letters, digits and underscores are allowed"
            )
        resource_type = selection.get("ProtectedResourceType", "")
        if resource_type not in SUPPORTED_TYPES:
            raise world.BackupInvalidParameterValue(
                msg=f"ProtectedResourceType {resource_type!r}: the emulator restore-tests {', '.join(SUPPORTED_TYPES)}"
            )
        arns = list(selection.get("ProtectedResourceArns") or [])
        if not arns or any("*" in arn for arn in arns) or selection.get("ProtectedResourceConditions"):
            raise world.BackupInvalidParameterValue(
                msg="The emulator selects restore-test resources by ARN only: name each one in ProtectedResourceArns"
            )
        for arn in arns:
            if kind_of(arn).resource_type != resource_type:
                raise world.BackupInvalidParameterValue(msg=f"{arn} is not a {resource_type} resource")
        with self._lock:
            if (plan.name, name) in self.selections:
                raise world.BackupAlreadyExists(msg=f"Restore testing selection {name} already exists")
            created = RestoreTestingSelection(
                plan_name=plan.name,
                name=name,
                protected_resource_type=resource_type,
                protected_resource_arns=arns,
                iam_role_arn=selection.get("IamRoleArn", ""),
                restore_metadata_overrides=dict(selection.get("RestoreMetadataOverrides") or {}),
                validation_window_hours=int(selection.get("ValidationWindowHours", DEFAULT_VALIDATION_WINDOW_HOURS)),
                creator_request_id=creator_request_id,
                creation_time=_now(),
            )
            self.selections[(plan.name, name)] = created
            return created

    def selection(self, plan_name: str, name: str) -> RestoreTestingSelection:
        self.plan(plan_name)
        found = self.selections.get((plan_name, name))
        if found is None:
            raise world.BackupNotFound(msg=f"Restore testing selection {name} not found in plan {plan_name}")
        return found

    def selections_of(self, plan_name: str) -> list[RestoreTestingSelection]:
        self.plan(plan_name)
        with self._lock:
            return [selection for (owner, _), selection in self.selections.items() if owner == plan_name]

    def delete_selection(self, plan_name: str, name: str) -> None:
        with self._lock:
            self.selection(plan_name, name)
            del self.selections[(plan_name, name)]

    # runs

    def run(self, plan: RestoreTestingPlan) -> list[backup_engine.RestoreJob]:
        """One scheduled run: a restore job per protected resource that has an eligible point."""
        with self._lock:
            if self.plans.get(plan.name) is not plan:  # deleted earlier in the window
                return []
            plan.last_execution_time = _now()
            selections = self.selections_of(plan.name)
        jobs = []
        for selection in selections:
            for arn in selection.protected_resource_arns:
                point = self._pick(plan, arn)
                if point is None:
                    logger.warning("restore testing plan %s: no eligible recovery point of %s", plan.name, arn)
                    continue
                job = self.engine.start_restore_job(
                    point.arn,
                    _metadata(point, selection),
                    selection.iam_role_arn,
                    created_by={"RestoreTestingPlanArn": plan.arn},
                    on_completed=self._validation_window(selection),
                )
                jobs.append(job)
        return jobs

    def _validation_window(self, selection: RestoreTestingSelection) -> Callable[[backup_engine.RestoreJob], None]:
        """What opens a restored copy's validation window once its restore job has completed."""

        def open_window(job: backup_engine.RestoreJob) -> None:
            if job.validation_status in FINAL_VALIDATION:
                return
            with self._lock:
                deadline = (job.completion_date or _now()) + timedelta(hours=selection.validation_window_hours)
                if job.deletion_status is None:
                    self.cleanups[job.job_id] = deadline
            CLOCK.reschedule()

        return open_window

    def _pick(self, plan: RestoreTestingPlan, resource_arn: str) -> RecoveryPoint | None:
        selection = plan.recovery_point_selection
        include, exclude = selection.get("IncludeVaults") or [], selection.get("ExcludeVaults") or []
        window = timedelta(days=int(selection.get("SelectionWindowDays") or DEFAULT_SELECTION_WINDOW_DAYS))
        earliest = _now() - window
        candidates = [
            point
            for point in self.engine.recovery_points_of(resource_arn)
            if point.status == "COMPLETED"
            and point.creation_date >= earliest
            and _vault_matches(point.vault, include)
            and not (exclude and _vault_matches(point.vault, exclude))
        ]
        if not candidates:
            return None
        if selection.get("Algorithm") == "RANDOM_WITHIN_WINDOW":
            return random.choice(candidates)
        return max(candidates, key=lambda point: point.creation_date)

    # validation and clean-up

    def put_validation_result(self, job_id: str, status: str, message: str | None) -> None:
        if status not in VALIDATION_STATUSES:
            raise world.BackupInvalidParameterValue(
                msg=f"ValidationStatus must be one of {', '.join(VALIDATION_STATUSES)}"
            )
        job = self.engine.restore_job(job_id)
        if not job.created_by:
            raise world.BackupInvalidRequest(msg=f"Restore job {job_id} was not started by a restore testing plan")
        if job.status != "COMPLETED":
            raise world.BackupInvalidRequest(msg=f"Restore job {job_id} is {job.status}, not COMPLETED")
        with self._lock:
            if job.deletion_status is not None:
                raise world.BackupInvalidRequest(msg=f"The validation window of restore job {job_id} has closed")
            job.validation_status, job.validation_status_message = status, message
        if status in FINAL_VALIDATION:
            self.delete_copy(job_id)

    def delete_copy(self, job_id: str) -> None:
        """Delete what a restore test created (once): the validation is over or its window closed."""
        job = self.engine.restore_job(job_id)
        with self._lock:
            self.cleanups.pop(job_id, None)
            if job.deletion_status is not None or job.created_resource_arn is None:
                return
            if job.validation_status == "VALIDATING":  # the window closed before a final result
                job.validation_status = "TIMED_OUT"
            job.deletion_status = "DELETING"
        try:
            with caller.acting_as(caller.service_caller(job.iam_role_arn, BACKUP_SERVICE)):
                _delete_resource(self.backend.account_id, self.backend.region_name, job.created_resource_arn)
        except Exception as error:
            logger.exception("restore test copy %s could not be deleted", job.created_resource_arn)
            job.deletion_status, job.deletion_status_message = "FAILED", f"{type(error).__name__}: {error}"
            return
        job.deletion_status = "SUCCESSFUL"
        job.deletion_status_message = f"Deleted {job.created_resource_arn}"

    def cleanup_dates(self) -> list[tuple[str, datetime]]:
        with self._lock:
            return list(self.cleanups.items())


def _now() -> datetime:
    return CLOCK.now()


def _vault_matches(vault: Any, patterns: list[str]) -> bool:
    return any(pattern == "*" or pattern in (vault.backup_vault_arn, vault.backup_vault_name) for pattern in patterns)


def _metadata(point: RecoveryPoint, selection: RestoreTestingSelection) -> dict[str, str]:
    """The point's restore metadata, a generated name for the copy, then the selection's overrides
    (whose keys AWS matches without regard to case: they take the point's spelling)."""
    metadata = dict(point.restore_metadata)
    name_key = NAME_KEYS[point.resource_type]
    metadata[name_key] = COPY_PREFIX + world.random_hex(12)
    spelled = {key.lower(): key for key in metadata}
    for key, value in selection.restore_metadata_overrides.items():
        metadata[spelled.get(key.lower(), key)] = value
    return metadata


def _delete_resource(account_id: str, region: str, arn: str) -> None:
    kind = kind_of(arn)
    name = kind.name_in(arn) or ""
    if kind is DynamoDBTables:
        world.delete_table(account_id, region, name)
    elif kind is AuroraClusters:
        # Only the cluster AWS Backup restored: an instance someone added and did not delete makes
        # Aurora refuse (InvalidDBClusterStateFault), and the deletion fails as it does on AWS.
        world.delete_cluster(account_id, region, name)
    else:
        raise BackupFailure(f"Restore-test copies of {kind.resource_type} are not emulated")


_stores_lock = threading.Lock()


def tests_for(backend: world.BackupBackend) -> RestoreTests:
    """The restore testing store of a Backup backend, kept on it (moto's reset discards it too)."""
    with _stores_lock:
        store = backend.__dict__.get("restore_tests")
        if store is None:
            store = backend.__dict__["restore_tests"] = RestoreTests(backend)
        return store


def _stores() -> Iterator[RestoreTests]:
    for backend in world.backup_backends_all():
        store = backend.__dict__.get("restore_tests")
        if store is not None:
            yield store


def due_restore_tests(start: datetime, end: datetime) -> Iterator[Due]:
    """Timer source: every run of every restore testing plan in ``(start, end]`` (a rate counts from
    the plan's creation), and every copy whose validation window ends by ``end``."""
    for store in _stores():
        for plan in list(store.plans.values()):
            if plan.schedule_timezone not in ("Etc/UTC", "UTC"):
                logger.warning(
                    "restore testing plan %s: time zone %s is read as UTC", plan.name, plan.schedule_timezone
                )
            try:
                moments = schedules.occurrences(plan.schedule_expression, start, end, plan.creation_time)
            except schedules.ScheduleError as error:
                logger.warning("restore testing plan %s: %s", plan.name, error)
                continue
            for moment in moments:
                yield Due(moment, RUN_ORDER, f"restore testing plan {plan.name}", _runner(store, plan))
        for job_id, deadline in store.cleanup_dates():
            if deadline <= end:
                yield Due(
                    max(deadline, start), CLEANUP_ORDER, f"restore test copy of job {job_id}", _cleaner(store, job_id)
                )


def _runner(store: RestoreTests, plan: RestoreTestingPlan) -> Callable[[], None]:
    def run() -> None:
        store.run(plan)

    return run


def _cleaner(store: RestoreTests, job_id: str) -> Callable[[], None]:
    def clean() -> None:
        store.delete_copy(job_id)

    return clean


def as_json(value: Any) -> str:
    """A Backup API answer (dates as epoch seconds)."""
    return json.dumps(value, default=lambda moment: moment.astimezone(UTC).timestamp())
