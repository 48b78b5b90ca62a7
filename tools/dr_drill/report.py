"""What a drill measured, judged against the recovery objectives, and where the reports go.

Durations are taken in the target's time (``Target.seconds``): on AWS the monotonic clock of the
machine running the drill (a wall-clock jump cannot bend them), on the emulator its clock, so a
restore's time is the emulated restore's; the data-loss window is the target's "now" at the start of the drill minus the
newest heartbeat found in the copy. Each command writes ``<report dir>/<UTC time>-<command>.json``
and ``.html`` beside it, and copies both to ``latest-<command>.*``, which ``status`` reads back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lib.config import RecoveryObjectives

DEFAULT_REPORT_DIR = Path("drill-reports")
PASSED, FAILED, INTERRUPTED = "passed", "failed", "interrupted"


def format_duration(seconds: float) -> str:
    """``1.4 s``, ``3 min 05 s``, ``2 h 10 min``: what a person reads at a glance."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min" + (f" {whole % 60:02d} s" if whole % 60 else "")
    return f"{whole // 3600} h" + (f" {whole % 3600 // 60:02d} min" if whole % 3600 // 60 else "")


class Stopwatch:
    """Seconds since the drill started."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._start = clock()

    def __call__(self) -> float:
        return round(self._clock() - self._start, 3)


@dataclass
class Recovery:
    """One store (or function) restored into a copy: where from, when each step ended, what it held."""

    store: str
    source: str
    copy: str
    method: str  # "recovery point", "point in time" or "function export"
    origin: str  # the recovery point's ARN, the point in time, or the export's location
    origin_time: datetime | None = None  # when the recovery point or export was taken
    measures_data_loss: bool = True  # a function's code has no heartbeat, so no data-loss window
    requested_s: float | None = None
    restored_s: float | None = None
    validated_s: float | None = None
    newest_heartbeat: datetime | None = None
    data_loss_s: float | None = None
    error: str | None = None
    copy_details: str | None = None  # where the copy answers (endpoint, ARN)

    @property
    def restore_s(self) -> float | None:
        """From the restore request to a validated copy: what the RTO bounds."""
        if self.requested_s is None or self.validated_s is None:
            return None
        return round(self.validated_s - self.requested_s, 3)

    def rto_met(self, objectives: RecoveryObjectives) -> bool:
        return self.restore_s is not None and self.restore_s <= objectives.rto_minutes * 60

    def rpo_met(self, objectives: RecoveryObjectives) -> bool:
        if not self.measures_data_loss:  # a function's code: nothing written since its export can be lost
            return True
        return self.data_loss_s is not None and self.data_loss_s <= objectives.rpo_minutes * 60

    def passed(self, objectives: RecoveryObjectives) -> bool:
        return self.error is None and self.rto_met(objectives) and self.rpo_met(objectives)

    def to_json(self, objectives: RecoveryObjectives) -> dict[str, Any]:
        return {
            "store": self.store,
            "source": self.source,
            "copy": self.copy,
            "method": self.method,
            "origin": self.origin,
            "origin_time": _iso(self.origin_time),
            "requested_s": self.requested_s,
            "restored_s": self.restored_s,
            "validated_s": self.validated_s,
            "restore_s": self.restore_s,
            "rto_met": self.rto_met(objectives),
            "newest_heartbeat": _iso(self.newest_heartbeat),
            "data_loss_s": self.data_loss_s,
            "rpo_met": self.rpo_met(objectives) if self.measures_data_loss else None,
            "passed": self.passed(objectives),
            "error": self.error,
            "copy_details": self.copy_details,
        }


@dataclass(frozen=True)
class Leftover:
    """A created resource that still exists after the drill: kept on purpose or not deletable."""

    kind: str
    name: str
    delete_with: str  # the command that deletes it by hand
    reason: str | None = None  # why the cleanup could not delete it (None: kept with --keep)


@dataclass
class Cleanup:
    deleted: list[str] = field(default_factory=list)
    kept: list[Leftover] = field(default_factory=list)
    left: list[Leftover] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "kept": [vars(item) for item in self.kept],
            "left_behind": [vars(item) for item in self.left],
        }


@dataclass
class RestoreReport:
    run_id: str
    target: str
    suffix: str
    now: datetime  # the target's time when the drill started: what the data-loss window is measured to
    objectives: RecoveryObjectives
    recoveries: list[Recovery]
    cleanup: Cleanup
    interrupted: bool = False
    command = "restore"

    @property
    def outcome(self) -> str:
        if self.interrupted:
            return INTERRUPTED
        everything_passed = all(recovery.passed(self.objectives) for recovery in self.recoveries)
        return PASSED if everything_passed and not self.cleanup.left else FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            **_header(self.command, self.run_id, self.target, self.suffix, self.now, self.objectives),
            "outcome": self.outcome,
            "recoveries": [recovery.to_json(self.objectives) for recovery in self.recoveries],
            "cleanup": self.cleanup.to_json(),
        }


@dataclass(frozen=True)
class Probe:
    """One connection attempt to the writer endpoint during a failover."""

    at_s: float
    ok: bool
    error: str | None = None


@dataclass
class FailoverReport:
    run_id: str
    target: str
    suffix: str
    now: datetime
    objectives: RecoveryObjectives
    cluster: str
    endpoint: str
    old_writer: str
    target_instance: str
    new_writer: str | None = None
    returned_s: float | None = None  # when FailoverDBCluster answered (requested at 0)
    switched_s: float | None = None  # when the cluster first reported the new writer
    probes: list[Probe] = field(default_factory=list)
    error: str | None = None
    interrupted: bool = False
    command = "failover"

    @property
    def outage(self) -> tuple[float, float] | None:
        """(first refused probe, first answer after the last refused one), or None if none was refused.

        With no refused probe the outage, if any, was shorter than the probing interval.
        """
        failed = [probe for probe in self.probes if not probe.ok]
        if not failed:
            return None
        recovered = next((p.at_s for p in self.probes if p.ok and p.at_s > failed[-1].at_s), None)
        return (failed[0].at_s, recovered if recovered is not None else failed[-1].at_s)

    @property
    def unavailable_s(self) -> float:
        outage = self.outage
        return round(outage[1] - outage[0], 3) if outage else 0.0

    @property
    def outcome(self) -> str:
        if self.interrupted:
            return INTERRUPTED
        answered_again = bool(self.probes) and self.probes[-1].ok
        within = self.unavailable_s <= self.objectives.rto_minutes * 60
        return PASSED if self.error is None and self.new_writer and answered_again and within else FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            **_header(self.command, self.run_id, self.target, self.suffix, self.now, self.objectives),
            "outcome": self.outcome,
            "cluster": self.cluster,
            "endpoint": self.endpoint,
            "old_writer": self.old_writer,
            "target_instance": self.target_instance,
            "new_writer": self.new_writer,
            "returned_s": self.returned_s,
            "switched_s": self.switched_s,
            "unavailable_s": self.unavailable_s,
            "probes": len(self.probes),
            "refused_probes": sum(not probe.ok for probe in self.probes),
            "probe_log": [vars(probe) for probe in self.probes],
            "error": self.error,
        }


@dataclass(frozen=True)
class ResourceStatus:
    """One protected resource: its newest completed recovery point and the last drill of its store."""

    resource_arn: str
    store: str | None
    newest_point: datetime | None
    age_s: float | None
    last_drill: dict[str, Any] | None

    def within_rpo(self, objectives: RecoveryObjectives) -> bool:
        return self.age_s is not None and self.age_s <= objectives.rpo_minutes * 60


@dataclass
class StatusReport:
    run_id: str
    target: str
    suffix: str
    now: datetime
    objectives: RecoveryObjectives
    vault: str
    resources: list[ResourceStatus]
    last_drill_at: str | None  # when the newest restore drill started, if there was one
    command = "status"

    @property
    def outcome(self) -> str:
        return PASSED if all(resource.within_rpo(self.objectives) for resource in self.resources) else FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            **_header(self.command, self.run_id, self.target, self.suffix, self.now, self.objectives),
            "outcome": self.outcome,
            "vault": self.vault,
            "last_drill_at": self.last_drill_at,
            "resources": [
                {
                    "resource_arn": resource.resource_arn,
                    "store": resource.store,
                    "newest_recovery_point": _iso(resource.newest_point),
                    "age_s": resource.age_s,
                    "within_rpo": resource.within_rpo(self.objectives),
                    "last_drill": resource.last_drill,
                }
                for resource in self.resources
            ],
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _header(
    command: str, run_id: str, target: str, suffix: str, now: datetime, objectives: RecoveryObjectives
) -> dict[str, Any]:
    return {
        "command": command,
        "run_id": run_id,
        "target": target,
        "environment_suffix": suffix,
        "now": now.isoformat(),
        "objectives": {"rpo_minutes": objectives.rpo_minutes, "rto_minutes": objectives.rto_minutes},
    }


def write(report_dir: Path, command: str, document: dict[str, Any], html: str, stamp: datetime) -> Path:
    """Write the JSON report and its HTML picture, and refresh ``latest-<command>.*``; returns the JSON path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    name = stamp.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"
    text = json.dumps(document, indent=2) + "\n"
    path = report_dir / f"{name}-{command}.json"
    for json_path in (path, report_dir / f"latest-{command}.json"):
        json_path.write_text(text)
        json_path.with_suffix(".html").write_text(html)
    return path


def read_latest(report_dir: Path, command: str) -> dict[str, Any] | None:
    """The newest report of ``command``, or None if there is none (or it is unreadable)."""
    path = report_dir / f"latest-{command}.json"
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


@dataclass(frozen=True)
class Invocation:
    """One invocation of the canary during the AZ-loss drill: when, where it ran, what it reported."""

    at_s: float
    phase: str  # BEFORE, LOSS or AFTER the disruption
    ok: bool
    duration_s: float
    request_id: str | None = None
    subnet_id: str | None = None  # where its execution environment ran (locally; AWS does not say)
    availability_zone: str | None = None
    heartbeat_id: str | None = None  # the heartbeat it reported as committed in every store
    checked_at: str | None = None
    error: str | None = None


BEFORE, LOSS, AFTER = "before", "loss", "after"


@dataclass(frozen=True)
class AlarmTrack:
    """An alarm the drill watches: its state changes during the drill and its state at the end.

    ``pages``: it should page when the canary fails (and return to OK); otherwise it means harm beyond
    the experiment (the templates' stop conditions: an RPO breach, undelivered alerts) and must not fire.
    """

    name: str
    pages: bool
    changes: tuple[tuple[float, str], ...]  # (at_s, new state), oldest first
    final_state: str

    @property
    def fired(self) -> bool:
        return any(state == "ALARM" for _, state in self.changes) or self.final_state == "ALARM"


@dataclass(frozen=True)
class Clause:
    """One clause of the steady-state hypothesis and whether this run kept it."""

    name: str
    held: bool
    detail: str


@dataclass
class AzLossReport:
    run_id: str
    target: str
    suffix: str
    now: datetime
    objectives: RecoveryObjectives
    availability_zone: str  # the AZ taken away
    writer_availability_zone: str | None
    subnet_count: int  # the canary's subnets, for the share of failures the lost AZ can explain
    minutes: float  # the disruption window judged
    experiments: dict[str, str] = field(default_factory=dict)  # experiment id -> its final state and reason
    started_s: float | None = None  # the experiments were running
    loss_end_s: float | None = None  # the disruption was lifted (the experiment ended)
    failover: bool = False  # the writer was in the lost AZ, so the writer failover ran too
    writer_switched_s: float | None = None
    writer_answered_s: float | None = None  # the cluster endpoint first answered as the new writer
    probes: list[Probe] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    missing_heartbeats: dict[str, list[str]] = field(default_factory=dict)  # store -> heartbeat ids not found
    alarms: list[AlarmTrack] = field(default_factory=list)
    clauses: list[Clause] = field(default_factory=list)
    error: str | None = None
    interrupted: bool = False
    command = "az-loss"

    @property
    def outcome(self) -> str:
        if self.interrupted:
            return INTERRUPTED
        kept = bool(self.clauses) and all(clause.held for clause in self.clauses)
        return PASSED if kept and self.error is None else FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            **_header(self.command, self.run_id, self.target, self.suffix, self.now, self.objectives),
            "outcome": self.outcome,
            "availability_zone": self.availability_zone,
            "writer_availability_zone": self.writer_availability_zone,
            "subnet_count": self.subnet_count,
            "minutes": self.minutes,
            "experiments": self.experiments,
            "started_s": self.started_s,
            "loss_end_s": self.loss_end_s,
            "failover": self.failover,
            "writer_switched_s": self.writer_switched_s,
            "writer_answered_s": self.writer_answered_s,
            "probe_log": [vars(probe) for probe in self.probes],
            "invocations": [vars(invocation) for invocation in self.invocations],
            "missing_heartbeats": self.missing_heartbeats,
            "alarms": [
                {
                    "name": a.name,
                    "pages": a.pages,
                    "changes": [list(change) for change in a.changes],
                    "final_state": a.final_state,
                }
                for a in self.alarms
            ],
            "hypothesis": [vars(clause) for clause in self.clauses],
            "error": self.error,
        }
