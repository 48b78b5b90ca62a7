"""A function whose interface endpoint is deleted fails on its next invocation with the SDK's connect
error, and its alarm fires.

It breaks the deployment for good: a recreated endpoint would not be the stack's (CloudFormation would
leave it behind, and the VPC with it, at destroy). So it is marked ``last`` and runs in `make
integration-last`, right before `make destroy`. It takes the Lambda API's endpoint, which only the
function export calls: the destroy still needs AWS Backup's (the vault cleanup empties the vault).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from lib import output_keys as keys

from .test_az_loss import alarm_state, quiet

pytestmark = [pytest.mark.long, pytest.mark.last, pytest.mark.aws_minutes(70)]  # an hourly schedule

SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def vpc_endpoints(client: Callable[[str], Any], vpc_id: str, service: str) -> list[dict[str, Any]]:
    endpoints = client("ec2").describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    return [
        endpoint
        for endpoint in endpoints["VpcEndpoints"]
        if endpoint["ServiceName"] == service and endpoint["State"].lower() != "deleted"
    ]


@pytest.fixture
def lambda_endpoint(client, outputs) -> dict[str, Any]:
    """The function export's interface endpoint for the Lambda API (GetFunction)."""
    (endpoint,) = vpc_endpoints(client, outputs[keys.VPC_ID], "com.amazonaws.us-east-1.lambda")
    return endpoint


def test_a_function_without_its_interface_endpoint_fails_with_the_connect_error_and_pages(
    client, clock, suffix, lambda_endpoint
) -> None:
    export, alarm = f"function-export-{suffix}", f"undelivered-alerts-{suffix}"
    quiet(client, clock, [alarm])
    client("ec2").delete_vpc_endpoints(VpcEndpointIds=[lambda_endpoint["VpcEndpointId"]])

    answer = client("lambda").invoke(
        FunctionName=export, Payload=json.dumps({**SCHEDULED_EVENT, "time": datetime.now(UTC).isoformat()})
    )

    assert answer.get("FunctionError") == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert "ConnectTimeout" in error["errorType"] + error["errorMessage"], error
    # Its hourly schedule's runs fail the same way, are retried twice and dead-lettered: that pages.
    clock.until(lambda: alarm_state(client, alarm) == "ALARM", minutes=90, what=f"{alarm} in ALARM")
