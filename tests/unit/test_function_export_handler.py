"""Unit tests of the function export: the export format, the unchanged-package skip, the custom
resource's answers, bad events.

The handler runs against a fake gateway (``FakeGateway``: the CDK asset bucket's packages and the data
bucket's objects in memory), so these tests exercise its decisions; the gateway's own behaviour (S3's
403 for a missing key, streaming a package) is tested on it directly, and the real calls end to end
on the local target (tests/integration/test_function_export.py). The CloudFormation answer is
captured at the shared package's HTTP seam (``cfn.http_put``); one test sends it for real to a local
HTTP server.
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

from tools.dr_drill.functions import CREATE_FUNCTION_KEYS

from .handlers import load_handler

REAL_HTTP_PUT = cfn.http_put
ACCOUNT = "123456789012"
BUCKET = "data-bucket-test"
ASSETS = f"cdk-hnb659fds-assets-{ACCOUNT}-us-east-1"
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


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    return buffer.getvalue()


def configuration(name: str, **fields: Any) -> dict[str, Any]:
    """A function's configuration as the custom resource carries it: CloudFormation hands every
    scalar over as a string."""
    return {
        "FunctionName": name,
        "Runtime": "python3.14",
        "Role": f"arn:aws:iam::{ACCOUNT}:role/{name}-role",
        "Handler": "handler.handler",
        "Timeout": "30",
        "MemorySize": "256",
        **fields,
    }


class Deployment:
    """The functions as the stack deploys them: their configurations and their packages in the
    asset bucket (keyed by content, as CDK names assets)."""

    def __init__(self) -> None:
        self.configurations: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, bytes] = {}

    def add(self, name: str, source: str, **fields: Any) -> None:
        self.configurations[name] = configuration(name, **fields)
        self.packages[name] = _zip(source)

    def key(self, name: str) -> str:
        return hashlib.sha256(self.packages[name]).hexdigest() + ".zip"

    def properties(self) -> dict[str, Any]:
        return {
            "Functions": [
                {"Configuration": self.configurations[name], "Package": {"Bucket": ASSETS, "Key": self.key(name)}}
                for name in self.configurations
            ]
        }


def request(request_type: str, deployment: Deployment | None = None, **fields: Any) -> dict[str, Any]:
    """A CloudFormation custom-resource request as CloudFormation sends it."""
    event = {
        "RequestType": request_type,
        "ServiceToken": CONTEXT.invoked_function_arn,
        "ResponseURL": RESPONSE_URL,
        "StackId": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/TapStacktest-Resilience/abc",
        "RequestId": "d9a3b1c4-0000-4000-8000-000000000001",
        "LogicalResourceId": "FunctionExportAB667521",
        "ResourceType": "Custom::FunctionExport",
        "ResourceProperties": {
            "ServiceToken": CONTEXT.invoked_function_arn,
            **(deployment.properties() if deployment else {"Functions": []}),
        },
    }
    if request_type in ("Update", "Delete"):
        event["PhysicalResourceId"] = f"{BUCKET}/lambda-exports/"
    return {**event, **fields}


class FakeGateway:
    """The asset bucket and the data bucket in memory, in place of ``gateway.Gateway``: every version
    of every export object, the packages read, the pauses; ``denials`` makes the read of a function's
    package refuse that many times."""

    def __init__(self, logic: ModuleType, deployment: Deployment) -> None:
        self.logic = logic
        self.deployment = deployment
        self.objects: dict[str, list[tuple[bytes, str | None]]] = {}  # key -> versions: (body, code-sha256)
        self.reads: list[str] = []
        self.pauses: list[float] = []
        self.denials: dict[str, int] = {}

    def read_configuration(self, bucket: str, function_name: str) -> bytes | None:
        assert bucket == BUCKET
        versions = self.objects.get(self.logic.configuration_key(function_name))
        return versions[-1][0] if versions else None

    def exported_code_sha(self, bucket: str, function_name: str) -> str | None:
        assert bucket == BUCKET
        versions = self.objects.get(self.logic.code_key(function_name))
        return versions[-1][1] if versions else None

    def read_package(self, bucket: str, key: str, sink: IO[bytes]) -> str:
        assert bucket == ASSETS
        names = [name for name in self.deployment.packages if self.deployment.key(name) == key]
        if not names:
            raise self.logic.AwsError("GetObject", "NoSuchKey", "The specified key does not exist.")
        (name,) = names
        if self.denials.get(name, 0) > 0:
            self.denials[name] -= 1
            raise self.logic.AwsError("GetObject", "AccessDenied", "Access Denied")
        self.reads.append(name)
        sink.write(self.deployment.packages[name])
        return str(self.logic.package_sha256(self.deployment.packages[name]))

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
        self.deployment = Deployment()
        self.aws = FakeGateway(module.logic, self.deployment)
        self.responses: list[dict[str, Any]] = []
        self.urls: list[str] = []

    def run(self, event: Any, context: Any = CONTEXT) -> Any:
        return self.module.handler(event, context)

    def answer(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke with a custom-resource request; return the one response it sent."""
        self.responses.clear()
        self.urls.clear()
        self.run(event)
        assert len(self.responses) == 1, self.responses
        assert self.urls == [RESPONSE_URL]
        return self.responses[0]

    def deploy(self, request_type: str = "Update") -> dict[str, Any]:
        """A deploy of the current functions: the answer to CloudFormation."""
        return self.answer(request(request_type, self.deployment))


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    h = Harness(load_handler(monkeypatch, "function_export"))
    h.deployment.add(
        CANARY,
        "def handler(event, context):\n    return 'canary'\n",
        Description="Data-plane canary",
        Environment={"Variables": {"TABLE_NAME": "dynamodb-table-test", "BUCKET_NAME": BUCKET}},
        Architectures=["x86_64"],
        VpcConfig={"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]},
        DeadLetterConfig={"TargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:health-check-dlq-test"},
        KMSKeyArn=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234",
        LoggingConfig={"LogGroup": "/aws/lambda/health-check-test"},
    )
    h.deployment.add(MONITOR, "def handler(event, context):\n    return 'monitor'\n", Timeout="60")
    h.deployment.add(EXPORTER, "def handler(event, context):\n    return 'exporter'\n", Timeout="300")

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


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_a_deploy_exports_package_and_configuration_of_every_function(harness: Harness, request_type: str) -> None:
    response = harness.deploy(request_type)

    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == f"{BUCKET}/lambda-exports/"
    assert response["Data"] == {"Exported": "3", "Unchanged": "0"}
    assert (response["StackId"], response["RequestId"], response["LogicalResourceId"]) == (
        request(request_type)["StackId"],
        request(request_type)["RequestId"],
        "FunctionExportAB667521",
    )
    sha = harness.module.logic.package_sha256
    packages = harness.deployment.packages
    for name in (CANARY, MONITOR, EXPORTER):
        assert harness.aws.objects[f"lambda-exports/{name}/code.zip"] == [(packages[name], sha(packages[name]))]
    exported = harness.aws.configuration(CANARY)
    exported_at = datetime.fromisoformat(exported.pop("ExportedAt").replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - exported_at).total_seconds()) < 60
    assert exported == {
        **harness.deployment.configurations[CANARY],
        "Timeout": 30,  # whole numbers again, as CreateFunction takes them
        "MemorySize": 256,
        "CodeSha256": sha(packages[CANARY]),
    }
    assert harness.aws.configuration(MONITOR)["Timeout"] == 60


