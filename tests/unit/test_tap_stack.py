"""The parent stack and the rules that hold across every layer: naming, destroyability, IAM."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lib import output_keys
from lib.constructs.az_experiments import UNSCOPABLE_EC2_ACTIONS as FIS_UNSCOPABLE_EC2_ACTIONS
from lib.constructs.backup_plan import S3_BACKUP_UNSCOPABLE_ACTIONS
from lib.constructs.execution_role import LAMBDA_ENI_ACTIONS, TRACE_UPLOAD_ACTIONS
from lib.constructs.restore_testing import UNSCOPABLE_ACTIONS as RESTORE_TEST_UNSCOPABLE_ACTIONS
from lib.constructs.vault_cleanup import UNSCOPABLE_BACKUP_ACTIONS
from lib.explicit_actions import UnknownWildcardError, expand
from lib.stacks.network_stack import NO_RESOURCE_TYPE_ACTIONS
from tests.unit.templates import SUFFIX, Templates

# Physical-name properties; each literal value must carry the suffix.
NAME_PROPERTIES = {
    "BucketName",
    "TableName",
    "FunctionName",
    "RoleName",
    "TopicName",
    "AlarmName",
    "DashboardName",
    "BackupVaultName",
    "GroupName",
    "QueueName",
    "LogGroupName",
    "AliasName",
    "DBClusterIdentifier",
    "DBInstanceIdentifier",
    "ManagedPolicyName",
    "DBSubnetGroupName",
    "DBClusterParameterGroupName",
    "FlowLogName",
}
# Names that are not physical resources of their own: the alias lives inside its (suffixed) function,
# an inline policy inside its (suffixed) role.
NAME_EXEMPT = {("AWS::Lambda::Alias", "Name"), ("AWS::IAM::Policy", "PolicyName")}
# Actions AWS documents without resource-level permissions; "*" is their only possible resource.
RESOURCE_STAR_ALLOWED = {
    *LAMBDA_ENI_ACTIONS,
    *TRACE_UPLOAD_ACTIONS,
    *UNSCOPABLE_BACKUP_ACTIONS,
    *RESTORE_TEST_UNSCOPABLE_ACTIONS,
    *FIS_UNSCOPABLE_EC2_ACTIONS,
    *S3_BACKUP_UNSCOPABLE_ACTIONS,
    *NO_RESOURCE_TYPE_ACTIONS,
    "logs:CreateLogDelivery",
}
# Services that must never be sent to a stack: nothing is replicated out of the region.
FORBIDDEN_TYPES = {"AWS::DynamoDB::GlobalTable", "AWS::RDS::GlobalCluster", "AWS::EC2::NatGateway"}


def test_parent_composes_five_nested_stacks(templates: Templates) -> None:
    nested = templates.parent.find_resources("AWS::CloudFormation::Stack")
    assert len(nested) == 5
    assert sorted(n.split("NestedStack")[0] for n in nested) == ["Compute", "Data", "Network", "Resilience", "Security"]
    assert set(templates.parent.to_json()["Resources"]) == set(nested)


def test_parent_exports_every_output_key_under_its_fixed_name(templates: Templates) -> None:
    outputs = templates.parent.to_json()["Outputs"]
    expected = {value for name, value in vars(output_keys).items() if name.isupper()}
    assert set(outputs) == expected
    assert outputs[output_keys.ENVIRONMENT_SUFFIX]["Value"] == SUFFIX


def _resources(templates: Templates) -> Iterator[tuple[str, str, dict]]:
    for layer, template in templates.all().items():
        for logical_id, resource in template.to_json().get("Resources", {}).items():
            yield layer, logical_id, resource


def test_nothing_is_retained_or_snapshotted(templates: Templates) -> None:
    for layer, logical_id, resource in _resources(templates):
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            assert resource.get(policy, "Delete") == "Delete", f"{layer}/{logical_id} {policy}"


def test_nothing_leaves_the_region(templates: Templates) -> None:
    for layer, logical_id, resource in _resources(templates):
        assert resource["Type"] not in FORBIDDEN_TYPES, f"{layer}/{logical_id}"


def test_every_physical_name_carries_the_suffix(templates: Templates) -> None:
    checked = 0
    for layer, logical_id, resource in _resources(templates):
        for prop, value in resource.get("Properties", {}).items():
            named = prop in NAME_PROPERTIES or (prop == "Name" and resource["Type"] != "AWS::Lambda::Alias")
            if named and (resource["Type"], prop) not in NAME_EXEMPT and isinstance(value, str):
                assert SUFFIX in value, f"{layer}/{logical_id} {prop}={value}"
                checked += 1
    assert checked > 40  # the walk really visited the named resources


def _statements(templates: Templates) -> Iterator[tuple[str, dict]]:
    for layer, logical_id, resource in _resources(templates):
        for statement in _statements_of(resource):
            yield f"{layer}/{logical_id}", statement


def _statements_of(resource: dict) -> Iterator[dict]:
    """Every policy statement in the resource's properties (trust, inline, key, topic, ... policies)."""

    def walk(node: object) -> Iterator[dict]:
        if isinstance(node, dict):
            if isinstance(node.get("Statement"), list):
                yield from node["Statement"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    yield from walk(resource.get("Properties", {}))


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def test_no_allow_statement_anywhere_has_a_wildcard_action(templates: Templates) -> None:
    allows = [(where, s) for where, s in _statements(templates) if s.get("Effect") == "Allow"]
    assert len(allows) > 20
    for where, statement in allows:
        for action in _as_list(statement.get("Action", [])):
            assert "*" not in action, f"{where}: {action}"


def test_resource_star_only_for_actions_without_resource_level_permissions(templates: Templates) -> None:
    for where, statement in _statements(templates):
        if statement.get("Effect") != "Allow" or "*" not in _as_list(statement.get("Resource")):
            continue
        if where.split("/")[1].startswith(("AuroraKey", "BucketKey", "BackupKey", "MonitoringKey")):
            continue  # in a key policy, Resource "*" means the key itself
        if statement.get("Condition") == {"StringEquals": {"aws:ResourceAccount": {"Ref": "AWS::AccountId"}}}:
            continue  # a VPC endpoint policy: any resource of this account (test_network_stack.py)
        assert set(_as_list(statement["Action"])) <= RESOURCE_STAR_ALLOWED, where


def test_wildcard_expansion_is_explicit_and_refuses_unknown_wildcards() -> None:
    assert expand(["s3:PutBucketPolicy", "s3:List*"]) == [
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:PutBucketPolicy",
    ]
    assert expand(["sqs:SendMessage"]) is None
    with pytest.raises(UnknownWildcardError, match="ec2:Describe\\*"):
        expand(["ec2:Describe*"])


# Service principals that send no source keys where the kit names them, each with why it stands.
SOURCE_CONDITION_EXEMPT = {
    # Lambda assumes a function's execution role for the functions whose configuration names it, and
    # naming it takes iam:PassRole in this account; Lambda documents no source keys for the trust policy.
    ("AWS::IAM::Role", "lambda.amazonaws.com"),
    # AWS Backup assumes the role a backup plan's selection or a restore names (iam:PassRole again);
    # its guide documents source keys for the vault's notification topic, not for the service role.
    ("AWS::IAM::Role", "backup.amazonaws.com"),
    # EventBridge sends no aws:SourceArn/aws:SourceAccount with the KMS requests of a delivery to an
    # encrypted topic; the topic's own policy limits it to this account's rules.
    ("AWS::KMS::Key", "events.amazonaws.com"),
}
# What counts as a source condition: the global keys, and for CloudWatch Logs the log group's ARN in
# the encryption context (AWS KMS Developer Guide / CloudWatch Logs User Guide, "Encrypt log data").
SOURCE_KEYS = ("aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "kms:encryptioncontext:aws:logs:arn")


def test_every_service_principal_statement_names_its_source(templates: Templates) -> None:
    """IAM User Guide, "The confused deputy problem": a statement that lets an AWS service principal
    act (a trust policy, a key, topic, queue or bucket policy, a function permission) limits it to
    this account's sources with aws:SourceArn / aws:SourceAccount, except where the service sends
    neither (SOURCE_CONDITION_EXEMPT says why)."""
    found = []
    for layer, logical_id, resource in _resources(templates):
        kind = resource["Type"]
        if kind == "AWS::Lambda::Permission":
            properties = resource["Properties"]
            if "SourceArn" not in properties and "SourceAccount" not in properties:
                found.append(f"{layer}/{logical_id}: permission for {properties['Principal']} names no source")
        for statement in _statements_of(resource):
            principal = statement.get("Principal")
            services = principal.get("Service") if isinstance(principal, dict) else None
            if statement.get("Effect") != "Allow" or services is None:
                continue
            if any(key in json.dumps(statement.get("Condition", {})).lower() for key in SOURCE_KEYS):
                continue
            found += [
                f"{layer}/{logical_id}: {service} ({statement.get('Sid')}) without aws:SourceArn/aws:SourceAccount"
                for service in _as_list(services)
                if (kind, service) not in SOURCE_CONDITION_EXEMPT
            ]
    assert not found, found
