"""Where the kit's alerts go: the alerts topic and its policy, the queue of undelivered alerts, the alarm factory.

Made in the resilience layer's scope, not under a construct of its own: the topic, the queue and the
alarms keep the construct ids -- hence the logical ids -- they were deployed with. A new level in
their paths would make CloudFormation replace them, and a replacement with the same fixed name
deletes the topic or queue it just "created".
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.topic_alarms import TopicAlarms


class Alerting:
    """The alerts topic (mail to ``config.alarm_email`` if set), the undelivered-alerts queue, and
    ``TopicAlarms`` paging the topic; made in ``scope`` and encrypted with ``key``.

    Exposes: topic, undelivered (the dead-letter queue of every alert and DR signal), alarms.
    """

    def __init__(self, scope: Construct, *, config: EnvironmentConfig, key: kms.IKey) -> None:
        self.topic = sns.Topic(
            scope,
            "AlertsTopic",
            topic_name=config.name("alerts-topic"),
            display_name=f"DR alerts ({config.environment_suffix})",
            master_key=key,
            enforce_ssl=True,
        )
        # The topic policy replaces SNS's default one, so the services that publish must be named in
        # it, each only for this account's alarms or rules (IAM User Guide, "The confused deputy
        # problem"; both send aws:SourceArn and aws:SourceAccount: Amazon SNS Developer Guide,
        # "Example cases for Amazon SNS access control", and Amazon EventBridge User Guide, "Using
        # resource-based policies for Amazon EventBridge"). EventBridge rules publish through
        # ``alert_target``, so CDK adds no statement of its own without these conditions.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeRulesOfThisAccountPublish",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": f"arn:aws:events:{config.region}:{config.account}:rule/*"},
                    "StringEquals": {"aws:SourceAccount": config.account},
                },
            )
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccountPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{config.region}:{config.account}:alarm:*"},
                    "StringEquals": {"aws:SourceAccount": config.account},
                },
            )
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        # Alerts and DR signals that EventBridge or Lambda cannot deliver land here, and page.
        self.undelivered = sqs.Queue(
            scope,
            "UndeliveredAlerts",
            queue_name=config.name("undelivered-alerts"),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.alarms = TopicAlarms(scope, "Alarms", config=config, topic=self.topic)


_RULES_REFERENCE = "ReferenceForRuleTargets"


def alert_target(topic: sns.ITopic, **options: Any) -> targets.SnsTopic:
    """An EventBridge rule target that publishes to the alerts ``topic`` (``options``: SnsTopic's).

    CDK's SnsTopic target grants ``events.amazonaws.com`` sns:Publish on the topic it is given, with
    no source condition. Given an imported reference of the topic it grants nothing (an imported
    topic's policy is not CDK's to change), so the topic's own statement for EventBridge, limited to
    this account's rules (``Alerting``), is the one that lets the rules publish.
    """
    found = topic.node.try_find_child(_RULES_REFERENCE)
    reference = (
        cast(sns.ITopic, found)
        if found is not None
        else sns.Topic.from_topic_arn(cast(Construct, topic), _RULES_REFERENCE, topic.topic_arn)
    )
    return targets.SnsTopic(reference, **options)
