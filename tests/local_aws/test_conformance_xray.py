"""Conformance: Lambda's X-Ray active tracing. An ``Active`` function gets a sampled trace header per
invocation and a daemon that relays the segment documents its code sends, with the function's role;
Lambda records the function's segment; both reach X-Ray (GetTraceSummaries, BatchGetTraces).

AWS Lambda Developer Guide, "Visualize Lambda function invocations using AWS X-Ray",
https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html: "With Active tracing, Lambda
automatically creates trace segments for function invocations and sends them to X-Ray"; "Your
function needs permission to upload trace data to X-Ray" (xray:PutTraceSegments,
xray:PutTelemetryRecords on the execution role); ``PassThrough`` only propagates the upstream
decision. AWS Lambda Developer Guide, "Working with Lambda environment variables", defined runtime
environment variables, https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime:
``_X_AMZN_TRACE_ID`` (the tracing header, changes with each invocation), ``AWS_XRAY_CONTEXT_MISSING``
(``LOG_ERROR``), ``AWS_XRAY_DAEMON_ADDRESS`` (IP address and port of the daemon). AWS X-Ray Developer
Guide, "Sending segment documents to the X-Ray daemon",
https://docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html#xray-api-daemon: the
header ``{"format": "json", "version": 1}``, a newline and the document, over UDP; "Tracing header",
https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader:
``Root=1-<8 hex digits: the epoch time in seconds>-<24 hex digits>;Parent=<16 hex digits>;Sampled=1``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tools.local_aws import clock
from tools.local_aws.services.xray import daemon

from .helpers import function, grants, ref, role, template

Aws = Callable[[str], Any]

HEADER = re.compile(r"^Root=1-(?P<epoch>[0-9a-f]{8})-[0-9a-f]{24};Parent=(?P<parent>[0-9a-f]{16});Sampled=(?P<s>[01])$")
UPLOAD = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")

# Reports what Lambda gave the invocation; with {"send": true} it sends one subsegment to the daemon.
SENDER = """
import json, os, socket, time

def handler(event, context):
    header = os.environ["_X_AMZN_TRACE_ID"]
    fields = dict(field.split("=", 1) for field in header.split(";"))
    if event.get("send"):
        host, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].split(":")
        now = time.time()
        document = {
            "type": "subsegment", "name": "## step", "id": "0123456789abcdef", "trace_id": fields["Root"],
            "parent_id": fields["Parent"], "start_time": now, "end_time": now, "annotations": {"store": "Aurora"},
        }
        message = b'{"format":"json","version":1}\\n' + json.dumps(document).encode()
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(message, (host, int(port)))
    return {
        "header": header,
        "daemon": os.environ.get("AWS_XRAY_DAEMON_ADDRESS"),
        "context_missing": os.environ.get("AWS_XRAY_CONTEXT_MISSING"),
    }
"""


def _deploy(cfn: Any, suffix: str, *, mode: str | None, may_upload: bool = True) -> str:
    """A function with the tracing mode ``mode`` (None: no TracingConfig) from a template (F12)."""
    name = f"traced-{suffix}"
    tracing = {"TracingConfig": {"Mode": mode}} if mode else {}
    resources = {
        "Role": role(**grants(*UPLOAD)) if may_upload else role(),
        "Function": function("Role", FunctionName=name, Code={"ZipFile": SENDER}, **tracing),
    }
    cfn.deploy(template(resources, {"Name": ref("Function")}))
    return name


def _invoke(aws: Aws, name: str, send: bool = False) -> dict[str, Any]:
    answer = aws("lambda").invoke(FunctionName=name, Payload=json.dumps({"send": send}))
    assert "FunctionError" not in answer
    return dict(json.loads(answer["Payload"].read()))


def _documents(aws: Aws, root: str) -> list[dict[str, Any]]:
    traces = aws("xray").batch_get_traces(TraceIds=[root])["Traces"]
    return [json.loads(segment["Document"]) for trace in traces for segment in trace["Segments"]]


def test_f12_an_active_function_gets_a_sampled_trace_header_per_invocation_and_the_daemon(cfn, aws, suffix):
    name = _deploy(cfn, suffix, mode="Active")
    clock.CLOCK.advance(timedelta(days=1))  # the root's epoch is the emulated time

    first, second = _invoke(aws, name), _invoke(aws, name)

    assert aws("lambda").get_function_configuration(FunctionName=name)["TracingConfig"] == {"Mode": "Active"}
    matched = [HEADER.match(answer["header"]) for answer in (first, second)]
    assert all(matched) and {m["s"] for m in matched if m} == {"1"}
    assert first["header"] != second["header"]  # a new trace each invocation
    epoch = int(matched[0]["epoch"], 16) if matched[0] else 0
    assert abs(epoch - clock.now().timestamp()) < 60
    assert re.fullmatch(r"127\.0\.0\.1:\d+", first["daemon"])
    assert first["context_missing"] == "LOG_ERROR"


def test_f12_what_the_code_sends_to_the_daemon_is_in_x_ray_under_lambdas_function_segment(cfn, aws, suffix):
    name = _deploy(cfn, suffix, mode="Active")

    answer = _invoke(aws, name, send=True)

    fields = dict(field.split("=", 1) for field in answer["header"].split(";"))
    (function_segment,) = _documents(aws, fields["Root"])  # X-Ray nests the subsegment in its parent
    assert (function_segment["id"], function_segment["name"]) == (fields["Parent"], name)
    assert function_segment["origin"] == "AWS::Lambda::Function"
    (sent,) = function_segment["subsegments"]
    assert sent == {
        "name": "## step",
        "id": "0123456789abcdef",
        "start_time": sent["start_time"],
        "end_time": sent["end_time"],
        "annotations": {"store": "Aurora"},
    }
    now = int(clock.now().timestamp())
    summaries = aws("xray").get_trace_summaries(StartTime=now - 3600, EndTime=now + 3600)["TraceSummaries"]
    assert fields["Root"] in {summary["Id"] for summary in summaries}


def test_a_role_that_may_not_upload_traces_loses_them(cfn, aws, suffix):
    """The daemon uploads with the function's role: without xray:PutTraceSegments nothing arrives,
    and the function does not notice."""
    name = _deploy(cfn, suffix, mode="Active", may_upload=False)

    answer = _invoke(aws, name, send=True)

    root = dict(field.split("=", 1) for field in answer["header"].split(";"))["Root"]
    assert aws("xray").batch_get_traces(TraceIds=[root])["UnprocessedTraceIds"] == [root]


def test_a_pass_through_function_is_not_sampled(cfn, aws, suffix):
    name = _deploy(cfn, suffix, mode=None)

    answer = _invoke(aws, name)

    assert aws("lambda").get_function_configuration(FunctionName=name)["TracingConfig"] == {"Mode": "PassThrough"}
    matched = HEADER.match(answer["header"])
    assert matched and matched["s"] == "0"
    assert aws("xray").batch_get_traces(TraceIds=[matched.group(0).split(";")[0][5:]])["Traces"] == []


def test_the_daemon_takes_only_datagrams_with_its_header():
    """X-Ray Developer Guide, "Sending segment documents to the X-Ray daemon": header, newline, document."""
    document = '{"name": "fn", "id": "0123456789abcdef"}'

    assert daemon.document_of(b'{"format":"json","version":1}\n' + document.encode()) == document
    assert daemon.document_of(b'{"format": "json", "version": 1}\n' + document.encode()) == document
    assert daemon.document_of(document.encode()) is None
    assert daemon.document_of(b'{"format":"json","version":2}\n' + document.encode()) is None