def test_configuration_keeps_only_what_createfunction_takes(logic: ModuleType) -> None:
    full = {
        **configuration("health-check-test"),
        "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:health-check-test",
        "TracingConfig": {"Mode": "Active"},
        "KMSKeyArn": None,
        "State": "Active",
    }

    assert logic.exported_configuration(full) == {
        **configuration("health-check-test"),
        "Timeout": 30,
        "MemorySize": 256,
        "TracingConfig": {"Mode": "Active"},
    }
    with pytest.raises(logic.InvalidEvent, match="Timeout of function x is not a whole number"):
        logic.exported_configuration({"FunctionName": "x", "Timeout": "thirty"})


# --- skipping what is unchanged ---------------------------------------------------------------------


def test_an_unchanged_deploy_rewrites_nothing(harness: Harness) -> None:
    harness.deploy()

    response = harness.deploy()

    assert response["Data"] == {"Exported": "0", "Unchanged": "3"}
    for name in (CANARY, MONITOR, EXPORTER):
        assert harness.aws.versions(name, "code.zip") == 1
        assert harness.aws.versions(name, "configuration.json") == 1


def test_changed_code_is_exported_again(harness: Harness) -> None:
    harness.deploy()
    harness.deployment.packages[MONITOR] = _zip("def handler(event, context):\n    return 'monitor v2'\n")

    response = harness.deploy()

    assert response["Data"] == {"Exported": "1", "Unchanged": "2"}
    assert harness.aws.object(MONITOR, "code.zip") == harness.deployment.packages[MONITOR]
    assert harness.aws.configuration(MONITOR)["CodeSha256"] == harness.module.logic.package_sha256(
        harness.deployment.packages[MONITOR]
    )
    assert (harness.aws.versions(MONITOR, "code.zip"), harness.aws.versions(MONITOR, "configuration.json")) == (2, 2)


