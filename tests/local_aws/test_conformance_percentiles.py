"""Conformance: GetMetricStatistics answers percentiles asked for with ExtendedStatistics.

Amazon CloudWatch API Reference, "GetMetricStatistics",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html
(ExtendedStatistics: "The percentile statistics. Specify values between p0.0 and p100", returned in
each datapoint's ExtendedStatistics); CloudWatch User Guide, "Percentiles". Without fix D62 the
datapoints carry no ExtendedStatistics.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tools.local_aws.clock import CLOCK


def test_percentiles_and_plain_statistics_per_period(aws: Callable[[str], Any], suffix: str) -> None:
    cloudwatch, namespace = aws("cloudwatch"), f"Test/Percentiles{suffix}"
    now = CLOCK.now().replace(second=0, microsecond=0)
    data = [
        {"MetricName": "Latency", "Dimensions": [{"Name": "Check", "Value": "db"}], "Value": float(value),
         "Timestamp": now - timedelta(minutes=3)}
        for value in range(1, 101)
    ]  # fmt: skip
    for start in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 20])

    (point,) = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=[{"Name": "Check", "Value": "db"}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now,
        Period=300,
        ExtendedStatistics=["p99", "p50"],
        Statistics=["Maximum"],
    )["Datapoints"]

    assert point["ExtendedStatistics"] == {"p99": 99.0, "p50": 50.0}
    assert point["Maximum"] == 100.0
