"""AWS Backup support: CloudFormation models for vault, plan and selection; the selection API; backup
and restore jobs, plan schedules and retention (the data plane
is the rest of this package: ``jobs``, ``resources``, ``recovery_points``, ``plans``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import unquote

from moto.backup import urls as backup_urls
from moto.backup.exceptions import (
    AlreadyExistsException,
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from moto.backup.models import BackupBackend, Plan, Vault, backup_backends
from moto.backup.responses import BackupResponse
from moto.core.responses import EmptyResult
from moto.core.utils import unix_time
from moto.moto_api._internal import mock_random

from ...clock import CLOCK, Due
from ...patches._support import ModelLogic, Properties, after_create, fix, install, register_model
from . import jobs as backup_engine
from . import plans, restore_testing
from .recovery_points import RecoveryPoint


def _backend(account_id: str, region_name: str) -> BackupBackend:
    return backup_backends[account_id][region_name]


class BackupVaultModel(ModelLogic):
    """``AWS::Backup::BackupVault``: name, encryption key, tags."""

    cfn_type: ClassVar[str] = "AWS::Backup::BackupVault"
    cfn_name_property: ClassVar[str] = "BackupVaultName"

    cfn_attributes: ClassVar[dict[str, str]] = {
        "BackupVaultName": "vault.backup_vault_name",
        "BackupVaultArn": "vault.backup_vault_arn",
    }

    def __init__(self, vault: Vault):
        self.vault = vault

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> BackupVaultModel:
        vault = _backend(account_id, region_name).create_backup_vault(
            backup_vault_name=resource_name,
            backup_vault_tags=properties.get("BackupVaultTags"),
            encryption_key_arn=properties.get("EncryptionKeyArn"),
            creator_request_id=None,  # type: ignore[arg-type]
        )
        return cls(vault)

    @property
    def physical_resource_id(self) -> str:
        return self.vault.backup_vault_name

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).delete_backup_vault(self.vault.backup_vault_name)


def _api_backup_plan(template_plan: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's ``BackupPlan`` in the API's shape (Rules, TargetBackupVaultName)."""
    plan = {key: value for key, value in template_plan.items() if key != "BackupPlanRule"}
    plan["Rules"] = [
        {("TargetBackupVaultName" if key == "TargetBackupVault" else key): value for key, value in rule.items()}
        for rule in template_plan["BackupPlanRule"]
    ]
    return plan


class BackupPlanModel(ModelLogic):
    """``AWS::Backup::BackupPlan``: rules with schedule, windows, lifecycle and target vault."""

    cfn_type: ClassVar[str] = "AWS::Backup::BackupPlan"

    cfn_attributes: ClassVar[dict[str, str]] = {
        "BackupPlanId": "plan.backup_plan_id",
        "BackupPlanArn": "plan.backup_plan_arn",
        "VersionId": "plan.version_id",
    }

    def __init__(self, plan: Plan):
        self.plan = plan

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> BackupPlanModel:
        plan = _backend(account_id, region_name).create_backup_plan(
            backup_plan=_api_backup_plan(properties["BackupPlan"]),
            backup_plan_tags=properties.get("BackupPlanTags"),
            creator_request_id=None,  # type: ignore[arg-type]
        )
        return cls(plan)

    @property
    def physical_resource_id(self) -> str:
        return self.plan.backup_plan_id

    def delete(self, account_id: str, region_name: str) -> None:
        if self.plan.deletion_date is None:
            _backend(account_id, region_name).delete_backup_plan(self.plan.backup_plan_id)


@fix("R8")
def add_backup_vault_and_plan_models() -> None:
    """``AWS::Backup::BackupVault`` and ``BackupPlan`` have no moto model.

    ``Fn::GetAtt`` of the plan id or vault name fails the deploy (and without outputs, both were
    silently skipped). Both are now created through moto's Backup API; the plan's CloudFormation
    rules are translated to the API's shape. Deleting a plan marks it deleted, as in AWS.
    """
    register_model(BackupVaultModel, "backup")
    register_model(BackupPlanModel, "backup")


@fix("R11")
def allow_plan_names_of_deleted_plans() -> None:
    """moto refuses a new backup plan whose name a *deleted* plan had (AlreadyExistsException).

    A deploy after ``cdk destroy`` on the same server therefore failed. Only live plans count now.
    """

    def create_backup_plan(
        backend: BackupBackend, backup_plan: dict[str, Any], backup_plan_tags: dict[str, str], creator_request_id: str
    ) -> Plan:
        name = backup_plan["BackupPlanName"]
        if any(p.backup_plan["BackupPlanName"] == name and p.deletion_date is None for p in backend.plans.values()):
            raise AlreadyExistsException(msg="Backup plan with the same plan document already exists")
        plan = Plan(backup_plan=backup_plan, creator_request_id=creator_request_id, backend=backend)
        if backup_plan_tags:
            backend.tag_resource(plan.backup_plan_arn, backup_plan_tags)
        backend.plans[plan.backup_plan_id] = plan
        return plan

    install(BackupBackend, "create_backup_plan", create_backup_plan)


