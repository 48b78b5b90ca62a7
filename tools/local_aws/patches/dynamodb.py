"""Fixes to moto's DynamoDB CloudFormation model: point-in-time recovery and encryption."""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from ._support import after_create, fix


def _configure_table(table: Table, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    recovery = properties.get("PointInTimeRecoverySpecification")
    if recovery:
        dynamodb_backends[account_id][region_name].update_continuous_backups(table.name, recovery)
    encryption = properties.get("SSESpecification")
    if encryption and table.sse_specification is not None:
        table.sse_specification["Enabled"] = encryption.get("SSEEnabled", False)


@fix("F4")
def apply_table_recovery_and_encryption() -> None:
    """moto's ``AWS::DynamoDB::Table`` ignores PointInTimeRecoverySpecification and reads the
    API's ``Enabled`` instead of the template's ``SSEEnabled``.

    DescribeContinuousBackups said DISABLED and DescribeTable had no SSEDescription although the
    template enables both. PITR is now enabled (with its recovery period) and SSE reported.
    """
    after_create(Table, _configure_table)
