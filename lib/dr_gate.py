"""The DR gate: synth fails when a stateful resource anywhere in the app is not protected to the RPO.

A resource that silently drops out of the backup selection keeps "passing" every other check while
its real RPO grows to days. So every Aurora cluster, DynamoDB table and S3 bucket in the construct
tree -- including ones a future change adds in any layer -- must be named by an AWS Backup selection
whose plan has a rule that runs at least every ``rpo_minutes`` and keeps recovery points at least
``retention_days``. Buckets that hold only logs may be exempted, each with its reason, in
``LOG_ONLY_BUCKETS``; an exemption whose bucket no longer exists fails the gate too.

The gate is a construct validation on the TapStack (``node.add_validation``), so it runs in every
synth -- the CLI, ``python bin/app.py`` and the unit tests -- and sees across nested stacks: a
selection's resources are followed through their CDK references to the resources they name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aws_cdk as cdk
import jsii
from aws_cdk import aws_backup as backup
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from constructs import IConstruct, IValidation

from lib.config import RecoveryObjectives
from lib.schedules import ScheduleError, longest_gap

# Construct paths below the TapStack of buckets that hold only logs, and why they need no backup.
LOG_ONLY_BUCKETS: Mapping[str, str] = {
    "Data/AccessLogsBucket": "S3 server access logs of the data bucket: audit data kept 90 days, "
    "reproducible from nothing and of no use for restoring the service",
}

STATEFUL = {
    rds.CfnDBCluster: "Aurora cluster",
    rds.CfnDBInstance: "RDS instance",
    dynamodb.CfnTable: "DynamoDB table",
    dynamodb.CfnGlobalTable: "DynamoDB global table",
    s3.CfnBucket: "S3 bucket",
}
ANCHOR = datetime(2026, 1, 5, tzinfo=UTC)  # any Monday: where the schedule check starts counting


@dataclass(frozen=True)
class Coverage:
    """Which selection names a resource, and whether one of its plan's rules meets the objectives."""

    selection: str
    meets_objectives: bool


class _ReferenceCollector(cdk.DefaultTokenResolver):
    """Resolves a value as CDK would, noting every resource a reference in it points at."""

    def __init__(self) -> None:
        super().__init__(cdk.StringConcat())
        self.targets: list[IConstruct] = []

    def resolve_token(
        self, token: cdk.IResolvable, context: cdk.IResolveContext, post_processor: cdk.IPostProcessor
    ) -> object:
        if isinstance(token, cdk.Reference):
            self.targets.append(token.target)
        return super().resolve_token(token, context, post_processor)


def referenced(value: object, scope: IConstruct) -> list[IConstruct]:
    """Every resource that a CDK reference in ``value`` points at, across nested stacks."""
    collector = _ReferenceCollector()
    cdk.Tokenization.resolve(value, scope=scope, resolver=collector)
    return collector.targets


def rule_meets(rule: Mapping[str, object], objectives: RecoveryObjectives) -> bool:
    """Whether a plan rule (resolved, with its CDK property names) runs at least every RPO and keeps its
    recovery points at least the retention."""
    lifecycle = rule.get("lifecycle")
    keep_days = lifecycle.get("deleteAfterDays") if isinstance(lifecycle, Mapping) else None
    if keep_days is not None and int(str(keep_days)) < objectives.retention_days:
        return False
    try:
        gap = longest_gap(str(rule.get("scheduleExpression")), ANCHOR)
    except ScheduleError:
        return False
    return gap <= timedelta(minutes=objectives.rpo_minutes)


@jsii.implements(IValidation)
class DisasterRecoveryGate:
    """Validation of ``root``'s whole tree against ``objectives``; errors name each resource."""

    def __init__(
        self, root: IConstruct, objectives: RecoveryObjectives, exempt: Mapping[str, str] = LOG_ONLY_BUCKETS
    ) -> None:
        self._root = root
        self._objectives = objectives
        self._exempt = exempt

    def validate(self) -> list[str]:
        coverage = self._coverage()
        errors = []
        exempted = set()
        for resource, kind in self._stateful():
            relative = resource.node.path.removeprefix(f"{self._root.node.path}/").removesuffix("/Resource")
            if relative in self._exempt:
                exempted.add(relative)
                continue
            found = coverage.get(resource.node.path, [])
            if not found:
                errors.append(
                    f"{kind} {relative} is not in any AWS Backup selection: add it to the backup plan's "
                    f"selection (resilience layer), or, for a bucket that holds only logs, to LOG_ONLY_BUCKETS "
                    f"in lib/dr_gate.py with the reason"
                )
            elif not any(c.meets_objectives for c in found):
                names = ", ".join(sorted({c.selection for c in found}))
                errors.append(
                    f"{kind} {relative} is backed up only by {names}, whose plan has no rule that runs at "
                    f"least every {self._objectives.rpo_minutes} minutes (the RPO) and keeps recovery points "
                    f"at least {self._objectives.retention_days} days"
                )
        for stale in sorted(set(self._exempt) - exempted):
            errors.append(f"LOG_ONLY_BUCKETS names {stale}, which is no bucket of the app: remove the entry")
        return errors

    def _stateful(self) -> Iterable[tuple[cdk.CfnResource, str]]:
        for construct in self._root.node.find_all():
            for cfn_type, kind in STATEFUL.items():
                if isinstance(construct, cfn_type) and not _is_cluster_member(construct):
                    yield construct, kind

    def _coverage(self) -> dict[str, list[Coverage]]:
        """Construct path of every resource a backup selection names -> the selections naming it."""
        covered: dict[str, list[Coverage]] = {}
        for selection in self._root.node.find_all():
            if not isinstance(selection, backup.CfnBackupSelection):
                continue
            meets = any(
                rule_meets(rule, self._objectives)
                for plan in referenced(selection.backup_plan_id, selection)
                if isinstance(plan, backup.CfnBackupPlan)
                for rule in _rules(plan)
            )
            named = getattr(selection.backup_selection, "resources", None) or []
            for target in referenced(named, selection):
                covered.setdefault(target.node.path, []).append(Coverage(selection.node.path, meets))
        return covered


def _rules(plan: backup.CfnBackupPlan) -> list[Mapping[str, object]]:
    """The plan's rules, resolved (CDK adds them lazily)."""
    resolved = cdk.Stack.of(plan).resolve(plan.backup_plan)
    return [rule for rule in resolved.get("backupPlanRule", []) if isinstance(rule, Mapping)]


def _is_cluster_member(resource: cdk.CfnResource) -> bool:
    """An Aurora instance stores nothing of its own: its cluster is what is backed up."""
    return isinstance(resource, rds.CfnDBInstance) and resource.db_cluster_identifier is not None
