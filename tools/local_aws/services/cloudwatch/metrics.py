"""CloudWatch metrics the emulator produces and reads: EMF extraction, service metrics, statistics.

* EMF: CloudWatch Logs turns a log line in Embedded Metric Format (a JSON object with
  ``_aws.CloudWatchMetrics``) into metric data points, and counts the lines that break the
  specification in ``AWS/Logs``. ``extract_emf`` does that for every line written to any log group
  (fix D20 calls it from moto's PutLogEvents), so a function's printed metrics land in CloudWatch
  as they do in AWS.
* Service metrics: ``put`` is how the emulator's engines publish what AWS publishes for them
  (``AWS/Lambda`` Invocations/Errors/Duration, ``AWS/Backup`` job counts, ``AWS/SQS`` queue depth).
* Statistics: ``datapoints`` answers one metric's values in a window, the way an alarm reads them
  (dimensions must match exactly, as in CloudWatch).
* Storage: every read (alarms here; ListMetrics, GetMetricData and GetMetricStatistics through fix
  Q16) goes through an index of moto's data points by series and time (``_SeriesIndex``), and once
  a day CloudWatch's retention aggregates and drops old points (``TIERS``, fix D52), so an emulated
  day costs the same in the first week as in the fourth.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ... import world
from ...clock import CLOCK, Due, midnights

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
    world.put_metric_data(
        account_id,
        region,
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


_SIZES = (
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
)
EMF_UNITS = frozenset(
    ("Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", "None", *_SIZES)
).union(f"{size}/Second" for size in _SIZES)
EMF_MAX_METRICS, EMF_MAX_DIMENSIONS, EMF_MAX_VALUES = 100, 30, 100
EMF_MAX_NAME, EMF_MAX_DIMENSION_KEY, EMF_MAX_DIMENSION_VALUE = 1024, 250, 1024


class InvalidEmf(ValueError):
    """A log line that declares EMF (``_aws``) but breaks the specification; the message says how."""


def extract_emf(account_id: str, region: str, log_group: str, message: str) -> int:
    """Store the metrics of one EMF log line; returns how many data points it held (0 if not EMF).

    Follows the CloudWatch User Guide, "Specification: Embedded metric format": the line is one JSON
    object, after the metadata Lambda may put in front of it (timestamp, request id, level). A line
    that declares ``_aws`` but is not valid JSON counts as ``AWS/Logs EMFParsingErrors``, one that
    breaks the specification as ``EMFValidationErrors`` (per log group); neither publishes anything.
    The EMF timestamp is taken as written: function code reads the emulator's clock
    (``awslambda.bootstrap.follow_emulator_clock``), so it is already emulated time."""
    start = message.find("{")
    if start < 0 or '"_aws"' not in message or (start and not message[:start].endswith(("\t", " "))):
        return 0
    try:
        document = json.loads(message[start:])
    except ValueError:
        _count_emf_error(account_id, region, log_group, "EMFParsingErrors")
        return 0
    if not isinstance(document, dict) or "_aws" not in document:
        return 0
    try:
        points = list(_emf_points(document))
    except InvalidEmf as error:
        logger.info("EMF line in %s rejected: %s", log_group, error)
        _count_emf_error(account_id, region, log_group, "EMFValidationErrors")
        return 0
    stamp = datetime.fromtimestamp(document["_aws"]["Timestamp"] / 1000, UTC)
    for namespace, name, value, dimensions, unit in points:
        put(account_id, region, namespace, name, value, dimensions, unit, stamp)
    return len(points)


def _count_emf_error(account_id: str, region: str, log_group: str, name: str) -> None:
    put(account_id, region, "AWS/Logs", name, 1, {"LogGroupName": log_group}, "Count")


def _emf_points(document: dict[str, Any]) -> Iterable[tuple[str, str, float, dict[str, str], str]]:
    """(namespace, metric, value, dimensions, unit) of every point; raises InvalidEmf first if any
    part of the document breaks the specification (nothing of an invalid document is published)."""
    metadata = document["_aws"]
    if not isinstance(metadata, dict) or not isinstance(metadata.get("CloudWatchMetrics"), list):
        raise InvalidEmf("_aws.CloudWatchMetrics must be an array")
    if not isinstance(metadata.get("Timestamp"), int) or isinstance(metadata["Timestamp"], bool):
        raise InvalidEmf("_aws.Timestamp must be an integer (milliseconds since the epoch)")
    points = []
    for directive in metadata["CloudWatchMetrics"]:
        namespace = directive.get("Namespace") if isinstance(directive, dict) else None
        if not isinstance(namespace, str) or not 0 < len(namespace) <= EMF_MAX_NAME:
            raise InvalidEmf("a MetricDirective needs a Namespace of 1 to 1024 characters")
        dimension_sets, definitions = directive.get("Dimensions"), directive.get("Metrics")
        if not isinstance(dimension_sets, list) or not dimension_sets:
            raise InvalidEmf("a MetricDirective needs a Dimensions array of DimensionSets")
        if not isinstance(definitions, list) or len(definitions) > EMF_MAX_METRICS:
            raise InvalidEmf(f"a MetricDirective needs a Metrics array of at most {EMF_MAX_METRICS}")
        resolved = [_dimension_set(document, keys) for keys in dimension_sets]
        for definition in definitions:
            name, unit, values = _metric(document, definition)
            points += [(namespace, name, v, dims, unit) for v in values for dims in resolved]
    return points


def _dimension_set(document: dict[str, Any], keys: Any) -> dict[str, str]:
    if not isinstance(keys, list) or len(keys) > EMF_MAX_DIMENSIONS:
        raise InvalidEmf(f"a DimensionSet is an array of at most {EMF_MAX_DIMENSIONS} keys")
    dimensions = {}
    for key in keys:
        if not isinstance(key, str) or not 0 < len(key) <= EMF_MAX_DIMENSION_KEY:
            raise InvalidEmf(f"a dimension key must be a string of 1 to {EMF_MAX_DIMENSION_KEY} characters")
        value = document.get(key)
        if not isinstance(value, str) or len(value) > EMF_MAX_DIMENSION_VALUE:
            raise InvalidEmf(f"dimension {key!r} must be a root member with a string value of at most 1024 characters")
        dimensions[key] = value
    return dimensions


def _metric(document: dict[str, Any], definition: Any) -> tuple[str, str, list[float]]:
    name = definition.get("Name") if isinstance(definition, dict) else None
    if not isinstance(name, str) or not 0 < len(name) <= EMF_MAX_NAME:
        raise InvalidEmf("a MetricDefinition needs a Name of 1 to 1024 characters")
    unit = definition.get("Unit", "None")
    if unit not in EMF_UNITS:
        raise InvalidEmf(f"metric {name!r}: {unit!r} is not a CloudWatch unit")
    if definition.get("StorageResolution", 60) not in (1, 60):
        raise InvalidEmf(f"metric {name!r}: StorageResolution must be 1 or 60")
    target = document.get(name)
    values = target if isinstance(target, list) else [target]
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != len(values) or len(numbers) > EMF_MAX_VALUES:
        raise InvalidEmf(f"metric {name!r} must be a root member holding a number or at most 100 numbers")
    return name, unit, numbers


SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, name, sorted dimensions

# How long CloudWatch keeps data points of each period (Amazon CloudWatch User Guide, "Metrics
# concepts", metrics retention; GetMetricStatistics API reference): 1-minute points for 15 days,
# 5-minute for 63 days, 1-hour for 455 days; points older than a tier keeps them are aggregated into
# the next tier's period. moto does not record StorageResolution, so every point is taken as standard
# (1-minute) resolution and the 3-hour tier of high-resolution points does not apply.
TIERS = (
    (timedelta(minutes=1), timedelta(days=15)),
    (timedelta(minutes=5), timedelta(days=63)),
    (timedelta(hours=1), timedelta(days=455)),
)
RETENTION_ORDER = 5  # the daily pass runs early in its minute, before alarms are evaluated


class _Series:
    """One metric's data points in timestamp order; ``stamps`` holds their timestamps (naive UTC) for
    ``bisect``, so a window is found in O(log n) and read in O(points in it)."""

    __slots__ = ("points", "stamps")

    def __init__(self) -> None:
        self.points: list[Any] = []
        self.stamps: list[datetime] = []

    def add(self, datum: Any) -> datetime:
        """Insert in timestamp order (data mostly arrives in order: then it is an append); returns
        the point's timestamp."""
        stamp = _naive(datum.timestamp)
        at = bisect.bisect_right(self.stamps, stamp)
        self.stamps.insert(at, stamp)
        self.points.insert(at, datum)
        return stamp

    def drop_before(self, moment: datetime) -> bool:
        """Drop the points older than ``moment``; whether there were any."""
        gone = self.span(datetime.min, moment).stop
        del self.points[:gone], self.stamps[:gone]
        return gone > 0

    def span(self, low: datetime, high: datetime) -> slice:
        """The positions of the points with a timestamp in ``[low, high)``."""
        return slice(bisect.bisect_left(self.stamps, low), bisect.bisect_left(self.stamps, high))

    def roll_up(self, low: datetime, high: datetime, period: timedelta) -> bool:
        """Replace the points in ``[low, high)`` with one statistic set per period and unit; whether
        there were any."""
        span = self.span(low, high)
        if span.start >= span.stop:
            return False
        buckets: dict[tuple[datetime, Any], list[Any]] = {}
        for stamp, datum in zip(self.stamps[span], self.points[span], strict=True):
            buckets.setdefault((_floor(stamp, period), datum.unit), []).append(datum)
        merged = sorted(
            ((start, _aggregate(start, points)) for (start, _unit), points in buckets.items()), key=lambda p: p[0]
        )
        self.stamps[span] = [start for start, _datum in merged]
        self.points[span] = [datum for _start, datum in merged]
        return True


