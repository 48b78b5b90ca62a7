"""CloudWatch alarm evaluation: state changes and their SNS actions, on the emulator's clock.

Every minute of emulated time (a timer source registered by fix D21) each metric alarm is
evaluated as the Amazon CloudWatch User Guide ("Using Amazon CloudWatch alarms", "Configuring how
CloudWatch alarms treat missing data") describes it:

* periods are aligned to the clock (a 5-minute period starts at :00, :05, ...); the newest is the
  one in progress. Each is reduced to one value by the alarm's statistic (or metric math);
* CloudWatch reads an *evaluation range* longer than ``EvaluationPeriods`` (the guide's example:
  5 periods for 3); here ``EvaluationPeriods + EXTRA_PERIODS``. When the range holds at least
  ``EvaluationPeriods`` real values, the newest of them decide and the missing-data rule is not
  used; otherwise every real value in the range counts and ``TreatMissingData`` fills the rest,
  as the guide's 3-of-3 and 2-of-3 tables show (``decide``);
* alarms on ``AWS/DynamoDB`` metrics always ignore missing data, whatever they are configured with.

A changed state is recorded in the alarm (history, reason, reason data) and published to its
actions' SNS topics with the message body CloudWatch sends.
"""

from __future__ import annotations

import ast
import itertools
import json
import logging
import operator
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from ... import world
from ...clock import CLOCK, Due
from ...pipeline import caller
from ..events import resource_policy
from . import metrics

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
# CloudWatch publishes an alarm's notifications as its service principal (an encrypted topic's key
# policy must name it).
CLOUDWATCH = "cloudwatch.amazonaws.com"
EVALUATE_ORDER = 90  # after whatever else falls due in the same minute (schedules, backups)
# How many periods the evaluation range reaches beyond EvaluationPeriods. AWS does not publish the
# rule ("depends on the length of the alarm period"); its worked example reads 5 periods for 3.
EXTRA_PERIODS = 2
ALWAYS_IGNORE_MISSING = "AWS/DynamoDB"


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
    for account_id, region, alarm in world.alarms():
        if alarm.metric_name or alarm.metric_data_queries:
            evaluate(account_id, region, alarm, now)


