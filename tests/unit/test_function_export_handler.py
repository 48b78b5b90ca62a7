"""Unit tests of the function export: the export format, the unchanged-code skip, the custom resource's
answers, bad events.

Lambda and S3 are moto (``mock_aws``, in-process). moto's GetFunction answers a ``Code.Location`` that
nothing serves in-process, so the download seam (``_open_url``) is replaced: it serves the package
each function was created with, found by the function name in the URL, and counts the downloads.
(The emulator serves the real location; tests/local_aws/test_function_code_location.py downloads it.)
The CloudFormation answer is captured at the handler's HTTP seam (``_http_put``); one test sends it
for real to a local HTTP server.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import logging
import threading
import urllib.error
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from .handlers import load_handler

ACCOUNT = "123456789012"
BUCKET = "data-bucket-test"
CANARY, MONITOR, EXPORTER = "health-check-test", "backup-monitor-test", "function-export-test"
RESPONSE_URL = "https://cloudformation-custom-resource-response.example/presigned?X-Amz-Signature=secret"
SECRET = "X-Amz-Signature=secret"
NOW = datetime(2026, 11, 28, 11, 50, tzinfo=UTC)
CONTEXT = SimpleNamespace(
    function_name=EXPORTER,
    memory_limit_in_mb=256,
    invoked_function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{EXPORTER}",
    aws_request_id="req-1",
    log_stream_name="2026/11/28/[$LATEST]abc123",
    get_remaining_time_in_millis=lambda: 300_000,
)
SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2026-11-28T11:50:00Z",
    "region": "us-east-1",
    "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/function-export-schedule-test"],
    "detail": {},
}


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def request(request_type: str, **fields: Any) -> dict[str, Any]:
    """A CloudFormation custom-resource request as CloudFormation sends it."""
    event = {
        "RequestType": request_type,
        "ServiceToken": CONTEXT.invoked_function_arn,
        "ResponseURL": RESPONSE_URL,
        "StackId": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/TapStacktest-Resilience/abc",
        "RequestId": "d9a3b1c4-0000-4000-8000-000000000001",
        "LogicalResourceId": "FunctionExportAB667521",
        "ResourceType": "Custom::FunctionExport",
        "ResourceProperties": {"ServiceToken": CONTEXT.invoked_function_arn, "Functions": []},
    }
    if request_type in ("Update", "Delete"):
        event["PhysicalResourceId"] = f"{BUCKET}/lambda-exports/"
    return {**event, **fields}


class Harness:
    """The loaded handler, moto's Lambda and S3, the packages it downloads and the answers it sends."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.packages: dict[str, bytes] = {}
        self.downloads: list[str] = []
        self.responses: list[dict[str, Any]] = []
        self.urls: list[str] = []
        self.sleeps: list[float] = []
        self.lambda_client = boto3.client("lambda")
        self.s3 = boto3.client("s3")

    def create_function(self, name: str, source: str, **config: Any) -> None:
        package = _zip(source)
        self.lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.14",
            Role=f"arn:aws:iam::{ACCOUNT}:role/exported-role",
            Handler="handler.handler",
            Code={"ZipFile": package},
            **config,
        )
        self.packages[name] = package

    def update_code(self, name: str, source: str) -> None:
        self.packages[name] = _zip(source)
        self.lambda_client.update_function_code(FunctionName=name, ZipFile=self.packages[name])

    def open_url(self, url: str) -> io.BytesIO:
        (name,) = [name for name in self.packages if f"/{name}" in url]
        self.downloads.append(name)
        return io.BytesIO(self.packages[name])

    def object(self, name: str, obj: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=BUCKET, Key=f"lambda-exports/{name}/{obj}")["Body"].read())

    def configuration(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.object(name, "configuration.json")))

    def versions(self, name: str, obj: str) -> int:
        key = f"lambda-exports/{name}/{obj}"
        found = self.s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", [])
        return len([v for v in found if v["Key"] == key])

    def run(self, event: Any) -> Any:
        return self.module.handler(event, CONTEXT)

    def answer(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke with a custom-resource request; return the one response it sent."""
        self.run(event)
        assert len(self.responses) == 1, self.responses
        assert self.urls == [RESPONSE_URL]
        return self.responses[0]


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch, moto_kms_reuses_private_keys: None) -> Iterator[Harness]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "BUCKET_NAME": BUCKET,
        "FUNCTION_NAMES": json.dumps([CANARY, MONITOR, EXPORTER]),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    module = load_handler(monkeypatch, "function_export")
    with mock_aws():
        boto3.client("iam").create_role(
            RoleName="exported-role",
            AssumeRolePolicyDocument=json.dumps(
                {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}
            ),
        )
        h = Harness(module)
        h.s3.create_bucket(Bucket=BUCKET)
        h.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        h.s3.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}]
            },
        )
        h.create_function(
            CANARY,
            "def handler(event, context):\n    return 'canary'\n",
            Description="Data-plane canary",
            Timeout=30,
            MemorySize=256,
            Environment={"Variables": {"TABLE_NAME": "dynamodb-table-test", "BUCKET_NAME": BUCKET}},
            Architectures=["x86_64"],
            TracingConfig={"Mode": "PassThrough"},
        )
        h.create_function(MONITOR, "def handler(event, context):\n    return 'monitor'\n", Timeout=60)
        h.create_function(EXPORTER, "def handler(event, context):\n    return 'exporter'\n", Timeout=300)

        def fake_put(url: str, body: bytes) -> None:
            h.urls.append(url)
            h.responses.append(json.loads(body))

        monkeypatch.setattr(module, "_open_url", h.open_url)
        monkeypatch.setattr(module, "_http_put", fake_put)
        monkeypatch.setattr(module, "_sleep", h.sleeps.append)
        yield h


@pytest.fixture
def handler_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The handler alone, for tests of functions that take their inputs as arguments: building the
    moto world of ``harness`` for them would only cost time."""
    return load_handler(monkeypatch, "function_export")


# --- the export format ---------------------------------------------------------------------------


def test_schedule_exports_package_and_configuration_of_every_function(harness: Harness) -> None:
    summary = harness.run(SCHEDULED)

    assert summary == {"exported": sorted([CANARY, MONITOR, EXPORTER]), "unchanged": [], "failed": {}}
    for name in (CANARY, MONITOR, EXPORTER):
        code = harness.object(name, "code.zip")
        assert code == harness.packages[name]
        head = harness.s3.head_object(Bucket=BUCKET, Key=f"lambda-exports/{name}/code.zip")
        assert head["Metadata"] == {"code-sha256": _sha(code)}
        assert head["ContentType"] == "application/zip"
    configuration = harness.configuration(CANARY)
    assert configuration["FunctionName"] == CANARY
    assert configuration["Runtime"] == "python3.14"
    assert configuration["Role"] == f"arn:aws:iam::{ACCOUNT}:role/exported-role"
    assert configuration["Handler"] == "handler.handler"
    assert (configuration["Timeout"], configuration["MemorySize"]) == (30, 256)
    assert configuration["Description"] == "Data-plane canary"
    assert configuration["Environment"] == {"Variables": {"TABLE_NAME": "dynamodb-table-test", "BUCKET_NAME": BUCKET}}
    assert configuration["Architectures"] == ["x86_64"]
    assert configuration["TracingConfig"] == {"Mode": "PassThrough"}
    assert configuration["CodeSha256"] == _sha(harness.packages[CANARY])
    exported_at = datetime.fromisoformat(configuration["ExportedAt"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - exported_at).total_seconds()) < 60
    assert set(configuration) <= {*harness.module.KEPT_CONFIGURATION, "ExportedAt"}


def test_configuration_keeps_what_a_restore_needs_and_drops_the_rest(handler_module: ModuleType) -> None:
    """A GetFunction Configuration as AWS answers it for a VPC function with a DLQ and a CMK."""
    full = {
        "FunctionName": "health-check-test",
        "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:health-check-test",
        "Runtime": "python3.14",
        "Role": f"arn:aws:iam::{ACCOUNT}:role/function-role-test",
        "Handler": "handler.handler",
        "CodeSize": 1234,
        "Description": "canary",
        "Timeout": 30,
        "MemorySize": 256,
        "LastModified": "2026-11-28T10:00:00.000+0000",
        "CodeSha256": "abc=",
        "Version": "$LATEST",
        "VpcConfig": {
            "SubnetIds": ["subnet-1"],
            "SecurityGroupIds": ["sg-1"],
            "VpcId": "vpc-1",
            "Ipv6AllowedForDualStack": False,
        },
        "DeadLetterConfig": {"TargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:health-check-dlq-test"},
        "Environment": {"Variables": {"A": "1"}},
        "KMSKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234",
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": "r-1",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/health-check-test"},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "RuntimeVersionConfig": {"RuntimeVersionArn": "arn:aws:lambda:us-east-1::runtime:abc"},
    }
    assert handler_module.exported_configuration(full) == {
        "FunctionName": "health-check-test",
        "Runtime": "python3.14",
        "Role": f"arn:aws:iam::{ACCOUNT}:role/function-role-test",
        "Handler": "handler.handler",
        "Timeout": 30,
        "MemorySize": 256,
        "Description": "canary",
        "Environment": {"Variables": {"A": "1"}},
        "VpcConfig": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
        "DeadLetterConfig": {"TargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:health-check-dlq-test"},
        "KMSKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234",
        "Architectures": ["x86_64"],
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/health-check-test"},
        "TracingConfig": {"Mode": "PassThrough"},
        "CodeSha256": "abc=",
    }
    assert handler_module.exported_configuration({"FunctionName": "x", "KMSKeyArn": None}) == {"FunctionName": "x"}


