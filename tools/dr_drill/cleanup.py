"""Nothing a drill creates outlives it: a ledger written before each resource exists, emptied in
``finally``, and signals that end a drill through that ``finally``.

Each resource is registered *before* the request that creates it, so a drill interrupted while the
request is in flight still knows the name. Deleting something that does not exist counts as done;
something that cannot be deleted yet (a restore job still creating it, a cluster whose instance is
going away) is tried again after the poll interval. What cannot be deleted at all is reported with
the command that deletes it by hand - never silently left.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from .errors import FAILURES, Busy, describe
from .report import Cleanup, Leftover, format_duration
from .waiting import Progress

# How long the cleanup keeps retrying resources that are busy (an Aurora restore on AWS can take
# that long to finish before its copy can be deleted).
CLEANUP_GIVE_UP_SECONDS = 60 * 60


@dataclass(frozen=True)
class Created:
    """A resource the drill creates; ``delete`` returns once it is gone (or never existed) and
    raises Busy while it cannot be deleted yet."""

    kind: str
    name: str
    delete: Callable[[], None]
    delete_with: str  # the command that deletes it by hand

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class Ledger:
    """What the drill created, in creation order."""

    def __init__(self) -> None:
        self.created: list[Created] = []

    def add(self, created: Created) -> None:
        self.created.append(created)

    def kept(self) -> Cleanup:
        """The cleanup of ``--keep``: everything stays, with how to delete it later."""
        return Cleanup(kept=[Leftover(item.kind, item.name, item.delete_with) for item in self.created])

    def clean_up(
        self,
        progress: Progress,
        *,
        poll_seconds: float,
        give_up_after: float = CLEANUP_GIVE_UP_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Cleanup:
        """Delete everything, newest first (an instance before its cluster)."""
        result = Cleanup()
        pending = list(reversed(self.created))
        started = progress.clock()
        try:
            while pending:
                busy: list[Created] = []
                for item in pending:
                    try:
                        item.delete()
                    except Busy as waiting_for:
                        progress.say("cleanup", f"{item}: waiting, {waiting_for}")
                        busy.append(item)
                    except FAILURES as error:
                        result.left.append(Leftover(item.kind, item.name, item.delete_with, describe(error)))
                        progress.say("cleanup", f"{item}: NOT deleted: {describe(error)}")
                    else:
                        result.deleted.append(str(item))
                        progress.say("cleanup", f"{item}: deleted")
                pending = busy
                if pending and progress.clock() - started > give_up_after:
                    busy_for = f"still busy after {format_duration(give_up_after)}"
                    result.left += [Leftover(item.kind, item.name, item.delete_with, busy_for) for item in pending]
                    pending = []
                elif pending:
                    sleep(poll_seconds)
        except KeyboardInterrupt:
            gone = set(result.deleted) | {f"{item.kind} {item.name}" for item in result.left}
            result.left += [
                Leftover(item.kind, item.name, item.delete_with, "the cleanup was interrupted")
                for item in self.created
                if str(item) not in gone
            ]
        return result


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interrupt_signals() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM (``kill``, a cancelled CI job) end the drill through ``finally``,
    so the cleanup runs. SIGINT is installed explicitly: a shell starts a background job with SIGINT
    ignored, and Python then never raises KeyboardInterrupt. Signal handlers can only be set in the
    main thread; elsewhere this does nothing."""
    if not _in_main_thread():
        yield
        return
    previous = {number: signal.signal(number, _interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def shielded(progress: Progress) -> Iterator[None]:
    """During the cleanup the first Ctrl-C or SIGTERM is reported, not obeyed - a cleanup cut short
    leaves resources that cost money; the second one stops it (the report lists what is left)."""
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def once_then_interrupt(signum: int, frame: FrameType | None) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        progress.say("cleanup", "still deleting what the drill created; interrupt again to leave it behind")

    previous = {number: signal.signal(number, once_then_interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
