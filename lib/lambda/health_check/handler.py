"""Data-plane canary for the disaster-recovery data stores.

An EventBridge schedule invokes this function every five minutes. Each run writes one heartbeat --
the same id and timestamp everywhere -- into Aurora PostgreSQL, DynamoDB and S3 and reads it back.
That serves two purposes:

* Health. Per dependency it emits ``Success`` (1/0) and ``Latency`` (ms) as CloudWatch Embedded
  Metric Format (EMF) lines on stdout. The VPC has no CloudWatch monitoring endpoint, so a
  ``PutMetricData`` call could only hang; Lambda ships stdout to CloudWatch Logs, which extracts the
  metrics. If any dependency failed the invocation raises after all metrics are printed, so the
  function's ``Errors`` metric (and its alarm) counts it.
* Recovery-point evidence. After a restore, the newest heartbeat in the restored copy tells how much
  data was lost: ``SELECT max(checked_at) FROM dr_heartbeat``, the highest ``sk`` under
  ``pk = "heartbeat"`` in the table, the content of ``heartbeat/latest.json`` in the bucket.

The three checks run in parallel: a dependency that hangs until its timeout must neither delay nor
starve the others (a run killed by the function timeout emits no metrics at all).

Endpoint and credentials: host, port and database come from ``DB_HOST``/``DB_PORT``/``DB_NAME``, the
values the stack wires (after a restore, the restored cluster's endpoint); the secret supplies only
the username and password.

TLS to Aurora is mandatory (the cluster sets ``rds.force_ssl``), so the connection is always
encrypted and a server refusing TLS is an error. The server certificate, host name included, is
verified only when ``DB_CA_BUNDLE`` names a PEM file packaged with the function (a path relative to
this directory, or absolute). The AWS RDS CA bundle
(``https://truststore.pki.rds.amazonaws.com/<region>/<region>-bundle.pem``) is not in the repository:
the build has no internet access to fetch it. Without it the traffic is encrypted but the server is
not authenticated -- safe from eavesdropping, not from an active man-in-the-middle inside the VPC --
and the function logs a warning once per container. To close that gap, put the regional bundle next
to this file and set ``DB_CA_BUNDLE`` to its file name.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pg8000.native
from botocore.config import Config

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

PACKAGE_DIR = Path(__file__).resolve().parent
REQUIRED_ENV_VARS = (
    "DB_SECRET_ARN",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "TABLE_NAME",
    "BUCKET_NAME",
    "ENVIRONMENT_SUFFIX",
    "METRICS_NAMESPACE",
)
S3_HEARTBEAT_KEY = "heartbeat/latest.json"
DYNAMODB_HEARTBEAT_PK = "heartbeat"
# Socket timeout for connecting, the TLS handshake and each statement.
DB_TIMEOUT_SECONDS = 5
# Short timeouts and a single retry keep a dead endpoint (worst case about 2 x (2 + 5) s per call)
# well inside the function timeout of about 30 s, so the metrics still get printed.
BOTO_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})

CREATE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS dr_heartbeat (
    id uuid PRIMARY KEY,
    checked_at timestamptz NOT NULL,
    environment_suffix text NOT NULL
)
"""
INSERT_HEARTBEAT_SQL = (
    "INSERT INTO dr_heartbeat (id, checked_at, environment_suffix) VALUES (:id, :checked_at, :environment_suffix)"
)
SELECT_HEARTBEAT_SQL = "SELECT checked_at FROM dr_heartbeat WHERE id = :id"


class ConfigurationError(RuntimeError):
    """The function's environment is incomplete or wrong; no check can be trusted."""


class CheckError(RuntimeError):
    """A dependency check failed; the message is complete and safe to log."""


class HealthCheckFailed(RuntimeError):
    """Raised after all metrics are out, so the invocation counts in the Errors metric."""

    def __init__(self, summary: dict[str, Any]) -> None:
        failed = [r for r in summary["results"] if not r["success"]]
        details = "; ".join(f"{r['dependency']}: {r['error']}" for r in failed)
        super().__init__(f"{len(failed)} of {len(summary['results'])} dependencies failed: {details}")
        self.summary = summary


