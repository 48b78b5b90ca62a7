"""A function calls AWS as its execution role, in a session named after the function: what the
least-privilege and network checks will judge a function by, on AWS and on the local target alike."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError

from lib import output_keys as keys
from lib.build.lambda_bundle import RUNTIME_PYTHON_VERSION

# Against AWS: one temporary function (outside the VPC: no ENI to wait for), created, invoked, deleted.
pytestmark = pytest.mark.aws_minutes(1)

WHO_AM_I = """
import boto3


def handler(event, context):
    return boto3.client("sts").get_caller_identity()["Arn"]
"""


def _package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", WHO_AM_I)
    return buffer.getvalue()


def test_get_caller_identity_inside_a_function_is_its_role_session_named_after_the_function(client, outputs, suffix):
    role_arn = outputs[keys.FUNCTION_ROLE_ARN]
    account = role_arn.split(":")[4]
    name = f"caller-identity-{suffix}-{uuid.uuid4().hex[:6]}"
    functions = client("lambda")
    functions.create_function(
        FunctionName=name,
        Runtime=f"python{RUNTIME_PYTHON_VERSION}",
        Role=role_arn,
        Handler="index.handler",
        Code={"ZipFile": _package()},
        Timeout=30,
    )
    try:
        functions.get_waiter("function_active_v2").wait(FunctionName=name)
        response = functions.invoke(FunctionName=name)
        arn = json.loads(response["Payload"].read())

        assert "FunctionError" not in response, arn
        assert arn == f"arn:aws:sts::{account}:assumed-role/{role_arn.split('/')[-1]}/{name}"
    finally:
        functions.delete_function(FunctionName=name)
        with contextlib.suppress(ClientError):  # Lambda creates the group if the role may write logs
            client("logs").delete_log_group(logGroupName=f"/aws/lambda/{name}")
