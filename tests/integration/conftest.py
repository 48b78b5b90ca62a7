"""Fixtures for tests against a *deployed* TapStack: its outputs and boto3 clients for its target.

The target is, in order: AWS_ENDPOINT_URL if set, else the endpoint `make deploy` recorded in
cfn-outputs/target.json (the local emulator), else real AWS with the environment's credentials.
Missing outputs fail the session with a sentence saying how to produce them; nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lib.config import REGION
from lib.deploy_target import OutputsError, read_flat_outputs, read_target

LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def outputs() -> dict[str, str]:
    try:
        return read_flat_outputs()
    except OutputsError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def client(outputs: dict[str, str]) -> Callable[[str], Any]:
    """client("rds") -> a boto3 client for the deployed target."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or read_target().get("endpoint_url")
    kwargs: dict[str, Any] = {"region_name": REGION, "config": Config(retries={"max_attempts": 3})}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs.update(LOCAL_CREDENTIALS)
    cache: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in cache:
            cache[service] = boto3.client(service, **kwargs)  # type: ignore[call-overload]
        return cache[service]

    return make


@pytest.fixture(scope="session")
def suffix(outputs: dict[str, str]) -> str:
    return outputs["EnvironmentSuffix"]
