"""The deployed canary is traced: one run is an X-Ray trace whose subsegments name its checks, each
annotated with the store and the result (what an operator searches by)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from lib import output_keys as keys

from .behaviour import invoke_canary

# Against AWS: one canary run, then X-Ray's processing delay (seconds to a minute).
pytestmark = pytest.mark.aws_minutes(1)

BATCH_GET_TRACES_IDS = 5  # BatchGetTraces takes at most five trace ids a call
CHECKS = ("Aurora", "DynamoDB", "S3")
FUNCTION_ORIGIN = "AWS::Lambda::Function"  # the segment Lambda records for the invocation


def _entities(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A segment document and every subsegment nested in it (X-Ray nests them on AWS)."""
    yield document
    for inner in document.get("subsegments", []):
        yield from _entities(inner)


def _canary_trace(client: Callable[[str], Any], function_name: str, since: datetime) -> list[dict[str, Any]] | None:
    """Every entity of the newest trace since ``since`` that holds the canary's handler subsegment."""
    xray = client("xray")
    pages = xray.get_paginator("get_trace_summaries").paginate(
        StartTime=since - timedelta(minutes=1), EndTime=since + timedelta(minutes=30)
    )
    ids = [summary["Id"] for page in pages for summary in page["TraceSummaries"]]
    found: list[tuple[float, list[dict[str, Any]]]] = []
    for start in range(0, len(ids), BATCH_GET_TRACES_IDS):
        for trace in xray.batch_get_traces(TraceIds=ids[start : start + BATCH_GET_TRACES_IDS])["Traces"]:
            documents = [json.loads(segment["Document"]) for segment in trace["Segments"]]
            entities = [entity for document in documents for entity in _entities(document)]
            ours = [d for d in documents if (d.get("name"), d.get("origin")) == (function_name, FUNCTION_ORIGIN)]
            if ours and any(entity.get("name") == "## handler" for entity in entities):
                found.append((float(ours[0]["start_time"]), entities))
    return max(found, key=lambda item: item[0])[1] if found else None


def test_one_canary_run_is_a_trace_with_its_checks_annotated(client, outputs, clock) -> None:
    function_name = outputs[keys.FUNCTION_NAME]
    since = clock.now()
    summary, error = invoke_canary(client, outputs)
    assert error is None, summary

    entities = clock.until(
        lambda: _canary_trace(client, function_name, since), minutes=3, what="the canary's trace in X-Ray"
    )

    by_name = {entity["name"]: entity for entity in entities}
    assert by_name["## handler"]["annotations"]["Service"] == "health-check"
    for store in CHECKS:
        assert by_name[f"## {store} check"]["annotations"] == {"store": store, "result": "ok"}
