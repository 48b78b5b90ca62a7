"""Retries keep AWS's timing: Lambda's asynchronous retries and EventBridge's retry policy run on the
emulator's clock, and what cannot be delivered reaches the DLQ or destination in AWS's shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tools.local_aws.clock import CLOCK
from tools.local_aws.services.awslambda import runtime as lambda_runtime
from tools.local_aws.services.events import delivery as events

from .helpers import TRUST_LAMBDA, events_queue, failing_function

Aws = Callable[[str], Any]
ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture(scope="module")
def role_arn(aws: Aws) -> str:
    """A function role that may send its failed events to any queue of the tests (Lambda sends them
    with the function's role)."""
    iam = aws("iam")
    role = iam.create_role(RoleName="conformance-retries", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    sends = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:*"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [sends]})
    iam.put_role_policy(RoleName="conformance-retries", PolicyName="dead-letters", PolicyDocument=document)
    return str(role["Role"]["Arn"])


def _messages(aws: Aws, url: str) -> list[dict[str, Any]]:
    """The messages that arrived since the last look (received ones are deleted)."""
    received = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    for message in received.get("Messages", []):
        aws("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return received.get("Messages", [])


def _attributes(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}


def _attempts(aws: Aws, name: str) -> int:
    """How often the function ran: its START lines."""
    logs = aws("logs")
    group = f"/aws/lambda/{name}"
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        return 0
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    return sum(
        message["message"].startswith("START ")
        for stream in streams
        for message in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    )


def test_lambda_retries_a_failed_event_twice_a_minute_then_two_minutes_later_then_dead_letters_it(
    aws: Aws, role_arn: str, suffix: str
) -> None:
    """AWS Lambda Developer Guide, "How Lambda handles errors and retries with asynchronous
    invocation", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html:
    "by default Lambda attempts to run it two more times, with a one-minute wait between the first
    two attempts, and two minutes between the second and third attempts". Dead-letter message
    attributes (RequestID, ErrorCode, ErrorMessage): "Dead-letter queues",
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq."""
    url, arn = events_queue(aws, f"lambda-dlq-{suffix}")
    name = failing_function(aws, role_arn, f"retried-{suffix}", DeadLetterConfig={"TargetArn": arn})

    lambda_runtime.invoke_event(ACCOUNT, REGION, name, b'{"n": 1}')
    assert _attempts(aws, name) == 1
    CLOCK.advance(timedelta(seconds=55))
    assert _attempts(aws, name) == 1
    CLOCK.advance(timedelta(seconds=10))  # about a minute after the first attempt
    assert _attempts(aws, name) == 2
    CLOCK.advance(timedelta(seconds=110))
    assert (_attempts(aws, name), _messages(aws, url)) == (2, [])
    CLOCK.advance(timedelta(seconds=15))  # about two minutes after the second attempt
    assert _attempts(aws, name) == 3
    (message,) = _messages(aws, url)
    assert json.loads(message["Body"]) == {"n": 1}
    attributes = message["MessageAttributes"]
    assert {key: value["DataType"] for key, value in attributes.items()} == {
        "RequestID": "String",
        "ErrorCode": "Number",
        "ErrorMessage": "String",
    }
    assert (attributes["ErrorCode"]["StringValue"], attributes["ErrorMessage"]["StringValue"]) == ("200", "boom")
    CLOCK.advance(timedelta(minutes=10))
    assert _attempts(aws, name) == 3


def test_lambda_discards_an_event_older_than_its_maximum_age_to_the_destination_and_the_dlq(
    aws: Aws, role_arn: str, suffix: str
) -> None:
    """AWS Lambda Developer Guide, "Configuring error handling for asynchronous invocation",
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html:
    MaximumEventAgeInSeconds is "the maximum amount of time ... that Lambda keeps an event in the
    asynchronous event queue before discarding it"; invocation records, "Capturing records of Lambda
    asynchronous invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html:
    requestContext.condition "EventAgeExceeded" and approximateInvokeCount; destinations can be
    configured "in addition to or instead of a dead-letter queue"."""
    dlq_url, dlq_arn = events_queue(aws, f"age-dlq-{suffix}")
    destination_url, destination_arn = events_queue(aws, f"age-destination-{suffix}")
    name = failing_function(aws, role_arn, f"aged-{suffix}", DeadLetterConfig={"TargetArn": dlq_arn})
    aws("lambda").put_function_event_invoke_config(
        FunctionName=name,
        MaximumEventAgeInSeconds=90,
        DestinationConfig={"OnFailure": {"Destination": destination_arn}},
    )

    lambda_runtime.invoke_event(ACCOUNT, REGION, name, b'{"n": 2}')
    CLOCK.advance(timedelta(seconds=65))  # the first retry: the event is 65 s old
    assert (_attempts(aws, name), _messages(aws, destination_url)) == (2, [])
    CLOCK.advance(timedelta(minutes=2))  # the second retry would come at 185 s: too old

    assert _attempts(aws, name) == 2
    (record,) = [json.loads(message["Body"]) for message in _messages(aws, destination_url)]
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"].endswith(f":function:{name}:$LATEST")
    assert record["requestPayload"] == {"n": 2}
    (dead_letter,) = _messages(aws, dlq_url)
    assert json.loads(dead_letter["Body"]) == {"n": 2}


def test_lambda_reads_the_async_settings_of_the_qualifier_that_was_invoked(
    aws: Aws, role_arn: str, suffix: str
) -> None:
    """AWS Lambda API Reference, "PutFunctionEventInvokeConfig",
    https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html: "Configures
    options for asynchronous invocation on a function, version, or alias" -- each qualifier has its
    own; one put on $LATEST does not configure the alias (Q15)."""
    lambda_ = aws("lambda")
    name = failing_function(aws, role_arn, f"qualified-{suffix}")
    version = lambda_.publish_version(FunctionName=name)["Version"]
    lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lambda_.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)

    assert lambda_.get_function_event_invoke_config(FunctionName=name)["MaximumRetryAttempts"] == 0
    with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
        lambda_.get_function_event_invoke_config(FunctionName=name, Qualifier="live")
    lambda_runtime.invoke_event(ACCOUNT, REGION, f"{name}:live", b"{}")
    CLOCK.advance(timedelta(minutes=1, seconds=5))
    assert _attempts(aws, name) == 2  # the alias keeps Lambda's defaults: retried

    lambda_.put_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumRetryAttempts=0)
    config = lambda_.get_function_event_invoke_config(FunctionName=name, Qualifier="live")
    assert config["FunctionArn"].endswith(f":function:{name}:live")
    CLOCK.advance(timedelta(minutes=3))  # the earlier event's last retry
    before = _attempts(aws, name)
    lambda_runtime.invoke_event(ACCOUNT, REGION, name, b"{}", qualifier="live")
    CLOCK.advance(timedelta(minutes=5))
    assert _attempts(aws, name) == before + 1
    assert len(lambda_.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 2


def _rule_to(aws: Aws, name: str, target: dict[str, Any]) -> None:
    aws("events").put_rule(Name=name, EventPattern=json.dumps({"source": [name]}))
    aws("events").put_targets(Rule=name, Targets=[{"Id": "target", **target}])


def _put_event(aws: Aws, source: str, detail: dict[str, Any] | None = None) -> None:
    entry = {"Source": source, "DetailType": "test", "Detail": json.dumps(detail or {})}
    assert aws("events").put_events(Entries=[entry])["FailedEntryCount"] == 0


@pytest.fixture
def throttled(monkeypatch: pytest.MonkeyPatch, suffix: str) -> list[str]:
    """Every delivery to a target of this test (its ARN has the test's suffix) is throttled by the
    target, a retriable error; the list records each try. Other deliveries go on as usual."""
    tried: list[str] = []
    send = events._send

    def throttle(rule: Any, target: dict[str, Any], body: str) -> None:
        if suffix not in target["Arn"]:
            send(rule, target, body)
            return
        tried.append(target["Arn"])
        raise events.DeliveryError("THROTTLING", "Rate exceeded")

    monkeypatch.setattr(events, "_send", throttle)
    return tried


def test_eventbridge_sends_a_missing_target_straight_to_the_dlq(aws: Aws, suffix: str) -> None:
    """Amazon EventBridge User Guide, "Event retry policy and using dead-letter queues",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html: "for errors that
    result from missing permissions to a target, or a target resource that no longer exists ...
    EventBridge sends these events directly to the DLQ"; each message carries RULE_ARN, TARGET_ARN,
    ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS."""
    url, arn = events_queue(aws, f"eb-dlq-missing-{suffix}")
    missing = f"arn:aws:sns:us-east-1:123456789012:gone-{suffix}"
    _rule_to(aws, f"missing-{suffix}", {"Arn": missing, "DeadLetterConfig": {"Arn": arn}})

    _put_event(aws, f"missing-{suffix}")

    (message,) = _messages(aws, url)
    attributes = _attributes(message)
    assert attributes["RULE_ARN"] == f"arn:aws:events:us-east-1:123456789012:rule/missing-{suffix}"
    assert (attributes["TARGET_ARN"], attributes["ERROR_CODE"]) == (missing, "NO_RESOURCE")
    assert attributes["RETRY_ATTEMPTS"] == "0" and "EXHAUSTED_RETRY_CONDITION" not in attributes
    assert attributes["ERROR_MESSAGE"]
    CLOCK.advance(timedelta(minutes=5))
    assert _messages(aws, url) == []


def test_eventbridge_retries_with_exponential_backoff_up_to_maximum_retry_attempts(
    aws: Aws, suffix: str, throttled: list[str]
) -> None:
    """Amazon EventBridge User Guide, "Event retry policy and using dead-letter queues",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html: retries "with an
    exponential back off and jitter"; EXHAUSTED_RETRY_CONDITION MaximumRetryAttempts and
    RETRY_ATTEMPTS when the retries run out."""
    url, arn = events_queue(aws, f"eb-dlq-retries-{suffix}")
    target = f"arn:aws:sqs:us-east-1:123456789012:busy-{suffix}"
    policy = {"MaximumRetryAttempts": 3}
    _rule_to(aws, f"busy-{suffix}", {"Arn": target, "DeadLetterConfig": {"Arn": arn}, "RetryPolicy": policy})

    _put_event(aws, f"busy-{suffix}")
    assert len(throttled) == 1  # no retry before the first backoff (at least half a second)
    CLOCK.advance(timedelta(seconds=3))  # backoffs 1 s and 2 s, each at least half
    assert len(throttled) in (2, 3)
    assert _messages(aws, url) == []
    CLOCK.advance(timedelta(seconds=5))  # the third backoff is 4 s at most

    assert len(throttled) == 4
    (message,) = _messages(aws, url)
    attributes = _attributes(message)
    assert (attributes["ERROR_CODE"], attributes["RETRY_ATTEMPTS"]) == ("THROTTLING", "3")
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert json.loads(message["Body"])["source"] == f"busy-{suffix}"


def test_eventbridge_dead_letters_an_event_when_its_maximum_age_passes(
    aws: Aws, suffix: str, throttled: list[str]
) -> None:
    """Amazon EventBridge API Reference, "RetryPolicy",
    https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_RetryPolicy.html: "Retry attempts
    continue until either the maximum number of attempts is made or until the duration of the
    MaximumEventAgeInSeconds is met"; EXHAUSTED_RETRY_CONDITION MaximumEventAgeInSeconds
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html)."""
    url, arn = events_queue(aws, f"eb-dlq-age-{suffix}")
    target = f"arn:aws:sqs:us-east-1:123456789012:slow-{suffix}"
    policy = {"MaximumEventAgeInSeconds": 60}
    _rule_to(aws, f"slow-{suffix}", {"Arn": target, "DeadLetterConfig": {"Arn": arn}, "RetryPolicy": policy})

    _put_event(aws, f"slow-{suffix}")
    CLOCK.advance(timedelta(seconds=55))
    assert _messages(aws, url) == []
    CLOCK.advance(timedelta(seconds=10))

    (message,) = _messages(aws, url)
    attributes = _attributes(message)
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert int(attributes["RETRY_ATTEMPTS"]) == len(throttled) - 1 >= 5  # 1+2+4+8+16 s at most before 60 s


def test_eventbridge_by_default_retries_185_times_within_24_hours(aws: Aws, suffix: str, throttled: list[str]) -> None:
    """Amazon EventBridge User Guide, "Event retry policy and using dead-letter queues",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html: "By default,
    EventBridge retries sending the event for 24 hours and up to 185 times"."""
    url, arn = events_queue(aws, f"eb-dlq-default-{suffix}")
    _rule_to(
        aws,
        f"down-{suffix}",
        {"Arn": f"arn:aws:sqs:us-east-1:123456789012:down-{suffix}", "DeadLetterConfig": {"Arn": arn}},
    )

    _put_event(aws, f"down-{suffix}")
    CLOCK.advance(timedelta(hours=6))
    assert _messages(aws, url) == [] and len(throttled) > 1
    for _ in range(3):
        CLOCK.advance(timedelta(hours=6))

    (message,) = _messages(aws, url)
    attributes = _attributes(message)
    assert (attributes["RETRY_ATTEMPTS"], attributes["EXHAUSTED_RETRY_CONDITION"]) == ("185", "MaximumRetryAttempts")
    assert len(throttled) == 186


def test_eventbridge_sends_to_the_dlq_what_a_target_policy_does_not_allow(aws: Aws, role_arn: str, suffix: str) -> None:
    """Amazon EventBridge User Guide, "Event retry policy and using dead-letter queues",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html: "errors that result
    from missing permissions to a target" go to the DLQ without retries. "Using resource-based
    policies for Amazon EventBridge",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html: a function,
    topic or queue target must allow events.amazonaws.com in its resource policy."""
    dlq_url, dlq_arn = events_queue(aws, f"eb-dlq-denied-{suffix}")
    function = failing_function(aws, role_arn, f"unpermitted-{suffix}")
    function_arn = aws("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    other_rule = f"arn:aws:events:us-east-1:123456789012:rule/other-{suffix}"
    aws("lambda").add_permission(
        FunctionName=function,
        StatementId="other-rule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=other_rule,
    )
    queue_url = aws("sqs").create_queue(QueueName=f"no-policy-{suffix}")["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    targets = {"fn": function_arn, "queue": queue_arn["QueueArn"]}
    aws("events").put_rule(Name=f"denied-{suffix}", EventPattern=json.dumps({"source": [f"denied-{suffix}"]}))
    aws("events").put_targets(
        Rule=f"denied-{suffix}",
        Targets=[{"Id": key, "Arn": arn, "DeadLetterConfig": {"Arn": dlq_arn}} for key, arn in targets.items()],
    )

    _put_event(aws, f"denied-{suffix}")

    dead = {_attributes(message)["TARGET_ARN"]: _attributes(message) for message in _messages(aws, dlq_url)}
    assert set(dead) == set(targets.values())
    assert {(a["ERROR_CODE"], a["RETRY_ATTEMPTS"]) for a in dead.values()} == {("NO_PERMISSIONS", "0")}
    assert _attempts(aws, function) == 0
    assert "Messages" not in aws("sqs").receive_message(QueueUrl=queue_url)


def test_eventbridge_invokes_a_function_whose_policy_allows_the_rule(aws: Aws, role_arn: str, suffix: str) -> None:
    """Amazon EventBridge User Guide, "Using resource-based policies for Amazon EventBridge",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions:
    lambda:InvokeFunction for events.amazonaws.com with the rule as aws:SourceArn."""
    function = failing_function(aws, role_arn, f"permitted-{suffix}")
    function_arn = aws("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    rule_arn = aws("events").put_rule(
        Name=f"permitted-{suffix}", EventPattern=json.dumps({"source": [f"permitted-{suffix}"]})
    )["RuleArn"]
    aws("lambda").add_permission(
        FunctionName=function,
        StatementId="this-rule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    aws("events").put_targets(Rule=f"permitted-{suffix}", Targets=[{"Id": "fn", "Arn": function_arn}])

    _put_event(aws, f"permitted-{suffix}")

    assert _attempts(aws, function) == 1


def test_eventbridge_cannot_dead_letter_into_a_queue_that_does_not_allow_it(aws: Aws, suffix: str) -> None:
    """Amazon EventBridge User Guide, "Using dead-letter queues to process undelivered events",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html: the DLQ needs a queue
    policy that lets EventBridge send to it; without one the event is lost."""
    dlq_url = aws("sqs").create_queue(QueueName=f"closed-dlq-{suffix}")["QueueUrl"]
    dlq_arn = aws("sqs").get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    missing = f"arn:aws:sns:us-east-1:123456789012:gone-{suffix}"
    _rule_to(aws, f"closed-{suffix}", {"Arn": missing, "DeadLetterConfig": {"Arn": dlq_arn}})

    _put_event(aws, f"closed-{suffix}")

    assert "Messages" not in aws("sqs").receive_message(QueueUrl=dlq_url)
