"""The request pipeline in front of moto: what each step sees, the order of the steps, a denial that
ends the request with the service's own error shape, and the connection hook for databases."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator import ACCOUNT
from tools.local_aws import pipeline
from tools.local_aws.pipeline import authorization, caller, faults, network
from tools.local_aws.pipeline.request import Caller, Denial, Request, parse

SIGNED = "AWS4-HMAC-SHA256 Credential={key}/20261205/eu-west-1/{service}/aws4_request, SignedHeaders=host, Signature=0"


def _environ(method: str, path: str, *, service: str | None = None, body: bytes = b"", **extra: str) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **extra,
    }
    if service:
        environ["HTTP_AUTHORIZATION"] = SIGNED.format(key="testing", service=service)
    return environ


def test_a_json_request_names_service_region_key_and_operation():
    request = parse(_environ("POST", "/", service="dynamodb", HTTP_X_AMZ_TARGET="DynamoDB_20120810.PutItem"))

    assert (request.service, request.region, request.access_key) == ("dynamodb", "eu-west-1", "testing")
    assert (request.operation, request.protocol) == ("PutItem", "json")


def test_a_query_requests_action_is_read_from_its_form_body_and_the_body_is_left_for_moto():
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    environ = _environ("POST", "/", service="sts", body=body, CONTENT_TYPE="application/x-www-form-urlencoded")

    request = parse(environ)

    assert (request.service, request.operation, request.protocol) == ("sts", "GetCallerIdentity", "query")
    assert environ["wsgi.input"].read() == body


@pytest.mark.parametrize(
    ("method", "path", "query", "operation", "parameters"),
    [
        ("GET", "/orders/2026/12/05.json", "", "GetObject", {"Bucket": "orders", "Key": "2026/12/05.json"}),
        ("GET", "/orders", "list-type=2&prefix=2026", "ListObjectsV2", {"Bucket": "orders"}),
        ("PUT", "/orders", "versioning", "PutBucketVersioning", {"Bucket": "orders"}),
        ("GET", "/", "", "ListBuckets", {}),
    ],
)
def test_an_s3_request_is_routed_by_method_path_and_query(method, path, query, operation, parameters):
    request = parse(_environ(method, path, service="s3", QUERY_STRING=query))

    assert (request.operation, request.protocol, dict(request.parameters)) == (operation, "rest-xml", parameters)


def test_an_s3_put_is_a_copy_only_with_the_copy_source_header():
    """Amazon S3 API Reference, "CopyObject" (PUT /Key+ with the required x-amz-copy-source header)
    and "PutObject" (the same route without it): https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html"""
    put = parse(_environ("PUT", "/orders/k.json", service="s3"))
    copy = parse(_environ("PUT", "/orders/k.json", service="s3", HTTP_X_AMZ_COPY_SOURCE="/orders/old.json"))

    assert (put.operation, copy.operation) == ("PutObject", "CopyObject")


def test_a_json_requests_body_and_a_query_requests_parameters_are_kept_for_authorization():
    body = b'{"TableName": "orders"}'
    json_request = parse(
        _environ("POST", "/", service="dynamodb", body=body, HTTP_X_AMZ_TARGET="DynamoDB_20120810.GetItem")
    )
    form = b"Action=DescribeDBClusters&DBClusterIdentifier=orders"
    query_request = parse(
        _environ("POST", "/", service="rds", body=form, CONTENT_TYPE="application/x-www-form-urlencoded")
    )

    assert json_request.body == body
    assert query_request.query["DBClusterIdentifier"] == "orders"


def test_a_lambda_invoke_and_a_cloudwatch_request_name_their_operation():
    invoke = parse(_environ("POST", "/2015-03-31/functions/health-check/invocations", service="lambda"))
    path = "/service/GraniteServiceVersion20100801/operation/PutMetricData"
    metrics = parse(_environ("POST", path, service="monitoring"))

    assert (invoke.operation, dict(invoke.parameters)) == ("Invoke", {"FunctionName": "health-check"})
    assert (metrics.service, metrics.operation) == ("monitoring", "PutMetricData")
    assert metrics.protocol == "smithy-rpc-v2-cbor"


def test_an_unsigned_request_has_no_key_and_what_cannot_be_read_is_none():
    request = caller.identify(parse(_environ("GET", "/some/package.zip")))

    assert (request.service, request.operation, request.access_key, request.caller) == (None, None, None, None)


def _moto_stand_in(seen: list[Any]) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(("moto", caller.current()))
        start_response("200 OK", [])
        return [b"moto answered"]

    return app


def _record(monkeypatch: pytest.MonkeyPatch, seen: list[Any], deny: str | None = None) -> None:
    """Each deciding step records that it saw the request; the one named ``deny`` refuses it."""
    for step in (network, authorization, faults):
        name = step.__name__.rsplit(".", 1)[-1]

        def decide(request: Request, name: str = name) -> Denial | None:
            seen.append((name, request.caller))
            return Denial(400, "AccessDeniedException", f"{name} says no") if name == deny else None

        monkeypatch.setattr(step, "decide", decide)


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer.update(status=status, headers=dict(headers))

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_the_steps_run_in_order_with_the_caller_then_moto_works_as_that_caller(monkeypatch):
    seen: list[Any] = []
    _record(monkeypatch, seen)
    app = pipeline.wrap(_moto_stand_in(seen))

    status, _, body = _call(app, _environ("POST", "/", service="dynamodb", HTTP_X_AMZ_TARGET="DynamoDB_20120810.Scan"))

    root = Caller.root(ACCOUNT)
    assert (network, authorization, faults) == pipeline.STEPS
    assert seen == [("network", root), ("authorization", root), ("faults", root), ("moto", root)]
    assert (status, body) == ("200 OK", b"moto answered")


def test_a_denial_ends_the_request_with_a_json_error_and_no_later_step_sees_it(monkeypatch):
    seen: list[Any] = []
    _record(monkeypatch, seen, deny="network")
    app = pipeline.wrap(_moto_stand_in(seen))

    status, headers, body = _call(app, _environ("POST", "/", service="sqs", HTTP_X_AMZ_TARGET="AmazonSQS.ListQueues"))

    assert [name for name, _ in seen] == ["network"]
    assert status == "400 Bad Request"
    assert headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert json.loads(body) == {"__type": "AccessDeniedException", "message": "network says no"}


@pytest.mark.parametrize(
    ("service", "operation", "call"),
    [
        ("dynamodb", "ListTables", lambda aws: aws("dynamodb").list_tables()),  # JSON
        ("sts", "GetCallerIdentity", lambda aws: aws("sts").get_caller_identity()),  # query
        ("ec2", "DescribeVpcs", lambda aws: aws("ec2").describe_vpcs()),  # EC2's own query shape
        ("s3", "ListBuckets", lambda aws: aws("s3").list_buckets()),  # REST-XML
        ("lambda", "ListFunctions", lambda aws: aws("lambda").list_functions()),  # REST-JSON
        ("monitoring", "ListMetrics", lambda aws: aws("cloudwatch").list_metrics()),  # RPC v2 CBOR
    ],
)
def test_a_denial_reaches_the_sdk_as_the_services_own_error(aws, monkeypatch, service, operation, call):
    """The SDK parses the denial as it parses the service's errors: code, message and status."""
    refusal = Denial(403, "AccessDenied", f"User: someone is not authorized to perform: {service}:{operation}")

    def decide(request: Request) -> Denial | None:
        return refusal if (request.service, request.operation) == (service, operation) else None

    monkeypatch.setattr(authorization, "decide", decide)

    with pytest.raises(ClientError) as refused:
        call(aws)

    error = refused.value.response
    assert (error["Error"]["Code"], error["Error"]["Message"]) == (refusal.code, refusal.message)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_database_connection_passes_network_and_faults_but_not_authorization(monkeypatch):
    seen: list[Any] = []
    _record(monkeypatch, seen, deny="faults")
    backup = caller.service_caller(f"arn:aws:iam::{ACCOUNT}:role/backup-role", "backup.amazonaws.com")

    with caller.acting_as(backup):
        denial = pipeline.admit_connection("orders", 5432)

    assert [name for name, _ in seen] == ["network", "faults"]
    assert {who for _, who in seen} == {backup}
    assert denial == Denial(400, "AccessDeniedException", "faults says no")
