"""FunctionExport in the synthesized app (the session's templates; no synth of its own): the function,
its exact IAM (no Lambda API), and a custom resource that carries every function as CreateFunction
would take it, so it changes whenever a function's code or configuration does."""

from __future__ import annotations

import json
import re
from typing import Any

from lib.constructs.function_export import EXPORT_OBJECTS, RESOURCE_TYPE
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
    function_id, _ = _function(templates)
    (config,) = templates.resilience.find_resources(
        "AWS::Lambda::EventInvokeConfig", {"Properties": {"FunctionName": {"Ref": function_id}}}
    ).values()
    destination = config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination["Fn::GetAtt"][0].startswith("UndeliveredAlerts")  # a failed run's record, paged on
    assert "MonitoringKey" in function["KmsKeyArn"]["Ref"]
    log_group_id = function["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = templates.resilience.to_json()["Resources"][log_group_id]
    assert log_group["Properties"]["LogGroupName"] == f"/aws/lambda/{NAME}"
    assert "MonitoringKey" in log_group["Properties"]["KmsKeyId"]["Ref"]
    assert log_group["DeletionPolicy"] == "Delete"
    role = templates.resilience.to_json()["Resources"][function["Role"]["Fn::GetAtt"][0]]
    assert role["Properties"]["RoleName"] == f"function-export-role-{SUFFIX}"


def test_the_environment_pins_the_data_bucket(templates: Templates) -> None:
    _, function = _function(templates)
    assert function["Environment"]["Variables"] == {
        "BUCKET_NAME": {"Ref": _parameter_for(templates, "data", "DataBucket", "Ref")}
    }


def test_the_policy_grants_exactly_what_the_handler_calls(templates: Templates) -> None:
    statements = _statements(templates)
    assert set(statements) == {
        "ReadPackages",
        "WriteExports",
        "EncryptExports",
        "WriteOwnLogs",
        "SendFailedInvocations",  # its on-failure destination, the undelivered-alerts queue
        "EncryptDeadLetters",  # that queue's key (tests/unit/test_function_wiring.py)
        "ManageVpcNetworkInterfaces",  # Lambda attaches the function to the VPC with its role
    }
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement["Action"])

    read = statements["ReadPackages"]
    assert read["Action"] == "s3:GetObject"
    assert sorted(read["Resource"]) == sorted(
        f"arn:aws:s3:::{package['Bucket']}/{package['Key']}" for package in _packages(templates)
    )  # exactly the asset objects, no wildcard

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

    logs = statements["WriteOwnLogs"]
    assert sorted(logs["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    _, function = _function(templates)
    assert logs["Resource"] == {"Fn::GetAtt": [function["LoggingConfig"]["LogGroup"]["Ref"], "Arn"]}

    assert _policy(templates)["Properties"]["Roles"] == [{"Ref": _function(templates)[1]["Role"]["Fn::GetAtt"][0]}]


def test_the_role_has_no_inline_policy(templates: Templates) -> None:
    """Everything is in its managed policy, the failure queue's SendMessage included (HIPAA IAMNoInlinePolicy)."""
    _, function = _function(templates)
    role_id = function["Role"]["Fn::GetAtt"][0]
    inline = [
        policy
        for policy in _resources(templates, "resilience", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"].get("Roles", [])
    ]
    assert inline == []


def test_nothing_schedules_it_and_it_needs_no_lambda_endpoint(templates: Templates) -> None:
    """It runs on deploys only: between two deploys no function changes, so there is nothing to export."""
    function_id, _ = _function(templates)
    targets = [
        target["Arn"]
        for rule in _resources(templates, "resilience", "AWS::Events::Rule").values()
        for target in rule["Properties"].get("Targets", [])
    ]
    assert {"Fn::GetAtt": [function_id, "Arn"]} not in targets
    services = [
        json.dumps(endpoint["Properties"]["ServiceName"])
        for endpoint in _resources(templates, "network", "AWS::EC2::VPCEndpoint").values()
    ]
    assert not [service for service in services if ".lambda" in service]


# CloudFormation's AWS::Lambda::Function properties that CreateFunction takes back, by the name
# GetFunction (and so the export) gives them.
RECREATED = {
    "Runtime": "Runtime",
    "Role": "Role",
    "Handler": "Handler",
    "Timeout": "Timeout",
    "MemorySize": "MemorySize",
    "Description": "Description",
    "Environment": "Environment",
    "VpcConfig": "VpcConfig",
    "DeadLetterConfig": "DeadLetterConfig",
    "KmsKeyArn": "KMSKeyArn",
    "Architectures": "Architectures",
    "LoggingConfig": "LoggingConfig",
    "TracingConfig": "TracingConfig",
}


def _packages(templates: Templates) -> list[dict[str, Any]]:
    return [entry["Package"] for entry in only(templates.resilience, RESOURCE_TYPE)["Properties"]["Functions"]]


def test_the_custom_resource_carries_each_function_as_it_is_deployed(templates: Templates) -> None:
    """For the functions of the same layer the values are the very expressions of their template; a
    property of a function the export leaves out would be missing from a function the drill recreates."""
    function_id, _ = _function(templates)
    resource = only(templates.resilience, RESOURCE_TYPE)
    assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert _policy_id(templates) in resource["DependsOn"]  # its permissions exist before it runs
    functions = resource["Properties"]["Functions"]
    exported = {json.dumps(entry["Configuration"]["FunctionName"]): entry for entry in functions}
    # the export function names itself by a Ref here (only its policy must use the literal name)
    names = [*_exported_names(templates)[:-1], {"Ref": function_id}]
    assert list(exported) == [json.dumps(name) for name in names]

    for logical_id, function in _resources(templates, "resilience", "AWS::Lambda::Function").items():
        properties = function["Properties"]
        if "FunctionName" not in properties:
            continue  # CDK's own providers: not kit functions
        entry = exported[json.dumps({"Ref": logical_id})]
        configuration = entry["Configuration"]
        expected = {RECREATED[key]: value for key, value in properties.items() if key in RECREATED}
        assert {key: configuration[key] for key in expected if key in configuration} == expected, logical_id
        assert set(expected) <= set(configuration), f"{logical_id} misses {set(expected) - set(configuration)}"
        # CDK names each asset by its content hash: a code change is a new key, hence an Update.
        assert entry["Package"] == {"Bucket": properties["Code"]["S3Bucket"], "Key": properties["Code"]["S3Key"]}

    canary_name = json.dumps({"Ref": _parameter_for(templates, "compute", "Function", "Ref")})
    assert set(exported[canary_name]["Configuration"]) >= {
        "Role",
        "Environment",
        "VpcConfig",
        "KMSKeyArn",
        "TracingConfig",
    }


def _policy_id(templates: Templates) -> str:
    found = templates.resilience.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"ManagedPolicyName": f"function-export-policy-{SUFFIX}"}}
    )
    ((logical_id,),) = [list(found)]
    return logical_id


def test_every_function_of_the_app_is_exported(templates: Templates) -> None:
    named = [
        function
        for template in templates.all().values()
        for function in template.find_resources("AWS::Lambda::Function").values()
        if "FunctionName" in function["Properties"]
    ]
    exported = only(templates.resilience, RESOURCE_TYPE)["Properties"]["Functions"]
    assert len(exported) == len(named) == sum(len(prefixes) for prefixes in EXPORTED.values())
