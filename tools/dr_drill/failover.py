"""The failover rehearsal: Aurora fails its writer over to the reader while the writer endpoint is
probed, to measure how long it could not take writes.

The FailoverDBCluster request runs in a helper thread, because it blocks while the emulator restarts
the database, and AWS answers at once and fails over later: either way probing starts with the
request. A probe opens a new TLS connection (short timeouts) and asks ``pg_is_in_recovery()``: it
counts as answered only when the endpoint reaches a *writer* - right after a failover the endpoint's
name can still lead to the old writer, now a read-only reader. Probing ends when the cluster reports
the new writer and the endpoint answers as a writer again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib import output_keys as keys

from . import database
from .errors import FAILURES, SetupError, StepFailed, describe
from .report import FailoverReport, Probe, Stopwatch, format_duration
from .target import Target
from .waiting import Progress

PROBE_SQL = "SELECT pg_is_in_recovery()"
PROBE_TIMEOUT_SECONDS = 2
PROBE_INTERVAL_SECONDS = 0.5
# Aurora fails over in about a minute; a writer still unreachable after this is an incident, not a drill.
GIVE_UP_SECONDS = 15 * 60


@dataclass(frozen=True)
class FailoverPlan:
    cluster: str
    host: str
    port: int
    writer: str
    reader: str

    def describe(self, target: Target) -> list[str]:
        request = f"rds failover_db_cluster DBClusterIdentifier={self.cluster} TargetDBInstanceIdentifier={self.reader}"
        return [
            f"Dry run against {target}: nothing is changed or written.",
            f"1. {request} (the writer {self.writer} becomes a reader)",
            f"2. from that request on, every {PROBE_INTERVAL_SECONDS} s: a new TLS connection to "
            f"{self.host}:{self.port} and {PROBE_SQL} ({PROBE_TIMEOUT_SECONDS} s timeout), until the cluster "
            f"reports {self.reader} as writer and the endpoint answers as a writer",
            "3. report how long the writer endpoint did not answer as a writer",
        ]


def members(target: Target, cluster: str) -> tuple[dict[str, Any], str | None, list[str]]:
    """The cluster's description, its writer and its readers."""
    description = target.client("rds").describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
    members = description.get("DBClusterMembers", [])
    writer = next((m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]), None)
    return description, writer, [m["DBInstanceIdentifier"] for m in members if not m["IsClusterWriter"]]


def plan(target: Target) -> FailoverPlan:
    cluster = target.output(keys.AURORA_CLUSTER_IDENTIFIER)
    description, writer, readers = members(target, cluster)
    if writer is None or not readers:
        raise SetupError(
            f"Cluster {cluster} needs a writer and a reader to fail over; it has {len(readers)} reader(s)."
        )
    return FailoverPlan(cluster, description["Endpoint"], int(description["Port"]), writer, readers[0])


def execute(
    target: Target, chosen: FailoverPlan, run_id: str, *, progress: Progress, sleep: Callable[[float], None]
) -> FailoverReport:
    login = database.master_login(target)
    rds = target.client("rds")  # created here: the helper thread must not create clients
    report = FailoverReport(
        run_id,
        str(target),
        target.suffix,
        target.now(),
        target.objectives,
        chosen.cluster,
        f"{chosen.host}:{chosen.port}",
        chosen.writer,
        chosen.reader,
    )
    stopwatch = Stopwatch(progress.clock)
    answered = threading.Event()
    failures: list[str] = []

    def request() -> None:
        try:
            rds.failover_db_cluster(DBClusterIdentifier=chosen.cluster, TargetDBInstanceIdentifier=chosen.reader)
        except FAILURES as error:
            failures.append(describe(error))
        finally:
            report.returned_s = stopwatch()
            answered.set()

    progress.say("failover", f"failing {chosen.cluster} over from {chosen.writer} to {chosen.reader}")
    threading.Thread(target=request, name="failover-request", daemon=True).start()
    shown: bool | None = None  # whether the last probe printed answered
    try:
        while True:
            probe = probe_writer(chosen, login, stopwatch())
            report.probes.append(probe)
            if probe.ok != shown:
                state = "answers as writer" if probe.ok else f"does not answer as writer ({probe.error})"
                progress.say("probe", f"{report.endpoint} {state}")
                shown = probe.ok
            if answered.is_set():
                if failures:
                    report.error = f"FailoverDBCluster failed: {failures[0]}"
                    break
                if report.switched_s is None:
                    _, writer, _ = members(target, chosen.cluster)
                    if writer is not None and writer != chosen.writer:
                        report.new_writer, report.switched_s = writer, stopwatch()
                        progress.say("failover", f"the cluster reports {writer} as writer")
                elif probe.ok and probe.at_s >= report.switched_s:
                    break
            if stopwatch() > GIVE_UP_SECONDS:
                report.error = (
                    f"the writer endpoint did not answer as a writer within {format_duration(GIVE_UP_SECONDS)}"
                )
                break
            sleep(PROBE_INTERVAL_SECONDS)
    except KeyboardInterrupt:
        report.interrupted = True
        progress.say("failover", "interrupted (the failover itself cannot be stopped)")
    return report


def probe_writer(chosen: FailoverPlan, login: database.Login, at_s: float) -> Probe:
    """One probe of the writer endpoint: a new TLS connection that must reach a writer."""
    try:
        rows = database.run(chosen.host, chosen.port, login, PROBE_SQL, PROBE_TIMEOUT_SECONDS)
    except StepFailed as error:
        return Probe(at_s, False, str(error).split(": ", 1)[-1])
    if rows and rows[0][0] is False:
        return Probe(at_s, True)
    return Probe(at_s, False, "read-only (still the old writer, now a reader)")


def summary(report: FailoverReport) -> list[str]:
    refused = sum(not probe.ok for probe in report.probes)
    line = (
        f"failover  {report.outcome.upper()}  writer {report.old_writer} -> {report.new_writer or '?'}; "
        f"unavailable {format_duration(report.unavailable_s)} (RTO {report.objectives.rto_minutes} min); "
        f"{len(report.probes)} probes, {refused} refused"
    )
    return [line + (f": {report.error}" if report.error else "")]
