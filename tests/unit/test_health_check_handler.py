"""Unit tests of the health-check canary, against a fake gateway (``FakeGateway``: the secret, the table,
the bucket and the heartbeat rows in memory). The gateway's own SQL over TLS is tested on it directly,
with a fake pg8000 connection."""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import certifi
import pg8000.native
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dr_common import postgres
from dr_common.settings import ConfigurationError

from .handlers import FUNCTIONS_DIR, load_handler

PASSWORD = "db.internal:5432/?Action=connect&DBUser=dr_canary&X-Amz-Signature=s3cr3t"  # an IAM token
TABLE = "dr-table-test"
BUCKET = "dr-bucket-test"
NAMESPACE = "DisasterRecovery/HealthCheck"
BASE_ENV = {
    "DB_USER": "dr_canary",
    "DB_HOST": "db.internal",
    "DB_PORT": "5432",
    "DB_NAME": "drdb",
    "TABLE_NAME": TABLE,
    "BUCKET_NAME": BUCKET,
    "ENVIRONMENT_SUFFIX": "test",
    "METRICS_NAMESPACE": NAMESPACE,
    "DB_CA_BUNDLE": "dr_common/rds-ca-us-east-1-bundle.pem",
}
PACKAGED_BUNDLE = FUNCTIONS_DIR / "dr_common" / "rds-ca-us-east-1-bundle.pem"


@pytest.fixture(autouse=True)
def fresh_container() -> None:
    """Each test runs in a new container: no SSL context cached from another test."""
    postgres.ssl_context.cache_clear()


class FakeDatabase:
    """Stands in for Aurora behind pg8000: keeps inserted heartbeat rows."""

    def __init__(self) -> None:
        self.rows: dict[Any, datetime] = {}
        self.statements: list[str] = []
        self.closed = 0
        self.loses_writes = False


class FakeConnection:
    """The part of ``pg8000.native.Connection`` the gateway uses: ``run`` and ``close``."""

    def __init__(self, database: FakeDatabase) -> None:
        self.database = database

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        statement = sql.split()[0].upper()
        self.database.statements.append(statement)
        if statement == "INSERT" and not self.database.loses_writes:
            self.database.rows[params["id"]] = params["checked_at"]
        if statement == "SELECT" and params["id"] in self.database.rows:
            return [[self.database.rows[params["id"]]]]
        return []

    def close(self) -> None:
        self.database.closed += 1


class FakeGateway:
    """The canary's stores in memory, in place of ``gateway.Gateway``. ``errors`` maps a call's name
    to the exception it raises; ``logins`` and ``connects`` record those calls."""

    def __init__(self) -> None:
        self.token = PASSWORD
        self.items: dict[str, dict[str, Any]] = {}  # table/sk -> item
        self.objects: dict[str, bytes] = {}  # bucket/key -> body
        self.rows: dict[Any, datetime] = {}
        self.loses_writes = False
        self.errors: dict[str, Exception] = {}
        self.logins: list[tuple[str, int, str]] = []
        self.connects: list[dict[str, Any]] = []

    def _fail(self, call: str) -> None:
        if call in self.errors:
            raise self.errors[call]

    def db_login(self, host: str, port: int, user: str) -> postgres.Credentials:
        self.logins.append((host, port, user))
        return postgres.Credentials(user, self.token)

    def write_heartbeat_row(
        self, host: str, port: int, database: str, credentials: Any, ca_bundle: Path | None, row: tuple[Any, ...]
    ) -> Any:
        self.connects.append({"host": host, "port": port, "database": database, "credentials": credentials})
        self._fail("write_heartbeat_row")
        heartbeat_id, checked_at, _ = row
        if not self.loses_writes:
            self.rows[heartbeat_id] = checked_at
        return self.rows.get(heartbeat_id)

    def put_item(self, table: str, item: Mapping[str, Any]) -> None:
        self._fail("put_item")
        self.items[f"{table}/{item['sk']['S']}"] = dict(item)

    def get_item(self, table: str, key: Mapping[str, Any]) -> Mapping[str, Any] | None:
        assert key["pk"] == {"S": "heartbeat"}
        return self.items.get(f"{table}/{key['sk']['S']}")

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self._fail("put_object")
        assert content_type == "application/json"
        self.objects[f"{bucket}/{key}"] = body

    def get_object(self, bucket: str, key: str) -> bytes:
        return self.objects[f"{bucket}/{key}"]


