"""An in-process patched emulator (as in tests/local_aws) and a small deployment of the kit's stores in it.

The deployment is what a drill needs and nothing more: an Aurora cluster (a real PostgreSQL with TLS)
with a writer and a reader, a DynamoDB table with PITR, a versioned bucket, each holding a canary
heartbeat; the master secret; a vault with one completed recovery point per store; a backup plan
whose selection names the three; and the outputs files `make deploy` would write, in a temp dir.
"""

from __future__ import annotations

import io
import json
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pg8000.native
import pytest

from tests.emulator import ACCOUNT, REGION, backup_service_role, client_factory, running_emulator
from tools.dr_drill import cli
from tools.local_aws.clock import CLOCK

PASSWORD = "drill-password-123"
BACKUP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/backup-role"
# How old the canary's newest heartbeat is when the recovery points are taken.
HEARTBEAT_AGE = timedelta(minutes=10)
JOBS_MINUTES = 30  # more than the emulator's backup jobs take


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    yield from running_emulator("dr-drill-tests-")


@pytest.fixture(scope="session")
def aws(endpoint: str) -> Callable[[str], Any]:
    client = client_factory(endpoint)
    backup_service_role(client, "backup-role")  # BACKUP_ROLE: IAM is enforced for AWS Backup's jobs
    return client


def tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class Deployment:
    """What the fake `make deploy` produced: names, outputs directory and the heartbeat written."""

    suffix: str
    outputs_dir: Path
    outputs: dict[str, str]
    heartbeat: str  # ISO time of the newest heartbeat in every store

    def refresh(self, aws: Callable[[str], Any]) -> None:
        """A new heartbeat in every store and a completed backup of each, as the canary and the
        hourly plan keep doing: the drills before a test moved the emulated clock on, and a drill
        passes only while its newest heartbeat is within the RPO."""
        self.heartbeat = write_heartbeats(aws, self.outputs, CLOCK.now() - HEARTBEAT_AGE)
        back_up(aws, self.outputs)

    def run(self, *args: str, report_dir: Path, sleep: Callable[[float], None] | None = None) -> tuple[int, str, str]:
        """``python -m tools.dr_drill <args>`` in-process: (exit code, stdout, stderr). Never sleeps: it
        waits by advancing the emulator's clock, as against a local deployment."""
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(
            [*args, "--outputs-dir", str(self.outputs_dir), "--report-dir", str(report_dir)],
            env={},
            out=out,
            err=err,
            sleep=sleep,
        )
        return code, out.getvalue(), err.getvalue()


def write_heartbeats(aws: Callable[[str], Any], outputs: dict[str, str], newest: datetime) -> str:
    """Two heartbeats (``newest`` and one older) in each store, as the canary writes them; the
    newest one's ISO time."""
    heartbeat = newest.isoformat(timespec="microseconds")
    older = (newest - 2 * HEARTBEAT_AGE).isoformat(timespec="microseconds")
    cluster = aws("rds").describe_db_clusters(DBClusterIdentifier=outputs["AuroraClusterIdentifier"])["DBClusters"][0]
    database = pg8000.native.Connection(
        user="master",
        password=PASSWORD,
        host=cluster["Endpoint"],
        port=cluster["Port"],
        database="appdb",
        ssl_context=tls(),
    )
    database.run(
        "INSERT INTO dr_heartbeat VALUES (:id, :at, :suffix)",
        id=uuid.uuid4(),
        at=newest,
        suffix=outputs["EnvironmentSuffix"],
    )
    database.close()
    for checked_at in (older, heartbeat):
        aws("dynamodb").put_item(
            TableName=outputs["TableName"],
            Item={"pk": {"S": "heartbeat"}, "sk": {"S": checked_at}, "checked_at": {"S": checked_at}},
        )
        aws("s3").put_object(
            Bucket=outputs["BucketName"],
            Key="heartbeat/latest.json",
            Body=json.dumps({"checked_at": checked_at}).encode(),
        )
    return heartbeat


def protected_arns(aws: Callable[[str], Any], outputs: dict[str, str]) -> list[str]:
    cluster = aws("rds").describe_db_clusters(DBClusterIdentifier=outputs["AuroraClusterIdentifier"])["DBClusters"][0]
    return [
        cluster["DBClusterArn"],
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{outputs['TableName']}",
        f"arn:aws:s3:::{outputs['BucketName']}",
    ]


def back_up(aws: Callable[[str], Any], outputs: dict[str, str], arns: list[str] | None = None) -> None:
    """An on-demand backup of each resource (every protected one by default), run to its end on the
    emulator's clock (backup jobs take emulated minutes)."""
    backup = aws("backup")
    jobs = [
        backup.start_backup_job(BackupVaultName=outputs["BackupVaultName"], ResourceArn=arn, IamRoleArn=BACKUP_ROLE)[
            "BackupJobId"
        ]
        for arn in arns or protected_arns(aws, outputs)
    ]
    states: set[str] = set()
    for _ in range(JOBS_MINUTES):
        states = {backup.describe_backup_job(BackupJobId=job)["State"] for job in jobs}
        if states == {"COMPLETED"}:
            return
        CLOCK.advance(timedelta(minutes=1))
    raise AssertionError(f"backup jobs not completed within {JOBS_MINUTES} emulated minutes: {states}")


def write_outputs(directory: Path, outputs: dict[str, str], endpoint: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "flat-outputs.json").write_text(json.dumps(outputs))
    (directory / "target.json").write_text(json.dumps({"target": "local", "endpoint_url": endpoint}))


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
    database = pg8000.native.Connection(
        user="master",
        password=PASSWORD,
        host=described["Endpoint"],
        port=described["Port"],
        database="appdb",
        ssl_context=tls(),
    )
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
