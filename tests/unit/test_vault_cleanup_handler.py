"""Unit tests of the vault-cleanup custom resource handler.

The handler runs on a scripted fake gateway (``FakeGateway``): each test lists the AWS Backup calls
it expects, in order, with their answers; a call out of order, with other arguments or left over
fails the test -- the handler treats some refusals as transient, which must not hide an unexpected
call. The gateway's own rules (pagination, which errors mean "vault gone", "not stopped", "not
deleted") are tested on it directly, with a fake client. The CloudFormation response is captured at
its HTTP seam (``cfn.http_put``); one test sends it for real to a local HTTP server.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import urllib.error
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from dr_common import cfn

from .handlers import load_handler

VAULT = "backup-vault-test"
ACCOUNT = "123456789012"
RESPONSE_URL = "https://cloudformation-custom-resource-response.example/presigned?X-Amz-Signature=secret"
ACTIVE_STATES = ("CREATED", "PENDING", "RUNNING")


class FakeContext:
    """Lambda context whose remaining time only moves when the handler sleeps."""

    log_stream_name = "2026/01/01/[$LATEST]abc123"
    function_name = "vault-cleanup-test"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:vault-cleanup-test"
    memory_limit_in_mb = 256
    aws_request_id = "request-1"

    def __init__(self, remaining_ms: int = 900_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def client_error(code: str, message: str = "", operation: str = "ListRecoveryPointsByBackupVault") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class FakeGateway:
    """AWS Backup as a script, in place of ``gateway.Gateway``: ``expected`` holds (call, arguments,
    answer) in the order the handler must make them; an exception as answer is raised. Pausing
    takes time off the context instead of waiting."""

    def __init__(self, context: FakeContext) -> None:
        self.context = context
        self.expected: list[tuple[str, tuple[Any, ...], Any]] = []
        self.sleeps: list[float] = []

    def _call(self, name: str, *arguments: Any) -> Any:
        assert self.expected, f"unexpected call {name}{arguments}"
        expected_name, expected_arguments, answer = self.expected.pop(0)
        assert (name, arguments) == (expected_name, expected_arguments)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def active_jobs(self, vault_name: str, states: Iterable[str]) -> list[str]:
        return self._call("active_jobs", vault_name, tuple(states))

    def stop_job(self, job_id: str) -> Any:
        return self._call("stop_job", job_id)

    def recovery_points(self, vault_name: str) -> list[Mapping[str, Any]] | None:
        return self._call("recovery_points", vault_name)

    def delete_point(self, vault_name: str, arn: str) -> Any:
        return self._call("delete_point", vault_name, arn)

    def pause(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.context.remaining_ms -= int(seconds * 1000)


class Harness:
    """The loaded handler module on a fake gateway, a fake clock and captured responses."""

    def __init__(self, module: ModuleType, context: FakeContext) -> None:
        self.module = module
        self.logic = sys.modules["logic"]  # the copy load_handler imported
        self.context = context
        self.gateway = FakeGateway(context)
        self.responses: list[dict[str, Any]] = []
        self.urls: list[str] = []

    @property
    def sleeps(self) -> list[float]:
        return self.gateway.sleeps

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the handler; return the one response it sent."""
        self.module.handler(event, self.context)
        assert self.gateway.expected == [], "expected calls were not made"
        assert len(self.responses) == 1, f"expected exactly one response, got {self.responses}"
        assert self.urls == [RESPONSE_URL]
        return self.responses[0]

    # --- expected AWS Backup calls, in the order the handler makes them -------------------------

    def jobs(self, running: list[str] | None = None) -> None:
        self.gateway.expected.append(("active_jobs", (VAULT, ACTIVE_STATES), list(running or [])))

    def stop(self, job_id: str, error: str | None = None) -> None:
        self.gateway.expected.append(("stop_job", (job_id,), self.logic.Refusal(error) if error else None))

    def points(self, points: list[dict[str, Any]] | None) -> None:
        """ListRecoveryPointsByBackupVault's points; None: the vault does not exist."""
        self.gateway.expected.append(("recovery_points", (VAULT,), points))

    def points_error(self, code: str, message: str = "") -> None:
        self.gateway.expected.append(("recovery_points", (VAULT,), client_error(code, message)))

    def delete(self, arn: str, error: str | None = None, message: str = "", unanswered: bool = False) -> None:
        answer = self.logic.Refusal(error, message, unanswered) if error else None
        self.gateway.expected.append(("delete_point", (VAULT, arn), answer))


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    module = load_handler(monkeypatch, "vault_cleanup")
    h = Harness(module, FakeContext())

    def fake_put(url: str, body: bytes) -> None:
        h.urls.append(url)
        h.responses.append(json.loads(body))

    def fake_sleep(seconds: float) -> None:
        h.context.remaining_ms -= int(seconds * 1000)

    monkeypatch.setattr(module, "gateway", h.gateway)
    monkeypatch.setenv("BACKUP_VAULT_NAME", VAULT)  # the vault the construct pins
    monkeypatch.setattr(cfn, "http_put", fake_put)
    monkeypatch.setattr(cfn, "sleep", fake_sleep)
    yield h


