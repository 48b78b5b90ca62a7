"""Aurora answers SQL: a real PostgreSQL server per cluster, over TLS, with reboots, failovers,
stop/start, deletion, dump/load and point-in-time restore."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pg8000.native
import pytest
from botocore.exceptions import ClientError
from pg8000.exceptions import DatabaseError, InterfaceError

from tests.emulator import REGION
from tools.local_aws.clock import CLOCK
from tools.local_aws.server import REPO_ROOT, answers
from tools.local_aws.services.rds import postgres

from .helpers import get_att, ref, template

PASSWORD = "correct-horse-battery"  # a test cluster's master password
# What a dropped or refused connection raises in pg8000: a server FATAL or a network error.
CONNECTION_LOST = (InterfaceError, DatabaseError)


def _tls() -> ssl.SSLContext:
    """TLS without verification, as most database clients connect to Aurora."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _connect(details: dict[str, Any], **options: Any) -> pg8000.native.Connection:
    """A connection with the fields of an attached secret (host, port, username, password, dbname)."""
    return pg8000.native.Connection(
        details["username"],
        host=details["host"],
        port=int(details["port"]),
        password=details["password"],
        database=details["dbname"],
        timeout=10,
        **{"ssl_context": _tls(), **options},
    )


def _aurora(suffix: str) -> dict[str, Any]:
    """A cluster as CDK writes ours: generated secret, rds.force_ssl=1, writer and reader, attachment."""
    resources = {
        "Parameters": {
            "Type": "AWS::RDS::DBClusterParameterGroup",
            "Properties": {"Family": "aurora-postgresql16", "Description": "tls", "Parameters": {"rds.force_ssl": "1"}},
        },
        "Secret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": f"sql-credentials-{suffix}",
                "GenerateSecretString": {
                    "SecretStringTemplate": json.dumps({"username": "dbadmin"}),
                    "GenerateStringKey": "password",
                    "ExcludeCharacters": " %+~`#$&*()|[]{}:;<>?!'/@\"\\",
                },
            },
        },
        "Cluster": {
            "Type": "AWS::RDS::DBCluster",
            "Properties": {
                "DBClusterIdentifier": f"sql-{suffix}",
                "Engine": "aurora-postgresql",
                "EngineVersion": "16.6",
                "DatabaseName": "appdb",
                "MasterUsername": "dbadmin",
                "MasterUserPassword": {
                    "Fn::Join": ["", ["{{resolve:secretsmanager:", ref("Secret"), ":SecretString:password::}}"]]
                },
                "DBClusterParameterGroupName": ref("Parameters"),
                "BackupRetentionPeriod": 7,
            },
        },
        "Writer": _instance(0),
        "Reader": {**_instance(1), "DependsOn": "Writer"},
        "Attachment": {
            "Type": "AWS::SecretsManager::SecretTargetAttachment",
            "Properties": {"SecretId": ref("Secret"), "TargetId": ref("Cluster"), "TargetType": "AWS::RDS::DBCluster"},
        },
    }
    outputs = {
        "Endpoint": get_att("Cluster", "Endpoint.Address"),
        "ReadEndpoint": get_att("Cluster", "ReadEndpoint.Address"),
        "Port": get_att("Cluster", "Endpoint.Port"),
        "SecretArn": ref("Attachment"),
        "Writer": ref("Writer"),
        "Reader": ref("Reader"),
    }
    return template(resources, outputs)


def _instance(promotion_tier: int) -> dict[str, Any]:
    return {
        "Type": "AWS::RDS::DBInstance",
        "Properties": {
            "DBClusterIdentifier": ref("Cluster"),
            "DBInstanceClass": "db.serverless",
            "Engine": "aurora-postgresql",
            "PromotionTier": promotion_tier,
        },
    }


@pytest.fixture
def aurora(cfn, suffix):
    return cfn.deploy(_aurora(suffix))


@pytest.fixture
def credentials(aurora, aws) -> dict[str, Any]:
    """The attached secret: what an application reads to connect."""
    return json.loads(aws("secretsmanager").get_secret_value(SecretId=aurora.outputs["SecretArn"])["SecretString"])


