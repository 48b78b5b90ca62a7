"""CloudWatch: alarms in moto's CloudFormation, alarms that are evaluated, metric reads through an
index, and metric retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from moto.cloudformation import models as cfn_models
from moto.cloudwatch.models import (
    Alarm,
    CloudWatchBackend,
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from ...clock import CLOCK
from ...patches._support import ModelLogic, Properties, fix, install, register_model
from . import alarms, metrics


def _metric_data_query(query: dict[str, Any]) -> MetricDataQuery:
    """One entry of the template's ``Metrics`` (metric math) as moto's query object."""
    stat = query.get("MetricStat")
    metric_stat = None
    if stat is not None:
        metric = stat["Metric"]
        dimensions = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
        metric_stat = MetricStat(
            metric=Metric(metric["MetricName"], metric["Namespace"], dimensions),
            period=stat["Period"],
            stat=stat["Stat"],
            unit=stat.get("Unit"),
        )
    return MetricDataQuery(
        query_id=query["Id"],
        label=query.get("Label"),  # type: ignore[arg-type]
        period=query.get("Period"),  # type: ignore[arg-type]
        return_data=query.get("ReturnData"),  # type: ignore[arg-type]
        expression=query.get("Expression"),
        metric_stat=metric_stat,
    )


class AlarmModel(ModelLogic):
    """``AWS::CloudWatch::Alarm``, created through moto's PutMetricAlarm."""

    cfn_type: ClassVar[str] = "AWS::CloudWatch::Alarm"
    cfn_name_property: ClassVar[str] = "AlarmName"

    cfn_attributes: ClassVar[dict[str, str]] = {"Arn": "alarm.alarm_arn"}

    def __init__(self, alarm: Alarm):
        self.alarm = alarm

    @classmethod
    def create(cls, resource_name: str, p: Properties, account_id: str, region_name: str) -> AlarmModel:
        queries = [_metric_data_query(query) for query in p["Metrics"]] if "Metrics" in p else None
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=resource_name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            metric_data_queries=queries,
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            datapoints_to_alarm=p.get("DatapointsToAlarm"),
            period=p.get("Period"),
            threshold=float(p["Threshold"]) if "Threshold" in p else None,  # type: ignore[arg-type]
            statistic=p.get("Statistic"),
            extended_statistic=p.get("ExtendedStatistic"),
            description=p.get("AlarmDescription"),
            dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []),
            ok_actions=p.get("OKActions", []),
            insufficient_data_actions=p.get("InsufficientDataActions", []),
            unit=p.get("Unit"),
            actions_enabled=p.get("ActionsEnabled", True),
            treat_missing_data=p.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=p.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=p.get("ThresholdMetricId"),
            tags=p.get("Tags"),
        )
        return cls(alarm)

    @property
    def physical_resource_id(self) -> str:
        return self.alarm.name

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.alarm.name])

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        """An update with the same AlarmName is a PutMetricAlarm on the existing alarm (no replacement)."""
        if original_resource.alarm.name != new_resource_name:
            original_resource.delete(account_id, region_name)
        return cls.create(new_resource_name, cloudformation_json.get("Properties", {}), account_id, region_name)


@fix("Q2")
def add_alarm_model() -> None:
    """``AWS::CloudWatch::Alarm`` is not supported: every alarm of the app was silently missing.

    Alarms (single metric or metric math) are now created through moto's PutMetricAlarm and
    deleted with the stack; moto does not evaluate them.
    """
    register_model(AlarmModel, "cloudwatch")


@fix("D21")
def evaluate_alarms_on_the_clock() -> None:
    """moto never evaluates alarms: they stay OK whatever the metrics say, and never notify.

    Alarms now start INSUFFICIENT_DATA (as in CloudWatch) and are evaluated at every minute of the
    emulator's clock; a state change runs the alarm's SNS actions (``alarms``).
    """
    original_init = Alarm.__init__

    def __init__(alarm: Alarm, *args: Any, **kwargs: Any) -> None:
        original_init(alarm, *args, **kwargs)
        alarm.state_value = alarms.INSUFFICIENT

    install(Alarm, "__init__", __init__)
    CLOCK.register(alarms.due_evaluations)


STATE_FIELDS = ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "history")


def _alarm_states(account_id: str, region_name: str) -> dict[str, dict[str, Any]]:
    alarms_now = cloudwatch_backends[account_id][region_name].alarms
    return {name: {f: getattr(alarm, f) for f in STATE_FIELDS} for name, alarm in alarms_now.items()}


def _restore_states(account_id: str, region_name: str, states: dict[str, dict[str, Any]]) -> None:
    for name, alarm in cloudwatch_backends[account_id][region_name].alarms.items():
        for field, value in states.get(name, {}).items():
            setattr(alarm, field, value)


