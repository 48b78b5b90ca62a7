"""The deployed keys and roles."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from lib import output_keys as keys

pytestmark = pytest.mark.aws_minutes(0.5)

KEY_OUTPUTS = (keys.AURORA_KEY_ARN, keys.BUCKET_KEY_ARN, keys.BACKUP_KEY_ARN, keys.LOGS_KEY_ARN)


@pytest.mark.parametrize("output", KEY_OUTPUTS)
def test_customer_managed_keys_are_enabled_and_rotate(client, outputs, output) -> None:
    kms = client("kms")
    metadata = kms.describe_key(KeyId=outputs[output])["KeyMetadata"]
    assert metadata["KeyManager"] == "CUSTOMER" and metadata["Enabled"] is True
    assert kms.get_key_rotation_status(KeyId=outputs[output])["KeyRotationEnabled"] is True


def test_aliases_carry_purpose_and_suffix(client, outputs, suffix) -> None:
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in client("kms").list_aliases()["Aliases"]}
    for purpose, output in zip(("aurora", "s3", "backup", "monitoring"), KEY_OUTPUTS, strict=True):
        key_id = outputs[output].split("/")[-1]
        assert aliases.get(f"alias/{purpose}-key-{suffix}") == key_id


def test_roles_exist_with_their_trust(client, outputs) -> None:
    iam = client("iam")
    for output, service in (
        (keys.FUNCTION_ROLE_ARN, "lambda.amazonaws.com"),
        (keys.BACKUP_ROLE_ARN, "backup.amazonaws.com"),
    ):
        role = iam.get_role(RoleName=outputs[output].split("/")[-1])["Role"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"] == service


# What each profile promises: a week of logs for a test environment, a year for production.
LOG_RETENTION_DAYS = {"dev": 7, "prod": 365}


def test_every_log_group_is_encrypted_with_the_profiles_retention(client, outputs, suffix, config) -> None:
    groups = client("logs").describe_log_groups()["logGroups"]
    ours = {g["logGroupName"]: g for g in groups if suffix in g["logGroupName"]}
    assert set(ours) >= {
        f"/aws/vpc/flow-logs-{suffix}",
        f"/aws/lambda/health-check-{suffix}",
        f"/aws/lambda/secret-rotation-{suffix}",
        f"/aws/lambda/vault-cleanup-{suffix}",
        f"/aws/rds/cluster/aurora-cluster-{suffix}/postgresql",
    }
    for name, group in ours.items():
        assert group["retentionInDays"] == LOG_RETENTION_DAYS[config.profile.name], name
        assert group["kmsKeyId"] == outputs[keys.LOGS_KEY_ARN], name


def test_vpc_flow_logs_capture_all_traffic(client, outputs, suffix) -> None:
    (flow_log,) = client("ec2").describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [outputs[keys.VPC_ID]]}])[
        "FlowLogs"
    ]
    assert flow_log["TrafficType"] == "ALL"
    assert flow_log["LogGroupName"] == f"/aws/vpc/flow-logs-{suffix}"


@pytest.mark.parametrize("output", KEY_OUTPUTS)
def test_only_prods_recovery_point_keys_deny_their_destruction_to_all_but_break_glass(
    client, outputs, config, output
) -> None:
    """The keys of the recovery points (Aurora's snapshots, the vault) in prod; no other key, nothing in dev."""
    kms = client("kms")
    policy = json.loads(kms.get_key_policy(KeyId=outputs[output], PolicyName="default")["Policy"])
    denies = {statement["Sid"]: statement for statement in policy["Statement"] if statement["Effect"] == "Deny"}
    recovery_key = output in (keys.AURORA_KEY_ARN, keys.BACKUP_KEY_ARN)
    if not (config.profile.deletion_protection and recovery_key):
        assert denies == {}
        return
    destroy = denies["OnlyBreakGlassDisablesOrDeletesTheKey"]
    assert set(destroy["Action"]) == {"kms:DisableKey", "kms:ScheduleKeyDeletion"}
    exempt = destroy["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert [arn.rsplit("/", 1)[-1] for arn in (exempt if isinstance(exempt, list) else [exempt])] == [
        config.name("role-breakglass")
    ]
    assert "OnlyBreakGlassOrCloudFormationChangesTheKeyPolicy" in denies


def test_only_prod_has_the_break_glass_role_and_it_needs_mfa(client, config) -> None:
    try:
        role = client("iam").get_role(RoleName=config.name("role-breakglass"))["Role"]
    except ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchEntity"
        assert not config.profile.deletion_protection
        return
    assert config.profile.deletion_protection
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
