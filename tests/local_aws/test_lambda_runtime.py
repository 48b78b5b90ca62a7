"""Lambda code runs (D2): Invoke, context and environment, errors, timeouts, logs, async retries and
dead letters, SNS subscriptions. Functions are created with boto3 from small zipped sources."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import textwrap
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from tools.local_aws import clock
from tools.local_aws.server import process_start_time
from tools.local_aws.services.awslambda import runtime as lambda_runtime

from .helpers import TRUST_LAMBDA

ECHO = """
import os

def handler(event, context):
    return {
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "environment": dict(os.environ),
    }
"""

RAISES = """
def handler(event, context):
    raise ValueError("boom: " + str(event.get("n")))
"""


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in files.items():
            archive.writestr(name, textwrap.dedent(source))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def role_arn(aws: Callable[[str], Any]) -> str:
    """The functions' role; it may send failed events to the tests' queues (Lambda uses the role)."""
    iam = aws("iam")
    role = iam.create_role(RoleName="lambda-runtime-tests", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    sends = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:123456789012:*"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [sends]})
    iam.put_role_policy(RoleName="lambda-runtime-tests", PolicyName="dead-letters", PolicyDocument=document)
    return str(role["Role"]["Arn"])


@pytest.fixture
def create(aws: Callable[[str], Any], role_arn: str, suffix: str) -> Callable[..., str]:
    """``create(source)`` makes a python3.12 function whose index.py is ``source``; returns its name."""
    count = iter(range(100))

    def make(source: str | None = None, files: dict[str, str] | None = None, **config: Any) -> str:
        name = f"fn-{suffix}-{next(count)}"
        aws("lambda").create_function(
            FunctionName=name,
            Runtime=config.pop("Runtime", "python3.12"),
            Role=role_arn,
            Handler=config.pop("Handler", "index.handler"),
            Code={"ZipFile": _zip(files or {"index.py": source or ECHO})},
            **config,
        )
        return name

    return make


def _invoke(aws: Callable[[str], Any], name: str, payload: Any = None, **arguments: Any) -> dict[str, Any]:
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps(payload or {}), **arguments)
    response["Body"] = json.loads(response["Payload"].read())
    return response


def _log_messages(aws: Callable[[str], Any], group: str) -> list[list[str]]:
    """The messages of each stream of the group (one stream per execution environment)."""
    logs = aws("logs")
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    return [
        [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])["events"]]
        for s in streams
    ]


def test_d2_invoke_runs_the_handler_with_the_event_and_context(aws, create):
    name = create()

    response = _invoke(aws, name, {"answer": 42})

    body = response["Body"]
    assert (response["StatusCode"], response["ExecutedVersion"]) == (200, "$LATEST")
    assert "FunctionError" not in response
    assert body["event"] == {"answer": 42}
    assert body["function_name"] == name
    assert body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    assert body["memory_limit_in_mb"] == "128"
    assert re.fullmatch(r"[0-9a-f-]{36}", body["aws_request_id"])
    assert body["log_group_name"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", body["log_stream_name"])
    assert 0 < body["remaining_ms"] <= 3000


def test_d2_an_alias_invokes_its_version(aws, create):
    name = create()
    version = aws("lambda").publish_version(FunctionName=name)["Version"]
    aws("lambda").create_alias(FunctionName=name, Name="live", FunctionVersion=version)

    response = _invoke(aws, name, Qualifier="live")

    assert response["ExecutedVersion"] == version
    assert response["Body"]["function_version"] == version
    assert response["Body"]["invoked_function_arn"].endswith(f":function:{name}:live")


def test_d2_the_handler_sees_lambdas_environment_and_its_variables(aws, create):
    name = create(Environment={"Variables": {"GREETING": "hello"}}, MemorySize=256, Handler="index.handler")

    environment = _invoke(aws, name)["Body"]["environment"]

    assert environment["GREETING"] == "hello"
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert environment["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environment["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert environment["_HANDLER"] == "index.handler"
    assert environment["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    # Temporary credentials of the function's role (test_conformance_callers.py: whom they identify).
    assert environment["AWS_ACCESS_KEY_ID"].startswith("ASIA") and environment["AWS_SESSION_TOKEN"]
    assert environment["LAMBDA_TASK_ROOT"]


def test_d2_the_handlers_aws_clients_reach_the_emulator(aws, create, suffix, endpoint):
    queue_url = aws("sqs").create_queue(QueueName=f"from-lambda-{suffix}")["QueueUrl"]
    aws("s3").create_bucket(Bucket=f"from-lambda-{suffix}")
    source = """
        import os
        import boto3

        def handler(event, context):
            boto3.client("sqs").send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody="sent by the function")
            boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key="written.txt", Body=b"written")
            return os.environ["AWS_ENDPOINT_URL"]
    """
    name = create(source, Environment={"Variables": {"QUEUE_URL": queue_url, "BUCKET": f"from-lambda-{suffix}"}})

    response = _invoke(aws, name)

    assert response["Body"] == endpoint
    messages = aws("sqs").receive_message(QueueUrl=queue_url)["Messages"]
    assert [m["Body"] for m in messages] == ["sent by the function"]
    assert aws("s3").get_object(Bucket=f"from-lambda-{suffix}", Key="written.txt")["Body"].read() == b"written"


def test_d2_the_handler_may_live_in_a_nested_package(aws, create):
    files = {
        "app/__init__.py": "",
        "app/handlers/__init__.py": "",
        "app/handlers/api.py": "from app import shared\n\ndef main(event, context):\n    return shared.VALUE\n",
        "app/shared.py": "VALUE = 'nested'\n",
    }
    name = create(files=files, Handler="app/handlers/api.main")

    assert _invoke(aws, name)["Body"] == "nested"


def test_d2_a_raising_handler_returns_lambdas_error_payload(aws, create):
    name = create(RAISES)

    response = _invoke(aws, name, {"n": 7})

    body = response["Body"]
    assert response["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "boom: 7")
    assert body["requestId"]
    assert len(body["stackTrace"]) == 1 and "index.py" in body["stackTrace"][0]
    assert 'raise ValueError("boom: " + str(event.get("n")))' in body["stackTrace"][0]


def test_d2_broken_code_is_reported_not_fatal(aws, create):
    crash = create("import os\n\ndef handler(event, context):\n    os._exit(3)\n")
    flood = create(
        "def handler(event, context):\n    for _ in range(8000):\n        print('x' * 1000)\n    return 'done'\n"
    )
    unserializable = create("def handler(event, context):\n    return {1, 2}\n")
    missing = create(Handler="index.nowhere")

    crashed = _invoke(aws, crash)
    flooded = _invoke(aws, flood)
    marshal = _invoke(aws, unserializable)
    not_found = _invoke(aws, missing)

    assert crashed["FunctionError"] == "Unhandled"
    assert crashed["Body"]["errorType"] == "Runtime.ExitError"
    assert crashed["Body"]["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    assert marshal["Body"]["errorType"] == "Runtime.MarshalError"
    assert not_found["Body"]["errorType"] == "Runtime.HandlerNotFound"
    assert flooded["Body"] == "done"
    [flood_log] = _log_messages(aws, f"/aws/lambda/{flood}")
    assert any(
        m.startswith("[local AWS] ") and m.endswith(" bytes of function output were not kept") for m in flood_log
    )
    assert _invoke(aws, create())["StatusCode"] == 200  # the emulator still runs code


def test_d2_a_run_past_its_timeout_is_killed_with_its_process_group(aws, create):
    source = """
        import subprocess
        import os
        import threading

        def handler(event, context):
            child = subprocess.Popen(["sleep", "infinity"])
            print("pids", os.getpid(), child.pid, flush=True)
            threading.Event().wait()  # hangs until the timeout kills it
    """
    name = create(source, Timeout=1)

    started = time.monotonic()
    response = _invoke(aws, name, LogType="Tail")
    elapsed = time.monotonic() - started

    assert elapsed < 10
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: \S+ Error: Task timed out after 1\.00 seconds", response["Body"]["errorMessage"])
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "Task timed out after 1.00 seconds" in tail
    pids = [int(pid) for pid in re.search(r"pids (\d+) (\d+)", tail).groups()]  # type: ignore[union-attr]
    assert [process_start_time(pid) for pid in pids] == [None, None]


def test_d2_output_and_lambdas_lines_become_log_events(aws, create, suffix):
    group = f"/custom/logs-{suffix}"
    source = """
        import logging

        logging.getLogger().setLevel(logging.INFO)

        def handler(event, context):
            print("printed line")
            logging.info("first line\\nsecond line")
            return "done"
    """
    name = create(source, LoggingConfig={"LogGroup": group, "LogFormat": "Text"})

    response = _invoke(aws, name, LogType="Tail")

    [messages] = _log_messages(aws, group)
    assert messages[0].startswith("START RequestId: ") and messages[0].endswith(" Version: $LATEST")
    assert "printed line" in messages
    assert any(m.startswith("[INFO]\t") and m.endswith("\tfirst line\nsecond line") for m in messages)
    assert messages[-2].startswith("END RequestId: ")
    assert messages[-1].startswith("REPORT RequestId: ") and "\tDuration: " in messages[-1]
    assert "printed line" in base64.b64decode(response["LogResult"]).decode()
    configuration = aws("lambda").get_function_configuration(FunctionName=name)
    assert configuration["LoggingConfig"]["LogGroup"] == group


def _starts(aws: Callable[[str], Any], name: str, count: int) -> list[str]:
    """The function's START lines once there are ``count`` (an Event invoke runs in the background:
    wait for it, up to 20 s of real time, as receive_message's long poll does)."""
    deadline = time.monotonic() + 20
    while True:
        group = f"/aws/lambda/{name}"
        streams = (
            _log_messages(aws, group) if aws("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"] else []
        )
        starts = [message for stream in streams for message in stream if message.startswith("START ")]
        if len(starts) >= count or time.monotonic() > deadline:
            return starts
        time.sleep(0.1)


