"""FunctionExport in the synthesized app (the session's templates; no synth of its own): the function,
its exact IAM, the hourly schedule with its DLQ, and a custom resource that changes when code does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from lib.constructs.function_export import EXPORT_OBJECTS, RESOURCE_TYPE, code_fingerprint
from tests.unit.templates import SUFFIX, Templates, only

NAME = f"function-export-{SUFFIX}"
# The functions the export covers, by the logical id prefix CDK gives them, and where they live.
EXPORTED = {
    "compute": ("Function", "DatabaseUsersFunction"),
    "resilience": (
        "VaultCleanupFunction",
        "BackupMonitorFunction",
        "RestoreTestingFunction",
        "FunctionExportFunction",
    ),
}


def _resources(templates: Templates, layer: str, resource_type: str) -> dict[str, dict[str, Any]]:
    return getattr(templates, layer).find_resources(resource_type)


def _function(templates: Templates) -> tuple[str, dict[str, Any]]:
    found = templates.resilience.find_resources("AWS::Lambda::Function", {"Properties": {"FunctionName": NAME}})
    ((logical_id, function),) = found.items()
    return logical_id, function["Properties"]


def _logical_id(templates: Templates, layer: str, resource_type: str, prefix: str) -> str:
    matches = [
        logical_id
        for logical_id in _resources(templates, layer, resource_type)
        if logical_id.startswith(prefix) and logical_id[len(prefix) :].isalnum() and len(logical_id) == len(prefix) + 8
    ]
    assert len(matches) == 1, (prefix, matches)
    return matches[0]


def _policy(templates: Templates) -> dict[str, Any]:
    found = templates.resilience.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"ManagedPolicyName": f"function-export-policy-{SUFFIX}"}}
    )
    ((policy,),) = [list(found.values())]
    return policy


def _statements(templates: Templates) -> dict[str, dict[str, Any]]:
    statements = _policy(templates)["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {statement["Sid"]: statement for statement in statements}
    assert len(by_sid) == len(statements)
    return by_sid


def _parameter_for(templates: Templates, layer: str, construct_id: str, attribute: str) -> str:
    """The resilience-stack parameter that carries the Ref or Arn of ``layer``'s construct ``construct_id``
    (named after the output of the other nested stack: <Layer><construct id><8 hex digits><attribute>)."""
    pattern = re.compile(f"{layer.capitalize()}{construct_id}[0-9A-F]{{8}}{attribute}$")
    names = [name for name in templates.resilience.to_json()["Parameters"] if pattern.search(name)]
    assert len(names) == 1, (pattern, names)
    return names[0]


def _exported_arns(templates: Templates) -> list[Any]:
    """Each exported function's ARN as the policy writes it: a reference, or its own ARN as a literal
    (the export function waits for its policy, so a reference to itself would be a cycle)."""
    arns: list[Any] = [{"Ref": _parameter_for(templates, "compute", prefix, "Arn")} for prefix in EXPORTED["compute"]]
    for prefix in EXPORTED["resilience"][:-1]:
        logical_id = _logical_id(templates, "resilience", "AWS::Lambda::Function", prefix)
        arns.append({"Fn::GetAtt": [logical_id, "Arn"]})
    own = f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}"
    return [*arns, own]


def _exported_names(templates: Templates) -> list[Any]:
    """Each exported function's name as the resilience template writes it: a Ref, or the literal own name."""
    names: list[Any] = [{"Ref": _parameter_for(templates, "compute", prefix, "Ref")} for prefix in EXPORTED["compute"]]
    for prefix in EXPORTED["resilience"][:-1]:
        names.append({"Ref": _logical_id(templates, "resilience", "AWS::Lambda::Function", prefix)})
    return [*names, NAME]


def _sorted(values: list[Any]) -> list[Any]:
    return sorted(values, key=json.dumps)


