"""Waiting for several recoveries at once, in one thread, saying what happens while it waits.

A recovery is a generator that yields a ``Wait`` whenever it needs something to finish (a restore
job, a cluster, an instance). ``drive`` polls every open wait in turn and resumes a recovery as soon
as its wait is done. So the stores restore in parallel, as in a real recovery, and each store's
times are taken when *its* steps finish - not when a slower store ahead of it happens to be done.
Everything runs in the main thread: Ctrl-C lands in one place, and the cleanup in the caller's
``finally`` runs with nothing else still going.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TextIO

from .errors import FAILURES, describe
from .report import format_duration

# A look at what is waited for: (its state, whether it is done). Raises StepFailed if it failed.
Poll = Callable[[], tuple[str, bool]]
# Progress is repeated at this interval while a state does not change, so a long wait shows it lives.
REMIND_SECONDS = 60.0


@dataclass(frozen=True)
class Wait:
    what: str
    poll: Poll


Steps = Generator[Wait, None, None]


class Progress:
    """One line per event: elapsed time, who, what."""

    def __init__(self, out: TextIO = sys.stdout, clock: Callable[[], float] = time.monotonic):
        self.out = out
        self.clock = clock
        self.started = clock()

    def say(self, who: str, text: str) -> None:
        elapsed = format_duration(self.clock() - self.started)
        print(f"{elapsed:>12}  {who:<9} {text}", file=self.out, flush=True)


def drive(
    recoveries: Mapping[str, Steps],
    *,
    progress: Progress,
    poll_seconds: float,
    give_up_after: float,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str | None]:
    """Run every recovery to its end; returns who -> None if it finished, else why it did not.

    A state change is printed when seen, an unchanged state again every ``REMIND_SECONDS``. The loop
    sleeps only after a round in which nothing moved, so steps that finish at once (the emulator)
    never wait. A recovery still waiting after ``give_up_after`` seconds is abandoned (its cleanup is
    the caller's).
    """
    outcome: dict[str, str | None] = {}
    waits: dict[str, Wait] = {}
    seen: dict[str, tuple[str, float]] = {}  # who -> (what and state last printed, when)
    started = progress.clock()

    def fail(who: str, error: BaseException) -> None:
        waits.pop(who, None)
        outcome[who] = describe(error)
        progress.say(who, f"FAILED: {outcome[who]}")

    def advance(who: str) -> None:
        try:
            waits[who] = next(recoveries[who])
        except StopIteration:
            waits.pop(who, None)
            outcome[who] = None
        except FAILURES as error:
            fail(who, error)

    for who in recoveries:
        advance(who)
    while waits:
        moved = False
        for who, wait in list(waits.items()):
            try:
                state, done = wait.poll()
            except FAILURES as error:
                fail(who, error)
                moved = True
                continue
            shown = f"{wait.what}: {state}"
            last = seen.get(who)
            if last is None or last[0] != shown:
                progress.say(who, shown)
                seen[who] = (shown, progress.clock())
                moved = True
            elif progress.clock() - last[1] >= REMIND_SECONDS:
                progress.say(who, f"{shown} (still)")
                seen[who] = (shown, progress.clock())
            if done:
                advance(who)
                moved = True
        if waits and progress.clock() - started > give_up_after:
            for who, wait in waits.items():
                recoveries[who].close()
                outcome[who] = f"gave up after {format_duration(give_up_after)} waiting for {wait.what}"
                progress.say(who, f"FAILED: {outcome[who]}")
            break
        if waits and not moved:
            sleep(poll_seconds)
    return outcome
