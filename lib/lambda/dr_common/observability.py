"""Structured logs and CloudWatch metrics with AWS Lambda Powertools.

Metrics are Embedded Metric Format lines on stdout: the functions' VPC has no CloudWatch monitoring
endpoint, and Lambda ships stdout to CloudWatch Logs, which extracts them. No Powertools ``service``
is set for metrics: it would add a "service" dimension to each, and the alarms match dimensions
exactly. No tracer: the functions run without active tracing and their VPC has no X-Ray endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

__all__ = ["Logger", "MetricUnit", "current_logger", "logger", "publish"]

_loggers: list[Logger] = []


def logger(service: str) -> Logger:
    """The function's JSON logger, which the shared modules log to as well. The service is named
    here, not in POWERTOOLS_SERVICE_NAME, which would also reach the metrics."""
    _loggers[:] = [Logger(service=service)]
    return _loggers[0]


def current_logger() -> Logger:
    """The logger the function made (a generic one until it made its own)."""
    return _loggers[0] if _loggers else logger("dr-function")


def publish(
    namespace: str,
    dimensions: Mapping[str, str],
    values: Mapping[str, tuple[float, MetricUnit]],
    *,
    properties: Mapping[str, str] | None = None,
    timestamp: datetime | None = None,
) -> None:
    """Print one EMF document: ``values`` (name -> (value, unit)) under ``dimensions``, with
    ``properties`` as searchable members of the log line, at ``timestamp`` (default: now)."""
    metrics = EphemeralMetrics(namespace=namespace)
    for dimension, member in dimensions.items():
        metrics.add_dimension(dimension, member)
    for name, (value, unit) in values.items():
        metrics.add_metric(name=name, unit=unit, value=value)
    for key, text in (properties or {}).items():
        metrics.add_metadata(key, text)
    if timestamp is not None:
        metrics.set_timestamp(timestamp)
    metrics.flush_metrics()