class BackupSelection:
    """One backup selection of a plan, as the Backup API returns it."""

    def __init__(self, plan_id: str, selection: dict[str, Any], creator_request_id: str | None):
        self.selection_id = str(mock_random.uuid4())
        self.plan_id = plan_id
        self.selection = selection
        self.creator_request_id = creator_request_id
        self.creation_date = unix_time()

    def summary(self) -> dict[str, Any]:
        return {
            "SelectionId": self.selection_id,
            "SelectionName": self.selection["SelectionName"],
            "BackupPlanId": self.plan_id,
            "CreationDate": self.creation_date,
            "CreatorRequestId": self.creator_request_id,
            "IamRoleArn": self.selection["IamRoleArn"],
        }


def _selections(backend: BackupBackend, plan_id: str) -> dict[str, BackupSelection]:
    """The selections of a live plan (ResourceNotFound otherwise), created on first use."""
    plan = backend.plans.get(plan_id)
    if plan is None or plan.deletion_date is not None:
        raise ResourceNotFoundException(msg=f"Backup plan {plan_id} not found")
    store: dict[str, dict[str, BackupSelection]] = backend.__dict__.setdefault("backup_selections", {})
    return store.setdefault(plan_id, {})


def _create_backup_selection(
    backend: BackupBackend, plan_id: str, selection: dict[str, Any], creator_request_id: str | None
) -> BackupSelection:
    created = BackupSelection(plan_id, selection, creator_request_id)
    _selections(backend, plan_id)[created.selection_id] = created
    return created


def _get_backup_selection(backend: BackupBackend, plan_id: str, selection_id: str) -> BackupSelection:
    selection = _selections(backend, plan_id).get(selection_id)
    if selection is None:
        raise ResourceNotFoundException(msg=f"Backup selection {selection_id} not found")
    return selection


def _delete_backup_selection(backend: BackupBackend, plan_id: str, selection_id: str) -> None:
    _get_backup_selection(backend, plan_id, selection_id)
    del _selections(backend, plan_id)[selection_id]


def _create_backup_selection_response(response: BackupResponse) -> str:
    body = json.loads(response.body)
    created = response.backup_backend.create_backup_selection(  # type: ignore[attr-defined]
        response.uri_match["backupPlanId"], body["BackupSelection"], body.get("CreatorRequestId")
    )
    summary = created.summary()
    return json.dumps({key: summary[key] for key in ("SelectionId", "BackupPlanId", "CreationDate")})


def _get_backup_selection_response(response: BackupResponse) -> str:
    selection = response.backup_backend.get_backup_selection(  # type: ignore[attr-defined]
        response.uri_match["backupPlanId"], response.uri_match["selectionId"]
    )
    summary = selection.summary()
    del summary["SelectionName"], summary["IamRoleArn"]
    return json.dumps({**summary, "BackupSelection": selection.selection})


def _list_backup_selections_response(response: BackupResponse) -> str:
    selections = _selections(response.backup_backend, response.uri_match["backupPlanId"])
    return json.dumps({"BackupSelectionsList": [s.summary() for s in selections.values()]})


def _delete_backup_selection_response(response: BackupResponse) -> EmptyResult:
    response.backup_backend.delete_backup_selection(  # type: ignore[attr-defined]
        response.uri_match["backupPlanId"], response.uri_match["selectionId"]
    )
    return EmptyResult()


class BackupSelectionModel(ModelLogic):
    """``AWS::Backup::BackupSelection``: which resources a plan backs up, with which role."""

    cfn_type: ClassVar[str] = "AWS::Backup::BackupSelection"

    cfn_attributes: ClassVar[dict[str, str]] = {
        "SelectionId": "selection.selection_id",
        "BackupPlanId": "selection.plan_id",
    }

    def __init__(self, selection: BackupSelection):
        self.selection = selection

    @classmethod
    def create(
        cls, resource_name: str, properties: Properties, account_id: str, region_name: str
    ) -> BackupSelectionModel:
        selection = _create_backup_selection(
            _backend(account_id, region_name), properties["BackupPlanId"], properties["BackupSelection"], None
        )
        return cls(selection)

    @property
    def physical_resource_id(self) -> str:
        return self.selection.selection_id

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        plan = backend.plans.get(self.selection.plan_id)
        if plan is not None and plan.deletion_date is None:
            _selections(backend, self.selection.plan_id).pop(self.selection.selection_id, None)


