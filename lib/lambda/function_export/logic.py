"""The function export's decisions: what to export, when a package or configuration is unchanged, which
failures are retried and what is answered. Every AWS call goes through the gateway it is given
(``gateway.Gateway``; unit tests give a fake); every AWS error arrives as ``AwsError``."""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from dr_common import InvalidEvent
from dr_common.observability import current_logger
from dr_common.settings import ConfigurationError, json_value, require

EXPORT_PREFIX = "lambda-exports/"
CODE_OBJECT = "code.zip"
CONFIGURATION_OBJECT = "configuration.json"
EXPORTED_AT = "ExportedAt"
# What a restore needs from GetFunction's Configuration, in the order a reader expects them.
KEPT_CONFIGURATION = (
    "FunctionName",
    "Runtime",
    "Role",
    "Handler",
    "Timeout",
    "MemorySize",
    "Description",
    "Environment",
    "VpcConfig",
    "DeadLetterConfig",
    "KMSKeyArn",
    "Architectures",
    "LoggingConfig",
    "TracingConfig",
    "CodeSha256",
)
# Nested blocks keep only what CreateFunction takes back (not VpcId, Environment.Error, ...).
KEPT_NESTED = {"Environment": ("Variables",), "VpcConfig": ("SubnetIds", "SecurityGroupIds")}

SCHEDULED_EVENT = ("aws.events", "Scheduled Event")
REQUEST_TYPES = frozenset({"Create", "Update", "Delete"})
# Access denials a custom-resource run retries: a role and policy created in the same deploy take a
# few seconds to apply everywhere (IAM is eventually consistent); failing the deploy for that would
# roll it back. The schedule needs no such loop: Lambda retries a failed asynchronous run.
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"})
DENIED_RETRY_DELAYS_SECONDS = (10, 20, 30)
RESPONSE_RESERVE_SECONDS = 30  # kept back from the timeout to answer CloudFormation


class AwsError(Exception):
    """An AWS call failed (the gateway's translation of botocore's errors): the operation, AWS's
    error code and message."""

    def __init__(self, operation: str, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}".rstrip(": "))
        self.operation, self.code = operation, code

    @property
    def denied(self) -> bool:
        return self.code in DENIED_CODES


class ExportError(Exception):
    """One function could not be exported; the message says which step failed and why."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ExportFailed(Exception):
    """At least one function could not be exported (raised so the schedule retries, then dead-letters)."""


class Gateway(Protocol):
    """The AWS calls the export makes (``gateway.Gateway``)."""

    def get_function(self, name: str) -> Mapping[str, Any]: ...

    def read_configuration(self, bucket: str, function_name: str) -> bytes | None: ...

    def exported_code_sha(self, bucket: str, function_name: str) -> str | None: ...

    def download(self, location: str, sink: IO[bytes]) -> str: ...

    def put_package(self, bucket: str, function_name: str, package: IO[bytes], code_sha: str) -> None: ...

    def put_configuration(self, bucket: str, function_name: str, document: bytes) -> None: ...

    def pause(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Settings:
    bucket: str
    function_names: tuple[str, ...]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        require(environ, "FUNCTION_NAMES", "BUCKET_NAME")
        names = json_value(environ, "FUNCTION_NAMES")
        if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
            raise ConfigurationError("FUNCTION_NAMES must be a JSON list of function names")
        return cls(bucket=environ["BUCKET_NAME"], function_names=tuple(dict.fromkeys(names)))


@dataclass(frozen=True)
class Result:
    """What happened to one function: code and configuration "exported" or "unchanged", or an error."""

    function: str
    code: str = ""
    configuration: str = ""
    error: str = ""
    retryable: bool = False  # denied access: on a first deploy, IAM may not have propagated yet


def code_key(function_name: str) -> str:
    return f"{EXPORT_PREFIX}{function_name}/{CODE_OBJECT}"


def configuration_key(function_name: str) -> str:
    return f"{EXPORT_PREFIX}{function_name}/{CONFIGURATION_OBJECT}"


def exported_configuration(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The part of GetFunction's Configuration that is exported (without the export time)."""
    kept: dict[str, Any] = {}
    for key in KEPT_CONFIGURATION:
        if key not in configuration or configuration[key] is None:
            continue
        value = configuration[key]
        if key in KEPT_NESTED and isinstance(value, Mapping):
            value = {sub: value[sub] for sub in KEPT_NESTED[key] if sub in value}
        kept[key] = value
    return kept


