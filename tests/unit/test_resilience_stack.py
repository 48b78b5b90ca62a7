"""Resilience layer: hourly AWS Backup (1-hour RPO), 7-day retention, alerts, alarms, dashboard."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from tests.unit.templates import SUFFIX, Templates, only

EXPECTED_ALARMS = {
    "backup-job-failures",
    "rpo-aurora-cluster",
    "rpo-dynamodb-table",
    "rpo-data-bucket",
    "undelivered-alerts",
    "aurora-cpu-high",
    "aurora-freeable-memory-low",
    "aurora-replica-lag-high",
    "dynamodb-throttling",
    "health-check-errors",
    "health-check-not-running",
    "health-check-dead-letters",
    "restore-test-failed",
    "restore-test-over-rto",
}


def test_vault_is_cmk_encrypted_and_destroyable(templates: Templates) -> None:
    vault = only(templates.resilience, "AWS::Backup::BackupVault")
    assert vault["Properties"]["BackupVaultName"] == f"backup-vault-{SUFFIX}"
    assert "BackupKey" in vault["Properties"]["EncryptionKeyArn"]["Ref"]
    assert vault["DeletionPolicy"] == "Delete"


def test_vault_is_emptied_before_it_is_deleted(templates: Templates) -> None:
    cleanup = only(templates.resilience, "Custom::BackupVaultCleanup")
    vault_id = next(iter(templates.resilience.find_resources("AWS::Backup::BackupVault")))
    assert vault_id in cleanup.get("DependsOn", [])
    cleanup_id = next(iter(templates.resilience.find_resources("Custom::BackupVaultCleanup")))
    plan = only(templates.resilience, "AWS::Backup::BackupPlan")
    assert cleanup_id in plan["DependsOn"]  # the plan is deleted before the vault is emptied


def test_plan_backs_up_hourly_and_keeps_seven_days_in_region(templates: Templates) -> None:
    plan = only(templates.resilience, "AWS::Backup::BackupPlan")["Properties"]["BackupPlan"]
    assert plan["BackupPlanName"] == f"backup-plan-{SUFFIX}"
    (rule,) = plan["BackupPlanRule"]
    assert rule["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert rule["Lifecycle"] == {"DeleteAfterDays": 7}
    assert rule["StartWindowMinutes"] == 60
    assert "CopyActions" not in rule


def test_selection_covers_aurora_dynamodb_and_s3_with_the_backup_role(templates: Templates) -> None:
    selection = only(templates.resilience, "AWS::Backup::BackupSelection")["Properties"]["BackupSelection"]
    assert selection["SelectionName"] == f"backup-selection-{SUFFIX}"
    assert "BackupRole" in selection["IamRoleArn"]["Ref"]
    resources = json.dumps(selection["Resources"])
    for store in ("AuroraCluster", "Table", "DataBucket"):
        assert store in resources, store
    assert len(selection["Resources"]) == 3


def test_the_backup_role_may_back_up_the_data_bucket_and_no_other(templates: Templates) -> None:
    """AWS Backup Developer Guide, "Amazon S3 backup permissions": AWSBackupServiceRolePolicyForS3Backup's
    bucket and object statements, on the data bucket (and its key) instead of arn:aws:s3:::*."""
    policies = templates.resilience.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"ManagedPolicyName": f"backup-s3-{SUFFIX}"}}
    )
    (properties,) = [p["Properties"] for p in policies.values()]
    assert "BackupRole" in json.dumps(properties["Roles"])
    bucket = f"arn:aws:s3:::data-bucket-123456789012-{SUFFIX}"
    resources = {statement["Sid"]: statement["Resource"] for statement in properties["PolicyDocument"]["Statement"]}
    assert resources["S3BucketPermissions"] == bucket
    assert resources["S3ObjectPermissions"] == f"{bucket}/*"
    assert "BucketKey" in resources["KmsPermissions"]["Ref"]  # the bucket's key, from the security layer
    assert not any("arn:aws:s3:::*" in json.dumps(resource) for resource in resources.values())


def test_alert_topic_is_encrypted(templates: Templates) -> None:
    topic = only(templates.resilience, "AWS::SNS::Topic")["Properties"]
    assert topic["TopicName"] == f"alerts-topic-{SUFFIX}"
    assert "MonitoringKey" in topic["KmsMasterKeyId"]["Ref"]


def test_backup_job_rules_alert_on_failure_and_notify_on_completion(templates: Templates) -> None:
    rules = {
        r["Properties"]["Name"]: r["Properties"]
        for r in templates.resilience.find_resources("AWS::Events::Rule").values()
    }
    failed, completed = rules[f"backup-job-failed-{SUFFIX}"], rules[f"backup-job-completed-{SUFFIX}"]
    assert failed["EventPattern"]["source"] == ["aws.backup"]
    assert failed["EventPattern"]["detail-type"] == ["Backup Job State Change"]
    assert failed["EventPattern"]["detail"]["state"] == ["FAILED", "ABORTED", "EXPIRED"]
    assert completed["EventPattern"]["detail"]["state"] == ["COMPLETED"]
    for rule in (failed, completed):
        (target,) = rule["Targets"]
        assert "AlertsTopic" in target["Arn"]["Ref"]
        assert target["InputTransformer"]["InputPathsMap"]["detail"] == "$.detail"


def test_topic_policy_lets_this_accounts_alarms_publish(templates: Templates) -> None:
    templates.resilience.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sns:Publish",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Condition": {
                                    "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"},
                                    "StringEquals": {"aws:SourceAccount": "123456789012"},
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_topic_policy_lets_this_accounts_eventbridge_rules_publish(templates: Templates) -> None:
    templates.resilience.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sns:Publish",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Condition": {
                                    "ArnLike": {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/*"},
                                    "StringEquals": {"aws:SourceAccount": "123456789012"},
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(templates: Templates) -> None:
    alarms = templates.resilience.find_resources("AWS::CloudWatch::Alarm")
    names = {a["Properties"]["AlarmName"] for a in alarms.values()}
    assert names == {f"{name}-{SUFFIX}" for name in EXPECTED_ALARMS}
    for alarm in alarms.values():
        for actions in ("AlarmActions", "OKActions"):
            assert ["AlertsTopic" in a["Ref"] for a in alarm["Properties"][actions]] == [True]


def _alarm(templates: Templates, name: str) -> dict:
    found = templates.resilience.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": f"{name}-{SUFFIX}"}}
    )
    return next(iter(found.values()))["Properties"]


def test_backup_alarms_watch_the_vault(templates: Templates) -> None:
    """Every way a job ends without a recovery point pages: FAILED, ABORTED and EXPIRED each have their
    own AWS/Backup metric (AWS Backup Developer Guide, "Monitoring AWS Backup metrics with CloudWatch")."""
    failures = _alarm(templates, "backup-job-failures")
    watched = {
        query["MetricStat"]["Metric"]["MetricName"]
        for query in failures["Metrics"]
        if "MetricStat" in query and query["MetricStat"]["Metric"]["Namespace"] == "AWS/Backup"
    }
    assert watched == {"NumberOfBackupJobsFailed", "NumberOfBackupJobsAborted", "NumberOfBackupJobsExpired"}
    for query in failures["Metrics"]:
        if "MetricStat" in query:
            assert query["MetricStat"]["Metric"]["Dimensions"][0]["Name"] == "BackupVaultName"


def test_each_protected_resource_has_an_age_alarm_at_the_rpo_where_silence_breaches(templates: Templates) -> None:
    for label in ("aurora-cluster", "dynamodb-table", "data-bucket"):
        alarm = _alarm(templates, f"rpo-{label}")
        assert (alarm["Namespace"], alarm["MetricName"]) == ("DisasterRecovery/Backup", "RecoveryPointAgeMinutes")
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"EnvironmentSuffix": SUFFIX, "Resource": label}
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (60, "GreaterThanThreshold")
        assert alarm["TreatMissingData"] == "breaching"
        assert alarm["Period"] * alarm["EvaluationPeriods"] == 20 * 60
        # When it pages, under CloudWatch's evaluation range (measured in tests/local_aws/test_kit_alarm_timing.py).
        assert "pages 75 to 81 minutes after" in alarm["AlarmDescription"]
        assert "no age was reported for 25 to 30 minutes" in alarm["AlarmDescription"]


def test_monitor_measures_exactly_what_the_selection_backs_up(templates: Templates) -> None:
    selection = only(templates.resilience, "AWS::Backup::BackupSelection")["Properties"]["BackupSelection"]
    monitor = templates.resilience.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": f"backup-monitor-{SUFFIX}"}}
    )
    (function,) = monitor.values()
    environment = function["Properties"]["Environment"]["Variables"]
    assert environment["RPO_MINUTES"] == "60"
    assert _refs(environment["PROTECTED_RESOURCES"]) == _refs(selection["Resources"])
    assert len(_refs(selection["Resources"])) == 3
    assert len(function["Properties"]["VpcConfig"]["SubnetIds"]) == 3
    (function_id,) = monitor
    (config,) = templates.resilience.find_resources(
        "AWS::Lambda::EventInvokeConfig", {"Properties": {"FunctionName": {"Ref": function_id}}}
    ).values()
    destination = config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination["Fn::GetAtt"][0].startswith("UndeliveredAlerts")


def _refs(value: object) -> set[str]:
    """Every Ref in a template value: the nested-stack parameters carrying the resources' ARNs."""
    if isinstance(value, dict):
        return {value["Ref"]} if set(value) == {"Ref"} else {r for v in value.values() for r in _refs(v)}
    if isinstance(value, list):
        return {r for v in value for r in _refs(v)}
    return set()