@fix("N6")
def add_backup_selections() -> None:
    """moto 5.2.5 has no backup selections: no API (ListBackupSelections answers HTTP 500
    NotImplementedError) and no ``AWS::Backup::BackupSelection`` model.

    Selections are now stored per live plan with Create/Get/List/DeleteBackupSelection, and the
    CloudFormation resource creates one, so what a plan backs up can be read back.
    """
    install(BackupBackend, "create_backup_selection", _create_backup_selection)
    install(BackupBackend, "get_backup_selection", _get_backup_selection)
    install(BackupBackend, "delete_backup_selection", _delete_backup_selection)
    install(BackupResponse, "create_backup_selection", _create_backup_selection_response)
    install(BackupResponse, "get_backup_selection", _get_backup_selection_response)
    install(BackupResponse, "list_backup_selections", _list_backup_selections_response)
    install(BackupResponse, "delete_backup_selection", _delete_backup_selection_response)
    register_model(BackupSelectionModel, "backup")


# --- backup jobs, recovery points and restores (the data plane lives in jobs.py) ---------------


def _json(value: Any) -> str:
    """A Backup API answer: dates as epoch seconds, as the rest-json protocol sends them."""
    return json.dumps(value, default=lambda moment: moment.timestamp())


def _body(response: BackupResponse) -> dict[str, Any]:
    return json.loads(response.body or "{}")


def _query(response: BackupResponse, name: str) -> str | None:
    values = response.querystring.get(name)
    return values[0] if values else None


def _query_time(response: BackupResponse, name: str) -> datetime | None:
    """A timestamp query parameter (ISO 8601, as botocore sends it, or epoch seconds)."""
    text = _query(response, name)
    if text is None:
        return None
    try:
        moment = datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _engine(response: BackupResponse) -> backup_engine.Engine:
    return backup_engine.engine_for(response.backup_backend)


def _page(response: BackupResponse, items: list[Any], key: str, shape: Callable[[Any], dict[str, Any]]) -> str:
    """One page of a list: ``maxResults`` items from the position ``nextToken`` names."""
    token = _query(response, "nextToken")
    start = 0
    if token is not None:
        if not token.isdigit() or int(token) > len(items):
            raise InvalidParameterValueException(msg=f"Invalid NextToken: {token}")
        start = int(token)
    size = int(_query(response, "maxResults") or backup_engine.DEFAULT_MAX_RESULTS)
    if not 1 <= size <= backup_engine.DEFAULT_MAX_RESULTS:
        raise InvalidParameterValueException(
            msg=f"MaxResults must be between 1 and {backup_engine.DEFAULT_MAX_RESULTS}"
        )
    answer: dict[str, Any] = {key: [shape(item) for item in items[start : start + size]]}
    if start + size < len(items):
        answer["NextToken"] = str(start + size)
    return _json(answer)


def _start_backup_job(response: BackupResponse) -> str:
    body = _body(response)
    job = _engine(response).start_backup_job(
        body["BackupVaultName"],
        body["ResourceArn"],
        body["IamRoleArn"],
        lifecycle=body.get("Lifecycle"),
        recovery_point_tags=body.get("RecoveryPointTags"),
        idempotency_token=body.get("IdempotencyToken"),
        start_window_minutes=body.get("StartWindowMinutes"),
        complete_window_minutes=body.get("CompleteWindowMinutes"),
    )
    # RecoveryPointArn "is only returned for Amazon EFS and Advanced DynamoDB resources"; the
    # emulator backs up neither, so it answers like AWS does for Aurora, DynamoDB and S3.
    return _json({"BackupJobId": job.job_id, "CreationDate": job.creation_date, "IsParent": False})


def _describe_backup_job(response: BackupResponse) -> str:
    return _json(_engine(response).backup_job(response.uri_match["backupJobId"]).describe())


def _list_backup_jobs(response: BackupResponse) -> str:
    jobs = _engine(response).list_backup_jobs(
        resource_arn=_query(response, "resourceArn"),
        state=_query(response, "state"),
        vault_name=_query(response, "backupVaultName"),
        created_after=_query_time(response, "createdAfter"),
        created_before=_query_time(response, "createdBefore"),
        resource_type=_query(response, "resourceType"),
    )
    return _page(response, jobs, "BackupJobs", backup_engine.BackupJob.describe)


def _stop_backup_job(response: BackupResponse) -> EmptyResult:
    _engine(response).stop_backup_job(response.uri_match["backupJobId"])
    return EmptyResult()