def test_the_function_runs_in_the_vpc_with_its_own_encrypted_logs_and_the_undelivered_dlq(
    templates: Templates,
) -> None:
    _, function = _function(templates)
    assert (function["Runtime"], function["Handler"], function["Timeout"]) == ("python3.14", "handler.handler", 300)
    assert len(function["VpcConfig"]["SubnetIds"]) == 3 and len(function["VpcConfig"]["SecurityGroupIds"]) == 1
    assert function["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0].startswith("UndeliveredAlerts")
    assert "MonitoringKey" in function["KmsKeyArn"]["Ref"]
    log_group_id = function["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = templates.resilience.to_json()["Resources"][log_group_id]
    assert log_group["Properties"]["LogGroupName"] == f"/aws/lambda/{NAME}"
    assert "MonitoringKey" in log_group["Properties"]["KmsKeyId"]["Ref"]
    assert log_group["DeletionPolicy"] == "Delete"
    role = templates.resilience.to_json()["Resources"][function["Role"]["Fn::GetAtt"][0]]
    assert role["Properties"]["RoleName"] == f"function-export-role-{SUFFIX}"


def test_the_environment_names_the_data_bucket_and_every_exported_function(templates: Templates) -> None:
    _, function = _function(templates)
    variables = function["Environment"]["Variables"]
    assert variables["BUCKET_NAME"] == {"Ref": _parameter_for(templates, "data", "DataBucket", "Ref")}
    parts = variables["FUNCTION_NAMES"]["Fn::Join"][1]
    refs = [part for part in parts if isinstance(part, dict)]
    assert refs == _exported_names(templates)[:-1]
    assert parts[-1] == f'","{NAME}"]'  # itself, as a literal (a Ref to itself would be circular)


def test_the_policy_grants_exactly_what_the_handler_calls(templates: Templates) -> None:
    statements = _statements(templates)
    assert set(statements) == {
        "ReadExportedFunctions",
        "ReadEncryptedEnvironments",
        "WriteExports",
        "EncryptExports",
        "WriteOwnLogs",
        "EncryptDeadLetters",  # the undelivered-alerts queue's key (tests/unit/test_function_wiring.py)
        "ManageVpcNetworkInterfaces",  # Lambda attaches the function to the VPC with its role
    }
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement["Action"])

    read = statements["ReadExportedFunctions"]
    assert read["Action"] == "lambda:GetFunction"
    assert _sorted(read["Resource"]) == _sorted(_exported_arns(templates))

    write = statements["WriteExports"]
    assert sorted(write["Action"]) == ["s3:GetObject", "s3:PutObject"]
    bucket_arn = {"Ref": _parameter_for(templates, "data", "DataBucket", "Arn")}
    expected = []
    for name in _exported_names(templates):
        for obj in EXPORT_OBJECTS:
            parts = [bucket_arn, "/lambda-exports/", name, f"/{obj}"]
            if isinstance(name, str):
                parts = [bucket_arn, f"/lambda-exports/{name}/{obj}"]
            expected.append({"Fn::Join": ["", parts]})
    assert _sorted(write["Resource"]) == _sorted(expected)  # two objects per function, no wildcard

    encrypt = statements["EncryptExports"]
    assert sorted(encrypt["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "BucketKey" in encrypt["Resource"]["Ref"]
    assert encrypt["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}

    environments = statements["ReadEncryptedEnvironments"]
    assert environments["Action"] == "kms:Decrypt"
    keys = sorted(resource["Ref"] for resource in environments["Resource"])
    assert len(keys) == 2 and "AuroraKey" in keys[0] and "MonitoringKey" in keys[1]  # canary; monitor + export
    assert environments["Condition"] == {"StringEquals": {"kms:ViaService": "lambda.us-east-1.amazonaws.com"}}

    logs = statements["WriteOwnLogs"]
    assert sorted(logs["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    _, function = _function(templates)
    assert logs["Resource"] == {"Fn::GetAtt": [function["LoggingConfig"]["LogGroup"]["Ref"], "Arn"]}

    assert _policy(templates)["Properties"]["Roles"] == [{"Ref": _function(templates)[1]["Role"]["Fn::GetAtt"][0]}]


def test_the_roles_inline_policy_only_sends_to_the_dead_letter_queue(templates: Templates) -> None:
    _, function = _function(templates)
    role_id = function["Role"]["Fn::GetAtt"][0]
    inline = [
        policy
        for policy in _resources(templates, "resilience", "AWS::IAM::Policy").values()
        if policy["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    ((policy,),) = [inline]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"]["Fn::GetAtt"][0].startswith("UndeliveredAlerts")


def test_an_hourly_schedule_before_the_backup_with_retries_and_the_dead_letter_queue(templates: Templates) -> None:
    function_id, _ = _function(templates)
    rule = templates.resilience.find_resources(
        "AWS::Events::Rule", {"Properties": {"Name": f"function-export-schedule-{SUFFIX}"}}
    )
    ((properties,),) = [[r["Properties"] for r in rule.values()]]
    assert properties["ScheduleExpression"] == "cron(50 * * * ? *)"  # the backup plan runs at minute 0
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("UndeliveredAlerts")
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
    invoke_configs = templates.resilience.find_resources(
        "AWS::Lambda::EventInvokeConfig", {"Properties": {"FunctionName": {"Ref": function_id}}}
    )
    ((config,),) = [[c["Properties"] for c in invoke_configs.values()]]
    assert config["MaximumRetryAttempts"] == 2


def test_the_custom_resource_carries_every_functions_code_hash(templates: Templates) -> None:
    function_id, _ = _function(templates)
    resource = only(templates.resilience, RESOURCE_TYPE)
    properties = resource["Properties"]
    assert properties["ServiceToken"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert properties["Prefix"] == "lambda-exports/"
    assert _policy_id(templates) in resource["DependsOn"]  # its permissions exist before it runs

    fingerprints = {json.dumps(f["FunctionName"]): f["CodeFingerprint"] for f in properties["Functions"]}
    assert list(fingerprints) == [json.dumps(name) for name in _exported_names(templates)]
    s3_keys = []
    for layer, prefixes in EXPORTED.items():
        for prefix in prefixes:
            logical_id = _logical_id(templates, layer, "AWS::Lambda::Function", prefix)
            s3_keys.append(
                _resources(templates, layer, "AWS::Lambda::Function")[logical_id]["Properties"]["Code"]["S3Key"]
            )
    # CDK names each asset by its content hash: a code change is a new key, hence an Update.
    assert list(fingerprints.values()) == s3_keys


def _policy_id(templates: Templates) -> str:
    found = templates.resilience.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"ManagedPolicyName": f"function-export-policy-{SUFFIX}"}}
    )
    ((logical_id,),) = [list(found)]
    return logical_id


# --- code_fingerprint, on constructs (no synth) --------------------------------------------------------


def _function_from(stack: cdk.Stack, construct_id: str, code: lambda_.Code) -> lambda_.Function:
    return lambda_.Function(stack, construct_id, runtime=lambda_.Runtime.PYTHON_3_14, handler="h.h", code=code)


def test_the_fingerprint_changes_exactly_when_the_package_does(tmp_path: Path) -> None:
    stack = cdk.Stack(cdk.App(), "Fingerprints")
    first, same, changed = (tmp_path / name for name in ("first", "same", "changed"))
    for folder, source in ((first, "x = 1\n"), (same, "x = 1\n"), (changed, "x = 2\n")):
        folder.mkdir()
        (folder / "h.py").write_text(source)
    prints = {
        name: code_fingerprint(_function_from(stack, name, lambda_.Code.from_asset(str(folder))))
        for name, folder in (("first", first), ("same", same), ("changed", changed))
    }
    assert prints["first"] == prints["same"] != prints["changed"]
    assert prints["first"].endswith(".zip")
    inline = [
        code_fingerprint(_function_from(stack, f"Inline{n}", lambda_.Code.from_inline(source)))
        for n, source in enumerate(("x = 1", "x = 2"))
    ]
    assert inline[0] != inline[1]


def test_a_function_not_defined_in_the_app_cannot_be_exported() -> None:
    stack = cdk.Stack(cdk.App(), "Imported")
    imported = lambda_.Function.from_function_arn(
        stack, "Imported", "arn:aws:lambda:us-east-1:123456789012:function:elsewhere"
    )
    with pytest.raises(TypeError, match="not a function defined in this app"):
        code_fingerprint(imported)


def test_every_function_of_the_app_is_exported(templates: Templates) -> None:
    named = [
        function
        for template in templates.all().values()
        for function in template.find_resources("AWS::Lambda::Function").values()
        if "FunctionName" in function["Properties"]
    ]
    exported = only(templates.resilience, RESOURCE_TYPE)["Properties"]["Functions"]
    assert len(exported) == len(named) == sum(len(prefixes) for prefixes in EXPORTED.values())
