"""The kit's backup-job alert rule, deployed to the emulator with the kit's alerts topic (its policy)
and monitoring key (its key policy): a FAILED job whose statusMessage has quotes reaches a queue
subscribed to the alerts topic intact. An alert that the topic or key policy stops fails here."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import BootstraplessSynthesizer, Stack
from aws_cdk import aws_kms as kms

from lib.app import new_app
from lib.config import EnvironmentConfig
from lib.constructs.alerting import Alerting
from lib.constructs.backup_job_events import BackupJobEvents
from lib.stacks.security_stack import _monitoring_key_statements as monitoring_key_statements

STATUS_MESSAGE = 'Backup job failed because "aurora-cluster-dev" is not in a valid state'


def _alert_stack(suffix: str) -> dict[str, Any]:
    """The kit's BackupJobEvents with its alerts topic, dead-letter queue and monitoring key, synthesized."""
    app = new_app()
    stack = Stack(app, f"BackupAlerts{suffix}", synthesizer=BootstraplessSynthesizer())
    config = EnvironmentConfig(environment_suffix=suffix)
    key = kms.Key(stack, "MonitoringKey")
    for statement in monitoring_key_statements(config):
        key.add_to_resource_policy(statement)
    alerting = Alerting(stack, config=config, key=key)
    BackupJobEvents(
        stack,
        "BackupJobEvents",
        config=config,
        backup_vault_name=config.name("backup-vault"),
        topic=alerting.topic,
        dead_letter_queue=alerting.undelivered,
    )
    template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template


def test_a_failed_job_with_quotes_in_its_status_message_alerts_intact(cfn, aws, suffix) -> None:
    cfn.deploy(_alert_stack(suffix))
    sqs_, sns_ = aws("sqs"), aws("sns")
    topic = f"arn:aws:sns:us-east-1:123456789012:alerts-topic-{suffix}"
    inbox = sqs_.create_queue(QueueName=f"alert-inbox-{suffix}")["QueueUrl"]
    inbox_arn = sqs_.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns_.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    detail = {
        "backupJobId": "D8E1C3A1-0000-0000-0000-000000000000",
        "backupVaultName": f"backup-vault-{suffix}",
        "resourceArn": f"arn:aws:rds:us-east-1:123456789012:cluster:aurora-cluster-{suffix}",
        "resourceType": "Aurora",
        "state": "FAILED",
        "statusMessage": STATUS_MESSAGE,
    }

    entry = {"Source": "aws.backup", "DetailType": "Backup Job State Change", "Detail": json.dumps(detail)}
    aws("events").put_events(Entries=[entry])

    (received,) = sqs_.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    alert = json.loads(json.loads(received["Body"])["Message"])
    assert alert["alert"] == f"ALERT: AWS Backup job did not complete ({suffix})"
    assert alert["detail"] == detail
    undelivered = sqs_.get_queue_url(QueueName=f"undelivered-alerts-{suffix}")["QueueUrl"]
    assert "Messages" not in sqs_.receive_message(QueueUrl=undelivered)