def _floor(stamp: datetime, period: timedelta) -> datetime:
    return stamp - (stamp - datetime.min) % period


def _aggregate(start: datetime, points: list[Any]) -> Any:
    """One statistic set holding every value of ``points`` (single values and statistic sets)."""
    sets = [
        (p.min, p.max, p.sample_count, p.sum)
        if isinstance(p, world.MetricAggregatedDatum)
        else (p.value, p.value, 1.0, p.value)
        for p in points
    ]
    return world.aggregated_datum(
        points[0],
        start,
        min(s[0] for s in sets),
        max(s[1] for s in sets),
        sum(s[2] for s in sets),
        sum(s[3] for s in sets),
    )


class _SeriesIndex:
    """moto keeps every data point in one flat list and scans all of it on every read, and an alarm
    reads its series every emulated minute: each read got slower as emulated history grew. This
    index maps a series to its points in timestamp order and takes in only what was appended to
    moto's list since it last looked (a list moto replaced, e.g. on reset, is read again from the
    start). Reads (alarms, ListMetrics, GetMetricData, GetMetricStatistics) touch only the series
    and the window they ask for. moto computes S3's storage metrics afresh on each read
    (``aws_metric_data``); those are read only for ``AWS/S3``."""

    def __init__(self) -> None:
        # Requests and the clock read at the same time: one of them takes in new points at a time.
        self._lock = threading.RLock()
        # (account, region) -> (the list last indexed, how much of it, the series)
        self._backends: dict[tuple[str, str], tuple[list[Any], int, dict[SeriesKey, _Series]]] = {}
        # (account, region) -> the cut-off of each retention tier at its last pass
        self._rolled: dict[tuple[str, str], list[datetime]] = {}
        # (account, region) -> the oldest timestamp indexed since that pass
        self._oldest_new: dict[tuple[str, str], datetime] = {}

    def series(self, account_id: str, region: str) -> dict[SeriesKey, _Series]:
        """Every series of the region, up to date with moto's list."""
        with self._lock:
            data = world.metric_data(account_id, region)
            indexed, done, series = self._backends.get((account_id, region), (data, 0, {}))
            if indexed is not data or len(data) < done:
                done, series = 0, {}
                self._rolled.pop((account_id, region), None)
            oldest = self._oldest_new.get((account_id, region), datetime.max)
            end = len(data)
            for datum in data[done:end]:
                oldest = min(oldest, series.setdefault(_series_key(datum), _Series()).add(datum))
            self._oldest_new[(account_id, region)] = oldest
            self._backends[(account_id, region)] = (data, end, series)
            return series

    def window(self, account_id: str, region: str, key: SeriesKey, low: datetime, high: datetime) -> list[Any]:
        """The series' points with a timestamp in ``[low, high)`` (naive UTC), oldest first."""
        with self._lock:
            found = self.series(account_id, region).get(key)
            points = found.points[found.span(low, high)] if found else []
        if key[0] == "AWS/S3":
            computed = world.aws_metric_data(account_id, region)
            points = points + [d for d in computed if _series_key(d) == key and low <= _naive(d.timestamp) < high]
        return points

    def keys(self, account_id: str, region: str) -> list[SeriesKey]:
        with self._lock:
            return list(self.series(account_id, region))

    def newest(self, account_id: str, region: str, since: datetime) -> list[Any]:
        """The newest point of each series that has one at or after ``since``."""
        with self._lock:
            return [one.points[-1] for one in self.series(account_id, region).values() if one.stamps[-1] >= since]

    def apply_retention(self, account_id: str, region: str, now: datetime) -> None:
        """Aggregate and drop what CloudWatch no longer keeps at ``now`` (``TIERS``), in the index
        and in moto's list. Each pass rolls up only what aged past a cut-off since the last one, and
        back to the oldest point that arrived since then."""
        with self._lock:
            series = self.series(account_id, region)
            hour = _floor(_naive(now), timedelta(hours=1))
            cutoffs = [hour - kept for _period, kept in TIERS]
            previous = self._rolled.get((account_id, region), [datetime.min] * len(TIERS))
            arrived = _floor(self._oldest_new.pop((account_id, region), datetime.max), timedelta(hours=1))
            since = [min(cutoff, arrived) for cutoff in previous]
            changed = False
            for one in series.values():
                changed |= one.drop_before(cutoffs[-1])
                # Coarsest first, so that what a finer tier hands on today is not rolled up twice.
                for tier in reversed(range(len(TIERS) - 1)):
                    changed |= one.roll_up(max(since[tier], cutoffs[tier + 1]), cutoffs[tier], TIERS[tier + 1][0])
            self._rolled[(account_id, region)] = cutoffs
            if not changed:
                return
            for key in [key for key, one in series.items() if not one.points]:
                del series[key]
            data, done, _series = self._backends[(account_id, region)]
            kept = [datum for one in series.values() for datum in one.points]
            # moto's list is the store its own code reads; what arrived since it was indexed stays at its
            # end, to be indexed by the next read.
            data[:] = kept + data[done:]
            self._backends[(account_id, region)] = (data, len(kept), series)


