"""Metrics from EMF log lines, alarms evaluated on the clock, EventBridge delivery and schedules."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tools.local_aws.clock import CLOCK

from .helpers import allow_events, queue_subscribed_to

Aws = Callable[[str], Any]


def _emf(namespace: str, name: str, value: float, **dimensions: str) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(CLOCK.now().timestamp() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [list(dimensions)],
                        "Metrics": [{"Name": name, "Unit": "Count"}],
                    }
                ],
            },
            name: value,
            **dimensions,
        }
    )


def _messages(aws: Aws, url: str) -> list[dict[str, Any]]:
    received = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return received.get("Messages", [])


def test_emf_log_lines_become_metrics(aws: Aws, suffix: str) -> None:
    logs = aws("logs")
    logs.create_log_group(logGroupName=f"/emf/{suffix}")
    logs.create_log_stream(logGroupName=f"/emf/{suffix}", logStreamName="s")
    lines = [_emf(f"Test/{suffix}", "Success", 1.0, Dependency="Aurora"), "plain text line", '{"_aws": "broken"}']
    logs.put_log_events(
        logGroupName=f"/emf/{suffix}",
        logStreamName="s",
        logEvents=[{"timestamp": int(CLOCK.now().timestamp() * 1000), "message": line} for line in lines],
    )
    listed = aws("cloudwatch").list_metrics(Namespace=f"Test/{suffix}")["Metrics"]
    assert listed == [
        {
            "Namespace": f"Test/{suffix}",
            "MetricName": "Success",
            "Dimensions": [{"Name": "Dependency", "Value": "Aurora"}],
        }
    ]


def test_alarm_goes_to_alarm_and_back_and_notifies_its_topic(aws: Aws, suffix: str) -> None:
    topic = aws("sns").create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    inbox = queue_subscribed_to(aws, topic, f"inbox-{suffix}")
    cloudwatch = aws("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=f"errors-{suffix}",
        Namespace=f"Test/{suffix}",
        MetricName="Errors",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        OKActions=[topic],
    )
    state = lambda: cloudwatch.describe_alarms(AlarmNames=[f"errors-{suffix}"])["MetricAlarms"][0]  # noqa: E731
    assert state()["StateValue"] == "INSUFFICIENT_DATA"
    cloudwatch.put_metric_data(Namespace=f"Test/{suffix}", MetricData=[{"MetricName": "Errors", "Value": 2}])
    CLOCK.advance(timedelta(minutes=1))
    alarm = state()
    assert alarm["StateValue"] == "ALARM"
    assert "1 out of the last 1 datapoints [2.0 (" in alarm["StateReason"]
    notice = json.loads(json.loads(_messages(aws, inbox)[0]["Body"])["Message"])
    assert (notice["AlarmName"], notice["NewStateValue"], notice["OldStateValue"]) == (
        f"errors-{suffix}",
        "ALARM",
        "INSUFFICIENT_DATA",
    )
    CLOCK.advance(timedelta(minutes=6))  # a newer period is empty: the point is still the newest real one
    assert state()["StateValue"] == "ALARM"
    CLOCK.advance(timedelta(minutes=10))  # it has left the evaluation range (3 periods for 1)
    assert state()["StateValue"] == "OK"


def test_missing_data_breaching_and_metric_math(aws: Aws, suffix: str) -> None:
    cloudwatch = aws("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=f"silent-{suffix}",
        Namespace=f"Test/{suffix}",
        MetricName="Invocations",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
    )
    metric = lambda name: {"Metric": {"Namespace": f"Test/{suffix}", "MetricName": name}, "Period": 300, "Stat": "Sum"}  # noqa: E731
    cloudwatch.put_metric_alarm(
        AlarmName=f"math-{suffix}",
        Metrics=[
            {"Id": "reads", "MetricStat": metric("Reads"), "ReturnData": False},
            {"Id": "writes", "MetricStat": metric("Writes"), "ReturnData": False},
            {"Id": "total", "Expression": "reads + writes", "ReturnData": True},
        ],
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    cloudwatch.put_metric_data(
        Namespace=f"Test/{suffix}",
        MetricData=[{"MetricName": "Reads", "Value": 4}, {"MetricName": "Writes", "Value": 3}],
    )
    CLOCK.advance(timedelta(minutes=1))
    states = {
        a["AlarmName"]: a["StateValue"]
        for a in cloudwatch.describe_alarms(AlarmNames=[f"silent-{suffix}", f"math-{suffix}"])["MetricAlarms"]
    }
    assert states[f"silent-{suffix}"] == "ALARM"
    assert states[f"math-{suffix}"] == "ALARM"


def test_scheduled_rule_fires_on_each_occurrence_of_the_clock(aws: Aws, suffix: str) -> None:
    url = aws("sqs").create_queue(QueueName=f"ticks-{suffix}")["QueueUrl"]
    arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("events").put_rule(Name=f"every-5-{suffix}", ScheduleExpression="rate(5 minutes)")
    allow_events(aws, arn)
    aws("events").put_targets(Rule=f"every-5-{suffix}", Targets=[{"Id": "q", "Arn": arn}])
    CLOCK.advance(timedelta(minutes=1))  # the rule is seen; rate periods count from here
    CLOCK.advance(timedelta(minutes=11))
    bodies = [json.loads(m["Body"]) for m in _messages(aws, url)]
    assert [body["detail-type"] for body in bodies] == ["Scheduled Event", "Scheduled Event"]
    assert bodies[0]["resources"] == [f"arn:aws:events:us-east-1:123456789012:rule/every-5-{suffix}"]


def test_pattern_rule_reaches_sns_with_transformed_input(aws: Aws, suffix: str) -> None:
    topic = aws("sns").create_topic(Name=f"backup-{suffix}")["TopicArn"]
    inbox = queue_subscribed_to(aws, topic, f"backup-inbox-{suffix}")
    allow_events(aws, topic)
    aws("events").put_rule(Name=f"failed-{suffix}", EventPattern=json.dumps({"source": [f"test.{suffix}"]}))
    aws("events").put_targets(
        Rule=f"failed-{suffix}",
        Targets=[
            {
                "Id": "topic",
                "Arn": topic,
                "InputTransformer": {"InputPathsMap": {"state": "$.detail.state"}, "InputTemplate": '"Job <state>"'},
            }
        ],
    )
    aws("events").put_events(Entries=[{"Source": f"test.{suffix}", "DetailType": "x", "Detail": '{"state": "FAILED"}'}])
    assert json.loads(_messages(aws, inbox)[0]["Body"])["Message"] == '"Job FAILED"'


@pytest.mark.parametrize("retries", [0, 2])
def test_undeliverable_events_go_to_the_dead_letter_queue(aws: Aws, suffix: str, retries: int) -> None:
    dlq = aws("sqs").create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = aws("sqs").get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    allow_events(aws, dlq_arn)
    missing_topic = f"arn:aws:sns:us-east-1:123456789012:gone-{suffix}"
    aws("events").put_rule(Name=f"lost-{suffix}", EventPattern=json.dumps({"source": [f"lost.{suffix}"]}))
    aws("events").put_targets(
        Rule=f"lost-{suffix}",
        Targets=[
            {
                "Id": "gone",
                "Arn": missing_topic,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": retries},
            }
        ],
    )
    aws("events").put_events(Entries=[{"Source": f"lost.{suffix}", "DetailType": "x", "Detail": "{}"}])
    (message,) = _messages(aws, dlq)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["TARGET_ARN"] == missing_topic
    assert attributes["ERROR_CODE"] == "NO_RESOURCE"
    assert json.loads(message["Body"])["source"] == f"lost.{suffix}"


def test_a_scheduled_rule_matches_no_event(aws: Aws, suffix: str) -> None:
    url = aws("sqs").create_queue(QueueName=f"scheduled-only-{suffix}")["QueueUrl"]
    arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("events").put_rule(Name=f"hourly-{suffix}", ScheduleExpression="rate(1 hour)")
    allow_events(aws, arn)
    aws("events").put_targets(Rule=f"hourly-{suffix}", Targets=[{"Id": "q", "Arn": arn}])
    aws("events").put_events(Entries=[{"Source": f"any.{suffix}", "DetailType": "x", "Detail": "{}"}])
    assert _messages(aws, url) == []


def test_pattern_rule_writes_the_event_to_a_log_group_target(aws: Aws, suffix: str) -> None:
    group = f"/aws/events/{suffix}"
    aws("logs").create_log_group(logGroupName=group)
    aws("events").put_rule(Name=f"logged-{suffix}", EventPattern=json.dumps({"source": [f"logged.{suffix}"]}))
    target = {"Id": "logs", "Arn": f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:*"}
    aws("events").put_targets(Rule=f"logged-{suffix}", Targets=[target])
    aws("events").put_events(Entries=[{"Source": f"logged.{suffix}", "DetailType": "x", "Detail": '{"n": 1}'}])
    (stream,) = aws("logs").describe_log_streams(logGroupName=group)["logStreams"]
    (logged,) = aws("logs").get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    assert json.loads(logged["message"])["detail"] == {"n": 1}
