"""AWS Backup support: CloudFormation models for vault, plan and selection; the selection API."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from moto.backup.exceptions import AlreadyExistsException, ResourceNotFoundException
from moto.backup.models import BackupBackend, Plan, Vault, backup_backends
from moto.backup.responses import BackupResponse
from moto.core.responses import EmptyResult
from moto.core.utils import unix_time
from moto.moto_api._internal import mock_random

from ._support import ModelLogic, Properties, fix, install, register_model


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
