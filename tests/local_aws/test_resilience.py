"""AWS Backup, CloudWatch alarms, SNS topic and SQS queue policies."""

from __future__ import annotations

import json
from typing import Any

from .helpers import get_att, ref, template

TRUST_BACKUP = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _backup(suffix: str) -> dict[str, Any]:
    rule = {
        "RuleName": "hourly",
        "TargetBackupVault": ref("Vault"),
        "ScheduleExpression": "cron(0 * * * ? *)",
        "StartWindowMinutes": 60,
        "CompletionWindowMinutes": 120,
        "Lifecycle": {"DeleteAfterDays": 7},
    }
    selection = {
        "SelectionName": f"selection-{suffix}",
        "IamRoleArn": get_att("Role", "Arn"),
        "Resources": [f"arn:aws:dynamodb:us-east-1:123456789012:table/table-{suffix}"],
    }
    resources = {
        "Vault": {"Type": "AWS::Backup::BackupVault", "Properties": {"BackupVaultName": f"vault-{suffix}"}},
        "Plan": {
            "Type": "AWS::Backup::BackupPlan",
            "Properties": {"BackupPlan": {"BackupPlanName": f"plan-{suffix}", "BackupPlanRule": [rule]}},
        },
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST_BACKUP}},
        "Selection": {
            "Type": "AWS::Backup::BackupSelection",
            "Properties": {"BackupPlanId": ref("Plan"), "BackupSelection": selection},
        },
    }
    outputs = {
        "VaultName": get_att("Vault", "BackupVaultName"),
        "VaultArn": get_att("Vault", "BackupVaultArn"),
        "PlanId": get_att("Plan", "BackupPlanId"),
        "SelectionId": get_att("Selection", "SelectionId"),
        "RoleArn": get_att("Role", "Arn"),
    }
    return template(resources, outputs)


def test_r8_backup_vault_and_plan_with_translated_rules(cfn, aws, suffix):
    backup = aws("backup")
    stack = cfn.deploy(_backup(suffix))

    vault = backup.describe_backup_vault(BackupVaultName=stack.outputs["VaultName"])
    plan = backup.get_backup_plan(BackupPlanId=stack.outputs["PlanId"])["BackupPlan"]

    assert (stack.outputs["VaultName"], vault["BackupVaultArn"]) == (f"vault-{suffix}", stack.outputs["VaultArn"])
    assert plan["BackupPlanName"] == f"plan-{suffix}"
    [rule] = plan["Rules"]
    assert rule["TargetBackupVaultName"] == f"vault-{suffix}"
    assert (rule["ScheduleExpression"], rule["StartWindowMinutes"], rule["CompletionWindowMinutes"]) == (
        "cron(0 * * * ? *)",
        60,
        120,
    )
    assert rule["Lifecycle"] == {"DeleteAfterDays": 7}


def test_r8_vault_and_plan_are_deleted_with_the_stack(cfn, aws, suffix):
    backup = aws("backup")
    stack = cfn.deploy(_backup(suffix))

    assert cfn.delete(stack).status == "DELETE_COMPLETE"

    assert f"vault-{suffix}" not in {v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]}
    assert stack.outputs["PlanId"] not in {p["BackupPlanId"] for p in backup.list_backup_plans()["BackupPlansList"]}


def test_f11_vault_lock_configuration_is_applied_in_governance_mode(cfn, aws, suffix):
    backup = aws("backup")
    body = _backup(suffix)
    body["Resources"]["Vault"]["Properties"]["LockConfiguration"] = {"MinRetentionDays": 7}
    stack = cfn.deploy(body)

    (vault,) = [v for v in backup.list_backup_vaults()["BackupVaultList"] if v["BackupVaultName"] == f"vault-{suffix}"]
    assert (vault["Locked"], vault["MinRetentionDays"], vault.get("LockDate")) == (True, 7, None)
    # Governance mode: a permitted principal lifts the lock at any time.
    backup.delete_backup_vault_lock_configuration(BackupVaultName=f"vault-{suffix}")
    assert cfn.delete(stack).status == "DELETE_COMPLETE"


def test_r11_plan_name_is_free_again_after_the_stack_is_deleted(cfn, aws, suffix):
    cfn.delete(cfn.deploy(_backup(suffix)))

    again = cfn.deploy(_backup(suffix))

    assert again.status == "CREATE_COMPLETE"
    assert (
        aws("backup").get_backup_plan(BackupPlanId=again.outputs["PlanId"])["BackupPlan"]["BackupPlanName"]
        == f"plan-{suffix}"
    )


def test_n6_backup_selection_can_be_read_back_and_is_deleted(cfn, aws, suffix):
    backup = aws("backup")
    stack = cfn.deploy(_backup(suffix))
    plan_id, selection_id = stack.outputs["PlanId"], stack.outputs["SelectionId"]

    listed = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    selection = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=selection_id)["BackupSelection"]

    assert [s["SelectionName"] for s in listed] == [f"selection-{suffix}"]
    assert selection["Resources"] == [f"arn:aws:dynamodb:us-east-1:123456789012:table/table-{suffix}"]
    assert selection["IamRoleArn"] == stack.outputs["RoleArn"]
    backup.delete_backup_selection(BackupPlanId=plan_id, SelectionId=selection_id)
    assert backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"] == []


