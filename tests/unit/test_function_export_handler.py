"""Unit tests of the function export: the export format, the unchanged-code skip, the custom resource's
answers, bad events.

The handler runs against a fake gateway (``FakeGateway``: Lambda's functions and the bucket's objects
in memory), so these tests exercise its decisions; the gateway's own behaviour (S3's 403 for a missing
key, the package download) is tested on it directly, and the real calls end to end in
tests/local_aws/test_function_code_location.py. The CloudFormation answer is captured at the shared
package's HTTP seam (``cfn.http_put``); one test sends it for real to a local HTTP server.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import logging
import sys
import threading
import urllib.error
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType, SimpleNamespace
from typing import IO, Any

import pytest
from botocore.exceptions import ClientError
from dr_common import cfn

from .handlers import load_handler

REAL_HTTP_PUT = cfn.http_put
ACCOUNT = "123456789012"
BUCKET = "data-bucket-test"
CANARY, MONITOR, EXPORTER = "health-check-test", "backup-monitor-test", "function-export-test"
RESPONSE_URL = "https://cloudformation-custom-resource-response.example/presigned?X-Amz-Signature=secret"
SECRET = "X-Amz-Signature=secret"
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


class FakeGateway:
    """Lambda and the data bucket in memory, in place of ``gateway.Gateway``: the functions (their
    GetFunction answers and packages), every version of every export object, the packages downloaded,
    the pauses; ``denials`` makes GetFunction of a function refuse that many times, ``served`` makes
    its download deliver other bytes."""

    def __init__(self, logic: ModuleType) -> None:
        self.logic = logic
        self.configurations: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, bytes] = {}
        self.objects: dict[str, list[tuple[bytes, str | None]]] = {}  # key -> versions: (body, code-sha256)
        self.downloads: list[str] = []
        self.pauses: list[float] = []
        self.denials: dict[str, int] = {}
        self.served: dict[str, bytes] = {}

    def create_function(self, name: str, source: str, **configuration: Any) -> None:
        self.configurations[name] = {
            "FunctionName": name,
            "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
            "Runtime": "python3.14",
            "Role": f"arn:aws:iam::{ACCOUNT}:role/exported-role",
            "Handler": "handler.handler",
            "Timeout": 3,
            "MemorySize": 128,
            "Version": "$LATEST",
            "State": "Active",
            **configuration,
        }
        self.packages[name] = _zip(source)

    def update_code(self, name: str, source: str) -> None:
        self.packages[name] = _zip(source)

    # --- the gateway's calls

    def get_function(self, name: str) -> dict[str, Any]:
        if self.denials.get(name, 0) > 0:
            self.denials[name] -= 1
            raise self.logic.AwsError("GetFunction", "AccessDeniedException", "not authorized")
        if name not in self.configurations:
            raise self.logic.AwsError("GetFunction", "ResourceNotFoundException", f"Function not found: {name}")
        return {
            "Configuration": {
                **self.configurations[name],
                "CodeSha256": self.logic.package_sha256(self.packages[name]),
            },
            "Code": {"RepositoryType": "S3", "Location": f"https://awslambda.example/{name}/code.zip?{SECRET}"},
        }

    def read_configuration(self, bucket: str, function_name: str) -> bytes | None:
        assert bucket == BUCKET
        versions = self.objects.get(self.logic.configuration_key(function_name))
        return versions[-1][0] if versions else None

    def exported_code_sha(self, bucket: str, function_name: str) -> str | None:
        assert bucket == BUCKET
        versions = self.objects.get(self.logic.code_key(function_name))
        return versions[-1][1] if versions else None

    def download(self, location: str, sink: IO[bytes]) -> str:
        (name,) = [name for name in self.packages if f"/{name}/" in location]
        self.downloads.append(name)
        data = self.served.get(name, self.packages[name])
        sink.write(data)
        return str(self.logic.package_sha256(data))

    def put_package(self, bucket: str, function_name: str, package: IO[bytes], code_sha: str) -> None:
        assert bucket == BUCKET
        self.objects.setdefault(self.logic.code_key(function_name), []).append((package.read(), code_sha))

    def put_configuration(self, bucket: str, function_name: str, document: bytes) -> None:
        assert bucket == BUCKET
        self.objects.setdefault(self.logic.configuration_key(function_name), []).append((document, None))

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)

    # --- reading the bucket

    def object(self, name: str, obj: str) -> bytes:
        return self.objects[f"lambda-exports/{name}/{obj}"][-1][0]

    def configuration(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.object(name, "configuration.json")))

    def versions(self, name: str, obj: str) -> int:
        return len(self.objects.get(f"lambda-exports/{name}/{obj}", []))


class Harness:
    """The loaded handler with a fake gateway, and the answers it sends CloudFormation."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.aws = FakeGateway(module.logic)
        self.responses: list[dict[str, Any]] = []
        self.urls: list[str] = []

    def run(self, event: Any) -> Any:
        return self.module.handler(event, CONTEXT)

    def answer(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke with a custom-resource request; return the one response it sent."""
        self.run(event)
        assert len(self.responses) == 1, self.responses
        assert self.urls == [RESPONSE_URL]
        return self.responses[0]


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps([CANARY, MONITOR, EXPORTER]))
    h = Harness(load_handler(monkeypatch, "function_export"))
    h.aws.create_function(
        CANARY,
        "def handler(event, context):\n    return 'canary'\n",
        Description="Data-plane canary",
        Timeout=30,
        MemorySize=256,
        Environment={"Variables": {"TABLE_NAME": "dynamodb-table-test", "BUCKET_NAME": BUCKET}},
        Architectures=["x86_64"],
        TracingConfig={"Mode": "PassThrough"},
        LastModified="2026-11-28T10:00:00.000+0000",
    )
    h.aws.create_function(MONITOR, "def handler(event, context):\n    return 'monitor'\n", Timeout=60)
    h.aws.create_function(EXPORTER, "def handler(event, context):\n    return 'exporter'\n", Timeout=300)

    def fake_put(url: str, body: bytes) -> None:
        h.urls.append(url)
        h.responses.append(json.loads(body))

    monkeypatch.setattr(h.module, "gateway", h.aws)
    monkeypatch.setattr(cfn, "http_put", fake_put)
    monkeypatch.setattr(cfn, "sleep", lambda seconds: None)
    yield h


@pytest.fixture
def logic(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The function's logic module, for tests of functions that take their inputs as arguments."""
    return load_handler(monkeypatch, "function_export").logic  # type: ignore[no-any-return]


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The function's gateway module, for tests of the AWS side on its own."""
    load_handler(monkeypatch, "function_export")
    return sys.modules["gateway"]  # the copy load_handler imported


# --- the export format ---------------------------------------------------------------------------


def test_schedule_exports_package_and_configuration_of_every_function(harness: Harness) -> None:
    summary = harness.run(SCHEDULED)

    assert summary == {"exported": sorted([CANARY, MONITOR, EXPORTER]), "unchanged": [], "failed": {}}
    sha = harness.module.logic.package_sha256
    for name in (CANARY, MONITOR, EXPORTER):
        assert harness.aws.objects[f"lambda-exports/{name}/code.zip"] == [
            (harness.aws.packages[name], sha(harness.aws.packages[name]))
        ]
    configuration = harness.aws.configuration(CANARY)
    assert configuration["FunctionName"] == CANARY
    assert configuration["Runtime"] == "python3.14"
    assert configuration["Role"] == f"arn:aws:iam::{ACCOUNT}:role/exported-role"
    assert configuration["Handler"] == "handler.handler"
    assert (configuration["Timeout"], configuration["MemorySize"]) == (30, 256)
    assert configuration["Description"] == "Data-plane canary"
    assert configuration["Environment"] == {"Variables": {"TABLE_NAME": "dynamodb-table-test", "BUCKET_NAME": BUCKET}}
    assert configuration["Architectures"] == ["x86_64"]
    assert configuration["TracingConfig"] == {"Mode": "PassThrough"}
    assert configuration["CodeSha256"] == sha(harness.aws.packages[CANARY])
    exported_at = datetime.fromisoformat(configuration["ExportedAt"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - exported_at).total_seconds()) < 60
    assert set(configuration) <= {*harness.module.logic.KEPT_CONFIGURATION, "ExportedAt"}


def test_configuration_keeps_what_a_restore_needs_and_drops_the_rest(logic: ModuleType) -> None:
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
    assert logic.exported_configuration(full) == {
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
    assert logic.exported_configuration({"FunctionName": "x", "KMSKeyArn": None}) == {"FunctionName": "x"}


# --- skipping unchanged code ------------------------------------------------------------------------


def test_unchanged_functions_are_neither_downloaded_nor_rewritten(harness: Harness) -> None:
    harness.run(SCHEDULED)
    assert sorted(harness.aws.downloads) == sorted([CANARY, MONITOR, EXPORTER])
    harness.aws.downloads.clear()

    summary = harness.run(SCHEDULED)

    assert summary == {"exported": [], "unchanged": sorted([CANARY, MONITOR, EXPORTER]), "failed": {}}
    assert harness.aws.downloads == []
    for name in (CANARY, MONITOR, EXPORTER):
        assert harness.aws.versions(name, "code.zip") == 1
        assert harness.aws.versions(name, "configuration.json") == 1


def test_changed_code_is_exported_again(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.aws.downloads.clear()
    harness.aws.update_code(MONITOR, "def handler(event, context):\n    return 'monitor v2'\n")

    summary = harness.run(SCHEDULED)

    assert summary["exported"] == [MONITOR]
    assert harness.aws.downloads == [MONITOR]
    assert harness.aws.object(MONITOR, "code.zip") == harness.aws.packages[MONITOR]
    assert harness.aws.configuration(MONITOR)["CodeSha256"] == harness.module.logic.package_sha256(
        harness.aws.packages[MONITOR]
    )
    assert (harness.aws.versions(MONITOR, "code.zip"), harness.aws.versions(MONITOR, "configuration.json")) == (2, 2)


def test_changed_configuration_alone_rewrites_only_the_configuration(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.aws.downloads.clear()
    harness.aws.configurations[CANARY]["MemorySize"] = 512

    summary = harness.run(SCHEDULED)

    assert summary["exported"] == [CANARY]
    assert harness.aws.downloads == []  # same CodeSha256: the package is not fetched again
    assert harness.aws.configuration(CANARY)["MemorySize"] == 512
    assert (harness.aws.versions(CANARY, "code.zip"), harness.aws.versions(CANARY, "configuration.json")) == (1, 2)


def test_a_change_only_in_fields_not_exported_rewrites_nothing(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.aws.configurations[CANARY]["LastModified"] = "2026-11-28T11:00:00.000+0000"

    assert harness.run(SCHEDULED)["unchanged"] == sorted([CANARY, MONITOR, EXPORTER])
    assert harness.aws.versions(CANARY, "configuration.json") == 1


def test_a_missing_code_zip_is_exported_again_even_if_the_configuration_matches(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.aws.downloads.clear()
    del harness.aws.objects[f"lambda-exports/{CANARY}/code.zip"]

    harness.run(SCHEDULED)

    assert harness.aws.downloads == [CANARY]
    assert harness.aws.object(CANARY, "code.zip") == harness.aws.packages[CANARY]


def test_an_exported_configuration_that_is_not_json_is_replaced(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.aws.put_configuration(BUCKET, CANARY, b"{not json")

    harness.run(SCHEDULED)

    assert harness.aws.configuration(CANARY)["FunctionName"] == CANARY


# --- the gateway ----------------------------------------------------------------------------------


class FailingS3:
    """An S3 client whose reads fail with ``code``."""

    def __init__(self, code: str) -> None:
        self.error = ClientError({"Error": {"Code": code, "Message": "x"}}, "GetObject")

    def get_object(self, **_: Any) -> Any:
        raise self.error

    def head_object(self, **_: Any) -> Any:
        raise self.error


@pytest.mark.parametrize("code", ["NoSuchKey", "404", "AccessDenied", "403"])
def test_a_missing_export_reads_as_none_whether_s3_says_404_or_403(gateway: ModuleType, code: str) -> None:
    """Without s3:ListBucket S3 answers a missing key with 403, so both mean "not exported yet"."""
    aws = gateway.Gateway(clients=lambda service: FailingS3(code))

    assert aws.read_configuration(BUCKET, CANARY) is None
    assert aws.exported_code_sha(BUCKET, CANARY) is None


def test_other_read_errors_are_not_taken_for_a_missing_export(gateway: ModuleType) -> None:
    aws = gateway.Gateway(clients=lambda service: FailingS3("SlowDown"))

    with pytest.raises(gateway.AwsError, match="SlowDown") as raised:
        aws.read_configuration(BUCKET, CANARY)
    assert raised.value.operation == "GetObject"


def test_the_download_streams_the_package_and_returns_its_code_sha(gateway: ModuleType) -> None:
    package = _zip("def handler(event, context):\n    return 1\n")
    sink = io.BytesIO()

    code_sha = gateway.Gateway(clients=None, urlopen=lambda url, timeout: io.BytesIO(package)).download(
        "https://awslambda.example/code.zip", sink
    )

    assert (sink.getvalue(), code_sha) == (package, base64.b64encode(hashlib.sha256(package).digest()).decode())


def test_a_failed_download_never_reveals_the_presigned_url(gateway: ModuleType) -> None:
    def denied(url: str, timeout: float) -> Any:
        raise urllib.error.HTTPError(f"https://bucket.example/code.zip?{SECRET}", 403, "Forbidden", None, None)  # type: ignore[arg-type]

    with pytest.raises(gateway.ExportError, match="HTTP 403") as failed:
        gateway.Gateway(urlopen=denied).download(f"https://bucket.example/code.zip?{SECRET}", io.BytesIO())

    assert SECRET not in str(failed.value)


def test_only_http_locations_are_opened(gateway: ModuleType) -> None:
    with pytest.raises(gateway.ExportError, match="not an http"):
        gateway.Gateway().download("file:///etc/passwd", io.BytesIO())


# --- failures ----------------------------------------------------------------------------------------


def test_a_package_that_does_not_match_its_hash_is_not_written_and_the_schedule_fails(harness: Harness) -> None:
    harness.aws.served[CANARY] = b"corrupted"  # the canary's package arrives damaged; the others intact

    with pytest.raises(harness.module.ExportFailed, match=rf"{CANARY}: the downloaded package has CodeSha256"):
        harness.run(SCHEDULED)

    assert harness.aws.object(MONITOR, "code.zip") == harness.aws.packages[MONITOR]  # the others are exported
    assert harness.aws.versions(CANARY, "code.zip") == harness.aws.versions(CANARY, "configuration.json") == 0


def test_an_unknown_function_fails_the_schedule_after_the_others(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps(["no-such-function", MONITOR]))

    with pytest.raises(harness.module.ExportFailed, match="no-such-function: GetFunction failed: ResourceNotFound"):
        harness.run(SCHEDULED)

    assert harness.aws.object(MONITOR, "code.zip") == harness.aws.packages[MONITOR]


def test_a_failed_write_fails_that_function_naming_the_s3_operation(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_: Any) -> None:
        raise harness.module.logic.AwsError("PutObject", "KMS.DisabledException", "key disabled")

    monkeypatch.setattr(harness.aws, "put_configuration", refused)

    with pytest.raises(
        harness.module.ExportFailed, match=f"{CANARY}: S3 PutObject failed: KMS.DisabledException: key disabled"
    ):
        harness.run(SCHEDULED)


def test_environment_variables_lambda_would_not_show_fail_that_function(harness: Harness) -> None:
    harness.aws.configurations[CANARY]["Environment"] = {
        "Error": {"ErrorCode": "KMSAccessDeniedException", "Message": "denied"}
    }

    with pytest.raises(harness.module.ExportFailed, match="environment variables are unreadable: KMSAccessDenied"):
        harness.run(SCHEDULED)

    assert harness.aws.versions(CANARY, "code.zip") == 0


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
    assert harness.aws.object(CANARY, "code.zip") == harness.aws.packages[CANARY]


def test_an_update_after_a_code_change_exports_only_the_changed_function(harness: Harness) -> None:
    harness.run(SCHEDULED)
    harness.aws.downloads.clear()
    harness.aws.update_code(CANARY, "def handler(event, context):\n    return 'canary v2'\n")

    response = harness.answer(request("Update"))

    assert response["Status"] == "SUCCESS"
    assert response["Data"] == {"Exported": "1", "Unchanged": "2"}
    assert harness.aws.downloads == [CANARY]


def test_delete_does_nothing_and_succeeds(harness: Harness) -> None:
    response = harness.answer(request("Delete"))

    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == f"{BUCKET}/lambda-exports/"
    assert harness.aws.objects == {}
    assert harness.aws.downloads == []


def test_a_failed_export_answers_failed_naming_the_function(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps([MONITOR, "no-such-function"]))

    response = harness.answer(request("Create"))

    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("Could not export no-such-function: GetFunction failed: ResourceNotFound")


def test_a_denial_on_deploy_is_retried_until_iam_has_propagated(harness: Harness) -> None:
    harness.aws.denials[CANARY] = 2  # as IAM does until a new role's policy has propagated

    response = harness.answer(request("Create"))

    assert response["Status"] == "SUCCESS"
    assert response["Data"] == {"Exported": "3", "Unchanged": "0"}
    assert harness.aws.pauses == [10, 20]
    assert harness.aws.downloads.count(CANARY) == 1


def test_a_lasting_denial_answers_failed_after_the_retries(harness: Harness) -> None:
    harness.aws.denials[CANARY] = 99

    response = harness.answer(request("Create"))

    assert response["Status"] == "FAILED"
    assert response["Reason"] == f"Could not export {CANARY}: GetFunction failed: AccessDeniedException: not authorized"
    assert harness.aws.pauses == [10, 20, 30]
    assert harness.aws.object(MONITOR, "code.zip") == harness.aws.packages[MONITOR]


def test_no_retry_for_other_failures_or_without_time_to_spare(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps(["no-such-function"]))
    assert harness.answer(request("Create"))["Status"] == "FAILED"
    assert harness.aws.pauses == []

    harness.responses.clear()
    harness.urls.clear()
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps([CANARY]))
    harness.aws.denials[CANARY] = 1
    short = SimpleNamespace(**{**vars(CONTEXT), "get_remaining_time_in_millis": lambda: 60_000})
    harness.module.handler(request("Create"), short)
    assert harness.responses[0]["Status"] == "FAILED"
    assert harness.aws.pauses == []


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
    assert harness.aws.downloads == []


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

    monkeypatch.setattr(harness.module.logic, "export_all", explode)

    response = harness.answer(request("Create"))

    assert (response["Status"], response["Reason"]) == ("FAILED", "RuntimeError: boom")


def test_long_reasons_are_truncated_below_cloudformations_limit(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps([f"missing-function-{n:03d}" for n in range(60)]))

    response = harness.answer(request("Create"))

    assert response["Status"] == "FAILED"
    assert len(response["Reason"]) == cfn.MAX_REASON_CHARS and response["Reason"].endswith("...")
    assert len(json.dumps(response)) < 4096


def test_an_undeliverable_response_is_retried_and_not_raised(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def failing_put(url: str, body: bytes) -> None:
        attempts.append(url)
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(cfn, "http_put", failing_put)

    result = harness.run(request("Delete"))

    assert result["Status"] == "SUCCESS"
    assert len(attempts) == cfn.PUT_ATTEMPTS


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
    monkeypatch.setattr(cfn, "http_put", REAL_HTTP_PUT)  # the harness replaced it
    try:
        harness.module.handler(
            request("Delete", ResponseURL=f"http://127.0.0.1:{server.server_port}/response"), CONTEXT
        )
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
    assert harness.aws.downloads == [] and harness.responses == []
    assert harness.aws.objects == {}


def test_function_names_are_exported_once_each(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCTION_NAMES", json.dumps([CANARY, CANARY]))

    assert harness.run(SCHEDULED)["exported"] == [CANARY]
    assert harness.aws.downloads == [CANARY]
