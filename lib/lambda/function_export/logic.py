"""The function export's decisions: what CloudFormation asked for, what to copy, when a package or
configuration is unchanged, which failures are retried and what is answered. Every AWS call goes
through the gateway it is given (``gateway.Gateway``; unit tests give a fake); every AWS error arrives
as ``AwsError``."""

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
from dr_common.settings import require

EXPORT_PREFIX = "lambda-exports/"
CODE_OBJECT = "code.zip"
CONFIGURATION_OBJECT = "configuration.json"
EXPORTED_AT = "ExportedAt"
CODE_SHA = "CodeSha256"
# CreateFunction's fields an export keeps, in GetFunction's spelling (what the drill passes back).
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
)
# CloudFormation hands every scalar of a custom resource's properties over as a string.
INTEGER_FIELDS = ("Timeout", "MemorySize")

REQUEST_TYPES = frozenset({"Create", "Update", "Delete"})
# Access denials a run retries: a role and policy created in the same deploy take a few seconds to
# apply everywhere (IAM is eventually consistent); failing the deploy for that would roll it back.
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


class Gateway(Protocol):
    """The S3 calls the export makes (``gateway.Gateway``)."""

    def read_configuration(self, bucket: str, function_name: str) -> bytes | None: ...

    def exported_code_sha(self, bucket: str, function_name: str) -> str | None: ...

    def read_package(self, bucket: str, key: str, sink: IO[bytes]) -> str: ...

    def put_package(self, bucket: str, function_name: str, package: IO[bytes], code_sha: str) -> None: ...

    def put_configuration(self, bucket: str, function_name: str, document: bytes) -> None: ...

    def pause(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Settings:
    """The data bucket the exports go to: fixed at deploy time, never taken from an event."""

    bucket: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        require(environ, "BUCKET_NAME")
        return cls(bucket=environ["BUCKET_NAME"])


@dataclass(frozen=True)
class Exported:
    """One function as the stack deployed it: its configuration and its package in the asset bucket."""

    configuration: Mapping[str, Any]
    package_bucket: str
    package_key: str

    @property
    def name(self) -> str:
        return str(self.configuration["FunctionName"])


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


def functions_of(event: Mapping[str, Any]) -> list[Exported]:
    """The functions a Create or Update names, or InvalidEvent saying what is malformed."""
    listed = (event.get("ResourceProperties") or {}).get("Functions")
    if not isinstance(listed, list) or not listed:
        raise InvalidEvent("ResourceProperties.Functions is not a non-empty list")
    functions = []
    for entry in listed:
        configuration = entry.get("Configuration") if isinstance(entry, Mapping) else None
        package = entry.get("Package") if isinstance(entry, Mapping) else None
        if not isinstance(configuration, Mapping) or not configuration.get("FunctionName"):
            raise InvalidEvent("a function entry has no Configuration with a FunctionName")
        if not isinstance(package, Mapping) or not package.get("Bucket") or not package.get("Key"):
            raise InvalidEvent(f"function {configuration['FunctionName']} has no Package with a Bucket and a Key")
        functions.append(Exported(exported_configuration(configuration), str(package["Bucket"]), str(package["Key"])))
    return functions


def exported_configuration(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The kept fields, with the integers CloudFormation turned into strings turned back."""
    kept = {key: configuration[key] for key in KEPT_CONFIGURATION if configuration.get(key) is not None}
    for key in INTEGER_FIELDS:
        if key in kept:
            try:
                kept[key] = int(kept[key])
            except (TypeError, ValueError):
                raise InvalidEvent(f"{key} of function {kept.get('FunctionName')} is not a whole number") from None
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


def export_function(gateway: Gateway, bucket: str, function: Exported, now: datetime) -> Result:
    """Export one function: the package is read from the asset bucket and written when it is not the
    exported one; the configuration is written when it (or the package) changed. configuration.json
    is written after code.zip, so its CodeSha256 always names the package beside it."""
    with tempfile.TemporaryFile() as package:
        try:
            code_sha = gateway.read_package(function.package_bucket, function.package_key, package)
        except AwsError as error:
            raise ExportError(
                f"reading its package s3://{function.package_bucket}/{function.package_key} failed: {error}",
                error.denied,
            ) from None
        previous = previous_configuration(gateway, bucket, function.name)
        code_current = (
            previous is not None
            and previous.get(CODE_SHA) == code_sha
            and gateway.exported_code_sha(bucket, function.name) == code_sha
        )
        if not code_current:
            package.seek(0)
            gateway.put_package(bucket, function.name, package, code_sha)
    wanted = {**function.configuration, CODE_SHA: code_sha}
    code_state = "unchanged" if code_current else "exported"
    if code_current and previous is not None and {k: v for k, v in previous.items() if k != EXPORTED_AT} == wanted:
        return Result(function.name, code=code_state, configuration="unchanged")
    document = {**wanted, EXPORTED_AT: now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
    gateway.put_configuration(bucket, function.name, json.dumps(document, indent=2, sort_keys=True).encode())
    return Result(function.name, code=code_state, configuration="exported")


def export_all(gateway: Gateway, settings: Settings, functions: Sequence[Exported], now: datetime) -> list[Result]:
    """Export every function; one failing does not stop the others."""
    results = []
    for function in functions:
        try:
            result = export_function(gateway, settings.bucket, function, now)
        except ExportError as error:
            result = Result(function.name, error=str(error), retryable=error.retryable)
        except AwsError as error:
            result = Result(function.name, error=f"S3 {error.operation} failed: {error}", retryable=error.denied)
        if result.error:
            current_logger().error("Function export failed", function=function.name, reason=result.error)
        else:
            current_logger().info(
                "Function exported", function=result.function, code=result.code, configuration=result.configuration
            )
        results.append(result)
    return results


def export_retrying_denials(
    gateway: Gateway, settings: Settings, functions: Sequence[Exported], remaining_seconds: Callable[[], float]
) -> list[Result]:
    """Export all; retry the functions whose export was denied, while time allows."""
    results = export_all(gateway, settings, functions, datetime.now(UTC))
    for delay in DENIED_RETRY_DELAYS_SECONDS:
        retryable = {r.function for r in results if r.retryable}
        denied = [function for function in functions if function.name in retryable]
        if not denied or remaining_seconds() < delay + RESPONSE_RESERVE_SECONDS + 60:
            break
        current_logger().warning(
            "Access denied; retrying (IAM may still be propagating)", functions=[f.name for f in denied], delay=delay
        )
        gateway.pause(delay)
        retried = {r.function: r for r in export_all(gateway, settings, denied, datetime.now(UTC))}
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


def check_request(event: object) -> Mapping[str, Any]:
    """The event as a custom-resource request that can be answered, or InvalidEvent saying why not
    (it is then logged and ignored: there is nobody to answer)."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event is a {type(event).__name__}, not a JSON object")
    url = event.get("ResponseURL")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise InvalidEvent("not a custom-resource request with an http(s) ResponseURL: nothing to answer")
    return event


def custom_resource_request_problem(event: Mapping[str, Any]) -> str:
    """Why CloudFormation's request cannot be acted on ("" when it can)."""
    request_type = event.get("RequestType")
    missing = [field for field in ("RequestId", "StackId", "LogicalResourceId") if not event.get(field)]
    if request_type not in REQUEST_TYPES:
        return f"Unsupported RequestType {request_type!r}"
    if missing:
        return f"The request has no {', '.join(missing)}"
    return ""
