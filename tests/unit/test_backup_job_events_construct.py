"""Synthesis tests of BackupJobEvents: each rule's SNS message survives any statusMessage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Environment, Stack
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from lib.app import new_app
from lib.config import EnvironmentConfig
from lib.constructs.backup_job_events import BackupJobEvents
from tools.local_aws.services.events.delivery import transform

ACCOUNT = "123456789012"
REGION = "us-east-1"
# What AWS Backup writes when a job fails, and worse: quotes, a newline, a backslash.
STATUS_MESSAGE = 'Backup job failed because "aurora-cluster-dev" is not in a valid state\nsee C:\\logs'


@pytest.fixture(scope="module")
def targets() -> dict[str, dict[str, Any]]:
    """The SNS target of each rule, by rule name."""
    app = new_app()
    stack = Stack(app, "BackupJobEventsTest", env=Environment(account=ACCOUNT, region=REGION))
    config = EnvironmentConfig(environment_suffix="test", account=ACCOUNT, region=REGION)
    BackupJobEvents(
        stack,
        "BackupJobEvents",
        config=config,
        backup_vault_name="backup-vault-test",
        topic=sns.Topic(stack, "Topic"),
        dead_letter_queue=sqs.Queue(stack, "Undelivered"),
    )
    rules = Template.from_stack(stack).find_resources("AWS::Events::Rule")
    return {rule["Properties"]["Name"]: rule["Properties"]["Targets"][0] for rule in rules.values()}


def _event(state: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Backup Job State Change",
        "source": "aws.backup",
        "account": ACCOUNT,
        "time": "2026-12-05T08:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "backupJobId": "D8E1C3A1-0000-0000-0000-000000000000",
            "backupVaultName": "backup-vault-test",
            "resourceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:aurora-cluster-test",
            "resourceType": "Aurora",
            "state": state,
            "statusMessage": STATUS_MESSAGE,
        },
    }


def _rendered(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The SNS message EventBridge publishes: every placeholder filled in, values NOT escaped."""
    transformer = target["InputTransformer"]
    values = {name: _value(event, path) for name, path in transformer["InputPathsMap"].items()}
    return transform(transformer["InputTemplate"], values)


def _value(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.removeprefix("$.").split("."):
        value = value[part]
    return value


@pytest.mark.parametrize(
    ("rule", "state", "headline"),
    [
        ("backup-job-failed-test", "FAILED", "ALERT: AWS Backup job did not complete (test)"),
        ("backup-job-completed-test", "COMPLETED", "OK: AWS Backup job completed (test)"),
    ],
)
def test_the_message_carries_a_status_message_with_quotes_newlines_and_backslashes_intact(
    targets: dict[str, dict[str, Any]], rule: str, state: str, headline: str
) -> None:
    """EventBridge does not escape the values it extracts (Amazon EventBridge User Guide, "Amazon
    EventBridge input transformation"): the template places only whole objects and quote-free fields,
    so the message stays one valid JSON document whatever the job's statusMessage says."""
    event = _event(state)

    message = json.loads(_rendered(targets[rule], event))

    assert message == {"alert": headline, "time": event["time"], "detail": event["detail"]}
    assert message["detail"]["statusMessage"] == STATUS_MESSAGE
