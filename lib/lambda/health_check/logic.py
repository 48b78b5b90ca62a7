"""The canary's checks: one heartbeat written to and read back from Aurora, DynamoDB and S3 in
parallel, each measured; the metrics; the failure that counts in the function's Errors. Every AWS call
(and the SQL) goes through the gateway it is given (``gateway.Gateway``; unit tests give a fake)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from dr_common import observability, postgres
from dr_common.observability import MetricUnit, current_logger
from dr_common.postgres import Credentials
from dr_common.settings import integer, require

PACKAGE_DIR = Path(__file__).resolve().parent
REQUIRED_ENV_VARS = (
    "DB_USER",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "TABLE_NAME",
    "BUCKET_NAME",
    "ENVIRONMENT_SUFFIX",
    "METRICS_NAMESPACE",
    "DB_CA_BUNDLE",
)
S3_HEARTBEAT_KEY = "heartbeat/latest.json"
DYNAMODB_HEARTBEAT_PK = "heartbeat"


class Gateway(Protocol):
    """The AWS calls and the SQL the canary makes (``gateway.Gateway``)."""

    def db_login(self, host: str, port: int, user: str) -> Credentials: ...

    def write_heartbeat_row(
        self,
        host: str,
        port: int,
        database: str,
        credentials: Credentials,
        ca_bundle: Path,
        row: tuple[uuid.UUID, datetime, str],
    ) -> Any: ...

    def put_item(self, table: str, item: Mapping[str, Any]) -> None: ...

    def get_item(self, table: str, key: Mapping[str, Any]) -> Mapping[str, Any] | None: ...

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> None: ...

    def get_object(self, bucket: str, key: str) -> bytes: ...


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

    db_user: str
    db_host: str
    db_port: int
    db_name: str
    table_name: str
    bucket_name: str
    environment_suffix: str
    metrics_namespace: str
    db_ca_bundle: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        require(environ, *REQUIRED_ENV_VARS)
        return cls(
            db_user=environ["DB_USER"],
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


def _expect(store: str, found: object, expected: object) -> None:
    """A write that cannot be read back is a failure, even if both calls returned 200."""
    if found != expected:
        raise CheckError(f"{store} read-back returned {found}, expected {expected}")


def check_aurora(settings: Settings, heartbeat: Heartbeat, gateway: Gateway) -> None:
    """Insert a heartbeat row and read it back over TLS, as the canary's own database user with a
    fresh IAM authentication token (a token lives 15 minutes; making one is local and costs ~1 ms)."""
    credentials = gateway.db_login(settings.db_host, settings.db_port, settings.db_user)
    try:
        found = gateway.write_heartbeat_row(
            settings.db_host,
            settings.db_port,
            settings.db_name,
            credentials,
            settings.db_ca_bundle,
            (heartbeat.id, heartbeat.checked_at, heartbeat.environment_suffix),
        )
        _expect("Aurora", found, heartbeat.checked_at)
    except Exception as exc:  # re-raised below: redacted, and without the chain
        raise CheckError(credentials.redact(_describe(exc))) from None


def check_dynamodb(settings: Settings, heartbeat: Heartbeat, gateway: Gateway) -> None:
    """Put a heartbeat item and read it back with a strongly consistent read."""
    key = {"pk": {"S": DYNAMODB_HEARTBEAT_PK}, "sk": {"S": heartbeat.timestamp}}
    attributes = {name: {"S": value} for name, value in heartbeat.as_json().items()}
    gateway.put_item(settings.table_name, {**attributes, **key})
    item = gateway.get_item(settings.table_name, key) or {}
    _expect("DynamoDB", item.get("heartbeat_id", {}).get("S"), str(heartbeat.id))


def check_s3(settings: Settings, heartbeat: Heartbeat, gateway: Gateway) -> None:
    """Overwrite ``heartbeat/latest.json`` (bucket default SSE-KMS applies) and read it back."""
    gateway.put_object(
        settings.bucket_name, S3_HEARTBEAT_KEY, json.dumps(heartbeat.as_json()).encode(), "application/json"
    )
    body = gateway.get_object(settings.bucket_name, S3_HEARTBEAT_KEY)
    _expect("S3", json.loads(body).get("heartbeat_id"), str(heartbeat.id))


Check = Callable[[Settings, Heartbeat, Gateway], None]
CHECKS: dict[str, Check] = {
    "Aurora": check_aurora,
    "DynamoDB": check_dynamodb,
    "S3": check_s3,
}


def _run_check(name: str, check: Check, settings: Settings, heartbeat: Heartbeat, gateway: Gateway) -> CheckResult:
    """Time one check, in the trace too (subsegment ``## <store> check``, annotated with the store and
    the result); any exception is a measured failure, never a crash of the whole run."""
    started = time.perf_counter()
    try:
        with observability.step(f"{name} check", store=name):
            check(settings, heartbeat, gateway)
    except Exception as exc:  # by design: every failure is a result to measure
        error = _describe(exc)
        current_logger().error(f"{name} check failed", dependency=name, error=error)
        return CheckResult(name, False, _elapsed_ms(started), error)
    return CheckResult(name, True, _elapsed_ms(started))


def _describe(exc: Exception) -> str:
    """A CheckError's message is complete; anything else needs its type to be understood."""
    return str(exc) if isinstance(exc, CheckError) else f"{type(exc).__name__}: {exc}"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def run_checks(settings: Settings, heartbeat: Heartbeat, gateway: Gateway) -> list[CheckResult]:
    """Run all checks in parallel, so one slow dependency does not eat the others' time."""
    with ThreadPoolExecutor(max_workers=len(CHECKS)) as pool:
        futures = [pool.submit(_run_check, name, check, settings, heartbeat, gateway) for name, check in CHECKS.items()]
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


def run(settings: Settings, gateway: Gateway) -> dict[str, Any]:
    """One canary run: a heartbeat written to and read back from every store, its metrics printed;
    HealthCheckFailed after the metrics if any store failed."""
    heartbeat = Heartbeat.now(settings.environment_suffix)
    results = run_checks(settings, heartbeat, gateway)
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
