"""Fixes to moto's CloudWatch Logs: its CloudFormation model, metrics from log lines, retention."""

from __future__ import annotations

from typing import Any

from moto.logs.models import LogGroup, LogsBackend

from ...clock import CLOCK
from ...patches._support import after_create, fix, install
from ..cloudwatch import metrics
from . import retention


def _set_kms_key(group: LogGroup, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    group.kms_key_id = properties.get("KmsKeyId")


@fix("N9")
def keep_log_group_kms_keys() -> None:
    """moto's ``AWS::Logs::LogGroup`` looks for ``kmsKeyId`` (the API's spelling) in the template
    properties, so ``KmsKeyId`` was dropped and the group read back unencrypted. It is now kept."""
    after_create(LogGroup, _set_kms_key)


@fix("D20")
def extract_embedded_metrics() -> None:
    """moto stores log lines only; CloudWatch Logs also turns lines in Embedded Metric Format into
    metrics, which is how our functions publish theirs (the VPC has no monitoring endpoint).

    PutLogEvents (and every engine writing logs through it) now extracts EMF metrics.
    """
    original = LogsBackend.put_log_events

    def put_log_events(
        backend: LogsBackend, log_group_name: str, log_stream_name: str, log_events: list[dict[str, Any]]
    ) -> Any:
        result = original(backend, log_group_name, log_stream_name, log_events)
        for event in log_events:
            metrics.extract_emf(backend.account_id, backend.region_name, log_group_name, event["message"])
        return result

    install(LogsBackend, "put_log_events", put_log_events)


@fix("D53")
def apply_log_retention() -> None:
    """moto stores a log group's retention setting but never deletes an event, so logs grew with
    each emulated day and a week's retention was never seen.

    Once a day on the emulator's clock, the events older than their group's retention are deleted
    (PutRetentionPolicy API reference; ``retention``).
    """
    CLOCK.register(retention.due_retention)
