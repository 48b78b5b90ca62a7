"""A function whose interface endpoint is deleted fails on its next invocation with the SDK's connect
error, and its alarm fires.

It breaks the deployment for good: a recreated endpoint would not be the stack's (CloudFormation would
leave it behind, and the VPC with it, at destroy). So it is marked ``last`` and runs only in `make
integration-last`, right before `make destroy` (not yet part of `make test`: see the Makefile).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from lib import output_keys as keys

from .test_az_loss import alarm_state, quiet

pytestmark = [pytest.mark.long, pytest.mark.last, pytest.mark.aws_minutes(20)]

SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def vpc_endpoints(client: Callable[[str], Any], vpc_id: str, service: str) -> list[dict[str, Any]]:
    endpoints = client("ec2").describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    return [
        endpoint
        for endpoint in endpoints["VpcEndpoints"]
        if endpoint["ServiceName"] == service and endpoint["State"].lower() != "deleted"
    ]


@pytest.fixture
def backup_endpoint(client, outputs) -> dict[str, Any]:
    """The backup monitor's interface endpoint for AWS Backup."""
    (endpoint,) = vpc_endpoints(client, outputs[keys.VPC_ID], "com.amazonaws.us-east-1.backup")
    return endpoint


def test_a_function_without_its_interface_endpoint_fails_with_the_connect_error_and_pages(
    client, clock, suffix, backup_endpoint
) -> None:
    monitor, alarm = f"backup-monitor-{suffix}", f"undelivered-alerts-{suffix}"
    quiet(client, clock, [alarm])
    client("ec2").delete_vpc_endpoints(VpcEndpointIds=[backup_endpoint["VpcEndpointId"]])

    answer = client("lambda").invoke(
        FunctionName=monitor, Payload=json.dumps({**SCHEDULED_EVENT, "time": datetime.now(UTC).isoformat()})
    )

    assert answer.get("FunctionError") == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert "ConnectTimeout" in error["errorType"] + error["errorMessage"], error
    # Its schedule's invocations fail the same way, are retried twice and dead-lettered: that pages.
    clock.until(lambda: alarm_state(client, alarm) == "ALARM", minutes=15, what=f"{alarm} in ALARM")
