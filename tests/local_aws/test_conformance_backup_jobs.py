"""Conformance: AWS Backup jobs take time on the clock, and their windows matter (D10, D11).

Each test names the AWS page it follows. The durations the emulator gives each job are its own
(``backup_engine.backup_minutes`` / ``restore_minutes``; AWS publishes none): the tests read them
from there rather than repeating them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator import ACCOUNT, BACKUP_ROLE, REGION
from tools.local_aws.clock import CLOCK
from tools.local_aws.services.backup import jobs as backup_engine

from .helpers import backup_job_done, events_queue, restore_job_done

ROLE = BACKUP_ROLE
MINUTE = timedelta(minutes=1)


def minutes(start: datetime, end: datetime) -> float:
    """Whole emulated minutes between two dates (the clock's wall part adds microseconds)."""
    return round((end - start).total_seconds() / 60, 1)


@pytest.fixture
def vault(aws: Callable[[str], Any], suffix: str) -> Iterator[str]:
    backup = aws("backup")
    name = f"jobs-{suffix}"
    backup.create_backup_vault(BackupVaultName=name)
    yield name
    for point in backup.list_recovery_points_by_backup_vault(BackupVaultName=name)["RecoveryPoints"]:
        backup.delete_recovery_point(BackupVaultName=name, RecoveryPointArn=point["RecoveryPointArn"])
    backup.delete_backup_vault(BackupVaultName=name)


def table(aws: Callable[[str], Any], name: str) -> str:
    aws("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    aws("dynamodb").put_item(TableName=name, Item={"pk": {"S": "a"}})
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def state(aws: Callable[[str], Any], job_id: str) -> str:
    return str(aws("backup").describe_backup_job(BackupJobId=job_id)["State"])


def test_a_backup_job_goes_created_pending_running_completed_with_a_duration(aws, vault, suffix):
    """AWS Backup API reference, 'StartBackupJob' (RecoveryPointArn "is only returned for Amazon EFS
    and Advanced DynamoDB resources"), https://docs.aws.amazon.com/aws-backup/latest/devguide/API_StartBackupJob.html,
    and 'DescribeBackupJob' (State, PercentDone, CreationDate, StartBy, ExpectedCompletionDate,
    CompletionDate, BackupSizeInBytes), https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeBackupJob.html."""
    backup = aws("backup")
    arn = table(aws, f"timed-{suffix}")

    started = backup.start_backup_job(BackupVaultName=vault, ResourceArn=arn, IamRoleArn=ROLE)
    created = backup.describe_backup_job(BackupJobId=started["BackupJobId"])
    CLOCK.advance(MINUTE)
    pending = state(aws, started["BackupJobId"])
    CLOCK.advance(MINUTE)
    running = backup.describe_backup_job(BackupJobId=started["BackupJobId"])
    done = backup_job_done(aws, started["BackupJobId"])

    assert "RecoveryPointArn" not in started and started["CreationDate"] == created["CreationDate"]
    assert (created["State"], created["PercentDone"]) == ("CREATED", "0.0")
    assert created["StartBy"] - created["CreationDate"] == timedelta(minutes=480)  # the API's default window
    assert pending == "PENDING"
    assert running["State"] == "RUNNING" and running["BackupSizeInBytes"] > 0
    duration = backup_engine.backup_minutes("DynamoDB", running["BackupSizeInBytes"])
    assert minutes(created["CreationDate"], running["ExpectedCompletionDate"]) == 2 + duration
    assert (done["State"], done["PercentDone"]) == ("COMPLETED", "100.0")
    assert minutes(done["CreationDate"], done["CompletionDate"]) == 2 + duration


def test_a_restore_job_goes_pending_running_completed_and_creates_the_resource_at_the_end(aws, vault, suffix):
    """AWS Backup API reference, 'DescribeRestoreJob' (Status PENDING | RUNNING | COMPLETED | ABORTED |
    FAILED, CreationDate, CompletionDate, CreatedResourceArn),
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeRestoreJob.html."""
    backup, dynamodb = aws("backup"), aws("dynamodb")
    job = backup.start_backup_job(BackupVaultName=vault, ResourceArn=table(aws, f"src-{suffix}"), IamRoleArn=ROLE)
    point = backup_job_done(aws, job["BackupJobId"])

    restore = backup.start_restore_job(
        RecoveryPointArn=point["RecoveryPointArn"], IamRoleArn=ROLE, Metadata={"targetTableName": f"copy-{suffix}"}
    )
    pending = backup.describe_restore_job(RestoreJobId=restore["RestoreJobId"])
    CLOCK.advance(MINUTE)
    running = backup.describe_restore_job(RestoreJobId=restore["RestoreJobId"])
    tables_while_running = dynamodb.list_tables()["TableNames"]
    done = restore_job_done(aws, restore["RestoreJobId"])

    assert (pending["Status"], running["Status"], done["Status"]) == ("PENDING", "RUNNING", "COMPLETED")
    assert f"copy-{suffix}" not in tables_while_running
    duration = backup_engine.restore_minutes("DynamoDB", point["BackupSizeInBytes"])
    assert minutes(done["CreationDate"], done["CompletionDate"]) == 1 + duration
    assert done["CreatedResourceArn"] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/copy-{suffix}"


@contextlib.contextmanager
def aurora_cluster(aws: Callable[[str], Any], name: str) -> Iterator[dict[str, Any]]:
    rds = aws("rds")
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=name,
        Engine="aurora-postgresql",
        EngineVersion="16.6",
        MasterUsername="master",
        MasterUserPassword="correct-horse-battery",
    )["DBCluster"]
    try:
        yield cluster
    finally:
        with contextlib.suppress(ClientError):
            rds.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)


