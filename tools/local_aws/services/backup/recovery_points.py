"""AWS Backup's recovery points: a completed backup in a vault, its lifecycle (when retention
deletes it) and how the API and the events describe it. Dates in events follow ``event_time``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ... import world


def event_time(moment: datetime) -> str:
    """A date as AWS Backup writes it in events: ``2020-07-15T21:40:31.207Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def lifecycle_dates(lifecycle: dict[str, Any] | None, created: datetime) -> dict[str, datetime]:
    """CalculatedLifecycle: when a point moves to cold storage and when it is deleted."""
    dates = {}
    if lifecycle and lifecycle.get("MoveToColdStorageAfterDays"):
        dates["MoveToColdStorageAt"] = created + timedelta(days=int(lifecycle["MoveToColdStorageAfterDays"]))
    if lifecycle and lifecycle.get("DeleteAfterDays"):
        dates["DeleteAt"] = created + timedelta(days=int(lifecycle["DeleteAfterDays"]))
    return dates


def without_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclass
class RecoveryPoint:
    """A completed backup in a vault; its payload is the files in ``directory``."""

    arn: str
    vault: world.Vault
    resource_arn: str
    resource_type: str
    resource_name: str
    iam_role_arn: str
    creation_date: datetime
    completion_date: datetime
    size: int
    lifecycle: dict[str, Any] | None
    created_by: dict[str, str] | None
    directory: Path
    restore_metadata: dict[str, str]
    status: str = "COMPLETED"
    last_restore_time: datetime | None = None

    @property
    def calculated_lifecycle(self) -> dict[str, datetime]:
        return lifecycle_dates(self.lifecycle, self.creation_date)

    def describe(self) -> dict[str, Any]:
        """DescribeRecoveryPoint's answer (ListRecoveryPointsByBackupVault lists the same fields)."""
        return without_empty(
            {
                "RecoveryPointArn": self.arn,
                "BackupVaultName": self.vault.backup_vault_name,
                "BackupVaultArn": self.vault.backup_vault_arn,
                "ResourceArn": self.resource_arn,
                "ResourceType": self.resource_type,
                "ResourceName": self.resource_name,
                "CreatedBy": self.created_by,
                "IamRoleArn": self.iam_role_arn,
                "Status": self.status,
                "CreationDate": self.creation_date,
                "CompletionDate": self.completion_date,
                "BackupSizeInBytes": self.size,
                "CalculatedLifecycle": self.calculated_lifecycle or None,
                "Lifecycle": self.lifecycle,
                "EncryptionKeyArn": self.vault.encryption_key_arn,
                "IsEncrypted": bool(self.vault.encryption_key_arn),
                "StorageClass": "WARM",
                "LastRestoreTime": self.last_restore_time,
                "IsParent": False,
                "VaultType": "BACKUP_VAULT",
            }
        )

    def describe_by_resource(self) -> dict[str, Any]:
        """ListRecoveryPointsByResource's shape (note BackupSizeBytes, not BackupSizeInBytes)."""
        return without_empty(
            {
                "RecoveryPointArn": self.arn,
                "CreationDate": self.creation_date,
                "Status": self.status,
                "EncryptionKeyArn": self.vault.encryption_key_arn,
                "BackupSizeBytes": self.size,
                "BackupVaultName": self.vault.backup_vault_name,
                "IsParent": False,
                "ResourceName": self.resource_name,
                "VaultType": "BACKUP_VAULT",
            }
        )

    def event(self) -> dict[str, Any]:
        """The detail of the "Recovery Point State Change" event."""
        detail: dict[str, Any] = {
            "backupVaultName": self.vault.backup_vault_name,
            "backupVaultArn": self.vault.backup_vault_arn,
            "creationDate": event_time(self.creation_date),
            "iamRoleArn": self.iam_role_arn,
            "resourceType": self.resource_type,
            "resourceArn": self.resource_arn,
            "status": self.status,
            "isEncrypted": "true" if self.vault.encryption_key_arn else "false",
            "storageClass": "WARM",
            "completionDate": event_time(self.completion_date),
        }
        if self.lifecycle:
            detail["lifecycle"] = {key[0].lower() + key[1:]: value for key, value in self.lifecycle.items()}
        if "DeleteAt" in self.calculated_lifecycle:
            detail["calculatedLifeCycle"] = {"deleteAt": event_time(self.calculated_lifecycle["DeleteAt"])}
        return detail
