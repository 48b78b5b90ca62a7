"""Compute layer: the VPC canary, its schedule, alias, logs, dead letters and exact permissions."""

from __future__ import annotations

import re

from lib.config import DEV
from lib.lambda_runtime import ARCHITECTURE, RUNTIME_PYTHON_VERSION
from lib.network_reachability import FUNCTION_PACKAGES
from tests.unit.templates import SUFFIX, Templates, only


def _function(templates: Templates) -> dict:
    found = templates.compute.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": f"health-check-{SUFFIX}"}}
    )
    assert len(found) == 1
    return next(iter(found.values()))["Properties"]


def test_every_function_runs_the_python_and_architecture_the_bundler_targets(templates: Templates) -> None:
    functions = [f for t in templates.all().values() for f in t.find_resources("AWS::Lambda::Function").values()]
    ours = [f for f in functions if "FunctionName" in f["Properties"]]
    assert len(ours) == 6  # canary, database users, vault cleanup, backup monitor, restore validation, export
    for function in ours:
        assert function["Properties"]["Runtime"] == f"python{RUNTIME_PYTHON_VERSION}"
        assert function["Properties"]["Architectures"] == [ARCHITECTURE.name]  # the wheels' platform


def test_no_function_package_names_another_python() -> None:
    """A requirements file that names a Python version names the runtime's (lib/lambda_runtime.py)."""
    for package in FUNCTION_PACKAGES.values():
        requirements = package / "requirements.txt"
        named = re.findall(r"Python (3\.\d+)", requirements.read_text()) if requirements.is_file() else []
        assert set(named) <= {RUNTIME_PYTHON_VERSION}, f"{requirements} names Python {named}"


def test_function_runtime_and_limits(templates: Templates) -> None:
    function = _function(templates)
    runtime = function["Runtime"]
    assert runtime.startswith("python3.") and int(runtime.split(".")[1]) >= 12
    assert function["Handler"] == "handler.handler"
    assert function["Timeout"] == 30 and function["MemorySize"] == 256


def test_function_runs_in_the_isolated_subnets_with_its_group(templates: Templates) -> None:
    vpc = _function(templates)["VpcConfig"]
    assert len(vpc["SubnetIds"]) == 3
    assert all("privateSubnet" in s["Ref"] for s in vpc["SubnetIds"])
    assert ["FunctionSecurityGroup" in g["Ref"] for g in vpc["SecurityGroupIds"]] == [True]


def test_database_settings_come_from_environment_never_a_password(templates: Templates) -> None:
    variables = _function(templates)["Environment"]["Variables"]
    assert set(variables) == {
        "DB_USER",
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "TABLE_NAME",
        "BUCKET_NAME",
        "ENVIRONMENT_SUFFIX",
        "METRICS_NAMESPACE",
        "DB_CA_BUNDLE",
    }
    assert variables["DB_NAME"] == "appdb"
    assert variables["DB_USER"] == "dr_canary"  # its own user with IAM tokens, not the master (no secret)
    assert variables["DB_CA_BUNDLE"] == "dr_common/rds-ca-us-east-1-bundle.pem"  # verified TLS, always
    assert variables["ENVIRONMENT_SUFFIX"] == SUFFIX
    assert "password" not in str(variables).lower()


def test_every_deploy_publishes_a_version_behind_the_live_alias(templates: Templates) -> None:
    version = only(templates.compute, "AWS::Lambda::Version")
    assert version["DeletionPolicy"] == "Delete"
    alias = only(templates.compute, "AWS::Lambda::Alias")["Properties"]
    assert alias["Name"] == "live"


def test_schedule_invokes_the_alias_on_the_profiles_interval_with_a_dead_letter_queue(templates: Templates) -> None:
    rule = only(templates.compute, "AWS::Events::Rule")["Properties"]
    assert rule["Name"] == f"health-check-schedule-{SUFFIX}"
    assert rule["ScheduleExpression"] == DEV.canary_schedule == "cron(55 * * * ? *)"
    target = rule["Targets"][0]
    assert "LiveAlias" in target["Arn"]["Ref"]
    assert "DeadLetterQueue" in target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_failed_async_invocations_of_the_live_alias_are_dead_lettered_not_retried(templates: Templates) -> None:
    """The schedule invokes `live`; Lambda applies async settings per qualifier (Lambda Developer Guide,
    "Configuring error handling for asynchronous invocation"), so they sit on the alias, not $LATEST:
    no retry, and the failed run's record to the queue as its on-failure destination."""
    assert "DeadLetterConfig" not in _function(templates)  # the destination instead: one message per failure
    config = only(templates.compute, "AWS::Lambda::EventInvokeConfig")["Properties"]
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    assert "DeadLetterQueue" in destination["Fn::GetAtt"][0] and destination["Fn::GetAtt"][1] == "Arn"
    (alias,) = templates.compute.find_resources("AWS::Lambda::Alias", {"Properties": {"Name": "live"}})
    assert config["Qualifier"] == {"Fn::Select": [7, {"Fn::Split": [":", {"Ref": alias}]}]}  # the alias's name
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == DEV.canary_interval_minutes * 60  # one interval: a later run is stale
    queue = only(templates.compute, "AWS::SQS::Queue")
    assert queue["Properties"]["QueueName"] == f"health-check-dlq-{SUFFIX}"
    assert "MonitoringKey" in queue["Properties"]["KmsMasterKeyId"]["Ref"]
    assert queue["DeletionPolicy"] == "Delete"


def test_log_group_encrypted_with_retention(templates: Templates) -> None:
    groups = templates.compute.find_resources(
        "AWS::Logs::LogGroup", {"Properties": {"LogGroupName": f"/aws/lambda/health-check-{SUFFIX}"}}
    )
    assert len(groups) == 1
    group = next(iter(groups.values()))
    assert group["Properties"]["RetentionInDays"] == 7  # the dev profile: one week
    assert "KmsKeyId" in group["Properties"]
    assert group["DeletionPolicy"] == "Delete"


def test_data_access_is_scoped_to_exact_resources(templates: Templates) -> None:
    policies = templates.compute.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"ManagedPolicyName": f"health-check-data-access-{SUFFIX}"}}
    )
    statements = {s["Sid"]: s for s in next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {
        "WriteOwnLogs",
        "ConnectAsOwnDatabaseUser",
        "HeartbeatItems",
        "HeartbeatObjects",
        "EncryptHeartbeatObjects",
        "EncryptDeadLetters",
        "SendFailedInvocations",
    }
    assert statements["HeartbeatItems"]["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem"]
    assert statements["HeartbeatObjects"]["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert "'/heartbeat/latest.json'" in str(statements["HeartbeatObjects"]["Resource"])
    connect = statements["ConnectAsOwnDatabaseUser"]
    assert connect["Action"] == "rds-db:connect"
    resource = connect["Resource"]["Fn::Join"][1]
    assert resource[0] == "arn:aws:rds-db:us-east-1:123456789012:dbuser:" and resource[-1] == "/dr_canary"
    assert "DBClusterResourceId" in str(resource[1])  # this cluster's resource id, through a parameter
    for statement in statements.values():
        assert statement["Resource"] != "*"
