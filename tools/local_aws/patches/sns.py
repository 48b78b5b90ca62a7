"""SNS support for moto's CloudFormation: topic policies."""

from __future__ import annotations

import json
from typing import Any

from moto.sns.models import Topic, sns_backends

from ._support import ModelLogic, fix, register_model


def _topics(account_id: str, region_name: str, arns: list[str]) -> list[Topic]:
    """The topics among ``arns`` that still exist."""
    topics = sns_backends[account_id][region_name].topics
    return [topics[arn] for arn in arns if arn in topics]


class TopicPolicyModel(ModelLogic):
    """``AWS::SNS::TopicPolicy``: one policy document set on several topics."""

    def __init__(self, topic_arns: list[str]):
        self.topic_arns = topic_arns

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> TopicPolicyModel:
        properties = cloudformation_json["Properties"]
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