def _series_key(datum: Any) -> SeriesKey:
    return datum.namespace, datum.name, tuple(sorted((d.name, d.value) for d in datum.dimensions))


_SERIES = _SeriesIndex()
LISTED_FOR = timedelta(days=14)  # ListMetrics leaves out a metric with no data in the past two weeks


def listed(account_id: str, region: str, now: datetime) -> list[Any]:
    """One data point (the newest) of each metric ListMetrics returns: those with data in the past
    two weeks (ListMetrics API reference), and the ``AWS/S3`` metrics moto computes."""
    newest = _SERIES.newest(account_id, region, _naive(now) - LISTED_FOR)
    computed = {_series_key(datum): datum for datum in world.aws_metric_data(account_id, region)}
    return newest + list(computed.values())


def in_window(
    account_id: str, region: str, metrics: set[tuple[str, str]] | None, low: datetime, high: datetime
) -> list[Any]:
    """The data points in ``[low, high)`` of every series of these (namespace, name) pairs, whatever
    their dimensions (None: of every series)."""
    keys = set(_SERIES.keys(account_id, region))
    if metrics is None or any(namespace == "AWS/S3" for namespace, _name in metrics):
        keys |= {_series_key(datum) for datum in world.aws_metric_data(account_id, region)}
    return [
        datum
        for key in keys
        if metrics is None or key[:2] in metrics
        for datum in _SERIES.window(account_id, region, key, _naive(low), _naive(high))
    ]


def due_retention(start: datetime, end: datetime) -> Iterable[Due]:
    """Timer source: CloudWatch's metric retention, applied at every midnight (UTC) in ``(start, end]``."""
    for moment in midnights(start, end):
        yield Due(moment, RETENTION_ORDER, "apply CloudWatch metric retention", apply_retention)


def apply_retention() -> None:
    """Aggregate and drop the data points CloudWatch no longer keeps (``TIERS``), in every region."""
    now = CLOCK.now()
    for account_id, region in world.metric_regions():
        _SERIES.apply_retention(account_id, region, now)


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
    key = (namespace, name, tuple(sorted(dimensions.items())))
    values: list[float] = []
    for datum in _SERIES.window(account_id, region, key, _naive(start), _naive(end)):
        if isinstance(datum, world.MetricDatum):
            values.append(float(datum.value))
        elif isinstance(datum, world.MetricAggregatedDatum):
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
    for account_id, region, queue in world.queues():
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
