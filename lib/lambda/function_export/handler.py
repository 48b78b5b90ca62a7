"""Exports every Lambda function of the app into the data bucket, so a recovery point holds them.

AWS Backup cannot back up Lambda functions. The data bucket is versioned and backed up hourly, so
this function copies each function's deployment package and configuration into it; every recovery
point of the bucket then holds the functions as they were, and ``dr_drill restore --function NAME``
recreates one from there without the repository.

Format, per function, under ``lambda-exports/<FunctionName>/`` (overwritten in place: history lives
in object versions and recovery points):

* ``code.zip``: the deployment package, downloaded from GetFunction's ``Code.Location``, checked
  against the function's ``CodeSha256`` before it is written (S3 checks it again on upload), with
  the hash in its metadata (``code-sha256``);
* ``configuration.json``: GetFunction's ``Configuration`` limited to ``KEPT_CONFIGURATION`` (nested
  blocks to ``KEPT_NESTED``; a key GetFunction does not return is left out), plus ``CodeSha256`` and
  ``ExportedAt`` (ISO 8601, UTC). It is written after ``code.zip``, so its ``CodeSha256`` always
  names the package beside it.

A package whose ``CodeSha256`` equals the exported configuration's (and whose ``code.zip`` carries
that hash) is not downloaded again; an unchanged configuration is not rewritten either, so an
unchanged function costs one GetFunction, one GetObject and one HeadObject an hour.

Triggers:

* the hourly EventBridge schedule (``Scheduled Event``): exports all; if any function failed, the
  invocation raises after trying every function, so Lambda retries it and then dead-letters it into
  the undelivered-alerts queue, whose depth pages;
* the ``Custom::FunctionExport`` resource on every deploy that changes a function's code: Create and
  Update export all and answer SUCCESS, or FAILED naming the functions that could not be exported
  (an access denial -- IAM still propagating a role made in the same deploy -- is retried after 10,
  20 and 30 s first, while the function's time allows); Delete does nothing (the exports stay with
  the data; the bucket's auto-delete empties it on destroy). The answer (``dr_common.cfn``) is sent
  on every path, exceptions included; the physical id is ``<bucket>/lambda-exports/``.

Anything else is logged and ignored, never retried in a loop. The functions (``FUNCTION_NAMES``:
JSON list) and the bucket (``BUCKET_NAME``) come from the environment the stack sets.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from dr_common import InvalidEvent, cfn, observability
from dr_common.cfn import FAILED, SUCCESS
from dr_common.clients import Clients
from dr_common.settings import ConfigurationError, json_value, require

logger = observability.logger("function-export")

EXPORT_PREFIX = "lambda-exports/"
CODE_OBJECT = "code.zip"
CONFIGURATION_OBJECT = "configuration.json"
CODE_SHA_METADATA = "code-sha256"  # S3 user metadata of code.zip: the CodeSha256 of the package in it
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
# S3 answers a GET or HEAD of a missing key with 403 to a caller without s3:ListBucket on the bucket
# (this function has none): for the objects it reads, 403 and 404 both mean "no usable export yet".
# A real permission problem still surfaces: the export then writes, and a failed write is an error.
ABSENT_CODES = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403", "Forbidden"})
# Access denials a custom-resource run retries: a role and policy created in the same deploy take a
# few seconds to apply everywhere (IAM is eventually consistent); failing the deploy for that would
# roll it back. The schedule needs no such loop: Lambda retries a failed asynchronous run.
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"})
DENIED_RETRY_DELAYS_SECONDS = (10, 20, 30)
RESPONSE_RESERVE_SECONDS = 30  # kept back from the timeout to answer CloudFormation
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 60
# Lambda's limit for an unzipped package; a zipped one is smaller. Keeps /tmp (512 MB) safe.
MAX_PACKAGE_BYTES = 250 * 1024 * 1024
clients = Clients(Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 5, "mode": "standard"}))


class ExportError(Exception):
    """One function could not be exported; the message says which step failed and why."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ExportFailed(Exception):
    """At least one function could not be exported (raised so the schedule retries, then dead-letters)."""


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


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _denied(error: ClientError) -> bool:
    return _error_code(error) in DENIED_CODES


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        return f"{_error_code(error)}: {error.response.get('Error', {}).get('Message', '')}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


