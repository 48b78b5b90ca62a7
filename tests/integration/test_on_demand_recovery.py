"""Backup, restore and failure alerting with on-demand actions only, so that the suite runs against a
real account in well under an hour: every selected store is backed up (StartBackupJob, all at once)
and restored under a temporary name (StartRestoreJob, all at once); while the copies restore, the
source Aurora cluster is stopped, the canary fails and pages, and the cluster is started again; then
every copy holds the canary's heartbeat. The recovery points stay in the vault, so the `make destroy`
that follows proves the vault cleanup empties it.

The tests run in the order written and share one recovery (a module fixture): the failure test runs
while AWS restores the copies, which do not depend on the source cluster being up. Each test also
runs alone; it then starts the recovery itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lib import output_keys as keys
from lib.config import HEARTBEAT_OBJECT_KEY

from .behaviour import (
    RTO_MINUTES,
    Clock,
    aurora_stopped,
    finished,
    invoke_canary,
    selected_resources,
    start_backup,
)

# Backups run in parallel (Aurora's snapshot is the longest, ~8 min), then restores in parallel (the Aurora
# cluster ~15 min, then its instance ~10 min); the failure test's stop and start of the source cluster
# (~10 min) runs while the copies restore.
pytestmark = pytest.mark.aws_minutes(35)

COPY_INSTANCE_CLASS = "db.serverless"


@dataclass
class Recovery:
    """The canary's heartbeat, the finished backup jobs and the restore jobs started from them."""

    heartbeat: dict[str, Any]
    backups: dict[str, dict[str, Any]] = field(default_factory=dict)  # resource type -> finished job
    restores: dict[str, tuple[str, str]] = field(default_factory=dict)  # resource type -> (job id, copy name)


@pytest.fixture(scope="module")
def recovery(client, outputs, suffix, clock) -> Iterator[Recovery]:
    """Heartbeat, then every selected store backed up and its restore started; copies deleted afterwards."""
    summary, error = invoke_canary(client, outputs)
    assert error is None, summary
    backup = client("backup")
    vault = outputs[keys.BACKUP_VAULT_NAME]
    resources = selected_resources(client, outputs[keys.BACKUP_PLAN_ID])
    assert {arn.split(":")[2] for arn in resources} == {"rds", "dynamodb", "s3"}

    started = {arn: start_backup(client, outputs, arn) for arn in sorted(resources)}
    result = Recovery(heartbeat=summary)
    for arn, job_id in started.items():
        job = clock.until(finished(backup.describe_backup_job, BackupJobId=job_id), minutes=RTO_MINUTES, what=arn)
        result.backups[job["ResourceType"]] = job

    tag = uuid.uuid4().hex[:6]
    names = {
        "DynamoDB": ("targetTableName", f"restore-table-{suffix}-{tag}"),
        "S3": ("DestinationBucketName", f"restore-bucket-{suffix}-{tag}"),
        "Aurora": ("DBClusterIdentifier", f"restore-cluster-{suffix}-{tag}"),
    }
    try:
        for kind, job in result.backups.items():
            if job["State"] != "COMPLETED":
                continue  # the backup test reports it
            point = job["RecoveryPointArn"]
            metadata = backup.get_recovery_point_restore_metadata(BackupVaultName=vault, RecoveryPointArn=point)[
                "RestoreMetadata"
            ]
            key, name = names[kind]
            metadata = {**metadata, key: name, **({"NewBucket": "true"} if kind == "S3" else {})}
            restore_id = backup.start_restore_job(
                RecoveryPointArn=point, IamRoleArn=outputs[keys.BACKUP_ROLE_ARN], Metadata=metadata, ResourceType=kind
            )["RestoreJobId"]
            result.restores[kind] = (restore_id, name)
        yield result
    finally:
        for kind, (_, name) in result.restores.items():
            _delete_copy(client, clock, kind, name)


def test_every_selected_store_backs_up(recovery) -> None:
    assert set(recovery.backups) == {"Aurora", "DynamoDB", "S3"}
    for kind, job in recovery.backups.items():
        assert job["State"] == "COMPLETED", (kind, job)
        assert job["RecoveryPointArn"], (kind, job)
    assert set(recovery.restores) == {"Aurora", "DynamoDB", "S3"}


