"""AWS Backup restore testing really runs: at its scheduled time (the profile's: daily on prod, twice a
month on dev) the plan restores the newest recovery point of Aurora and DynamoDB. The DynamoDB copy is
validated at once; the Aurora copy has no DB instance (AWS Backup restores the cluster only), so the
validation function adds a writer, validates when RDS says it was created, deletes it and reports; AWS
Backup then deletes both copies. The restore duration it publishes for Aurora includes the writer's
creation.
(Against AWS this test waits for the plan's next run, then up to the two-hour validation window.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lib import output_keys as keys
from lib.constructs.restore_testing import NAMESPACE, VALIDATION_WINDOW_HOURS
from lib.schedules import occurrences

from .behaviour import back_up, invoke_canary, selected_resources

# Against AWS: up to 17 days until the plan's next run (dev's: the 1st and 15th), then the restore tests
# and their validation.
pytestmark = [pytest.mark.long, pytest.mark.aws_minutes(17 * 1440 + 90)]

# The recovery points are taken this long before the run: inside the plan's one-day selection window.
BACK_UP_BEFORE = timedelta(hours=1)
FINAL = ("SUCCESSFUL", "FAILED", "TIMED_OUT")


def _gone(describe: Any, code: str, **key: str) -> bool:
    try:
        describe(**key)
    except ClientError as error:
        return bool(error.response["Error"]["Code"] == code)
    return False


def test_the_scheduled_restore_test_restores_validates_and_reports(client, outputs, suffix, clock) -> None:
    backup, rds = client("backup"), client("rds")
    (plan,) = [
        p
        for p in backup.list_restore_testing_plans()["RestoreTestingPlans"]
        if p["RestoreTestingPlanName"].endswith(suffix.replace("-", "_"))
    ]
    schedule = backup.get_restore_testing_plan(RestoreTestingPlanName=plan["RestoreTestingPlanName"])[
        "RestoreTestingPlan"
    ]["ScheduleExpression"]
    now = clock.now()
    next_run = occurrences(schedule, now + BACK_UP_BEFORE, now + timedelta(days=32), now)[0]
    clock.jump_until(next_run - BACK_UP_BEFORE)
    summary, error = invoke_canary(client, outputs)
    assert error is None, summary
    for arn in selected_resources(client, outputs[keys.BACKUP_PLAN_ID]):
        if arn.split(":")[2] in ("rds", "dynamodb"):
            assert back_up(client, outputs, clock, arn)["State"] == "COMPLETED"

    def jobs() -> list[dict[str, Any]]:
        return [
            backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
            for job in backup.list_restore_jobs()["RestoreJobs"]
            if (job.get("CreatedBy") or {}).get("RestoreTestingPlanArn") == plan["RestoreTestingPlanArn"]
        ]

    def aurora_copy_restored() -> dict[str, Any] | None:
        return next((job for job in jobs() if job["ResourceType"] == "Aurora" and job["Status"] == "COMPLETED"), None)

    def validated_and_deleted() -> list[dict[str, Any]] | None:
        done = [job for job in jobs() if job.get("ValidationStatus") in FINAL and job.get("DeletionStatus")]
        return done if len(done) >= 2 and all(job["DeletionStatus"] != "DELETING" for job in done) else None

    def described_writer(instance: str) -> dict[str, Any] | None:
        try:
            return dict(rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0])
        except ClientError:
            return None

    aurora = clock.until(aurora_copy_restored, minutes=180, what="the Aurora restore test's copy restored")
    copy = aurora["CreatedResourceArn"].split(":")[-1]
    writer = f"{copy}-writer"
    # The copy has no instance of its own: the validation function adds one, and validates only once
    # RDS says it was created (minutes later).
    added = clock.until(lambda: described_writer(writer), minutes=10, what=f"the writer {writer} requested")
    assert {"Key": "restore-job-id", "Value": aurora["RestoreJobId"]} in added["TagList"]
    if added["DBInstanceStatus"] == "creating":
        assert "ValidationStatus" not in backup.describe_restore_job(RestoreJobId=aurora["RestoreJobId"])

    done = clock.until(
        validated_and_deleted, minutes=VALIDATION_WINDOW_HOURS * 60 + 15, what="both restore tests validated"
    )

    assert {job["ResourceType"] for job in done} == {"Aurora", "DynamoDB"}
    for job in done:
        assert (job["Status"], job["ValidationStatus"]) == ("COMPLETED", "SUCCESSFUL"), job
        assert job["DeletionStatus"] == "SUCCESSFUL", job  # the copy is gone once validated
    assert _gone(rds.describe_db_clusters, "DBClusterNotFoundFault", DBClusterIdentifier=copy)
    clock.until(
        lambda: _gone(rds.describe_db_instances, "DBInstanceNotFound", DBInstanceIdentifier=writer),
        minutes=30,
        what=f"the writer {writer} deleted",
    )
    # RestoreDurationMinutes counts until the writer was available, beyond the restore job itself.
    job_minutes = (aurora["CompletionDate"] - aurora["CreationDate"]) / timedelta(minutes=1)
    statistics = client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="RestoreDurationMinutes",
        Dimensions=[{"Name": "EnvironmentSuffix", "Value": suffix}, {"Name": "ResourceType", "Value": "Aurora"}],
        StartTime=aurora["CreationDate"],
        EndTime=aurora["CreationDate"] + timedelta(hours=VALIDATION_WINDOW_HOURS + 1),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert statistics and max(point["Maximum"] for point in statistics) > job_minutes