@dataclass(frozen=True)
class Settings:
    """Configuration read from the environment on every invocation."""

    db_secret_arn: str
    db_host: str
    db_port: int
    db_name: str
    table_name: str
    bucket_name: str
    environment_suffix: str
    metrics_namespace: str
    db_ca_bundle: Path | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Name every missing variable at once, so one deploy fixes them all."""
        missing = [name for name in REQUIRED_ENV_VARS if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"Missing required environment variable(s): {', '.join(missing)}")
        try:
            port = int(environ["DB_PORT"])
        except ValueError:
            raise ConfigurationError(f"DB_PORT must be an integer, got {environ['DB_PORT']!r}") from None
        ca_bundle = environ.get("DB_CA_BUNDLE")
        return cls(
            db_secret_arn=environ["DB_SECRET_ARN"],
            db_host=environ["DB_HOST"],
            db_port=port,
            db_name=environ["DB_NAME"],
            table_name=environ["TABLE_NAME"],
            bucket_name=environ["BUCKET_NAME"],
            environment_suffix=environ["ENVIRONMENT_SUFFIX"],
            metrics_namespace=environ["METRICS_NAMESPACE"],
            db_ca_bundle=PACKAGE_DIR / ca_bundle if ca_bundle else None,
        )


@dataclass(frozen=True)
class DbCredentials:
    """Database login; the password stays out of ``repr`` and therefore out of any log line."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Heartbeat:
    """One canary write, shared by all stores so a restore can be correlated across them."""

    id: uuid.UUID
    checked_at: datetime
    environment_suffix: str

    @classmethod
    def now(cls, environment_suffix: str) -> Heartbeat:
        return cls(uuid.uuid4(), datetime.now(UTC), environment_suffix)

    @property
    def timestamp(self) -> str:
        """Fixed-width UTC ISO 8601, so string order is time order (DynamoDB sort key)."""
        return self.checked_at.isoformat(timespec="microseconds")

    def as_json(self) -> dict[str, str]:
        return {
            "heartbeat_id": str(self.id),
            "checked_at": self.timestamp,
            "environment_suffix": self.environment_suffix,
        }


@dataclass(frozen=True)
class CheckResult:
    dependency: str
    success: bool
    latency_ms: float
    error: str | None = None


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
_credentials_cache: dict[str, DbCredentials] = {}


def _client(service: str) -> Any:
    """One boto3 client per service and container: building one costs ~100 ms per cold start.

    Locked because the checks run in threads and creating clients from boto3's default session
    is not thread-safe.
    """
    with _clients_lock:
        if service not in _clients:
            _clients[service] = boto3.client(service, config=BOTO_CONFIG)
        return _clients[service]


def _db_credentials(secret_arn: str) -> DbCredentials:
    """Fetch the login once per container; ``check_aurora`` evicts it on failure (rotation)."""
    if secret_arn not in _credentials_cache:
        response = _client("secretsmanager").get_secret_value(SecretId=secret_arn)
        _credentials_cache[secret_arn] = _parse_credentials(secret_arn, response["SecretString"])
    return _credentials_cache[secret_arn]


def _parse_credentials(secret_arn: str, secret_string: str) -> DbCredentials:
    """Parse without ever echoing the secret's content in an error."""
    try:
        secret = json.loads(secret_string)
        return DbCredentials(username=secret["username"], password=secret["password"])
    except (ValueError, KeyError, TypeError):
        raise CheckError(f"Secret {secret_arn} is not JSON with 'username' and 'password'") from None