@pytest.fixture
def create_cluster(aws) -> Iterator[Callable[..., dict[str, Any]]]:
    """``create_cluster(**CreateDBCluster arguments)`` through the API; returns the connection
    details as an attached secret would hold them. Clusters left behind are deleted."""
    rds = aws("rds")
    created: list[str] = []

    def create(identifier: str | None = None, **arguments: Any) -> dict[str, Any]:
        identifier = identifier or f"api-{uuid.uuid4().hex[:8]}"
        cluster = rds.create_db_cluster(
            DBClusterIdentifier=identifier,
            Engine="aurora-postgresql",
            EngineVersion="16.6",
            MasterUsername="master",
            MasterUserPassword=PASSWORD,
            DatabaseName="orders",
            BackupRetentionPeriod=7,
            **arguments,
        )["DBCluster"]
        created.append(identifier)
        return _details(cluster)

    yield create
    for identifier in created:
        try:
            rds.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "DBClusterNotFoundFault"


def _details(cluster: dict[str, Any]) -> dict[str, Any]:
    return {
        "identifier": cluster["DBClusterIdentifier"],
        "host": cluster["Endpoint"],
        "port": cluster["Port"],
        "username": cluster["MasterUsername"],
        "password": PASSWORD,
        "dbname": cluster["DatabaseName"],
    }


def _cluster(aws: Callable[[str], Any], identifier: str) -> dict[str, Any]:
    return aws("rds").describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]


def test_d3_cloudformation_cluster_answers_sql_over_tls_only_with_the_secret(aurora, credentials, aws):
    cluster = _cluster(aws, credentials["dbClusterIdentifier"])
    connection = _connect(credentials)

    connection.run("CREATE TABLE orders (id int PRIMARY KEY, item text)")
    connection.run("INSERT INTO orders VALUES (1, 'book')")

    assert connection.run("SELECT item FROM orders") == [["book"]]
    assert connection.run("SELECT current_user, current_database()") == [["dbadmin", "appdb"]]
    assert connection.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [[True]]
    endpoints = {aurora.outputs["Endpoint"], aurora.outputs["ReadEndpoint"], cluster["Endpoint"]}
    assert endpoints | {cluster["ReaderEndpoint"], credentials["host"]} == {"127.0.0.1"}
    assert int(aurora.outputs["Port"]) == cluster["Port"] == credentials["port"] != 5432
    with pytest.raises(DatabaseError, match="no encryption"):
        _connect(credentials, ssl_context=False)


def test_d3_api_cluster_answers_and_its_server_certificate_verifies(create_cluster):
    details = create_cluster()
    server = postgres.server_for(details["identifier"])
    verified = ssl.create_default_context(cafile=str(server.certificate))

    connection = _connect(details, ssl_context=verified)

    assert connection.run("SELECT current_user, current_database()") == [["master", "orders"]]
    with pytest.raises(DatabaseError, match="no encryption"):
        _connect(details, ssl_context=False)


def test_d3_force_ssl_0_in_the_parameter_group_allows_plaintext(create_cluster, aws, suffix):
    rds = aws("rds")
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=f"plain-{suffix}", DBParameterGroupFamily="aurora-postgresql16", Description="x"
    )
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName=f"plain-{suffix}",
        Parameters=[{"ParameterName": "rds.force_ssl", "ParameterValue": "0", "ApplyMethod": "immediate"}],
    )

    details = create_cluster(DBClusterParameterGroupName=f"plain-{suffix}")

    assert _connect(details, ssl_context=False).run("SELECT 1") == [[1]]


def test_d3_an_identifier_in_use_is_refused(create_cluster, aws):
    details = create_cluster()

    with pytest.raises(ClientError, match="DBClusterAlreadyExistsFault"):
        aws("rds").create_db_cluster(
            DBClusterIdentifier=details["identifier"],
            Engine="aurora-postgresql",
            MasterUsername="other",
            MasterUserPassword=PASSWORD,
        )
    assert _connect(details).run("SELECT current_user") == [["master"]]


def test_d3_delete_stops_the_server_and_removes_its_data(cfn, aurora, credentials):
    data_dir = postgres.server_for(credentials["dbClusterIdentifier"]).data_dir
    assert (data_dir / "pgdata" / "PG_VERSION").exists()

    assert cfn.delete(aurora).status == "DELETE_COMPLETE"

    assert not data_dir.exists()
    with pytest.raises(KeyError):
        postgres.server_for(credentials["dbClusterIdentifier"])
    with pytest.raises(InterfaceError):
        _connect(credentials)


