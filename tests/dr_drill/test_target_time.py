"""A drill waits and times in the target's time: the emulator's clock locally, real time on AWS."""

from __future__ import annotations

import pytest

from tools.dr_drill import target as target_module
from tools.dr_drill.target import AWS, LOCAL, Target
from tools.local_aws.clock import CLOCK


def test_on_the_emulator_waiting_advances_its_clock_and_durations_are_emulated(endpoint, monkeypatch):
    """The emulator finishes nothing while a client sleeps: its restore jobs run on its clock. So a
    local drill ticks that clock instead of sleeping, and measures in it."""
    local = Target(LOCAL, endpoint, {})
    monkeypatch.setattr(target_module.time, "sleep", lambda seconds: pytest.fail("a local drill must not sleep"))
    before, emulated = local.seconds(), CLOCK.now()

    local.wait(120)

    assert 120 <= local.seconds() - before < 130
    assert 120 <= (CLOCK.now() - emulated).total_seconds() < 130


def test_against_aws_waiting_sleeps_and_durations_are_the_machines_monotonic_time(monkeypatch):
    slept: list[float] = []
    readings = iter([100.0, 160.5])
    monkeypatch.setattr(target_module.time, "sleep", slept.append)
    monkeypatch.setattr(target_module.time, "monotonic", lambda: next(readings))
    aws = Target(AWS, None, {})

    aws.wait(15)

    assert slept == [15]
    assert aws.seconds() == 100.0 and aws.seconds() == 160.5
    assert aws.poll_seconds == 15.0
