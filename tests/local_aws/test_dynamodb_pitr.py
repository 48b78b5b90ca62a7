"""DynamoDB point-in-time recovery restores the table as it was at the time asked for (D15)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tools.local_aws.clock import CLOCK


def make_table(aws: Callable[[str], Any], name: str, *, pitr: bool = True) -> Any:
    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    if pitr:
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return dynamodb


def contents(dynamodb: Any, name: str) -> dict[str, str]:
    return {item["pk"]["S"]: item["v"]["S"] for item in dynamodb.scan(TableName=name)["Items"]}


def test_d15_restore_at_a_time_between_two_writes_sees_only_the_first(aws, suffix):
    dynamodb = make_table(aws, f"pitr-{suffix}")
    dynamodb.put_item(TableName=f"pitr-{suffix}", Item={"pk": {"S": "first"}, "v": {"S": "1"}})
    CLOCK.advance(timedelta(minutes=2))
    between = CLOCK.now()
    CLOCK.advance(timedelta(minutes=1))
    dynamodb.put_item(TableName=f"pitr-{suffix}", Item={"pk": {"S": "second"}, "v": {"S": "2"}})
    dynamodb.update_item(
        TableName=f"pitr-{suffix}",
        Key={"pk": {"S": "first"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "1b"}},
    )
    dynamodb.batch_write_item(
        RequestItems={f"pitr-{suffix}": [{"PutRequest": {"Item": {"pk": {"S": "batched"}, "v": {"S": "3"}}}}]}
    )
    dynamodb.transact_write_items(
        TransactItems=[{"Delete": {"TableName": f"pitr-{suffix}", "Key": {"pk": {"S": "second"}}}}]
    )
    CLOCK.advance(timedelta(minutes=10))

    at_between = dynamodb.restore_table_to_point_in_time(
        SourceTableName=f"pitr-{suffix}", TargetTableName=f"between-{suffix}", RestoreDateTime=between
    )
    dynamodb.restore_table_to_point_in_time(
        SourceTableName=f"pitr-{suffix}", TargetTableName=f"latest-{suffix}", UseLatestRestorableTime=True
    )

    assert contents(dynamodb, f"between-{suffix}") == {"first": "1"}
    assert contents(dynamodb, f"latest-{suffix}") == {"first": "1b", "batched": "3"}
    restored_at = at_between["TableDescription"]["RestoreSummary"]["RestoreDateTime"]
    assert abs(restored_at - between) < timedelta(seconds=1)


def test_d15_continuous_backups_report_the_restorable_window_from_the_clock(aws, suffix):
    dynamodb = make_table(aws, f"window-{suffix}")
    enabled = CLOCK.now()
    CLOCK.advance(timedelta(minutes=30))

    recovery = dynamodb.describe_continuous_backups(TableName=f"window-{suffix}")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"
    ]

    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"
    assert abs(recovery["EarliestRestorableDateTime"] - enabled) < timedelta(seconds=2)
    assert abs(recovery["LatestRestorableDateTime"] - (CLOCK.now() - timedelta(minutes=5))) < timedelta(seconds=2)


def test_d15_restore_outside_the_window_onto_an_existing_table_or_without_pitr_fails(aws, suffix):
    dynamodb = make_table(aws, f"limits-{suffix}")
    make_table(aws, f"plain-{suffix}", pitr=False)
    enabled = CLOCK.now()
    CLOCK.advance(timedelta(minutes=10))

    def restore(**arguments: Any) -> str:
        with pytest.raises(ClientError) as error:
            dynamodb.restore_table_to_point_in_time(**arguments)
        return str(error.value.response["Error"]["Code"])

    source = {"SourceTableName": f"limits-{suffix}"}
    assert restore(**source, TargetTableName=f"a-{suffix}", RestoreDateTime=enabled - timedelta(minutes=1)) == (
        "InvalidRestoreTimeException"
    )
    assert (
        restore(**source, TargetTableName=f"b-{suffix}", RestoreDateTime=CLOCK.now()) == "InvalidRestoreTimeException"
    )
    assert restore(**source, TargetTableName=f"plain-{suffix}", UseLatestRestorableTime=True) == (
        "TableAlreadyExistsException"
    )
    assert restore(SourceTableName=f"plain-{suffix}", TargetTableName=f"c-{suffix}", UseLatestRestorableTime=True) == (
        "PointInTimeRecoveryUnavailableException"
    )
