"""AWS Backup restore testing really runs: at its daily time the plan restores the newest recovery
point of Aurora and DynamoDB, the validation function finds the canary's heartbeat in each copy,
reports it to AWS Backup and publishes the restore duration; the copies are removed afterwards.
(Against AWS this test waits for the next 05:00 UTC.)"""

from __future__ import annotations

from typing import Any

import pytest

from lib import output_keys as keys
from lib.constructs.restore_testing import NAMESPACE

from .behaviour import back_up, invoke_canary, selected_resources

# Against AWS: up to a day until the next 05:00 UTC, then the restore tests and their validation.
pytestmark = [pytest.mark.long, pytest.mark.aws_minutes(1530)]

RESTORE_TEST_HOUR = 5  # lib/constructs/restore_testing.py SCHEDULE: cron(0 5 ? * * *)


def test_the_daily_restore_test_restores_validates_and_reports(client, outputs, suffix, clock) -> None:
    backup = client("backup")
    summary, error = invoke_canary(client, outputs)
    assert error is None, summary
    for arn in selected_resources(client, outputs[keys.BACKUP_PLAN_ID]):
        if arn.split(":")[2] in ("rds", "dynamodb"):
            assert back_up(client, outputs, clock, arn)["State"] == "COMPLETED"
    (plan,) = [
        p
        for p in backup.list_restore_testing_plans()["RestoreTestingPlans"]
        if p["RestoreTestingPlanName"].endswith(suffix.replace("-", "_"))
    ]

    def validated() -> list[dict[str, Any]] | None:
        jobs = [
            backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
            for job in backup.list_restore_jobs()["RestoreJobs"]
            if (job.get("CreatedBy") or {}).get("RestoreTestingPlanArn") == plan["RestoreTestingPlanArn"]
        ]
        done = [job for job in jobs if job.get("ValidationStatus") in ("SUCCESSFUL", "FAILED", "TIMED_OUT")]
        return done if len(done) >= 2 else None

    clock.jump_to(RESTORE_TEST_HOUR - 1, 58)
    jobs = clock.until(validated, minutes=90, what="both restore tests validated")

    assert {job["ResourceType"] for job in jobs} == {"Aurora", "DynamoDB"}
    for job in jobs:
        assert (job["Status"], job["ValidationStatus"]) == ("COMPLETED", "SUCCESSFUL"), job
        assert job["DeletionStatus"] == "SUCCESSFUL"  # the copy is gone once validated
    durations = client("cloudwatch").list_metrics(Namespace=NAMESPACE, MetricName="RestoreDurationMinutes")
    assert durations["Metrics"], "the validation function published no restore duration"