def test_a_job_that_cannot_start_stays_created_retries_and_expires_when_its_start_window_closes(aws, vault, suffix):
    """AWS Backup API reference, 'BackupRule', StartWindowMinutes: "During the start window, the backup
    job status remains in CREATED status until it has successfully begun or until the start window
    time has run out. ... Backup will automatically retry to begin the job at least every 10 minutes
    until the backup successfully begins (the job status changes to RUNNING) or until the job status
    changes to EXPIRED", https://docs.aws.amazon.com/aws-backup/latest/devguide/API_BackupRule.html.
    A stopped Aurora cluster is such a resource; once it is available again a job starts, and its
    recovery point is an RDS cluster snapshot named awsbackup:job-<id>."""
    backup, rds = aws("backup"), aws("rds")
    with aurora_cluster(aws, f"stopped-{suffix}") as cluster:
        rds.stop_db_cluster(DBClusterIdentifier=cluster["DBClusterIdentifier"])
        started = backup.start_backup_job(
            BackupVaultName=vault, ResourceArn=cluster["DBClusterArn"], IamRoleArn=ROLE, StartWindowMinutes=60
        )
        CLOCK.advance(timedelta(minutes=30))
        waiting = backup.describe_backup_job(BackupJobId=started["BackupJobId"])
        expired = backup_job_done(aws, started["BackupJobId"], minutes=40)
        rds.start_db_cluster(DBClusterIdentifier=cluster["DBClusterIdentifier"])
        again = backup.start_backup_job(BackupVaultName=vault, ResourceArn=cluster["DBClusterArn"], IamRoleArn=ROLE)
        completed = backup_job_done(aws, again["BackupJobId"])

    assert waiting["State"] == "CREATED" and "stopped" in waiting["StatusMessage"]
    assert expired["State"] == "EXPIRED" and minutes(expired["StartBy"], expired["CompletionDate"]) == 0
    assert expired["StartBy"] - expired["CreationDate"] == timedelta(minutes=60)
    points = backup.list_recovery_points_by_resource(ResourceArn=cluster["DBClusterArn"])["RecoveryPoints"]
    assert completed["State"] == "COMPLETED"
    assert [point["RecoveryPointArn"] for point in points] == [completed["RecoveryPointArn"]]
    assert completed["RecoveryPointArn"].startswith(f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster-snapshot:awsbackup:job-")


def test_a_job_still_running_when_its_completion_window_closes_expires_without_a_recovery_point(aws, vault, suffix):
    """AWS Backup API reference, 'StartBackupJob', CompleteWindowMinutes: "A value in minutes during
    which a successfully started backup must complete, or else AWS Backup will cancel the job ...
    This value begins counting down from when the backup was scheduled",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_StartBackupJob.html. The job then
    shows EXPIRED, "Backup job expired before completion." (as AWS Backup reports it)."""
    backup = aws("backup")
    started = backup.start_backup_job(
        BackupVaultName=vault, ResourceArn=table(aws, f"slow-{suffix}"), IamRoleArn=ROLE, CompleteWindowMinutes=3
    )

    job = backup_job_done(aws, started["BackupJobId"])

    assert (job["State"], job["StatusMessage"]) == ("EXPIRED", "Backup job expired before completion.")
    assert minutes(job["CreationDate"], job["CompletionDate"]) == 3
    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"] == []


def test_recovery_point_arns_follow_the_resource_type(aws, vault, suffix):
    """AWS Backup API reference, 'RecoveryPointByBackupVault' (an AWS Backup recovery point:
    ``arn:aws:backup:<region>:<account>:recovery-point:<id>``),
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_RecoveryPointByBackupVault.html, and
    Amazon DynamoDB API reference, 'DescribeBackup' (a DynamoDB backup without advanced features is a
    DynamoDB backup: ``arn:aws:dynamodb:<region>:<account>:table/<name>/backup/<ms>-<id>``),
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeBackup.html."""
    backup = aws("backup")
    aws("s3").create_bucket(Bucket=f"arns-{suffix}")
    arns = {"table": table(aws, f"arns-{suffix}"), "bucket": f"arn:aws:s3:::arns-{suffix}"}

    started = {
        key: backup.start_backup_job(BackupVaultName=vault, ResourceArn=arn, IamRoleArn=ROLE)["BackupJobId"]
        for key, arn in arns.items()
    }
    points = {key: backup_job_done(aws, job_id)["RecoveryPointArn"] for key, job_id in started.items()}

    assert points["table"].startswith(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/arns-{suffix}/backup/")
    assert len(points["table"].rsplit("/", 1)[1].split("-")[0]) == 14
    assert points["bucket"].startswith(f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:")


def test_events_and_metrics_arrive_at_the_next_five_minute_mark(aws, vault, suffix):
    """AWS Backup Developer Guide, 'Monitoring AWS Backup events using Amazon EventBridge': "AWS Backup
    emits events to EventBridge in a best-effort manner every 5 minutes",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/eventbridge.html. The emulator delivers
    them, and the AWS/Backup job counts, at the next five-minute mark of its clock."""
    sqs, events, backup = aws("sqs"), aws("events"), aws("backup")
    queue, queue_arn = events_queue(aws, f"jobs-{suffix}")
    pattern = {"source": ["aws.backup"], "detail": {"backupVaultName": [vault]}}
    events.put_rule(Name=f"jobs-{suffix}", EventPattern=json.dumps(pattern))
    events.put_targets(Rule=f"jobs-{suffix}", Targets=[{"Id": "queue", "Arn": queue_arn}])
    mark = 300
    to_next_mark = timedelta(seconds=mark - CLOCK.now().timestamp() % mark)
    CLOCK.advance(to_next_mark + MINUTE)  # one minute past a mark: the next is four minutes away

    started = backup.start_backup_job(
        BackupVaultName=vault, ResourceArn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/none-{suffix}", IamRoleArn=ROLE
    )
    CLOCK.advance(timedelta(minutes=3, seconds=30))  # the job has FAILED, but the mark has not come
    before = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    failed_metrics = aws("cloudwatch").list_metrics(
        Namespace="AWS/Backup",
        MetricName="NumberOfBackupJobsFailed",
        Dimensions=[{"Name": "BackupVaultName", "Value": vault}],
    )["Metrics"]
    CLOCK.advance(MINUTE)
    after = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        after += [json.loads(message["Body"]) for message in batch]
        for message in batch:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    delivered_metrics = aws("cloudwatch").list_metrics(
        Namespace="AWS/Backup",
        MetricName="NumberOfBackupJobsFailed",
        Dimensions=[{"Name": "BackupVaultName", "Value": vault}],
    )["Metrics"]

    assert state(aws, started["BackupJobId"]) == "FAILED"
    assert before == [] and failed_metrics == []
    assert [event["detail"]["state"] for event in after] == ["PENDING", "FAILED"]  # CREATED names no vault
    completion = datetime.fromisoformat(after[1]["detail"]["completionDate"].replace("Z", "+00:00"))
    assert completion.astimezone(UTC) <= CLOCK.now() - timedelta(minutes=2)  # the change, not the delivery
    assert [{"Name": "BackupVaultName", "Value": vault}] in [metric["Dimensions"] for metric in delivered_metrics]


def test_recovery_points_of_a_vault_filter_by_resource_type_and_creation_time(aws, vault, suffix):
    """AWS Backup API reference, 'ListRecoveryPointsByBackupVault' (ByResourceArn, ByResourceType,
    ByCreatedAfter, ByCreatedBefore: "Returns only recovery points that were created after / before
    the specified timestamp"), https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListRecoveryPointsByBackupVault.html."""
    backup = aws("backup")
    aws("s3").create_bucket(Bucket=f"filters-{suffix}")
    arns = {"table": table(aws, f"filters-{suffix}"), "bucket": f"arn:aws:s3:::filters-{suffix}"}
    first = backup_job_done(
        aws, backup.start_backup_job(BackupVaultName=vault, ResourceArn=arns["table"], IamRoleArn=ROLE)["BackupJobId"]
    )
    CLOCK.advance(timedelta(hours=1))
    later = {
        key: backup_job_done(
            aws, backup.start_backup_job(BackupVaultName=vault, ResourceArn=arn, IamRoleArn=ROLE)["BackupJobId"]
        )
        for key, arn in arns.items()
    }

    def listed(**filters: Any) -> list[str]:
        pages = backup.get_paginator("list_recovery_points_by_backup_vault").paginate(BackupVaultName=vault, **filters)
        return sorted(point["RecoveryPointArn"] for page in pages for point in page["RecoveryPoints"])

    table_points = sorted([first["RecoveryPointArn"], later["table"]["RecoveryPointArn"]])
    assert listed(ByResourceArn=arns["table"]) == table_points
    assert listed(ByResourceType="S3") == [later["bucket"]["RecoveryPointArn"]]
    assert listed(ByResourceArn=arns["table"], ByCreatedAfter=first["CreationDate"] + MINUTE) == [
        later["table"]["RecoveryPointArn"]
    ]
    assert listed(ByCreatedBefore=first["CreationDate"] + MINUTE) == [first["RecoveryPointArn"]]
