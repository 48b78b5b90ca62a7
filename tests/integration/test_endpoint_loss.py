"""A function whose VPC endpoint is deleted fails on its next invocation with the SDK's connect error,
and its alarm fires.

It breaks the deployment for good: a recreated endpoint would not be the stack's (CloudFormation would
leave it behind, and the VPC with it, at destroy). So it is marked ``last`` and runs in `make
integration-last`, right before `make destroy`. It takes DynamoDB's gateway endpoint, which only the
canary and the restore validation use: the destroy still needs AWS Backup's interface endpoint (the
vault cleanup empties the vault) and the S3 gateway (custom resources answer CloudFormation through it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from lib import output_keys as keys

from .test_az_loss import alarm_state, quiet

pytestmark = [pytest.mark.long, pytest.mark.last, pytest.mark.aws_minutes(20)]


def vpc_endpoints(client: Callable[[str], Any], vpc_id: str, service: str) -> list[dict[str, Any]]:
    endpoints = client("ec2").describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    return [
        endpoint
        for endpoint in endpoints["VpcEndpoints"]
        if endpoint["ServiceName"] == service and endpoint["State"].lower() != "deleted"
    ]


@pytest.fixture
def dynamodb_endpoint(client, outputs) -> dict[str, Any]:
    """The gateway endpoint the canary reaches its DynamoDB table through."""
    (endpoint,) = vpc_endpoints(client, outputs[keys.VPC_ID], "com.amazonaws.us-east-1.dynamodb")
    return endpoint


def test_a_function_without_its_endpoint_fails_with_the_connect_error_and_pages(
    client, clock, suffix, dynamodb_endpoint
) -> None:
    canary, alarm = f"health-check-{suffix}", f"health-check-errors-{suffix}"
    quiet(client, clock, [alarm])
    client("ec2").delete_vpc_endpoints(VpcEndpointIds=[dynamodb_endpoint["VpcEndpointId"]])

    answer = client("lambda").invoke(FunctionName=canary)

    assert answer.get("FunctionError") == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "HealthCheckFailed", error
    assert "1 of 3 dependencies failed: DynamoDB: " in error["errorMessage"], error
    assert "ConnectTimeout" in error["errorMessage"], error
    clock.until(lambda: alarm_state(client, alarm) == "ALARM", minutes=15, what=f"{alarm} in ALARM")
