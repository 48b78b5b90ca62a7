"""Fixes to moto's DynamoDB: the CloudFormation model's point-in-time recovery and encryption, and
point-in-time restores that see the table as it was."""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.exceptions import (
    ERROR_TYPE_PREFIX,
    MockValidationException,
    PointInTimeRecoveryUnavailable,
    ResourceNotFoundException,
    SourceTableNotFoundException,
    TableAlreadyExistsException,
    TableNotFoundException,
)
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import RestoredPITTable, Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult

from ...clock import CLOCK
from ...patches._support import after_create, fix, install


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


# LatestRestorableDateTime trails the present by this much, as in DynamoDB.
RESTORE_LAG = timedelta(minutes=5)

Key = tuple[DynamoType, DynamoType | None]


class InvalidRestoreTimeException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            ERROR_TYPE_PREFIX + "InvalidRestoreTimeException",
            "RestoreDateTime must be between EarliestRestorableDateTime and LatestRestorableDateTime.",
        )


@dataclass
class Journal:
    """Every item version of a table since PITR was enabled: (when, key, item or None if deleted).

    It lives on the table object, so moto's copy of a table (a transaction's rollback, a backup)
    copies it with the items it describes.
    """

    since: datetime
    entries: list[tuple[datetime, Key, Item | None]] = field(default_factory=list)

    def record(self, key: Key, item: Item | None, when: datetime | None = None) -> None:
        self.entries.append((when or CLOCK.now(), key, copy.deepcopy(item)))

    def items_at(self, moment: datetime) -> defaultdict[Any, Any]:
        """The table's ``items`` store as it was at ``moment``."""
        latest: dict[Key, Item | None] = {}
        for when, key, item in self.entries:
            if when <= moment:
                latest[key] = item
        items: defaultdict[Any, Any] = defaultdict(dict)
        for (hash_key, range_key), item in latest.items():
            if item is None:
                continue
            if range_key is None:
                items[hash_key] = copy.deepcopy(item)
            else:
                items[hash_key][range_key] = copy.deepcopy(item)
        return items


def _journal(table: Table) -> Journal | None:
    journal = table.__dict__.get("pitr_journal")
    return journal if isinstance(journal, Journal) else None


def _key(item: Item) -> Key:
    return (item.hash_key, item.range_key)


def _restorable_window(table: Table, journal: Journal) -> tuple[datetime, datetime]:
    """EarliestRestorableDateTime (PITR start, at most RecoveryPeriodInDays back) and
    LatestRestorableDateTime (five minutes ago, never before the earliest)."""
    days = table.continuous_backups["PointInTimeRecoveryDescription"].get("RecoveryPeriodInDays", 35)
    present = CLOCK.now()
    earliest = max(journal.since, present - timedelta(days=int(days)))
    return earliest, max(earliest, present - RESTORE_LAG)


def _described(table: Table) -> dict[str, Any]:
    """The table's ContinuousBackupsDescription with the restorable window read from the clock."""
    description = copy.deepcopy(table.continuous_backups)
    journal = _journal(table)
    if journal is not None:
        earliest, latest = _restorable_window(table, journal)
        recovery = description["PointInTimeRecoveryDescription"]
        recovery["EarliestRestorableDateTime"] = earliest
        recovery["LatestRestorableDateTime"] = latest
    return description


def _restore_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def _restore_table_to_point_in_time_response(handler: DynamoHandler) -> DynamoResult:
    body = handler.body
    source = body.get("SourceTableName") or str(body.get("SourceTableArn", "")).rpartition("table/")[2]
    restored = handler.dynamodb_backend.restore_table_to_point_in_time(  # type: ignore[call-arg]
        body["TargetTableName"],
        source,
        body.get("RestoreDateTime"),
        bool(body.get("UseLatestRestorableTime")),
    )
    return DynamoResult(restored.describe())


