"""Conformance: CloudWatch keeps metric data and CloudWatch Logs keeps log events only as long as AWS
says, on the emulator's clock; and reading a metric's window does not read its whole history.

Pages followed:
- Amazon CloudWatch User Guide, "Metrics concepts" (metrics retention: 1-minute data points for 15
  days, 5-minute for 63 days, 1-hour for 455 days; shorter periods are aggregated for long-term
  storage), https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#metrics-retention
  and the same list in the GetMetricStatistics API reference,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html
- Amazon CloudWatch API Reference, "ListMetrics" (metrics with no data in the past two weeks are
  not listed), https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListMetrics.html
- Amazon CloudWatch Logs API Reference, "PutRetentionPolicy" (events that reach the retention
  setting are deleted, typically within 72 hours),
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html

The clock only moves forward and the session shares it, so a data point "published 16 days ago" is
stored in-process with that timestamp (PutMetricData itself accepts none older than two weeks); the
retention pass then runs where it runs in AWS's place: at a midnight the clock passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.emulator import REGION
from tools.local_aws import world
from tools.local_aws.clock import CLOCK
from tools.local_aws.services.cloudwatch import metrics

Aws = Callable[[str], Any]
ACCOUNT = world.default_account()


def _past_next_midnight(margin: timedelta = timedelta(minutes=2)) -> None:
    """Jump to just before the next midnight (UTC) at least ``margin`` away, then advance past it,
    so that the clock runs what falls due at midnight (the daily retention passes)."""
    now = CLOCK.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    if midnight - now < margin:
        midnight += timedelta(days=1)
    CLOCK.jump(midnight - timedelta(minutes=1) - now)
    CLOCK.advance(timedelta(minutes=2))


def _statistics(aws: Aws, namespace: str, start: datetime, end: datetime, period: int) -> list[dict[str, Any]]:
    points = aws("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName="Beats",
        StartTime=start,
        EndTime=end,
        Period=period,
        Statistics=["SampleCount", "Sum"],
    )["Datapoints"]
    return sorted(points, key=lambda point: point["Timestamp"])


def _publish_at(namespace: str, when: datetime, value: float = 1) -> None:
    metrics.put(ACCOUNT, REGION, namespace, "Beats", value, {}, "Count", when)


def test_metric_points_older_than_455_days_are_gone(aws: Aws, suffix: str) -> None:
    """1-hour data points are kept for 455 days (15 months): a point published longer ago is no
    longer returned by GetMetricStatistics, and no longer held by the emulator.
    Amazon CloudWatch User Guide, "Metrics concepts", metrics retention,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#metrics-retention
    """
    namespace = f"Retention/{suffix}/old"
    when = CLOCK.now() - timedelta(days=456)
    _publish_at(namespace, when)
    window = (when - timedelta(hours=1), when + timedelta(hours=1))
    assert len(_statistics(aws, namespace, *window, period=3600)) == 1  # held until the daily pass

    _past_next_midnight()

    assert _statistics(aws, namespace, *window, period=3600) == []
    assert not [d for d in world.metric_data(ACCOUNT, REGION) if d.namespace == namespace]


def test_one_minute_points_older_than_15_days_become_5_minute_statistic_sets(aws: Aws, suffix: str) -> None:
    """1-minute data points are available for 15 days, then aggregated into 5-minute points (kept
    for 63 days): what GetMetricStatistics answers for them keeps every value (sample count, sum)
    but no longer has 1-minute detail.
    Amazon CloudWatch User Guide, "Metrics concepts", metrics retention,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#metrics-retention
    """
    namespace = f"Retention/{suffix}/rollup"
    start = (CLOCK.now() - timedelta(days=16)).replace(minute=0, second=0, microsecond=0)
    for minute in range(10):
        _publish_at(namespace, start + timedelta(minutes=minute), value=minute)
    window = (start, start + timedelta(minutes=10))
    assert len(_statistics(aws, namespace, *window, period=60)) == 10

    _past_next_midnight()

    rolled = _statistics(aws, namespace, *window, period=60)
    assert [(p["SampleCount"], p["Sum"]) for p in rolled] == [(5.0, 10.0), (5.0, 35.0)]
    assert [p["Timestamp"] for p in rolled] == [start.astimezone(UTC), (start + timedelta(minutes=5)).astimezone(UTC)]


def test_list_metrics_leaves_out_metrics_with_no_data_for_two_weeks(aws: Aws, suffix: str) -> None:
    """ListMetrics doesn't return metrics that haven't reported data in the past two weeks; their
    statistics are still there (the 5-minute points are kept for 63 days). A metric is listed once,
    however many points it has (moto listed each point of a metric without dimensions).
    Amazon CloudWatch API Reference, "ListMetrics",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListMetrics.html
    """
    quiet, active = f"Retention/{suffix}/quiet", f"Retention/{suffix}/active"
    when = CLOCK.now() - timedelta(days=15)
    _publish_at(quiet, when)
    _publish_at(active, CLOCK.now() - timedelta(minutes=1))
    _publish_at(active, CLOCK.now())
    cloudwatch = aws("cloudwatch")
    assert cloudwatch.list_metrics(Namespace=quiet)["Metrics"] == []
    assert [m["MetricName"] for m in cloudwatch.list_metrics(Namespace=active)["Metrics"]] == ["Beats"]
    assert len(_statistics(aws, quiet, when - timedelta(hours=1), when + timedelta(hours=1), period=3600)) == 1


def test_log_events_past_the_groups_retention_are_deleted(aws: Aws, suffix: str) -> None:
    """A log group's retention deletes its events once they are older than the setting (CloudWatch
    Logs does it within 72 hours of expiry; the emulator at the next midnight). Fails when log
    retention stops being applied (``LOCAL_AWS_WITHOUT=D53``).
    Amazon CloudWatch Logs API Reference, "PutRetentionPolicy",
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
    """
    logs, group = aws("logs"), f"/retention/{suffix}"
    logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = CLOCK.now()
    # Inside the retention when written (PutLogEvents refuses older events); past it at the midnight.
    almost_expired = int((now - timedelta(days=1) + timedelta(minutes=1)).timestamp() * 1000)
    fresh = int(now.timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": almost_expired, "message": "old"}, {"timestamp": fresh, "message": "new"}],
    )

    _past_next_midnight()

    events = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [event["message"] for event in events] == ["new"]
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]
    assert stream["storedBytes"] == len("new")


def test_log_groups_without_retention_keep_their_events(aws: Aws, suffix: str) -> None:
    """By default log data is kept indefinitely: a group with no retention setting loses nothing.
    Amazon CloudWatch Logs API Reference, "PutRetentionPolicy",
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
    """
    logs, group = aws("logs"), f"/retention/{suffix}/forever"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    old = int((CLOCK.now() - timedelta(days=13)).timestamp() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[{"timestamp": old, "message": "kept"}])

    _past_next_midnight()

    events = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [event["message"] for event in events] == ["kept"]


class _Counted(world.MetricDatum):  # type: ignore[misc]
    """A data point that counts how often its timestamp or dimensions are read."""

    reads = 0

    @property  # type: ignore[override]
    def timestamp(self) -> datetime:
        _Counted.reads += 1
        return self._timestamp  # type: ignore[no-any-return]

    @timestamp.setter
    def timestamp(self, value: datetime) -> None:
        self._timestamp = value

    @property  # type: ignore[override]
    def dimensions(self) -> list[Any]:
        _Counted.reads += 1
        return self._dimensions  # type: ignore[no-any-return]

    @dimensions.setter
    def dimensions(self, value: list[Any]) -> None:
        self._dimensions = value


@pytest.fixture
def week_of_points(suffix: str) -> Iterator[tuple[str, datetime]]:
    """A week of 1-minute points in two series of a fresh namespace (as many as a week of the
    kit's alarms read), appended to moto's store as PutMetricData would; yields (namespace, end)."""
    namespace = f"Index/{suffix}"
    end = CLOCK.now().replace(tzinfo=None, second=0, microsecond=0)
    store = world.metric_data(ACCOUNT, REGION)
    for minute in range(7 * 24 * 60):
        for function in ("a", "b"):
            dimensions = [{"Name": "FunctionName", "Value": function}]
            store.append(_Counted(namespace, "Beats", 1.0, dimensions, end - timedelta(minutes=minute), "Count"))
    metrics.datapoints(ACCOUNT, REGION, namespace, "Beats", {}, end, end)  # the index takes them in once
    _Counted.reads = 0
    yield namespace, end


def test_a_window_read_after_a_week_touches_only_its_window(aws: Aws, week_of_points: tuple[str, datetime]) -> None:
    """After a week of data, an alarm's evaluation, GetMetricStatistics, GetMetricData and
    ListMetrics read only the series and the window they ask for, not the 20,160 points stored:
    the cost of an emulated day stays flat. Fails without fix Q16 (moto scans every point).
    Amazon CloudWatch API Reference, "GetMetricStatistics", "GetMetricData", "ListMetrics",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html
    """
    namespace, end = week_of_points
    dimensions = {"FunctionName": "a"}
    hour = (end - timedelta(hours=1), end)

    values = metrics.datapoints(ACCOUNT, REGION, namespace, "Beats", dimensions, *hour)
    assert len(values) == 60
    assert _Counted.reads == 0  # the index holds the timestamps; the points are not read at all

    statistics = aws("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName="Beats",
        Dimensions=[{"Name": "FunctionName", "Value": "a"}],
        StartTime=hour[0],
        EndTime=hour[1],
        Period=3600,
        Statistics=["SampleCount"],
    )["Datapoints"]
    assert [point["SampleCount"] for point in statistics] == [60.0]
    data = aws("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "beats",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": "Beats",
                        "Dimensions": [{"Name": "FunctionName", "Value": "a"}],
                    },
                    "Period": 3600,
                    "Stat": "SampleCount",
                },
            }
        ],
        StartTime=hour[0],
        EndTime=hour[1],
    )["MetricDataResults"]
    assert data[0]["Values"] == [60.0]
    listed = aws("cloudwatch").list_metrics(Namespace=namespace)["Metrics"]
    assert len(listed) == 2
    # moto's code reads each point of the window (both series: 120) a few times; a scan reads 20,160.
    assert _Counted.reads < 2000


def test_get_metric_statistics_matches_dimensions_exactly(aws: Aws, suffix: str) -> None:
    """CloudWatch API Reference, "GetMetricStatistics",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html:
    "you must specify the same dimensions that were used when the metrics were created". A series
    with one more dimension is another metric and is not counted (Lambda publishes Invocations per
    FunctionName and per FunctionName + Resource)."""
    cloudwatch, namespace = aws("cloudwatch"), f"Exact/{suffix}"
    function = {"Name": "FunctionName", "Value": "canary"}
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Invocations", "Dimensions": [function], "Value": 1},
            {
                "MetricName": "Invocations",
                "Dimensions": [function, {"Name": "Resource", "Value": "canary:live"}],
                "Value": 1,
            },
        ],
    )
    now = CLOCK.now()
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName="Invocations",
        Dimensions=[function],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )
    assert [point["Sum"] for point in answer["Datapoints"]] == [1.0]
