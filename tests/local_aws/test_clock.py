"""The emulator's clock, schedule expressions and the control API."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lib.schedules import ScheduleError, longest_gap, occurrences
from tools.local_aws import control
from tools.local_aws.clock import Clock, Due

T0 = datetime(2026, 11, 28, 10, 2, 30, tzinfo=UTC)


def test_rate_counts_periods_from_the_anchor() -> None:
    fired = occurrences("rate(5 minutes)", T0, T0 + timedelta(minutes=12), anchor=T0 - timedelta(minutes=1))
    assert fired == [T0 + timedelta(minutes=4), T0 + timedelta(minutes=9)]


def test_cron_fires_at_matching_minutes_only() -> None:
    hourly = occurrences("cron(0 * * * ? *)", T0, T0 + timedelta(hours=2), anchor=T0)
    assert hourly == [datetime(2026, 11, 28, 11, 0, tzinfo=UTC), datetime(2026, 11, 28, 12, 0, tzinfo=UTC)]
    weekdays = occurrences("cron(30 2 ? * MON-FRI *)", T0, T0 + timedelta(days=7), anchor=T0)
    assert [moment.strftime("%a") for moment in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri"]


@pytest.mark.parametrize("expression", ["rate(5 fortnights)", "cron(0 * * * *)", "cron(0 12 L * ? *)", "at(now)"])
def test_unreadable_schedules_are_refused_by_name(expression: str) -> None:
    with pytest.raises(ScheduleError, match="schedule"):
        occurrences(expression, T0, T0 + timedelta(hours=1), anchor=T0)


def test_advance_runs_what_falls_due_in_time_order_at_its_time() -> None:
    clock = Clock()
    seen: list[tuple[str, datetime]] = []

    def source(start: datetime, end: datetime) -> list[Due]:
        middle = start + (end - start) / 2
        return [
            Due(end, 2, "late", lambda: seen.append(("late", clock.now()))),
            Due(middle, 1, "middle", lambda: seen.append(("middle", clock.now()))),
            Due(end, 1, "failing", lambda: 1 / 0),
        ]

    clock.register(source)
    before = clock.now()
    fired = clock.advance(timedelta(hours=2))
    assert [name for name, _ in seen] == ["middle", "late"]
    assert seen[0][1] - before >= timedelta(hours=1)
    assert [item.name for item in fired] == ["middle", "failing", "late"]
    assert fired[1].error and "ZeroDivisionError" in fired[1].error
    assert clock.now() - before >= timedelta(hours=2)


def test_call_at_runs_once_when_passed_also_when_queued_during_the_same_advance() -> None:
    """A retry queued by an action that runs during an advance falls due in that same advance."""
    clock = Clock()
    start = clock.now()
    seen: list[tuple[str, timedelta]] = []

    def retry() -> None:
        seen.append(("retry", clock.now() - start))

    def first() -> None:
        seen.append(("first", clock.now() - start))
        clock.call_at(clock.now() + timedelta(minutes=1), 1, "retry", retry)

    clock.call_at(start + timedelta(minutes=2), 1, "first", first)
    clock.call_at(start + timedelta(minutes=30), 1, "later", lambda: seen.append(("later", clock.now() - start)))
    fired = clock.advance(timedelta(minutes=10))
    assert [item.name for item in fired] == ["first", "retry"]
    assert timedelta(minutes=3) <= seen[1][1] < timedelta(minutes=4)
    clock.jump(timedelta(hours=1))  # a queued action is not skipped by a jump: it runs at the next advance
    assert [item.name for item in clock.advance(timedelta(0))] == ["later"]
    assert clock.advance(timedelta(hours=1)) == []


def test_clock_never_goes_back_and_maps_to_wall_time() -> None:
    clock = Clock()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(minutes=-1))
    before_jump = clock.now()
    clock.advance(timedelta(hours=1))
    after_jump = clock.now()
    assert abs(clock.wall_time_of(after_jump) - datetime.now(UTC)) < timedelta(seconds=5)
    assert abs(clock.wall_time_of(before_jump) - before_jump) < timedelta(seconds=1)
    # An instant inside the jump maps to the moment of the jump.
    assert clock.wall_time_of(before_jump + timedelta(minutes=30)) <= datetime.now(UTC)


def _request(app: control.Wsgi, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[str, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
    }
    status: list[str] = []
    payload = b"".join(app(environ, lambda s, headers: status.append(s)))
    return (status or ["passed on"])[0], json.loads(payload) if payload.startswith(b"{") else payload


def test_control_api_reads_and_advances_the_clock_and_passes_other_paths_on() -> None:
    app = control.wrap(lambda environ, start_response: [b"moto"])
    status, before = _request(app, "GET", "/_local_aws/clock")
    assert status == "200 OK"
    status, after = _request(app, "POST", "/_local_aws/tick", {"minutes": 3})
    assert status == "200 OK"
    advanced = datetime.fromisoformat(after["now"]) - datetime.fromisoformat(before["now"])
    assert advanced >= timedelta(minutes=3)
    assert isinstance(after["fired"], list)
    assert _request(app, "POST", "/_local_aws/tick", {"minutes": "soon"})[0] == "400 Bad Request"
    assert _request(app, "POST", "/_local_aws/tick", {"hours": 1})[1]["message"].startswith("the body must be")
    assert _request(app, "GET", "/_local_aws/nothing")[0] == "404 Not Found"
    assert _request(app, "GET", "/moto-api/")[1] == b"moto"


def test_longest_gap_between_runs() -> None:
    assert longest_gap("cron(0 * * * ? *)", T0) == timedelta(hours=1)
    assert longest_gap("cron(0 2,5 * * ? *)", T0) == timedelta(hours=21)
    assert longest_gap("rate(15 minutes)", T0) == timedelta(minutes=15)
    assert longest_gap("cron(0 0 1 1 ? 2030)", T0) == timedelta(days=8)


def test_jump_moves_the_clock_and_runs_nothing_on_the_way() -> None:
    clock = Clock()
    ran: list[str] = []
    clock.register(lambda start, end: [Due(end, 1, "due", lambda: ran.append("ran"))])
    before = clock.now()
    clock.jump(timedelta(hours=5))
    assert clock.now() - before >= timedelta(hours=5)
    assert ran == []
    with pytest.raises(ValueError, match="forward"):
        clock.jump(timedelta(minutes=-1))


def test_control_api_jumps() -> None:
    app = control.wrap(lambda environ, start_response: [b"moto"])
    _, before = _request(app, "GET", "/_local_aws/clock")
    status, after = _request(app, "POST", "/_local_aws/jump", {"minutes": 90})
    assert status == "200 OK" and after["fired"] == []
    assert datetime.fromisoformat(after["now"]) - datetime.fromisoformat(before["now"]) >= timedelta(minutes=90)


def test_a_step_that_schedules_a_follow_up_in_the_window_sees_it_run_in_the_same_advance() -> None:
    """A backup job's steps (CREATED, PENDING, RUNNING, COMPLETED) each schedule the next: one advance
    over the whole job must run them all, each at its own instant."""
    clock = Clock()
    start = clock.now()
    pending = [start + timedelta(minutes=1)]
    ran: list[datetime] = []

    def step() -> None:
        ran.append(clock.now())
        pending.pop(0)
        if len(ran) < 3:
            pending.append(clock.now() + timedelta(minutes=2))
            clock.reschedule()

    def source(begin: datetime, end: datetime) -> list[Due]:
        return [Due(when, 0, "step", step) for when in pending if begin < when <= end]

    clock.register(source)
    clock.advance(timedelta(minutes=10))

    assert [round((moment - start).total_seconds() / 60) for moment in ran] == [1, 3, 5]