def _alarms(suffix: str) -> dict[str, Any]:
    common = {"ComparisonOperator": "GreaterThanOrEqualToThreshold", "EvaluationPeriods": 1, "Threshold": 1}
    single = {
        "AlarmName": f"errors-{suffix}",
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "health-check"}],
        "Statistic": "Sum",
        "Period": 300,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [ref("Topic")],
        **common,
    }

    def throttle_metric(query_id: str, name: str) -> dict[str, Any]:
        metric = {"Namespace": "AWS/DynamoDB", "MetricName": name, "Dimensions": [{"Name": "TableName", "Value": "t"}]}
        return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": 300, "Stat": "Sum"}, "ReturnData": False}

    math = {
        "AlarmName": f"throttles-{suffix}",
        "Metrics": [
            {"Id": "total", "Expression": "reads + writes", "ReturnData": True},
            throttle_metric("reads", "ReadThrottleEvents"),
            throttle_metric("writes", "WriteThrottleEvents"),
        ],
        **common,
    }
    return template(
        {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Errors": {"Type": "AWS::CloudWatch::Alarm", "Properties": single},
            "Throttles": {"Type": "AWS::CloudWatch::Alarm", "Properties": math},
        },
        {"Topic": ref("Topic"), "ErrorsArn": get_att("Errors", "Arn")},
    )


def test_q2_alarms_single_metric_and_metric_math(cfn, aws, suffix):
    cloudwatch = aws("cloudwatch")
    stack = cfn.deploy(_alarms(suffix))

    alarms = {
        a["AlarmName"]: a
        for a in cloudwatch.describe_alarms(AlarmNames=[f"errors-{suffix}", f"throttles-{suffix}"])["MetricAlarms"]
    }

    errors, throttles = alarms[f"errors-{suffix}"], alarms[f"throttles-{suffix}"]
    assert (errors["Namespace"], errors["MetricName"], errors["Period"], errors["Statistic"]) == (
        "AWS/Lambda",
        "Errors",
        300,
        "Sum",
    )
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": "health-check"}]
    assert (errors["TreatMissingData"], errors["AlarmActions"]) == ("notBreaching", [stack.outputs["Topic"]])
    assert errors["AlarmArn"] == stack.outputs["ErrorsArn"]
    queries = {q["Id"]: q for q in throttles["Metrics"]}
    assert queries["total"]["Expression"] == "reads + writes"
    assert queries["reads"]["MetricStat"]["Metric"]["MetricName"] == "ReadThrottleEvents"

    cfn.delete(stack)
    assert cloudwatch.describe_alarms(AlarmNamePrefix=f"errors-{suffix}")["MetricAlarms"] == []


def _publish_policy(resource: dict[str, Any], principal: str, action: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "service",
                "Effect": "Allow",
                "Principal": {"Service": principal},
                "Action": action,
                "Resource": resource,
            }
        ],
    }


def test_q3_topic_policy_is_set_and_reset_on_delete(cfn, aws):
    sns = aws("sns")
    topic_stack = cfn.deploy(
        template({"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}, {"Topic": ref("Topic")})
    )
    topic = topic_stack.outputs["Topic"]
    policy = {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "Topics": [topic],
            "PolicyDocument": _publish_policy(topic, "events.amazonaws.com", "sns:Publish"),
        },
    }
    policy_stack = cfn.deploy(template({"Policy": policy}))

    statements = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])["Statement"]
    assert [(s["Sid"], s["Principal"]) for s in statements] == [("service", {"Service": "events.amazonaws.com"})]

    cfn.delete(policy_stack)
    statements = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["__default_statement_ID"]


def test_n10_queue_policy_is_set_and_removed_on_delete(cfn, aws):
    sqs = aws("sqs")
    queue_stack = cfn.deploy(
        template(
            {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}},
            {"Url": ref("Queue"), "Arn": get_att("Queue", "Arn")},
        )
    )
    url, arn = queue_stack.outputs["Url"], queue_stack.outputs["Arn"]
    policy = {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [url],
            "PolicyDocument": _publish_policy(arn, "events.amazonaws.com", "sqs:SendMessage"),
        },
    }
    policy_stack = cfn.deploy(template({"Policy": policy}))

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]
    assert json.loads(attributes["Policy"])["Statement"][0]["Action"] == "sqs:SendMessage"

    cfn.delete(policy_stack)
    assert "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})


def test_n14_subscription_is_made_and_removed(cfn, aws, suffix):
    sns = aws("sns")
    subscription = {
        "Type": "AWS::SNS::Subscription",
        "Properties": {"TopicArn": ref("Topic"), "Protocol": "email", "Endpoint": f"oncall-{suffix}@example.com"},
    }
    stack = cfn.deploy(
        template(
            {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}, "Email": subscription}, {"Topic": ref("Topic")}
        )
    )

    listed = sns.list_subscriptions_by_topic(TopicArn=stack.outputs["Topic"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in listed] == [("email", f"oncall-{suffix}@example.com")]

    cfn.delete(stack)
    endpoints = {s["Endpoint"] for s in sns.list_subscriptions()["Subscriptions"]}
    assert f"oncall-{suffix}@example.com" not in endpoints