@pytest.fixture
def aws() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def handler(aws: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    module = load_handler(monkeypatch, "health_check")
    monkeypatch.setattr(module, "gateway", aws)
    return module


@pytest.fixture
def logic(handler: ModuleType) -> ModuleType:
    return sys.modules["logic"]  # the copy load_handler imported


@pytest.fixture
def gateway(handler: ModuleType) -> ModuleType:
    return sys.modules["gateway"]


def emf_documents(stdout: str) -> dict[str, dict[str, Any]]:
    """Parse stdout the way CloudWatch Logs does (one JSON document per line), by dependency."""
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]
    for document in documents:  # EMF allows a list of values per metric; Powertools always writes one
        document.update({name: value[0] for name, value in document.items() if isinstance(value, list)})
    return {document["Dependency"]: document for document in documents}


def assert_valid_emf(document: dict[str, Any]) -> None:
    """Every metric and dimension the directive names must be a top-level member of the line."""
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["Dependency", "EnvironmentSuffix"]]
    assert directive["Metrics"] == [
        {"Name": "Success", "Unit": "Count"},
        {"Name": "Latency", "Unit": "Milliseconds"},
    ]
    assert document["EnvironmentSuffix"] == "test"
    assert document["Success"] in (0, 1)
    assert isinstance(document["Latency"], float | int) and document["Latency"] >= 0
    assert abs(document["_aws"]["Timestamp"] / 1000 - datetime.now(UTC).timestamp()) < 60


