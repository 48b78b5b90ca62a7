"""Waiting for several recoveries together, cleanup with retries, and signals - with fakes, no server."""

from __future__ import annotations

import functools
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tools.dr_drill.cleanup import Created, Ledger, interrupt_signals, shielded
from tools.dr_drill.errors import Busy, StepFailed
from tools.dr_drill.waiting import Progress, Steps, Wait, drive


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def recovery(*waits: tuple[str, list[tuple[str, bool]]]) -> Steps:
    for what, answers in waits:
        answer = iter(answers)
        yield Wait(what, lambda answer=answer: next(answer))


def test_recoveries_advance_together_and_sleep_only_when_nothing_moved():
    clock, out = FakeClock(), io.StringIO()
    slow = recovery(("restore job 1", [("RUNNING", False)] * 4 + [("COMPLETED", True)]))
    fast = recovery(("table t", [("ACTIVE", True)]), ("cluster c", [("creating", False), ("available", True)]))

    outcome = drive(
        {"aurora": slow, "dynamodb": fast},
        progress=Progress(out, clock),
        poll_seconds=15,
        give_up_after=600,
        sleep=clock.sleep,
    )

    assert outcome == {"aurora": None, "dynamodb": None}
    assert clock.sleeps == [15]  # once, in the one round in which no state changed
    lines = out.getvalue().splitlines()
    assert [line[14:] for line in lines] == [
        "aurora    restore job 1: RUNNING",
        "dynamodb  table t: ACTIVE",
        "dynamodb  cluster c: creating",
        "dynamodb  cluster c: available",
        "aurora    restore job 1: COMPLETED",
    ]


def test_a_failed_step_ends_only_its_own_recovery():
    def failing() -> tuple[str, bool]:
        raise StepFailed("restore job 2 FAILED: Table already exists")

    def doomed() -> Steps:
        yield Wait("restore job 2", failing)

    clock = FakeClock()
    outcome = drive(
        {"dynamodb": doomed(), "s3": recovery(("restore job 3", [("COMPLETED", True)]))},
        progress=Progress(io.StringIO(), clock),
        poll_seconds=1,
        give_up_after=60,
        sleep=clock.sleep,
    )

    assert outcome == {"dynamodb": "restore job 2 FAILED: Table already exists", "s3": None}


def test_a_wait_longer_than_the_limit_is_given_up():
    clock = FakeClock()
    forever = recovery(("restore job 4", [("RUNNING", False)] * 100))

    outcome = drive(
        {"s3": forever}, progress=Progress(io.StringIO(), clock), poll_seconds=60, give_up_after=300, sleep=clock.sleep
    )

    assert outcome == {"s3": "gave up after 5 min waiting for restore job 4"}
    assert clock.now == 360


def test_progress_repeats_an_unchanged_state_every_minute():
    clock, out = FakeClock(), io.StringIO()
    waiting = recovery(("instance i", [("creating", False)] * 10 + [("available", True)]))

    drive({"aurora": waiting}, progress=Progress(out, clock), poll_seconds=15, give_up_after=3600, sleep=clock.sleep)

    assert [line[14:].split(None, 1)[1] for line in out.getvalue().splitlines()] == [
        "instance i: creating",
        "instance i: creating (still)",
        "instance i: creating (still)",
        "instance i: available",
    ]


def test_cleanup_retries_busy_resources_newest_first_and_reports_what_it_could_not_delete():
    clock, calls = FakeClock(), []
    busy_answers = iter([Busy("restore job 9 is still RUNNING"), None])

    def cluster() -> None:
        calls.append("cluster")
        reason = next(busy_answers)
        if reason:
            raise reason

    def instance() -> None:
        calls.append("instance")

    def bucket() -> None:
        calls.append("bucket")
        raise StepFailed("AccessDenied")

    ledger = Ledger()
    ledger.add(Created("S3 bucket", "b", bucket, "delete b"))
    ledger.add(Created("Aurora cluster", "c", cluster, "delete c"))
    ledger.add(Created("Aurora instance", "c-writer", instance, "delete i"))

    result = ledger.clean_up(Progress(io.StringIO(), clock), poll_seconds=15, sleep=clock.sleep)

    assert calls == ["instance", "cluster", "bucket", "cluster"]
    assert result.deleted == ["Aurora instance c-writer", "Aurora cluster c"]
    assert [(item.name, item.reason, item.delete_with) for item in result.left] == [("b", "AccessDenied", "delete b")]
    assert clock.sleeps == [15]


def test_an_interrupted_cleanup_lists_everything_it_did_not_delete():
    def interrupted() -> None:
        raise KeyboardInterrupt

    ledger = Ledger()
    ledger.add(Created("DynamoDB table", "t", interrupted, "delete t"))
    ledger.add(Created("S3 bucket", "b", lambda: None, "delete b"))

    result = ledger.clean_up(Progress(io.StringIO()), poll_seconds=1, sleep=lambda seconds: None)

    assert result.deleted == ["S3 bucket b"]
    assert [(item.name, item.reason) for item in result.left] == [("t", "the cleanup was interrupted")]
    assert ledger.kept().kept[0].delete_with == "delete t"


def test_sigterm_becomes_keyboard_interrupt_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt), interrupt_signals():
        os.kill(os.getpid(), signal.SIGTERM)

    assert signal.getsignal(signal.SIGTERM) == before


def test_the_cleanup_ignores_the_first_interrupt_and_obeys_the_second():
    out = io.StringIO()
    before = signal.getsignal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt), shielded(Progress(out)):
        os.kill(os.getpid(), signal.SIGINT)
        assert "interrupt again to leave it behind" in out.getvalue()
        os.kill(os.getpid(), signal.SIGTERM)

    assert signal.getsignal(signal.SIGINT) == before


def test_sigint_interrupts_even_when_the_shell_started_the_drill_with_it_ignored():
    """A background job starts with SIGINT ignored; the drill installs its own handler."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt), interrupt_signals():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_these_tests_pass_when_the_run_starts_with_sigint_ignored():
    """``nohup make test &`` and some CI runners start pytest with SIGINT ignored; the signal tests
    above must not depend on the disposition they inherit."""
    ignore_sigint = functools.partial(signal.signal, signal.SIGINT, signal.SIG_IGN)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-k", "not sigint_ignored"],
        preexec_fn=ignore_sigint,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-2000:]
