"""CloudWatch alarm evaluation: state changes and their SNS actions, on the emulator's clock.

Every minute of emulated time (a timer source registered by fix D21) each metric alarm is
evaluated as CloudWatch does: the last ``EvaluationPeriods`` periods ending now, each reduced to
one value by the alarm's statistic (or its metric-math expression), compared with the threshold;
``DatapointsToAlarm`` of them breaching means ALARM. Periods without data follow
``TreatMissingData`` (missing, breaching, notBreaching, ignore). A changed state is recorded in the
alarm (history, reason, reason data) and published to its actions' SNS topics with the message
body CloudWatch sends.
"""

from __future__ import annotations

import ast
import json
import logging
import operator
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.cloudwatch.models import Alarm, MetricDataQuery, cloudwatch_backends
from moto.sns.models import sns_backends

from . import metrics
from .clock import CLOCK, Due

logger = logging.getLogger(__name__)

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
REGION_NAMES = {"us-east-1": "US East (N. Virginia)"}
EVALUATE_ORDER = 90  # after whatever else falls due in the same minute (schedules, backups)


def due_evaluations(start: datetime, end: datetime) -> Iterable[Due]:
    """Timer source: an evaluation of every alarm at each whole minute in ``(start, end]``."""
    moment = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment <= end:
        yield Due(moment, EVALUATE_ORDER, "evaluate CloudWatch alarms", evaluate_all)
        moment += timedelta(minutes=1)


def evaluate_all() -> None:
    """Sample the metrics AWS publishes by itself, then evaluate every alarm of every account."""
    now = CLOCK.now()
    metrics.sample_queue_depths(now)
    for account_id, regions in cloudwatch_backends.items():
        for region, backend in regions.items():
            for alarm in list(backend.alarms.values()):
                if alarm.metric_name or alarm.metric_data_queries:
                    evaluate(account_id, region, alarm, now)


def evaluate(account_id: str, region: str, alarm: Alarm, now: datetime) -> str:
    """Evaluate one alarm at ``now``; changes its state (and runs its actions) if it moved."""
    period = timedelta(seconds=_period(alarm))
    periods = int(alarm.evaluation_periods)
    values = [_value(account_id, region, alarm, now - period * (k + 1), now - period * k) for k in range(periods)]
    state, reason = _decide(alarm, values)
    if state is not None and state != alarm.state_value:
        _change_state(account_id, region, alarm, state, reason, values, now)
    return str(alarm.state_value)


def _decide(alarm: Alarm, values: list[float | None]) -> tuple[str | None, str]:
    """The new state (None: keep the current one) and CloudWatch's kind of reason text."""
    compare = COMPARISONS[alarm.comparison_operator]
    missing_rule = alarm.treat_missing_data or "missing"
    needed = int(alarm.datapoints_to_alarm or alarm.evaluation_periods)
    present = [v for v in values if v is not None]
    if not present:
        if missing_rule == "breaching":
            return (
                ALARM,
                f"Threshold Crossed: no datapoints were received for {len(values)} periods (treated as breaching).",
            )
        if missing_rule == "notBreaching":
            return (
                OK,
                f"Threshold Crossed: no datapoints were received for {len(values)} periods (treated as not breaching).",
            )
        if missing_rule == "ignore":
            return None, ""
        return INSUFFICIENT, f"Insufficient Data: {len(values)} datapoints were unknown."
    breaching = sum(
        1
        for v in values
        if (v is None and missing_rule == "breaching") or (v is not None and compare(v, alarm.threshold))
    )
    shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
    verdict = ALARM if breaching >= needed else OK
    word = "" if verdict == ALARM else "not "
    return verdict, (
        f"Threshold Crossed: {breaching} out of the last {len(values)} datapoints [{shown}] were {word}"
        f"{alarm.comparison_operator} the threshold ({alarm.threshold:g})."
    )


def _period(alarm: Alarm) -> int:
    if alarm.period:
        return int(alarm.period)
    periods = [int(q.metric_stat.period) for q in alarm.metric_data_queries if q.metric_stat is not None]
    periods += [int(q.period) for q in alarm.metric_data_queries if q.period]
    return max(periods, default=60)


def _value(account_id: str, region: str, alarm: Alarm, start: datetime, end: datetime) -> float | None:
    """The alarm's one value for the period ``(start, end]``; None when it has no data there."""
    if alarm.metric_name:
        points = metrics.datapoints(
            account_id,
            region,
            alarm.namespace,
            alarm.metric_name,
            {str(d.name): str(d.value) for d in alarm.dimensions},
            start,
            end,
        )
        return metrics.statistic(points, alarm.extended_statistic or alarm.statistic)
    series = {q.id: q for q in alarm.metric_data_queries}
    returned = next((q for q in alarm.metric_data_queries if str(q.return_data).lower() != "false"), None)
    if returned is None:
        raise ValueError(f"alarm {alarm.name} has no metric query that returns data")
    return _query_value(account_id, region, returned, series, start, end)


def _query_value(
    account_id: str,
    region: str,
    query: MetricDataQuery,
    series: dict[str, MetricDataQuery],
    start: datetime,
    end: datetime,
) -> float | None:
    if query.metric_stat is not None:
        stat = query.metric_stat
        points = metrics.datapoints(
            account_id,
            region,
            stat.metric.namespace,
            stat.metric.metric_name,
            {str(d.name): str(d.value) for d in stat.metric.dimensions},
            start,
            end,
        )
        return metrics.statistic(points, stat.stat)
    return _expression(
        str(query.expression), lambda name: _query_value(account_id, region, series[name], series, start, end)
    )


def _expression(text: str, lookup: Callable[[str], float | None]) -> float | None:
    """A metric-math expression of + - * / over query ids; None if any operand has no data."""

    def walk(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            left, right = walk(node.left), walk(node.right)
            return None if left is None or right is None else BINARY[type(node.op)](left, right)
        if isinstance(node, ast.Name):
            return lookup(node.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        raise ValueError(f"metric math {text!r} uses something the emulator does not evaluate (only + - * /)")

    return walk(ast.parse(text, mode="eval"))


def _change_state(
    account_id: str, region: str, alarm: Alarm, state: str, reason: str, values: list[float | None], now: datetime
) -> None:
    old_state = alarm.state_value
    reason_data = json.dumps({"version": "1.0", "queryDate": now.isoformat(), "recentDatapoints": values})
    alarm.update_state(reason, reason_data, state)
    if not alarm.actions_enabled:
        return
    actions = {ALARM: alarm.alarm_actions, OK: alarm.ok_actions, INSUFFICIENT: alarm.insufficient_data_actions}[state]
    message = json.dumps(_notification(account_id, region, alarm, old_state, now))
    subject = f'{state}: "{alarm.name}" in {REGION_NAMES.get(region, region)}'[:100]
    for action in actions:
        topic = sns_backends[account_id][region].topics.get(action)
        if topic is None:
            logger.warning("alarm %s: action %s is not an existing SNS topic; skipped", alarm.name, action)
            continue
        topic.publish(message, subject=subject)


def _notification(account_id: str, region: str, alarm: Alarm, old_state: str, now: datetime) -> dict[str, Any]:
    """The JSON body CloudWatch publishes to an alarm's SNS topic."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": alarm.configuration_updated_timestamp.isoformat(),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": now.astimezone(UTC).isoformat(),
        "Region": REGION_NAMES.get(region, region),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "Statistic": alarm.statistic,
            "ExtendedStatistic": alarm.extended_statistic,
            "Dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
            "Period": _period(alarm),
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm,
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data,
        },
    }