def test_d2_async_failures_are_retried_on_the_clock_then_dead_lettered(aws, create, suffix):
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=f"dead-letters-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = create(RAISES, DeadLetterConfig={"TargetArn": queue_arn})
    aws("lambda").put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)

    response = aws("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": 1}))

    assert response["StatusCode"] == 202
    assert len(_starts(aws, name, 1)) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)  # the retry waits a minute
    clock.CLOCK.advance(timedelta(minutes=1, seconds=5))
    received = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])
    [message] = received["Messages"]
    assert json.loads(message["Body"]) == {"n": 1}
    attributes = {key: value["StringValue"] for key, value in message["MessageAttributes"].items()}
    assert attributes["ErrorCode"] == "200"
    assert attributes["ErrorMessage"] == "boom: 1"
    starts = _starts(aws, name, 2)
    assert len(starts) == 2  # the first attempt and one retry, each with the same request id
    assert {start.split()[2] for start in starts} == {attributes["RequestID"]}


def test_d2_dry_run_only_checks(aws, create):
    name = create(RAISES)

    response = aws("lambda").invoke(FunctionName=name, InvocationType="DryRun")

    assert response["StatusCode"] == 204
    assert aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"] == []


def test_d2_a_missing_function_is_not_found(aws, suffix):
    with pytest.raises(aws("lambda").exceptions.ResourceNotFoundException) as raised:
        aws("lambda").invoke(FunctionName=f"missing-{suffix}")

    message = raised.value.response["Error"]["Message"]
    assert message == f"Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing-{suffix}"


