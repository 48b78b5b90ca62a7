"""Recreate a Lambda function from its export in the data bucket: AWS Backup cannot back up Lambda.

The exporter (``lib/lambda/function_export``) keeps, per function, ``lambda-exports/<name>/code.zip``
(the deployment package) and ``configuration.json`` (GetFunction's Configuration fields that
CreateFunction takes back, plus ``CodeSha256`` and ``ExportedAt``) in the data bucket, so every
recovery point of the bucket holds the functions too.

Under its original name the function is *recovered*: it must be gone, and it stays. With ``--as`` a
copy is restored beside a function that still exists - a drill - and deleted afterwards unless
``--keep``. Either way it is proven to be invocable with an ``InvocationType=DryRun`` call. The
``live`` alias, triggers and permissions are not part of the export: a redeploy restores them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lib import output_keys as keys

from .cleanup import Created, Ledger
from .errors import SetupError, StepFailed, error_code
from .report import Recovery
from .stores import Request
from .target import Target
from .waiting import Steps, Wait

EXPORT_PREFIX = "lambda-exports/"
# configuration.json keys CreateFunction takes back (the exporter's KEPT_CONFIGURATION without
# FunctionName, which the restore chooses, and CodeSha256, which the package itself carries).
CREATE_FUNCTION_KEYS = (
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
DRY_RUN_STATUS = 204  # Invoke with InvocationType=DryRun answers 204 when the caller may invoke it


def package_sha256(package: bytes) -> str:
    """Lambda's CodeSha256: the base64 of the package's SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


class FunctionDrill:
    """One function recreated from its export; fills ``result`` as the drill goes."""

    def __init__(self, target: Target, ledger: Ledger, request: Request, result: Recovery, is_copy: bool):
        self.target = target
        self.ledger = ledger
        self.request = request
        self.result = result
        self.is_copy = is_copy

    def next_steps(self) -> list[str]:
        steps = [f"wait until function {self.result.copy} is Active", "invoke it with InvocationType=DryRun"]
        if self.is_copy:
            steps.append(f"delete function {self.result.copy}")
        return [*steps, "not restored: the live alias, triggers and permissions (a redeploy restores them)"]

    def run(self) -> Steps:
        name = self.result.copy
        if self.is_copy:
            self.ledger.add(
                Created("Lambda function", name, self._delete, f"aws lambda delete-function --function-name {name}")
            )
        self.request.send(self.target)
        yield Wait(f"function {name}", self._state)

    def newest_heartbeat(self) -> datetime | None:
        """A function holds no data; proving it can be invoked is the validation."""
        answer = self.target.client("lambda").invoke(FunctionName=self.result.copy, InvocationType="DryRun")
        if answer["StatusCode"] != DRY_RUN_STATUS:
            raise StepFailed(f"a DryRun invocation of {self.result.copy} answered {answer['StatusCode']}")
        return None

    def copy_details(self) -> str:
        configuration = self.target.client("lambda").get_function_configuration(FunctionName=self.result.copy)
        return str(configuration["FunctionArn"])

    def _state(self) -> tuple[str, bool]:
        configuration = self.target.client("lambda").get_function_configuration(FunctionName=self.result.copy)
        state = str(configuration.get("State", "Active"))
        if state == "Failed":
            raise StepFailed(f"function {self.result.copy} failed: {configuration.get('StateReason', 'no reason')}")
        return state, state == "Active"

    def _delete(self) -> None:
        try:
            self.target.client("lambda").delete_function(FunctionName=self.result.copy)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise


def plan_function(target: Target, ledger: Ledger, name: str, new_name: str | None) -> FunctionDrill:
    """Read and check the export, and refuse to overwrite a function that exists."""
    bucket = target.output(keys.BUCKET_NAME)
    folder = f"{EXPORT_PREFIX}{name}/"
    configuration = _json_object(_read(target, bucket, folder, "configuration.json"))
    package = _read(target, bucket, folder, "code.zip")
    if configuration is None or package is None:
        raise SetupError(
            f"There is no usable export of function {name} in s3://{bucket}/{folder} (code.zip and "
            "configuration.json); the exporter writes one on every deploy that changes a function."
        )
    expected = configuration.get("CodeSha256")
    if expected and expected != package_sha256(package):
        raise SetupError(f"s3://{bucket}/{folder}code.zip does not match the CodeSha256 its configuration.json names.")
    copy = new_name or name
    if _exists(target, copy):
        raise SetupError(
            f"Function {copy} exists; restore a copy beside it with --as NEW_NAME."
            if new_name is None
            else f"Function {copy} exists already; choose another --as name."
        )
    arguments: dict[str, Any] = {key: configuration[key] for key in CREATE_FUNCTION_KEYS if configuration.get(key)}
    arguments.update(FunctionName=copy, Code={"ZipFile": package}, Publish=False)
    exported_at = configuration.get("ExportedAt")
    result = Recovery(
        store="function",
        source=name,
        copy=copy,
        method="function export",
        origin=f"s3://{bucket}/{folder}",
        origin_time=datetime.fromisoformat(exported_at) if isinstance(exported_at, str) else None,
        measures_data_loss=False,
    )
    return FunctionDrill(target, ledger, Request("lambda", "create_function", arguments), result, new_name is not None)


def _read(target: Target, bucket: str, folder: str, name: str) -> bytes | None:
    try:
        return bytes(target.client("s3").get_object(Bucket=bucket, Key=folder + name)["Body"].read())
    except ClientError as error:
        if error_code(error) in ("NoSuchKey", "404"):
            return None
        if error_code(error) == "NoSuchBucket":
            raise SetupError(
                f"The data bucket {bucket} does not exist; restore it first (restore --store s3 --keep)."
            ) from None
        raise


def _json_object(raw: bytes | None) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _exists(target: Target, name: str) -> bool:
    try:
        target.client("lambda").get_function(FunctionName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True
