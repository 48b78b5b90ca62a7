"""The DR gate: every stateful resource is in a backup selection that meets the objectives."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb

from lib.app import build_app, new_app
from lib.config import RecoveryObjectives
from lib.dr_gate import LOG_ONLY_BUCKETS, DisasterRecoveryGate, rule_meets
from lib.tap_stack import TapStack

from .templates import ACCOUNT, SUFFIX

OBJECTIVES = RecoveryObjectives()


def test_the_app_passes(tap_stack: TapStack) -> None:
    assert DisasterRecoveryGate(tap_stack, OBJECTIVES).validate() == []


def test_an_unprotected_table_anywhere_fails_synth_naming_it() -> None:
    app = new_app({"environmentSuffix": SUFFIX})
    stack = build_app(app, env={"CDK_DEFAULT_ACCOUNT": ACCOUNT})
    dynamodb.Table(
        stack.compute,
        "Orders",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    with pytest.raises(RuntimeError, match=r"DynamoDB table Compute/Orders is not in any AWS Backup selection"):
        app.synth()


def test_a_plan_that_does_not_meet_the_objectives_is_named(tap_stack: TapStack) -> None:
    stricter = RecoveryObjectives(rpo_minutes=60, retention_days=30)
    errors = DisasterRecoveryGate(tap_stack, stricter).validate()
    assert len(errors) == 3
    assert all("keeps recovery points at least 30 days" in error for error in errors)
    assert {error.split(" is backed up")[0] for error in errors} == {
        "Aurora cluster Data/AuroraCluster",
        "DynamoDB table Data/Table",
        "S3 bucket Data/DataBucket",
    }


def test_log_buckets_need_an_exemption_and_stale_exemptions_fail(tap_stack: TapStack) -> None:
    assert DisasterRecoveryGate(tap_stack, OBJECTIVES, exempt={}).validate() == [
        "S3 bucket Data/AccessLogsBucket is not in any AWS Backup selection: add it to the backup plan's "
        "selection (resilience layer), or, for a bucket that holds only logs, to LOG_ONLY_BUCKETS in "
        "lib/dr_gate.py with the reason"
    ]
    stale = {**LOG_ONLY_BUCKETS, "Data/Gone": "removed long ago"}
    assert DisasterRecoveryGate(tap_stack, OBJECTIVES, exempt=stale).validate() == [
        "LOG_ONLY_BUCKETS names Data/Gone, which is no bucket of the app: remove the entry"
    ]


@pytest.mark.parametrize(
    ("schedule", "keep_days", "meets"),
    [
        ("cron(0 * * * ? *)", 7, True),
        ("cron(0 * * * ? *)", None, True),  # kept forever
        ("cron(0 * * * ? *)", 6, False),
        ("cron(0 */2 * * ? *)", 7, False),
        ("cron(0 5 * * ? *)", 35, False),
        ("rate(1 hour)", 7, True),
        ("every hour", 7, False),
    ],
)
def test_rule_must_run_every_rpo_and_keep_points_for_the_retention(
    schedule: str, keep_days: int | None, meets: bool
) -> None:
    rule: dict[str, object] = {"scheduleExpression": schedule}
    if keep_days is not None:
        rule["lifecycle"] = {"deleteAfterDays": keep_days}
    assert rule_meets(rule, OBJECTIVES) is meets