def vault_arn(name: str = VAULT) -> str:
    return f"arn:aws:backup:us-east-1:{ACCOUNT}:backup-vault:{name}"


def point(arn: str, status: str = "COMPLETED", message: str | None = None) -> dict[str, Any]:
    result = {"RecoveryPointArn": arn, "BackupVaultName": VAULT, "Status": status}
    if message:
        result["StatusMessage"] = message
    return result


def rp_arn(n: int) -> str:
    return f"arn:aws:backup:us-east-1:{ACCOUNT}:recovery-point:{n:08d}-0000-0000-0000-000000000000"


AURORA_ARN = f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster-snapshot:awsbackup:job-0a1b2c3d"


def event(request_type: str = "Delete", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "RequestType": request_type,
        "ResponseURL": RESPONSE_URL,
        "StackId": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/tap/guid",
        "RequestId": "request-1",
        "LogicalResourceId": "VaultCleanup",
        "ResourceType": "Custom::BackupVaultCleanup",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:fn", "BackupVaultName": VAULT},
    }
    if request_type != "Create":
        base["PhysicalResourceId"] = VAULT
    base.update(overrides)
    return base


def assert_echoes_request(response: dict[str, Any], request: dict[str, Any]) -> None:
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        assert response[key] == request[key]


# --- Create / Update ------------------------------------------------------------------------------


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_succeed_without_backup_calls(harness: Harness, request_type: str) -> None:
    request = event(request_type)
    response = harness.run(request)  # no expected calls: any Backup call would fail the test
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == VAULT
    assert_echoes_request(response, request)
    assert harness.sleeps == []


# --- Requests that do not name the pinned vault ------------------------------------------------------


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
@pytest.mark.parametrize(
    "properties",
    [
        {"ServiceToken": "arn:aws:lambda:fn", "BackupVaultName": "someone-elses-vault"},
        {"ServiceToken": "arn:aws:lambda:fn"},
        "not-an-object",
    ],
    ids=["another-vault", "no-vault", "malformed"],
)
def test_a_request_for_another_vault_is_refused_before_any_call(
    harness: Harness, request_type: str, properties: Any
) -> None:
    """A fake Delete sent by anyone allowed to invoke the function stops no job and deletes no point."""
    response = harness.run(event(request_type, ResourceProperties=properties))  # any Backup call fails the test
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith(f"Refused: this function empties backup vault {VAULT} only")
    assert response["Reason"].count(". ") == 0  # one sentence
    assert harness.sleeps == []


