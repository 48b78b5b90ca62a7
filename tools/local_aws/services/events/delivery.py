"""EventBridge delivery: scheduled rules fire on the emulator's clock, every rule reaches its targets.

moto matches events to rules but delivers only to SQS, log groups and event buses. Here every
target type this app uses is delivered -- Lambda (asynchronous invoke through the executor), SNS
topics, SQS queues, log groups -- after the target's ``Input`` / ``InputPath`` / ``InputTransformer``
(whose values are inserted unescaped, as EventBridge inserts them).

A target is delivered to only if its resource policy lets EventBridge in for the rule. A delivery
that fails with a retriable error (throttling, a timeout) is retried on the emulator's clock with
exponential backoff and jitter, as the target's ``RetryPolicy`` allows (by default up to 185 retries
within 24 hours); an error that retrying cannot fix (a missing function or topic, a missing
permission, an input that is not the JSON the target needs) is not retried. Either way the event then goes to the
target's dead-letter queue with the attributes EventBridge adds (RULE_ARN, TARGET_ARN, ERROR_CODE,
ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS), so a lost alert is visible.

Scheduled rules (``rate``/``cron``) are a timer source of the clock: each occurrence sends the
"Scheduled Event" EventBridge sends, to the rule's targets.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lib import schedules

from ... import world
from ...clock import CLOCK, Due
from ...pipeline import caller
from . import resource_policy

logger = logging.getLogger(__name__)

SCHEDULE_ORDER = 10  # scheduled rules run before backups (20) and alarm evaluation (90) at one instant
RETRY_ORDER = 12
# A target's RetryPolicy defaults. AWS publishes no intervals: the emulator waits 1 s before the
# first retry and doubles the wait up to MAX_BACKOFF, each wait randomized to between half and all
# of it (jitter); 185 retries at 8 minutes at most fit the 24 hours.
DEFAULT_MAX_RETRY_ATTEMPTS = 185
DEFAULT_MAX_EVENT_AGE_SECONDS = 24 * 3600
FIRST_BACKOFF = timedelta(seconds=1)
MAX_BACKOFF = timedelta(minutes=8)
# Errors EventBridge retries (a target that is busy or slow); any other goes to the DLQ at once.
RETRIABLE_CODES = frozenset({"THROTTLING", "TIMEOUT"})
# What EventBridge asks of a target's resource policy, by target service (its DLQ is a queue).
EVENTS = "events.amazonaws.com"
# The errors of SNS (KMSAccessDenied) and SQS (KmsAccessDenied) when the sender may not use the key.
KMS_DENIALS = ("KMSAccessDenied", "KmsAccessDenied")
TARGET_ACTIONS = {"lambda": "lambda:InvokeFunction", "sns": "sns:Publish", "sqs": "sqs:SendMessage"}
# When each scheduled rule was first seen: rate() schedules count their periods from it.
_anchors: dict[str, datetime] = {}


class DeliveryError(Exception):
    """A target could not be reached; ``code`` is what EventBridge puts in ERROR_CODE."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code

    @property
    def retriable(self) -> bool:
        return self.code in RETRIABLE_CODES


@dataclass
class _Delivery:
    """One event on its way to one target, with the retries made so far."""

    rule: world.Rule
    target: dict[str, Any]
    event: dict[str, Any]
    received: datetime
    retries: int = 0

    @property
    def policy(self) -> tuple[int, timedelta]:
        """MaximumRetryAttempts and MaximumEventAgeInSeconds of the target's RetryPolicy."""
        policy = self.target.get("RetryPolicy") or {}
        attempts = int(policy.get("MaximumRetryAttempts", DEFAULT_MAX_RETRY_ATTEMPTS))
        return attempts, timedelta(seconds=int(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_SECONDS)))


def due_schedules(start: datetime, end: datetime) -> Iterable[Due]:
    """Timer source: every occurrence of every enabled scheduled rule in ``(start, end]``."""
    for account_id, region, rule in list(world.rules()):
        if not rule.scheduled_expression or rule.state != "ENABLED":
            continue
        anchor = _anchors.setdefault(rule.arn, start)
        for when in schedules.occurrences(rule.scheduled_expression, start, end, anchor):
            yield Due(when, SCHEDULE_ORDER, f"rule {rule.name}", _fire(rule, account_id, region))


