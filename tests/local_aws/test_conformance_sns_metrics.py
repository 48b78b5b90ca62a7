"""Conformance: SNS publishes its per-topic metrics to CloudWatch.

Amazon SNS Developer Guide, "Monitoring Amazon SNS topics using CloudWatch",
https://docs.aws.amazon.com/sns/latest/dg/sns-monitoring-using-cloudwatch.html (namespace AWS/SNS,
dimension TopicName: NumberOfMessagesPublished, NumberOfNotificationsDelivered,
NumberOfNotificationsFailed). Without fix D61 none of them has data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tools.local_aws.clock import CLOCK

from .helpers import queue_subscribed_to


def _sum(aws: Callable[[str], Any], topic: str, metric: str) -> float:
    now = CLOCK.now()
    points = aws("cloudwatch").get_metric_statistics(
        Namespace="AWS/SNS",
        MetricName=metric,
        Dimensions=[{"Name": "TopicName", "Value": topic}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(point["Sum"] for point in points)


def test_each_publish_and_each_delivery_to_a_subscription_is_counted_per_topic(
    aws: Callable[[str], Any], suffix: str
) -> None:
    sns, topic = aws("sns"), f"metrics-topic-{suffix}"
    arn = sns.create_topic(Name=topic)["TopicArn"]
    queue_subscribed_to(aws, arn, f"metrics-inbox-{suffix}")

    for n in range(2):
        sns.publish(TopicArn=arn, Message=f"alert {n}")

    assert _sum(aws, topic, "NumberOfMessagesPublished") == 2
    assert _sum(aws, topic, "NumberOfNotificationsDelivered") == 2
    assert _sum(aws, topic, "NumberOfNotificationsFailed") == 0
