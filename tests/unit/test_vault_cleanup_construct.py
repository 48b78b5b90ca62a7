"""Synthesis tests of BackupVaultCleanup: function, custom resource, ordering, logs and IAM scope."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import Environment, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from lib.app import new_app
from lib.config import EnvironmentConfig
from lib.constructs.execution_role import LAMBDA_ENI_ACTIONS, TRACE_UPLOAD_ACTIONS, FunctionNetwork
from lib.constructs.vault_cleanup import HANDLER_DIR, BackupVaultCleanup

ACCOUNT = "123456789012"
REGION = "us-east-1"
SUFFIX = "test"
# Actions the Service Authorization Reference lists without resource types: only these may use "*"
# (and Lambda's VPC network-interface actions, which AWS documents with "*").
DOCUMENTED_STAR_ACTIONS = {
    "backup:ListBackupJobs",
    "backup:StopBackupJob",
    "backup:ListBackupVaults",
    *LAMBDA_ENI_ACTIONS,
    *TRACE_UPLOAD_ACTIONS,
}


@pytest.fixture(scope="module")
def synthesized() -> tuple[Template, dict[str, str]]:
    """One synthesis for the module (jsii makes each one take seconds); returns the template and
    the logical ids of the resources the assertions refer to."""
    app = new_app()
    stack = Stack(app, "CleanupTest", env=Environment(account=ACCOUNT, region=REGION))
    config = EnvironmentConfig(environment_suffix=SUFFIX, account=ACCOUNT, region=REGION)
    key = kms.Key(stack, "LogKey")
    vault = backup.BackupVault(
        stack, "Vault", backup_vault_name=config.name("backup-vault"), removal_policy=RemovalPolicy.DESTROY
    )
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        restrict_default_security_group=False,  # its CDK provider would be a second function
        subnet_configuration=[ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    group = ec2.SecurityGroup(stack, "Group", vpc=vpc)
    cleanup = BackupVaultCleanup(
        stack, "VaultCleanup", config=config, vault=vault, log_key=key, network=FunctionNetwork(vpc, group)
    )
    ids = {
        name: stack.get_logical_id(construct.node.default_child)  # type: ignore[arg-type]
        for name, construct in {
            "key": key,
            "vault": vault,
            "function": cleanup.function,
            "role": cleanup.role,
            "log_group": cleanup.log_group,
            "resource": cleanup.resource,
            "policy": cleanup.policy,
        }.items()
    }
    return Template.from_stack(stack), ids


def _resources(template: Template, resource_type: str) -> Mapping[str, Any]:
    return template.find_resources(resource_type)


def _statements(template: Template) -> list[dict[str, Any]]:
    """Every identity-policy statement in the template: standalone policies and inline role policies."""
    statements: list[dict[str, Any]] = []
    for policy in _resources(template, "AWS::IAM::ManagedPolicy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for role in _resources(template, "AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            statements += inline["PolicyDocument"]["Statement"]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statement(template: Template, sid: str) -> dict[str, Any]:
    matches = [s for s in _statements(template) if s.get("Sid") == sid]
    assert len(matches) == 1, f"statement {sid}: {matches}"
    return matches[0]


def test_function_properties(synthesized: tuple[Template, dict[str, str]]) -> None:
    template, ids = synthesized
    template.resource_count_is("AWS::Lambda::Function", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": f"vault-cleanup-{SUFFIX}",
            "Runtime": "python3.14",
            "Handler": "handler.handler",
            "Timeout": 900,
            "Role": {"Fn::GetAtt": [ids["role"], "Arn"]},
            "LoggingConfig": {"LogGroup": {"Ref": ids["log_group"]}},
            "VpcConfig": {"SubnetIds": Match.any_value(), "SecurityGroupIds": [Match.any_value()]},
            "Layers": Match.absent(),
            # The one vault it may empty, pinned at deploy time (the event's vault is only checked).
            "Environment": {"Variables": {"BACKUP_VAULT_NAME": {"Fn::GetAtt": [ids["vault"], "BackupVaultName"]}}},
        },
    )
    assert (HANDLER_DIR / "handler.py").is_file()
    assert (HANDLER_DIR / "requirements.txt").is_file()  # Powertools, which the shared package dr_common needs


def test_custom_resource_properties(synthesized: tuple[Template, dict[str, str]]) -> None:
    template, ids = synthesized
    resources = _resources(template, "Custom::BackupVaultCleanup")
    assert list(resources) == [ids["resource"]]
    properties = resources[ids["resource"]]["Properties"]
    assert properties["ServiceToken"] == {"Fn::GetAtt": [ids["function"], "Arn"]}
    assert properties["BackupVaultName"] == {"Fn::GetAtt": [ids["vault"], "BackupVaultName"]}
    # Bounded wait if the function dies without answering, instead of CloudFormation's one hour.
    assert 900 < int(properties["ServiceTimeout"]) <= 3600


def test_custom_resource_is_deleted_before_the_vault_and_the_policy(
    synthesized: tuple[Template, dict[str, str]],
) -> None:
    template, ids = synthesized
    depends_on = _resources(template, "Custom::BackupVaultCleanup")[ids["resource"]].get("DependsOn", [])
    assert ids["vault"] in depends_on
    assert ids["policy"] in depends_on


def test_log_group_is_encrypted_retained_and_destroyable(synthesized: tuple[Template, dict[str, str]]) -> None:
    template, ids = synthesized
    log_group = _resources(template, "AWS::Logs::LogGroup")[ids["log_group"]]
    assert log_group["Properties"] == {
        "LogGroupName": f"/aws/lambda/vault-cleanup-{SUFFIX}",
        "KmsKeyId": {"Fn::GetAtt": [ids["key"], "Arn"]},
        "RetentionInDays": 7,
    }
    assert log_group["DeletionPolicy"] == "Delete"


def test_role_is_named_trusts_lambda_and_has_only_its_own_policy(
    synthesized: tuple[Template, dict[str, str]],
) -> None:
    template, ids = synthesized
    role = _resources(template, "AWS::IAM::Role")[ids["role"]]["Properties"]
    assert role["RoleName"] == f"vault-cleanup-role-{SUFFIX}"
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role  # no AWS managed policy; its own customer-managed ones
    policies = _resources(template, "AWS::IAM::ManagedPolicy").values()
    assert [policy["Properties"]["ManagedPolicyName"] for policy in policies] == [
        f"vault-cleanup-policy-{SUFFIX}",
        f"vault-cleanup-tracing-{SUFFIX}",  # the function's X-Ray daemon uploads with it (KitFunction)
    ]
    assert all(policy["Properties"]["Roles"] == [{"Ref": ids["role"]}] for policy in policies)


def test_no_wildcard_actions_and_star_resources_only_where_documented(
    synthesized: tuple[Template, dict[str, str]],
) -> None:
    template, _ = synthesized
    statements = _statements(template)
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        actions = _as_list(statement["Action"])
        assert not [a for a in actions if "*" in a], statement
        if "*" in _as_list(statement["Resource"]):
            assert set(actions) <= DOCUMENTED_STAR_ACTIONS, statement


def test_backup_actions_are_exactly_the_handlers_calls(synthesized: tuple[Template, dict[str, str]]) -> None:
    """Read the function's client calls from its gateway's source, so the policy cannot drift from the code."""
    template, _ = synthesized
    source = (HANDLER_DIR / "gateway.py").read_text()
    calls = set(re.findall(r'clients\("backup"\)\.(\w+)\(', source)) | set(
        re.findall(r'get_paginator\("(\w+)"\)', source)
    )
    calls.discard("get_paginator")
    called = {"backup:" + "".join(part.title() for part in call.split("_")) for call in calls}
    granted = {a for s in _statements(template) for a in _as_list(s["Action"]) if a.startswith("backup:")}
    assert called == granted
    assert called == {
        "backup:ListBackupJobs",
        "backup:StopBackupJob",
        "backup:ListRecoveryPointsByBackupVault",
        "backup:DeleteRecoveryPoint",
        "backup:ListBackupVaults",
    }


def test_vault_and_recovery_point_permissions_are_scoped(synthesized: tuple[Template, dict[str, str]]) -> None:
    template, ids = synthesized
    listing = _statement(template, "ListRecoveryPointsOfTheVault")
    assert listing["Action"] == "backup:ListRecoveryPointsByBackupVault"
    assert listing["Resource"] == {"Fn::GetAtt": [ids["vault"], "BackupVaultArn"]}

    deleting = _statement(template, "DeleteRecoveryPoints")
    assert deleting["Action"] == "backup:DeleteRecoveryPoint"
    for arn in _as_list(deleting["Resource"]):
        assert arn.startswith("arn:aws:"), arn
        assert f":{REGION}:{ACCOUNT}:" in arn, arn

    unscoped = _statement(template, "FindAndStopBackupJobs")
    assert unscoped["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}


@pytest.mark.parametrize(
    ("sid", "action", "resource"),
    [
        (
            "BackupDeletesAuroraSnapshotsForTheCaller",
            "rds:DeleteDBClusterSnapshot",
            f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster-snapshot:awsbackup:*",
        ),
        (
            "BackupDeletesDynamoDbBackupsForTheCaller",
            "dynamodb:DeleteBackup",
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/*/backup/*",
        ),
    ],
)
def test_source_service_deletes_only_through_backup(
    synthesized: tuple[Template, dict[str, str]], sid: str, action: str, resource: str
) -> None:
    template, _ = synthesized
    statement = _statement(template, sid)
    assert statement["Action"] == action
    assert statement["Resource"] == resource
    assert statement["Condition"] == {"ForAnyValue:StringEquals": {"aws:CalledVia": ["backup.amazonaws.com"]}}


def test_service_linked_role_creation_is_limited_to_backups_role(
    synthesized: tuple[Template, dict[str, str]],
) -> None:
    template, _ = synthesized
    statement = _statement(template, "DeleteExpiredRecoveryPoints")
    assert statement["Action"] == "iam:CreateServiceLinkedRole"
    assert statement["Resource"] == (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup"
    )
    assert statement["Condition"] == {"StringEquals": {"iam:AWSServiceName": "backup.amazonaws.com"}}


def test_logs_permissions_cover_only_its_log_group(synthesized: tuple[Template, dict[str, str]]) -> None:
    template, ids = synthesized
    statement = _statement(template, "WriteOwnLogs")
    assert sorted(_as_list(statement["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == {"Fn::GetAtt": [ids["log_group"], "Arn"]}
    all_actions = {a for s in _statements(template) for a in _as_list(s["Action"])}
    assert "logs:CreateLogGroup" not in all_actions  # the log group is the stack's, not Lambda's


def test_policy_is_attached_to_the_role(synthesized: tuple[Template, dict[str, str]]) -> None:
    template, ids = synthesized
    policy = _resources(template, "AWS::IAM::ManagedPolicy")[ids["policy"]]["Properties"]
    assert policy["ManagedPolicyName"] == f"vault-cleanup-policy-{SUFFIX}"
    assert policy["Roles"] == [{"Ref": ids["role"]}]