def test_d3_leftover_data_of_a_previous_process_is_replaced(create_cluster, suffix):
    leftover = postgres.data_root() / f"leftover-{suffix}" / "pgdata"
    leftover.mkdir(parents=True)
    (leftover / "postmaster.pid").write_text("999999\n")
    (leftover / "stale").write_text("from a killed emulator")

    details = create_cluster(identifier=f"leftover-{suffix}")

    assert not (leftover / "stale").exists()
    assert _connect(details).run("SELECT current_database()") == [["orders"]]


def test_d4_reboot_drops_live_connections(aurora, credentials, aws):
    rds = aws("rds")
    connection = _connect(credentials)

    rds.reboot_db_cluster(DBClusterIdentifier=credentials["dbClusterIdentifier"])

    with pytest.raises(CONNECTION_LOST):
        connection.run("SELECT 1")
    connection = _connect(credentials)
    rds.reboot_db_instance(DBInstanceIdentifier=aurora.outputs["Reader"])
    with pytest.raises(CONNECTION_LOST):
        connection.run("SELECT 1")
    assert _connect(credentials).run("SELECT 1") == [[1]]


def test_d4_failover_moves_the_writer_and_drops_connections(aurora, credentials, aws):
    identifier = credentials["dbClusterIdentifier"]
    connection = _connect(credentials)

    aws("rds").failover_db_cluster(DBClusterIdentifier=identifier)

    members = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in _cluster(aws, identifier)["DBClusterMembers"]}
    assert members == {aurora.outputs["Writer"]: False, aurora.outputs["Reader"]: True}
    with pytest.raises(CONNECTION_LOST):
        connection.run("SELECT 1")
    assert _connect(credentials).run("SELECT 1") == [[1]]


def test_d4_stopped_cluster_refuses_connections_until_started(create_cluster, aws):
    rds = aws("rds")
    details = create_cluster()
    _connect(details).run("CREATE TABLE kept AS SELECT 42 AS answer")

    rds.stop_db_cluster(DBClusterIdentifier=details["identifier"])

    assert _cluster(aws, details["identifier"])["Status"] == "stopped"
    with pytest.raises(InterfaceError):
        _connect(details)
    with pytest.raises(ClientError, match="InvalidDBClusterStateFault"):
        rds.reboot_db_cluster(DBClusterIdentifier=details["identifier"])

    rds.start_db_cluster(DBClusterIdentifier=details["identifier"])

    assert _cluster(aws, details["identifier"])["Status"] == "available"
    assert _connect(details).run("SELECT answer FROM kept") == [[42]]


def test_d4_reboot_of_an_unknown_cluster_is_not_found(aws):
    with pytest.raises(ClientError, match="DBClusterNotFoundFault"):
        aws("rds").reboot_db_cluster(DBClusterIdentifier="no-such-cluster")


def test_d5_restore_to_a_point_in_time_sees_the_data_of_that_time(create_cluster, aws):
    rds = aws("rds")
    source = create_cluster()
    connection = _connect(source)
    connection.run("CREATE TABLE events (name text)")
    connection.run("INSERT INTO events VALUES ('before')")
    CLOCK.advance(timedelta(minutes=10))
    when = CLOCK.now()
    CLOCK.advance(timedelta(minutes=10))
    connection.run("INSERT INTO events VALUES ('after')")
    target = f"{source['identifier']}-restored"

    restored = rds.restore_db_cluster_to_point_in_time(
        DBClusterIdentifier=target, SourceDBClusterIdentifier=source["identifier"], RestoreToTime=when
    )["DBCluster"]

    try:
        details = _details(restored)
        assert details["port"] != source["port"]
        assert _details(_cluster(aws, target)) == details
        assert _connect(details).run("SELECT name FROM events") == [["before"]]
        assert _connect(source).run("SELECT name FROM events ORDER BY name") == [["after"], ["before"]]
    finally:
        rds.delete_db_cluster(DBClusterIdentifier=target, SkipFinalSnapshot=True)


