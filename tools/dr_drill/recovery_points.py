"""What AWS Backup holds for the stack: the resources the plan protects and their newest recovery points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from .errors import SetupError, error_code


@dataclass(frozen=True)
class RecoveryPoint:
    """A completed recovery point in the stack's vault."""

    arn: str
    resource_arn: str
    vault: str
    created: datetime


def newest_completed(backup: Any, vault: str, resource_arn: str) -> RecoveryPoint | None:
    """The newest COMPLETED recovery point of ``resource_arn`` in ``vault``, or None.

    Every page is read: AWS promises no order, and an hourly plan with a 7-day retention keeps 168
    points per resource, more than one page. Points still being created, partial or expired do not
    count - a restore from them is not what the RPO promises.
    """
    newest: RecoveryPoint | None = None
    pages = backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
        BackupVaultName=vault, ByResourceArn=resource_arn
    )
    try:
        for page in pages:
            for point in page.get("RecoveryPoints", []):
                if point.get("Status") != "COMPLETED":
                    continue
                if newest is None or point["CreationDate"] > newest.created:
                    newest = RecoveryPoint(point["RecoveryPointArn"], resource_arn, vault, point["CreationDate"])
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise SetupError(f"The backup vault {vault} does not exist; run `make deploy` first.") from None
        raise
    return newest


def protected_resources(backup: Any, plan_id: str) -> list[str]:
    """The resource ARNs the backup plan's selections name, in selection order, each once."""
    resources: dict[str, None] = {}
    try:
        for page in backup.get_paginator("list_backup_selections").paginate(BackupPlanId=plan_id):
            for selection in page.get("BackupSelectionsList", []):
                chosen = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=selection["SelectionId"])
                resources.update(dict.fromkeys(chosen["BackupSelection"].get("Resources", [])))
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise SetupError(f"The backup plan {plan_id} does not exist; run `make deploy` first.") from None
        raise
    return list(resources)
