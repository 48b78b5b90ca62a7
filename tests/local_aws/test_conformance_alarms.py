"""Conformance: CloudWatch metric alarms are evaluated, updated and announced as AWS documents.

Pages followed (each test names its own):
* Amazon CloudWatch User Guide, "Using Amazon CloudWatch alarms" / "Configuring how CloudWatch
  alarms treat missing data",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data
* Amazon CloudWatch User Guide, "Use metric math",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
* Amazon CloudWatch API Reference, "PutMetricAlarm",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
* Amazon SNS Developer Guide / CloudWatch User Guide sample of the alarm notification
  (the JSON CloudWatch publishes to an alarm's SNS topic).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tools.local_aws.clock import CLOCK

from .helpers import queue_subscribed_to, template

Aws = Callable[[str], Any]
PERIOD = timedelta(minutes=5)
THRESHOLD = 5.0
VALUES = {"0": 1.0, "X": 10.0}  # non-breaching and breaching (GreaterThanThreshold 5)
RULES = ("missing", "ignore", "breaching", "notBreaching")
RETAIN = "retain"
_names = itertools.count()

# The User Guide's two tables: the 5 data points of the evaluation range (oldest first, "-" missing),
# then the state for TreatMissingData = missing, ignore, breaching, notBreaching.
THREE_OF_THREE = [
    ("0 - X - X", ("OK", "OK", "OK", "OK")),
    ("0 - - - -", ("OK", "OK", "OK", "OK")),
    ("- - - - -", ("INSUFFICIENT_DATA", RETAIN, "ALARM", "OK")),
    ("0 X X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("- - X - -", ("ALARM", RETAIN, "ALARM", "OK")),
]
TWO_OF_THREE = [
    ("0 - X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 0 X 0 X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 - X - -", ("OK", "OK", "ALARM", "OK")),
    ("- - - - 0", ("OK", "OK", "ALARM", "OK")),
    ("- - - X -", ("ALARM", RETAIN, "ALARM", "OK")),
]


def _cases(table: list[tuple[str, tuple[str, ...]]]) -> list[Any]:
    return [
        pytest.param(points, rule, expected, id=f"{points.replace(' ', '')}-{rule}")
        for points, states in table
        for rule, expected in zip(RULES, states, strict=True)
    ]


def _at_quiet_instant() -> datetime:
    """Jump to 2.5 minutes into a 5-minute period and return the period's start: the next
    evaluation (the next whole minute) then reads that period as its newest, whatever real time
    passes during the test."""
    now = CLOCK.now()
    boundary = datetime.fromtimestamp(now.timestamp() // 300 * 300, UTC) + PERIOD
    CLOCK.jump(boundary + timedelta(seconds=150) - now)
    return boundary


def _alarm(aws: Aws, name: str, namespace: str, datapoints: int, rule: str, **extra: Any) -> None:
    aws("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName="Value",
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=3,
        DatapointsToAlarm=datapoints,
        Threshold=THRESHOLD,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData=rule,
        **extra,
    )


def _put_range(aws: Aws, namespace: str, points: str, newest: datetime) -> None:
    """One data point at the start of each period of the range that is not "-"."""
    marks = points.split()
    data = [
        {"MetricName": "Value", "Value": VALUES[mark], "Timestamp": newest - PERIOD * (len(marks) - 1 - i)}
        for i, mark in enumerate(marks)
        if mark != "-"
    ]
    if data:
        aws("cloudwatch").put_metric_data(Namespace=namespace, MetricData=data)


def _state(aws: Aws, name: str) -> str:
    return str(aws("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def _evaluate_table_row(aws: Aws, suffix: str, datapoints: int, points: str, rule: str, expected: str) -> None:
    name = f"table-{suffix}-{next(_names)}"
    namespace = f"Conformance/{name}"
    _alarm(aws, name, namespace, datapoints, rule)
    # Start from a state the evaluation must leave (or, for "retain", must keep).
    start = "ALARM" if expected in (RETAIN, "OK") else "OK"
    aws("cloudwatch").set_alarm_state(AlarmName=name, StateValue=start, StateReason="test start")
    newest = _at_quiet_instant()
    _put_range(aws, namespace, points, newest)
    CLOCK.advance(timedelta(minutes=1))
    assert _state(aws, name) == (start if expected == RETAIN else expected)


@pytest.mark.parametrize(("points", "rule", "expected"), _cases(THREE_OF_THREE))
def test_three_of_three_alarm_follows_the_missing_data_table(
    aws: Aws, suffix: str, points: str, rule: str, expected: str
) -> None:
    """Amazon CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing data" (How alarm
    state is evaluated when data is missing; first table, Datapoints to Alarm = Evaluation Periods =
    3, evaluation range 5), https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-evaluating-missing-data
    """
    _evaluate_table_row(aws, suffix, 3, points, rule, expected)


@pytest.mark.parametrize(("points", "rule", "expected"), _cases(TWO_OF_THREE))
def test_two_of_three_alarm_follows_the_missing_data_table(
    aws: Aws, suffix: str, points: str, rule: str, expected: str
) -> None:
    """Amazon CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing data" (second
    table: Datapoints to Alarm 2 of Evaluation Periods 3),
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-evaluating-missing-data
    """
    _evaluate_table_row(aws, suffix, 2, points, rule, expected)


def test_missing_breaching_three_of_three_fires_only_when_the_last_real_point_leaves_the_range(
    aws: Aws, suffix: str
) -> None:
    """Amazon CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing data": a real
    non-breaching point keeps a breaching-on-missing 3-of-3 alarm OK until it is no longer in the
    evaluation range (the first table's second row and the sentence after it),
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-evaluating-missing-data
    """
    name = f"silence-{suffix}"
    _alarm(aws, name, f"Conformance/{name}", 3, "breaching")
    newest = _at_quiet_instant()
    _put_range(aws, f"Conformance/{name}", "0 0 0 0 0", newest)
    CLOCK.advance(timedelta(minutes=1))
    assert _state(aws, name) == "OK"
    states = []
    for _ in range(5):  # the next five periods have no data
        CLOCK.advance(PERIOD)
        states.append(_state(aws, name))
    assert states == ["OK", "OK", "OK", "OK", "ALARM"]


def _inbox(aws: Aws, name: str) -> tuple[str, str]:
    """A topic with a queue subscribed to it: (topic ARN, queue URL)."""
    topic = aws("sns").create_topic(Name=name)["TopicArn"]
    return topic, queue_subscribed_to(aws, topic, name)


def _notices(aws: Aws, queue: str) -> list[dict[str, Any]]:
    """The notifications that arrived since the last call (read and deleted)."""
    messages = aws("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        aws("sqs").delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def test_put_metric_alarm_on_an_existing_alarm_keeps_its_state_and_pages_no_one(aws: Aws, suffix: str) -> None:
    """Amazon CloudWatch API Reference, "PutMetricAlarm": updating an existing alarm leaves its state
    unchanged (only a new alarm starts INSUFFICIENT_DATA),
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    """
    name = f"update-{suffix}"
    topic, queue = _inbox(aws, name)
    _alarm(aws, name, f"Conformance/{name}", 1, "notBreaching", AlarmActions=[topic], OKActions=[topic])
    newest = _at_quiet_instant()
    _put_range(aws, f"Conformance/{name}", "- - - - X", newest)
    CLOCK.advance(timedelta(minutes=1))
    assert [n["NewStateValue"] for n in _notices(aws, queue)] == ["ALARM"]

    _alarm(aws, name, f"Conformance/{name}", 1, "notBreaching", AlarmActions=[topic], OKActions=[topic])
    assert _state(aws, name) == "ALARM"
    CLOCK.advance(timedelta(minutes=1))
    assert (_state(aws, name), _notices(aws, queue)) == ("ALARM", [])


def _alarm_template(name: str, threshold: float, topic: str) -> dict[str, Any]:
    alarm = {
        "AlarmName": name,
        "Namespace": f"Conformance/{name}",
        "MetricName": "Value",
        "Statistic": "Maximum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic],
        "OKActions": [topic],
    }
    return template({"Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": alarm}})


def test_a_stack_update_of_an_alarm_keeps_its_state(aws: Aws, cfn: Any, suffix: str) -> None:
    """AWS CloudFormation User Guide, AWS::CloudWatch::Alarm (a change of Threshold is an update with
    no interruption, i.e. PutMetricAlarm on the existing alarm) and the PutMetricAlarm API
    Reference: the update leaves the alarm's state unchanged,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-alarm.html
    """
    topic = aws("sns").create_topic(Name=f"stack-update-{suffix}")["TopicArn"]
    name = f"stack-update-{suffix}"
    stack = cfn.deploy(_alarm_template(name, THRESHOLD, topic))
    newest = _at_quiet_instant()
    _put_range(aws, f"Conformance/{name}", "- - - - X", newest)
    CLOCK.advance(timedelta(minutes=1))
    assert _state(aws, name) == "ALARM"

    client = aws("cloudformation")
    change = client.create_change_set(
        StackName=stack.name,
        ChangeSetName="update",
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(_alarm_template(name, THRESHOLD + 1, topic)),
    )
    client.execute_change_set(ChangeSetName=change["Id"])

    alarm = aws("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert (alarm["Threshold"], alarm["StateValue"]) == (THRESHOLD + 1, "ALARM")


def test_alarms_on_dynamodb_metrics_always_ignore_missing_data(aws: Aws, suffix: str) -> None:
    """Amazon CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing data": alarms
    that evaluate metrics in the AWS/DynamoDB namespace always ignore missing data, whatever
    TreatMissingData says; they remain in their current state,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data
    """
    cloudwatch = aws("cloudwatch")
    cases = {"dynamodb-breaching": ("AWS/DynamoDB", "breaching"), "dynamodb-ok": ("AWS/DynamoDB", "notBreaching")}
    cases["other-breaching"] = (f"Conformance/{suffix}", "breaching")
    for label, (namespace, rule) in cases.items():
        cloudwatch.put_metric_alarm(
            AlarmName=f"{label}-{suffix}",
            Namespace=namespace,
            MetricName="ReadThrottleEvents",
            Dimensions=[{"Name": "TableName", "Value": f"quiet-{suffix}"}],
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData=rule,
        )
    CLOCK.advance(timedelta(minutes=1))
    states = {label: _state(aws, f"{label}-{suffix}") for label in cases}
    assert states == {
        "dynamodb-breaching": "INSUFFICIENT_DATA",
        "dynamodb-ok": "INSUFFICIENT_DATA",
        "other-breaching": "ALARM",
    }


def _math_alarm(aws: Aws, name: str, expression: str) -> None:
    metric = {"Metric": {"Namespace": f"Conformance/{name}", "MetricName": "Reads"}, "Period": 300, "Stat": "Sum"}
    other = {**metric, "Metric": {**metric["Metric"], "MetricName": "Writes"}}
    aws("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Metrics=[
            {"Id": "reads", "MetricStat": metric, "ReturnData": False},
            {"Id": "writes", "MetricStat": other, "ReturnData": False},
            {"Id": "total", "Expression": expression, "ReturnData": True},
        ],
        EvaluationPeriods=1,
        Threshold=3,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="missing",
    )


def test_metric_math_takes_a_missing_value_as_zero(aws: Aws, suffix: str) -> None:
    """Amazon CloudWatch User Guide, "Use metric math" (arithmetic: missing values in a time series
    are treated as 0; FILL fills missing values),
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
    """
    _math_alarm(aws, f"math-one-{suffix}", "reads + writes")
    _math_alarm(aws, f"math-none-{suffix}", "reads + writes")
    _math_alarm(aws, f"math-fill-{suffix}", "FILL(reads, 0) + FILL(writes, 0)")
    newest = _at_quiet_instant()
    aws("cloudwatch").put_metric_data(
        Namespace=f"Conformance/math-one-{suffix}",
        MetricData=[{"MetricName": "Reads", "Value": 4, "Timestamp": newest}],
    )
    CLOCK.advance(timedelta(minutes=1))
    assert _state(aws, f"math-one-{suffix}") == "ALARM"  # 4 + (missing = 0)
    assert _state(aws, f"math-none-{suffix}") == "INSUFFICIENT_DATA"  # no series has a value
    assert _state(aws, f"math-fill-{suffix}") == "OK"  # 0 + 0


def test_the_sns_message_has_cloudwatchs_shape(aws: Aws, suffix: str) -> None:
    """The alarm notification CloudWatch publishes to SNS (sample in the Amazon CloudWatch User Guide,
    "Using Amazon CloudWatch alarms" / "Alarm events and Amazon SNS"): the three action lists,
    Trigger with StatisticType and the statistic in upper case, timestamps as
    ``2026-12-05T07:40:00.000+0000``,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
    """
    name = f"shape-{suffix}"
    topic, queue = _inbox(aws, name)
    _alarm(aws, name, f"Conformance/{name}", 1, "notBreaching", AlarmActions=[topic], OKActions=[topic])
    newest = _at_quiet_instant()
    _put_range(aws, f"Conformance/{name}", "- - - - X", newest)
    CLOCK.advance(timedelta(minutes=1))

    [notice] = _notices(aws, queue)
    assert (notice["OKActions"], notice["AlarmActions"], notice["InsufficientDataActions"]) == ([topic], [topic], [])
    trigger = notice["Trigger"]
    assert (trigger["StatisticType"], trigger["Statistic"], trigger["Dimensions"]) == ("Statistic", "MAXIMUM", [])
    assert (trigger["EvaluationPeriods"], trigger["DatapointsToAlarm"], trigger["Threshold"]) == (3, 1, THRESHOLD)
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
    assert stamp.match(notice["StateChangeTime"]) and stamp.match(notice["AlarmConfigurationUpdatedTimestamp"])
    assert notice["StateChangeTime"].startswith((newest + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:00.000"))


def test_an_update_of_the_nested_stack_that_holds_an_alarm_keeps_its_state(aws: Aws, cfn: Any, suffix: str) -> None:
    """As above, for an alarm in a nested stack (where the kit's alarms live): CloudFormation updates
    the nested stack, and its alarm through PutMetricAlarm, which leaves the state unchanged,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    """
    topic = aws("sns").create_topic(Name=f"nested-update-{suffix}")["TopicArn"]
    name, bucket = f"nested-update-{suffix}", f"nested-alarm-{suffix}"
    aws("s3").create_bucket(Bucket=bucket)

    def parent(threshold: float) -> dict[str, Any]:
        key = f"child-{threshold:g}.json"
        aws("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(_alarm_template(name, threshold, topic)))
        url = f"https://s3.us-east-1.amazonaws.com/{bucket}/{key}"
        return template({"Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": url}}})

    stack = cfn.deploy(parent(THRESHOLD))
    newest = _at_quiet_instant()
    _put_range(aws, f"Conformance/{name}", "- - - - X", newest)
    CLOCK.advance(timedelta(minutes=1))
    assert _state(aws, name) == "ALARM"

    client = aws("cloudformation")
    change = client.create_change_set(
        StackName=stack.name, ChangeSetName="update", ChangeSetType="UPDATE", TemplateBody=json.dumps(parent(6))
    )
    client.execute_change_set(ChangeSetName=change["Id"])

    alarm = aws("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert (alarm["Threshold"], alarm["StateValue"]) == (6, "ALARM")
