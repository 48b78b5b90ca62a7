"""Unit tests of the vault-cleanup custom resource handler.

moto 5.2.5's AWS Backup backend implements none of the calls the Delete path makes (ListBackupJobs,
StopBackupJob, ListRecoveryPointsByBackupVault, DeleteRecoveryPoint), so the handler's client is a
real botocore client under a ``Stubber``: every call and its parameters are checked in order, and an
unexpected call fails the test. The CloudFormation response is captured at the handler's HTTP seam
(``_http_put``); one test sends it for real to a local HTTP server. Every call the handler makes is
also recorded before the Stubber sees it, and must equal the expected sequence: the handler treats
some client errors as transient, which must not hide an unexpected call.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
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


class Harness:
    """The loaded handler module with a stubbed Backup client, a fake clock and captured responses."""

    def __init__(self, module: ModuleType, stub: Stubber, context: FakeContext) -> None:
        self.module = module
        self.stub = stub
        self.context = context
        self.responses: list[dict[str, Any]] = []
        self.urls: list[str] = []
        self.sleeps: list[float] = []
        self.expected_calls: list[str] = []
        self.calls: list[str] = []

    def _expect(self, operation: str) -> None:
        self.expected_calls.append(operation)

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the handler; return the one response it sent."""
        with self.stub:
            self.module.handler(event, self.context)
            self.stub.assert_no_pending_responses()
        assert self.calls == self.expected_calls
        assert len(self.responses) == 1, f"expected exactly one response, got {self.responses}"
        assert self.urls == [RESPONSE_URL]
        return self.responses[0]

    # --- expected AWS Backup calls, in the order the handler makes them -------------------------

    def jobs(self, running: list[str] | None = None) -> None:
        """One ListBackupJobs call per active state; ``running`` job ids are returned as RUNNING."""
        for state in ACTIVE_STATES:
            found = [{"BackupJobId": job_id, "State": state} for job_id in (running or []) if state == "RUNNING"]
            self._expect("ListBackupJobs")
            self.stub.add_response(
                "list_backup_jobs", {"BackupJobs": found}, {"ByBackupVaultName": VAULT, "ByState": state}
            )

    def stop(self, job_id: str, error: str | None = None) -> None:
        self._expect("StopBackupJob")
        if error:
            self.stub.add_client_error(
                "stop_backup_job",
                service_error_code=error,
                http_status_code=400,
                expected_params={"BackupJobId": job_id},
            )
        else:
            self.stub.add_response("stop_backup_job", {}, {"BackupJobId": job_id})

    def points(self, *pages: list[dict[str, Any]]) -> None:
        """ListRecoveryPointsByBackupVault, one call per page, linked by NextToken."""
        for index, page in enumerate(pages):
            params: dict[str, Any] = {"BackupVaultName": VAULT}
            if index:
                params["NextToken"] = f"token-{index}"
            response: dict[str, Any] = {"RecoveryPoints": page}
            self._expect("ListRecoveryPointsByBackupVault")
            if index + 1 < len(pages):
                response["NextToken"] = f"token-{index + 1}"
            self.stub.add_response("list_recovery_points_by_backup_vault", response, params)

    def points_error(self, code: str, message: str = "") -> None:
        self._expect("ListRecoveryPointsByBackupVault")
        self.stub.add_client_error(
            "list_recovery_points_by_backup_vault",
            service_error_code=code,
            service_message=message,
            http_status_code=400 if code != "AccessDeniedException" else 403,
            expected_params={"BackupVaultName": VAULT},
        )

    def vaults(self, *names: str) -> None:
        self._expect("ListBackupVaults")
        vault_list = [{"BackupVaultName": name, "BackupVaultArn": vault_arn(name)} for name in names]
        self.stub.add_response("list_backup_vaults", {"BackupVaultList": vault_list}, {})

    def delete(self, arn: str, error: str | None = None, message: str = "") -> None:
        params = {"BackupVaultName": VAULT, "RecoveryPointArn": arn}
        self._expect("DeleteRecoveryPoint")
        if error:
            self.stub.add_client_error(
                "delete_recovery_point",
                service_error_code=error,
                service_message=message,
                http_status_code=400,
                expected_params=params,
            )
        else:
            self.stub.add_response("delete_recovery_point", {}, params)


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    module = load_handler(monkeypatch, "vault_cleanup")
    client = boto3.client("backup", region_name="us-east-1")
    h = Harness(module, Stubber(client), FakeContext())

    def fake_put(url: str, body: bytes) -> None:
        h.urls.append(url)
        h.responses.append(json.loads(body))

    def fake_sleep(seconds: float) -> None:
        h.sleeps.append(seconds)
        h.context.remaining_ms -= int(seconds * 1000)

    def record_call(model: Any, **_: Any) -> None:
        h.calls.append(model.name)

    # Fires for every call, before the Stubber checks it (and before any error it raises is caught).
    client.meta.events.register("provide-client-params.backup", lambda params, model, **kw: record_call(model))
    monkeypatch.setitem(module.clients.made, "backup", client)
    monkeypatch.setattr(cfn, "http_put", fake_put)
    monkeypatch.setattr(cfn, "sleep", fake_sleep)
    monkeypatch.setattr(module, "_sleep", fake_sleep)
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
    response = harness.run(request)  # no stubbed responses: any Backup call would fail the request
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == VAULT
    assert_echoes_request(response, request)
    assert harness.sleeps == []


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
    # Round 1: a running job, three points over two pages; one is still being created.
    harness.jobs(running=["job-1"])
    harness.stop("job-1")
    harness.points([point(rp_arn(1)), point(AURORA_ARN)], [point(rp_arn(2), "CREATING")])
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


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException"])
def test_delete_of_missing_vault_succeeds(harness: Harness, code: str) -> None:
    # AWS Backup answers a vault that does not exist with AccessDeniedException ("Insufficient privileges").
    harness.jobs()
    harness.points_error(code, "Insufficient privileges to perform this action.")
    harness.vaults("some-other-vault")
    response = harness.run(event())
    assert response["Status"] == "SUCCESS"


def test_access_denied_on_an_existing_vault_fails(harness: Harness) -> None:
    harness.jobs()
    harness.points_error("AccessDeniedException", "not authorized to perform backup:ListRecoveryPointsByBackupVault")
    harness.vaults("some-other-vault", VAULT)
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


def test_busy_point_is_retried_not_failed(harness: Harness) -> None:
    harness.jobs()
    harness.points([point(rp_arn(1))])
    harness.delete(rp_arn(1), error="InvalidResourceStateException")
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
    monkeypatch.setattr(harness.module, "RETRY_DELETE_AFTER_SECONDS", 0)
    expired = point(AURORA_ARN, "EXPIRED", "Insufficient permissions to delete the snapshot")
    for _ in range(harness.module.MAX_DELETE_REQUESTS):
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
    request = event(ResourceProperties={"ServiceToken": "arn:aws:lambda:fn"})  # no BackupVaultName
    response = harness.run(request)
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
    with harness.stub:
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