def test_d5_latest_restorable_time_of_a_stopped_cluster_has_its_last_commit(create_cluster, aws):
    rds = aws("rds")
    source = create_cluster()
    _connect(source).run("CREATE TABLE last AS SELECT 'committed' AS state")
    rds.stop_db_cluster(DBClusterIdentifier=source["identifier"])
    target = f"{source['identifier']}-latest"

    restored = rds.restore_db_cluster_to_point_in_time(
        DBClusterIdentifier=target, SourceDBClusterIdentifier=source["identifier"], UseLatestRestorableTime=True
    )["DBCluster"]

    try:
        assert _connect(_details(restored)).run("SELECT state FROM last") == [["committed"]]
    finally:
        rds.delete_db_cluster(DBClusterIdentifier=target, SkipFinalSnapshot=True)


def test_d5_restore_time_outside_the_restorable_window_is_refused(create_cluster, aws):
    source = create_cluster()
    before_creation = CLOCK.now() - timedelta(hours=1)

    with pytest.raises(ClientError, match="InvalidRestoreFault"):
        aws("rds").restore_db_cluster_to_point_in_time(
            DBClusterIdentifier=f"{source['identifier']}-early",
            SourceDBClusterIdentifier=source["identifier"],
            RestoreToTime=before_creation,
        )


def test_dump_loads_into_another_server(endpoint, tmp_path):
    identifiers = [f"dump-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    source = postgres.start_server(identifiers[0], "owner", PASSWORD, "shop")
    try:
        target = postgres.start_server(identifiers[1], "someone", PASSWORD, "copy")
        _connect(_server_details(source)).run("CREATE TABLE items AS SELECT generate_series(1, 100) AS id")

        size = source.dump(tmp_path / "shop.dump")
        target.load(tmp_path / "shop.dump")

        dumped = [tmp_path / "shop.dump", postgres.roles_file(tmp_path / "shop.dump")]
        assert size == sum(path.stat().st_size for path in dumped) and all(path.stat().st_size for path in dumped)
        assert _connect(_server_details(target)).run("SELECT count(*), max(id) FROM items") == [[100, 100]]
    finally:
        for identifier in identifiers:
            postgres.delete_server(identifier)


def test_missing_postgresql_is_reported_in_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres, "INSTALLATIONS", tmp_path)
    postgres.binaries.cache_clear()
    try:
        with pytest.raises(postgres.DatabaseError) as raised:
            postgres.binaries()
    finally:
        postgres.binaries.cache_clear()

    assert str(raised.value) == (
        f"PostgreSQL server binaries (initdb, postgres) were found neither by pg_config nor in {tmp_path}/*/bin; "
        "install the PostgreSQL server package (Debian: postgresql-15)."
    )


def _server_details(server: postgres.DatabaseServer) -> dict[str, Any]:
    return {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "dbname": server.database,
    }


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state directory the server account can reach (pytest's tmp_path is private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="local-aws-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_servers_stop_when_the_emulator_is_terminated(state_dir):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "tools.local_aws", "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env={**os.environ, "LOCAL_AWS_STATE_DIR": str(state_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not answers(url):  # waiting for a process to listen, not for time to pass
            assert time.monotonic() < deadline and emulator.poll() is None
            time.sleep(0.1)
        rds = boto3.client(
            "rds", endpoint_url=url, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )
        cluster = rds.create_db_cluster(
            DBClusterIdentifier="terminated",
            Engine="aurora-postgresql",
            MasterUsername="master",
            MasterUserPassword=PASSWORD,
            DatabaseName="orders",
        )["DBCluster"]
        pgdata = state_dir / "postgres" / "terminated" / "pgdata"
        assert (pgdata / "postmaster.pid").exists()

        emulator.send_signal(signal.SIGTERM)

        assert emulator.wait(30) == 0
        assert not (pgdata / "postmaster.pid").exists()
        with pytest.raises(InterfaceError):
            _connect(_details(cluster))
    finally:
        if emulator.poll() is None:
            emulator.kill()
            emulator.wait()


def test_d3_delete_through_the_api_removes_the_automated_snapshots(aws, create_cluster, suffix):
    rds = aws("rds")
    create_cluster(identifier=f"snapshots-{suffix}")
    assert rds.describe_db_cluster_snapshots(DBClusterIdentifier=f"snapshots-{suffix}")["DBClusterSnapshots"]

    rds.delete_db_cluster(DBClusterIdentifier=f"snapshots-{suffix}", SkipFinalSnapshot=True)

    assert rds.describe_db_cluster_snapshots(DBClusterIdentifier=f"snapshots-{suffix}")["DBClusterSnapshots"] == []