def _list_recovery_points_by_backup_vault(response: BackupResponse) -> str:
    points = _engine(response).recovery_points(
        unquote(response.uri_match["backupVaultName"]),
        _query(response, "resourceArn"),
        resource_type=_query(response, "resourceType"),
        plan_id=_query(response, "backupPlanId"),
        created_after=_query_time(response, "createdAfter"),
        created_before=_query_time(response, "createdBefore"),
    )
    return _page(response, points, "RecoveryPoints", RecoveryPoint.describe)


def _list_recovery_points_by_resource(response: BackupResponse) -> str:
    points = _engine(response).recovery_points_of(unquote(response.uri_match["resourceArn"]))
    return _page(response, points, "RecoveryPoints", RecoveryPoint.describe_by_resource)


def _point(response: BackupResponse) -> RecoveryPoint:
    return _engine(response).recovery_point(
        unquote(response.uri_match["backupVaultName"]), unquote(response.uri_match["recoveryPointArn"])
    )


def _describe_recovery_point(response: BackupResponse) -> str:
    return _json(_point(response).describe())


def _delete_recovery_point(response: BackupResponse) -> EmptyResult:
    _engine(response).delete_recovery_point(
        unquote(response.uri_match["backupVaultName"]), unquote(response.uri_match["recoveryPointArn"])
    )
    return EmptyResult()


# The paths of the operations above; moto 5.2.5 routes none of them to the Backup service.
# (A list operation's path ends with "/", its create's does not: both are routed explicitly.)
JOB_AND_POINT_PATHS = {
    "{0}/backup-jobs$": BackupResponse.dispatch,
    "{0}/backup-jobs/$": BackupResponse.dispatch,
    "{0}/backup-jobs/(?P<backupJobId>[^/]+)$": BackupResponse.dispatch,
    "{0}/backup-vaults/(?P<backupVaultName>[^/]+)/recovery-points/$": BackupResponse.dispatch,
    "{0}/backup-vaults/(?P<backupVaultName>[^/]+)/recovery-points/(?P<recoveryPointArn>.+)$": BackupResponse.dispatch,
    "{0}/resources/(?P<resourceArn>.+)/recovery-points/$": BackupResponse.dispatch,
}


@fix("D10")
def run_backup_jobs_into_recovery_points() -> None:
    """moto 5.2.5 has no backup jobs or recovery points: StartBackupJob, ListBackupJobs,
    ListRecoveryPointsByBackupVault and the rest answer 404, so nothing is ever backed up.

    A backup job now copies the resource (DynamoDB table, S3 bucket with every version, Aurora
    database dump) into a recovery point of the vault, taking time on the clock as on AWS (CREATED,
    PENDING, RUNNING, COMPLETED; EXPIRED outside its start or completion window), and sends the
    "Backup Job State Change" and "Recovery Point State Change" events and the ``AWS/Backup``
    metrics every five minutes; jobs and points can be described, listed (with filters and pages),
    stopped and deleted (``jobs``); DescribeBackupVault reports
    NumberOfRecoveryPoints.
    """
    CLOCK.register(backup_engine.due_job_steps)
    CLOCK.register(backup_engine.due_deliveries)
    install(backup_urls, "url_paths", {**backup_urls.url_paths, **JOB_AND_POINT_PATHS})
    install(Vault, "number_of_recovery_points", property(lambda vault: vault.num_of_recovery_points))
    install(BackupResponse, "start_backup_job", _start_backup_job)
    install(BackupResponse, "describe_backup_job", _describe_backup_job)
    install(BackupResponse, "list_backup_jobs", _list_backup_jobs)
    install(BackupResponse, "stop_backup_job", _stop_backup_job)
    install(BackupResponse, "list_recovery_points_by_backup_vault", _list_recovery_points_by_backup_vault)
    install(BackupResponse, "list_recovery_points_by_resource", _list_recovery_points_by_resource)
    install(BackupResponse, "describe_recovery_point", _describe_recovery_point)
    install(BackupResponse, "delete_recovery_point", _delete_recovery_point)


def _get_recovery_point_restore_metadata(response: BackupResponse) -> str:
    point = _point(response)
    return _json(
        {
            "BackupVaultArn": point.vault.backup_vault_arn,
            "RecoveryPointArn": point.arn,
            "RestoreMetadata": point.restore_metadata,
            "ResourceType": point.resource_type,
        }
    )