def test_d2_an_event_that_is_not_json_is_refused(aws, create):
    name = create()

    for invocation_type in ("RequestResponse", "Event"):
        with pytest.raises(aws("lambda").exceptions.InvalidRequestContentException):
            aws("lambda").invoke(FunctionName=name, InvocationType=invocation_type, Payload=b"{not json")


def test_d2_other_runtimes_are_refused_by_name(aws, create):
    name = create(files={"index.js": "exports.handler = async () => 1"}, Runtime="nodejs20.x")

    with pytest.raises(aws("lambda").exceptions.ClientError) as raised:
        aws("lambda").invoke(FunctionName=name)

    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidRuntimeException"
    assert "python3" in error["Message"] and "nodejs20.x" in error["Message"]


def test_d2_an_sns_lambda_subscription_runs_the_code(aws, create, suffix):
    queue_url = aws("sqs").create_queue(QueueName=f"sns-records-{suffix}")["QueueUrl"]
    source = """
        import json
        import os
        import boto3

        def handler(event, context):
            record = event["Records"][0]
            boto3.client("sqs").send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps(record))
    """
    name = create(source, Environment={"Variables": {"QUEUE_URL": queue_url}})
    function_arn = aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    topic_arn = aws("sns").create_topic(Name=f"topic-{suffix}")["TopicArn"]
    aws("sns").subscribe(TopicArn=topic_arn, Protocol="lambda", Endpoint=function_arn)

    message_id = aws("sns").publish(
        TopicArn=topic_arn,
        Message="hello",
        Subject="greeting",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )["MessageId"]

    [message] = aws("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=20)["Messages"]
    record = json.loads(message["Body"])
    assert record["EventSource"] == "aws:sns"
    notification = record["Sns"]
    assert (notification["Message"], notification["Subject"]) == ("hello", "greeting")
    assert (notification["TopicArn"], notification["MessageId"]) == (topic_arn, message_id)
    assert notification["MessageAttributes"] == {"kind": {"Type": "String", "Value": "test"}}


def _queue(aws: Callable[[str], Any], name: str) -> tuple[str, str]:
    url = aws("sqs").create_queue(QueueName=name)["QueueUrl"]
    arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def test_d2_an_async_failure_goes_to_the_on_failure_destination(aws, create, suffix):
    url, arn = _queue(aws, f"on-failure-{suffix}")
    name = create(RAISES)
    aws("lambda").put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": arn}}
    )

    aws("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": 2}))

    [message] = aws("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=20)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["functionArn"].endswith(f":function:{name}:$LATEST")
    assert record["requestPayload"] == {"n": 2}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorMessage"] == "boom: 2"


def test_d2_an_sqs_event_source_runs_the_code(aws, create, suffix):
    source_url, source_arn = _queue(aws, f"source-{suffix}")
    target_url, _ = _queue(aws, f"target-{suffix}")
    forward = """
        import os
        import boto3

        def handler(event, context):
            for record in event["Records"]:
                boto3.client("sqs").send_message(QueueUrl=os.environ["TARGET"], MessageBody=record["body"])
    """
    name = create(forward, Environment={"Variables": {"TARGET": target_url}})
    aws("lambda").create_event_source_mapping(EventSourceArn=source_arn, FunctionName=name)

    aws("sqs").send_message(QueueUrl=source_url, MessageBody="passed on")

    [message] = aws("sqs").receive_message(QueueUrl=target_url, WaitTimeSeconds=20)["Messages"]
    assert message["Body"] == "passed on"


def test_d2_a_function_that_cannot_run_fails_the_delivery_not_the_sender(aws, create, suffix):
    """Guards D2's delivery semantics (moto's Docker path never raised either)."""
    source_url, source_arn = _queue(aws, f"unrunnable-{suffix}")
    name = create(files={"index.js": "exports.handler = async () => 1"}, Runtime="nodejs20.x")
    aws("lambda").create_event_source_mapping(EventSourceArn=source_arn, FunctionName=name)

    sent = aws("sqs").send_message(QueueUrl=source_url, MessageBody="kept")

    assert sent["MessageId"]
    [message] = aws("sqs").receive_message(QueueUrl=source_url)["Messages"]
    assert message["Body"] == "kept"


def test_d2_the_runtime_api_invokes_synchronously_and_asynchronously(aws, create, suffix):
    """What the emulator's own modules call (the clock, EventBridge targets): both finish before
    they return."""
    url, arn = _queue(aws, f"runtime-api-{suffix}")
    name = create(RAISES, DeadLetterConfig={"TargetArn": arn})
    aws("lambda").put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)

    result = lambda_runtime.invoke("123456789012", "us-east-1", name, b'{"n": 3}')
    lambda_runtime.invoke_event("123456789012", "us-east-1", name, b'{"n": 4}')

    assert (result.function_error, result.executed_version) == ("Unhandled", "$LATEST")
    assert json.loads(result.payload)["errorMessage"] == "boom: 3"
    assert f"END RequestId: {result.request_id}" in result.log_tail
    assert result.log_group == f"/aws/lambda/{name}" and "/[$LATEST]" in result.log_stream
    [message] = aws("sqs").receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"]) == {"n": 4}


