"""Conformance: AWS services acting for an alarm or a rule send aws:SourceArn and aws:SourceAccount,
and the policies that name them decide with those keys (services/cloudwatch/alarms.py,
services/events/delivery.py, services/kms/usage.py).

IAM User Guide, "The confused deputy problem",
https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html: a service principal acting
for a resource carries that resource as aws:SourceArn and its account as aws:SourceAccount.
Amazon SNS Developer Guide, "Example cases for Amazon SNS access control",
https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html: a topic policy that lets
cloudwatch.amazonaws.com publish only for this account's alarms (aws:SourceArn, aws:SourceAccount).
Amazon SNS Developer Guide, "Enable compatibility between event sources from AWS services and
encrypted topics", https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services:
the service principal needs kms:GenerateDataKey and kms:Decrypt in the topic key's policy.
Amazon CloudWatch User Guide, "Using Amazon CloudWatch alarms",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html: an alarm's
action publishes its notification to the topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aws_cdk import BootstraplessSynthesizer, Stack
from aws_cdk import aws_kms as kms

from lib.app import new_app
from lib.config import EnvironmentConfig
from lib.constructs.alerting import Alerting
from lib.stacks.security_stack import _monitoring_key_statements as monitoring_key_statements
from tests.emulator import ACCOUNT, REGION
from tools.local_aws.clock import CLOCK

from .helpers import queue_subscribed_to
from .test_conformance_alarms import _alarm, _at_quiet_instant, _notices, _put_range

Aws = Callable[[str], Any]
CLOUDWATCH = "cloudwatch.amazonaws.com"


def _alerting_stack(suffix: str) -> dict[str, Any]:
    """The kit's alerts topic (its policy) encrypted with a key that has the kit's monitoring-key statements."""
    app = new_app()
    stack = Stack(app, f"Alerting{suffix}", synthesizer=BootstraplessSynthesizer())
    config = EnvironmentConfig(environment_suffix=suffix)
    key = kms.Key(stack, "MonitoringKey")
    for statement in monitoring_key_statements(config):
        key.add_to_resource_policy(statement)
    Alerting(stack, config=config, key=key)
    template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template


def _fire(aws: Aws, name: str, topic: str) -> None:
    """An alarm on its own metric that goes to ALARM at the next evaluation, paging ``topic``."""
    _alarm(aws, name, f"Deputy/{name}", 1, "notBreaching", AlarmActions=[topic])
    _put_range(aws, f"Deputy/{name}", "X", _at_quiet_instant())
    CLOCK.advance(timedelta(minutes=1))


def _publish_policy(topic: str, source_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": CLOUDWATCH},
                    "Action": "sns:Publish",
                    "Resource": topic,
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": source_arn},
                        "StringEquals": {"aws:SourceAccount": ACCOUNT},
                    },
                }
            ],
        }
    )


def test_an_alarm_of_this_account_pages_through_the_kits_topic_and_key(aws: Aws, cfn: Any, suffix: str) -> None:
    """The kit's topic policy and monitoring key let CloudWatch in only for this account's alarms:
    the alarm's notification arrives (CloudWatch sends the alarm as aws:SourceArn to SNS and KMS)."""
    cfn.deploy(_alerting_stack(suffix))
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts-topic-{suffix}"
    inbox = queue_subscribed_to(aws, topic, f"deputy-inbox-{suffix}")

    _fire(aws, f"deputy-{suffix}", topic)

    assert [notice["NewStateValue"] for notice in _notices(aws, inbox)] == ["ALARM"]


def test_a_topic_policy_for_other_alarms_keeps_cloudwatch_out(aws: Aws, suffix: str) -> None:
    topic = aws("sns").create_topic(Name=f"deputy-other-{suffix}")["TopicArn"]
    other_alarms = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:someone-else-*"
    aws("sns").set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=_publish_policy(topic, other_alarms)
    )
    inbox = queue_subscribed_to(aws, topic, f"deputy-other-{suffix}")

    _fire(aws, f"deputy-mine-{suffix}", topic)

    assert _notices(aws, inbox) == []


def test_a_key_policy_for_one_alarm_lets_cloudwatch_encrypt_for_that_alarm_only(aws: Aws, suffix: str) -> None:
    mine, other = f"deputy-key-{suffix}", f"deputy-key-other-{suffix}"
    service = {
        "Effect": "Allow",
        "Principal": {"Service": CLOUDWATCH},
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": "*",
        "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{mine}"}},
    }
    account = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    key = aws("kms").create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [account, service]}))
    topic = aws("sns").create_topic(
        Name=f"deputy-key-{suffix}", Attributes={"KmsMasterKeyId": key["KeyMetadata"]["KeyId"]}
    )["TopicArn"]
    inbox = queue_subscribed_to(aws, topic, f"deputy-key-{suffix}")

    _fire(aws, other, topic)
    refused = _notices(aws, inbox)
    _fire(aws, mine, topic)

    assert refused == []
    assert [notice["AlarmName"] for notice in _notices(aws, inbox)] == [mine]