def _start_restore_job(response: BackupResponse) -> str:
    body = _body(response)
    job = _engine(response).start_restore_job(
        body["RecoveryPointArn"],
        body["Metadata"],
        body.get("IamRoleArn", ""),
        resource_type=body.get("ResourceType"),
        idempotency_token=body.get("IdempotencyToken"),
    )
    return _json({"RestoreJobId": job.job_id})


def _describe_restore_job(response: BackupResponse) -> str:
    return _json(_engine(response).restore_job(response.uri_match["restoreJobId"]).describe())


def _list_restore_jobs(response: BackupResponse) -> str:
    jobs = _engine(response).list_restore_jobs(
        status=_query(response, "status"),
        resource_type=_query(response, "resourceType"),
        created_after=_query_time(response, "createdAfter"),
        created_before=_query_time(response, "createdBefore"),
    )
    return _page(response, jobs, "RestoreJobs", backup_engine.RestoreJob.describe)


RESTORE_PATHS = {
    "{0}/restore-jobs$": BackupResponse.dispatch,
    "{0}/restore-jobs/$": BackupResponse.dispatch,
    "{0}/restore-jobs/(?P<restoreJobId>[^/]+)$": BackupResponse.dispatch,
}


@fix("D11")
def restore_recovery_points_into_new_resources() -> None:
    """moto 5.2.5 cannot restore: GetRecoveryPointRestoreMetadata, StartRestoreJob,
    DescribeRestoreJob and ListRestoreJobs answer 404.

    A restore job now creates a new resource from a recovery point -- a table named by
    ``targetTableName``, a bucket named by ``DestinationBucketName`` (``NewBucket``), a cluster named by
    ``DBClusterIdentifier`` with the dump loaded -- and ends FAILED with the reason when the name is
    taken, sending "Restore Job State Change" events. Needs D10 (the recovery points).
    """
    install(backup_urls, "url_paths", {**backup_urls.url_paths, **RESTORE_PATHS})
    install(BackupResponse, "get_recovery_point_restore_metadata", _get_recovery_point_restore_metadata)
    install(BackupResponse, "start_restore_job", _start_restore_job)
    install(BackupResponse, "describe_restore_job", _describe_restore_job)
    install(BackupResponse, "list_restore_jobs", _list_restore_jobs)


def _selected(backend: BackupBackend, plan_id: str) -> list[dict[str, Any]]:
    store: dict[str, dict[str, BackupSelection]] = backend.__dict__.get("backup_selections", {})
    return [selection.selection for selection in store.get(plan_id, {}).values()]


def due_plan_rules(start: datetime, end: datetime) -> Iterator[Due]:
    """Timer source: the runs of every backup plan rule in ``(start, end]``."""
    return plans.due_plan_rules(start, end, _selected)


@fix("D12")
def run_backup_plans_on_the_clock() -> None:
    """Backup plans never run in moto: a plan's rule whose schedule falls due starts no job.

    Each rule's ``ScheduleExpression`` is now a timer source of the emulator's clock: when it falls
    due, a backup job starts for every resource ARN the plan's selections name, into the rule's
    vault with its lifecycle and recovery point tags, ``CreatedBy`` the plan and rule. Selections
    by wildcard, tag or condition are refused with a message the clock records.
    """
    CLOCK.register(due_plan_rules)


@fix("D13")
def delete_expired_recovery_points() -> None:
    """Without retention, recovery points would pile up forever: moto has no lifecycle.

    A point whose ``CalculatedLifecycle.DeleteAt`` (creation + the rule's DeleteAfterDays) the clock
    passes is deleted then, as AWS Backup does.
    """
    CLOCK.register(plans.due_expirations)


def _delete_backup_vault(backend: BackupBackend, backup_vault_name: str) -> None:
    if backup_vault_name in backend.vaults and backup_engine.engine_for(backend).recovery_points(backup_vault_name):
        raise InvalidRequestException(msg="Backup vault cannot be deleted because it contains recovery points.")
    backend.vaults.pop(backup_vault_name, None)


@fix("D14")
def keep_vaults_that_hold_recovery_points() -> None:
    """moto deletes a backup vault whatever it holds; AWS refuses while it has recovery points.

    DeleteBackupVault (and CloudFormation's delete of ``AWS::Backup::BackupVault``) now fails with
    InvalidRequestException "Backup vault cannot be deleted because it contains recovery points.",
    which is why the app's vault-cleanup custom resource exists.
    """
    install(BackupBackend, "delete_backup_vault", _delete_backup_vault)


def _lock_vault(model: BackupVaultModel, properties: Properties, account_id: str, region_name: str) -> None:
    lock = properties.get("LockConfiguration")
    if lock:
        _backend(account_id, region_name).put_backup_vault_lock_configuration(
            model.vault.backup_vault_name,
            min_retention_days=lock.get("MinRetentionDays"),
            max_retention_days=lock.get("MaxRetentionDays"),
            changeable_for_days=lock.get("ChangeableForDays"),
        )