def test_changed_configuration_alone_rewrites_only_the_configuration(harness: Harness) -> None:
    harness.deploy()
    harness.deployment.configurations[CANARY]["MemorySize"] = "512"

    response = harness.deploy()

    assert response["Data"] == {"Exported": "1", "Unchanged": "2"}
    assert harness.aws.configuration(CANARY)["MemorySize"] == 512
    assert (harness.aws.versions(CANARY, "code.zip"), harness.aws.versions(CANARY, "configuration.json")) == (1, 2)


def test_a_missing_code_zip_is_exported_again_even_if_the_configuration_matches(harness: Harness) -> None:
    harness.deploy()
    del harness.aws.objects[f"lambda-exports/{CANARY}/code.zip"]

    harness.deploy()

    assert harness.aws.object(CANARY, "code.zip") == harness.deployment.packages[CANARY]


def test_an_exported_configuration_that_is_not_json_is_replaced(harness: Harness) -> None:
    harness.deploy()
    harness.aws.put_configuration(BUCKET, CANARY, b"{not json")

    harness.deploy()

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


class AssetBucket:
    """An S3 client that serves one package from the asset bucket."""

    def __init__(self, package: bytes) -> None:
        self.package = package
        self.asked: list[tuple[str, str]] = []

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.asked.append((Bucket, Key))
        return {"Body": io.BytesIO(self.package)}


def test_a_package_is_streamed_from_the_asset_bucket_with_its_code_sha(gateway: ModuleType) -> None:
    package = _zip("def handler(event, context):\n    return 1\n")
    s3, sink = AssetBucket(package), io.BytesIO()

    code_sha = gateway.Gateway(clients=lambda service: s3).read_package(ASSETS, "abc.zip", sink)

    assert (sink.getvalue(), code_sha) == (package, base64.b64encode(hashlib.sha256(package).digest()).decode())
    assert s3.asked == [(ASSETS, "abc.zip")]


def test_a_package_larger_than_lambda_allows_is_refused(gateway: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway, "MAX_PACKAGE_BYTES", 10)

    with pytest.raises(gateway.ExportError, match="larger than 10 bytes"):
        gateway.Gateway(clients=lambda service: AssetBucket(b"x" * 11)).read_package(ASSETS, "k", io.BytesIO())


# --- failures ----------------------------------------------------------------------------------------


def test_a_missing_package_fails_that_function_after_exporting_the_others(harness: Harness) -> None:
    event = request("Create", harness.deployment)
    event["ResourceProperties"]["Functions"][0]["Package"]["Key"] = "gone.zip"

    response = harness.answer(event)

    assert response["Status"] == "FAILED"
    assert response["Reason"] == (
        f"Could not export {CANARY}: reading its package s3://{ASSETS}/gone.zip failed: NoSuchKey: "
        "The specified key does not exist."
    )
    assert harness.aws.object(MONITOR, "code.zip") == harness.deployment.packages[MONITOR]
    assert harness.aws.versions(CANARY, "code.zip") == harness.aws.versions(CANARY, "configuration.json") == 0


def test_a_failed_write_fails_that_function_naming_the_s3_operation(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_: Any) -> None:
        raise harness.module.logic.AwsError("PutObject", "KMS.DisabledException", "key disabled")

    monkeypatch.setattr(harness.aws, "put_configuration", refused)

    response = harness.deploy("Create")

    assert response["Status"] == "FAILED"
    assert f"{CANARY}: S3 PutObject failed: KMS.DisabledException: key disabled" in response["Reason"]


# --- the custom resource -----------------------------------------------------------------------------


def test_delete_does_nothing_and_succeeds(harness: Harness) -> None:
    response = harness.answer(request("Delete", harness.deployment))

    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == f"{BUCKET}/lambda-exports/"
    assert harness.aws.objects == {}
    assert harness.aws.reads == []


