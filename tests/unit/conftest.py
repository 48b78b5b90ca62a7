"""One synthesized TapStack per test session (the dev profile), shared by every layer's tests."""

from __future__ import annotations

import pytest

from lib.tap_stack import TapStack

from .templates import Templates, synthesized, templates_of


@pytest.fixture(scope="session")
def tap_stack() -> TapStack:
    """The default (dev) profile, which every layer's tests read."""
    return synthesized()


@pytest.fixture(scope="session")
def templates(tap_stack: TapStack) -> Templates:
    return templates_of(tap_stack)