@fix("F11")
def apply_vault_lock_configuration() -> None:
    """``AWS::Backup::BackupVault`` dropped ``LockConfiguration``: a vault the template locks read back
    unlocked (ListBackupVaults ``Locked`` false). The lock is now applied through moto's
    PutBackupVaultLockConfiguration; without ChangeableForDays it is governance mode, which
    DeleteBackupVaultLockConfiguration lifts at any time. Needs R8."""
    after_create(BackupVaultModel, _lock_vault)


def _delete_recovery_point_unless_locked(response: BackupResponse) -> EmptyResult:
    vault = response.backup_backend.vaults.get(unquote(response.uri_match["backupVaultName"]))
    if vault is not None and vault.locked:
        raise InvalidRequestException(
            msg=f"Backup vault {vault.backup_vault_name} is locked (Vault Lock): its recovery points cannot "
            "be deleted before their retention ends; delete the vault lock configuration first."
        )
    return _delete_recovery_point(response)


@fix("Q7")
def keep_recovery_points_of_locked_vaults() -> None:
    """A recovery point in a locked vault could be deleted, as if Vault Lock were not there; AWS Backup
    denies every attempt (only the end of the point's retention deletes it).

    DeleteRecoveryPoint in a locked vault now fails with InvalidRequestException (AWS's exact error is
    not documented), so the vault cleanup cannot empty a locked vault and a destroy fails as in AWS.
    Retention (D13) still deletes expired points. Needs D10.
    """
    install(BackupResponse, "delete_recovery_point", _delete_recovery_point_unless_locked)


# --- restore testing (the runner lives in tools/local_aws/restore_testing.py) ------------------


def _restore_tests(response: BackupResponse) -> restore_testing.RestoreTests:
    return restore_testing.tests_for(response.backup_backend)


def _create_restore_testing_plan(response: BackupResponse) -> tuple[int, dict[str, str], str]:
    body = _body(response)
    plan = _restore_tests(response).create_plan(body.get("RestoreTestingPlan") or {}, body.get("CreatorRequestId"))
    if body.get("Tags"):
        response.backup_backend.tag_resource(plan.arn, body["Tags"])
    answer = {
        "CreationTime": plan.creation_time,
        "RestoreTestingPlanArn": plan.arn,
        "RestoreTestingPlanName": plan.name,
    }
    return 201, {}, restore_testing.as_json(answer)


def _get_restore_testing_plan(response: BackupResponse) -> str:
    plan = _restore_tests(response).plan(unquote(response.uri_match["RestoreTestingPlanName"]))
    return restore_testing.as_json({"RestoreTestingPlan": plan.describe()})


def _list_restore_testing_plans(response: BackupResponse) -> str:
    plans = sorted(_restore_tests(response).plans.values(), key=lambda plan: plan.creation_time)
    return restore_testing.as_json({"RestoreTestingPlans": [plan.summary() for plan in plans]})


def _delete_restore_testing_plan(response: BackupResponse) -> str:
    arn = _restore_tests(response).delete_plan(unquote(response.uri_match["RestoreTestingPlanName"]))
    response.backup_backend.tagger.delete_all_tags_for_resource(arn)
    return restore_testing.as_json({"RestoreTestingPlanArn": arn})


def _create_restore_testing_selection(response: BackupResponse) -> tuple[int, dict[str, str], str]:
    body = _body(response)
    tests = _restore_tests(response)
    selection = tests.create_selection(
        unquote(response.uri_match["RestoreTestingPlanName"]),
        body.get("RestoreTestingSelection") or {},
        body.get("CreatorRequestId"),
    )
    answer = {
        "CreationTime": selection.creation_time,
        "RestoreTestingPlanArn": tests.plan(selection.plan_name).arn,
        "RestoreTestingPlanName": selection.plan_name,
        "RestoreTestingSelectionName": selection.name,
    }
    return 201, {}, restore_testing.as_json(answer)


def _get_restore_testing_selection(response: BackupResponse) -> str:
    selection = _restore_tests(response).selection(
        unquote(response.uri_match["RestoreTestingPlanName"]),
        unquote(response.uri_match["RestoreTestingSelectionName"]),
    )
    return restore_testing.as_json({"RestoreTestingSelection": selection.describe()})


def _list_restore_testing_selections(response: BackupResponse) -> str:
    selections = _restore_tests(response).selections_of(unquote(response.uri_match["RestoreTestingPlanName"]))
    return restore_testing.as_json({"RestoreTestingSelections": [selection.summary() for selection in selections]})


