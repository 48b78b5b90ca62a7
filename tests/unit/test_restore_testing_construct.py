"""Restore testing in the resilience layer, read from the session's synthesized app."""

from __future__ import annotations

from typing import Any

from lib.config import RecoveryObjectives
from lib.constructs.restore_testing import (
    COPY_PREFIX,
    INSTANCE_DEADLINE_MINUTES,
    NAMESPACE,
    SWEEP_MINUTES,
    UNSCOPABLE_ACTIONS,
    VALIDATION_WINDOW_HOURS,
)
from tests.unit.templates import ACCOUNT, SUFFIX, Templates, only


def _by_name(templates: Templates, resource_type: str, name_property: str) -> dict[str, Any]:
    found = templates.resilience.find_resources(resource_type)
    return {r["Properties"].get(name_property): r for r in found.values()}


def _function(templates: Templates, name: str) -> dict[str, Any]:
    return _by_name(templates, "AWS::Lambda::Function", "FunctionName")[name]


def test_plan_restores_the_latest_snapshot_of_the_vault_on_the_profiles_schedule(templates: Templates) -> None:
    plan = only(templates.resilience, "AWS::Backup::RestoreTestingPlan")
    properties = plan["Properties"]
    # Restore testing names allow letters, digits and underscores only.
    assert properties["RestoreTestingPlanName"] == f"restore_testing_plan_{SUFFIX}"
    # Dev: the 1st and 15th at 05:00 UTC, between the hourly backups' busy minutes; prod: test_profiles.
    assert (properties["ScheduleExpression"], properties["StartWindowHours"]) == ("cron(0 5 1,15 * ? *)", 1)
    selection = properties["RecoveryPointSelection"]
    assert (selection["Algorithm"], selection["RecoveryPointTypes"], selection["SelectionWindowDays"]) == (
        "LATEST_WITHIN_WINDOW",
        ["SNAPSHOT"],
        1,
    )
    [vault_arn] = selection["IncludeVaults"]
    vault_id = next(iter(templates.resilience.find_resources("AWS::Backup::BackupVault")))
    assert vault_arn == {"Fn::GetAtt": [vault_id, "BackupVaultArn"]}


def test_selections_test_aurora_and_dynamodb_with_the_restore_testing_role(templates: Templates) -> None:
    selections = _by_name(templates, "AWS::Backup::RestoreTestingSelection", "RestoreTestingSelectionName")
    assert set(selections) == {f"restore_test_aurora_{SUFFIX}", f"restore_test_dynamodb_{SUFFIX}"}
    plan_id = next(iter(templates.resilience.find_resources("AWS::Backup::RestoreTestingPlan")))
    role_arns = set()
    for selection in selections.values():
        properties = selection["Properties"]
        assert properties["RestoreTestingPlanName"] == f"restore_testing_plan_{SUFFIX}"
        assert plan_id in selection["DependsOn"]
        assert properties["ValidationWindowHours"] == 2 and len(properties["ProtectedResourceArns"]) == 1
        role_arns.add(str(properties["IamRoleArn"]))
    assert len(role_arns) == 1 and "RestoreTestingRole" in role_arns.pop()  # not the backup role
    aurora = selections[f"restore_test_aurora_{SUFFIX}"]["Properties"]
    assert aurora["ProtectedResourceType"] == "Aurora"
    assert set(aurora["RestoreMetadataOverrides"]) == {
        "DBSubnetGroupName",
        "VpcSecurityGroupIds",
        "EnableIAMDatabaseAuthentication",  # the probe logs in to the copy with an IAM token
    }
    assert aurora["RestoreMetadataOverrides"]["EnableIAMDatabaseAuthentication"] == "true"
    assert selections[f"restore_test_dynamodb_{SUFFIX}"]["Properties"]["ProtectedResourceType"] == "DynamoDB"


def test_validator_runs_in_the_vpc_and_logs_in_as_its_own_database_user(templates: Templates) -> None:
    """One function: it reaches the AWS APIs through VPC endpoints and the restored copy on 5432
    (there is no probe function any more: a split that existed only because it ran outside the VPC)."""
    validator = _function(templates, f"restore-validation-{SUFFIX}")["Properties"]
    assert validator["Handler"] == "handler.handler"
    assert len(validator["VpcConfig"]["SubnetIds"]) == 3 and len(validator["VpcConfig"]["SecurityGroupIds"]) == 1
    assert f"restore-validation-probe-{SUFFIX}" not in _by_name(templates, "AWS::Lambda::Function", "FunctionName")
    env = validator["Environment"]["Variables"]
    assert env["RTO_MINUTES"] == str(RecoveryObjectives().rto_minutes)
    assert env["INSTANCE_DEADLINE_MINUTES"] == str(INSTANCE_DEADLINE_MINUTES)
    assert env["METRICS_NAMESPACE"] == NAMESPACE and "PROBE_FUNCTION_NAME" not in env
    assert "DB_SECRET_ARN" not in env and env["DB_USER"] == "dr_restore_probe"  # IAM token, no master secret
    assert env["DB_CA_BUNDLE"] == "dr_common/rds-ca-us-east-1-bundle.pem"  # verified TLS to the copy
    # Only restore tests of the kit's own cluster and table are validated (nested-stack parameters).
    assert {"SOURCE_CLUSTER_ARN", "SOURCE_TABLE_ARN"} <= set(env)
    plan_id = next(iter(templates.resilience.find_resources("AWS::Backup::RestoreTestingPlan")))
    assert env["RESTORE_TESTING_PLAN_ARN"] == {"Fn::GetAtt": [plan_id, "RestoreTestingPlanArn"]}
    assert "KmsKeyArn" in validator  # its failures: the on-failure destination (test_function_wiring.py)


