"""Conformance: log lines in Embedded Metric Format become metrics as the specification says.

Page followed: Amazon CloudWatch User Guide, "Specification: Embedded metric format",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
and, for the errors it counts, Amazon CloudWatch Logs User Guide, "Monitoring with CloudWatch
metrics" (``AWS/Logs`` ``EMFValidationErrors`` / ``EMFParsingErrors`` per ``LogGroupName``),
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CloudWatch-Logs-Monitoring-CloudWatch-Metrics.html
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tools.local_aws.clock import CLOCK

Aws = Callable[[str], Any]


def _document(namespace: str, metrics: list[dict[str, Any]], dimensions: list[list[str]], **members: Any) -> dict:
    return {
        "_aws": {
            "Timestamp": int(CLOCK.now().timestamp() * 1000),
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": dimensions, "Metrics": metrics}],
        },
        **members,
    }


def _write(aws: Aws, group: str, *lines: str) -> None:
    logs = aws("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    events = [{"timestamp": int(CLOCK.now().timestamp() * 1000), "message": line} for line in lines]
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)


def _metrics(aws: Aws, namespace: str) -> list[dict[str, Any]]:
    return aws("cloudwatch").list_metrics(Namespace=namespace)["Metrics"]


def _errors(aws: Aws, group: str, name: str) -> int:
    listed = aws("cloudwatch").list_metrics(
        Namespace="AWS/Logs", MetricName=name, Dimensions=[{"Name": "LogGroupName", "Value": group}]
    )["Metrics"]
    return len(listed)


def test_a_valid_document_publishes_one_metric_per_dimension_set_and_value(aws: Aws, suffix: str) -> None:
    """Specification: every DimensionSet creates a metric; a metric target may be an array of
    numbers (one value each).
    Amazon CloudWatch User Guide, "Specification: Embedded metric format",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    """
    namespace = f"Emf/{suffix}/valid"
    line = _document(
        namespace,
        [{"Name": "Latency", "Unit": "Milliseconds"}],
        [["Service"], ["Service", "Operation"]],
        Service="api",
        Operation="get",
        Latency=[1, 2, 3],
    )
    _write(aws, f"/emf/{suffix}/valid", json.dumps(line))
    dimension_sets = sorted({len(m["Dimensions"]) for m in _metrics(aws, namespace)})
    assert dimension_sets == [1, 2]
    stats = aws("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=[{"Name": "Service", "Value": "api"}],
        StartTime=CLOCK.now().timestamp() - 86400 * 14,
        EndTime=CLOCK.now().timestamp() + 86400 * 14,
        Period=86400 * 28,
        Statistics=["SampleCount"],
    )
    assert sum(p["SampleCount"] for p in stats["Datapoints"]) >= 3


@pytest.mark.parametrize(
    ("case", "document"),
    [
        (
            "dimension the line lacks",
            lambda ns: _document(ns, [{"Name": "M"}], [["Service", "Missing"]], Service="a", M=1),
        ),
        ("dimension that is not a string", lambda ns: _document(ns, [{"Name": "M"}], [["Code"]], Code=500, M=1)),
        ("metric the line lacks", lambda ns: _document(ns, [{"Name": "M"}], [[]])),
        ("metric that is not numeric", lambda ns: _document(ns, [{"Name": "M"}], [[]], M="fast")),
        (
            "more than 100 metrics",
            lambda ns: _document(ns, [{"Name": f"M{i}"} for i in range(101)], [[]], **{f"M{i}": 1 for i in range(101)}),
        ),
        (
            "more than 30 dimensions",
            lambda ns: _document(
                ns, [{"Name": "M"}], [[f"D{i}" for i in range(31)]], M=1, **{f"D{i}": "v" for i in range(31)}
            ),
        ),
        ("more than 100 values", lambda ns: _document(ns, [{"Name": "M"}], [[]], M=list(range(101)))),
        ("an unknown unit", lambda ns: _document(ns, [{"Name": "M", "Unit": "Parsecs"}], [[]], M=1)),
        ("no timestamp", lambda ns: {**_document(ns, [{"Name": "M"}], [[]], M=1), "_aws": {"CloudWatchMetrics": []}}),
    ],
)
def test_an_invalid_document_publishes_nothing_and_counts_a_validation_error(
    aws: Aws, suffix: str, case: str, document: Callable[[str], dict]
) -> None:
    """Specification: the root node MUST contain every target member the directives reference
    (dimensions as strings, metrics as numbers or arrays of at most 100 numbers); at most 100
    MetricDefinitions per directive and 30 keys per DimensionSet; Timestamp is required. Such a
    document is not published at all (not with fewer dimensions) and CloudWatch Logs counts it
    in ``AWS/Logs EMFValidationErrors``.
    Amazon CloudWatch User Guide, "Specification: Embedded metric format",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    """
    label = case.replace(" ", "-")
    namespace, group = f"Emf/{suffix}/{label}", f"/emf/{suffix}/{label}"
    _write(aws, group, json.dumps(document(namespace)))
    assert _metrics(aws, namespace) == []
    assert _errors(aws, group, "EMFValidationErrors") == 1


def test_a_broken_emf_line_counts_a_parsing_error(aws: Aws, suffix: str) -> None:
    """A line that declares ``_aws`` but is not JSON counts in ``AWS/Logs EMFParsingErrors``.
    Amazon CloudWatch User Guide, "Specification: Embedded metric format",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    """
    group = f"/emf/{suffix}/parsing"
    _write(aws, group, '{"_aws": {"CloudWatchMetrics": [', "plain text is no EMF at all")
    assert (_errors(aws, group, "EMFParsingErrors"), _errors(aws, group, "EMFValidationErrors")) == (1, 0)


def test_a_lambda_line_with_its_metadata_prefix_is_accepted(aws: Aws, suffix: str) -> None:
    """Specification, PutLogEvents request format: Lambda may put metadata such as a timestamp and
    the request id in front of the event; a valid document after this metadata is valid.
    Amazon CloudWatch User Guide, "Specification: Embedded metric format",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    """
    namespace = f"Emf/{suffix}/prefixed"
    document = json.dumps(_document(namespace, [{"Name": "Success"}], [["Dependency"]], Dependency="S3", Success=1))
    prefixed = f"2026-12-05T07:40:00.000Z\t8f5a7e2c-1d3b-4f6a-9c2e-3b7d1a0e5f44\tINFO\t{document}"
    _write(aws, f"/emf/{suffix}/prefixed", prefixed)
    assert {m["MetricName"] for m in _metrics(aws, namespace)} == {"Success"}
