"""Helpers for tests that make the deployed system act: time that passes, an inbox for alerts.

Time: on the local target the tests advance the emulator's clock (what falls due runs at once);
against real AWS the same test waits for real time, polling. A test says how long it may take in
the system's minutes and never sleeps on the local target.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tools.local_aws import control

T = TypeVar("T")
AWS_POLL_SECONDS = 15


class Clock:
    """The deployed target's time: the emulator's clock, or the real one."""

    def __init__(self, endpoint: str | None):
        self.endpoint = endpoint

    @property
    def is_emulated(self) -> bool:
        return self.endpoint is not None

    def advance(self, minutes: float) -> list[dict[str, Any]]:
        """Let ``minutes`` pass; on the emulator returns what ran (each with its error, if any)."""
        if self.endpoint is None:
            time.sleep(minutes * 60)
            return []
        return list(control.call(self.endpoint, "tick", {"minutes": minutes})["fired"])

    def until(self, condition: Callable[[], T | None], *, minutes: float, what: str, step: float = 1) -> T:
        """The first truthy ``condition()`` while at most ``minutes`` pass, else the test fails."""
        result = condition()
        steps = math.ceil(minutes / step) if self.is_emulated else math.ceil(minutes * 60 / AWS_POLL_SECONDS)
        for _ in range(steps):
            if result:
                return result
            if self.is_emulated:
                self.advance(step)
            else:
                time.sleep(AWS_POLL_SECONDS)
            result = condition()
        if result:
            return result
        raise AssertionError(f"{what}: not within {minutes:g} minutes")


class Inbox:
    """An SQS queue subscribed to an SNS topic: what the topic's e-mail subscribers would get."""

    def __init__(self, client: Callable[[str], Any], url: str, subscription_arn: str):
        self._sqs = client("sqs")
        self._sns = client("sns")
        self.url = url
        self.subscription_arn = subscription_arn
        self.received: list[dict[str, Any]] = []

    @classmethod
    def subscribe(cls, client: Callable[[str], Any], topic_arn: str, name: str) -> Inbox:
        sqs = client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        subscription = client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True
        )
        return cls(client, url, subscription["SubscriptionArn"])

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS notification received so far (Subject, Message, ...), oldest first."""
        while True:
            batch = self._sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return self.received
            for message in batch:
                self.received.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def alarm(self, alarm_name: str, state: str) -> dict[str, Any] | None:
        """The CloudWatch notification that ``alarm_name`` entered ``state``, if one arrived."""
        for notification in self.notifications():
            try:
                body = json.loads(notification["Message"])
            except (ValueError, TypeError):
                continue
            if isinstance(body, dict) and (body.get("AlarmName"), body.get("NewStateValue")) == (alarm_name, state):
                return body
        return None

    def remove(self) -> None:
        self._sns.unsubscribe(SubscriptionArn=self.subscription_arn)
        self._sqs.delete_queue(QueueUrl=self.url)


def invoke_canary(client: Callable[[str], Any], outputs: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    """Run the health-check canary once through its ``live`` alias: (payload, FunctionError)."""
    from lib import output_keys as keys

    response = client("lambda").invoke(FunctionName=outputs[keys.FUNCTION_ALIAS_ARN], Payload=b"{}")
    return json.loads(response["Payload"].read()), response.get("FunctionError")