@fix("Q10")
def keep_alarm_state_on_update() -> None:
    """moto's PutMetricAlarm builds a new alarm even when one of that name exists, so an update (and
    every stack update, which moto applies to a nested stack by deleting and re-creating it) reset
    the alarm to INSUFFICIENT_DATA: the next evaluation paged OK or ALARM again.

    As the PutMetricAlarm API reference says, updating an existing alarm leaves its state unchanged;
    the state (value, reason, history) is now kept, across nested-stack updates too.
    """
    original_put = CloudWatchBackend.put_metric_alarm
    original_update = cfn_models.Stack.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def put_metric_alarm(backend: CloudWatchBackend, name: str, *args: Any, **kwargs: Any) -> Alarm:
        states = _alarm_states(backend.account_id, backend.region_name)
        alarm = original_put(backend, name, *args, **kwargs)
        _restore_states(backend.account_id, backend.region_name, {name: states[name]} if name in states else {})
        return alarm

    def update_nested_stack(
        cls: type,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        states = _alarm_states(account_id, region_name)
        stack = original_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        _restore_states(account_id, region_name, states)
        return stack

    install(CloudWatchBackend, "put_metric_alarm", put_metric_alarm)
    install(cfn_models.Stack, "update_from_cloudformation_json", classmethod(update_nested_stack))


class _Window:
    """What moto's statistics code reads of its backend (``get_all_metrics``), holding only the
    data points a request can use: moto's own aggregation runs unchanged over them."""

    def __init__(self, points: list[Any]):
        self.points = points

    def get_all_metrics(self) -> list[Any]:
        return self.points


@fix("Q16")
def read_metrics_through_the_index() -> None:
    """moto's ListMetrics, GetMetricData and GetMetricStatistics scan every data point ever stored
    (ListMetrics compares each with every metric found so far): after four emulated days ListMetrics
    took 33 s, and every day cost more than the one before.

    They now read the series index (``metrics._SeriesIndex``): ListMetrics one point per series,
    and leaves out metrics with no data in the past two weeks (ListMetrics API reference); the two
    statistics calls the points of their metrics in their window, which moto's code then aggregates.
    """
    original_statistics = CloudWatchBackend.get_metric_statistics
    original_data = CloudWatchBackend.get_metric_data

    def get_filtered_metrics(
        backend: CloudWatchBackend, metric_name: str, namespace: str, dimensions: list[dict[str, str]]
    ) -> list[Any]:
        listed = metrics.listed(backend.account_id, backend.region_name, CLOCK.now())
        return [datum for datum in listed if datum.filter(namespace, metric_name, dimensions)]

    def get_metric_statistics(
        backend: CloudWatchBackend,
        namespace: str,
        metric_name: str,
        start_time: datetime,
        end_time: datetime,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        dimensions = kwargs.get("dimensions") or []
        points = _series_points(backend, namespace, metric_name, dimensions, start_time, end_time)
        return original_statistics(_Window(points), namespace, metric_name, start_time, end_time, *args, **kwargs)  # type: ignore[arg-type]

    def get_metric_data(
        backend: CloudWatchBackend,
        queries: list[dict[str, Any]],
        start_time: datetime,
        end_time: datetime,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        stats = [query["MetricStat"]["Metric"] for query in queries if "MetricStat" in query]
        # A Metrics Insights query (SELECT ...) reads every metric in the window, as moto does.
        insights = any(query.get("Expression", "").startswith("SELECT") for query in queries)
        wanted = None if insights else {(metric["Namespace"], metric["MetricName"]) for metric in stats}
        points = metrics.in_window(backend.account_id, backend.region_name, wanted, start_time, end_time)
        return original_data(_Window(points), queries, start_time, end_time, *args, **kwargs)  # type: ignore[arg-type]

    install(CloudWatchBackend, "get_filtered_metrics", get_filtered_metrics)
    install(CloudWatchBackend, "get_metric_statistics", get_metric_statistics)
    install(CloudWatchBackend, "get_metric_data", get_metric_data)


@fix("D52")
def apply_metric_retention() -> None:
    """moto keeps every data point for ever, so memory grew with each emulated day.

    Once a day on the emulator's clock, data points are aggregated and dropped as CloudWatch retains
    them (CloudWatch User Guide, "Metrics concepts", metrics retention): 1-minute points for 15 days,
    then 5-minute statistic sets until 63 days, 1-hour until 455 days, then nothing.
    """
    CLOCK.register(metrics.due_retention)


def _describe_alarm_history(response: CloudWatchResponse) -> ActionResult:
    """DescribeAlarmHistory over the state changes the alarms record (``alarms.state_history``)."""
    name = response._get_param("AlarmName")
    types = response._get_param("AlarmTypes") or ["MetricAlarm"]
    item_type = response._get_param("HistoryItemType")
    start, end = response._get_param("StartDate"), response._get_param("EndDate")
    newest_first = response._get_param("ScanBy", "TimestampDescending") == "TimestampDescending"
    limit = int(response._get_param("MaxRecords") or 100)
    offset = int(response._get_param("NextToken") or 0)
    items = [
        item
        for alarm in response.cloudwatch_backend.alarms.values()
        if name in (None, alarm.name)
        for item in alarms.state_history(alarm)
        if item["AlarmType"] in types
        and item_type in (None, "StateUpdate")
        and (start is None or item["Timestamp"] >= _aware(start))
        and (end is None or item["Timestamp"] <= _aware(end))
    ]
    items.sort(key=lambda item: item["Timestamp"], reverse=newest_first)
    page: dict[str, Any] = {"AlarmHistoryItems": items[offset : offset + limit]}
    if offset + limit < len(items):
        page["NextToken"] = str(offset + limit)
    return ActionResult(page)


def _aware(moment: Any) -> datetime:
    """A request's date parameter (parsed or ISO text) as an aware UTC datetime."""
    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@fix("Q17")
def describe_alarm_history() -> None:
    """moto has no DescribeAlarmHistory: nobody could see when an alarm changed state, only its state now.

    As the DescribeAlarmHistory API reference says, it returns the alarms' history items (here the
    ``StateUpdate`` items: every state change, with the old and new state in ``HistoryData``),
    metric alarms unless ``AlarmTypes`` says otherwise, filtered by alarm name, item type and date,
    newest first unless ``ScanBy=TimestampAscending``, at most ``MaxRecords`` (100) per page with a
    ``NextToken``.
    """
    install(CloudWatchResponse, "describe_alarm_history", _describe_alarm_history)


def _series_points(
    backend: CloudWatchBackend,
    namespace: str,
    name: str,
    dimensions: list[dict[str, str]],
    start: datetime,
    end: datetime,
) -> list[Any]:
    """The points in ``[start, end)`` of the one series with exactly these dimensions: CloudWatch
    matches a statistics request's dimensions exactly, where moto takes any series that has them among
    others (GetMetricStatistics API reference: "you must specify the same dimensions that were used
    when the metrics were created")."""
    wanted = sorted((d["Name"], d.get("Value")) for d in dimensions)
    return [
        point
        for point in metrics.in_window(backend.account_id, backend.region_name, {(namespace, name)}, start, end)
        if sorted((d.name, d.value) for d in point.dimensions) == wanted
    ]


def _percentile_statistics(response: CloudWatchResponse) -> ActionResult:
    """GetMetricStatistics with ``ExtendedStatistics`` (percentiles): every requested statistic per
    period from ``StartTime``, over the raw points (a statistic set carries no percentile)."""
    start, end = response._get_param("StartTime"), response._get_param("EndTime")
    period = response._get_int_param("Period")
    simple, extended = response._get_param("Statistics") or [], response._get_param("ExtendedStatistics") or []
    namespace, name = response._get_param("Namespace"), response._get_param("MetricName")
    dimensions = response._get_param("Dimensions") or []
    points = [
        point
        for point in _series_points(response.cloudwatch_backend, namespace, name, dimensions, start, end)
        if hasattr(point, "value")  # a statistic set has no single values to rank
    ]
    origin = start.astimezone(UTC).replace(tzinfo=None)
    buckets: dict[int, list[float]] = {}
    for point in points:
        buckets.setdefault(int((point.timestamp - origin).total_seconds() // period), []).append(float(point.value))
    datapoints = []
    for index, values in sorted(buckets.items()):
        datapoint: dict[str, Any] = {"Timestamp": origin.replace(tzinfo=UTC) + timedelta(seconds=index * period)}
        datapoint.update({stat: metrics.statistic(values, stat) for stat in simple})
        datapoint["ExtendedStatistics"] = {stat: metrics.statistic(values, stat) for stat in extended}
        datapoints.append(datapoint)
    return ActionResult({"Label": name, "Datapoints": datapoints})


@fix("D62")
def percentiles_in_metric_statistics() -> None:
    """moto's GetMetricStatistics accepts ``ExtendedStatistics`` (p99, ...) and answers data points
    without them, so a dashboard graph of a percentile has no line. A request with extended
    statistics is now answered with each percentile (and any other statistic asked for) per period
    (GetMetricStatistics API reference: ``ExtendedStatistics``, "p0.0 to p100")."""
    original = CloudWatchResponse.get_metric_statistics

    def get_metric_statistics(response: CloudWatchResponse) -> ActionResult:
        if response._get_param("ExtendedStatistics"):
            return _percentile_statistics(response)
        return original(response)

    install(CloudWatchResponse, "get_metric_statistics", get_metric_statistics)
