"""Conformance: Aurora Serverless v2 auto-pause (D63, ``services/rds/auto_pause.py``).

Amazon Aurora User Guide, "Scaling to Zero ACUs with automatic pause and resume for Aurora Serverless
v2", https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html:
with a minimum capacity of 0 ACU an instance pauses after ``SecondsUntilAutoPause`` without user
connections and scales to zero ACUs (``ServerlessDatabaseCapacity`` 0); a connection request resumes
it, which takes about 15 seconds, the connection waiting meanwhile; a cluster whose minimum capacity
is above 0 never pauses. Amazon RDS API Reference, "ServerlessV2ScalingConfiguration",
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ServerlessV2ScalingConfiguration.html:
SecondsUntilAutoPause from 300 to 86,400 seconds. AWS Backup backs a paused cluster up from its
storage, without resuming it.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pg8000.native
import pytest

from tools.local_aws.clock import CLOCK
from tools.local_aws.services.rds import auto_pause, postgres

from .helpers import backup_job_done, restore_job_done, until
from .test_backup_engine import ROLE
from .test_conformance_network import CONNECT_DATABASE, Network, _admit, invoke
from .test_conformance_network import network as network

PAUSE_SECONDS = 300
# CONNECT_DATABASE with a socket timeout that covers the resume (the canary's: lib/lambda/health_check).
CONNECT_PATIENTLY = CONNECT_DATABASE.replace("timeout=5", "timeout=20")


def _cluster(aws: Callable[[str], Any], network: Network, min_capacity: float) -> dict[str, Any]:
    """A cluster with one available writer in us-east-1a whose group admits the function group."""
    rds, ec2 = aws("rds"), aws("ec2")
    tag = uuid.uuid4().hex[:8]
    group = ec2.create_security_group(GroupName=f"db-{tag}", Description="db", VpcId=network.vpc_id)["GroupId"]
    _admit(aws, group, network.function_group, 5432)
    rds.create_db_subnet_group(
        DBSubnetGroupName=f"db-{tag}",
        DBSubnetGroupDescription="db",
        SubnetIds=[network.subnets["us-east-1a"], network.subnets["us-east-1b"]],
    )
    scaling: dict[str, Any] = {"MinCapacity": min_capacity, "MaxCapacity": 4}
    if min_capacity == 0:
        scaling["SecondsUntilAutoPause"] = PAUSE_SECONDS
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=f"pause-{tag}",
        Engine="aurora-postgresql",
        MasterUsername="master",
        MasterUserPassword="correct-horse-battery",
        DBSubnetGroupName=f"db-{tag}",
        VpcSecurityGroupIds=[group],
        ServerlessV2ScalingConfiguration=scaling,
    )["DBCluster"]
    rds.create_db_instance(
        DBInstanceIdentifier=f"pause-{tag}-writer",
        DBClusterIdentifier=f"pause-{tag}",
        Engine="aurora-postgresql",
        DBInstanceClass="db.serverless",
        AvailabilityZone="us-east-1a",
    )

    def available() -> bool:
        described = rds.describe_db_instances(DBInstanceIdentifier=f"pause-{tag}-writer")["DBInstances"][0]
        return bool(described["DBInstanceStatus"] == "available")

    until(available, minutes=30, what="the writer")
    return {
        "cluster": f"pause-{tag}",
        "arn": cluster["DBClusterArn"],
        "host": cluster["Endpoint"],
        "port": cluster["Port"],
    }


@pytest.fixture
def pausing(aws: Callable[[str], Any], network: Network) -> Iterator[dict[str, Any]]:
    database = _cluster(aws, network, 0)
    yield database
    _delete(aws, database["cluster"])


def _delete(aws: Callable[[str], Any], cluster: str) -> None:
    rds = aws("rds")
    rds.delete_db_instance(DBInstanceIdentifier=f"{cluster}-writer")
    until(
        lambda: not rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["DBClusterMembers"],
        minutes=30,
        what="writer deleted",
    )
    rds.delete_db_cluster(DBClusterIdentifier=cluster, SkipFinalSnapshot=True)


def _capacities(aws: Callable[[str], Any], cluster: str, since: datetime) -> list[float]:
    """The cluster's ``ServerlessDatabaseCapacity`` per minute since ``since``, oldest first."""
    points = aws("cloudwatch").get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName="ServerlessDatabaseCapacity",
        Dimensions=[{"Name": "DBClusterIdentifier", "Value": cluster}],
        StartTime=since,
        EndTime=CLOCK.now() + timedelta(seconds=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert points, f"no ServerlessDatabaseCapacity of {cluster} since {since}"
    return [float(point["Maximum"]) for point in sorted(points, key=lambda point: point["Timestamp"])]


def _capacity(aws: Callable[[str], Any], cluster: str) -> float:
    """The newest ``ServerlessDatabaseCapacity`` of the cluster (its last minute)."""
    return _capacities(aws, cluster, CLOCK.now() - timedelta(minutes=1))[-1]


def _connect(aws: Callable[[str], Any], name: str, database: dict[str, Any]) -> dict[str, Any]:
    return invoke(aws, name, {"host": database["host"], "port": database["port"]})[0]


def _paused(database: dict[str, Any]) -> bool:
    return auto_pause.is_paused(database["cluster"]) and not postgres.server_for(database["cluster"]).running


def test_an_idle_cluster_pauses_after_its_delay_and_reports_zero_acu(aws, network, pausing):
    name = network.function(CONNECT_PATIENTLY, zones=("us-east-1a",))
    assert _connect(aws, name, pausing)["outcome"] == "1"  # the last connection

    CLOCK.advance(timedelta(seconds=PAUSE_SECONDS - 60))
    awake = not _paused(pausing), _capacity(aws, pausing["cluster"])
    CLOCK.advance(timedelta(minutes=2))

    assert awake == (True, auto_pause.RUNNING_ACU)
    assert _paused(pausing)
    assert _capacity(aws, pausing["cluster"]) == 0


def test_the_next_connection_resumes_it_after_the_resume_time_on_the_functions_clock(aws, network, pausing):
    name = network.function(CONNECT_PATIENTLY, zones=("us-east-1a",))
    until(lambda: _paused(pausing), minutes=10, what="the cluster pausing")

    resumed = _connect(aws, name, pausing)
    again = _connect(aws, name, pausing)

    assert resumed["outcome"] == "1", resumed
    assert resumed["waited"] >= auto_pause.RESUME_SECONDS
    assert again["outcome"] == "1" and again["waited"] < auto_pause.RESUME_SECONDS
    CLOCK.advance(timedelta(minutes=1))
    assert _capacity(aws, pausing["cluster"]) == auto_pause.RUNNING_ACU


def test_a_connection_that_gives_up_before_the_resume_ends_times_out_and_the_cluster_still_resumes(
    aws, network, pausing
):
    impatient = network.function(CONNECT_DATABASE, zones=("us-east-1a",))  # pg8000 timeout 5 s < 15 s
    until(lambda: _paused(pausing), minutes=10, what="the cluster pausing")

    gave_up = _connect(aws, impatient, pausing)
    next_one = _connect(aws, impatient, pausing)

    assert gave_up["outcome"].startswith("InterfaceError: Can't create a connection to host"), gave_up
    assert next_one["outcome"] == "1", next_one


def _sql(host: str, port: int, statement: str) -> Any:
    """``statement`` over a connection from outside any VPC (as a test or psql connects)."""
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    connection = pg8000.native.Connection(
        "master",
        host=host,
        port=port,
        password="correct-horse-battery",
        database="postgres",
        ssl_context=tls,
        timeout=20,
    )
    try:
        return connection.run(statement)
    finally:
        connection.close()


def test_a_connection_from_outside_the_emulator_resumes_it_and_is_answered(aws, network, pausing):
    """A client outside any VPC (a test, psql, the drill) reaches the paused cluster's endpoint too."""
    until(lambda: _paused(pausing), minutes=10, what="the cluster pausing")

    answer = _sql(pausing["host"], pausing["port"], "SELECT 1")

    assert answer == [[1]]
    assert not _paused(pausing)


def test_a_backup_of_a_paused_cluster_completes_leaves_it_paused_and_restores_its_data(aws, network, pausing, suffix):
    backup, rds = aws("backup"), aws("rds")
    vault, copy = f"pause-vault-{suffix}", f"pause-copy-{suffix}"
    backup.create_backup_vault(BackupVaultName=vault)
    _sql(pausing["host"], pausing["port"], "CREATE TABLE written_before_the_pause AS SELECT 42 AS answer")
    until(lambda: _paused(pausing), minutes=10, what="the cluster pausing")
    since = CLOCK.now()

    started = backup.start_backup_job(BackupVaultName=vault, ResourceArn=pausing["arn"], IamRoleArn=ROLE)
    job = backup_job_done(aws, started["BackupJobId"])
    capacities = set(_capacities(aws, pausing["cluster"], since))
    still_paused = _paused(pausing)
    point = job["RecoveryPointArn"]
    metadata = backup.get_recovery_point_restore_metadata(BackupVaultName=vault, RecoveryPointArn=point)
    restore = backup.start_restore_job(
        RecoveryPointArn=point, IamRoleArn=ROLE, Metadata={**metadata["RestoreMetadata"], "DBClusterIdentifier": copy}
    )
    restore_job_done(aws, restore["RestoreJobId"])
    rds.create_db_instance(
        DBInstanceIdentifier=f"{copy}-writer",
        DBClusterIdentifier=copy,
        Engine="aurora-postgresql",
        DBInstanceClass="db.serverless",
    )
    until(
        lambda: (
            rds.describe_db_instances(DBInstanceIdentifier=f"{copy}-writer")["DBInstances"][0]["DBInstanceStatus"]
            == "available"
        ),
        minutes=30,
        what="the copy's writer",
    )
    restored = rds.describe_db_clusters(DBClusterIdentifier=copy)["DBClusters"][0]
    rows = _sql(restored["Endpoint"], restored["Port"], "SELECT answer FROM written_before_the_pause")

    assert job["State"] == "COMPLETED", job
    assert still_paused
    assert capacities == {0.0}  # never resumed on the way
    assert rows == [[42]]
    _delete(aws, copy)
    backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point)


def test_a_paused_cluster_that_is_stopped_refuses_connections_until_it_is_started(aws, network, pausing):
    """Aurora User Guide, "Stopping and starting an Amazon Aurora DB cluster": a stopped cluster is not
    resumed by a connection; StartDBCluster brings it back."""
    name = network.function(CONNECT_PATIENTLY, zones=("us-east-1a",))
    rds = aws("rds")
    until(lambda: _paused(pausing), minutes=10, what="the cluster pausing")

    rds.stop_db_cluster(DBClusterIdentifier=pausing["cluster"])
    stopped = _connect(aws, name, pausing)
    rds.start_db_cluster(DBClusterIdentifier=pausing["cluster"])
    started = _connect(aws, name, pausing)

    assert "connection" in stopped["outcome"].lower() and stopped["outcome"] != "1", stopped
    assert started["outcome"] == "1", started


def test_a_cluster_with_a_floor_above_zero_never_pauses(aws, network):
    database = _cluster(aws, network, 0.5)
    CLOCK.advance(timedelta(seconds=3 * PAUSE_SECONDS))
    try:
        assert not auto_pause.is_paused(database["cluster"])
        assert postgres.server_for(database["cluster"]).running
    finally:
        _delete(aws, database["cluster"])
