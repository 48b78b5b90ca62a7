"""Data-plane canary for the disaster-recovery data stores.

An EventBridge schedule invokes this function every five minutes. Each run writes one heartbeat --
the same id and timestamp everywhere -- into Aurora PostgreSQL, DynamoDB and S3 and reads it back.
That serves two purposes:

* Health. Per dependency it emits ``Success`` (1/0) and ``Latency`` (ms) as one CloudWatch Embedded
  Metric Format (EMF) line on stdout (``dr_common.observability``). If any dependency failed the
  invocation raises after all metrics are printed, so the function's ``Errors`` metric (and its
  alarm) counts it.
* Recovery-point evidence. After a restore, the newest heartbeat in the restored copy tells how much
  data was lost: ``SELECT max(checked_at) FROM dr_heartbeat``, the highest ``sk`` under
  ``pk = "heartbeat"`` in the table, the content of ``heartbeat/latest.json`` in the bucket.

The three checks run in parallel: a dependency that hangs until its timeout must neither delay nor
starve the others (a run killed by the function timeout emits no metrics at all).

Endpoint and credentials: host, port and database come from ``DB_HOST``/``DB_PORT``/``DB_NAME``, the
values the stack wires (after a restore, the restored cluster's endpoint); the secret supplies only
the username and password.

TLS to Aurora: ``dr_common.postgres`` (always encrypted; verified when ``DB_CA_BUNDLE`` names a
packaged PEM file).
"""

from __future__ import annotations

import json
import os
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pg8000.native
from botocore.config import Config
from dr_common import observability, postgres
from dr_common.clients import Clients
from dr_common.observability import MetricUnit
from dr_common.postgres import Credentials
from dr_common.settings import integer, require

logger = observability.logger("health-check")

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
clients = Clients(Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"}))

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
        require(environ, *REQUIRED_ENV_VARS)
        return cls(
            db_secret_arn=environ["DB_SECRET_ARN"],
            db_host=environ["DB_HOST"],
            db_port=integer(environ, "DB_PORT"),
            db_name=environ["DB_NAME"],
            table_name=environ["TABLE_NAME"],
            bucket_name=environ["BUCKET_NAME"],
            environment_suffix=environ["ENVIRONMENT_SUFFIX"],
            metrics_namespace=environ["METRICS_NAMESPACE"],
            db_ca_bundle=postgres.ca_bundle(environ, PACKAGE_DIR),
        )


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


_credentials_cache: dict[str, Credentials] = {}


def _db_credentials(secret_arn: str) -> Credentials:
    """Fetch the login once per container; ``check_aurora`` evicts it on failure (rotation)."""
    if secret_arn not in _credentials_cache:
        response = clients("secretsmanager").get_secret_value(SecretId=secret_arn)
        try:
            _credentials_cache[secret_arn] = Credentials.from_secret(response["SecretString"])
        except postgres.InvalidSecret as problem:
            raise CheckError(f"Secret {secret_arn}: {problem}") from None
    return _credentials_cache[secret_arn]


def connect(settings: Settings, credentials: Credentials, context: ssl.SSLContext) -> pg8000.native.Connection:
    """The canary's connection to Aurora (unit tests replace it with a fake database)."""
    return postgres.connect(
        settings.db_host,
        settings.db_port,
        settings.db_name,
        credentials,
        context=context,
        timeout=DB_TIMEOUT_SECONDS,
        application_name="dr-health-check",
    )


def _expect(store: str, found: object, expected: object) -> None:
    """A write that cannot be read back is a failure, even if both calls returned 200."""
    if found != expected:
        raise CheckError(f"{store} read-back returned {found}, expected {expected}")


def check_aurora(settings: Settings, heartbeat: Heartbeat) -> None:
    """Insert a heartbeat row and read it back over TLS."""
    credentials = _db_credentials(settings.db_secret_arn)
    try:
        connection = connect(settings, credentials, postgres.ssl_context(settings.db_ca_bundle))
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
        raise CheckError(credentials.redact(_describe(exc))) from None


def check_dynamodb(settings: Settings, heartbeat: Heartbeat) -> None:
    """Put a heartbeat item and read it back with a strongly consistent read."""
    dynamodb = clients("dynamodb")
    key = {"pk": {"S": DYNAMODB_HEARTBEAT_PK}, "sk": {"S": heartbeat.timestamp}}
    attributes = {name: {"S": value} for name, value in heartbeat.as_json().items()}
    dynamodb.put_item(TableName=settings.table_name, Item={**attributes, **key})
    response = dynamodb.get_item(TableName=settings.table_name, Key=key, ConsistentRead=True)
    found = response.get("Item", {}).get("heartbeat_id", {}).get("S")
    _expect("DynamoDB", found, str(heartbeat.id))


def check_s3(settings: Settings, heartbeat: Heartbeat) -> None:
    """Overwrite ``heartbeat/latest.json`` (bucket default SSE-KMS applies) and read it back."""
    s3 = clients("s3")
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
        logger.error(f"{name} check failed", dependency=name, error=error)
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
    """One EMF line per dependency, at the heartbeat's time: the Success and Latency metrics."""
    properties = {"HeartbeatId": str(heartbeat.id)} | ({"Error": result.error} if result.error else {})
    observability.publish(
        settings.metrics_namespace,
        {"Dependency": result.dependency, "EnvironmentSuffix": settings.environment_suffix},
        {
            "Success": (1 if result.success else 0, MetricUnit.Count),
            "Latency": (result.latency_ms, MetricUnit.Milliseconds),
        },
        properties=properties,
        timestamp=heartbeat.checked_at,
    )


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
