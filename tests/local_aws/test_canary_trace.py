"""The canary (lib/lambda/health_check, as packaged) traced on the emulator: one run is one X-Ray trace
whose subsegments name its checks, annotated with the store and the result an operator searches by."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from lib.build.lambda_bundle import RDS_CA_BUNDLE
from tools.local_aws import clock

from .helpers import function, grants, kit_function_code, role, template

Aws = Callable[[str], Any]


def _heartbeat_stores(suffix: str) -> dict[str, Any]:
    keys = [("pk", "HASH"), ("sk", "RANGE")]
    return {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": f"heartbeats-{suffix}",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": name, "KeyType": kind} for name, kind in keys],
                "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
            },
        },
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"heartbeats-{suffix}"}},
    }


def _entities(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A segment document and every subsegment nested in it."""
    yield document
    for inner in document.get("subsegments", []):
        yield from _entities(inner)


def _trace_of(aws: Aws, function_name: str) -> list[dict[str, Any]]:
    """Every entity of the one trace whose Lambda function segment is ``function_name``'s."""
    now = int(clock.now().timestamp())
    summaries = aws("xray").get_trace_summaries(StartTime=now - 3600, EndTime=now + 3600)["TraceSummaries"]
    traces = aws("xray").batch_get_traces(TraceIds=[s["Id"] for s in summaries])["Traces"]
    (ours,) = (
        [entity for segment in trace["Segments"] for entity in _entities(json.loads(segment["Document"]))]
        for trace in traces
        if any(json.loads(s["Document"]).get("name") == function_name for s in trace["Segments"])
    )
    return ours


def test_a_canary_run_is_a_trace_whose_subsegments_name_its_checks(cfn, aws, suffix):
    """DynamoDB and S3 answer; no database listens at the canary's host and port, so the Aurora check
    fails."""
    name = f"health-check-{suffix}"
    environment = {
        "DB_USER": "dr_canary",
        "DB_CA_BUNDLE": RDS_CA_BUNDLE,
        "DB_HOST": "127.0.0.1",
        "DB_PORT": "5432",
        "DB_NAME": "dr",
        "TABLE_NAME": f"heartbeats-{suffix}",
        "BUCKET_NAME": f"heartbeats-{suffix}",
        "ENVIRONMENT_SUFFIX": suffix,
        "METRICS_NAMESPACE": f"Canary/{suffix}",
    }
    may = ("dynamodb:PutItem", "dynamodb:GetItem", "s3:PutObject", "s3:GetObject")
    resources = {
        **_heartbeat_stores(suffix),
        "Role": role(**grants(*may, "xray:PutTraceSegments", "xray:PutTelemetryRecords")),
        "Canary": function(
            "Role",
            FunctionName=name,
            Handler="handler.handler",
            Timeout=30,
            Code=kit_function_code(aws, "health-check", f"assets-{suffix}"),
            TracingConfig={"Mode": "Active"},
            Environment={"Variables": environment},
        ),
    }
    cfn.deploy(template(resources))

    answer = aws("lambda").invoke(FunctionName=name, Payload=b"{}")

    assert answer["FunctionError"] == "Unhandled"  # HealthCheckFailed: 1 of 3 dependencies failed
    entities = _trace_of(aws, name)
    by_name = {entity["name"]: entity for entity in entities}
    assert by_name[name]["origin"] == "AWS::Lambda::Function" and by_name[name]["fault"] is True
    assert {"Service": "health-check", "ColdStart": True}.items() <= by_name["## handler"]["annotations"].items()
    assert by_name["## Aurora check"]["annotations"] == {"store": "Aurora", "result": "failed"}
    assert by_name["## DynamoDB check"]["annotations"] == {"store": "DynamoDB", "result": "ok"}
    assert by_name["## S3 check"]["annotations"] == {"store": "S3", "result": "ok"}
    # Every AWS call is a subsegment of its own (botocore patched), timed inside its check.
    calls = {("dynamodb", "PutItem"), ("dynamodb", "GetItem"), ("s3", "PutObject"), ("s3", "GetObject")}
    assert calls <= {(entity["name"], entity.get("aws", {}).get("operation")) for entity in entities}
    aws("s3").delete_object(Bucket=f"heartbeats-{suffix}", Key="heartbeat/latest.json")  # so the stack deletes
