"""AWS Backup really backs up and restores: every selected store, restored under a temporary name,
holds the canary's heartbeat. The recovery points stay in the vault, so the `make destroy` that
follows proves the vault cleanup empties it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from lib import output_keys as keys
from lib.stacks.compute_stack import HEARTBEAT_OBJECT_KEY

from .behaviour import RTO_MINUTES, back_up, finished, invoke_canary, selected_resources


@pytest.fixture
def restored(client) -> Iterator[list[tuple[str, str]]]:
    """(resource type, name) of every copy a test restores; all are deleted afterwards."""
    copies: list[tuple[str, str]] = []
    yield copies
    for kind, name in copies:
        if kind == "DynamoDB":
            client("dynamodb").delete_table(TableName=name)
        elif kind == "S3":
            s3 = client("s3")
            versions = s3.list_object_versions(Bucket=name)
            for entry in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                s3.delete_object(Bucket=name, Key=entry["Key"], VersionId=entry["VersionId"])
            s3.delete_bucket(Bucket=name)
        elif kind == "Aurora":
            client("rds").delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)


def test_every_selected_store_backs_up_and_restores_with_the_heartbeat(
    client, outputs, suffix, clock, database, restored
) -> None:
    summary, error = invoke_canary(client, outputs)
    assert error is None, summary
    backup = client("backup")
    vault = outputs[keys.BACKUP_VAULT_NAME]
    resources = selected_resources(client, outputs[keys.BACKUP_PLAN_ID])
    assert {arn.split(":")[2] for arn in resources} == {"rds", "dynamodb", "s3"}

    points = {}
    for arn in sorted(resources):
        job = back_up(client, outputs, clock, arn)
        assert job["State"] == "COMPLETED", job
        points[job["ResourceType"]] = job["RecoveryPointArn"]
    assert set(points) == {"Aurora", "DynamoDB", "S3"}

    tag = uuid.uuid4().hex[:6]
    names = {
        "DynamoDB": ("targetTableName", f"restore-table-{suffix}-{tag}"),
        "S3": ("DestinationBucketName", f"restore-bucket-{suffix}-{tag}"),
        "Aurora": ("DBClusterIdentifier", f"restore-cluster-{suffix}-{tag}"),
    }
    for kind, point in points.items():
        metadata = backup.get_recovery_point_restore_metadata(BackupVaultName=vault, RecoveryPointArn=point)[
            "RestoreMetadata"
        ]
        key, name = names[kind]
        metadata = {**metadata, key: name, **({"NewBucket": "true"} if kind == "S3" else {})}
        job_id = backup.start_restore_job(
            RecoveryPointArn=point, IamRoleArn=outputs[keys.BACKUP_ROLE_ARN], Metadata=metadata, ResourceType=kind
        )["RestoreJobId"]
        job = clock.until(finished(backup.describe_restore_job, RestoreJobId=job_id), minutes=RTO_MINUTES, what=kind)
        assert job["Status"] == "COMPLETED", job
        restored.append((kind, name))

    heartbeat = summary["heartbeat_id"]
    item = client("dynamodb").get_item(
        TableName=names["DynamoDB"][1], Key={"pk": {"S": "heartbeat"}, "sk": {"S": summary["checked_at"]}}
    )["Item"]
    assert item["heartbeat_id"]["S"] == heartbeat
    body = client("s3").get_object(Bucket=names["S3"][1], Key=HEARTBEAT_OBJECT_KEY)["Body"].read()
    assert heartbeat in body.decode()
    (copy,) = client("rds").describe_db_clusters(DBClusterIdentifier=names["Aurora"][1])["DBClusters"]
    rows = database(host=copy["Endpoint"], port=copy["Port"]).run(
        "SELECT count(*) FROM dr_heartbeat WHERE id = :id", id=heartbeat
    )
    assert rows == [[1]]


def test_restoring_an_unknown_recovery_point_is_an_aws_error(client, outputs) -> None:
    backup = client("backup")
    with pytest.raises(backup.exceptions.ResourceNotFoundException):
        backup.describe_recovery_point(
            BackupVaultName=outputs[keys.BACKUP_VAULT_NAME],
            RecoveryPointArn="arn:aws:backup:us-east-1:123456789012:recovery-point:00000000-0000-0000-0000-000000000000",
        )