def _fire(rule: world.Rule, account_id: str, region: str) -> Any:
    def fire() -> None:
        event = {
            "version": "0",
            "id": world.new_id(),
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


def deliver(rule: world.Rule, event: dict[str, Any]) -> None:
    """Send ``event`` to each of the rule's targets now; failures are retried on the clock or go to
    the target's dead-letter queue."""
    sent = _as_sent(event)
    for target in rule.targets:
        _attempt(_Delivery(rule, target, sent, CLOCK.now()))


def _as_sent(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge sends it: moto's PutEvents keeps ``time`` in epoch seconds and adds
    an internal ``ingestion-time``; EventBridge's ``time`` is ISO 8601 and there is no such key."""
    sent = {key: value for key, value in event.items() if key != "ingestion-time"}
    if isinstance(sent.get("time"), int | float):
        sent["time"] = datetime.fromtimestamp(sent["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return sent


def _attempt(delivery: _Delivery) -> None:
    """One delivery attempt, made as EventBridge's service principal (what an encrypted topic's or
    queue's key policy must name)."""
    with caller.acting_as(caller.Caller.service_principal(delivery.rule.account_id, EVENTS, delivery.rule.arn)):
        try:
            _send(delivery.rule, delivery.target, _input(delivery.rule, delivery.target, delivery.event))
        except DeliveryError as error:
            _failed(delivery, error)
        except Exception as error:  # an emulator fault: dead-letter it, never fail the sender
            logger.exception("rule %s: delivering to %s failed", delivery.rule.name, delivery.target["Arn"])
            _dead_letter(delivery, DeliveryError("INTERNAL_ERROR", f"{type(error).__name__}: {error}"), None)


def _failed(delivery: _Delivery, error: DeliveryError) -> None:
    """Queue the next retry on the clock, or dead-letter the event when no retry is left."""
    if not error.retriable:
        _dead_letter(delivery, error, None)
        return
    max_retries, max_age = delivery.policy
    if delivery.retries >= max_retries:
        _dead_letter(delivery, error, "MaximumRetryAttempts")
        return
    backoff = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** min(delivery.retries, 16))  # the cap is reached long before
    when = CLOCK.now() + backoff * random.uniform(0.5, 1.0)
    name = f"rule {delivery.rule.name}: retry {delivery.retries + 1} to {delivery.target['Arn']}"
    if when - delivery.received > max_age:
        CLOCK.call_at(
            delivery.received + max_age,
            RETRY_ORDER,
            f"rule {delivery.rule.name}: event too old for {delivery.target['Arn']}",
            lambda: _dead_letter(delivery, error, "MaximumEventAgeInSeconds"),
        )
        return
    delivery.retries += 1
    CLOCK.call_at(when, RETRY_ORDER, name, lambda: _attempt(delivery))


def _input(rule: world.Rule, target: dict[str, Any], event: dict[str, Any]) -> str:
    """What the target receives: the event, a constant, a part of it, or a transformation. A
    transformation that is not the JSON its template or its target needs fails with INVALID_JSON."""
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        return json.dumps(_path(event, target["InputPath"]))
    transformer = target.get("InputTransformer")
    if not transformer:
        return json.dumps(event)
    values = {name: _path(event, path) for name, path in transformer.get("InputPathsMap", {}).items()}
    values.update(_predefined(rule, event))
    template = transformer["InputTemplate"]
    body = transform(template, values)
    if template.lstrip().startswith(("{", "[")) or world.arn_parts(target["Arn"]).service == "lambda":
        try:
            json.loads(body)
        except ValueError as error:
            raise DeliveryError("INVALID_JSON", f"the transformed input is not valid JSON: {error}") from error
    return body


def _predefined(rule: world.Rule, event: dict[str, Any]) -> dict[str, Any]:
    """The variables every input template may use without an InputPathsMap entry."""
    return {
        "aws.events.rule-arn": rule.arn,
        "aws.events.rule-name": rule.name,
        "aws.events.event.ingestion-time": event.get("time"),
        "aws.events.event": {key: value for key, value in event.items() if key != "detail"},
        "aws.events.event.json": event,
    }


def _path(event: dict[str, Any], path: str) -> Any:
    """The value at a JSON path such as ``$.detail.state`` (None where the event has nothing)."""
    value: Any = event
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        value = value.get(part) if isinstance(value, dict) else None
    return value


def transform(template: str, values: dict[str, Any]) -> str:
    """EventBridge's input transformer: each ``<name>`` becomes its value, NOT escaped. Inside a
    quoted string a value is its raw text (an object or array loses its quotes, a missing value is
    nothing); elsewhere a string is its raw text in quotes, anything else its JSON (a missing value
    null). So a value with a quote in it breaks a JSON template, as in AWS; a string template
    arrives with its quotes."""
    out: list[str] = []
    in_string = escaped = False
    index = 0
    while index < len(template):
        char = template[index]
        name = _placeholder_at(template, index, values)
        if name is not None:
            out.append(_inside_string(values[name]) if in_string else _outside_string(values[name]))
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


def _inside_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value).replace('"', "")


def _outside_string(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else json.dumps(value)


def _placeholder_at(template: str, index: int, values: dict[str, Any]) -> str | None:
    if template[index] != "<":
        return None
    end = template.find(">", index)
    name = template[index + 1 : end] if end > index else ""
    return name if name in values else None


def _send(rule: world.Rule, target: dict[str, Any], body: str) -> None:
    arn = world.arn_parts(target["Arn"])
    try:
        if arn.service in TARGET_ACTIONS and not _permitted(rule, target["Arn"]):
            raise DeliveryError(
                "NO_PERMISSIONS",
                f"the resource policy of {target['Arn']} does not allow {EVENTS} to "
                f"{TARGET_ACTIONS[arn.service]} for {rule.arn}",
            )
        if arn.service == "lambda":
            from ..awslambda import runtime as lambda_runtime

            lambda_runtime.invoke_event(arn.account, arn.region, target["Arn"], body.encode())
        elif arn.service == "sns":
            world.publish(arn.account, arn.region, target["Arn"], body)
        elif arn.service == "sqs":
            group = target.get("SqsParameters", {}).get("MessageGroupId")
            world.send_message(arn.account, arn.region, arn.resource_id, body, group_id=group)
        elif arn.service == "logs":
            stream = world.new_id()
            group = arn.resource_id.removesuffix(":*")
            world.create_log_stream(arn.account, arn.region, group, stream)
            world.put_log_events(
                arn.account, arn.region, group, stream, [{"timestamp": _millis(CLOCK.now()), "message": body}]
            )
        else:
            raise DeliveryError("UNSUPPORTED_TARGET", f"the emulator does not deliver to {arn.service} targets")
    except world.AWS_ERRORS as error:
        if getattr(error, "code", None) in KMS_DENIALS:  # the key policy does not let EventBridge in
            raise DeliveryError("NO_PERMISSIONS", f"{target['Arn']}: {error}") from error
        raise DeliveryError("NO_RESOURCE", f"{target['Arn']}: {error}") from error


def _permitted(rule: world.Rule, arn: str) -> bool:
    """Whether the resource policy of the function, topic or queue ``arn`` lets EventBridge in for
    this rule (the request carries aws:SourceArn, the rule, and aws:SourceAccount, its account)."""
    parsed = world.arn_parts(arn)
    policy: str | dict[str, Any] | None
    if parsed.service == "lambda":  # a function's (or a version's or an alias's) own policy
        policy = world.function_policy(parsed.account, parsed.region, arn)
    elif parsed.service == "sns":
        policy = world.topic_policy(parsed.account, parsed.region, arn)
    else:
        policy = world.queue_policy(parsed.account, parsed.region, parsed.resource_id)
    context = {"aws:SourceArn": rule.arn, "aws:SourceAccount": rule.account_id}
    resource = None if parsed.service == "lambda" else arn
    return resource_policy.allows(policy, EVENTS, TARGET_ACTIONS[parsed.service], resource, context)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _dead_letter(delivery: _Delivery, error: DeliveryError, exhausted: str | None) -> None:
    """Send the event to the target's DLQ with EventBridge's attributes; ``exhausted`` names the
    RetryPolicy limit that ended the retries (None for an error that is not retried)."""
    rule, target = delivery.rule, delivery.target
    queue = target.get("DeadLetterConfig", {}).get("Arn")
    logger.warning(
        "rule %s: delivery to %s failed (%s) after %d retries%s",
        rule.name,
        target["Arn"],
        error,
        delivery.retries,
        "" if queue else "; no dead-letter queue, the event is lost",
    )
    if not queue:
        return
    try:
        permitted = _permitted(rule, queue)
    except world.AWS_ERRORS as missing:
        logger.warning("rule %s: dead-letter queue %s: %s; the event is lost", rule.name, queue, missing)
        return
    if not permitted:
        logger.warning("rule %s: EventBridge may not send to dead-letter queue %s; the event is lost", rule.name, queue)
        return
    arn = world.arn_parts(queue)
    attributes = {
        "RULE_ARN": rule.arn,
        "TARGET_ARN": target["Arn"],
        "ERROR_CODE": error.code,
        "ERROR_MESSAGE": str(error)[:256],
        "RETRY_ATTEMPTS": str(delivery.retries),
        **({"EXHAUSTED_RETRY_CONDITION": exhausted} if exhausted else {}),
    }
    try:
        world.send_message(
            arn.account,
            arn.region,
            arn.resource_id,
            json.dumps(delivery.event),
            message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
    except world.AWS_ERRORS as refused:  # e.g. the queue's key policy does not let EventBridge in
        logger.warning("rule %s: dead-letter queue %s refused the event, it is lost: %s", rule.name, queue, refused)
