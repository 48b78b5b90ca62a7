"""CloudWatch metrics the emulator produces and reads: EMF extraction, service metrics, statistics.

* EMF: CloudWatch Logs turns a log line in Embedded Metric Format (a JSON object with
  ``_aws.CloudWatchMetrics``) into metric data points. ``extract_emf`` does that for every line
  written to any log group (fix D20 calls it from moto's PutLogEvents), so a function's printed
  metrics land in CloudWatch as they do in AWS.
* Service metrics: ``put`` is how the emulator's engines publish what AWS publishes for them
  (``AWS/Lambda`` Invocations/Errors/Duration, ``AWS/Backup`` job counts, ``AWS/SQS`` queue depth).
* Statistics: ``datapoints`` answers one metric's values in a window, the way an alarm reads them
  (dimensions must match exactly, as in CloudWatch).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum, cloudwatch_backends

from .clock import CLOCK

logger = logging.getLogger(__name__)


def put(
    account_id: str,
    region: str,
    namespace: str,
    name: str,
    value: float,
    dimensions: Mapping[str, str],
    unit: str = "None",
    timestamp: datetime | None = None,
) -> None:
    """Store one data point (timestamp defaults to the emulator's now)."""
    cloudwatch_backends[account_id][region].put_metric_data(
        namespace,
        [
            {
                "MetricName": name,
                "Value": value,
                "Unit": unit,
                "Dimensions": [{"Name": key, "Value": str(val)} for key, val in dimensions.items()],
                "Timestamp": _naive(timestamp or CLOCK.now()),
            }
        ],
    )


def extract_emf(account_id: str, region: str, message: str) -> int:
    """Store the metrics of one EMF log line; returns how many data points it held (0 if not EMF).

    The EMF timestamp is taken as written: function code reads the emulator's clock
    (``lambda_bootstrap.follow_emulator_clock``), so it is already emulated time."""
    try:
        document = json.loads(message)
        directives = document["_aws"]["CloudWatchMetrics"]
        stamp = datetime.fromtimestamp(document["_aws"]["Timestamp"] / 1000, UTC)
    except (ValueError, TypeError, KeyError):
        return 0
    stored = 0
    for directive in directives:
        for metric in directive.get("Metrics", []):
            values = document.get(metric.get("Name"))
            for value in values if isinstance(values, list) else [values]:
                if not isinstance(value, int | float):
                    continue
                for dimension_set in directive.get("Dimensions", [[]]):
                    dimensions = {key: str(document[key]) for key in dimension_set if key in document}
                    put(
                        account_id,
                        region,
                        directive["Namespace"],
                        metric["Name"],
                        float(value),
                        dimensions,
                        metric.get("Unit", "None"),
                        stamp,
                    )
                    stored += 1
    return stored


def datapoints(
    account_id: str,
    region: str,
    namespace: str,
    name: str,
    dimensions: Mapping[str, str],
    start: datetime,
    end: datetime,
) -> list[float]:
    """Values of the metric with exactly these dimensions and a timestamp in ``[start, end)``
    (a period, as CloudWatch aggregates them)."""
    wanted = sorted(dimensions.items())
    low, high = _naive(start), _naive(end)
    values: list[float] = []
    for datum in cloudwatch_backends[account_id][region].get_all_metrics():
        if datum.namespace != namespace or datum.name != name or not (low <= datum.timestamp < high):
            continue
        if sorted((d.name, d.value) for d in datum.dimensions) != wanted:
            continue
        if isinstance(datum, MetricDatum):
            values.append(float(datum.value))
        elif isinstance(datum, MetricAggregatedDatum):
            # Only the average survives aggregation; enough for the alarms this app sets.
            values.extend([datum.sum / datum.sample_count] * int(datum.sample_count))
    return values


def statistic(values: Iterable[float], name: str) -> float | None:
    """A CloudWatch statistic (Sum, Average, Minimum, Maximum, SampleCount, pNN) of the values;
    None when there are none (missing data)."""
    ordered = sorted(values)
    if not ordered:
        return None
    simple = {
        "Sum": sum,
        "Average": lambda v: sum(v) / len(v),
        "Minimum": min,
        "Maximum": max,
        "SampleCount": len,
    }
    if name in simple:
        return float(simple[name](ordered))  # type: ignore[operator]
    if name.lower().startswith("p"):
        rank = float(name[1:]) / 100 * len(ordered)
        return ordered[max(0, math.ceil(rank) - 1)]
    raise ValueError(f"statistic {name!r} is not one the emulator computes (Sum, Average, Minimum, Maximum, pNN)")


def _naive(moment: datetime) -> datetime:
    """moto stores metric timestamps as naive UTC datetimes."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def sample_queue_depths(when: datetime) -> None:
    """Publish ``AWS/SQS ApproximateNumberOfMessagesVisible`` for every queue, as SQS does each minute."""
    from moto.sqs.models import sqs_backends

    for account_id, regions in sqs_backends.items():
        for region, backend in regions.items():
            for queue in list(backend.queues.values()):
                depth = float(queue.approximate_number_of_messages)
                put(
                    account_id,
                    region,
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    depth,
                    {"QueueName": queue.name},
                    "Count",
                    when,
                )


def record_invocation(
    account_id: str, region: str, function_name: str, resource: str | None, duration_ms: float, failed: bool
) -> None:
    """The ``AWS/Lambda`` metrics of one invocation, per function and (through an alias) per resource."""
    dimension_sets: list[dict[str, str]] = [{"FunctionName": function_name}]
    if resource and resource != function_name:
        dimension_sets.append({"FunctionName": function_name, "Resource": resource})
    for dimensions in dimension_sets:
        put(account_id, region, "AWS/Lambda", "Invocations", 1, dimensions, "Count")
        put(account_id, region, "AWS/Lambda", "Errors", 1 if failed else 0, dimensions, "Count")
        put(account_id, region, "AWS/Lambda", "Duration", duration_ms, dimensions, "Milliseconds")


# AWS Backup's job-count metric per final job state.
BACKUP_JOB_METRICS = {
    "COMPLETED": "NumberOfBackupJobsCompleted",
    "FAILED": "NumberOfBackupJobsFailed",
    "ABORTED": "NumberOfBackupJobsAborted",
    "EXPIRED": "NumberOfBackupJobsExpired",
}


def record_backup_job(account_id: str, region: str, vault_name: str, resource_type: str, state: str) -> None:
    """The ``AWS/Backup`` count of one job that reached a final state, per vault and per vault and type."""
    name = BACKUP_JOB_METRICS.get(state)
    if name is None:
        return
    for dimensions in ({"BackupVaultName": vault_name}, {"BackupVaultName": vault_name, "ResourceType": resource_type}):
        put(account_id, region, "AWS/Backup", name, 1, dimensions, "Count")
