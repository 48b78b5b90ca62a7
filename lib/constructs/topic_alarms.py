"""CloudWatch alarms that page the alerts topic, named `{alarm}-{suffix}`."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from lib.config import EnvironmentConfig

Comparison = cloudwatch.ComparisonOperator
Missing = cloudwatch.TreatMissingData


class TopicAlarms(Construct):
    """Factory for alarms that notify one topic on ALARM and on recovery (OK).

    Exposes: alarms (every alarm made, in order; the dashboard shows them).
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._action = cloudwatch_actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []

    def add(
        self,
        alarm_type: str,
        *,
        description: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        evaluation_periods: int = 1,
        datapoints: int | None = None,
        missing: cloudwatch.TreatMissingData = Missing.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        """An alarm on ``datapoints`` of ``evaluation_periods`` breaching periods (default: all)."""
        name = self._config.name(alarm_type)
        alarm = cloudwatch.Alarm(
            self,
            alarm_type,
            alarm_name=name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints or evaluation_periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
        return alarm
