"""The restore drill: every store (or one, or a function) restored into a temporary copy, validated,
timed against the RTO, its data loss measured against the RPO, and cleaned up.

Planning reads only (recovery points, restore metadata, the function export) and refuses with one
sentence before anything is created; a dry run stops there and prints the plan. A drill then starts
every restore at once, waits for all of them together (``waiting.drive``), and deletes what it
created in ``finally`` - after success, failure, Ctrl-C or SIGTERM alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from lib import output_keys as keys

from .cleanup import Ledger, shielded
from .errors import SetupError
from .functions import plan_function
from .recovery_points import newest_completed
from .report import Cleanup, Recovery, RestoreReport, Stopwatch, format_duration
from .stores import STORES, Request, Store
from .target import Target
from .waiting import Progress, Steps, drive


@dataclass(frozen=True)
class RestoreOptions:
    stores: tuple[str, ...]  # empty: every store (with --point-in-time: every store that has PITR)
    point_in_time: datetime | None = None
    function: str | None = None
    new_name: str | None = None
    keep: bool = False


class Drill(Protocol):
    """One recovery as the restore drill runs it: a store's copy, or a function's."""

    result: Recovery
    request: Request

    def next_steps(self) -> list[str]: ...

    def run(self) -> Steps: ...

    def newest_heartbeat(self) -> datetime | None: ...

    def copy_details(self) -> str: ...


@dataclass
class StoreDrill:
    """A store restored from a recovery point or to a point in time."""

    store: Store
    request: Request
    result: Recovery

    def next_steps(self) -> list[str]:
        return self.store.next_steps(self.result.copy)

    def run(self) -> Steps:
        return self.store.recover(self.request, self.result.copy)

    def newest_heartbeat(self) -> datetime | None:
        return self.store.newest_heartbeat(self.result.copy)

    def copy_details(self) -> str:
        return self.store.copy_details(self.result.copy)


def new_run_id() -> str:
    """Short, so ``drill-<store>-<suffix>-<run id>`` stays inside every service's name limits."""
    return uuid.uuid4().hex[:6]


def plan(target: Target, ledger: Ledger, options: RestoreOptions, run_id: str) -> list[Drill]:
    """What the drill will do; SetupError (nothing created) if it cannot be done."""
    if options.function:
        return [plan_function(target, ledger, options.function, options.new_name)]
    when = options.point_in_time
    if when is not None and when > target.now():
        raise SetupError(f"--point-in-time {when.isoformat()} is in the future of {target}.")
    chosen = options.stores or tuple(key for key, store in STORES.items() if when is None or store.has_point_in_time)
    vault = target.output(keys.BACKUP_VAULT_NAME)
    drills: list[Drill] = []
    for key in chosen:
        store = STORES[key](target, ledger)
        copy = store.copy_name(run_id)
        if when is not None:
            request = store.to_point_in_time(when, copy)
            result = Recovery(key, store.source, copy, "point in time", when.isoformat(), when)
            drills.append(StoreDrill(store, request, result))
            continue
        point = newest_completed(target.client("backup"), vault, store.resource_arn())
        if point is None:
            raise SetupError(
                f"The {store.kind} {store.source} has no completed recovery point in vault {vault}; "
                "run a backup first (`make tick MINUTES=60` on the emulator, an on-demand backup on AWS)."
            )
        result = Recovery(key, store.source, copy, "recovery point", point.arn, point.created)
        drills.append(StoreDrill(store, store.from_recovery_point(point, copy), result))
    return drills