def _delete_restore_testing_selection(response: BackupResponse) -> tuple[int, dict[str, str], str]:
    _restore_tests(response).delete_selection(
        unquote(response.uri_match["RestoreTestingPlanName"]),
        unquote(response.uri_match["RestoreTestingSelectionName"]),
    )
    return 204, {}, ""


def _put_restore_validation_result(response: BackupResponse) -> tuple[int, dict[str, str], str]:
    body = _body(response)
    _restore_tests(response).put_validation_result(
        response.uri_match["restoreJobId"], body.get("ValidationStatus", ""), body.get("ValidationStatusMessage")
    )
    return 204, {}, ""


class RestoreTestingPlanModel(ModelLogic):
    """``AWS::Backup::RestoreTestingPlan``: schedule, start window, which recovery points to restore."""

    cfn_type: ClassVar[str] = "AWS::Backup::RestoreTestingPlan"
    cfn_name_property: ClassVar[str] = "RestoreTestingPlanName"

    cfn_attributes: ClassVar[dict[str, str]] = {"RestoreTestingPlanArn": "plan.arn"}

    def __init__(self, plan: restore_testing.RestoreTestingPlan):
        self.plan = plan

    @classmethod
    def create(
        cls, resource_name: str, properties: Properties, account_id: str, region_name: str
    ) -> RestoreTestingPlanModel:
        definition = {key: value for key, value in properties.items() if key != "Tags"}
        plan = restore_testing.tests_for(_backend(account_id, region_name)).create_plan(
            {**definition, "RestoreTestingPlanName": resource_name}
        )
        tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags") or []}
        if tags:
            _backend(account_id, region_name).tag_resource(plan.arn, tags)
        return cls(plan)

    @property
    def physical_resource_id(self) -> str:
        return self.plan.name

    def delete(self, account_id: str, region_name: str) -> None:
        tests = restore_testing.tests_for(_backend(account_id, region_name))
        if tests.plans.get(self.plan.name) is self.plan:
            tests.delete_plan(self.plan.name)
            _backend(account_id, region_name).tagger.delete_all_tags_for_resource(self.plan.arn)


class RestoreTestingSelectionModel(ModelLogic):
    """``AWS::Backup::RestoreTestingSelection``: which resources a restore testing plan restores, how."""

    cfn_type: ClassVar[str] = "AWS::Backup::RestoreTestingSelection"

    def __init__(self, selection: restore_testing.RestoreTestingSelection):
        self.selection = selection

    @classmethod
    def create(
        cls, resource_name: str, properties: Properties, account_id: str, region_name: str
    ) -> RestoreTestingSelectionModel:
        definition = {key: value for key, value in properties.items() if key != "RestoreTestingPlanName"}
        selection = restore_testing.tests_for(_backend(account_id, region_name)).create_selection(
            properties["RestoreTestingPlanName"], definition
        )
        return cls(selection)

    @property
    def physical_resource_id(self) -> str:
        return f"{self.selection.plan_name}|{self.selection.name}"

    def delete(self, account_id: str, region_name: str) -> None:
        tests = restore_testing.tests_for(_backend(account_id, region_name))
        key = (self.selection.plan_name, self.selection.name)
        if tests.selections.get(key) is self.selection:
            tests.delete_selection(*key)


RESTORE_TESTING_PATHS = {
    "{0}/restore-testing/plans/?$": BackupResponse.dispatch,
    "{0}/restore-testing/plans/(?P<restoreTestingPath>.+)$": BackupResponse.dispatch,
}
VALIDATION_PATHS = {"{0}/restore-jobs/(?P<restoreJobId>[^/]+)/validations$": BackupResponse.dispatch}


@fix("D40")
def add_restore_testing_plans_and_selections() -> None:
    """moto 5.2.5 has no AWS Backup restore testing: no ``AWS::Backup::RestoreTestingPlan`` or
    ``RestoreTestingSelection`` model (the deploy fails on the unknown type) and every restore
    testing API answers 404.

    Both types are now CloudFormation models (GetAtt RestoreTestingPlanArn), and
    Create/Get/List/DeleteRestoreTestingPlan and -Selection work: names of letters, digits and
    underscores only, as AWS requires; selections of DynamoDB tables and Aurora clusters by ARN
    (``tools/local_aws/restore_testing.py``).
    """
    install(backup_urls, "url_paths", {**backup_urls.url_paths, **RESTORE_TESTING_PATHS})
    install(BackupResponse, "create_restore_testing_plan", _create_restore_testing_plan)
    install(BackupResponse, "get_restore_testing_plan", _get_restore_testing_plan)
    install(BackupResponse, "list_restore_testing_plans", _list_restore_testing_plans)
    install(BackupResponse, "delete_restore_testing_plan", _delete_restore_testing_plan)
    install(BackupResponse, "create_restore_testing_selection", _create_restore_testing_selection)
    install(BackupResponse, "get_restore_testing_selection", _get_restore_testing_selection)
    install(BackupResponse, "list_restore_testing_selections", _list_restore_testing_selections)
    install(BackupResponse, "delete_restore_testing_selection", _delete_restore_testing_selection)
    register_model(RestoreTestingPlanModel, "backup")
    register_model(RestoreTestingSelectionModel, "backup")