def test_d2_invocations_are_counted_in_the_functions_metrics(aws, create):
    name = create(RAISES)
    version = aws("lambda").publish_version(FunctionName=name)["Version"]
    aws("lambda").create_alias(FunctionName=name, Name="live", FunctionVersion=version)

    def total(metric: str, **dimensions: str) -> float:
        now = clock.now()
        points = aws("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(minutes=1),
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(point["Sum"] for point in points)

    _invoke(aws, name)
    _invoke(aws, name)
    assert total("Invocations", FunctionName=name) == total("Errors", FunctionName=name) == 2
    assert total("Duration", FunctionName=name) > 0

    _invoke(aws, name, Qualifier="live")
    assert total("Errors", FunctionName=name, Resource=f"{name}:live") == 1


CLOCK_READER = """
import time
from datetime import datetime, timezone


def handler(event, context):
    return {"time": time.time(), "now": datetime.now(timezone.utc).isoformat(), "utcnow": datetime.utcnow().isoformat()}
"""


def test_d2_function_code_reads_the_emulators_clock(aws, create):
    from datetime import datetime, timedelta

    from tools.local_aws.clock import CLOCK

    name = create(CLOCK_READER)
    CLOCK.advance(timedelta(hours=3))

    body = _invoke(aws, name)["Body"]

    emulated = CLOCK.now()
    assert abs(body["time"] - emulated.timestamp()) < 60
    assert abs(datetime.fromisoformat(body["now"]) - emulated) < timedelta(minutes=1)
    assert abs(datetime.fromisoformat(body["utcnow"]) - emulated.replace(tzinfo=None)) < timedelta(minutes=1)


EMF_PRINTER = """
import json
import time


def handler(event, context):
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000),
                 "CloudWatchMetrics": [{"Namespace": event["namespace"], "Dimensions": [[]],
                                        "Metrics": [{"Name": "Beats", "Unit": "Count"}]}]},
        "Beats": 1,
    }))
"""


def test_d2_d20_metrics_a_function_prints_after_a_tick_land_at_the_emulators_now(aws, create, suffix):
    from datetime import timedelta

    from tools.local_aws.clock import CLOCK

    name = create(EMF_PRINTER)
    CLOCK.advance(timedelta(hours=2))

    _invoke(aws, name, {"namespace": f"Beats/{suffix}"})

    now = CLOCK.now()
    points = aws("cloudwatch").get_metric_statistics(
        Namespace=f"Beats/{suffix}",
        MetricName="Beats",
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(point["Sum"] for point in points) == 1


WARM = """
import os
import threading
import time

INVOCATIONS = []  # module state: lives as long as the execution environment


def handler(event, context):
    INVOCATIONS.append(context.aws_request_id)
    if event.get("hang"):
        threading.Event().wait()  # until the timeout ends the environment
    if event.get("raise"):
        raise RuntimeError("handled by the runtime")
    return {"pid": os.getpid(), "count": len(INVOCATIONS), "time": time.time(), "stream": context.log_stream_name}
"""


def _reports(aws: Callable[[str], Any], name: str) -> list[str]:
    return [m for stream in _log_messages(aws, f"/aws/lambda/{name}") for m in stream if m.startswith("REPORT ")]


def test_d2_a_warm_invocation_reuses_the_environment_and_reads_the_moved_clock(aws, create):
    name = create(WARM)

    first = _invoke(aws, name)["Body"]
    failed = _invoke(aws, name, {"raise": True})
    clock.CLOCK.advance(timedelta(hours=2))
    warm = _invoke(aws, name)["Body"]

    assert failed["FunctionError"] == "Unhandled"  # a handled error keeps the environment, as in Lambda
    assert (first["count"], warm["count"]) == (1, 3)
    assert warm["pid"] == first["pid"] and warm["stream"] == first["stream"]
    assert abs(warm["time"] - clock.now().timestamp()) < 60
    reports = _reports(aws, name)
    assert len(reports) == 3
    assert ["Init Duration: " in report for report in reports] == [True, False, False]


def test_d2_a_timeout_discards_the_environment(aws, create):
    name = create(WARM, Timeout=1)
    before = _invoke(aws, name)["Body"]

    timed_out = _invoke(aws, name, {"hang": True})
    after = _invoke(aws, name)["Body"]

    assert timed_out["Body"]["errorType"] == "Sandbox.Timedout"
    assert after["count"] == 1 and after["pid"] != before["pid"]
    assert process_start_time(before["pid"]) is None
    assert ["Init Duration: " in report for report in _reports(aws, name)].count(True) == 2


def test_d2_an_update_or_a_delete_ends_the_functions_environments(aws, create):
    name = create(WARM)
    before = _invoke(aws, name)["Body"]

    aws("lambda").update_function_configuration(FunctionName=name, Environment={"Variables": {"CHANGED": "1"}})

    assert process_start_time(before["pid"]) is None
    updated = _invoke(aws, name)["Body"]
    assert updated["count"] == 1 and updated["pid"] != before["pid"]
    aws("lambda").delete_function(FunctionName=name)
    assert process_start_time(updated["pid"]) is None


def test_d2_an_idle_environment_is_shut_down(aws, create):
    name = create(WARM)
    before = _invoke(aws, name)["Body"]

    lambda_runtime.shut_down_idle(0)

    assert process_start_time(before["pid"]) is None
    assert _invoke(aws, name)["Body"]["count"] == 1


RENDEZVOUS = """
import os


def handler(event, context):
    # Opening a FIFO blocks until the other end is opened: both invocations must run at once.
    descriptor = os.open(event["fifo"], os.O_RDONLY if event["read"] else os.O_WRONLY)
    os.close(descriptor)
    return os.getpid()
"""


def test_d2_concurrent_invocations_run_in_environments_of_their_own(aws, create, tmp_path):
    name = create(RENDEZVOUS, Timeout=10)
    fifo = tmp_path / "rendezvous"
    os.mkfifo(fifo)

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda read: _invoke(aws, name, {"fifo": str(fifo), "read": read}), (True, False)))

    assert ["FunctionError" not in run for run in runs] == [True, True]
    assert runs[0]["Body"] != runs[1]["Body"]
