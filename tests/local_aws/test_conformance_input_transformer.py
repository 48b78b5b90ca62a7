"""EventBridge input transformers insert the values they extract without escaping them, as AWS does;
a transformation that is not the JSON its template or target needs is dead-lettered as INVALID_JSON.

Amazon EventBridge User Guide, "Amazon EventBridge input transformation",
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
(section "Common issues with transforming input").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tools.local_aws.services.events.delivery import transform

from .helpers import events_queue

Aws = Callable[[str], Any]
MESSAGE = 'Backup job failed because "aurora-cluster-dev" is not in a valid state'
VALUES = {"state": "FAILED", "message": MESSAGE, "size": 42, "gone": None, "detail": {"key1": "value1"}}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # "EventBridge doesn't escape values extracted by Input Path, when populating the Input Template"
        ('"Job <state>: <message>"', f'"Job FAILED: {MESSAGE}"'),
        ('{"message": <message>}', f'{{"message": "{MESSAGE}"}}'),
        # the page's "Simple JSON": a string outside quotes becomes a JSON string, others their JSON
        ('{"state": <state>, "size": <size>, "gone": <gone>}', '{"state": "FAILED", "size": 42, "gone": null}'),
        # "if you want to output a JSON object based on a single JSON path variable, you must place it
        # as a key ... {"detail": <detail>}"; referenced in a string it loses its internal quotes
        ('{"detail": <detail>}', '{"detail": {"key1": "value1"}}'),
        ('"Detail is <detail>"', '"Detail is {key1: value1}"'),
        ('"size <size>, gone <gone>"', '"size 42, gone "'),
    ],
)
def test_values_are_inserted_without_escaping(template: str, expected: str) -> None:
    """The page's "Common issues with transforming input": EventBridge does not escape the values it
    extracts; a JSON object referenced in a string has its quotes removed."""
    assert transform(template, VALUES) == expected


def _messages(aws: Aws, url: str) -> list[dict[str, Any]]:
    received = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return received.get("Messages", [])


def _deliver(aws: Aws, suffix: str, template: str, detail: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """One event through a rule whose SQS target has ``template``: (target messages, DLQ messages)."""
    target_url, target_arn = events_queue(aws, f"transformed-{suffix}")
    dlq_url, dlq_arn = events_queue(aws, f"transformed-dlq-{suffix}")
    aws("events").put_rule(Name=f"transform-{suffix}", EventPattern=json.dumps({"source": [f"transform.{suffix}"]}))
    transformer = {"InputPathsMap": {"message": "$.detail.statusMessage"}, "InputTemplate": template}
    aws("events").put_targets(
        Rule=f"transform-{suffix}",
        Targets=[{"Id": "q", "Arn": target_arn, "InputTransformer": transformer, "DeadLetterConfig": {"Arn": dlq_arn}}],
    )
    entry = {"Source": f"transform.{suffix}", "DetailType": "x", "Detail": json.dumps(detail)}
    aws("events").put_events(Entries=[entry])
    return _messages(aws, target_url), _messages(aws, dlq_url)


def test_a_string_template_delivers_the_raw_value(aws: Aws, suffix: str) -> None:
    """The page: a string template's output keeps its quotes ("Simple string"), and values are not
    escaped: a text target receives the value's quotes as they are."""
    delivered, dead = _deliver(aws, suffix, '"Status: <message>"', {"statusMessage": MESSAGE})

    assert [message["Body"] for message in delivered] == [f'"Status: {MESSAGE}"']
    assert dead == []


def test_a_json_template_broken_by_a_value_is_dead_lettered_as_invalid_json(aws: Aws, suffix: str) -> None:
    """The page: unescaped values can break a JSON template; Amazon EventBridge User Guide, "Event
    retry policy and using dead-letter queues",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html: ERROR_CODE
    INVALID_JSON, an error that retrying cannot fix, so the event goes to the DLQ at once."""
    delivered, dead = _deliver(aws, suffix, '{"status": <message>}', {"statusMessage": MESSAGE})

    assert delivered == []
    (message,) = dead
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert (attributes["ERROR_CODE"], attributes["RETRY_ATTEMPTS"]) == ("INVALID_JSON", "0")
    assert json.loads(message["Body"])["detail"]["statusMessage"] == MESSAGE


def test_predefined_variables_and_whole_objects_keep_json_valid(aws: Aws, suffix: str) -> None:
    """The page's "Predefined variables": aws.events.rule-name, aws.events.event.json (the full
    event, "can only be used as a value for a JSON field"); an object variable is inserted as JSON."""
    template = '{"rule": <aws.events.rule-name>, "event": <aws.events.event.json>}'
    delivered, dead = _deliver(aws, suffix, template, {"statusMessage": MESSAGE})

    (message,) = delivered
    body = json.loads(message["Body"])
    assert body["rule"] == f"transform-{suffix}"
    assert body["event"]["detail"]["statusMessage"] == MESSAGE
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["event"]["time"])  # EventBridge's event time
    assert "ingestion-time" not in body["event"]
    assert dead == []
