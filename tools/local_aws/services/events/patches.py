"""EventBridge: rules deliver to every target type the app uses, scheduled rules fire on the clock."""

from __future__ import annotations

from typing import Any, cast

from moto.events.models import Rule

from ...clock import CLOCK
from ...patches._support import fix, install
from . import delivery as events


@fix("D22")
def deliver_to_all_targets() -> None:
    """moto delivers matched events to SQS, log groups and event buses only, and raises
    NotImplementedError for Lambda and SNS targets: backup alerts and the canary schedule went
    nowhere.

    Matched events now reach Lambda, SNS, SQS and log-group targets with their input settings and
    EventBridge's event shape (an ISO 8601 ``time``, where moto kept epoch seconds); failed
    deliveries are retried on the clock and dead-lettered (``delivery``). A
    scheduled rule, which moto let match every event (its pattern is empty), now matches none.
    """

    def send_to_targets(rule: Rule, event: dict[str, Any], transform_input: bool = True) -> None:
        # A rule without a pattern (a scheduled rule) matches no event; moto's empty pattern matches all.
        if rule.event_pattern.get_pattern() and rule.event_pattern.matches_event(cast(Any, event)):
            events.deliver(rule, event)

    install(Rule, "send_to_targets", send_to_targets)


@fix("D23")
def fire_scheduled_rules() -> None:
    """moto stores ``ScheduleExpression`` but never fires it. Scheduled rules now fire at each
    occurrence as the emulator's clock advances (``tick``)."""
    CLOCK.register(events.due_schedules)
