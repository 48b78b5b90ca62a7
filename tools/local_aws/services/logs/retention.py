"""CloudWatch Logs retention: the events of a log group with a retention setting are deleted once
they are older than it, on the emulator's clock.

The PutRetentionPolicy API reference says CloudWatch Logs does not delete expired events at once but
"typically" within 72 hours after they reach the retention setting. The emulator deletes them at the
first midnight (UTC) after they expire, inside that window; an event's age is that of its timestamp.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ... import world
from ...clock import CLOCK, Due, midnights

RETENTION_ORDER = 5  # early in its minute, like the metrics' daily retention pass


def due_retention(start: datetime, end: datetime) -> Iterable[Due]:
    """Timer source: log retention, applied at every midnight (UTC) in ``(start, end]``."""
    for moment in midnights(start, end):
        yield Due(moment, RETENTION_ORDER, "apply CloudWatch Logs retention", expire_events)


def expire_events() -> None:
    """Delete, in every log group that has a retention setting, the events older than it."""
    now = CLOCK.now()
    for _account_id, _region, group in world.log_groups():
        if group.retention_in_days:
            oldest_kept = now - timedelta(days=int(group.retention_in_days))
            world.drop_log_events(group, int(oldest_kept.timestamp() * 1000))
