"""One patched emulator for the whole session (tests/emulator.py), and helpers to deploy small
templates to it. Tests share the server: every stack and named resource gets a unique suffix.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.emulator import backup_service_role, client_factory, running_emulator

from .helpers import CloudFormation


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    yield from running_emulator("local-aws-tests-")


@pytest.fixture(scope="session")
def aws(endpoint: str) -> Callable[[str], Any]:
    """``aws("s3")`` is a boto3 client for the test server."""
    return client_factory(endpoint)


@pytest.fixture(scope="session", autouse=True)
def backup_role(aws: Callable[[str], Any]) -> str:
    """``backup-role``, the role the tests give AWS Backup's jobs (IAM is enforced for them)."""
    return backup_service_role(aws, "backup-role")


@pytest.fixture
def suffix() -> str:
    """A short unique suffix for names that must not collide between tests."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def cfn(aws: Callable[[str], Any], suffix: str) -> Iterator[CloudFormation]:
    """Deploy helper; stacks a test leaves behind are deleted afterwards."""
    helper = CloudFormation(aws, suffix)
    yield helper
    for stack_id in helper.deployed:
        if helper.describe(stack_id).status != "DELETE_COMPLETE":
            helper.client.delete_stack(StackName=stack_id)