@fix("D41")
def run_restore_testing_plans_on_the_clock() -> None:
    """A restore testing plan never runs in moto.

    Each plan's ``ScheduleExpression`` is now a timer source of the emulator's clock: when it falls
    due, per protected resource of each selection, the newest (or a random) COMPLETED recovery point
    within ``SelectionWindowDays`` in the included vaults is restored through the backup engine into
    ``awsbackup-restore-test-<id>`` with the selection's metadata overrides, ``CreatedBy`` the plan
    (DescribeRestoreJob) and ``restoreTestingPlanArn`` in the "Restore Job State Change" events.
    Needs D10 and D11.
    """
    CLOCK.register(restore_testing.due_restore_tests)


@fix("D42")
def validate_and_delete_restore_test_copies() -> None:
    """moto has no PutRestoreValidationResult (404), and nothing deletes a restore test's copy.

    PutRestoreValidationResult now stores ValidationStatus / ValidationStatusMessage on a restore job
    a plan started (DescribeRestoreJob shows them); a final status deletes the copy at once, and
    the clock deletes it when the selection's ValidationWindowHours have passed (VALIDATING becomes
    TIMED_OUT); DeletionStatus says how the deletion went, as in AWS.
    """
    install(backup_urls, "url_paths", {**backup_urls.url_paths, **VALIDATION_PATHS})
    install(BackupResponse, "put_restore_validation_result", _put_restore_validation_result)


# --- vault access policies ---------------------------------------------------------------------


def _vault(response: BackupResponse) -> Vault:
    return response.backup_backend.describe_backup_vault(unquote(response.uri_match["backupVaultName"]))


def _put_backup_vault_access_policy(response: BackupResponse) -> EmptyResult:
    _vault(response).access_policy = _body(response)["Policy"]  # type: ignore[attr-defined]
    return EmptyResult()


def _get_backup_vault_access_policy(response: BackupResponse) -> str:
    vault = _vault(response)
    found = getattr(vault, "access_policy", None)
    if found is None:
        raise ResourceNotFoundException(msg=f"Backup vault {vault.backup_vault_name} has no access policy")
    return _json(
        {"BackupVaultName": vault.backup_vault_name, "BackupVaultArn": vault.backup_vault_arn, "Policy": found}
    )


def _delete_backup_vault_access_policy(response: BackupResponse) -> EmptyResult:
    _vault(response).access_policy = None  # type: ignore[attr-defined]
    return EmptyResult()


def _apply_access_policy(model: BackupVaultModel, properties: Properties, account_id: str, region_name: str) -> None:
    found = properties.get("AccessPolicy")
    if found:
        model.vault.access_policy = found if isinstance(found, str) else json.dumps(found)  # type: ignore[attr-defined]


@fix("Q19")
def apply_vault_access_policies() -> None:
    """moto has no vault access policies: PutBackupVaultAccessPolicy, GetBackupVaultAccessPolicy and
    DeleteBackupVaultAccessPolicy answer 404 and ``AWS::Backup::BackupVault`` drops ``AccessPolicy``, so
    a vault that denies deleting its recovery points let anyone delete them.

    The policy is now kept on the vault (from the template, or the API), and authorization evaluates it
    as the resource policy of the vault's operations and of its recovery points (AWS Backup Developer
    Guide, "Vault access policies"): a principal it denies gets AccessDeniedException. Needs R8, D10.
    """
    install(
        backup_urls,
        "url_paths",
        {
            **backup_urls.url_paths,
            "{0}/backup-vaults/(?P<backupVaultName>[^/]+)/access-policy$": BackupResponse.dispatch,
        },
    )
    install(BackupResponse, "put_backup_vault_access_policy", _put_backup_vault_access_policy)
    install(BackupResponse, "get_backup_vault_access_policy", _get_backup_vault_access_policy)
    install(BackupResponse, "delete_backup_vault_access_policy", _delete_backup_vault_access_policy)
    after_create(BackupVaultModel, _apply_access_policy)
