"""dev against prod: what must differ (size, protection, retention, paging) and what may not (shapes, names,
objectives). The dev app is the session's; prod is synthesized once here, cdk-nag and the DR gate included.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from lib.config import DEFAULT_AVAILABILITY_ZONES, DEV, PROD
from lib.tap_stack import TapStack

from .templates import ACCOUNT, SUFFIX, Templates, only, synthesized, templates_of

EMAIL = "ops@example.com"
# The resources prod has beyond dev's: the third AZ's reader, the alert e-mail subscription and the
# break-glass role with its policy.
PROD_ONLY = {
    ("data", "AWS::RDS::DBInstance", f"aurora-reader-2-{SUFFIX}"),
    ("resilience", "AWS::SNS::Subscription", EMAIL),
    ("security", "AWS::IAM::Role", f"role-breakglass-{SUFFIX}"),
    ("security", "AWS::IAM::ManagedPolicy", f"breakglass-policy-{SUFFIX}"),
}
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/role-breakglass-{SUFFIX}"
CLOUDFORMATION = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-us-east-1"
# Properties that carry a resource's physical name (or, for a subscription, what it names).
NAME_PROPERTIES = ("Name", "Identifier", "Endpoint", "Alias", "AliasName")


@pytest.fixture(scope="module")
def prod_stack() -> TapStack:
    return synthesized(profile="prod", alarmEmail=EMAIL)


@pytest.fixture(scope="module")
def prod(prod_stack: TapStack) -> Templates:
    return templates_of(prod_stack)


def _named_resources(templates: Templates) -> set[tuple[str, str, str]]:
    """(layer, type, physical name) of every resource that has a literal name."""
    named = set()
    for layer, template in templates.all().items():
        for resource in template.to_json()["Resources"].values():
            for key, value in resource.get("Properties", {}).items():
                if isinstance(value, str) and key.endswith(NAME_PROPERTIES):
                    named.add((layer, resource["Type"], value))
    return named


def _logical_ids(templates: Templates) -> dict[str, set[str]]:
    return {layer: set(template.to_json()["Resources"]) for layer, template in templates.all().items()}


def test_same_resources_and_names_in_both_but_prods_extra_reader_and_pager(templates: Templates, prod: Templates):
    dev_names, prod_names = _named_resources(templates), _named_resources(prod)
    assert prod_names - dev_names == PROD_ONLY
    assert dev_names <= prod_names
    dev_ids, prod_ids = _logical_ids(templates), _logical_ids(prod)
    extra = {layer: prod_ids[layer] - dev_ids[layer] for layer in dev_ids}
    assert {layer: len(ids) for layer, ids in extra.items() if ids} == {"data": 1, "resilience": 1, "security": 2}
    # dev's data bucket alone empties itself on destroy (CDK's auto-delete custom resource)
    missing = {layer: dev_ids[layer] - prod_ids[layer] for layer in dev_ids}
    assert {layer: len(ids) for layer, ids in missing.items() if ids} == {"data": 1}
    (auto_delete,) = missing["data"]
    assert templates.data.to_json()["Resources"][auto_delete]["Type"] == "Custom::S3AutoDeleteObjects"


def test_recovery_objectives_and_alarm_thresholds_are_the_same(templates: Templates, prod: Templates) -> None:
    def plan(layers: Templates) -> dict[str, Any]:
        return only(layers.resilience, "AWS::Backup::BackupPlan")["Properties"]["BackupPlan"]

    assert plan(prod) == plan(templates)

    def alarms(layers: Templates) -> dict[str, tuple[Any, ...]]:
        found = {}
        for template in layers.all().values():
            for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
                p = alarm["Properties"]
                found[p["AlarmName"]] = (p["Threshold"], p["EvaluationPeriods"], p.get("TreatMissingData"))
        return found

    assert alarms(prod) == alarms(templates)


def test_dev_aurora_scales_to_zero_and_pauses_prod_keeps_a_warm_floor(templates: Templates, prod: Templates) -> None:
    dev_scaling = only(templates.data, "AWS::RDS::DBCluster")["Properties"]["ServerlessV2ScalingConfiguration"]
    prod_scaling = only(prod.data, "AWS::RDS::DBCluster")["Properties"]["ServerlessV2ScalingConfiguration"]
    assert dev_scaling["MinCapacity"] == 0
    assert dev_scaling["SecondsUntilAutoPause"] == DEV.aurora_seconds_until_auto_pause
    assert prod_scaling["MinCapacity"] >= 2
    assert "SecondsUntilAutoPause" not in prod_scaling
    assert prod_scaling["MaxCapacity"] > dev_scaling["MaxCapacity"]


def test_prod_has_a_writer_and_a_reader_in_each_of_the_three_azs(prod: Templates) -> None:
    instances = [i["Properties"] for i in prod.data.find_resources("AWS::RDS::DBInstance").values()]
    zones = {p["DBInstanceIdentifier"]: p["AvailabilityZone"] for p in instances}
    assert zones == {
        f"aurora-writer-{SUFFIX}": DEFAULT_AVAILABILITY_ZONES[0],
        f"aurora-reader-{SUFFIX}": DEFAULT_AVAILABILITY_ZONES[1],
        f"aurora-reader-2-{SUFFIX}": DEFAULT_AVAILABILITY_ZONES[2],
    }
    # Both readers fail over with the writer's capacity (tier 1), not from a cold floor.
    assert sorted(p["PromotionTier"] for p in instances) == [0, 1, 1]


def test_only_prod_protects_its_data(
    tap_stack: TapStack, templates: Templates, prod_stack: TapStack, prod: Templates
) -> None:
    for layers, protected in ((templates, False), (prod, True)):
        assert only(layers.data, "AWS::RDS::DBCluster")["Properties"]["DeletionProtection"] is protected
        assert only(layers.data, "AWS::DynamoDB::Table")["Properties"]["DeletionProtectionEnabled"] is protected
    assert (tap_stack.termination_protection, prod_stack.termination_protection) == (False, True)
    # Protection is the flags, not a RETAIN that would orphan fixed names: both delete once unprotected.
    for layers in (templates, prod):
        assert only(layers.data, "AWS::RDS::DBCluster")["DeletionPolicy"] == "Delete"
        assert only(layers.data, "AWS::DynamoDB::Table")["DeletionPolicy"] == "Delete"
        assert only(layers.resilience, "AWS::Backup::BackupVault")["DeletionPolicy"] == "Delete"


def test_only_prods_vault_is_locked_in_governance_mode_within_the_retention(
    templates: Templates, prod: Templates
) -> None:
    assert "LockConfiguration" not in only(templates.resilience, "AWS::Backup::BackupVault")["Properties"]
    lock = only(prod.resilience, "AWS::Backup::BackupVault")["Properties"]["LockConfiguration"]
    assert lock == {"MinRetentionDays": 7}  # no ChangeableForDays: governance mode, liftable before a destroy
    (rule,) = only(prod.resilience, "AWS::Backup::BackupPlan")["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert lock["MinRetentionDays"] <= rule["Lifecycle"]["DeleteAfterDays"]


def test_log_retention_is_a_week_in_dev_and_a_year_in_prod(templates: Templates, prod: Templates) -> None:
    for layers, days in ((templates, 7), (prod, 365)):
        retentions = {
            group["Properties"]["LogGroupName"]: group["Properties"]["RetentionInDays"]
            for template in layers.all().values()
            for group in template.find_resources("AWS::Logs::LogGroup").values()
        }
        assert len(retentions) >= 5
        assert set(retentions.values()) == {days}, retentions


def test_prod_pages_its_alert_email(prod: Templates) -> None:
    subscription = only(prod.resilience, "AWS::SNS::Subscription")["Properties"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", EMAIL)


def test_the_profile_is_an_output_and_a_tag(templates: Templates, prod: Templates) -> None:
    for layers, name in ((templates, "dev"), (prod, "prod")):
        assert layers.parent.find_outputs("Profile")["Profile"]["Value"] == name
        tags = only(layers.data, "AWS::DynamoDB::Table")["Properties"]["Tags"]
        assert {"Key": "Profile", "Value": name} in tags


def _key_policies(layers: Templates) -> dict[str, list[dict[str, Any]]]:
    """Each key's policy statements, by the key's alias name."""
    resources = layers.security.to_json()["Resources"]
    aliases = {
        alias["Properties"]["TargetKeyId"]["Fn::GetAtt"][0]: alias["Properties"]["AliasName"]
        for alias in resources.values()
        if alias["Type"] == "AWS::KMS::Alias"
    }
    return {
        aliases[logical_id]: resource["Properties"]["KeyPolicy"]["Statement"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::KMS::Key"
    }


def _denies(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [statement for statement in statements if statement["Effect"] == "Deny"]


def test_only_prod_keeps_the_recovery_points_keys_from_being_disabled_or_deleted_but_by_break_glass(
    templates: Templates, prod: Templates
) -> None:
    """The keys of the recovery points: AWS Backup's Aurora snapshots keep the cluster's key, the vault's
    key encrypts the rest. Disabling or deleting either would make the points useless."""
    assert not any(_denies(statements) for statements in _key_policies(templates).values())  # dev destroys all
    policies = _key_policies(prod)
    for alias in (f"alias/aurora-key-{SUFFIX}", f"alias/backup-key-{SUFFIX}"):
        assert _denies(policies[alias]) == [
            {
                "Sid": "OnlyBreakGlassDisablesOrDeletesTheKey",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["kms:DisableKey", "kms:ScheduleKeyDeletion"],
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [BREAK_GLASS]}},
            },
            {
                "Sid": "OnlyBreakGlassOrCloudFormationChangesTheKeyPolicy",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "kms:PutKeyPolicy",
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [BREAK_GLASS, CLOUDFORMATION]}},
            },
        ]
    others = {
        alias: statements
        for alias, statements in policies.items()
        if "aurora-key" not in alias and "backup-key" not in alias
    }
    assert len(others) == 2 and not any(_denies(statements) for statements in others.values())


def test_only_prod_has_the_break_glass_role_assumable_with_mfa_for_unprotect_alone(prod: Templates) -> None:
    roles = prod.security.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": f"role-breakglass-{SUFFIX}"}})
    (role,) = roles.values()
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        }
    ]
    assert "ManagedPolicyArns" not in role["Properties"] and "Policies" not in role["Properties"]
    (policy,) = (
        policy["Properties"]
        for policy in prod.security.find_resources("AWS::IAM::ManagedPolicy").values()
        if policy["Properties"]["ManagedPolicyName"] == f"breakglass-policy-{SUFFIX}"
    )
    actions = {
        action
        for statement in policy["PolicyDocument"]["Statement"]
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }
    assert {a for a in actions if not a.startswith(("kms:", "backup:"))} == {
        "cloudformation:DescribeStacks",
        "cloudformation:UpdateTerminationProtection",
        "rds:DescribeDBClusters",
        "rds:ModifyDBCluster",
        "dynamodb:DescribeTable",
        "dynamodb:UpdateTable",
        "s3:ListBucketVersions",
        "s3:GetBucketTagging",
        "s3:DeleteObjectVersion",
    }
    assert {a for a in actions if a.startswith(("kms:", "backup:"))} == {
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "backup:ListBackupVaults",
        "backup:GetBackupVaultAccessPolicy",
        "backup:DeleteBackupVaultAccessPolicy",
        "backup:DeleteBackupVaultLockConfiguration",
    }


def test_only_devs_data_bucket_empties_itself_on_destroy(templates: Templates, prod: Templates) -> None:
    for layers, auto_deletes in ((templates, True), (prod, False)):
        tagged = layers.data.find_resources(
            "AWS::S3::Bucket",
            {"Properties": {"Tags": Match.array_with([{"Key": "aws-cdk:auto-delete-objects", "Value": "true"}])}},
        )
        names = {bucket["Properties"]["BucketName"] for bucket in tagged.values()}
        assert (f"data-bucket-{ACCOUNT}-{SUFFIX}" in names) is auto_deletes
        assert f"access-logs-{ACCOUNT}-{SUFFIX}" in names  # logs only: it empties itself in every profile


def test_the_vault_policy_lets_only_the_cleanup_in_dev_and_the_break_glass_role_in_prod_delete(
    templates: Templates, prod: Templates
) -> None:
    """AWS Backup Developer Guide, "Vault access policies": deleting recovery points, changing their
    lifecycle and lifting the vault's protection are denied to every principal but the guardian (and,
    for the protection, CloudFormation, which applies AccessPolicy and LockConfiguration on updates)."""
    cleanup_role = next(
        logical_id
        for logical_id, role in templates.resilience.find_resources("AWS::IAM::Role").items()
        if role["Properties"]["RoleName"] == f"vault-cleanup-role-{SUFFIX}"
    )
    for layers, sid, guardian in (
        (templates, "OnlyTheVaultCleanupDeletesRecoveryPoints", {"Fn::GetAtt": [cleanup_role, "Arn"]}),
        (prod, "OnlyBreakGlassDeletesRecoveryPoints", BREAK_GLASS),
    ):
        policy = only(layers.resilience, "AWS::Backup::BackupVault")["Properties"]["AccessPolicy"]
        assert policy["Statement"] == [
            {
                "Sid": sid,
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"],
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [guardian]}},
            },
            {
                "Sid": "OnlyTheGuardianOrCloudFormationChangesTheProtection",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": [
                    "backup:PutBackupVaultAccessPolicy",
                    "backup:DeleteBackupVaultAccessPolicy",
                    "backup:PutBackupVaultLockConfiguration",
                    "backup:DeleteBackupVaultLockConfiguration",
                ],
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [guardian, CLOUDFORMATION]}},
            },
        ]


def test_dev_pauses_between_canary_runs_tests_restores_twice_a_month_and_pays_for_two_endpoint_azs(
    templates: Templates, prod: Templates
) -> None:
    """What issue #18 trades on dev, pinned in the templates: an hourly canary (just before the hourly
    backup) with Aurora pausing 5 minutes after it, restore tests twice a month, endpoint ENIs in 2 AZs; prod
    keeps a 5-minute canary, a warm floor, daily restore tests and 3 AZs."""

    def canary(layers: Templates) -> tuple[str, int]:
        rule = only(layers.compute, "AWS::Events::Rule")["Properties"]
        return rule["ScheduleExpression"], rule["Targets"][0]["RetryPolicy"]["MaximumEventAgeInSeconds"]

    def restore_schedule(layers: Templates) -> str:
        return str(only(layers.resilience, "AWS::Backup::RestoreTestingPlan")["Properties"]["ScheduleExpression"])

    def endpoint_azs(layers: Templates) -> set[int]:
        endpoints = layers.network.find_resources(
            "AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}}
        )
        return {len(e["Properties"]["SubnetIds"]) for e in endpoints.values()}

    def not_running_period(layers: Templates) -> int:
        alarms = layers.resilience.find_resources("AWS::CloudWatch::Alarm")
        alarm = next(a for a in alarms.values() if a["Properties"]["AlarmName"] == f"health-check-not-running-{SUFFIX}")
        return int(alarm["Properties"]["Period"])

    pause = only(templates.data, "AWS::RDS::DBCluster")["Properties"]["ServerlessV2ScalingConfiguration"]
    assert canary(templates) == ("cron(55 * * * ? *)", 3600)
    assert not_running_period(templates) == 3600
    assert pause["MinCapacity"] == 0 and 300 <= pause["SecondsUntilAutoPause"] < 3600
    assert restore_schedule(templates) == "cron(0 5 1,15 * ? *)"
    assert endpoint_azs(templates) == {2}

    assert canary(prod) == ("rate(5 minutes)", 300)
    assert not_running_period(prod) == 300
    assert restore_schedule(prod) == "cron(0 5 ? * * *)"
    assert endpoint_azs(prod) == {3}
    assert (DEV.canary_interval_minutes, PROD.canary_interval_minutes) == (60, 5)