def test_rule_sends_this_plans_finished_restore_jobs_to_the_validator_with_dlq(templates: Templates) -> None:
    rule = _by_name(templates, "AWS::Events::Rule", "Name")[f"restore-test-jobs-{SUFFIX}"]["Properties"]
    pattern = rule["EventPattern"]
    assert (pattern["source"], pattern["detail-type"]) == (["aws.backup"], ["Restore Job State Change"])
    assert set(pattern["detail"]["status"]) == {"COMPLETED", "FAILED", "ABORTED"}
    assert "restoreTestingPlanArn" in pattern["detail"]
    [target] = rule["Targets"]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_writer_created_events_of_restore_test_copies_reach_the_validator(templates: Templates) -> None:
    rule = _by_name(templates, "AWS::Events::Rule", "Name")[f"restore-test-writers-{SUFFIX}"]["Properties"]
    pattern = rule["EventPattern"]
    assert (pattern["source"], pattern["detail-type"]) == (["aws.rds"], ["RDS DB Instance Event"])
    assert pattern["detail"]["EventID"] == ["RDS-EVENT-0005"]  # "DB instance created"
    [prefix] = pattern["detail"]["SourceArn"]
    assert prefix["prefix"] == f"arn:aws:rds:us-east-1:{ACCOUNT}:db:{COPY_PREFIX}"
    [target] = rule["Targets"]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    validator = next(
        iter(
            templates.resilience.find_resources(
                "AWS::Lambda::Function", {"Properties": {"FunctionName": f"restore-validation-{SUFFIX}"}}
            )
        )
    )
    assert target["Arn"] == {"Fn::GetAtt": [validator, "Arn"]}


def test_the_sweep_runs_often_enough_to_act_inside_the_validation_window(templates: Templates) -> None:
    rule = _by_name(templates, "AWS::Events::Rule", "Name")[f"restore-test-sweep-{SUFFIX}"]["Properties"]
    assert rule["ScheduleExpression"] == f"rate({SWEEP_MINUTES} minutes)"
    # A late writer is failed and deleted (deletion takes minutes) before AWS Backup deletes the copy.
    assert INSTANCE_DEADLINE_MINUTES + SWEEP_MINUTES + 15 <= VALIDATION_WINDOW_HOURS * 60


def test_alarms_page_on_a_failed_test_and_on_a_restore_over_the_rto(templates: Templates) -> None:
    alarms = _by_name(templates, "AWS::CloudWatch::Alarm", "AlarmName")
    failed = alarms[f"restore-test-failed-{SUFFIX}"]["Properties"]
    slow = alarms[f"restore-test-over-rto-{SUFFIX}"]["Properties"]
    assert (failed["MetricName"], failed["Namespace"], failed["Threshold"]) == ("RestoreValidationFailed", NAMESPACE, 1)
    assert (slow["MetricName"], slow["Threshold"]) == ("RestoreDurationMinutes", RecoveryObjectives().rto_minutes)
    assert slow["ComparisonOperator"] == "GreaterThanThreshold"
    for alarm in (failed, slow):
        assert alarm["AlarmActions"] and alarm["OKActions"]


def test_validator_policy_is_exact(templates: Templates) -> None:
    policies = _by_name(templates, "AWS::IAM::ManagedPolicy", "ManagedPolicyName")
    statements = {
        s["Sid"]: s
        for s in policies[f"restore-validation-policy-{SUFFIX}"]["Properties"]["PolicyDocument"]["Statement"]
    }
    assert set(statements["ReportValidation"]["Action"]) == set(UNSCOPABLE_ACTIONS)
    assert statements["ReportValidation"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    assert statements["ReadRestoredTables"]["Action"] == "dynamodb:Query"
    assert statements["ReadRestoredTables"]["Resource"].endswith(f":table/{COPY_PREFIX}*")
    copy_clusters, copy_instances = (
        statements["PrepareRestoredClusters"]["Resource"],
        statements["ManageWriters"]["Resource"],
    )
    assert copy_clusters.endswith(f":cluster:{COPY_PREFIX}*") and copy_instances.endswith(f":db:{COPY_PREFIX}*")
    assert set(statements["PrepareRestoredClusters"]["Action"]) == {"rds:DescribeDBClusters", "rds:ModifyDBCluster"}
    # CreateDBInstance is authorized on the new instance and on the cluster it joins.
    assert statements["AddWriters"]["Action"] == "rds:CreateDBInstance"
    assert set(statements["AddWriters"]["Resource"]) == {copy_instances, copy_clusters}
    assert set(statements["ManageWriters"]["Action"]) == {
        "rds:AddTagsToResource",
        "rds:DescribeDBInstances",
        "rds:DeleteDBInstance",
    }
    assert not any("*" in action for s in statements.values() for action in _actions(s))
    assert "InvokeProbe" not in statements
    assert "ReadDatabaseSecret" not in statements and "DecryptDatabaseSecret" not in statements
    assert statements["ConnectAsOwnDatabaseUser"]["Action"] == "rds-db:connect"
    assert statements["ConnectAsOwnDatabaseUser"]["Resource"].endswith(":dbuser:cluster-*/dr_restore_probe")
    assert "ec2:CreateNetworkInterface" in statements["ManageVpcNetworkInterfaces"]["Action"]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_restore_testing_log_groups_are_encrypted_and_destroyed(templates: Templates) -> None:
    groups = _by_name(templates, "AWS::Logs::LogGroup", "LogGroupName")
    assert f"/aws/lambda/restore-validation-probe-{SUFFIX}" not in groups
    for name in (f"/aws/lambda/restore-validation-{SUFFIX}",):
        assert "KmsKeyId" in groups[name]["Properties"] and groups[name]["DeletionPolicy"] == "Delete"
