"""SQS support for moto's CloudFormation: queue policies."""

from __future__ import annotations

import json
from typing import ClassVar

from moto.sqs.models import Queue, sqs_backends

from ...patches._support import ModelLogic, Properties, fix, register_model


def _queues(account_id: str, region_name: str, urls: list[str]) -> list[Queue]:
    """The queues among ``urls`` (queue URLs, as ``Ref`` gives them) that still exist."""
    queues = sqs_backends[account_id][region_name].queues
    names = (url.rstrip("/").split("/")[-1] for url in urls)
    return [queues[name] for name in names if name in queues]


class QueuePolicyModel(ModelLogic):
    """``AWS::SQS::QueuePolicy``: one policy document set on several queues."""

    cfn_type: ClassVar[str] = "AWS::SQS::QueuePolicy"

    def __init__(self, queue_urls: list[str]):
        self.queue_urls = queue_urls

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> QueuePolicyModel:
        for queue in _queues(account_id, region_name, properties["Queues"]):
            queue.policy = json.dumps(properties["PolicyDocument"])
        return cls(properties["Queues"])

    @property
    def physical_resource_id(self) -> str:
        return ",".join(self.queue_urls)

    def delete(self, account_id: str, region_name: str) -> None:
        for queue in _queues(account_id, region_name, self.queue_urls):
            queue.policy = None


@fix("N10")
def add_queue_policy_model() -> None:
    """``AWS::SQS::QueuePolicy`` (CDK adds one for ``enforce_ssl`` queues) is not supported; the
    policy is now set as the queue's Policy attribute, and removed on delete."""
    register_model(QueuePolicyModel, "sqs")
