"""The integration suite that runs against AWS by default stays within its real-time budget.

`make integration` (tests that prove behaviour with on-demand actions) must be runnable against a real
account in AWS_BUDGET_MINUTES; tests that need schedules to pass are marked `long` and run only by
`make integration-long`. Each module states its estimate; this sums them, so a slow test added to the
default selection fails here instead of making the suite one nobody runs.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import tests.integration as integration
from tests.integration.budget import AWS_BUDGET_MINUTES, aws_minutes


def _modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"{integration.__name__}.{info.name}")
        for info in pkgutil.iter_modules(integration.__path__)
        if info.name.startswith("test_")
    ]


def _long(module: ModuleType) -> bool:
    marks = getattr(module, "pytestmark", [])
    return any(mark.name == "long" for mark in (marks if isinstance(marks, list) else [marks]))


def test_every_integration_module_states_its_time_on_aws() -> None:
    assert _modules()
    for module in _modules():
        assert aws_minutes(module) > 0, module.__name__


def test_the_default_selection_fits_the_budget_and_the_long_ones_are_marked() -> None:
    short = {module.__name__: aws_minutes(module) for module in _modules() if not _long(module)}
    assert sum(short.values()) <= AWS_BUDGET_MINUTES, short
    long = {module.__name__ for module in _modules() if _long(module)}
    assert {
        "tests.integration.test_rpo",
        "tests.integration.test_restore_testing",
        "tests.integration.test_least_privilege",
    } <= long


def test_a_module_without_an_estimate_is_refused() -> None:
    module = ModuleType("tests.integration.test_without_estimate")
    with pytest.raises(pytest.UsageError, match="aws_minutes"):
        aws_minutes(module)