def test_a_function_without_its_pinned_vault_acts_on_none(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKUP_VAULT_NAME")
    response = harness.run(event())
    assert response["Status"] == "FAILED"
    assert "deployed without the name of its backup vault" in response["Reason"]


# --- Delete ---------------------------------------------------------------------------------------


def test_delete_of_empty_vault_succeeds_at_once(harness: Harness) -> None:
    harness.jobs()
    harness.points([])
    request = event()
    response = harness.run(request)
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == VAULT
    assert_echoes_request(response, request)
    assert harness.sleeps == []


def test_delete_stops_jobs_deletes_every_point_and_waits_until_empty(harness: Harness) -> None:
    # Round 1: a running job, three points; one is still being created.
    harness.jobs(running=["job-1"])
    harness.stop("job-1")
    harness.points([point(rp_arn(1)), point(AURORA_ARN), point(rp_arn(2), "CREATING")])
    harness.delete(rp_arn(1))
    harness.delete(AURORA_ARN)
    # Round 2: the Aurora snapshot is still deleting, the new point is complete now.
    harness.jobs()
    harness.points([point(AURORA_ARN, "DELETING"), point(rp_arn(2))])
    harness.delete(rp_arn(2))
    # Round 3: empty.
    harness.jobs()
    harness.points([])

    response = harness.run(event())

    assert response["Status"] == "SUCCESS"
    assert harness.sleeps == [1, 2]  # the first look again after a second, then doubling


def test_delete_waits_for_a_job_that_cannot_be_stopped(harness: Harness) -> None:
    # Aurora jobs cannot be stopped; the vault is not done while one may still add a point.
    harness.jobs(running=["aurora-job"])
    harness.stop("aurora-job", error="InvalidRequestException")
    harness.points([])
    harness.jobs()
    harness.points([point(AURORA_ARN)])
    harness.delete(AURORA_ARN)
    harness.jobs()
    harness.points([])

    response = harness.run(event())

    assert response["Status"] == "SUCCESS"
    assert len(harness.sleeps) == 2


def test_delete_of_missing_vault_succeeds(harness: Harness) -> None:
    harness.jobs()
    harness.points(None)
    response = harness.run(event())
    assert response["Status"] == "SUCCESS"


def test_access_denied_on_an_existing_vault_fails(harness: Harness) -> None:
    harness.jobs()
    harness.points_error("AccessDeniedException", "not authorized to perform backup:ListRecoveryPointsByBackupVault")
    response = harness.run(event())
    assert response["Status"] == "FAILED"
    assert "AccessDeniedException" in response["Reason"]


def test_deletion_error_fails_with_reason_and_still_answers(harness: Harness) -> None:
    harness.jobs()
    harness.points([point(rp_arn(1))])
    harness.delete(rp_arn(1), error="InvalidRequestException", message="Recovery point is under legal hold")

    request = event()
    response = harness.run(request)

    assert response["Status"] == "FAILED"
    assert rp_arn(1) in response["Reason"]
    assert "legal hold" in response["Reason"]
    assert VAULT in response["Reason"]
    assert response["PhysicalResourceId"] == VAULT
    assert_echoes_request(response, request)
    assert harness.sleeps == []  # nothing left that waiting could fix


@pytest.mark.parametrize(
    "refusal",
    [
        {"error": "InvalidResourceStateException"},
        {"error": "EndpointConnectionError", "message": "Could not connect", "unanswered": True},  # no answer
    ],
)
def test_busy_or_unanswered_point_is_retried_not_failed(harness: Harness, refusal: dict[str, Any]) -> None:
    harness.jobs()
    harness.points([point(rp_arn(1))])
    harness.delete(rp_arn(1), **refusal)
    harness.jobs()
    harness.points([point(rp_arn(1))])
    harness.delete(rp_arn(1))
    harness.jobs()
    harness.points([])

    assert harness.run(event())["Status"] == "SUCCESS"


def test_point_deleted_meanwhile_is_not_an_error(harness: Harness) -> None:
    # AWS Backup's lifecycle may delete a point between our list and delete calls.
    harness.jobs()
    harness.points([point(rp_arn(1))])
    harness.delete(rp_arn(1), error="ResourceNotFoundException")
    harness.jobs()
    harness.points([])

    assert harness.run(event())["Status"] == "SUCCESS"


def test_point_left_expired_after_repeated_requests_fails(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # AWS Backup answers 200 to a delete it lacks permissions for and marks the point EXPIRED.
    monkeypatch.setattr(harness.logic, "RETRY_DELETE_AFTER_SECONDS", 0)
    expired = point(AURORA_ARN, "EXPIRED", "Insufficient permissions to delete the snapshot")
    for _ in range(harness.logic.MAX_DELETE_REQUESTS):
        harness.jobs()
        harness.points([expired])
        harness.delete(AURORA_ARN)
    harness.jobs()
    harness.points([expired])

    response = harness.run(event())

    assert response["Status"] == "FAILED"
    assert AURORA_ARN in response["Reason"]
    assert "EXPIRED" in response["Reason"]
    assert "Insufficient permissions" in response["Reason"]


def test_time_running_out_fails(harness: Harness) -> None:
    # 60 s left: 30 s of work after the response reserve, i.e. waits of 1, 2, 4, 8 and 15 s (six looks).
    harness.context.remaining_ms = 60_000
    for _ in range(6):
        harness.jobs()
        harness.points([point(rp_arn(1), "CREATING")])

    response = harness.run(event())

    assert response["Status"] == "FAILED"
    assert "ran out of time" in response["Reason"]
    assert "1 CREATING" in response["Reason"]
    assert harness.sleeps == [1, 2, 4, 8, 15]


def test_unexpected_exception_still_answers_failed(harness: Harness) -> None:
    harness.gateway.expected.append(("active_jobs", (VAULT, ACTIVE_STATES), KeyError("BackupJobs")))
    response = harness.run(event())
    assert response["Status"] == "FAILED"
    assert "KeyError" in response["Reason"]
    assert response["PhysicalResourceId"] == VAULT  # the id CloudFormation sent


def test_long_reasons_are_truncated(harness: Harness) -> None:
    harness.jobs()
    arns = [rp_arn(n) for n in range(20)]
    harness.points([point(arn) for arn in arns])
    for arn in arns:
        harness.delete(arn, error="AccessDeniedException", message="x" * 500)
    response = harness.run(event())
    assert response["Status"] == "FAILED"
    assert len(response["Reason"]) <= cfn.MAX_REASON_CHARS
    assert len(json.dumps(response)) < 4096


def test_undeliverable_response_is_retried_and_not_raised(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def failing_put(url: str, body: bytes) -> None:
        attempts.append(url)
        raise urllib.error.URLError("connection reset")

    monkeypatch.setattr(cfn, "http_put", failing_put)
    harness.module.handler(event("Create"), harness.context)  # must not raise
    assert len(attempts) == cfn.PUT_ATTEMPTS


def test_response_is_a_put_with_empty_content_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real HTTP seam against a local server: method, headers and body as the pre-signed URL needs."""
    received: dict[str, Any] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers["Content-Length"])
            received.update(
                path=self.path, content_type=self.headers.get("Content-Type"), body=json.loads(self.rfile.read(length))
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the serving loop's next poll: 0.5 s by default, for nothing.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/presigned?sig=abc"
        cfn.respond(event("Delete", ResponseURL=url), FakeContext(), "SUCCESS", own_id=VAULT)
    finally:
        server.shutdown()
        server.server_close()
    assert received["path"] == "/presigned?sig=abc"
    assert received["content_type"] == ""
    assert received["body"]["Status"] == "SUCCESS"
    assert received["body"]["PhysicalResourceId"] == VAULT
    assert received["body"]["Reason"]  # CloudFormation shows it; never empty


def test_response_url_is_never_logged(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.jobs()
    harness.points([])
    with caplog.at_level("INFO"):
        harness.run(event())
    logged = json.dumps([record.__dict__ for record in caplog.records], default=str)  # messages and their keys
    assert "X-Amz-Signature" not in logged
    assert VAULT in logged


# --- the gateway's own rules, on a fake client ----------------------------------------------------


class FakeClient:
    """AWS Backup's client as the gateway uses it: ``pages`` per paginated operation (an exception
    raises), ``errors`` per other operation; every call recorded with its parameters."""

    def __init__(self, pages: dict[str, Any] | None = None, errors: dict[str, Exception] | None = None) -> None:
        self.pages = pages or {}
        self.errors = errors or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_paginator(self, operation: str) -> Any:
        client = self

        class Paginator:
            def paginate(self, **params: Any) -> Any:
                client.calls.append((operation, params))
                answer = client.pages[operation]
                if isinstance(answer, Exception):
                    raise answer
                return answer(params) if callable(answer) else answer

        return Paginator()

    def __getattr__(self, operation: str) -> Any:
        def call(**params: Any) -> dict[str, Any]:
            self.calls.append((operation, params))
            if operation in self.errors:
                raise self.errors[operation]
            return {}

        return call


@pytest.fixture
def gateway(harness: Harness) -> ModuleType:
    return sys.modules["gateway"]  # the copy load_handler imported


def test_active_jobs_are_listed_per_state_over_every_page(gateway: ModuleType) -> None:
    def pages(params: dict[str, Any]) -> list[dict[str, Any]]:
        if params["ByState"] != "RUNNING":
            return [{"BackupJobs": []}]
        return [{"BackupJobs": [{"BackupJobId": "job-1"}]}, {"BackupJobs": [{"BackupJobId": "job-2"}]}]

    client = FakeClient(pages={"list_backup_jobs": pages})

    assert gateway.Gateway(clients=lambda service: client).active_jobs(VAULT, ACTIVE_STATES) == ["job-1", "job-2"]
    assert client.calls == [("list_backup_jobs", {"ByBackupVaultName": VAULT, "ByState": s}) for s in ACTIVE_STATES]


def test_recovery_points_of_every_page(gateway: ModuleType) -> None:
    pages = [{"RecoveryPoints": [point(rp_arn(1))]}, {"RecoveryPoints": [point(rp_arn(2))]}]
    client = FakeClient(pages={"list_recovery_points_by_backup_vault": pages})

    points = gateway.Gateway(clients=lambda service: client).recovery_points(VAULT)

    assert [p["RecoveryPointArn"] for p in points] == [rp_arn(1), rp_arn(2)]


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException"])
def test_a_vault_missing_from_list_backup_vaults_is_gone(gateway: ModuleType, code: str) -> None:
    # AWS Backup answers a vault that does not exist with AccessDeniedException ("Insufficient privileges").
    client = FakeClient(
        pages={
            "list_recovery_points_by_backup_vault": client_error(code, "Insufficient privileges"),
            "list_backup_vaults": [{"BackupVaultList": [{"BackupVaultName": "some-other-vault"}]}],
        }
    )
    assert gateway.Gateway(clients=lambda service: client).recovery_points(VAULT) is None


def test_access_denied_on_a_listed_vault_raises(gateway: ModuleType) -> None:
    client = FakeClient(
        pages={
            "list_recovery_points_by_backup_vault": client_error("AccessDeniedException", "not authorized"),
            "list_backup_vaults": [
                {"BackupVaultList": [{"BackupVaultName": "some-other-vault"}]},
                {"BackupVaultList": [{"BackupVaultName": VAULT}]},
            ],
        }
    )
    with pytest.raises(ClientError):
        gateway.Gateway(clients=lambda service: client).recovery_points(VAULT)


def test_refused_stops_and_deletes_are_returned_not_raised(gateway: ModuleType) -> None:
    client = FakeClient(
        errors={
            "stop_backup_job": client_error("InvalidRequestException", "cannot stop", "StopBackupJob"),
            "delete_recovery_point": client_error("InvalidRequestException", "legal hold", "DeleteRecoveryPoint"),
        }
    )
    aws = gateway.Gateway(clients=lambda service: client)

    assert aws.stop_job("job-1").code == "InvalidRequestException"
    refusal = aws.delete_point(VAULT, rp_arn(1))
    assert (refusal.code, refusal.message, refusal.unanswered) == ("InvalidRequestException", "legal hold", False)
    assert client.calls == [
        ("stop_backup_job", {"BackupJobId": "job-1"}),
        ("delete_recovery_point", {"BackupVaultName": VAULT, "RecoveryPointArn": rp_arn(1)}),
    ]
    assert gateway.Gateway(clients=lambda service: FakeClient()).delete_point(VAULT, rp_arn(1)) is None


def test_a_delete_without_answer_is_a_refusal_to_retry(gateway: ModuleType) -> None:
    client = FakeClient(errors={"delete_recovery_point": EndpointConnectionError(endpoint_url="https://backup")})

    refusal = gateway.Gateway(clients=lambda service: client).delete_point(VAULT, rp_arn(1))

    assert refusal.unanswered and refusal.code == "EndpointConnectionError"