def package_sha256(data: bytes) -> str:
    """Lambda's CodeSha256 of a package: the base64 of its SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def describe(error: Exception) -> str:
    return str(error) if isinstance(error, AwsError) else f"{type(error).__name__}: {error}"


def previous_configuration(gateway: Gateway, bucket: str, function_name: str) -> dict[str, Any] | None:
    """The configuration.json exported last, or None when there is none (or it is not a JSON object)."""
    body = gateway.read_configuration(bucket, function_name)
    if body is None:
        return None
    try:
        exported = json.loads(body)
    except ValueError:
        current_logger().warning("The exported configuration is not JSON; exporting again", function=function_name)
        return None
    return exported if isinstance(exported, dict) else None


def export_function(gateway: Gateway, bucket: str, name: str, now: datetime) -> Result:
    """Export one function: its package when its code changed, its configuration when that changed."""
    try:
        described = gateway.get_function(name)
    except AwsError as error:
        raise ExportError(f"GetFunction failed: {error}", error.denied) from None
    configuration = described.get("Configuration") or {}
    environment = configuration.get("Environment") or {}
    if "Error" in environment and "Variables" not in environment:
        # Lambda hides variables encrypted with a customer managed key from a caller that may not
        # decrypt them; an export without them would restore a broken function.
        raise ExportError(f"the environment variables are unreadable: {environment['Error'].get('ErrorCode')}")
    function_name = str(configuration.get("FunctionName") or name)
    code_sha = configuration.get("CodeSha256")
    location = (described.get("Code") or {}).get("Location")
    if not code_sha or not location:
        raise ExportError("GetFunction returned no CodeSha256 or Code.Location (only zip packages are exported)")
    wanted = exported_configuration(configuration)

    previous = previous_configuration(gateway, bucket, function_name)
    code_current = (
        previous is not None
        and previous.get("CodeSha256") == code_sha
        and gateway.exported_code_sha(bucket, function_name) == code_sha
    )
    code_state = "unchanged" if code_current else export_package(gateway, bucket, function_name, location, code_sha)
    if code_current and previous is not None and {k: v for k, v in previous.items() if k != EXPORTED_AT} == wanted:
        return Result(function_name, code=code_state, configuration="unchanged")
    document = {**wanted, EXPORTED_AT: now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
    gateway.put_configuration(bucket, function_name, json.dumps(document, indent=2, sort_keys=True).encode())
    return Result(function_name, code=code_state, configuration="exported")


def export_package(gateway: Gateway, bucket: str, function_name: str, location: str, code_sha: str) -> str:
    """Download the package to a temporary file and write it only if it is the function's code."""
    with tempfile.TemporaryFile() as package:
        downloaded_sha = gateway.download(location, package)
        if downloaded_sha != code_sha:
            raise ExportError(
                f"the downloaded package has CodeSha256 {downloaded_sha}, the function {code_sha}; nothing written"
            )
        package.seek(0)
        gateway.put_package(bucket, function_name, package, code_sha)
    return "exported"


def export_all(gateway: Gateway, settings: Settings, now: datetime) -> list[Result]:
    """Export every function; one failing does not stop the others."""
    results = []
    for name in settings.function_names:
        try:
            result = export_function(gateway, settings.bucket, name, now)
        except ExportError as error:
            result = Result(name, error=str(error), retryable=error.retryable)
        except AwsError as error:
            result = Result(name, error=f"S3 {error.operation} failed: {error}", retryable=error.denied)
        if result.error:
            current_logger().error("Function export failed", function=name, reason=result.error)
        else:
            current_logger().info(
                "Function exported", function=result.function, code=result.code, configuration=result.configuration
            )
        results.append(result)
    return results


def export_retrying_denials(
    gateway: Gateway, settings: Settings, remaining_seconds: Callable[[], float]
) -> list[Result]:
    """Export all; retry the functions whose export was denied, while time allows."""
    results = export_all(gateway, settings, datetime.now(UTC))
    for delay in DENIED_RETRY_DELAYS_SECONDS:
        denied = tuple(r.function for r in results if r.retryable)
        if not denied or remaining_seconds() < delay + RESPONSE_RESERVE_SECONDS + 60:
            break
        current_logger().warning(
            "Access denied; retrying (IAM may still be propagating)", functions=denied, delay=delay
        )
        gateway.pause(delay)
        retried = {r.function: r for r in export_all(gateway, Settings(settings.bucket, denied), datetime.now(UTC))}
        results = [retried.get(r.function, r) if r.retryable else r for r in results]
    return results


def summarize(results: Sequence[Result]) -> dict[str, Any]:
    failed = {r.function: r.error for r in results if r.error}
    return {
        "exported": sorted(r.function for r in results if not r.error and "exported" in (r.code, r.configuration)),
        "unchanged": sorted(r.function for r in results if not r.error and r.code == r.configuration == "unchanged"),
        "failed": failed,
    }


def failure_reason(summary: Mapping[str, Any]) -> str:
    failed = summary["failed"]
    return "Could not export " + "; ".join(f"{name}: {reason}" for name, reason in sorted(failed.items()))


def classify(event: object) -> str:
    """Return "schedule" or "custom-resource", or raise InvalidEvent saying why the event is neither."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event is a {type(event).__name__}, not a JSON object")
    if "RequestType" in event or "ResponseURL" in event:
        url = event.get("ResponseURL")
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("https", "http"):
            raise InvalidEvent("a custom-resource request without an http(s) ResponseURL cannot be answered")
        return "custom-resource"
    if (event.get("source"), event.get("detail-type")) == SCHEDULED_EVENT:
        return "schedule"
    raise InvalidEvent(f"unexpected event {event.get('source')!r} / {event.get('detail-type')!r}")


def custom_resource_request_problem(event: Mapping[str, Any]) -> str:
    """Why CloudFormation's request cannot be acted on ("" when it can)."""
    request_type = event.get("RequestType")
    missing = [field for field in ("RequestId", "StackId", "LogicalResourceId") if not event.get(field)]
    if request_type not in REQUEST_TYPES:
        return f"Unsupported RequestType {request_type!r}"
    if missing:
        return f"The request has no {', '.join(missing)}"
    return ""
