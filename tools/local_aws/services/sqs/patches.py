"""SQS support for moto's CloudFormation (queue policies), and SSE-KMS queues used as the sender."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from moto.sqs.exceptions import SQSException
from moto.sqs.models import Queue, SQSBackend, sqs_backends

from ...patches._support import ModelLogic, Properties, fix, install, register_model
from ..kms import usage as key_usage


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


class KmsAccessDenied(SQSException):
    """SQS's error when the sender may not use the queue's key (API reference, SendMessage:
    KmsAccessDenied, "The caller doesn't have the required KMS access."), with KMS's message."""

    code = "KmsAccessDenied"


def _use_queue_key(backend: SQSBackend, queue_name: str) -> None:
    key_id = getattr(backend.get_queue(queue_name), "kms_master_key_id", None) or None
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        denied = key_usage.denial(action, key_id, "sqs", backend.account_id, backend.region_name)
        if denied is not None:
            raise KmsAccessDenied(denied.message)


@fix("S3")
def sqs_uses_kms_keys_as_the_sender() -> None:
    """moto stores messages in an SSE-KMS queue for any sender; on AWS the sender needs
    kms:GenerateDataKey and kms:Decrypt on the queue's customer managed key (Amazon SQS Developer
    Guide, "Key management": permissions of a producer), through SQS. SendMessage and
    SendMessageBatch now ask for both as the caller (``kms.usage``): a function, Lambda delivering a
    failed event to a DLQ with the function's role, or EventBridge and SNS as their service
    principals (the key policy must name them). A refusal is KmsAccessDenied.
    """
    send = SQSBackend.send_message
    send_batch = SQSBackend.send_message_batch

    def send_message(backend: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        _use_queue_key(backend, queue_name)
        return send(backend, queue_name, *args, **kwargs)

    def send_message_batch(backend: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        _use_queue_key(backend, queue_name)
        return send_batch(backend, queue_name, *args, **kwargs)

    install(SQSBackend, "send_message", send_message)
    install(SQSBackend, "send_message_batch", send_message_batch)
