"""EventBridge delivery: scheduled rules fire on the emulator's clock, every rule reaches its targets.

moto matches events to rules but delivers only to SQS, log groups and event buses. Here every
target type this app uses is delivered -- Lambda (asynchronous invoke through the executor), SNS
topics, SQS queues, log groups -- after the target's ``Input`` / ``InputPath`` / ``InputTransformer``.
A delivery that fails (a missing function or topic, an unsupported target) is retried as the
target's ``RetryPolicy`` allows, then sent to the target's dead-letter queue with the attributes
EventBridge adds (RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE), so a lost alert is visible.
Retries are immediate and at most ``MAX_RETRIES`` (EventBridge spreads up to 185 over 24 hours).

Scheduled rules (``rate``/``cron``) are a timer source of the clock: each occurrence sends the
"Scheduled Event" EventBridge sends, to the rule's targets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from moto.core.exceptions import JsonRESTError, ServiceException
from moto.events.models import Rule, events_backends
from moto.moto_api._internal import mock_random
from moto.utilities.arns import parse_arn

from lib import schedules

from .clock import CLOCK, Due

logger = logging.getLogger(__name__)

SCHEDULE_ORDER = 10  # scheduled rules run before backups (20) and alarm evaluation (90) at one instant
MAX_RETRIES = 2
# When each scheduled rule was first seen: rate() schedules count their periods from it.
_anchors: dict[str, datetime] = {}


class DeliveryError(Exception):
    """A target could not be reached; ``code`` is what EventBridge puts in ERROR_CODE."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def due_schedules(start: datetime, end: datetime) -> Iterable[Due]:
    """Timer source: every occurrence of every enabled scheduled rule in ``(start, end]``."""
    for account_id, regions in events_backends.items():
        for region, backend in regions.items():
            for rule in [rule for bus in list(backend.event_buses.values()) for rule in list(bus.rules.values())]:
                if not rule.scheduled_expression or rule.state != "ENABLED":
                    continue
                anchor = _anchors.setdefault(rule.arn, start)
                for when in schedules.occurrences(rule.scheduled_expression, start, end, anchor):
                    yield Due(when, SCHEDULE_ORDER, f"rule {rule.name}", _fire(rule, account_id, region))


def _fire(rule: Rule, account_id: str, region: str) -> Any:
    def fire() -> None:
        event = {
            "version": "0",
            "id": str(mock_random.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account_id,
            "time": CLOCK.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [rule.arn],
            "detail": {},
        }
        deliver(rule, event)

    return fire


def deliver(rule: Rule, event: dict[str, Any]) -> None:
    """Send ``event`` to each of the rule's targets; failures go to the target's dead-letter queue."""
    for target in rule.targets:
        attempts = 1 + min(int(target.get("RetryPolicy", {}).get("MaximumRetryAttempts", MAX_RETRIES)), MAX_RETRIES)
        for attempt in range(attempts):
            try:
                _send(rule, target, _input(target, event))
                break
            except DeliveryError as error:
                if attempt == attempts - 1:
                    _dead_letter(rule, target, event, error)
            except Exception as error:  # an emulator fault: dead-letter it, never fail the sender
                logger.exception("rule %s: delivering to %s failed", rule.name, target["Arn"])
                _dead_letter(rule, target, event, DeliveryError("INTERNAL_ERROR", f"{type(error).__name__}: {error}"))
                break


def _input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """What the target receives: the event, a constant, a part of it, or a transformation."""
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        return json.dumps(_path(event, target["InputPath"]))
    transformer = target.get("InputTransformer")
    if transformer:
        values = {name: _path(event, path) for name, path in transformer.get("InputPathsMap", {}).items()}
        return transform(transformer["InputTemplate"], values)
    return json.dumps(event)


def _path(event: dict[str, Any], path: str) -> Any:
    """The value at a JSON path such as ``$.detail.state`` (None where the event has nothing)."""
    value: Any = event
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        value = value.get(part) if isinstance(value, dict) else None
    return value


def transform(template: str, values: dict[str, Any]) -> str:
    """EventBridge's input transformer: each ``<name>`` becomes its value -- inside a quoted string as
    escaped text (a missing value as nothing), elsewhere as JSON (a missing value as null). The
    result is the template's text, so a string template arrives with its quotes, as in AWS."""
    out: list[str] = []
    in_string = escaped = False
    index = 0
    while index < len(template):
        char = template[index]
        name = _placeholder_at(template, index, values)
        if name is not None:
            value = values[name]
            if in_string:
                out.append(
                    "" if value is None else json.dumps(value if isinstance(value, str) else json.dumps(value))[1:-1]
                )
            else:
                out.append(json.dumps(value))
            index += len(name) + 2
            continue
        if in_string and char == "\\" and not escaped:
            escaped = True
        else:
            in_string = in_string != (char == '"' and not escaped)
            escaped = False
        out.append(char)
        index += 1
    return "".join(out)


def _as_text(value: Any) -> str:
    """A value inside a JSON string: its text (JSON for objects), escaped; nothing for a missing one."""
    if value is None:
        return ""
    return json.dumps(value if isinstance(value, str) else json.dumps(value))[1:-1]


def _placeholder_at(template: str, index: int, values: dict[str, Any]) -> str | None:
    if template[index] != "<":
        return None
    end = template.find(">", index)
    name = template[index + 1 : end] if end > index else ""
    return name if name in values else None


def _send(rule: Rule, target: dict[str, Any], body: str) -> None:
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    arn = parse_arn(target["Arn"])
    try:
        if arn.service == "lambda":
            from . import lambda_runtime

            lambda_runtime.invoke_event(arn.account, arn.region, target["Arn"], body.encode())
        elif arn.service == "sns":
            sns_backends[arn.account][arn.region].publish(message=body, arn=target["Arn"])
        elif arn.service == "sqs":
            group = target.get("SqsParameters", {}).get("MessageGroupId")
            sqs_backends[arn.account][arn.region].send_message(arn.resource_id, body, group_id=group)
        elif arn.service == "logs":
            rule._send_to_cw_log_group(arn.resource_id, json.loads(body))
        else:
            raise DeliveryError("UNSUPPORTED_TARGET", f"the emulator does not deliver to {arn.service} targets")
    except (ServiceException, JsonRESTError) as error:  # moto's two shapes of an AWS error
        raise DeliveryError("NO_RESOURCE", f"{target['Arn']}: {error}") from error


def _dead_letter(rule: Rule, target: dict[str, Any], event: dict[str, Any], error: DeliveryError) -> None:
    from moto.sqs.models import sqs_backends

    queue = target.get("DeadLetterConfig", {}).get("Arn")
    logger.warning(
        "rule %s: delivery to %s failed (%s)%s",
        rule.name,
        target["Arn"],
        error,
        "" if queue else "; no dead-letter queue, the event is lost",
    )
    if not queue:
        return
    arn = parse_arn(queue)
    attributes = {
        "RULE_ARN": rule.arn,
        "TARGET_ARN": target["Arn"],
        "ERROR_CODE": error.code,
        "ERROR_MESSAGE": str(error)[:256],
    }
    sqs_backends[arn.account][arn.region].send_message(
        arn.resource_id,
        json.dumps(event),
        message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