def test_success_writes_heartbeats_everywhere_and_emits_emf(
    aws: FakeGateway,
    handler: ModuleType,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    summary = handler.handler({"source": "aws.events", "detail": {}}, None)

    assert json.loads(json.dumps(summary)) == summary
    assert summary["healthy"] is True
    assert {r["dependency"]: r["success"] for r in summary["results"]} == {
        "Aurora": True,
        "DynamoDB": True,
        "S3": True,
    }
    heartbeat_id = summary["heartbeat_id"]

    item = aws.items[f"{TABLE}/{summary['checked_at']}"]
    assert item["pk"] == {"S": "heartbeat"}
    assert item["heartbeat_id"]["S"] == heartbeat_id
    assert json.loads(aws.objects[f"{BUCKET}/heartbeat/latest.json"])["heartbeat_id"] == heartbeat_id
    assert [str(row_id) for row_id in aws.rows] == [heartbeat_id]
    (connect,) = aws.connects
    assert aws.logins == [("db.internal", 5432, "dr_canary")]  # its own user's token, not the master's secret
    assert (connect["credentials"].username, connect["credentials"].password) == ("dr_canary", PASSWORD)
    assert (connect["host"], connect["port"], connect["database"]) == ("db.internal", 5432, "drdb")

    documents = emf_documents(capsys.readouterr().out)
    assert set(documents) == {"Aurora", "DynamoDB", "S3"}
    for document in documents.values():
        assert_valid_emf(document)
        assert document["Success"] == 1
        assert "Error" not in document
    assert PASSWORD not in caplog.text


def test_one_failing_dependency_is_measured_and_fails_the_invocation(
    aws: FakeGateway, handler: ModuleType, logic: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.errors["put_object"] = ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "PutObject")

    with pytest.raises(logic.HealthCheckFailed) as raised:
        handler.handler({}, None)

    summary = raised.value.summary
    results = {r["dependency"]: r for r in summary["results"]}
    assert results["S3"]["success"] is False
    assert "NoSuchBucket" in results["S3"]["error"]
    assert results["Aurora"]["success"] is True
    assert results["DynamoDB"]["success"] is True
    assert "1 of 3 dependencies failed: S3: " in str(raised.value)
    assert len(aws.rows) == 1
    assert len(aws.items) == 1

    documents = emf_documents(capsys.readouterr().out)
    assert {name: doc["Success"] for name, doc in documents.items()} == {
        "Aurora": 1,
        "DynamoDB": 1,
        "S3": 0,
    }
    for document in documents.values():
        assert_valid_emf(document)
    assert "NoSuchBucket" in documents["S3"]["Error"]


def test_aurora_failure_never_logs_the_token_and_the_next_run_gets_a_new_one(
    aws: FakeGateway,
    handler: ModuleType,
    logic: ModuleType,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    aws.errors["write_heartbeat_row"] = pg8000.native.InterfaceError(f"connection to {PASSWORD}@aurora:5432 refused")
    with pytest.raises(logic.HealthCheckFailed) as raised:
        handler.handler({}, None)

    captured = capsys.readouterr()
    aurora = next(r for r in raised.value.summary["results"] if r["dependency"] == "Aurora")
    assert aurora["error"] == "InterfaceError: connection to ***@aurora:5432 refused"
    assert emf_documents(captured.out)["Aurora"]["Success"] == 0
    assert emf_documents(captured.out)["S3"]["Success"] == 1
    assert "Aurora check failed" in caplog.text
    for text in (captured.out, captured.err, caplog.text, str(raised.value)):
        assert PASSWORD not in text
    assert PASSWORD not in repr(aws.connects[0]["credentials"])

    aws.token = "a-newer-token"
    del aws.errors["write_heartbeat_row"]
    handler.handler({}, None)
    assert aws.connects[-1]["credentials"].password == "a-newer-token"


def test_every_run_logs_in_with_a_fresh_token(aws: FakeGateway, handler: ModuleType) -> None:
    """A token lives 15 minutes and costs nothing to make (signed locally): never cached."""
    handler.handler({}, None)
    aws.token = "the-next-token"
    handler.handler({}, None)

    assert [c["credentials"].password for c in aws.connects] == [PASSWORD, "the-next-token"]
    assert len(aws.logins) == 2


def test_the_token_is_signed_locally_for_the_endpoint_and_user(
    gateway: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rds.generate_db_auth_token: a presigned ``connect`` for host:port and user, no call to RDS."""
    credentials = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setattr(postgres, "_signer", {})

    login = gateway.Gateway(clients=lambda service: None).db_login("db.internal", 5432, "dr_canary")

    assert login.username == "dr_canary"
    assert login.password.startswith("db.internal:5432/?Action=connect&DBUser=dr_canary&X-Amz-Algorithm=")
    assert "X-Amz-Expires=900" in login.password and "rds-db%2Faws4_request" in login.password


def test_write_that_cannot_be_read_back_is_a_failure(aws: FakeGateway, handler: ModuleType, logic: ModuleType) -> None:
    aws.loses_writes = True

    with pytest.raises(logic.HealthCheckFailed) as raised:
        handler.handler({}, None)

    aurora = next(r for r in raised.value.summary["results"] if r["dependency"] == "Aurora")
    checked_at = datetime.fromisoformat(raised.value.summary["checked_at"])
    assert aurora["error"] == f"Aurora read-back returned None, expected {checked_at}"


def test_missing_environment_variables_are_named(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME")
    monkeypatch.setenv("METRICS_NAMESPACE", "")

    with pytest.raises(ConfigurationError) as raised:
        handler.handler({}, None)

    assert str(raised.value) == ("Missing required environment variable(s): TABLE_NAME, METRICS_NAMESPACE")


def test_non_numeric_port_is_a_configuration_error(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PORT", "postgres")

    with pytest.raises(ConfigurationError, match="DB_PORT must be an integer"):
        handler.handler({}, None)


def test_without_a_ca_bundle_nothing_connects(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """No downgrade to an unverified server: an unset DB_CA_BUNDLE is a configuration error."""
    monkeypatch.delenv("DB_CA_BUNDLE")

    with pytest.raises(ConfigurationError, match="DB_CA_BUNDLE"):
        handler.handler({}, None)


def test_the_packaged_bundle_is_the_canarys_and_verifies(handler: ModuleType) -> None:
    settings = handler.Settings.from_environ(BASE_ENV)

    context = postgres.ssl_context(PACKAGED_BUNDLE)  # where the package's dr_common/ comes from

    assert settings.db_ca_bundle == FUNCTIONS_DIR / "health_check" / "dr_common" / "rds-ca-us-east-1-bundle.pem"
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_with_ca_bundle_tls_verifies_certificate_and_host_name(
    handler: ModuleType,
    localhost_pki: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = handler.Settings.from_environ(BASE_ENV | {"DB_CA_BUNDLE": str(localhost_pki["cert"])})

    context = postgres.ssl_context(settings.db_ca_bundle)

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "localhost"),),)]
    assert tls_handshake(context, localhost_pki, "localhost") is None
    wrong_host = tls_handshake(context, localhost_pki, "db.example.com")
    assert "Hostname mismatch" in str(wrong_host)
    other_ca = postgres.ssl_context(Path(certifi.where()))
    assert "CERTIFICATE_VERIFY_FAILED" in str(tls_handshake(other_ca, localhost_pki, "localhost"))


def test_ca_bundle_name_resolves_inside_the_package_and_must_exist(handler: ModuleType, gateway: ModuleType) -> None:
    settings = handler.Settings.from_environ(BASE_ENV | {"DB_CA_BUNDLE": "rds-ca-missing.pem"})
    assert settings.db_ca_bundle == FUNCTIONS_DIR / "health_check" / "rds-ca-missing.pem"

    with pytest.raises(ConfigurationError, match=r"rds-ca-missing\.pem is not in the package"):
        gateway.Gateway(clients=lambda service: None).write_heartbeat_row(
            "db.internal", 5432, "drdb", postgres.Credentials("dr_canary", PASSWORD), settings.db_ca_bundle, ROW
        )


ROW = (uuid.uuid4(), datetime(2026, 11, 28, 12, 0, tzinfo=UTC), "test")


def test_the_heartbeat_row_goes_over_tls_with_a_timeout_that_covers_a_resume_and_is_read_back(
    gateway: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = FakeDatabase()
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(pg8000.native, "Connection", lambda **kwargs: calls.append(kwargs) or FakeConnection(database))
    opened = object()
    monkeypatch.setattr(postgres, "no_delay_socket", lambda host, port, timeout: opened)

    found = gateway.Gateway(clients=lambda service: None).write_heartbeat_row(
        "db.internal", 5432, "drdb", postgres.Credentials("dr_canary", PASSWORD), PACKAGED_BUNDLE, ROW
    )

    assert found == ROW[1]
    assert database.rows == {ROW[0]: ROW[1]}
    assert database.statements == ["INSERT", "SELECT"]  # the table is the database-users resource's
    assert database.closed == 1
    (kwargs,) = calls
    assert kwargs["sock"] is opened
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    # Longer than Aurora's resume of a paused instance (about 15 s), shorter than the 30 s function timeout.
    assert 15 < kwargs["timeout"] < 30
    assert (kwargs["host"], kwargs["port"], kwargs["database"]) == ("db.internal", 5432, "drdb")
    assert (kwargs["user"], kwargs["password"]) == ("dr_canary", PASSWORD)


def test_a_lost_row_reads_back_as_none_and_the_connection_is_closed(
    gateway: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = FakeDatabase()
    database.loses_writes = True
    monkeypatch.setattr(pg8000.native, "Connection", lambda **kwargs: FakeConnection(database))
    monkeypatch.setattr(postgres, "no_delay_socket", lambda host, port, timeout: object())

    found = gateway.Gateway(clients=lambda service: None).write_heartbeat_row(
        "db.internal", 5432, "drdb", postgres.Credentials("dr_canary", PASSWORD), PACKAGED_BUNDLE, ROW
    )

    assert found is None and database.closed == 1


def test_the_database_socket_sends_without_waiting_for_acks() -> None:
    """Nagle's algorithm off (TCP_NODELAY, as libpq sets it): with it on, every round trip of the
    TLS and SCRAM login waited for a delayed ACK (about 50 ms a connection instead of under 10)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        connection = postgres.no_delay_socket("127.0.0.1", server.getsockname()[1], 5)
        with connection:
            assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert connection.gettimeout() == 5


def test_a_database_that_does_not_answer_is_pg8000s_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    with pytest.raises(
        pg8000.native.InterfaceError, match=f"Can't create a connection to host 127.0.0.1 and port {port}"
    ):
        postgres.no_delay_socket("127.0.0.1", port, 5)


@pytest.fixture(scope="module")
def localhost_pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate for ``localhost`` (it is its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("pki")
    files = {"cert": directory / "cert.pem", "key": directory / "key.pem"}
    files["cert"].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def tls_handshake(client_context: ssl.SSLContext, pki: dict[str, Path], server_hostname: str) -> ssl.SSLError | None:
    """Handshake with a local server presenting the localhost certificate; the client's error."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pki["cert"], pki["key"])
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=_serve_one_handshake, args=(listener, server_context))
        server.start()
        try:
            with (
                socket.create_connection(listener.getsockname(), timeout=5) as raw,
                client_context.wrap_socket(raw, server_hostname=server_hostname),
            ):
                return None
        except ssl.SSLError as error:
            return error
        finally:
            server.join(timeout=5)


def _serve_one_handshake(listener: socket.socket, context: ssl.SSLContext) -> None:
    connection, _ = listener.accept()
    connection.settimeout(5)
    try:
        with context.wrap_socket(connection, server_side=True):
            pass
    except OSError:  # includes ssl.SSLError: the client rejected the certificate
        connection.close()