def test_unreachable_aurora_fails_the_canary_pages_and_recovers(
    recovery, client, outputs, suffix, clock, alert_inbox
) -> None:
    """Break a store and watch the alarm (while the copies restore from their recovery points)."""
    alarm = f"health-check-errors-{suffix}"

    def alarm_state() -> str:
        return client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]

    with aurora_stopped(client, outputs, clock):
        payload, error = invoke_canary(client, outputs)
        assert error == "Unhandled"
        assert payload["errorType"] == "HealthCheckFailed"
        assert payload["errorMessage"].startswith("1 of 3 dependencies failed: Aurora:")
        notice = clock.until(lambda: alert_inbox.alarm(alarm, "ALARM"), minutes=10, what=f"{alarm} paging ALARM")
        assert notice["Trigger"]["MetricName"] == "Errors"
        assert alarm_state() == "ALARM"

    summary, error = invoke_canary(client, outputs)
    assert error is None, summary
    clock.until(lambda: alert_inbox.alarm(alarm, "OK"), minutes=15, what=f"{alarm} paging OK")
    assert alarm_state() == "OK"


def test_every_copy_holds_the_heartbeat(recovery, client, clock, database) -> None:
    backup = client("backup")
    for kind, (job_id, _) in recovery.restores.items():
        job = clock.until(finished(backup.describe_restore_job, RestoreJobId=job_id), minutes=RTO_MINUTES, what=kind)
        assert job["Status"] == "COMPLETED", job
    names = {kind: name for kind, (_, name) in recovery.restores.items()}
    heartbeat = recovery.heartbeat["heartbeat_id"]

    item = client("dynamodb").get_item(
        TableName=names["DynamoDB"], Key={"pk": {"S": "heartbeat"}, "sk": {"S": recovery.heartbeat["checked_at"]}}
    )["Item"]
    assert item["heartbeat_id"]["S"] == heartbeat
    body = client("s3").get_object(Bucket=names["S3"], Key=HEARTBEAT_OBJECT_KEY)["Body"].read()
    assert heartbeat in body.decode()

    copy = _with_an_instance(client, clock, names["Aurora"])
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


def _with_an_instance(client: Callable[[str], Any], clock: Clock, cluster: str) -> dict[str, Any]:
    """AWS Backup restores an Aurora cluster without any DB instance: add a writer and wait for it."""
    rds = client("rds")
    (copy,) = rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"]
    if not copy.get("DBClusterMembers"):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{cluster}-writer",
            DBClusterIdentifier=cluster,
            Engine=copy["Engine"],
            DBInstanceClass=COPY_INSTANCE_CLASS,
        )

    def available() -> bool:
        instance = rds.describe_db_instances(DBInstanceIdentifier=f"{cluster}-writer")["DBInstances"][0]
        return instance["DBInstanceStatus"] == "available"

    clock.until(available, minutes=30, what=f"the writer instance of {cluster}")
    return dict(rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0])


def _delete_copy(client: Callable[[str], Any], clock: Clock, kind: str, name: str) -> None:
    """Remove a restored copy; an Aurora copy's instance goes first (a cluster with one cannot be deleted)."""
    if kind == "DynamoDB":
        client("dynamodb").delete_table(TableName=name)
    elif kind == "S3":
        s3 = client("s3")
        versions = s3.list_object_versions(Bucket=name)
        for entry in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            s3.delete_object(Bucket=name, Key=entry["Key"], VersionId=entry["VersionId"])
        s3.delete_bucket(Bucket=name)
    elif kind == "Aurora":
        rds = client("rds")
        members = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0].get("DBClusterMembers", [])
        for member in members:
            rds.delete_db_instance(DBInstanceIdentifier=member["DBInstanceIdentifier"], SkipFinalSnapshot=True)

        def instances_gone() -> bool:
            found = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
            return not found.get("DBClusterMembers")

        clock.until(instances_gone, minutes=30, what=f"the instances of {name} deleted")
        rds.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)
