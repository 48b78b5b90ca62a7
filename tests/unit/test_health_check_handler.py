"""Unit tests of the health-check canary: moto for AWS, a fake pg8000 connection for Aurora."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import certifi
import pg8000.native
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dr_common import postgres
from dr_common.settings import ConfigurationError
from moto import mock_aws

from .handlers import FUNCTIONS_DIR, load_handler

PASSWORD = "s3cr3t-Pa55word-value"
TABLE = "dr-table-test"
BUCKET = "dr-bucket-test"
NAMESPACE = "DisasterRecovery/HealthCheck"
BASE_ENV = {
    "DB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
    "DB_HOST": "db.internal",
    "DB_PORT": "5432",
    "DB_NAME": "drdb",
    "TABLE_NAME": TABLE,
    "BUCKET_NAME": BUCKET,
    "ENVIRONMENT_SUFFIX": "test",
    "METRICS_NAMESPACE": NAMESPACE,
}


@pytest.fixture(autouse=True)
def fresh_container() -> None:
    """Each test runs in a new container: the missing-bundle warning is due again."""
    postgres.ssl_context.cache_clear()


class FakeDatabase:
    """Stands in for Aurora: records each connect and keeps inserted heartbeat rows."""

    def __init__(self) -> None:
        self.rows: dict[Any, datetime] = {}
        self.connects: list[dict[str, Any]] = []
        self.closed = 0
        self.error: Exception | None = None
        self.loses_writes = False

    def connect(self, settings: Any, credentials: Any, ssl_context: ssl.SSLContext) -> Any:
        self.connects.append(
            {
                "settings": settings,
                "credentials": credentials,
                "ssl_context": ssl_context,
            }
        )
        if self.error is not None:
            raise self.error
        return FakeConnection(self)


class FakeConnection:
    """The part of ``pg8000.native.Connection`` the handler uses: ``run`` and ``close``."""

    def __init__(self, database: FakeDatabase) -> None:
        self.database = database

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        statement = sql.split()[0].upper()
        if statement == "INSERT" and not self.database.loses_writes:
            self.database.rows[params["id"]] = params["checked_at"]
        if statement == "SELECT" and params["id"] in self.database.rows:
            return [[self.database.rows[params["id"]]]]
        return []

    def close(self) -> None:
        self.database.closed += 1


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_kms_reuses_private_keys: None) -> Iterator[dict[str, Any]]:
    """Moto table, versioned SSE-KMS bucket and database secret; the handler's environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        s3.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key_id,
                        }
                    }
                ]
            },
        )
        secrets = boto3.client("secretsmanager")
        secret_arn = secrets.create_secret(Name="aurora-credentials-test", SecretString=secret_string(PASSWORD))["ARN"]
        for name, value in (BASE_ENV | {"DB_SECRET_ARN": secret_arn}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DB_CA_BUNDLE", raising=False)
        yield {
            "dynamodb": dynamodb,
            "s3": s3,
            "secrets": secrets,
            "secret_arn": secret_arn,
        }


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def handler(database: FakeDatabase, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_handler(monkeypatch, "health_check")
    monkeypatch.setattr(module, "connect", database.connect)
    return module


def secret_string(password: str) -> str:
    return json.dumps(
        {
            "username": "dradmin",
            "password": password,
            "host": "secret-host.example.com",
            "port": 5432,
            "dbname": "drdb",
        }
    )


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
    aws: Any,
    handler: ModuleType,
    database: FakeDatabase,
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

    item = aws["dynamodb"].get_item(
        TableName=TABLE,
        Key={"pk": {"S": "heartbeat"}, "sk": {"S": summary["checked_at"]}},
    )["Item"]
    assert item["heartbeat_id"]["S"] == heartbeat_id
    s3_object = aws["s3"].get_object(Bucket=BUCKET, Key="heartbeat/latest.json")
    assert json.loads(s3_object["Body"].read())["heartbeat_id"] == heartbeat_id
    assert s3_object["ServerSideEncryption"] == "aws:kms"
    assert [str(row_id) for row_id in database.rows] == [heartbeat_id]
    assert database.closed == 1
    (connect,) = database.connects
    assert connect["credentials"].username == "dradmin"
    assert connect["credentials"].password == PASSWORD
    assert connect["settings"].db_host == "db.internal"  # from DB_HOST, not the secret
    assert isinstance(connect["ssl_context"], ssl.SSLContext)

    documents = emf_documents(capsys.readouterr().out)
    assert set(documents) == {"Aurora", "DynamoDB", "S3"}
    for document in documents.values():
        assert_valid_emf(document)
        assert document["Success"] == 1
        assert "Error" not in document
    assert PASSWORD not in caplog.text


def test_one_failing_dependency_is_measured_and_fails_the_invocation(
    aws: Any,
    handler: ModuleType,
    database: FakeDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BUCKET_NAME", "no-such-bucket-test")

    with pytest.raises(handler.HealthCheckFailed) as raised:
        handler.handler({}, None)

    summary = raised.value.summary
    results = {r["dependency"]: r for r in summary["results"]}
    assert results["S3"]["success"] is False
    assert "NoSuchBucket" in results["S3"]["error"]
    assert results["Aurora"]["success"] is True
    assert results["DynamoDB"]["success"] is True
    assert "1 of 3 dependencies failed: S3: " in str(raised.value)
    assert len(database.rows) == 1
    assert aws["dynamodb"].scan(TableName=TABLE)["Count"] == 1

    documents = emf_documents(capsys.readouterr().out)
    assert {name: doc["Success"] for name, doc in documents.items()} == {
        "Aurora": 1,
        "DynamoDB": 1,
        "S3": 0,
    }
    for document in documents.values():
        assert_valid_emf(document)
    assert "NoSuchBucket" in documents["S3"]["Error"]


def test_aurora_failure_never_logs_the_password_and_refetches_the_secret(
    aws: Any,
    handler: ModuleType,
    database: FakeDatabase,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    database.error = pg8000.native.InterfaceError(f"connection to {PASSWORD}@aurora:5432 refused")
    with pytest.raises(handler.HealthCheckFailed) as raised:
        handler.handler({}, None)

    captured = capsys.readouterr()
    aurora = next(r for r in raised.value.summary["results"] if r["dependency"] == "Aurora")
    assert aurora["error"] == "InterfaceError: connection to ***@aurora:5432 refused"
    assert emf_documents(captured.out)["Aurora"]["Success"] == 0
    assert emf_documents(captured.out)["S3"]["Success"] == 1
    assert "Aurora check failed" in caplog.text
    for text in (captured.out, captured.err, caplog.text, str(raised.value)):
        assert PASSWORD not in text
    assert PASSWORD not in repr(database.connects[0]["credentials"])

    # A failure may mean the password rotated: the next run must fetch the secret again.
    aws["secrets"].put_secret_value(SecretId=aws["secret_arn"], SecretString=secret_string("rotated-password"))
    database.error = None
    handler.handler({}, None)
    assert database.connects[-1]["credentials"].password == "rotated-password"


def test_secret_is_cached_across_warm_invocations(aws: Any, handler: ModuleType, database: FakeDatabase) -> None:
    handler.handler({}, None)
    aws["secrets"].put_secret_value(SecretId=aws["secret_arn"], SecretString=secret_string("not-fetched-yet"))
    handler.handler({}, None)

    assert [c["credentials"].password for c in database.connects] == [
        PASSWORD,
        PASSWORD,
    ]


def test_write_that_cannot_be_read_back_is_a_failure(aws: Any, handler: ModuleType, database: FakeDatabase) -> None:
    database.loses_writes = True

    with pytest.raises(handler.HealthCheckFailed) as raised:
        handler.handler({}, None)

    aurora = next(r for r in raised.value.summary["results"] if r["dependency"] == "Aurora")
    checked_at = datetime.fromisoformat(raised.value.summary["checked_at"])
    assert aurora["error"] == f"Aurora read-back returned None, expected {checked_at}"
    assert database.closed == 1


def test_missing_environment_variables_are_named(
    aws: Any, handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TABLE_NAME")
    monkeypatch.setenv("METRICS_NAMESPACE", "")

    with pytest.raises(ConfigurationError) as raised:
        handler.handler({}, None)

    assert str(raised.value) == ("Missing required environment variable(s): TABLE_NAME, METRICS_NAMESPACE")


def test_non_numeric_port_is_a_configuration_error(
    aws: Any, handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PORT", "postgres")

    with pytest.raises(ConfigurationError, match="DB_PORT must be an integer"):
        handler.handler({}, None)


def test_without_ca_bundle_tls_is_encrypted_unverified_and_warned_once(
    handler: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    context = postgres.ssl_context(None)

    assert context is postgres.ssl_context(None)
    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    warnings = [r for r in caplog.records if "RDS CA bundle is not packaged" in r.message]
    assert len(warnings) == 1


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
    assert "not packaged" not in caplog.text
    assert tls_handshake(context, localhost_pki, "localhost") is None
    wrong_host = tls_handshake(context, localhost_pki, "db.example.com")
    assert "Hostname mismatch" in str(wrong_host)
    other_ca = postgres.ssl_context(Path(certifi.where()))
    assert "CERTIFICATE_VERIFY_FAILED" in str(tls_handshake(other_ca, localhost_pki, "localhost"))
    # The unverified fallback still negotiates TLS with any server certificate.
    unverified = postgres.ssl_context(None)
    assert tls_handshake(unverified, localhost_pki, "db.example.com") is None


def test_ca_bundle_name_resolves_inside_the_package_and_must_exist(
    aws: Any,
    handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DB_CA_BUNDLE", "rds-ca-missing.pem")
    settings = handler.Settings.from_environ(BASE_ENV | {"DB_CA_BUNDLE": "rds-ca-missing.pem"})
    assert settings.db_ca_bundle == FUNCTIONS_DIR / "health_check" / "rds-ca-missing.pem"

    with pytest.raises(handler.HealthCheckFailed) as raised:
        handler.handler({}, None)

    aurora = next(r for r in raised.value.summary["results"] if r["dependency"] == "Aurora")
    assert "rds-ca-missing.pem is not in the package" in aurora["error"]
    assert emf_documents(capsys.readouterr().out)["DynamoDB"]["Success"] == 1


def test_connect_hands_tls_context_and_short_timeout_to_pg8000(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = load_handler(monkeypatch, "health_check")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(pg8000.native, "Connection", lambda **kwargs: calls.append(kwargs))
    opened = object()
    monkeypatch.setattr(postgres, "no_delay_socket", lambda host, port, timeout: opened)
    settings = module.Settings.from_environ(BASE_ENV)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    module.connect(settings, postgres.Credentials("dradmin", PASSWORD), context)

    (kwargs,) = calls
    assert kwargs["sock"] is opened
    assert kwargs["ssl_context"] is context
    assert kwargs["timeout"] <= 10
    assert (kwargs["host"], kwargs["port"], kwargs["database"]) == (
        "db.internal",
        5432,
        "drdb",
    )
    assert (kwargs["user"], kwargs["password"]) == ("dradmin", PASSWORD)


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
