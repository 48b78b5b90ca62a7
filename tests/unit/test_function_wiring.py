"""How every function of the app is wired, across the nested stacks: what its role may do with its
dead-letter queue, where its async settings sit, and what it is created after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lib.network_reachability import FUNCTION_PACKAGES
from tests.unit.templates import ACCOUNT, SUFFIX, Templates

ENI_ACTION = "ec2:CreateNetworkInterface"
DEAD_LETTER_KEY_ACTIONS = {"kms:GenerateDataKey", "kms:Decrypt"}
POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")

Json = dict[str, Any]
ResourceId = tuple[str, str]  # (nested stack name, logical id)


def _json(templates: Templates) -> dict[str, Json]:
    return {name: template.to_json() for name, template in templates.all().items()}


def _nested_stack_id(t: dict[str, Json], stack: str) -> str:
    """Logical id, in the parent, of the AWS::CloudFormation::Stack of a layer (e.g. "compute")."""
    prefix = f"{stack.capitalize()}NestedStack"
    (found,) = (
        lid
        for lid, r in t["parent"]["Resources"].items()
        if r["Type"] == "AWS::CloudFormation::Stack" and lid.startswith(prefix)
    )
    return found


def _stack_of_nested_id(t: dict[str, Json], logical_id: str) -> str:
    (found,) = (name for name in t if name != "parent" and _nested_stack_id(t, name) == logical_id)
    return found


def _references(value: Any) -> Iterator[str]:
    """Logical ids (or parameter names) a value refers to with Ref or Fn::GetAtt, depth first."""
    if isinstance(value, dict):
        if "Ref" in value:
            yield str(value["Ref"])
        elif "Fn::GetAtt" in value:
            yield str(value["Fn::GetAtt"][0])
        else:
            for inner in value.values():
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _origin(t: dict[str, Json], stack: str, value: Any) -> ResourceId:
    """The resource a value (a Role property, a policy's Roles entry, a key ARN) means, followed through
    nested-stack parameters and outputs."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return stack, value["Fn::GetAtt"][0]
    ref = next(_references(value))  # an imported role's name is Select/Split of its ARN
    if ref in t[stack]["Resources"]:
        return stack, ref
    source = t["parent"]["Resources"][_nested_stack_id(t, stack)]["Properties"]["Parameters"][ref]["Fn::GetAtt"]
    owner = _stack_of_nested_id(t, source[0])
    return _origin(t, owner, t[owner]["Outputs"][source[1].removeprefix("Outputs.")]["Value"])


def _functions(t: dict[str, Json]) -> Iterator[tuple[str, str, Json]]:
    for stack, template in t.items():
        for lid, resource in template.get("Resources", {}).items():
            if resource["Type"] == "AWS::Lambda::Function" and "FunctionName" in resource["Properties"]:
                yield stack, lid, resource


def _statements_for(t: dict[str, Json], role: ResourceId) -> Iterator[tuple[str, str, Json]]:
    """(stack, policy logical id, statement) of every identity policy attached to ``role``."""
    for stack, template in t.items():
        for lid, resource in template.get("Resources", {}).items():
            if resource["Type"] not in POLICY_TYPES:
                continue
            if role not in {_origin(t, stack, entry) for entry in resource["Properties"].get("Roles", [])}:
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                yield stack, lid, statement


def _actions(statement: Json) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _depends_on(resource: Json) -> set[str]:
    depends = resource.get("DependsOn", [])
    return {depends} if isinstance(depends, str) else set(depends)


def test_every_dead_letter_queue_key_may_be_used_by_the_role_that_writes_to_it(templates: Templates) -> None:
    """Lambda sends a failed async invocation's record to the on-failure destination with the
    function's role; an SSE-KMS queue then needs sqs:SendMessage on it and kms:GenerateDataKey and
    kms:Decrypt on exactly that queue's key (via SQS)."""
    t = _json(templates)
    checked = []
    for stack, template in t.items():
        for config in template["Resources"].values():
            if config["Type"] != "AWS::Lambda::EventInvokeConfig":
                continue
            destination = config["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if destination is None:
                continue
            function = template["Resources"][config["Properties"]["FunctionName"]["Ref"]]
            queue_id = destination["Fn::GetAtt"][0]
            key = template["Resources"][queue_id]["Properties"]["KmsMasterKeyId"]
            role = _origin(t, stack, function["Properties"]["Role"])
            statements = [statement for _, _, statement in _statements_for(t, role) if statement["Effect"] == "Allow"]
            assert any(
                _actions(statement) >= {"sqs:SendMessage"} and statement["Resource"] == destination
                for statement in statements
            ), f"{function['Properties']['FunctionName']}: its role cannot send to its failure queue"
            grants = [
                statement
                for statement in statements
                if _actions(statement) >= DEAD_LETTER_KEY_ACTIONS
                and statement["Resource"] == key
                and statement.get("Condition") == {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}
            ]
            assert grants, (
                f"{function['Properties']['FunctionName']}: its role cannot encrypt into its queue's key {key}"
            )
            key_stack, key_id = _origin(t, stack, key)
            key_policy = t[key_stack]["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
            assert any(  # the key policy lets IAM policies of the account grant these actions
                _actions(statement) >= DEAD_LETTER_KEY_ACTIONS and f"iam::{ACCOUNT}:root" in str(statement["Principal"])
                for statement in key_policy
            )
            checked.append(function["Properties"]["FunctionName"])
    assert sorted(checked) == sorted(
        f"{name}-{SUFFIX}"
        for name in (
            "health-check",
            "backup-monitor",
            "function-export",
            "restore-validation",
        )
    )


def _qualifier(template: Json, value: Any) -> str:
    """An EventInvokeConfig's Qualifier: "$LATEST", a version, or an alias name (CDK writes an alias's
    as the 8th field of the alias ARN)."""
    if isinstance(value, str):
        return value
    index, split = value["Fn::Select"]
    _, alias_arn = split["Fn::Split"]
    assert index == 7
    return str(template["Resources"][alias_arn["Ref"]]["Properties"]["Name"])


def test_async_settings_sit_on_the_qualifier_that_rules_invoke(templates: Templates) -> None:
    """Lambda applies an EventInvokeConfig to the one qualifier it names; an alias does not inherit
    $LATEST's (it keeps the defaults: 2 retries, 6 hours)."""
    checked = 0
    for template in _json(templates).values():
        resources = template.get("Resources", {})
        configured = {
            (config["Properties"]["FunctionName"]["Ref"], _qualifier(template, config["Properties"]["Qualifier"]))
            for config in resources.values()
            if config["Type"] == "AWS::Lambda::EventInvokeConfig"
        }
        configured_functions = {function for function, _ in configured}
        for rule in (r for r in resources.values() if r["Type"] == "AWS::Events::Rule"):
            for target in rule["Properties"]["Targets"]:
                arn = target["Arn"]
                if "Fn::GetAtt" in arn and resources[arn["Fn::GetAtt"][0]]["Type"] == "AWS::Lambda::Function":
                    invoked = (arn["Fn::GetAtt"][0], "$LATEST")
                elif "Ref" in arn and resources.get(arn["Ref"], {}).get("Type") == "AWS::Lambda::Alias":
                    alias = resources[arn["Ref"]]["Properties"]
                    invoked = (alias["FunctionName"]["Ref"], alias["Name"])
                else:
                    continue
                assert invoked[0] in configured_functions, f"{invoked[0]} has no async settings at all"
                assert invoked in configured, f"rule invokes {invoked}, async settings are on {configured}"
                checked += 1
    assert checked >= 5  # canary, monitor (2 rules), export, validator


def test_every_vpc_function_is_created_after_the_policy_that_lets_it_manage_enis(templates: Templates) -> None:
    """Lambda refuses CreateFunction for a VPC function whose role lacks ec2:CreateNetworkInterface
    ("The provided execution role does not have permissions to call CreateNetworkInterface on EC2"),
    and CloudFormation creates resources without a dependency in parallel: every policy granting the
    ENI actions must be in the function's DependsOn, or in a nested stack its stack waits for."""
    t = _json(templates)
    checked = []
    for stack, lid, function in _functions(t):
        if "VpcConfig" not in function["Properties"]:
            continue
        role = _origin(t, stack, function["Properties"]["Role"])
        policies = {
            (policy_stack, policy)
            for policy_stack, policy, statement in _statements_for(t, role)
            if statement["Effect"] == "Allow" and ENI_ACTION in _actions(statement)
        }
        assert policies, f"{lid}: its role is never granted {ENI_ACTION}"
        for policy_stack, policy in policies:
            if policy_stack == stack:
                assert policy in _depends_on(function), f"{lid} may be created before {policy}"
            else:
                own = t["parent"]["Resources"][_nested_stack_id(t, stack)]
                waits_for = _depends_on(own) | set(_references(own["Properties"]))
                assert _nested_stack_id(t, policy_stack) in waits_for, f"{stack} may start before {policy_stack}"
        checked.append(function["Properties"]["FunctionName"])
    # every function of the kit runs in the VPC (lib/network_reachability.py's table names them all)
    assert sorted(checked) == sorted(f"{kind}-{SUFFIX}" for kind in FUNCTION_PACKAGES)


def test_every_function_is_actively_traced_and_its_role_may_upload_its_traces(templates: Templates) -> None:
    """X-Ray active tracing on every function of the kit, and the two actions the X-Ray daemon calls
    with the function's role (no resource-level permissions: "*" within the region)."""
    t = _json(templates)
    functions = list(_functions(t))
    assert {f["Properties"]["FunctionName"].removesuffix(f"-{SUFFIX}") for _, _, f in functions} == set(
        FUNCTION_PACKAGES
    )
    for stack, lid, function in functions:
        assert function["Properties"].get("TracingConfig") == {"Mode": "Active"}, f"{stack}/{lid} is not traced"
        role = _origin(t, stack, function["Properties"]["Role"])
        uploads = [
            s
            for _, _, s in _statements_for(t, role)
            if s["Effect"] == "Allow" and {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= _actions(s)
        ]
        assert uploads, f"the role of {stack}/{lid} may not upload traces"
        assert all(
            s["Resource"] == "*" and s["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
            for s in uploads
        )
