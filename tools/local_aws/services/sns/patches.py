"""SNS support for moto's CloudFormation: topic policies."""

from __future__ import annotations

import json
from typing import ClassVar

from moto.sns.models import Topic, sns_backends

from ...patches._support import ModelLogic, Properties, fix, register_model


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
