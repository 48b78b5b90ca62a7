"""The ``deployment`` fixture: the kit's stores in the session's emulator, as a drill finds them
(tests/dr_drill/deployment.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.emulator import ACCOUNT, BACKUP_ROLE
from tools.local_aws.clock import CLOCK

from .deployment import (
    HEARTBEAT_AGE,
    PASSWORD,
    Deployment,
    back_up,
    connect,
    protected_arns,
    write_heartbeats,
    write_outputs,
)


@pytest.fixture(scope="module")
def deployment(
    aws: Callable[[str], Any], endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    suffix = "t" + uuid.uuid4().hex[:5]
    cluster, table, bucket = f"aurora-cluster-{suffix}", f"dynamodb-table-{suffix}", f"data-bucket-{ACCOUNT}-{suffix}"
    vault = f"backup-vault-{suffix}"
    secret_arn = aws("secretsmanager").create_secret(
        Name=f"db-secret-{suffix}", SecretString=json.dumps({"username": "master", "password": PASSWORD})
    )["ARN"]
    rds = aws("rds")
    described = rds.create_db_cluster(
        DBClusterIdentifier=cluster,
        Engine="aurora-postgresql",
        MasterUsername="master",
        MasterUserPassword=PASSWORD,
        DatabaseName="appdb",
        BackupRetentionPeriod=7,
        ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 4},
    )["DBCluster"]
    for role in ("writer", "reader"):
        rds.create_db_instance(
            DBInstanceIdentifier=f"aurora-{role}-{suffix}",
            DBClusterIdentifier=cluster,
            Engine="aurora-postgresql",
            DBInstanceClass="db.serverless",
        )
    database = connect(described)
    database.run(
        "CREATE TABLE dr_heartbeat (id uuid PRIMARY KEY, checked_at timestamptz NOT NULL, environment_suffix text)"
    )
    database.close()

    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    backup = aws("backup")
    backup.create_backup_vault(BackupVaultName=vault)
    outputs = {
        "EnvironmentSuffix": suffix,
        "AuroraClusterIdentifier": cluster,
        "DatabaseSecretArn": secret_arn,
        "DatabaseName": "appdb",
        "TableName": table,
        "BucketName": bucket,
        "BackupVaultName": vault,
        "BackupRoleArn": BACKUP_ROLE,
    }
    heartbeat = write_heartbeats(aws, outputs, CLOCK.now() - HEARTBEAT_AGE)
    back_up(aws, outputs)
    arns = protected_arns(aws, outputs)
    plan_id = backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": f"backup-plan-{suffix}",
            "Rules": [
                {"RuleName": "yearly", "TargetBackupVaultName": vault, "ScheduleExpression": "cron(0 0 1 1 ? *)"}
            ],
        }
    )["BackupPlanId"]
    backup.create_backup_selection(
        BackupPlanId=plan_id,
        BackupSelection={"SelectionName": f"selection-{suffix}", "IamRoleArn": BACKUP_ROLE, "Resources": arns},
    )
    outputs["BackupPlanId"] = plan_id
    outputs_dir = tmp_path_factory.mktemp("cfn-outputs")
    write_outputs(outputs_dir, outputs, endpoint)
    yield Deployment(suffix, outputs_dir, outputs, heartbeat)

    for selection in backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]:
        backup.delete_backup_selection(BackupPlanId=plan_id, SelectionId=selection["SelectionId"])
    backup.delete_backup_plan(BackupPlanId=plan_id)
    for point in backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]:
        backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point["RecoveryPointArn"])
    backup.delete_backup_vault(BackupVaultName=vault)
    for role in ("writer", "reader"):
        rds.delete_db_instance(DBInstanceIdentifier=f"aurora-{role}-{suffix}", SkipFinalSnapshot=True)
    rds.delete_db_cluster(DBClusterIdentifier=cluster, SkipFinalSnapshot=True)
    dynamodb.delete_table(TableName=table)
    versions = s3.list_object_versions(Bucket=bucket)
    for entry in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    s3.delete_bucket(Bucket=bucket)
    aws("secretsmanager").delete_secret(SecretId=secret_arn, ForceDeleteWithoutRecovery=True)
