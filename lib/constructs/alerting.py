"""Where the kit's alerts go: the alerts topic and its policy, the queue of undelivered alerts, the alarm factory.

Made in the resilience layer's scope, not under a construct of its own: the topic, the queue and the
alarms keep the construct ids -- hence the logical ids -- they were deployed with. A new level in
their paths would make CloudFormation replace them, and a replacement with the same fixed name
deletes the topic or queue it just "created".
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
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
        # The topic policy replaces SNS's default one, so the alarm service must be named in it
        # (EventBridge's statement is added by its SnsTopic target).
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
