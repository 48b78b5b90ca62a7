"""Structured logs, CloudWatch metrics and X-Ray traces with AWS Lambda Powertools.

Metrics are Embedded Metric Format lines on stdout: the functions' VPC has no CloudWatch monitoring
endpoint, and Lambda ships stdout to CloudWatch Logs, which extracts them. No Powertools ``service``
is set for metrics: it would add a "service" dimension to each, and the alarms match dimensions
exactly.

Traces: every function runs with X-Ray active tracing (lib/constructs/kit_function.py). ``tracer``
is the one Powertools Tracer: each handler's entry point is ``@tracer.capture_lambda_handler``, and
the steps an operator wants timed are subsegments (``step``). Its trace data goes over UDP to the
X-Ray daemon Lambda runs beside the function (``AWS_XRAY_DAEMON_ADDRESS``); a lost datagram loses
trace data, never an invocation. Only botocore is patched, so every AWS call is a subsegment of its
own: httplib is not, because it would record the custom resources' pre-signed ``ResponseURL``
(credential-bearing), and pg8000 is not, because the SQL is timed by the step around it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

__all__ = ["Logger", "MetricUnit", "current_logger", "logger", "publish", "step", "tracer"]

PATCHED_MODULES = ("botocore",)
# Disabled outside Lambda (no LAMBDA_TASK_ROOT: unit tests), where no daemon listens.
tracer = Tracer(patch_modules=PATCHED_MODULES)

_loggers: list[Logger] = []


def logger(service: str) -> Logger:
    """The function's JSON logger, which the shared modules log to as well; ``service`` also names
    the function's traces (the handler subsegment's ``Service`` annotation). The service is named
    here, not in POWERTOOLS_SERVICE_NAME, which would also reach the metrics."""
    _loggers[:] = [Logger(service=service)]
    tracer.service = service
    return _loggers[0]


@contextmanager
def step(name: str, **annotations: str) -> Iterator[None]:
    """A subsegment ``## <name>`` that times the block, annotated with ``annotations`` and ``result``
    (``ok``, or ``failed`` when an exception leaves the block) -- what an operator searches traces
    by (X-Ray filter ``annotation.store = "Aurora" AND annotation.result = "failed"``). An exception
    is recorded with its message: raise only what may be logged (redacted)."""
    with tracer.provider.in_subsegment(f"## {name}") as subsegment:
        for key, value in annotations.items():
            subsegment.put_annotation(key, value)
        try:
            yield
        except Exception:
            subsegment.put_annotation("result", "failed")
            raise
        subsegment.put_annotation("result", "ok")


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
