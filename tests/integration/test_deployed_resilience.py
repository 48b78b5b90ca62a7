"""The deployed backup plan, alerting and dashboard."""

from __future__ import annotations

import json

import pytest

from lib import output_keys as keys

pytestmark = pytest.mark.aws_minutes(0.5)


def test_vault_is_encrypted_with_the_backup_key(client, outputs, suffix) -> None:
    vault = client("backup").describe_backup_vault(BackupVaultName=outputs[keys.BACKUP_VAULT_NAME])
    assert vault["BackupVaultName"] == f"backup-vault-{suffix}"
    assert vault["EncryptionKeyArn"] == outputs[keys.BACKUP_KEY_ARN]


def test_only_a_protecting_profile_locks_the_vault_and_the_stack(client, outputs, config) -> None:
    vault = client("backup").describe_backup_vault(BackupVaultName=outputs[keys.BACKUP_VAULT_NAME])
    assert vault.get("Locked", False) is (config.profile.vault_lock_min_retention_days is not None)
    assert vault.get("MinRetentionDays") == config.profile.vault_lock_min_retention_days
    (stack,) = client("cloudformation").describe_stacks(StackName=config.stack_name)["Stacks"]
    assert stack["EnableTerminationProtection"] is config.profile.deletion_protection


def test_the_vault_policy_lets_only_the_profiles_guardian_delete_recovery_points(client, outputs, config) -> None:
    """dev: the vault cleanup empties the vault on destroy; prod: only the break-glass role (RUNBOOK, 7)."""
    answer = client("backup").get_backup_vault_access_policy(BackupVaultName=outputs[keys.BACKUP_VAULT_NAME])
    statements = {statement["Sid"]: statement for statement in json.loads(answer["Policy"])["Statement"]}
    guardian = "role-breakglass" if config.profile.deletion_protection else "vault-cleanup-role"
    sid = (
        "OnlyBreakGlassDeletesRecoveryPoints"
        if config.profile.deletion_protection
        else "OnlyTheVaultCleanupDeletesRecoveryPoints"
    )
    deletes = statements[sid]
    assert (deletes["Effect"], deletes["Principal"]) == ("Deny", {"AWS": "*"})
    assert set(deletes["Action"]) == {"backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"}
    (exempt,) = [deletes["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]]
    assert [arn.rsplit("/", 1)[-1] for arn in (exempt if isinstance(exempt, list) else [exempt])] == [
        config.name(guardian)
    ]
    assert (
        "backup:DeleteBackupVaultLockConfiguration"
        in statements["OnlyTheGuardianOrCloudFormationChangesTheProtection"]["Action"]
    )


def test_plan_backs_up_hourly_into_the_vault_for_seven_days(client, outputs) -> None:
    plan = client("backup").get_backup_plan(BackupPlanId=outputs[keys.BACKUP_PLAN_ID])["BackupPlan"]
    (rule,) = plan["Rules"]
    assert rule["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert rule["TargetBackupVaultName"] == outputs[keys.BACKUP_VAULT_NAME]
    assert rule["Lifecycle"]["DeleteAfterDays"] == 7
    assert not rule.get("CopyActions")


def test_alert_topic_is_encrypted(client, outputs) -> None:
    attributes = client("sns").get_topic_attributes(TopicArn=outputs[keys.ALERTS_TOPIC_ARN])["Attributes"]
    assert attributes["KmsMasterKeyId"] == outputs[keys.LOGS_KEY_ARN]


def test_a_profile_that_pages_has_its_alert_email_subscribed(client, outputs, config) -> None:
    topic = outputs[keys.ALERTS_TOPIC_ARN]
    subscriptions = client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert any(s["Protocol"] == "email" for s in subscriptions) or not config.profile.alarm_email_required


def test_alarms_and_eventbridge_may_publish_to_the_topic(client, outputs) -> None:
    attributes = client("sns").get_topic_attributes(TopicArn=outputs[keys.ALERTS_TOPIC_ARN])["Attributes"]
    publishers = {
        s["Principal"]["Service"]
        for s in json.loads(attributes["Policy"])["Statement"]
        if s["Effect"] == "Allow" and s["Action"] == "sns:Publish"
    }
    assert publishers == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}


def test_backup_job_rules_target_the_topic(client, outputs, suffix) -> None:
    events = client("events")
    for name, states in (
        (f"backup-job-failed-{suffix}", ["FAILED", "ABORTED", "EXPIRED"]),
        (f"backup-job-completed-{suffix}", ["COMPLETED"]),
    ):
        rule = events.describe_rule(Name=name)
        assert rule["State"] == "ENABLED"
        pattern = json.loads(rule["EventPattern"])
        assert pattern["source"] == ["aws.backup"] and pattern["detail"]["state"] == states
        (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
        assert target["Arn"] == outputs[keys.ALERTS_TOPIC_ARN]


def test_alarms_notify_the_topic(client, outputs, suffix) -> None:
    pages = client("cloudwatch").get_paginator("describe_alarms").paginate()
    ours = {a["AlarmName"]: a for page in pages for a in page["MetricAlarms"] if a["AlarmName"].endswith(f"-{suffix}")}
    for name in (
        "backup-job-failures",
        "rpo-aurora-cluster",
        "rpo-dynamodb-table",
        "rpo-data-bucket",
        "undelivered-alerts",
        "aurora-cpu-high",
        "dynamodb-throttling",
        "health-check-errors",
    ):
        alarm = ours[f"{name}-{suffix}"]
        assert alarm["AlarmActions"] == [outputs[keys.ALERTS_TOPIC_ARN]]
        assert alarm["OKActions"] == [outputs[keys.ALERTS_TOPIC_ARN]]


def test_dashboard_has_widgets(client, outputs, suffix) -> None:
    dashboard = client("cloudwatch").get_dashboard(DashboardName=outputs[keys.DASHBOARD_NAME])
    assert dashboard["DashboardName"] == f"dr-dashboard-{suffix}"
    assert len(json.loads(dashboard["DashboardBody"])["widgets"]) >= 10


def test_selection_covers_aurora_dynamodb_and_s3_with_the_backup_role(client, outputs, suffix) -> None:
    backup = client("backup")
    (listed,) = backup.list_backup_selections(BackupPlanId=outputs[keys.BACKUP_PLAN_ID])["BackupSelectionsList"]
    selection = backup.get_backup_selection(
        BackupPlanId=outputs[keys.BACKUP_PLAN_ID], SelectionId=listed["SelectionId"]
    )["BackupSelection"]
    assert selection["SelectionName"] == f"backup-selection-{suffix}"
    assert selection["IamRoleArn"] == outputs[keys.BACKUP_ROLE_ARN]
    resources = selection["Resources"]
    assert len(resources) == 3
    assert any(r.endswith(f":cluster:aurora-cluster-{suffix}") for r in resources)
    assert any(r.endswith(f":table/{outputs[keys.TABLE_NAME]}") for r in resources)
    assert f"arn:aws:s3:::{outputs[keys.BUCKET_NAME]}" in resources