def test_a_denial_on_deploy_is_retried_until_iam_has_propagated(harness: Harness) -> None:
    harness.aws.denials[CANARY] = 2  # as IAM does until a new role's policy has propagated

    response = harness.deploy("Create")

    assert response["Status"] == "SUCCESS"
    assert response["Data"] == {"Exported": "3", "Unchanged": "0"}
    assert harness.aws.pauses == [10, 20]
    assert harness.aws.reads.count(CANARY) == 1


def test_a_lasting_denial_answers_failed_after_the_retries(harness: Harness) -> None:
    harness.aws.denials[CANARY] = 99

    response = harness.deploy("Create")

    assert response["Status"] == "FAILED"
    key = harness.deployment.key(CANARY)
    assert response["Reason"] == (
        f"Could not export {CANARY}: reading its package s3://{ASSETS}/{key} failed: AccessDenied: Access Denied"
    )
    assert harness.aws.pauses == [10, 20, 30]
    assert harness.aws.object(MONITOR, "code.zip") == harness.deployment.packages[MONITOR]


def test_no_retry_for_other_failures_or_without_time_to_spare(harness: Harness) -> None:
    event = request("Create", harness.deployment)
    event["ResourceProperties"]["Functions"][0]["Package"]["Key"] = "gone.zip"
    assert harness.answer(event)["Status"] == "FAILED"
    assert harness.aws.pauses == []

    harness.responses.clear()
    harness.aws.denials[CANARY] = 1
    short = SimpleNamespace(**{**vars(CONTEXT), "get_remaining_time_in_millis": lambda: 60_000})
    harness.run(request("Create", harness.deployment), short)
    assert harness.responses[0]["Status"] == "FAILED"
    assert harness.aws.pauses == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"RequestType": "Replace"}, "Unsupported RequestType 'Replace'"),
        ({"RequestId": ""}, "The request has no RequestId"),
        ({"ResourceProperties": {}}, "The request is malformed: ResourceProperties.Functions is not a non-empty list"),
        (
            {"ResourceProperties": {"Functions": [{"Configuration": {"FunctionName": "f"}}]}},
            "The request is malformed: function f has no Package with a Bucket and a Key",
        ),
        (
            {"ResourceProperties": {"Functions": [{"Package": {"Bucket": ASSETS, "Key": "k"}}]}},
            "The request is malformed: a function entry has no Configuration with a FunctionName",
        ),
    ],
)
def test_malformed_requests_answer_failed_and_export_nothing(
    harness: Harness, fields: dict[str, Any], reason: str
) -> None:
    response = harness.answer(request("Create", harness.deployment, **fields))

    assert (response["Status"], response["Reason"]) == ("FAILED", reason)
    assert harness.aws.reads == [] and harness.aws.objects == {}


def test_an_invalid_environment_answers_failed(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUCKET_NAME")

    response = harness.deploy("Create")

    assert response["Status"] == "FAILED" and "BUCKET_NAME" in response["Reason"]
    assert harness.aws.objects == {}


def test_an_unexpected_exception_still_answers_failed(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(harness.module.logic, "export_all", explode)

    response = harness.deploy("Create")

    assert (response["Status"], response["Reason"]) == ("FAILED", "RuntimeError: boom")


def test_long_reasons_are_truncated_below_cloudformations_limit(harness: Harness) -> None:
    many = Deployment()
    for n in range(60):
        many.add(f"missing-function-{n:03d}", f"x = {n}\n")  # not in the asset bucket the fake serves

    response = harness.answer(request("Create", many))

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
        ({"source": "aws.events", "detail-type": "Scheduled Event"}, "not a custom-resource request"),
        ({}, "not a custom-resource request"),
        ({"RequestType": "Create"}, "with an http(s) ResponseURL"),
        ({**request("Create"), "ResponseURL": "file:///tmp/answer"}, "with an http(s) ResponseURL"),
    ],
)
def test_bad_events_are_ignored_without_exporting_or_answering(harness: Harness, event: Any, reason: str) -> None:
    result = harness.run(event)

    assert reason in result["ignored"]
    assert harness.aws.reads == [] and harness.responses == []
    assert harness.aws.objects == {}


def test_the_drill_recreates_a_function_from_every_field_the_export_keeps(logic: ModuleType) -> None:
    """tools/dr_drill/functions.py passes an export back to CreateFunction; a field the export keeps
    but the drill does not pass would be silently lost in a recovery (FunctionName is the drill's
    choice, CodeSha256 the package's own)."""
    assert set(CREATE_FUNCTION_KEYS) == set(logic.KEPT_CONFIGURATION) - {"FunctionName"}