def evaluate(account_id: str, region: str, alarm: world.Alarm, now: datetime) -> str:
    """Evaluate one alarm at ``now``; changes its state (and runs its actions) if it moved."""
    period = timedelta(seconds=_period(alarm))
    newest = datetime.fromtimestamp(now.timestamp() // period.total_seconds() * period.total_seconds(), UTC)
    periods = int(alarm.evaluation_periods)
    starts = [newest - period * k for k in reversed(range(periods + EXTRA_PERIODS))]  # oldest first
    values = [_value(account_id, region, alarm, start, start + period) for start in starts]
    compare = COMPARISONS[alarm.comparison_operator]
    breaching = [None if v is None else compare(v, alarm.threshold) for v in values]
    rule = "ignore" if ALWAYS_IGNORE_MISSING in _namespaces(alarm) else alarm.treat_missing_data or "missing"
    needed = int(alarm.datapoints_to_alarm or periods)
    state = decide(breaching, periods, needed, rule)
    if state is not None and state != alarm.state_value:
        reason = _reason(alarm, state, starts, values, needed)
        _change_state(account_id, region, alarm, state, reason, starts, values, now)
    return str(alarm.state_value)


def decide(points: list[bool | None], periods: int, needed: int, missing_rule: str) -> str | None:
    """The state for the evaluation range ``points`` (oldest first; True breaching, None missing);
    None keeps the current state.

    Follows the User Guide: with ``periods`` real points the newest ``periods`` of them decide; with
    none the rule alone decides; with some, every real point counts and the rule fills the rest,
    filling as few as possible. Under ``missing`` a breaching point at least ``needed`` periods old
    with only breaching or missing ones after it is ALARM (the guide's "premature alarm" rule);
    ``ignore`` keeps the state wherever ``missing`` would need the missing points to decide.
    """
    real = [p for p in points if p is not None]
    if len(real) >= periods:
        return ALARM if sum(real[-periods:]) >= needed else OK
    if not real:
        return {"breaching": ALARM, "notBreaching": OK, "ignore": None}.get(missing_rule, INSUFFICIENT)
    breaching = sum(real)
    if missing_rule == "breaching":
        breaching += periods - len(real)
    if breaching >= needed:
        return ALARM
    if missing_rule in ("breaching", "notBreaching") or not all(real):
        return OK
    if missing_rule == "ignore":
        return None
    oldest_breach_age = len(points) - points.index(True)  # 1 = the newest period
    return ALARM if oldest_breach_age >= needed else INSUFFICIENT


def _namespaces(alarm: world.Alarm) -> set[str]:
    if alarm.metric_name:
        return {str(alarm.namespace)}
    return {str(q.metric_stat.metric.namespace) for q in alarm.metric_data_queries if q.metric_stat is not None}


WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


def _reason(alarm: world.Alarm, state: str, starts: list[datetime], values: list[float | None], needed: int) -> str:
    """CloudWatch's reason text: the real values of the range, newest first, with their periods."""
    real = [(start, v) for start, v in zip(reversed(starts), reversed(values), strict=True) if v is not None]
    if not real:
        if state == INSUFFICIENT:
            return f"Insufficient Data: {len(values)} datapoints were unknown."
        treated = "Breaching" if state == ALARM else "NonBreaching"
        return (
            f"Threshold Crossed: no datapoints were received for {len(values)} periods and {len(values)} "
            f"missing datapoints were treated as [{treated}]."
        )
    compare = COMPARISONS[alarm.comparison_operator]
    breaching = sum(1 for _, v in real if compare(v, alarm.threshold))
    shown = ", ".join(f"{v!r} ({start.astimezone(UTC):%d/%m/%y %H:%M:%S})" for start, v in real)
    verb = "was" if breaching == 1 else "were"
    if state != ALARM:
        verb += " not"
    transition = "OK -> ALARM" if state == ALARM else "ALARM -> OK"
    return (
        f"Threshold Crossed: {breaching} out of the last {len(real)} datapoints [{shown}] {verb} "
        f"{WORDS[alarm.comparison_operator]} the threshold ({float(alarm.threshold)!r}) "
        f"(minimum {needed} datapoint{'s' if needed > 1 else ''} for {transition} transition)."
    )


def _period(alarm: world.Alarm) -> int:
    if alarm.period:
        return int(alarm.period)
    periods = [int(q.metric_stat.period) for q in alarm.metric_data_queries if q.metric_stat is not None]
    periods += [int(q.period) for q in alarm.metric_data_queries if q.period]
    return max(periods, default=60)


def _value(account_id: str, region: str, alarm: world.Alarm, start: datetime, end: datetime) -> float | None:
    """The alarm's one value for the period ``[start, end)``; None when it has no data there."""
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
    query: world.MetricDataQuery,
    series: dict[str, world.MetricDataQuery],
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
    return expression(
        str(query.expression), lambda name: _query_value(account_id, region, series[name], series, start, end)
    )


def expression(text: str, lookup: Callable[[str], float | None]) -> float | None:
    """One period of a metric-math expression of + - * / and ``FILL(id, number)`` over query ids.

    As the User Guide's "Use metric math" says, a value missing from one series is taken as 0 where
    another series has one; a period where no series has a value stays missing, and a division by
    zero drops the point."""

    def walk(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            left, right = walk(node.left), walk(node.right)
            if left is None and right is None:
                return None
            if isinstance(node.op, ast.Div) and not right:
                return None
            return float(BINARY[type(node.op)](left or 0.0, right or 0.0))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "FILL":
            series, filler = node.args
            value = walk(series)
            return walk(filler) if value is None else value
        if isinstance(node, ast.Name):
            return lookup(node.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        raise ValueError(f"metric math {text!r} uses something the emulator does not evaluate (+ - * /, FILL)")

    return walk(ast.parse(text, mode="eval"))


def _change_state(
    account_id: str,
    region: str,
    alarm: world.Alarm,
    state: str,
    reason: str,
    starts: list[datetime],
    values: list[float | None],
    now: datetime,
) -> None:
    old_state = alarm.state_value
    recent = [{"timestamp": aws_time(t), "value": v} for t, v in zip(starts, values, strict=True) if v is not None]
    reason_data = json.dumps({"version": "1.0", "queryDate": aws_time(now), "recentDatapoints": recent})
    alarm.update_state(reason, reason_data, state)
    if not alarm.actions_enabled:
        return
    actions = {ALARM: alarm.alarm_actions, OK: alarm.ok_actions, INSUFFICIENT: alarm.insufficient_data_actions}[state]
    message = json.dumps(notification(account_id, region, alarm, old_state, now))
    subject = f'{state}: "{alarm.name}" in {REGION_NAMES.get(region, region)}'[:100]
    for action in actions:
        topic = world.topic(account_id, region, action)
        if topic is None:
            logger.warning("alarm %s: action %s is not an existing SNS topic; skipped", alarm.name, action)
            continue
        if not _may_publish(alarm, account_id, region, action):
            logger.warning("alarm %s: the policy of %s does not let CloudWatch publish; skipped", alarm.name, action)
            continue
        try:
            with caller.acting_as(caller.Caller.service_principal(account_id, CLOUDWATCH, alarm.alarm_arn)):
                topic.publish(message, subject=subject)
        except world.AWS_ERRORS as refused:  # e.g. the topic's key policy does not let CloudWatch in
            logger.warning("alarm %s: publishing to %s failed: %s", alarm.name, action, refused)


def _may_publish(alarm: world.Alarm, account_id: str, region: str, topic_arn: str) -> bool:
    """Whether the topic's policy lets CloudWatch publish for this alarm: the request carries the
    alarm as aws:SourceArn, its account as aws:SourceAccount (Amazon SNS Developer Guide, "Example
    cases for Amazon SNS access control") and as SNS's AWS:SourceOwner, which the default topic
    policy names."""
    context = {"aws:SourceArn": alarm.alarm_arn, "aws:SourceAccount": account_id, "aws:SourceOwner": account_id}
    policy = world.topic_policy(account_id, region, topic_arn)
    return resource_policy.allows(policy, CLOUDWATCH, "sns:Publish", topic_arn, context)


def aws_time(moment: datetime) -> str:
    """A timestamp as CloudWatch writes it in alarm messages: ``2026-12-05T07:40:00.000+0000``."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def notification(account_id: str, region: str, alarm: world.Alarm, old_state: str, now: datetime) -> dict[str, Any]:
    """The JSON body CloudWatch publishes to an alarm's SNS topic (its documented sample's shape)."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": aws_time(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": aws_time(now),
        "Region": REGION_NAMES.get(region, region),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Trigger": _trigger(alarm),
    }


def _trigger(alarm: world.Alarm) -> dict[str, Any]:
    """What the alarm watches: a metric with its statistic, or the metric-math queries."""
    if alarm.metric_name:
        extended = alarm.extended_statistic
        watched: dict[str, Any] = {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "StatisticType": "ExtendedStatistic" if extended else "Statistic",
            **({"ExtendedStatistic": extended} if extended else {"Statistic": str(alarm.statistic).upper()}),
            "Unit": alarm.unit,
            "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
        }
    else:
        watched = {"Metrics": [_query(q) for q in alarm.metric_data_queries]}
    return {
        **watched,
        "Period": _period(alarm),
        "EvaluationPeriods": int(alarm.evaluation_periods),
        "DatapointsToAlarm": int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": float(alarm.threshold),
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }


def _query(query: world.MetricDataQuery) -> dict[str, Any]:
    shown: dict[str, Any] = {"Id": query.id, "ReturnData": str(query.return_data).lower() != "false"}
    if query.label:
        shown["Label"] = query.label
    if query.expression:
        shown["Expression"] = query.expression
    if query.metric_stat is not None:
        stat = query.metric_stat
        shown["MetricStat"] = {
            "Metric": {
                "Dimensions": [{"value": d.value, "name": d.name} for d in stat.metric.dimensions],
                "MetricName": stat.metric.metric_name,
                "Namespace": stat.metric.namespace,
            },
            "Period": int(stat.period),
            "Stat": stat.stat,
        }
    return shown


def state_history(alarm: world.Alarm) -> list[dict[str, Any]]:
    """The alarm's ``StateUpdate`` history items, oldest first, as DescribeAlarmHistory returns them.

    moto appends the *old* state (value, reason, reason data, since when) to ``alarm.history`` at each
    change, so change k goes from entry k to entry k+1 (the current state after the last entry)."""
    states = [(entry[3], entry[1], entry[2], entry[4]) for entry in alarm.history if entry[0] == "StateUpdate"]
    states.append((alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp))
    items = []
    for (old, old_reason, _, _), (new, new_reason, new_data, when) in itertools.pairwise(states):
        when = when if when.tzinfo else when.replace(tzinfo=UTC)  # moto's utcnow is naive UTC
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old, "stateReason": old_reason},
            "newState": {"stateValue": new, "stateReason": new_reason, "stateReasonData": json.loads(new_data or "{}")},
        }
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": "CompositeAlarm" if alarm.rule is not None else "MetricAlarm",
                "Timestamp": when,
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old} to {new}",
                "HistoryData": json.dumps(data),
            }
        )
    return items
