"""The answer of a CloudFormation custom resource: a JSON PUT to the request's pre-signed
``ResponseURL`` (AWS CloudFormation User Guide, "Custom resources"), sent on every path, exceptions
included, so a stack operation never waits for CloudFormation's timeout. The URL is
credential-bearing: it is never logged. urllib, not requests: the runtime has no requests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

from dr_common.observability import current_logger

SUCCESS, FAILED = "SUCCESS", "FAILED"
MAX_REASON_CHARS = 1500  # CloudFormation rejects responses over 4 KiB
PUT_ATTEMPTS = 3
PUT_TIMEOUT_SECONDS = 20


class LambdaContext(Protocol):
    """The parts of the Lambda context object a custom resource reads."""

    log_stream_name: str

    def get_remaining_time_in_millis(self) -> int: ...


def physical_id(event: Mapping[str, Any], context: LambdaContext, own: str | None) -> str:
    """On Delete the id CloudFormation sent (answering another is meaningless); on Create and Update
    ``own`` -- the id of what the resource stands for, so a new one means a replacement -- else the
    one sent, else the log stream (cfn-response's default)."""
    sent = event.get("PhysicalResourceId")
    if event.get("RequestType") == "Delete" and sent:
        return str(sent)
    return own or str(sent or context.log_stream_name)


def respond(
    event: Mapping[str, Any],
    context: LambdaContext,
    status: str,
    reason: str = "",
    *,
    own_id: str | None = None,
    data: Mapping[str, str] | None = None,
) -> None:
    """PUT the answer, retried; one that cannot be delivered is logged, not raised: there is nobody
    left to tell."""
    reason = reason or f"See CloudWatch log stream {context.log_stream_name}"
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 3] + "..."
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason,
            "PhysicalResourceId": physical_id(event, context, own_id),
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
            "NoEcho": False,
            "Data": dict(data or {}),
        }
    ).encode()
    for attempt in range(1, PUT_ATTEMPTS + 1):
        try:
            http_put(str(event["ResponseURL"]), body)
            return
        except (urllib.error.URLError, OSError) as error:
            reason_text = getattr(error, "reason", error)
            current_logger().warning(
                "Sending the response failed (attempt %d/%d): %s", attempt, PUT_ATTEMPTS, reason_text
            )
            if attempt < PUT_ATTEMPTS:
                sleep(attempt * 2)
    current_logger().error("Could not deliver the %s response to CloudFormation", status)


def http_put(url: str, body: bytes) -> None:
    """The one HTTP call: the pre-signed S3 URL expects an empty Content-Type (unit tests replace it)."""
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=PUT_TIMEOUT_SECONDS) as response:
        current_logger().info("CloudFormation response delivered (HTTP %s)", response.status)


def sleep(seconds: float) -> None:
    """Wait between attempts (unit tests replace it)."""
    time.sleep(seconds)
