"""The database-users custom resource (lib/constructs/database_users.py, lib/lambda/database_users):
the canary's and the restore probe's least-privilege users, made with the master secret at deploy
time; and the proof that nothing else reads that secret any more."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from dr_common import cfn, postgres

from lib import database_users
from tests.unit.templates import SUFFIX, Templates

from .handlers import load_handler

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora-credentials-test"
PASSWORD = "m4ster-pa55"
ENVIRONMENT = {
    "DB_SECRET_ARN": SECRET_ARN,
    "DB_HOST": "aurora.cluster-x.us-east-1.rds.amazonaws.com",
    "DB_PORT": "5432",
    "DB_NAME": "appdb",
    "DB_CA_BUNDLE": "dr_common/rds-ca-us-east-1-bundle.pem",
    "CANARY_USER": "dr_canary",
    "PROBE_USER": "dr_restore_probe",
}


class FakeContext:
    function_name = "database-users-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:database-users-test"
    aws_request_id = "request-1"
    log_stream_name = "2026/12/05/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


class FakeGateway:
    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.error: Exception | None = None

    def secret_string(self, secret_arn: str) -> str:
        assert secret_arn == SECRET_ARN
        return json.dumps({"username": "dbadmin", "password": PASSWORD})

    def run(
        self, host: str, port: int, database: str, credentials: postgres.Credentials, ca_bundle: Path, sql: list[str]
    ) -> None:
        if self.error is not None:
            raise self.error
        self.runs.append({"endpoint": (host, port, database), "user": credentials.username, "sql": sql})


@pytest.fixture
def function(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, FakeGateway, list[dict[str, Any]]]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    module = load_handler(monkeypatch, "database_users")
    gateway, answers = FakeGateway(), []
    monkeypatch.setattr(module, "gateway", gateway)
    monkeypatch.setattr(cfn, "http_put", lambda url, body: answers.append(json.loads(body)))
    return module, gateway, answers


def event(request_type: str, **properties: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/compute/1",
        "RequestId": "r-1",
        "LogicalResourceId": "DatabaseUsers",
        "ResourceProperties": {"Version": "1", "Users": ["dr_canary", "dr_restore_probe"], **properties},
    }


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_make_the_table_and_both_users_as_the_master(function, request_type):
    handler, gateway, answers = function

    handler.handler(event(request_type), FakeContext())

    (run,) = gateway.runs
    assert run["endpoint"] == ("aurora.cluster-x.us-east-1.rds.amazonaws.com", 5432, "appdb")
    assert run["user"] == "dbadmin"
    sql = run["sql"]
    assert sql[0].startswith("CREATE TABLE IF NOT EXISTS dr_heartbeat")
    assert "written_by text NOT NULL DEFAULT current_user" in sql[0]
    assert "GRANT rds_iam TO dr_canary" in sql and "GRANT rds_iam TO dr_restore_probe" in sql
    assert "GRANT INSERT, SELECT ON dr_heartbeat TO dr_canary" in sql
    assert "GRANT SELECT ON dr_heartbeat TO dr_restore_probe" in sql
    grants = [statement for statement in sql if statement.startswith("GRANT")]
    assert len(grants) == 4  # nothing more: no CREATE, UPDATE or DELETE for either user
    assert all("CREATE ROLE" not in s or "duplicate_object" in s for s in sql)  # an existing user is kept
    assert [(a["Status"], a["PhysicalResourceId"]) for a in answers] == [
        ("SUCCESS", "aurora.cluster-x.us-east-1.rds.amazonaws.com/appdb")
    ]


def test_delete_does_nothing_to_the_database(function):
    handler, gateway, answers = function

    handler.handler(event("Delete"), FakeContext())

    assert gateway.runs == [] and answers[0]["Status"] == "SUCCESS"


def test_the_event_cannot_choose_users_or_the_database(function):
    """A forged event can only run the pinned statements again (DESIGN.md: custom resources act on
    the target pinned at deploy time)."""
    handler, gateway, _ = function

    handler.handler(event("Create", Users=["postgres"], DB_HOST="evil.example.com"), FakeContext())

    assert gateway.runs[0]["endpoint"][0] == ENVIRONMENT["DB_HOST"]
    assert not any("postgres" in statement for statement in gateway.runs[0]["sql"])


def test_a_failure_answers_failed_without_the_password(function):
    handler, gateway, answers = function
    gateway.error = RuntimeError(f"password authentication failed ({PASSWORD})")

    handler.handler(event("Create"), FakeContext())

    assert answers[0]["Status"] == "FAILED"
    assert PASSWORD not in answers[0]["Reason"] and "***" in answers[0]["Reason"]


def test_a_user_name_that_is_not_a_plain_identifier_fails(function, monkeypatch):
    handler, gateway, answers = function
    monkeypatch.setenv("CANARY_USER", "x; DROP TABLE dr_heartbeat")

    handler.handler(event("Create"), FakeContext())

    assert gateway.runs == [] and answers[0]["Status"] == "FAILED"


# --- the construct and its wiring ------------------------------------------------------------------


def _users_function(templates: Templates) -> tuple[str, dict[str, Any]]:
    found = templates.compute.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": f"database-users-{SUFFIX}"}}
    )
    ((logical_id, function),) = found.items()
    return logical_id, function


def test_the_custom_resource_runs_before_the_canary_with_pinned_settings(templates: Templates) -> None:
    function_id, function = _users_function(templates)
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["CANARY_USER"] == database_users.CANARY
    assert variables["PROBE_USER"] == database_users.RESTORE_PROBE
    assert {"DB_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_NAME", "DB_CA_BUNDLE"} <= set(variables)
    resources = templates.compute.find_resources("Custom::DatabaseUsers")
    ((resource_id, resource),) = resources.items()
    assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": [function_id, "Arn"]}
    canary = templates.compute.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": f"health-check-{SUFFIX}"}}
    )
    assert resource_id in next(iter(canary.values()))["DependsOn"]
    # The cluster (and its instances) is in the data layer, which the compute layer waits for.
    compute = [r for r in templates.parent.find_resources("AWS::CloudFormation::Stack") if r.startswith("Compute")]
    data = [r for r in templates.parent.find_resources("AWS::CloudFormation::Stack") if r.startswith("Data")]
    assert data[0] in templates.parent.to_json()["Resources"][compute[0]]["DependsOn"]


def test_only_the_database_users_function_reads_the_master_secret(templates: Templates) -> None:
    """The canary and the probe log in with IAM tokens; the master secret is for this custom resource
    (and the secret's rotation, which AWS Secrets Manager runs with its own role)."""
    readers = []
    for template in templates.all().values():
        for policy in template.find_resources("AWS::IAM::ManagedPolicy").values():
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            if any("secretsmanager:GetSecretValue" in json.dumps(s["Action"]) for s in statements):
                readers.append(policy["Properties"]["ManagedPolicyName"])
    assert readers == [f"database-users-policy-{SUFFIX}"]


def test_the_probe_connects_only_as_its_read_only_user(templates: Templates) -> None:
    policies = templates.resilience.find_resources("AWS::IAM::ManagedPolicy")
    connects = [
        statement
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "rds-db:connect"
    ]
    assert [s["Resource"] for s in connects] == [
        "arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-*/dr_restore_probe"
    ]