def read_exported_configuration(s3: Any, bucket: str, function_name: str) -> dict[str, Any] | None:
    """The configuration.json exported last, or None when there is none (or it is not a JSON object)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=configuration_key(function_name))["Body"].read()
    except ClientError as error:
        if _error_code(error) in ABSENT_CODES:
            return None
        raise
    try:
        exported = json.loads(body)
    except ValueError:
        logger.warning("The exported configuration is not JSON; exporting again", function=function_name)
        return None
    return exported if isinstance(exported, dict) else None


def exported_code_sha(s3: Any, bucket: str, function_name: str) -> str | None:
    """The CodeSha256 recorded on the exported code.zip, or None when there is no code.zip."""
    try:
        head = s3.head_object(Bucket=bucket, Key=code_key(function_name))
    except ClientError as error:
        if _error_code(error) in ABSENT_CODES:
            return None
        raise
    return head.get("Metadata", {}).get(CODE_SHA_METADATA)


def _open_url(url: str) -> IO[bytes]:
    """GET the pre-signed package URL (a seam for tests: unit tests replace it)."""
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise ExportError("Code.Location is not an http(s) URL")
    return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS)  # scheme checked above


def download_package(location: str, sink: IO[bytes]) -> str:
    """Stream the package at ``location`` into ``sink``; return its CodeSha256. The URL is
    credential-bearing and never appears in a message."""
    digest = hashlib.sha256()
    size = 0
    try:
        with _open_url(location) as response:
            while chunk := response.read(DOWNLOAD_CHUNK_BYTES):
                size += len(chunk)
                if size > MAX_PACKAGE_BYTES:
                    raise ExportError(f"the deployment package is larger than {MAX_PACKAGE_BYTES} bytes")
                digest.update(chunk)
                sink.write(chunk)
    except urllib.error.HTTPError as error:
        raise ExportError(f"downloading the deployment package failed: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ExportError(f"downloading the deployment package failed: {reason}") from None
    sink.flush()
    return base64.b64encode(digest.digest()).decode()


def export_function(lambda_client: Any, s3: Any, bucket: str, name: str, now: datetime) -> Result:
    """Export one function: its package when its code changed, its configuration when that changed."""
    try:
        described = lambda_client.get_function(FunctionName=name)
    except ClientError as error:
        raise ExportError(f"GetFunction failed: {_describe(error)}", _denied(error)) from None
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

    previous = read_exported_configuration(s3, bucket, function_name)
    code_current = (
        previous is not None
        and previous.get("CodeSha256") == code_sha
        and exported_code_sha(s3, bucket, function_name) == code_sha
    )
    code_state = "unchanged" if code_current else _export_package(s3, bucket, function_name, location, code_sha)
    if code_current and previous is not None and {k: v for k, v in previous.items() if k != EXPORTED_AT} == wanted:
        return Result(function_name, code=code_state, configuration="unchanged")
    document = {**wanted, EXPORTED_AT: now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
    s3.put_object(
        Bucket=bucket,
        Key=configuration_key(function_name),
        Body=json.dumps(document, indent=2, sort_keys=True).encode(),
        ContentType="application/json",
    )
    return Result(function_name, code=code_state, configuration="exported")


def _export_package(s3: Any, bucket: str, function_name: str, location: str, code_sha: str) -> str:
    with tempfile.TemporaryFile() as package:
        downloaded_sha = download_package(location, package)
        if downloaded_sha != code_sha:
            raise ExportError(
                f"the downloaded package has CodeSha256 {downloaded_sha}, the function {code_sha}; nothing written"
            )
        package.seek(0)
        s3.put_object(
            Bucket=bucket,
            Key=code_key(function_name),
            Body=package,
            ContentType="application/zip",
            ChecksumSHA256=code_sha,  # S3 refuses the upload if the bytes do not match
            Metadata={CODE_SHA_METADATA: code_sha},
        )
    return "exported"


def export_all(lambda_client: Any, s3: Any, settings: Settings, now: datetime) -> list[Result]:
    """Export every function; one failing does not stop the others."""
    results = []
    for name in settings.function_names:
        try:
            result = export_function(lambda_client, s3, settings.bucket, name, now)
        except ExportError as error:
            result = Result(name, error=str(error), retryable=error.retryable)
        except ClientError as error:
            result = Result(
                name, error=f"S3 {error.operation_name} failed: {_describe(error)}", retryable=_denied(error)
            )
        except BotoCoreError as error:
            result = Result(name, error=_describe(error))
        if result.error:
            logger.error("Function export failed", function=name, reason=result.error)
        else:
            logger.info(
                "Function exported", function=result.function, code=result.code, configuration=result.configuration
            )
        results.append(result)
    return results


def summarize(results: Sequence[Result]) -> dict[str, Any]:
    failed = {r.function: r.error for r in results if r.error}
    return {
        "exported": sorted(r.function for r in results if not r.error and "exported" in (r.code, r.configuration)),
        "unchanged": sorted(r.function for r in results if not r.error and r.code == r.configuration == "unchanged"),
        "failed": failed,
    }


def _failure_reason(summary: Mapping[str, Any]) -> str:
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


def _clients() -> tuple[Any, Any]:
    return clients("lambda"), clients("s3")


def on_schedule(settings: Settings) -> dict[str, Any]:
    summary = summarize(export_all(*_clients(), settings, datetime.now(UTC)))
    if summary["failed"]:
        raise ExportFailed(_failure_reason(summary))
    logger.info("Functions exported", **summary)
    return summary


def export_retrying_denials(settings: Settings, context: LambdaContext) -> list[Result]:
    """Export all; retry the functions whose export was denied, while time allows."""
    lambda_client, s3 = _clients()
    results = export_all(lambda_client, s3, settings, datetime.now(UTC))
    for delay in DENIED_RETRY_DELAYS_SECONDS:
        denied = tuple(r.function for r in results if r.retryable)
        if not denied or context.get_remaining_time_in_millis() / 1000 < delay + RESPONSE_RESERVE_SECONDS + 60:
            break
        logger.warning("Access denied; retrying (IAM may still be propagating)", functions=denied, delay=delay)
        _sleep(delay)
        retried = {
            r.function: r for r in export_all(lambda_client, s3, Settings(settings.bucket, denied), datetime.now(UTC))
        }
        results = [retried.get(r.function, r) if r.retryable else r for r in results]
    return results


def on_custom_resource(event: Mapping[str, Any], context: LambdaContext, settings: Settings | None) -> dict[str, Any]:
    """Answer CloudFormation on every path; returns what was answered."""
    request_type = event.get("RequestType")
    status, reason, data = SUCCESS, "", {}
    try:
        missing = [field for field in ("RequestId", "StackId", "LogicalResourceId") if not event.get(field)]
        if request_type not in REQUEST_TYPES:
            status, reason = FAILED, f"Unsupported RequestType {request_type!r}"
        elif missing:
            status, reason = FAILED, f"The request has no {', '.join(missing)}"
        elif request_type == "Delete":
            reason = "Nothing to delete: the exports stay with the data"
        elif settings is None:
            status, reason = FAILED, "The function's environment (FUNCTION_NAMES, BUCKET_NAME) is invalid"
        else:
            summary = summarize(export_retrying_denials(settings, context))
            data = {"Exported": str(len(summary["exported"])), "Unchanged": str(len(summary["unchanged"]))}
            if summary["failed"]:
                status, reason = FAILED, _failure_reason(summary)
    except Exception as error:  # answer CloudFormation whatever happened
        logger.exception("The custom-resource request failed")
        status, reason = FAILED, _describe(error)
    own_id = f"{settings.bucket}/{EXPORT_PREFIX}" if settings else None
    cfn.respond(event, context, status, reason, own_id=own_id, data=data)
    return {"Status": status, "Reason": reason, "Data": data}


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _settings() -> Settings | None:
    try:
        return Settings.from_environ(os.environ)
    except ConfigurationError as error:
        logger.error("Invalid environment", error=str(error))
        return None


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        kind = classify(event)
    except InvalidEvent as problem:
        logger.warning("Ignored an invalid event", reason=str(problem))
        return {"ignored": str(problem)}
    settings = _settings()
    if kind == "custom-resource":
        return on_custom_resource(event, context, settings)
    if settings is None:
        raise ValueError("The function's environment (FUNCTION_NAMES, BUCKET_NAME) is invalid")
    return on_schedule(settings)
