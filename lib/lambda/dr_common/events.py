"""Reading EventBridge events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def event_time(value: Any) -> datetime | None:
    """An event date (``2020-07-15T21:40:31.207Z``) or an SDK datetime, in UTC; None if absent or
    unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