def describe_plan(target: Target, drills: list[Drill], options: RestoreOptions) -> list[str]:
    """The dry run's account: each request exactly as it would be sent, and what follows it."""
    lines = [f"Dry run against {target}: nothing is created, changed or written."]
    for drill in drills:
        result = drill.result
        taken = f" (taken {result.origin_time.isoformat()})" if result.origin_time else ""
        lines += [
            f"{result.store}: restore {result.source} from {result.method} {result.origin}{taken} into {result.copy}",
            f"  1. {drill.request}",
        ]
        steps = drill.next_steps()
        if options.keep:
            steps = [step for step in steps if not step.startswith("delete")] + ["keep the copy (--keep)"]
        lines += [f"  {number}. {step}" for number, step in enumerate(steps, start=2)]
    objectives = target.objectives
    lines.append(
        f"Objectives: restore within the RTO ({objectives.rto_minutes} min), data loss within the RPO "
        f"({objectives.rpo_minutes} min) of the drill's start."
    )
    return lines


def execute(
    target: Target,
    drills: list[Drill],
    ledger: Ledger,
    options: RestoreOptions,
    run_id: str,
    *,
    progress: Progress,
    sleep: Callable[[float], None],
) -> RestoreReport:
    """Run the drills together, then clean up whatever happened (Ctrl-C and SIGTERM included)."""
    now = target.now()
    stopwatch = Stopwatch(progress.clock)
    report = RestoreReport(
        run_id, str(target), target.suffix, now, target.objectives, [drill.result for drill in drills], Cleanup()
    )
    try:
        outcome = drive(
            {drill.result.store: _steps(drill, stopwatch, now, progress) for drill in drills},
            progress=progress,
            poll_seconds=target.poll_seconds,
            give_up_after=target.objectives.rto_minutes * 60,
            sleep=sleep,
        )
        for drill in drills:
            drill.result.error = outcome[drill.result.store]
    except KeyboardInterrupt:
        report.interrupted = True
        progress.say("drill", "interrupted: deleting what it created")
    finally:
        with shielded(progress):
            if options.keep and not report.interrupted:
                report.cleanup = ledger.kept()
            else:
                report.cleanup = ledger.clean_up(progress, poll_seconds=target.poll_seconds, sleep=sleep)
    return report


def _steps(drill: Drill, stopwatch: Stopwatch, now: datetime, progress: Progress) -> Steps:
    """One recovery with its times: requested, restored (usable), validated."""
    result = drill.result
    result.requested_s = stopwatch()
    yield from drill.run()
    result.restored_s = stopwatch()
    heartbeat = drill.newest_heartbeat()
    result.validated_s = stopwatch()
    result.copy_details = drill.copy_details()
    if heartbeat is None:
        progress.say(result.store, f"validated: {result.copy} answers ({result.copy_details})")
        return
    result.newest_heartbeat = heartbeat
    result.data_loss_s = round((now - heartbeat).total_seconds(), 3)
    progress.say(
        result.store,
        f"validated: newest heartbeat {heartbeat.isoformat()}, {format_duration(result.data_loss_s)} before the drill",
    )


def summary(report: RestoreReport) -> list[str]:
    """What the terminal shows at the end: one line per store, then what is kept or left behind."""
    objectives = report.objectives
    lines = []
    for recovery in report.recoveries:
        verdict = "PASSED" if recovery.passed(objectives) else "FAILED"
        restore = format_duration(recovery.restore_s) if recovery.restore_s is not None else "not restored"
        line = f"{recovery.store:<9} {verdict}  restore {restore} (RTO {objectives.rto_minutes} min)"
        if recovery.measures_data_loss:
            loss = format_duration(recovery.data_loss_s) if recovery.data_loss_s is not None else "unknown"
            line += f", data loss {loss} (RPO {objectives.rpo_minutes} min)"
        lines.append(line + (f": {recovery.error}" if recovery.error else ""))
    for item in report.cleanup.kept:
        details = next((r.copy_details for r in report.recoveries if r.copy == item.name and r.copy_details), None)
        lines.append(f"kept      {item.kind} {item.name}" + (f" at {details}" if details else ""))
        lines.append(f"          delete it with: {item.delete_with}")
    for item in report.cleanup.left:
        lines.append(f"LEFT      {item.kind} {item.name}: {item.reason}; delete it with: {item.delete_with}")
    return lines
