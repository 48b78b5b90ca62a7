"""SNS support for moto's CloudFormation (topic policies, subscriptions), and encrypted topics used as the publisher."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from moto.sns.exceptions import SNSException
from moto.sns.models import Subscription, Topic, sns_backends

from ...patches._support import ModelLogic, Properties, fix, install, register_model
from ...pipeline import caller
from ..cloudwatch import metrics
from ..kms import usage as key_usage


def _topics(account_id: str, region_name: str, arns: list[str]) -> list[Topic]:
    """The topics among ``arns`` that still exist."""
    topics = sns_backends[account_id][region_name].topics
    return [topics[arn] for arn in arns if arn in topics]


class TopicPolicyModel(ModelLogic):
    """``AWS::SNS::TopicPolicy``: one policy document set on several topics."""

    cfn_type: ClassVar[str] = "AWS::SNS::TopicPolicy"

    def __init__(self, topic_arns: list[str]):
        self.topic_arns = topic_arns

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> TopicPolicyModel:
        for topic in _topics(account_id, region_name, properties["Topics"]):
            topic.policy = json.dumps(properties["PolicyDocument"])
        return cls(properties["Topics"])

    @property
    def physical_resource_id(self) -> str:
        return ",".join(self.topic_arns)

    def delete(self, account_id: str, region_name: str) -> None:
        """Give the topics moto's default policy back."""
        for topic in _topics(account_id, region_name, self.topic_arns):
            topic._policy_json = topic._create_default_topic_policy(region_name, account_id, topic.name)


@fix("Q3")
def add_topic_policy_model() -> None:
    """``AWS::SNS::TopicPolicy`` is not supported, so topics keep moto's default policy (e.g.
    EventBridge is never allowed to publish). The policy is now set, and reset on delete."""
    register_model(TopicPolicyModel, "sns")


class SubscriptionModel(ModelLogic):
    """``AWS::SNS::Subscription``: an endpoint subscribed to a topic."""

    cfn_type: ClassVar[str] = "AWS::SNS::Subscription"

    def __init__(self, arn: str):
        self.arn = arn

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> SubscriptionModel:
        backend = sns_backends[account_id][region_name]
        subscription = backend.subscribe(properties["TopicArn"], properties["Endpoint"], properties["Protocol"])
        attributes = {"FilterPolicy", "RawMessageDelivery", "RedrivePolicy", "DeliveryPolicy"} & properties.keys()
        for name in attributes:
            value = properties[name]
            backend.set_subscription_attributes(
                subscription.arn, name, value if isinstance(value, str) else json.dumps(value)
            )
        return cls(subscription.arn)

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def delete(self, account_id: str, region_name: str) -> None:
        sns_backends[account_id][region_name].unsubscribe(self.arn)


@fix("N14")
def add_subscription_model() -> None:
    """``AWS::SNS::Subscription`` (the app's optional alarm e-mail) has no moto model; the
    subscription is now made (an e-mail one stays pending confirmation) and removed on delete."""
    register_model(SubscriptionModel, "sns")


class KmsAccessDenied(SNSException):
    """SNS's error when the publisher may not use the topic's key (API reference, Publish:
    KMSAccessDenied), with KMS's message."""

    code = "KMSAccessDenied"


SNS_PRINCIPAL = "sns.amazonaws.com"


@fix("S4")
def sns_uses_kms_keys_as_the_publisher() -> None:
    """moto publishes to an encrypted topic for anyone; on AWS the publisher needs
    kms:GenerateDataKey and kms:Decrypt on the topic's customer managed key (Amazon SNS Developer
    Guide, "Setting up topic encryption with encrypted Amazon SQS queue subscriptions" and "Enable
    compatibility between event sources from AWS services and encrypted topics": a service that
    publishes, such as CloudWatch or EventBridge, needs them in the key policy for its principal).

    Publish now asks for both as the caller (``kms.usage``; the alarm engine and EventBridge publish
    as their service principals); a refusal is KMSAccessDenied. SNS delivers to its subscriptions as
    ``sns.amazonaws.com``, so an encrypted queue subscribed to a topic needs SNS in its key policy.
    """
    publish = Topic.publish
    deliver = Subscription.publish

    def publish_as_caller(topic: Topic, *args: Any, **kwargs: Any) -> Any:
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            key_id = topic.kms_master_key_id or None
            denied = key_usage.denial(action, key_id, "sns", topic.account_id, topic.sns_backend.region_name)
            if denied is not None:
                raise KmsAccessDenied(denied.message)
        return publish(topic, *args, **kwargs)

    def deliver_as_sns(subscription: Subscription, *args: Any, **kwargs: Any) -> Any:
        with caller.acting_as(caller.Caller.service_principal(subscription.account_id, SNS_PRINCIPAL)):
            return deliver(subscription, *args, **kwargs)

    install(Topic, "publish", publish_as_caller)
    install(Subscription, "publish", deliver_as_sns)


@fix("D61")
def sns_publishes_its_metrics() -> None:
    """moto's SNS records nothing CloudWatch can show. SNS publishes, per topic (dimension
    ``TopicName``, namespace ``AWS/SNS``), ``NumberOfMessagesPublished`` for each message published and
    ``NumberOfNotificationsDelivered`` / ``NumberOfNotificationsFailed`` for each delivery to a
    subscription (Amazon SNS Developer Guide, "Monitoring Amazon SNS topics using CloudWatch"). The
    emulator now does: an alarm or a graph on them sees data, and ``tick`` reports the deliveries."""
    publish = Topic.publish
    deliver = Subscription.publish

    def count(account_id: str, region: str, topic_arn: str, name: str) -> None:
        dimensions = {"TopicName": topic_arn.rsplit(":", 1)[-1]}
        metrics.put(account_id, region, "AWS/SNS", name, 1, dimensions, "Count")

    def publish_counted(topic: Topic, *args: Any, **kwargs: Any) -> Any:
        message_id = publish(topic, *args, **kwargs)
        count(topic.account_id, topic.sns_backend.region_name, topic.arn, "NumberOfMessagesPublished")
        return message_id

    def deliver_counted(subscription: Subscription, *args: Any, **kwargs: Any) -> Any:
        region = subscription.topic.sns_backend.region_name
        try:
            delivered = deliver(subscription, *args, **kwargs)
        except Exception:
            count(subscription.account_id, region, subscription.topic.arn, "NumberOfNotificationsFailed")
            raise
        if subscription.protocol not in ("email", "email-json"):
            # an e-mail address is only written to once confirmed, which never happens here
            count(subscription.account_id, region, subscription.topic.arn, "NumberOfNotificationsDelivered")
        return delivered

    install(Topic, "publish", publish_counted)
    install(Subscription, "publish", deliver_counted)
