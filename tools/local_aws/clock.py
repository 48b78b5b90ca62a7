"""The emulator's clock: real time plus an offset that only grows.

Tests never sleep for time; they advance this clock (``python -m tools.local_aws tick --minutes 60``
or ``clock.advance`` in-process). Advancing walks through every instant something falls due in the
window -- a scheduled EventBridge rule, a backup-plan rule, an alarm evaluation -- in time order,
sets the clock to that instant and runs it, so what runs sees the time it was due at. Things that
fall due are offered by *timer sources* that other modules register (``register``), or queued once
with ``call_at`` (a retry a minute after a failure); the clock knows nothing about what they do.

Every moto model reads the time through ``now_naive`` once the D1 fix is applied, so recovery
points, log events, alarm state changes and items created while the clock is ahead all carry
emulated time. ``wall_time_of`` maps an emulated instant back to the real instant it corresponds to,
for the few things that live in real time (PostgreSQL's WAL timestamps).
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

logger = logging.getLogger(__name__)

# No window may make more than this many things fall due: a guard against a typo such as
# ``tick --minutes 5000000`` firing a five-minute schedule a million times.
MAX_DUE_PER_ADVANCE = 5000


@dataclass(frozen=True, order=True)
class Due:
    """Something that falls due at ``when``; at the same instant, lower ``order`` runs first."""

    when: datetime
    order: int
    name: str = field(compare=False)
    action: Callable[[], None] = field(compare=False, repr=False)


# A timer source answers: what falls due after ``start`` and at or before ``end``?
TimerSource = Callable[[datetime, datetime], Iterable[Due]]


@dataclass(frozen=True)
class Fired:
    """One thing the clock ran while advancing, and how it ended."""

    when: datetime
    name: str
    error: str | None = None


class Clock:
    """Emulated time = wall time + offset; the offset only grows, so emulated time never goes back."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._offset = timedelta(0)
        # (wall instant of a jump, offset from then on), in wall-time order; starts with no offset.
        self._history: list[tuple[datetime, timedelta]] = [(datetime.min.replace(tzinfo=UTC), timedelta(0))]
        self._sources: list[TimerSource] = []
        # Context managers every due action runs inside (e.g. "finish asynchronous Lambda runs first").
        self._around: list[Callable[[], AbstractContextManager[Any]]] = []
        # Set by ``reschedule``: an action created something due later in the window being advanced.
        self._rescheduled = False
        # One-off actions queued by ``call_at``; their own lock, so any thread may queue one while the
        # clock advances.
        self._queued: list[Due] = []
        self._queue_lock = threading.Lock()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def now_naive(self) -> datetime:
        """``now()`` without tzinfo, as moto's ``utcnow`` returns it."""
        return self.now().replace(tzinfo=None)

    @property
    def offset(self) -> timedelta:
        return self._offset

    def register(self, source: TimerSource) -> None:
        """Add a timer source (idempotent: registering the same callable twice keeps one)."""
        with self._lock:
            if source not in self._sources:
                self._sources.append(source)

    def call_at(self, when: datetime, order: int, name: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, when the clock passes ``when``: also during the advance that queues it
        (a retry queued by an action), and at the start of the next advance if ``when`` is past."""
        with self._queue_lock:
            self._queued.append(Due(when, order, name, action))

    def run_actions_within(self, context: Callable[[], AbstractContextManager[Any]]) -> None:
        """Run every due action inside ``context()``: how an engine makes work an action starts in
        the background finish before the clock moves on (idempotent)."""
        with self._lock:
            if context not in self._around:
                self._around.append(context)

    def reschedule(self) -> None:
        """Say that something new falls due (a backup job's next step, an event to deliver): the
        advance in progress asks the timer sources again after the current instant, so a chain of
        steps (CREATED, PENDING, RUNNING, COMPLETED) plays out within one advance. For a source
        whose state changed; a one-off action is queued with ``call_at`` instead."""
        self._rescheduled = True

    def wall_time_of(self, emulated: datetime) -> datetime:
        """The real instant at which the clock read ``emulated``; an instant the clock jumped over
        maps to the moment of the jump."""
        with self._lock:
            # Emulated time is monotonic: the latest period that began at or before ``emulated`` holds it.
            for position in range(len(self._history) - 1, -1, -1):
                wall, offset = self._history[position]
                if emulated - offset >= wall:
                    candidate = emulated - offset
                    if position + 1 < len(self._history):
                        return min(candidate, self._history[position + 1][0])
                    return candidate
            return emulated

    def advance(self, delta: timedelta) -> list[Fired]:
        """Move the clock forward by ``delta``, running everything due on the way, in time order."""
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward: the number of minutes must not be negative")
        with self._lock:
            start = self.now()
            end = start + delta
            due, broken = self._due(start, end)
            if len(due) > MAX_DUE_PER_ADVANCE:
                raise ValueError(
                    f"advancing by {delta} would run {len(due)} scheduled actions "
                    f"(at most {MAX_DUE_PER_ADVANCE}); advance in smaller steps"
                )
            fired = broken
            self._rescheduled = False
            ran = 0
            pending: list[Due] = []  # one-offs queued with call_at, a heap
            self._take_queued(pending, end)
            while due or pending:
                # The earlier of the sources' next item and the next one-off runs first.
                item = heapq.heappop(pending) if pending and (not due or pending[0] < due[0]) else due.pop(0)
                self._move_to(item.when)
                fired.append(self._run(item))
                ran += 1
                self._take_queued(pending, end)
                if self._rescheduled and (not due or due[0].when > item.when):
                    # Ask the sources again for what falls due after this instant; what was due at it has run.
                    self._rescheduled = False
                    later, broken = self._due(item.when, end)
                    due = [entry for entry in later if entry.when > item.when]
                    fired.extend(broken)
                if ran + len(due) + len(pending) > MAX_DUE_PER_ADVANCE:
                    raise ValueError(
                        f"advancing by {delta} would run more than {MAX_DUE_PER_ADVANCE} scheduled actions; "
                        "advance in smaller steps"
                    )
            self._move_to(end)
            return fired

    def jump(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta`` running nothing on the way, as if the whole emulated
        world had been suspended: what was due in between is skipped, not caught up (EventBridge
        does not replay missed schedules either); actions queued with ``call_at`` stay queued and run
        at the next advance. For getting to a distant instant quickly, e.g. just before a daily
        schedule; ``advance`` from there runs what falls due."""
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward: the number of minutes must not be negative")
        with self._lock:
            self._move_to(self.now() + delta)

    def _take_queued(self, due: list[Due], end: datetime) -> None:
        """Move the queued actions due by ``end`` into the heap ``due``."""
        with self._queue_lock:
            ready = [item for item in self._queued if item.when <= end]
            self._queued = [item for item in self._queued if item.when > end]
        for item in ready:
            heapq.heappush(due, item)

    def _due(self, start: datetime, end: datetime) -> tuple[list[Due], list[Fired]]:
        """Everything due in the window, sorted; a source that fails is reported, not fatal."""
        due: list[Due] = []
        broken: list[Fired] = []
        for source in self._sources:
            try:
                due.extend(source(start, end))
            except Exception as error:
                logger.exception("timer source %s failed", source)
                broken.append(
                    Fired(start, getattr(source, "__name__", str(source)), f"{type(error).__name__}: {error}")
                )
        return sorted(due), broken

    def _run(self, item: Due) -> Fired:
        try:
            with ExitStack() as stack:
                for context in self._around:
                    stack.enter_context(context())
                item.action()
        except Exception as error:  # one failing action must not stop the clock or the others
            logger.exception("scheduled action %s failed", item.name)
            return Fired(item.when, item.name, f"{type(error).__name__}: {error}")
        return Fired(item.when, item.name)

    def _move_to(self, emulated: datetime) -> None:
        """Set the offset so that now() reads ``emulated``, unless the clock is already past it."""
        wall = datetime.now(UTC)
        offset = emulated - wall
        if offset > self._offset:
            self._offset = offset
            self._history.append((wall, offset))


CLOCK = Clock()


def midnights(start: datetime, end: datetime) -> Iterator[datetime]:
    """Every 00:00 UTC in ``(start, end]``: when a daily pass (retention, lifecycle) falls due."""
    moment = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while moment <= end:
        yield moment
        moment += timedelta(days=1)


def now() -> datetime:
    return CLOCK.now()
