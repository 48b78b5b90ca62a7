"""AWS Backup's plans on the clock: each rule of a live plan runs when its schedule falls due
(a backup job per selected resource), and retention deletes a recovery point when the clock passes
its DeleteAt."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from lib import schedules

from ... import world
from ...clock import Due
from .jobs import BackupJob, Engine, backends, engine_for
from .resources import BackupFailure

logger = logging.getLogger(__name__)

PLAN_ORDER = 20  # a plan's rule runs after scheduled EventBridge rules (10) at the same instant
RETENTION_ORDER = 21  # expired recovery points go right after the backups of that instant


def run_rule(
    engine: Engine, plan: world.Plan, rule: dict[str, Any], selections: Iterable[dict[str, Any]]
) -> list[BackupJob]:
    """One scheduled run of a plan's rule: a job per resource its selections name, into the
    rule's vault with its lifecycle and tags. Selections by wildcard, tag or condition are not
    emulated: they are reported (the clock records the error), the named resources still run."""
    resources: dict[str, str] = {}
    refused = []
    for selection in selections:
        name = selection.get("SelectionName", "?")
        by_condition = [key for key in ("ListOfTags", "NotResources", "Conditions") if _has_entries(selection.get(key))]
        wildcards = [arn for arn in selection.get("Resources", []) if "*" in arn]
        if by_condition or wildcards:
            refused.append(
                f"selection {name} selects by {', '.join(by_condition + wildcards)}, which the emulator does not "
                "support: name each resource ARN in Resources"
            )
        for arn in selection.get("Resources", []):
            if "*" not in arn:
                resources.setdefault(arn, selection["IamRoleArn"])
    created_by = {
        "BackupPlanId": plan.backup_plan_id,
        "BackupPlanArn": plan.backup_plan_arn,
        "BackupPlanName": plan.backup_plan["BackupPlanName"],
        "BackupPlanVersion": plan.version_id,
        "BackupRuleId": rule["RuleId"],
        "BackupRuleName": rule["RuleName"],
        "BackupRuleCron": rule["ScheduleExpression"],
        "BackupRuleTimezone": rule.get("ScheduleExpressionTimezone", "Etc/UTC"),
    }
    jobs = []
    for arn, role in resources.items():
        try:
            jobs.append(
                engine.back_up(
                    rule["TargetBackupVaultName"],
                    arn,
                    role,
                    lifecycle=rule.get("Lifecycle"),
                    recovery_point_tags=rule.get("RecoveryPointTags"),
                    start_window_minutes=rule.get("StartWindowMinutes"),
                    complete_window_minutes=rule.get("CompletionWindowMinutes"),
                    created_by=created_by,
                )
            )
        except world.BackupInvalidParameterValue as error:
            refused.append(error.message)
    if refused:
        raise BackupFailure(f"backup plan {plan.backup_plan['BackupPlanName']}: " + "; ".join(refused))
    return jobs


def _has_entries(value: Any) -> bool:
    """Whether a selection field selects something: a non-empty list, or a dict of such lists."""
    if isinstance(value, dict):
        return any(_has_entries(entry) for entry in value.values())
    return bool(value)


def due_plan_rules(
    start: datetime, end: datetime, selections_of: Callable[[world.BackupBackend, str], list[dict[str, Any]]]
) -> Iterator[Due]:
    """Every run of every rule of every live plan in ``(start, end]``; ``selections_of(backend,
    plan id)`` lists the plan's selections when the rule runs. A rate() counts from the plan's
    creation; an expression the emulator cannot read is logged and skipped."""
    for backend in backends():
        for plan in list(backend.plans.values()):
            if plan.deletion_date is not None:
                continue
            anchor = datetime.fromtimestamp(plan.creation_date, UTC)
            for rule in plan.backup_plan["Rules"]:
                try:
                    moments = schedules.occurrences(rule["ScheduleExpression"], start, end, anchor)
                except schedules.ScheduleError as error:
                    logger.warning("backup plan %s, rule %s: %s", plan.backup_plan_id, rule["RuleName"], error)
                    continue
                for moment in moments:
                    yield Due(
                        moment,
                        PLAN_ORDER,
                        f"backup plan {plan.backup_plan['BackupPlanName']} rule {rule['RuleName']}",
                        _plan_run(backend, plan, rule, selections_of),
                    )


def _plan_run(
    backend: world.BackupBackend,
    plan: world.Plan,
    rule: dict[str, Any],
    selections_of: Callable[[world.BackupBackend, str], list[dict[str, Any]]],
) -> Callable[[], None]:
    def run() -> None:
        if plan.deletion_date is None:  # the plan may have been deleted earlier in the window
            run_rule(engine_for(backend), plan, rule, selections_of(backend, plan.backup_plan_id))

    return run


def due_expirations(start: datetime, end: datetime) -> Iterator[Due]:
    """Every recovery point whose DeleteAt is at or before ``end`` (one already past is due at
    ``start``): retention deletes it when the clock passes that instant."""
    for backend in backends():
        current = engine_for(backend)
        for arn, delete_at in current.deletion_dates():
            if delete_at <= end:
                yield Due(max(delete_at, start), RETENTION_ORDER, f"retention of {arn}", _expiry(current, arn))


def _expiry(current: Engine, arn: str) -> Callable[[], None]:
    def expire() -> None:
        current.expire(arn)

    return expire
