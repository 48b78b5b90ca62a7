"""Every function's entry point is traced: ``dr_common.observability.tracer.capture_lambda_handler``
opens the ``## handler`` subsegment, annotated with the function's service, on every path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import pytest
from dr_common import observability

from lib.network_reachability import FUNCTION_PACKAGES
from tests.unit.handlers import load_handler


@dataclass
class Subsegment:
    name: str
    annotations: dict[str, Any] = field(default_factory=dict)

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass


@dataclass
class RecordingProvider:
    """Stands in for the X-Ray recorder (the tracer is disabled outside Lambda)."""

    subsegments: list[Subsegment] = field(default_factory=list)

    @contextmanager
    def in_subsegment(self, name: str, **kwargs: Any) -> Iterator[Subsegment]:
        self.subsegments.append(Subsegment(name))
        yield self.subsegments[-1]


@dataclass(frozen=True)
class Context:
    function_name: str = "fn"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    aws_request_id: str = "request"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 1000


@pytest.mark.parametrize("function", sorted(FUNCTION_PACKAGES))
def test_every_handler_entry_point_is_a_traced_subsegment(function: str, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(observability.tracer, "provider", provider)
    module = load_handler(monkeypatch, FUNCTION_PACKAGES[function].name)

    with suppress(Exception):  # an empty event in an empty environment: whatever the handler answers
        module.handler({}, Context())

    assert provider.subsegments, f"{function}: handler() is not @observability.tracer.capture_lambda_handler"
    entry = provider.subsegments[0]
    assert entry.name == "## handler"
    assert entry.annotations["Service"] == function


def test_a_step_is_a_subsegment_annotated_with_its_result(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(observability.tracer, "provider", provider)

    with observability.step("Aurora check", store="Aurora"):
        pass
    with pytest.raises(RuntimeError), observability.step("S3 check", store="S3"):
        raise RuntimeError("unreachable")

    assert [(s.name, s.annotations) for s in provider.subsegments] == [
        ("## Aurora check", {"store": "Aurora", "result": "ok"}),
        ("## S3 check", {"store": "S3", "result": "failed"}),
    ]
