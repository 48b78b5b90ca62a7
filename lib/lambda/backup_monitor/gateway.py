"""The backup monitor's one AWS call: the protected resources' recovery points in the vault."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from botocore.config import Config
from dr_common.clients import Clients

# Short connect timeouts: with botocore's default (60 s, retried) an unreachable endpoint (its
# interface endpoint gone, its AZ lost) ran into the function's own 60-s timeout, so the run ended as
# a bare timeout instead of the SDK's connect error naming the endpoint (the AZ-loss integration test
# found it). Worst case now: 2 attempts x 5 s.
CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"})


class Gateway:
    """AWS Backup through the function's cached client."""

    def __init__(self, clients: Clients | None = None) -> None:
        self.clients = clients or Clients(CONFIG)

    def recovery_points(self, vault: str, arn: str, created_after: datetime | None) -> Iterator[Mapping[str, Any]]:
        """The resource's recovery points in the vault, every page read; only those created after
        ``created_after`` when it is given."""
        filters: dict[str, Any] = {"BackupVaultName": vault, "ByResourceArn": arn}
        if created_after is not None:
            filters["ByCreatedAfter"] = created_after
        pages = self.clients("backup").get_paginator("list_recovery_points_by_backup_vault").paginate(**filters)
        return (point for page in pages for point in page.get("RecoveryPoints", []))