def test_every_alert_rule_target_has_a_dead_letter_queue_and_retries(templates: Templates) -> None:
    rules = templates.resilience.find_resources("AWS::Events::Rule")
    # backup job failed / completed -> topic; monitor schedule / job events -> monitor;
    # restore test jobs, restore-test writers created and the restore-test sweep -> restore
    # validation; FIS experiment state changes -> topic
    assert len(rules) == 8
    for rule in rules.values():
        for target in rule["Properties"]["Targets"]:
            assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("UndeliveredAlerts")
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 2
    undelivered = _alarm(templates, "undelivered-alerts")
    assert undelivered["MetricName"] == "ApproximateNumberOfMessagesVisible"


def test_aurora_and_dynamodb_health_alarms(templates: Templates) -> None:
    assert _alarm(templates, "aurora-cpu-high")["MetricName"] == "CPUUtilization"
    assert _alarm(templates, "aurora-freeable-memory-low")["MetricName"] == "FreeableMemory"
    assert _alarm(templates, "aurora-replica-lag-high")["MetricName"] == "AuroraReplicaLagMaximum"
    throttling = _alarm(templates, "dynamodb-throttling")
    metric_names = {m["MetricStat"]["Metric"]["MetricName"] for m in throttling["Metrics"] if "MetricStat" in m}
    assert metric_names == {"ReadThrottleEvents", "WriteThrottleEvents"}
    # AWS ignores missing data on AWS/DynamoDB alarms: periods without throttles must be 0, not missing,
    # and a throttle published late still falls in one of the last two periods.
    [expression] = [m["Expression"] for m in throttling["Metrics"] if "Expression" in m]
    assert expression == "FILL(reads, 0) + FILL(writes, 0)"
    assert (throttling["DatapointsToAlarm"], throttling["EvaluationPeriods"]) == (1, 2)


def test_canary_alarms(templates: Templates) -> None:
    assert _alarm(templates, "health-check-errors")["MetricName"] == "Errors"
    not_running = _alarm(templates, "health-check-not-running")
    assert not_running["MetricName"] == "Invocations" and not_running["TreatMissingData"] == "breaching"


def test_dashboard_shows_databases_function_backups_and_canary(templates: Templates) -> None:
    dashboard = only(templates.resilience, "AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == f"dr-dashboard-{SUFFIX}"
    body = json.dumps(dashboard["DashboardBody"])
    for metric in (
        "CPUUtilization",
        "AuroraReplicaLagMaximum",
        "ReadThrottleEvents",
        "ConsumedWriteCapacityUnits",
        "Invocations",
        "Errors",
        "NumberOfBackupJobsCompleted",
        "DisasterRecovery/HealthCheck",
        "RecoveryPointAgeMinutes",
        "RPO headroom",
    ):
        assert metric in body, metric