@functools.cache
def _ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """TLS context for Aurora; cached, so the missing-bundle warning appears once per container."""
    if ca_bundle is None:
        logger.warning(
            "RDS CA bundle is not packaged (DB_CA_BUNDLE unset): Aurora traffic is encrypted, "
            "but the server certificate is not verified"
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        # Asked for verification but the file is absent: fail loudly rather than downgrade.
        if not ca_bundle.is_file():
            raise ConfigurationError(f"DB_CA_BUNDLE file {ca_bundle} is not in the package")
        context = ssl.create_default_context(cafile=str(ca_bundle))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect(settings: Settings, credentials: DbCredentials, ssl_context: ssl.SSLContext) -> pg8000.native.Connection:
    """Open the Aurora connection.

    The only place that reaches PostgreSQL, kept as a module-level function so unit tests can
    replace it with a fake connection.
    """
    return pg8000.native.Connection(
        user=credentials.username,
        password=credentials.password,
        host=settings.db_host,
        port=settings.db_port,
        sock=no_delay_socket(settings.db_host, settings.db_port, DB_TIMEOUT_SECONDS),
        database=settings.db_name,
        ssl_context=ssl_context,
        timeout=DB_TIMEOUT_SECONDS,
        application_name="dr-health-check",
    )


def no_delay_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection with Nagle's algorithm off, as libpq opens it. pg8000 leaves it on, and each
    round trip of the TLS and SCRAM login then waits for the server's delayed ACK: about 50 ms per
    connection instead of under 10. The error on failure is pg8000's own."""
    try:
        connection = socket.create_connection((host, port), timeout)
    except OSError as error:
        raise pg8000.native.InterfaceError(
            f"Can't create a connection to host {host} and port {port} (timeout is {timeout}): {error}"
        ) from None
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _expect(store: str, found: object, expected: object) -> None:
    """A write that cannot be read back is a failure, even if both calls returned 200."""
    if found != expected:
        raise CheckError(f"{store} read-back returned {found}, expected {expected}")


def check_aurora(settings: Settings, heartbeat: Heartbeat) -> None:
    """Insert a heartbeat row and read it back over TLS."""
    credentials = _db_credentials(settings.db_secret_arn)
    try:
        connection = connect(settings, credentials, _ssl_context(settings.db_ca_bundle))
        try:
            connection.run(CREATE_TABLE_SQL)
            connection.run(
                INSERT_HEARTBEAT_SQL,
                id=heartbeat.id,
                checked_at=heartbeat.checked_at,
                environment_suffix=heartbeat.environment_suffix,
            )
            rows = connection.run(SELECT_HEARTBEAT_SQL, id=heartbeat.id)
        finally:
            connection.close()
        _expect("Aurora", rows[0][0] if rows else None, heartbeat.checked_at)
    except Exception as exc:  # re-raised below: redacted, and without the chain
        # After a rotation the cached password is wrong: fetch the secret afresh next time.
        _credentials_cache.pop(settings.db_secret_arn, None)
        raise CheckError(_redact(_describe(exc), credentials.password)) from None


def _redact(text: str, password: str) -> str:
    """Drivers may echo connection details in errors; the password must never reach a log."""
    return text.replace(password, "***") if password else text


def check_dynamodb(settings: Settings, heartbeat: Heartbeat) -> None:
    """Put a heartbeat item and read it back with a strongly consistent read."""
    dynamodb = _client("dynamodb")
    key = {"pk": {"S": DYNAMODB_HEARTBEAT_PK}, "sk": {"S": heartbeat.timestamp}}
    attributes = {name: {"S": value} for name, value in heartbeat.as_json().items()}
    dynamodb.put_item(TableName=settings.table_name, Item={**attributes, **key})
    response = dynamodb.get_item(TableName=settings.table_name, Key=key, ConsistentRead=True)
    found = response.get("Item", {}).get("heartbeat_id", {}).get("S")
    _expect("DynamoDB", found, str(heartbeat.id))


def check_s3(settings: Settings, heartbeat: Heartbeat) -> None:
    """Overwrite ``heartbeat/latest.json`` (bucket default SSE-KMS applies) and read it back."""
    s3 = _client("s3")
    s3.put_object(
        Bucket=settings.bucket_name,
        Key=S3_HEARTBEAT_KEY,
        Body=json.dumps(heartbeat.as_json()).encode(),
        ContentType="application/json",
    )
    body = s3.get_object(Bucket=settings.bucket_name, Key=S3_HEARTBEAT_KEY)["Body"].read()
    _expect("S3", json.loads(body).get("heartbeat_id"), str(heartbeat.id))


Check = Callable[[Settings, Heartbeat], None]
CHECKS: dict[str, Check] = {
    "Aurora": check_aurora,
    "DynamoDB": check_dynamodb,
    "S3": check_s3,
}


def _run_check(name: str, check: Check, settings: Settings, heartbeat: Heartbeat) -> CheckResult:
    """Time one check; any exception is a measured failure, never a crash of the whole run."""
    started = time.perf_counter()
    try:
        check(settings, heartbeat)
    except Exception as exc:  # by design: every failure is a result to measure
        error = _describe(exc)
        logger.error("%s check failed: %s", name, error)
        return CheckResult(name, False, _elapsed_ms(started), error)
    return CheckResult(name, True, _elapsed_ms(started))


def _describe(exc: Exception) -> str:
    """A CheckError's message is complete; anything else needs its type to be understood."""
    return str(exc) if isinstance(exc, CheckError) else f"{type(exc).__name__}: {exc}"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def run_checks(settings: Settings, heartbeat: Heartbeat) -> list[CheckResult]:
    """Run all checks in parallel, so one slow dependency does not eat the others' time."""
    with ThreadPoolExecutor(max_workers=len(CHECKS)) as pool:
        futures = [pool.submit(_run_check, name, check, settings, heartbeat) for name, check in CHECKS.items()]
        return [future.result() for future in futures]


def emit_metrics(result: CheckResult, settings: Settings, heartbeat: Heartbeat) -> None:
    """Print one EMF document; CloudWatch Logs turns it into the Success and Latency metrics."""
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(heartbeat.checked_at.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": settings.metrics_namespace,
                    "Dimensions": [["Dependency", "EnvironmentSuffix"]],
                    "Metrics": [
                        {"Name": "Success", "Unit": "Count"},
                        {"Name": "Latency", "Unit": "Milliseconds"},
                    ],
                }
            ],
        },
        "Dependency": result.dependency,
        "EnvironmentSuffix": settings.environment_suffix,
        "Success": 1 if result.success else 0,
        "Latency": result.latency_ms,
        "HeartbeatId": str(heartbeat.id),
    }
    if result.error:
        document["Error"] = result.error
    print(json.dumps(document), flush=True)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point; the scheduled event carries nothing the canary needs, so it is ignored."""
    settings = Settings.from_environ(os.environ)
    heartbeat = Heartbeat.now(settings.environment_suffix)
    results = run_checks(settings, heartbeat)
    for result in results:
        emit_metrics(result, settings, heartbeat)
    summary = {
        "environment_suffix": settings.environment_suffix,
        "heartbeat_id": str(heartbeat.id),
        "checked_at": heartbeat.timestamp,
        "healthy": all(result.success for result in results),
        "results": [asdict(result) for result in results],
    }
    if not summary["healthy"]:
        raise HealthCheckFailed(summary)
    return summary
