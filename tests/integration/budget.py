"""How long the integration tests take against AWS, and the budget the default selection keeps to.

Every integration module says, with pytestmark = pytest.mark.aws_minutes(n), about how long its tests
take against a real account; the ones that need schedules to pass are also marked `long` and run only
by `make integration-long`. tests/unit/test_integration_budget.py keeps the rest within AWS_BUDGET_MINUTES.
"""

from __future__ import annotations

from typing import Any

import pytest

AWS_BUDGET_MINUTES = 45


def aws_minutes(module: Any) -> float:
    """The module's estimate of its real time against AWS; a module without one is an error."""
    marks = getattr(module, "pytestmark", [])
    for mark in marks if isinstance(marks, list) else [marks]:
        if mark.name == "aws_minutes":
            return float(mark.args[0])
    raise pytest.UsageError(
        f"{module.__name__} has no pytest.mark.aws_minutes(n): every integration module says how long it takes on AWS."
    )