# --- skipping unchanged code ------------------------------------------------------------------------


def test_unchanged_functions_are_neither_downloaded_nor_rewritten(harness: Harness) -> None:
    harness.run(SCHEDULED)
    assert sorted(harness.downloads) == sorted([CANARY, MONITOR, EXPORTER])
    harness.downloads.clear()

    summary = harness.run(SCHEDULED)

    assert summary == {"exported": [], "unchanged": sorted([CANARY, MONITOR, EXPORTER]), "failed": {}}
    assert harness.downloads == []
    for name in (CANARY, MONITOR, EXPORTER):
        assert harness.versions(name, "code.zip") == 1
        assert harness.versions(name, "configuration.json") == 1


def test_changed_code_is_exported_again(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.downloads.clear()
    harness.update_code(MONITOR, "def handler(event, context):\n    return 'monitor v2'\n")

    summary = harness.run(SCHEDULED)

    assert summary["exported"] == [MONITOR]
    assert harness.downloads == [MONITOR]
    assert harness.object(MONITOR, "code.zip") == harness.packages[MONITOR]
    assert harness.configuration(MONITOR)["CodeSha256"] == _sha(harness.packages[MONITOR])
    assert (harness.versions(MONITOR, "code.zip"), harness.versions(MONITOR, "configuration.json")) == (2, 2)


def test_changed_configuration_alone_rewrites_only_the_configuration(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.downloads.clear()
    harness.lambda_client.update_function_configuration(FunctionName=CANARY, MemorySize=512)

    summary = harness.run(SCHEDULED)

    assert summary["exported"] == [CANARY]
    assert harness.downloads == []  # same CodeSha256: the package is not fetched again
    assert harness.configuration(CANARY)["MemorySize"] == 512
    assert (harness.versions(CANARY, "code.zip"), harness.versions(CANARY, "configuration.json")) == (1, 2)


def test_a_missing_code_zip_is_exported_again_even_if_the_configuration_matches(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.downloads.clear()
    harness.s3.delete_object(Bucket=BUCKET, Key=f"lambda-exports/{CANARY}/code.zip")

    harness.run(SCHEDULED)

    assert harness.downloads == [CANARY]
    assert harness.object(CANARY, "code.zip") == harness.packages[CANARY]


def test_an_exported_configuration_that_is_not_json_is_replaced(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.s3.put_object(Bucket=BUCKET, Key=f"lambda-exports/{CANARY}/configuration.json", Body=b"{not json")

    harness.run(SCHEDULED)

    assert harness.configuration(CANARY)["FunctionName"] == CANARY


@pytest.mark.parametrize("code", ["NoSuchKey", "404", "AccessDenied", "403"])
def test_a_missing_export_reads_as_none_whether_s3_says_404_or_403(handler_module: ModuleType, code: str) -> None:
    """Without s3:ListBucket S3 answers a missing key with 403, so both mean "not exported yet"."""
    error = ClientError({"Error": {"Code": code, "Message": "x"}}, "GetObject")

    class Missing:
        def get_object(self, **_: Any) -> Any:
            raise error

        def head_object(self, **_: Any) -> Any:
            raise error

    assert handler_module.read_exported_configuration(Missing(), BUCKET, CANARY) is None
    assert handler_module.exported_code_sha(Missing(), BUCKET, CANARY) is None


def test_other_read_errors_are_not_taken_for_a_missing_export(handler_module: ModuleType) -> None:
    class Broken:
        def get_object(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "GetObject")

    with pytest.raises(ClientError):
        handler_module.read_exported_configuration(Broken(), BUCKET, CANARY)


# --- failures ----------------------------------------------------------------------------------------


def test_a_package_that_does_not_match_its_hash_is_not_written_and_the_schedule_fails(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def corrupted(url: str) -> io.BytesIO:
        """The canary's package arrives damaged; the others intact."""
        package = harness.open_url(url)
        return io.BytesIO(b"corrupted") if harness.downloads[-1] == CANARY else package

    monkeypatch.setattr(harness.module, "_open_url", corrupted)

    with pytest.raises(harness.module.ExportFailed, match=rf"{CANARY}: the downloaded package has CodeSha256"):
        harness.run(SCHEDULED)

    assert harness.object(MONITOR, "code.zip") == harness.packages[MONITOR]  # the others are exported
    with pytest.raises(ClientError):
        harness.object(CANARY, "code.zip")
    with pytest.raises(ClientError):
        harness.object(CANARY, "configuration.json")


def test_an_unknown_function_fails_the_schedule_after_the_others(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps(["no-such-function", MONITOR]))

    with pytest.raises(harness.module.ExportFailed, match="no-such-function: GetFunction failed: ResourceNotFound"):
        harness.run(SCHEDULED)

    assert harness.object(MONITOR, "code.zip") == harness.packages[MONITOR]


def test_environment_variables_lambda_would_not_show_fail_that_function(harness: Harness) -> None:
    class HiddenEnvironment:
        def get_function(self, **_: Any) -> dict[str, Any]:
            return {
                "Configuration": {
                    "FunctionName": CANARY,
                    "CodeSha256": "abc=",
                    "Environment": {"Error": {"ErrorCode": "KMSAccessDeniedException", "Message": "denied"}},
                },
                "Code": {"RepositoryType": "S3", "Location": "https://example.invalid/code"},
            }

    with pytest.raises(harness.module.ExportError, match="environment variables are unreadable: KMSAccessDenied"):
        harness.module.export_function(HiddenEnvironment(), harness.s3, BUCKET, CANARY, NOW)


def test_a_failed_download_never_reveals_the_presigned_url(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def denied(url: str) -> Any:
        raise urllib.error.HTTPError(f"https://bucket.example/code.zip?{SECRET}", 403, "Forbidden", None, None)  # type: ignore[arg-type]

    monkeypatch.setattr(harness.module, "_open_url", denied)
    caplog.set_level(logging.INFO)

    with pytest.raises(harness.module.ExportFailed, match="HTTP 403") as failed:
        harness.run(SCHEDULED)

    assert SECRET not in str(failed.value)
    assert SECRET not in caplog.text


def test_only_http_locations_are_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = load_handler(
        monkeypatch, "function_export", "function_export_handler_fresh"
    )  # the harness replaced _open_url

    with pytest.raises(fresh.ExportError, match="not an http"):
        fresh._open_url("file:///etc/passwd")


# --- the custom resource -----------------------------------------------------------------------------


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_export_everything_and_answer_success(harness: Harness, request_type: str) -> None:
    response = harness.answer(request(request_type))

    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == f"{BUCKET}/lambda-exports/"
    assert response["Data"] == {"Exported": "3", "Unchanged": "0"}
    assert (response["StackId"], response["RequestId"], response["LogicalResourceId"]) == (
        request(request_type)["StackId"],
        request(request_type)["RequestId"],
        "FunctionExportAB667521",
    )
    assert harness.object(CANARY, "code.zip") == harness.packages[CANARY]


def test_an_update_after_a_code_change_exports_only_the_changed_function(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.downloads.clear()
    harness.update_code(CANARY, "def handler(event, context):\n    return 'canary v2'\n")

    response = harness.answer(request("Update"))

    assert response["Status"] == "SUCCESS"
    assert response["Data"] == {"Exported": "1", "Unchanged": "2"}
    assert harness.downloads == [CANARY]


def test_delete_does_nothing_and_succeeds(harness: Harness) -> None:
    response = harness.answer(request("Delete"))

    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == f"{BUCKET}/lambda-exports/"
    assert harness.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    assert harness.downloads == []


def test_a_failed_export_answers_failed_naming_the_function(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps([MONITOR, "no-such-function"]))

    response = harness.answer(request("Create"))

    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("Could not export no-such-function: GetFunction failed: ResourceNotFound")


class DeniedAtFirst:
    """Lambda's client, denying GetFunction of the canary ``times`` times, as IAM does until a new
    role's policy has propagated."""

    def __init__(self, client: Any, times: int) -> None:
        self.client, self.times = client, times

    def get_function(self, FunctionName: str) -> Any:
        if FunctionName == CANARY and self.times > 0:
            self.times -= 1
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetFunction")
        return self.client.get_function(FunctionName=FunctionName)


def test_a_denial_on_deploy_is_retried_until_iam_has_propagated(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.module, "_clients", lambda: (DeniedAtFirst(harness.lambda_client, 2), harness.s3))

    response = harness.answer(request("Create"))

    assert response["Status"] == "SUCCESS"
    assert response["Data"] == {"Exported": "3", "Unchanged": "0"}
    assert harness.sleeps == [10, 20]
    assert harness.downloads.count(CANARY) == 1


def test_a_lasting_denial_answers_failed_after_the_retries(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness.module, "_clients", lambda: (DeniedAtFirst(harness.lambda_client, 99), harness.s3))

    response = harness.answer(request("Create"))

    assert response["Status"] == "FAILED"
    assert response["Reason"] == f"Could not export {CANARY}: GetFunction failed: AccessDeniedException: not authorized"
    assert harness.sleeps == [10, 20, 30]
    assert harness.object(MONITOR, "code.zip") == harness.packages[MONITOR]


def test_no_retry_for_other_failures_or_without_time_to_spare(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps(["no-such-function"]))
    assert harness.answer(request("Create"))["Status"] == "FAILED"
    assert harness.sleeps == []

    harness.responses.clear()
    harness.urls.clear()
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps([CANARY]))
    monkeypatch.setattr(harness.module, "_clients", lambda: (DeniedAtFirst(harness.lambda_client, 1), harness.s3))
    short = SimpleNamespace(**{**vars(CONTEXT), "get_remaining_time_in_millis": lambda: 60_000})
    harness.module.handler(request("Create"), short)
    assert harness.responses[0]["Status"] == "FAILED"
    assert harness.sleeps == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"RequestType": "Replace"}, "Unsupported RequestType 'Replace'"),
        ({"RequestId": ""}, "The request has no RequestId"),
    ],
)
def test_malformed_requests_answer_failed(harness: Harness, fields: dict[str, Any], reason: str) -> None:
    response = harness.answer(request("Create", **fields))

    assert (response["Status"], response["Reason"]) == ("FAILED", reason)
    assert harness.downloads == []


def test_an_invalid_environment_answers_failed_and_fails_the_schedule(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", '{"not": "a list"}')

    response = harness.answer(request("Create"))

    assert response["Status"] == "FAILED" and "FUNCTION_NAMES" in response["Reason"]
    with pytest.raises(ValueError, match="environment"):
        harness.run(SCHEDULED)


def test_an_unexpected_exception_still_answers_failed(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(harness.module, "export_all", explode)

    response = harness.answer(request("Create"))

    assert (response["Status"], response["Reason"]) == ("FAILED", "RuntimeError: boom")


def test_long_reasons_are_truncated_below_cloudformations_limit(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps([f"missing-function-{n:03d}" for n in range(60)]))

    response = harness.answer(request("Create"))

    assert response["Status"] == "FAILED"
    assert len(response["Reason"]) == harness.module.MAX_REASON_CHARS and response["Reason"].endswith("...")
    assert len(json.dumps(response)) < 4096


def test_an_undeliverable_response_is_retried_and_not_raised(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def failing_put(url: str, body: bytes) -> None:
        attempts.append(url)
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(harness.module, "_http_put", failing_put)

    result = harness.run(request("Delete"))

    assert result["Status"] == "SUCCESS"
    assert len(attempts) == harness.module.RESPONSE_PUT_ATTEMPTS


def test_the_response_is_a_put_with_an_empty_content_type(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[tuple[str, str | None, dict[str, Any]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.command, self.headers.get("Content-Type"), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the serving loop's next poll: 0.5 s by default, for nothing.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    fresh = load_handler(
        monkeypatch, "function_export", "function_export_handler_put"
    )  # the harness replaced _http_put
    try:
        fresh.handler(request("Delete", ResponseURL=f"http://127.0.0.1:{server.server_port}/response"), CONTEXT)
    finally:
        server.shutdown()
        server.server_close()

    ((method, content_type, body),) = received
    assert (method, content_type, body["Status"]) == ("PUT", "", "SUCCESS")


def test_the_response_url_is_never_logged(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    harness.answer(request("Create", RequestType="Replace"))

    assert SECRET not in caplog.text


# --- bad events --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (["not", "an", "object"], "the event is a list"),
        ({"source": "aws.backup", "detail-type": "Backup Job State Change"}, "unexpected event 'aws.backup'"),
        ({}, "unexpected event None / None"),
        ({"RequestType": "Create"}, "without an http(s) ResponseURL"),
        ({**request("Create"), "ResponseURL": "file:///tmp/answer"}, "without an http(s) ResponseURL"),
    ],
)
def test_bad_events_are_ignored_without_exporting_or_answering(harness: Harness, event: Any, reason: str) -> None:
    result = harness.run(event)

    assert reason in result["ignored"]
    assert harness.downloads == [] and harness.responses == []
    assert harness.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_function_names_are_exported_once_each(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps([CANARY, CANARY]))

    assert harness.run(SCHEDULED)["exported"] == [CANARY]
    assert harness.downloads == [CANARY]
