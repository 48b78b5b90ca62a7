"""What every resource kind AWS Backup protects shares: the kind's interface, the snapshot a backup
writes and the failure that ends a job with a reason."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .... import world


class BackupFailure(Exception):
    """A job cannot finish; the message is the job's StatusMessage."""


@dataclass(frozen=True)
class Snapshot:
    """What backing up one resource wrote into the recovery point's directory."""

    size: int
    restore_metadata: dict[str, str]


class ResourceKind:
    """One type of resource AWS Backup protects; subclasses know how to copy and recreate it."""

    resource_type: ClassVar[str]
    arn_pattern: ClassVar[re.Pattern[str]]

    def __init__(self, account_id: str, region: str):
        self.account_id = account_id
        self.region = region

    @classmethod
    def name_in(cls, arn: str) -> str | None:
        match = cls.arn_pattern.match(arn)
        return match.group("name") if match else None

    def unready(self, name: str) -> str | None:
        """Why the resource cannot be backed up right now (a job retries later), or None."""
        return None

    def recovery_point_arn(self, name: str, point_id: str) -> str:
        """A recovery point's ARN: AWS Backup's own, unless the service keeps the backup itself."""
        return f"arn:{world.partition(self.region)}:backup:{self.region}:{self.account_id}:recovery-point:{point_id}"

    def backup_permissions(self, name: str) -> list[tuple[str, str]]:
        """The (action, resource ARN) pairs the job's role must be allowed before AWS Backup can back
        up the resource called ``name``: what the AWS managed policies for AWS Backup grant for the
        resource type (AWSBackupServiceRolePolicyForBackup, AWSBackupServiceRolePolicyForS3Backup)."""
        return []

    def backup_key(self, name: str) -> tuple[str, str] | None:
        """(signing name of the service, customer managed key) AWS Backup must decrypt the resource
        with, through that service (kms:Decrypt with kms:ViaService); None if it needs none."""
        return None

    def back_up(self, name: str, directory: Path) -> Snapshot:
        """Copy the resource called ``name`` into ``directory``; BackupFailure if it is missing."""
        raise NotImplementedError

    def restore(self, directory: Path, metadata: dict[str, str]) -> str:
        """Create the new resource from the payload in ``directory``; returns its ARN."""
        raise NotImplementedError


def _write_json(path: Path, value: Any) -> int:
    text = json.dumps(value)
    path.write_text(text)
    return len(text.encode())


def _required(metadata: dict[str, str], key: str) -> str:
    value = metadata.get(key, "").strip()
    if not value:
        raise BackupFailure(f"The restore metadata must name the new resource in {key!r}.")
    return value