@fix("D15")
def restore_tables_as_they_were() -> None:
    """moto's RestoreTableToPointInTime copies the table's current items whatever the time asked
    for, and DescribeContinuousBackups keeps the restorable window of the moment PITR was enabled.

    While PITR is enabled, every item write (put, update, delete; batch, transaction and PartiQL
    writes go through the same table methods) is journaled with the clock's time, so a restore
    rebuilds the items as they were at RestoreDateTime (or UseLatestRestorableTime). The window is
    EarliestRestorableDateTime (PITR start, within RecoveryPeriodInDays) to LatestRestorableDateTime
    (now - 5 minutes); a time outside fails with InvalidRestoreTimeException, an existing target
    with TableAlreadyExistsException, a table without PITR with PointInTimeRecoveryUnavailable.
    """
    put_item = Table.put_item
    delete_item = Table.delete_item
    update_item = DynamoDBBackend.update_item
    update_continuous_backups = DynamoDBBackend.update_continuous_backups
    restore_current_items = DynamoDBBackend.restore_table_to_point_in_time

    def journaled_put_item(table: Table, *args: Any, **kwargs: Any) -> Item:
        item = put_item(table, *args, **kwargs)
        journal = _journal(table)
        if journal is not None:
            journal.record(_key(item), item)
        return item

    def journaled_delete_item(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
        item = delete_item(table, hash_key, range_key)
        journal = _journal(table)
        if journal is not None and item is not None:
            journal.record(_key(item), None)
        return item

    def journaled_update_item(backend: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Item:
        item = update_item(backend, table_name, *args, **kwargs)  # changes the stored item in place
        journal = _journal(backend.get_table(table_name))
        if journal is not None:
            journal.record(_key(item), item)
        return item

    def journaling_update_continuous_backups(
        backend: DynamoDBBackend, table_name: str, point_in_time_spec: dict[str, Any]
    ) -> dict[str, Any]:
        update_continuous_backups(backend, table_name, point_in_time_spec)
        table = backend.get_table(table_name)
        if not point_in_time_spec["PointInTimeRecoveryEnabled"]:
            table.__dict__.pop("pitr_journal", None)
        elif _journal(table) is None:
            journal = Journal(since=CLOCK.now())
            for item in table.all_items():
                journal.record(_key(item), item, journal.since)
            table.__dict__["pitr_journal"] = journal
        return _described(table)

    def describe_continuous_backups(backend: DynamoDBBackend, table_name: str) -> dict[str, Any]:
        try:
            table = backend.get_table(table_name)
        except ResourceNotFoundException:
            raise TableNotFoundException(table_name) from None
        return _described(table)

    def restore_table_to_point_in_time(
        backend: DynamoDBBackend,
        target_table_name: str,
        source_table_name: str,
        restore_date_time: Any = None,
        use_latest_restorable_time: bool = False,
    ) -> RestoredPITTable:
        try:
            source = backend.get_table(source_table_name)
        except ResourceNotFoundException:
            raise SourceTableNotFoundException(source_table_name) from None
        journal = _journal(source)
        if journal is None:
            raise PointInTimeRecoveryUnavailable(source_table_name)
        if target_table_name in backend.tables:
            raise TableAlreadyExistsException(target_table_name)
        earliest, latest = _restorable_window(source, journal)
        if use_latest_restorable_time:
            moment = latest
        elif restore_date_time is not None:
            moment = _restore_time(restore_date_time)
        else:
            raise MockValidationException("RestoreDateTime must be given unless UseLatestRestorableTime is true.")
        if not earliest <= moment <= latest:
            raise InvalidRestoreTimeException()
        restored = restore_current_items(backend, target_table_name, source_table_name)
        restored.items = journal.items_at(moment)
        restored.restore_date_time = moment
        return restored

    install(Table, "put_item", journaled_put_item)
    install(Table, "delete_item", journaled_delete_item)
    install(DynamoDBBackend, "update_item", journaled_update_item)
    install(DynamoDBBackend, "update_continuous_backups", journaling_update_continuous_backups)
    install(DynamoDBBackend, "describe_continuous_backups", describe_continuous_backups)
    install(DynamoDBBackend, "restore_table_to_point_in_time", restore_table_to_point_in_time)
    install(DynamoHandler, "restore_table_to_point_in_time", _restore_table_to_point_in_time_response)
