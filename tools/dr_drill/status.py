"""Where recovery stands right now: per protected resource, the newest completed recovery point and
its age against the RPO, and how the last restore drill of its store went.

The protected resources are the backup plan's selections (the plan id is a stack output), so a
resource the plan stops selecting drops out here too - and a selected resource that was never
backed up shows "never".
"""

from __future__ import annotations

from pathlib import Path

from lib import output_keys as keys

from .recovery_points import newest_completed, protected_resources
from .report import ResourceStatus, StatusReport, format_duration, read_latest
from .stores import store_of
from .target import Target


def describe_plan(target: Target, report_dir: Path) -> list[str]:
    return [
        f"Dry run against {target}: nothing is changed or written.",
        f"1. read the resources the selections of backup plan {target.output(keys.BACKUP_PLAN_ID)} name",
        f"2. for each, its newest COMPLETED recovery point in vault {target.output(keys.BACKUP_VAULT_NAME)}, "
        f"and its age against the RPO ({target.objectives.rpo_minutes} min)",
        f"3. the last drill per store from {report_dir / 'latest-restore.json'}",
    ]


def collect(target: Target, report_dir: Path, run_id: str) -> StatusReport:
    backup = target.client("backup")
    vault = target.output(keys.BACKUP_VAULT_NAME)
    resources = protected_resources(backup, target.output(keys.BACKUP_PLAN_ID))
    now = target.now()
    last = read_latest(report_dir, "restore") or {}
    drills = {recovery["store"]: recovery for recovery in last.get("recoveries", []) if isinstance(recovery, dict)}
    rows = []
    for arn in resources:
        point = newest_completed(backup, vault, arn)
        store = store_of(arn)
        age = round((now - point.created).total_seconds(), 3) if point else None
        rows.append(ResourceStatus(arn, store, point.created if point else None, age, drills.get(store or "")))
    return StatusReport(run_id, str(target), target.suffix, now, target.objectives, vault, rows, last.get("now"))


def summary(report: StatusReport) -> list[str]:
    rpo = report.objectives.rpo_minutes
    width = max([len("resource"), *(len(resource.resource_arn) for resource in report.resources)])
    lines = [f"{'resource':<{width}}  {'newest recovery point':<25}  {'age':>12}  {f'RPO {rpo} min':<12}  last drill"]
    for resource in report.resources:
        taken = resource.newest_point.isoformat(timespec="seconds") if resource.newest_point else "never"
        age = format_duration(resource.age_s) if resource.age_s is not None else "-"
        verdict = "ok" if resource.within_rpo(report.objectives) else "BREACHED"
        drill = resource.last_drill
        if drill is None:
            last = "none"
        else:
            outcome = "passed" if drill.get("passed") else "FAILED"
            restore = drill.get("restore_s")
            last = f"{outcome} {report.last_drill_at or ''}" + (
                f" (restore {format_duration(restore)})" if isinstance(restore, (int, float)) else ""
            )
        lines.append(f"{resource.resource_arn:<{width}}  {taken:<25}  {age:>12}  {verdict:<12}  {last}")
    return lines
