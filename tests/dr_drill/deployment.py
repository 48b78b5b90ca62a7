"""A drill test's deployment of the kit's stores in the session's emulator, and what tests do with it.

What a drill needs and nothing more (the ``deployment`` fixture in conftest.py makes it): an Aurora
cluster (a real PostgreSQL with TLS) with a writer and a reader, a DynamoDB table with PITR, a versioned
bucket, each holding a canary heartbeat; the master secret; a vault with one completed recovery point
per store; a backup plan whose selection names the three; and the outputs files `make deploy` would
write, in a temp dir.
"""

from __future__ import annotations

import io
import json
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pg8000.native

from tests.emulator import ACCOUNT, BACKUP_ROLE, REGION
from tools.dr_drill import cli
from tools.local_aws.clock import CLOCK

PASSWORD = "drill-password-123"
# How old the canary's newest heartbeat is when the recovery points are taken.
HEARTBEAT_AGE = timedelta(minutes=10)
JOBS_MINUTES = 30  # more than the emulator's backup jobs take


def connect(cluster: dict[str, Any]) -> pg8000.native.Connection:
    """The master user's TLS connection to the database of ``cluster`` (as DescribeDBClusters returns it)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return pg8000.native.Connection(
        user="master",
        password=PASSWORD,
        host=cluster["Endpoint"],
        port=cluster["Port"],
        database="appdb",
        ssl_context=context,
    )


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
    database = connect(cluster)
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
