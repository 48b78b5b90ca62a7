"""Conformance: DescribeAlarmHistory returns an alarm's state changes as AWS documents (fix Q17).

Page followed: Amazon CloudWatch API Reference, "DescribeAlarmHistory",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html
(and "AlarmHistoryItem", https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_AlarmHistoryItem.html).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tools.local_aws.clock import CLOCK

Aws = Callable[[str], Any]


def _alarm_with_changes(aws: Aws, name: str, states: list[str]) -> None:
    """An alarm moved through ``states`` by SetAlarmState, one emulated minute apart."""
    cloudwatch = aws("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=f"Conformance/{name}",
        MetricName="Value",
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="ignore",
    )
    for state in states:
        CLOCK.jump(timedelta(minutes=1))
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"to {state}")


def test_state_changes_are_listed_newest_first_with_old_and_new_state(aws: Aws, suffix: str) -> None:
    """Amazon CloudWatch API Reference, "DescribeAlarmHistory" (ScanBy defaults to TimestampDescending;
    HistoryItemType StateUpdate; HistoryData holds the old and the new state),
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html"""
    name = f"history-{suffix}"
    _alarm_with_changes(aws, name, ["ALARM", "OK", "ALARM"])

    items = aws("cloudwatch").describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]

    assert [item["HistorySummary"] for item in items] == [
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]
    assert all(item["AlarmName"] == name and item["AlarmType"] == "MetricAlarm" for item in items)
    assert items[0]["Timestamp"] > items[1]["Timestamp"] > items[2]["Timestamp"]
    newest = json.loads(items[0]["HistoryData"])
    assert (newest["oldState"]["stateValue"], newest["newState"]["stateValue"]) == ("OK", "ALARM")
    assert newest["newState"]["stateReason"] == "to ALARM"


def test_dates_order_and_pages_filter_the_history(aws: Aws, suffix: str) -> None:
    """Amazon CloudWatch API Reference, "DescribeAlarmHistory" (StartDate, EndDate, ScanBy
    TimestampAscending, MaxRecords and NextToken),
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html"""
    name = f"history-{suffix}"
    cloudwatch = aws("cloudwatch")
    _alarm_with_changes(aws, name, ["ALARM"])
    since = CLOCK.now()
    _alarm_with_changes(aws, f"{name}-other", [])
    for state in ("OK", "ALARM", "OK"):
        CLOCK.jump(timedelta(minutes=1))
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"to {state}")

    first = cloudwatch.describe_alarm_history(
        AlarmName=name, StartDate=since, ScanBy="TimestampAscending", MaxRecords=2
    )
    rest = cloudwatch.describe_alarm_history(
        AlarmName=name, StartDate=since, ScanBy="TimestampAscending", MaxRecords=2, NextToken=first["NextToken"]
    )

    summaries = [item["HistorySummary"] for item in first["AlarmHistoryItems"] + rest["AlarmHistoryItems"]]
    assert summaries == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
    ]
    assert "NextToken" not in rest
    everything = cloudwatch.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert len(everything) == 4
