"""The vault cleanup's AWS Backup calls, and its wait between two looks at the vault (here, so that a
fake gateway's time passes at once). AWS errors that are answers ("vault gone", "not stopped", "not
deleted") become return values; any other error raises."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from dr_common.clients import Clients
from logic import Refusal

CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 5, "mode": "standard"})


def _refusal(error: ClientError) -> Refusal:
    details = error.response.get("Error", {})
    return Refusal(str(details.get("Code", "Unknown")), str(details.get("Message", "")))


class Gateway:
    """AWS Backup through the function's cached client."""

    def __init__(self, clients: Clients | None = None) -> None:
        self.clients = clients or Clients(CONFIG)

    def active_jobs(self, vault_name: str, states: Iterable[str]) -> list[str]:
        """The ids of the vault's backup jobs in any of ``states`` (ByState takes one state)."""
        paginator = self.clients("backup").get_paginator("list_backup_jobs")
        return [
            job["BackupJobId"]
            for state in states
            for page in paginator.paginate(ByBackupVaultName=vault_name, ByState=state)
            for job in page.get("BackupJobs", [])
        ]

    def stop_job(self, job_id: str) -> Refusal | None:
        """StopBackupJob; AWS Backup's refusal (it cannot stop Aurora/RDS jobs), or None."""
        try:
            self.clients("backup").stop_backup_job(BackupJobId=job_id)
        except ClientError as error:
            return _refusal(error)
        return None

    def recovery_points(self, vault_name: str) -> list[Mapping[str, Any]] | None:
        """Every recovery point in the vault, or None if the vault does not exist.

        AWS Backup answers a missing vault with AccessDeniedException ("Insufficient privileges")
        rather than ResourceNotFoundException, so either error is checked against ListBackupVaults
        before it is taken to mean "gone": a real permission problem must still fail the delete.
        """
        paginator = self.clients("backup").get_paginator("list_recovery_points_by_backup_vault")
        try:
            return [
                point
                for page in paginator.paginate(BackupVaultName=vault_name)
                for point in page.get("RecoveryPoints", [])
            ]
        except ClientError as error:
            if _refusal(error).code in ("ResourceNotFoundException", "AccessDeniedException") and not self._exists(
                vault_name
            ):
                return None
            raise

    def _exists(self, vault_name: str) -> bool:
        """Whether the account has a vault of this name in the function's region."""
        paginator = self.clients("backup").get_paginator("list_backup_vaults")
        return any(
            vault.get("BackupVaultName") == vault_name
            for page in paginator.paginate()
            for vault in page.get("BackupVaultList", [])
        )

    def delete_point(self, vault_name: str, arn: str) -> Refusal | None:
        """DeleteRecoveryPoint; why it was not taken (an AWS error, or none reaching AWS), or None."""
        try:
            self.clients("backup").delete_recovery_point(BackupVaultName=vault_name, RecoveryPointArn=arn)
        except ClientError as error:
            return _refusal(error)
        except BotoCoreError as error:
            return Refusal(type(error).__name__, str(error), unanswered=True)
        return None

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)
