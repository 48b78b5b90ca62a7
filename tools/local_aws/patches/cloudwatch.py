"""CloudWatch: alarms in moto's CloudFormation, and alarms that are evaluated."""

from __future__ import annotations

from typing import Any, ClassVar

from moto.cloudwatch.models import (
    Alarm,
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)

from .. import alarms
from ..clock import CLOCK
from ._support import ModelLogic, Properties, fix, install, register_model


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
    emulator's clock; a state change runs the alarm's SNS actions (``tools/local_aws/alarms.py``).
    """
    original_init = Alarm.__init__

    def __init__(alarm: Alarm, *args: Any, **kwargs: Any) -> None:
        original_init(alarm, *args, **kwargs)
        alarm.state_value = alarms.INSUFFICIENT

    install(Alarm, "__init__", __init__)
    CLOCK.register(alarms.due_evaluations)
