"""Helpers to deploy small templates to the session's emulator (``endpoint`` and ``aws`` in
tests/conftest.py). Tests share the server: every stack and named resource gets a unique suffix.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .helpers import CloudFormation


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
