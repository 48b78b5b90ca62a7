"""DynamoDB tables in AWS Backup: what a backup copies (items and the settings CreateTable needs)
and how a restore recreates the table."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .... import world
from ....clock import CLOCK
from .base import BackupFailure, ResourceKind, Snapshot, _required, _write_json


class DynamoDBTables(ResourceKind):
    """A table's items (DynamoDB JSON, one per line) and the settings CreateTable needs."""

    resource_type = "DynamoDB"
    arn_pattern = re.compile(r"^arn:aws[\w-]*:dynamodb:[^:]+:\d{12}:table/(?P<name>[^/]+)$")

    def recovery_point_arn(self, name: str, point_id: str) -> str:
        """A DynamoDB backup (not advanced backup): ``table/<name>/backup/<14-digit ms>-<8 hex>``."""
        backup_id = f"{int(CLOCK.now().timestamp() * 1000):014d}-{point_id.replace('-', '')[:8]}"
        prefix = f"arn:{world.partition(self.region)}:dynamodb:{self.region}:{self.account_id}"
        return f"{prefix}:table/{name}/backup/{backup_id}"

    def backup_permissions(self, name: str) -> list[tuple[str, str]]:
        table_arn = f"arn:{world.partition(self.region)}:dynamodb:{self.region}:{self.account_id}:table/{name}"
        return [("dynamodb:DescribeTable", table_arn), ("dynamodb:CreateBackup", table_arn)]

    def back_up(self, name: str, directory: Path) -> Snapshot:
        table = world.table(self.account_id, self.region, name)
        if table is None:
            raise BackupFailure(f"Table {name} was not found.")
        throughput = {key: value for key, value in table.throughput.items() if key != "NumberOfDecreasesToday"}
        settings = {
            "TableName": table.name,
            "KeySchema": table.schema,
            "AttributeDefinitions": table.attr,
            "BillingMode": table.billing_mode,
            "ProvisionedThroughput": throughput,
            "GlobalSecondaryIndexes": [
                {
                    key: index.describe()[key]
                    for key in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
                }
                for index in table.global_indexes
            ],
            "LocalSecondaryIndexes": [index.describe() for index in table.indexes],
            "SSESpecification": table.sse_specification,
        }
        size = _write_json(directory / "table.json", settings)
        with (directory / "items.jsonl").open("w") as items:
            for item in table.all_items():
                line = world.dynamodb_json(item.to_json()["Attributes"]) + "\n"
                items.write(line)
                size += len(line.encode())
        return Snapshot(size, {"targetTableName": table.name})

    def restore(self, directory: Path, metadata: dict[str, str]) -> str:
        settings = json.loads((directory / "table.json").read_text())
        name = _required(metadata, "targetTableName")
        if world.table(self.account_id, self.region, name) is not None:
            raise BackupFailure(f"Table already exists: {name}")
        table = world.create_table(
            self.account_id,
            self.region,
            name,
            schema=settings["KeySchema"],
            throughput=settings["ProvisionedThroughput"] if settings["BillingMode"] != "PAY_PER_REQUEST" else None,
            attr=settings["AttributeDefinitions"],
            global_indexes=settings["GlobalSecondaryIndexes"],
            indexes=settings["LocalSecondaryIndexes"],
            streams=None,
            billing_mode=settings["BillingMode"],
            sse_specification=settings["SSESpecification"],
            tags=[],
            deletion_protection_enabled=False,
            warm_throughput=None,
        )
        with (directory / "items.jsonl").open() as items:
            for line in items:
                table.put_item(json.loads(line))
        return str(table.table_arn)
