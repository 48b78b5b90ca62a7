"""AWS Backup jobs, recovery points, restores, plan schedules, retention and events (D10-D14)."""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pg8000.native
import pytest
from botocore.exceptions import ClientError

from tests.emulator import ACCOUNT, BACKUP_ROLE, REGION
from tools.local_aws.clock import CLOCK
from tools.local_aws.services.rds import aurora_instances

from .helpers import allow_events, backup_job_done, restore_job_done, template, until

ROLE = BACKUP_ROLE
AURORA_PASSWORD = "correct-horse-battery"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


@pytest.fixture
def vault(aws: Callable[[str], Any], suffix: str) -> Iterator[str]:
    """A vault with a KMS key; emptied and deleted afterwards."""
    backup = aws("backup")
    name = f"vault-{suffix}"
    backup.create_backup_vault(BackupVaultName=name, EncryptionKeyArn=KEY)
    yield name
    for point in backup.list_recovery_points_by_backup_vault(BackupVaultName=name)["RecoveryPoints"]:
        backup.delete_recovery_point(BackupVaultName=name, RecoveryPointArn=point["RecoveryPointArn"])
    backup.delete_backup_vault(BackupVaultName=name)


def make_table(aws: Callable[[str], Any], name: str, items: int = 3) -> None:
    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS"},
    )
    for n in range(items):
        dynamodb.put_item(
            TableName=name, Item={"pk": {"S": "order"}, "sk": {"N": str(n)}, "blob": {"B": bytes([n, 255])}}
        )


def back_up(aws: Callable[[str], Any], vault_name: str, arn: str, **extra: Any) -> dict[str, Any]:
    backup = aws("backup")
    started = backup.start_backup_job(BackupVaultName=vault_name, ResourceArn=arn, IamRoleArn=ROLE, **extra)
    return backup_job_done(aws, started["BackupJobId"])


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_d10_backup_job_copies_a_table_into_a_recovery_point_of_the_vault(aws, vault, suffix):
    backup = aws("backup")
    make_table(aws, f"orders-{suffix}")

    job = back_up(
        aws, vault, table_arn(f"orders-{suffix}"), Lifecycle={"DeleteAfterDays": 7}, RecoveryPointTags={"rpo": "1h"}
    )

    assert (job["State"], job["PercentDone"], job["ResourceType"]) == ("COMPLETED", "100.0", "DynamoDB")
    assert job["CompletionDate"] >= job["CreationDate"] and job["BackupSizeInBytes"] > 0
    arn = job["RecoveryPointArn"]
    assert arn.startswith(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders-{suffix}/backup/")
    point = backup.describe_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn)
    assert (point["Status"], point["ResourceArn"], point["IamRoleArn"]) == (
        "COMPLETED",
        table_arn(f"orders-{suffix}"),
        ROLE,
    )
    assert (point["EncryptionKeyArn"], point["IsEncrypted"], point["Lifecycle"]) == (KEY, True, {"DeleteAfterDays": 7})
    assert point["CalculatedLifecycle"]["DeleteAt"] - point["CreationDate"] == timedelta(days=7)
    assert point["BackupSizeInBytes"] == job["BackupSizeInBytes"]
    assert backup.list_tags(ResourceArn=arn)["Tags"] == {"rpo": "1h"}
    by_resource = backup.list_recovery_points_by_resource(ResourceArn=table_arn(f"orders-{suffix}"))["RecoveryPoints"]
    assert [(p["RecoveryPointArn"], p["BackupVaultName"]) for p in by_resource] == [(arn, vault)]
    assert backup.describe_backup_vault(BackupVaultName=vault)["NumberOfRecoveryPoints"] == 1


def test_d10_backup_of_a_missing_resource_fails_with_its_reason(aws, vault, suffix):
    job = back_up(aws, vault, table_arn(f"missing-{suffix}"))

    assert (job["State"], job["StatusMessage"]) == ("FAILED", f"Table missing-{suffix} was not found.")
    assert "RecoveryPointArn" not in job
    assert aws("backup").list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"] == []
    failed = aws("cloudwatch").list_metrics(Namespace="AWS/Backup", MetricName="NumberOfBackupJobsFailed")["Metrics"]
    assert [{"Name": "BackupVaultName", "Value": vault}] in [m["Dimensions"] for m in failed]


def test_d10_a_repeated_idempotency_token_returns_the_same_job(aws, vault, suffix):
    backup = aws("backup")
    make_table(aws, f"once-{suffix}", items=1)
    arguments = {"BackupVaultName": vault, "ResourceArn": table_arn(f"once-{suffix}"), "IamRoleArn": ROLE}

    first = backup.start_backup_job(**arguments, IdempotencyToken=f"token-{suffix}")
    again = backup.start_backup_job(**arguments, IdempotencyToken=f"token-{suffix}")

    assert again["BackupJobId"] == first["BackupJobId"]
    backup_job_done(aws, first["BackupJobId"])
    assert len(backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]) == 1


def test_d10_unknown_vault_job_and_recovery_point_are_resource_not_found(aws, vault, suffix):
    backup = aws("backup")
    unknown_point = f"arn:aws:backup:{REGION}:{ACCOUNT}:recovery-point:00000000-0000-0000-0000-000000000000"

    with pytest.raises(ClientError) as no_vault:
        backup.start_backup_job(BackupVaultName=f"nope-{suffix}", ResourceArn=table_arn("t"), IamRoleArn=ROLE)
    with pytest.raises(ClientError) as no_job:
        backup.describe_backup_job(BackupJobId="00000000-0000-0000-0000-000000000000")
    with pytest.raises(ClientError) as no_point:
        backup.describe_recovery_point(BackupVaultName=vault, RecoveryPointArn=unknown_point)
    with pytest.raises(ClientError) as unsupported:
        backup.start_backup_job(
            BackupVaultName=vault, ResourceArn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-1", IamRoleArn=ROLE
        )

    assert [code(e) for e in (no_vault, no_job, no_point)] == ["ResourceNotFoundException"] * 3
    assert code(unsupported) == "InvalidParameterValueException"


def test_d10_lists_filter_and_page(aws, vault, suffix):
    backup = aws("backup")
    for n in range(3):
        make_table(aws, f"page-{n}-{suffix}", items=1)
        back_up(aws, vault, table_arn(f"page-{n}-{suffix}"))
    back_up(aws, vault, table_arn(f"missing-{suffix}"))

    first = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault, MaxResults=2)
    second = backup.list_recovery_points_by_backup_vault(
        BackupVaultName=vault, MaxResults=2, NextToken=first["NextToken"]
    )
    paged = [p["ResourceArn"] for p in first["RecoveryPoints"] + second["RecoveryPoints"]]
    jobs = backup.get_paginator("list_backup_jobs").paginate(ByBackupVaultName=vault, PaginationConfig={"PageSize": 1})
    failed = backup.list_backup_jobs(ByBackupVaultName=vault, ByState="FAILED")["BackupJobs"]
    one = backup.list_recovery_points_by_backup_vault(
        BackupVaultName=vault, ByResourceArn=table_arn(f"page-1-{suffix}")
    )

    assert paged == [table_arn(f"page-{n}-{suffix}") for n in range(3)] and "NextToken" not in second
    assert len([job for page in jobs for job in page["BackupJobs"]]) == 4
    assert [job["ResourceArn"] for job in failed] == [table_arn(f"missing-{suffix}")]
    assert [p["ResourceArn"] for p in one["RecoveryPoints"]] == [table_arn(f"page-1-{suffix}")]
    assert backup.list_backup_jobs(ByResourceArn=table_arn(f"page-2-{suffix}"), ByResourceType="DynamoDB")["BackupJobs"]
    later, earlier = CLOCK.now() + timedelta(seconds=1), CLOCK.now() - timedelta(hours=1)
    assert backup.list_backup_jobs(ByBackupVaultName=vault, ByCreatedAfter=later)["BackupJobs"] == []
    assert len(backup.list_backup_jobs(ByBackupVaultName=vault, ByCreatedAfter=earlier)["BackupJobs"]) == 4


def test_d10_delete_recovery_point(aws, vault, suffix):
    backup = aws("backup")
    make_table(aws, f"deleted-{suffix}")
    arn = back_up(aws, vault, table_arn(f"deleted-{suffix}"))["RecoveryPointArn"]

    backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn)

    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"] == []
    with pytest.raises(ClientError) as again:
        backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn)
    assert code(again) == "ResourceNotFoundException"


def test_q7_a_locked_vault_keeps_its_recovery_points_until_the_lock_is_lifted(aws, vault, suffix):
    backup = aws("backup")
    make_table(aws, f"locked-{suffix}")
    arn = back_up(aws, vault, table_arn(f"locked-{suffix}"))["RecoveryPointArn"]
    backup.put_backup_vault_lock_configuration(BackupVaultName=vault, MinRetentionDays=1)

    with pytest.raises(ClientError) as refused:
        backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn)

    assert code(refused) == "InvalidRequestException"
    assert "is locked" in refused.value.response["Error"]["Message"]
    assert len(backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]) == 1
    backup.delete_backup_vault_lock_configuration(BackupVaultName=vault)
    backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn)
    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"] == []


def test_d10_stopping_a_running_job_aborts_it_and_a_finished_one_cannot_be_stopped(aws, vault, suffix):
    backup = aws("backup")
    make_table(aws, f"stopped-{suffix}")
    started = backup.start_backup_job(
        BackupVaultName=vault, ResourceArn=table_arn(f"stopped-{suffix}"), IamRoleArn=ROLE
    )
    until(
        lambda: backup.describe_backup_job(BackupJobId=started["BackupJobId"])["State"] == "RUNNING",
        minutes=5,
        what="the job running",
    )

    backup.stop_backup_job(BackupJobId=started["BackupJobId"])
    job = backup_job_done(aws, started["BackupJobId"])
    finished = back_up(aws, vault, table_arn(f"stopped-{suffix}"))

    assert (job["State"], job["StatusMessage"]) == ("ABORTED", "Backup job was stopped by user.")
    points = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in points] == [finished["RecoveryPointArn"]]
    with pytest.raises(ClientError) as late:
        backup.stop_backup_job(BackupJobId=finished["BackupJobId"])
    assert code(late) == "InvalidRequestException"


def test_d10_s3_backup_keeps_every_version_and_d11_restores_the_latest_into_a_new_bucket(aws, vault, suffix):
    s3, backup = aws("s3"), aws("backup")
    source, target = f"source-{suffix}", f"restored-{suffix}"
    s3.create_bucket(Bucket=source)
    s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}}]}
    s3.put_bucket_encryption(Bucket=source, ServerSideEncryptionConfiguration=encryption)
    s3.put_object(Bucket=source, Key="report.csv", Body=b"v1", ContentType="text/csv")
    s3.put_object(Bucket=source, Key="report.csv", Body=b"v2", ContentType="text/csv", Metadata={"owner": "ops"})
    s3.put_object(Bucket=source, Key="gone.txt", Body=b"deleted later")
    s3.delete_object(Bucket=source, Key="gone.txt")

    job = back_up(aws, vault, bucket_arn(source))
    metadata = backup.get_recovery_point_restore_metadata(
        BackupVaultName=vault, RecoveryPointArn=job["RecoveryPointArn"]
    )
    restore = backup.start_restore_job(
        RecoveryPointArn=job["RecoveryPointArn"],
        IamRoleArn=ROLE,
        Metadata={**metadata["RestoreMetadata"], "DestinationBucketName": target, "NewBucket": "true"},
    )
    restore_job_done(aws, restore["RestoreJobId"])

    assert (job["State"], job["ResourceType"], job["BackupSizeInBytes"] >= len(b"v1v2deleted later")) == (
        "COMPLETED",
        "S3",
        True,
    )
    assert metadata["RestoreMetadata"]["DestinationBucketName"] == source
    described = backup.describe_restore_job(RestoreJobId=restore["RestoreJobId"])
    assert (described["Status"], described["CreatedResourceArn"]) == ("COMPLETED", bucket_arn(target))
    restored = s3.get_object(Bucket=target, Key="report.csv")
    assert (restored["Body"].read(), restored["ContentType"], restored["Metadata"]) == (
        b"v2",
        "text/csv",
        {"owner": "ops"},
    )
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=target)["Contents"]] == ["report.csv"]
    by_bucket = backup.list_recovery_points_by_resource(ResourceArn=bucket_arn(source))["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in by_bucket] == [job["RecoveryPointArn"]]
    assert s3.get_bucket_versioning(Bucket=target)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=target)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == KEY


def test_d11_table_restores_into_a_new_table_and_not_onto_an_existing_one(aws, vault, suffix):
    backup, dynamodb = aws("backup"), aws("dynamodb")
    make_table(aws, f"source-{suffix}")
    point = back_up(aws, vault, table_arn(f"source-{suffix}"))["RecoveryPointArn"]
    dynamodb.put_item(TableName=f"source-{suffix}", Item={"pk": {"S": "after"}, "sk": {"N": "9"}})

    restored = backup.start_restore_job(
        RecoveryPointArn=point, IamRoleArn=ROLE, Metadata={"targetTableName": f"copy-{suffix}"}, ResourceType="DynamoDB"
    )
    onto_existing = backup.start_restore_job(
        RecoveryPointArn=point, IamRoleArn=ROLE, Metadata={"targetTableName": f"source-{suffix}"}
    )
    restore_job_done(aws, restored["RestoreJobId"])
    restore_job_done(aws, onto_existing["RestoreJobId"])

    job = backup.describe_restore_job(RestoreJobId=restored["RestoreJobId"])
    assert (job["Status"], job["CreatedResourceArn"], job["SourceResourceArn"]) == (
        "COMPLETED",
        table_arn(f"copy-{suffix}"),
        table_arn(f"source-{suffix}"),
    )
    items = dynamodb.scan(TableName=f"copy-{suffix}")["Items"]
    assert sorted((i["sk"]["N"], i["blob"]["B"]) for i in items) == [(str(n), bytes([n, 255])) for n in range(3)]
    table = dynamodb.describe_table(TableName=f"copy-{suffix}")["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert (table["BillingModeSummary"]["BillingMode"], table["SSEDescription"]["Status"]) == (
        "PAY_PER_REQUEST",
        "ENABLED",
    )
    failed = backup.describe_restore_job(RestoreJobId=onto_existing["RestoreJobId"])
    assert (failed["Status"], failed["StatusMessage"]) == ("FAILED", f"Table already exists: source-{suffix}")
    assert [j["Status"] for j in backup.list_restore_jobs(ByStatus="FAILED")["RestoreJobs"]].count("FAILED") >= 1
    with pytest.raises(ClientError) as unknown:
        backup.start_restore_job(
            RecoveryPointArn=point.rsplit(":", 1)[0] + ":00000000-0000-0000-0000-000000000000",
            IamRoleArn=ROLE,
            Metadata={"targetTableName": f"other-{suffix}"},
        )
    assert code(unknown) == "ResourceNotFoundException"


def test_d10_d11_events_reach_a_rule_with_an_sqs_target(aws, vault, suffix):
    sqs, events, backup = aws("sqs"), aws("events"), aws("backup")
    queue = sqs.create_queue(QueueName=f"backup-events-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.backup"], "detail": {"backupVaultArn": [{"suffix": f":{vault}"}]}}
    events.put_rule(Name=f"backup-{suffix}", EventPattern=json.dumps(pattern))
    allow_events(aws, queue_arn)
    events.put_targets(Rule=f"backup-{suffix}", Targets=[{"Id": "queue", "Arn": queue_arn}])
    make_table(aws, f"evented-{suffix}")

    job = back_up(aws, vault, table_arn(f"evented-{suffix}"), Lifecycle={"DeleteAfterDays": 3})
    failed = back_up(aws, vault, table_arn(f"missing-{suffix}"))
    restore = backup.start_restore_job(
        RecoveryPointArn=job["RecoveryPointArn"], IamRoleArn=ROLE, Metadata={"targetTableName": f"evented2-{suffix}"}
    )
    restore_job_done(aws, restore["RestoreJobId"])

    received = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        received += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
        )
    states = {(e["detail-type"], e["detail"].get("state") or e["detail"].get("status")): e for e in received}
    completed = states[("Backup Job State Change", "COMPLETED")]
    assert completed["source"] == "aws.backup" and completed["resources"] == [job["RecoveryPointArn"]]
    assert {
        key: completed["detail"][key] for key in ("backupJobId", "backupVaultName", "resourceArn", "resourceType")
    } == {
        "backupJobId": job["BackupJobId"],
        "backupVaultName": vault,
        "resourceArn": table_arn(f"evented-{suffix}"),
        "resourceType": "DynamoDB",
    }
    assert (completed["detail"]["percentDone"], completed["detail"]["iamRoleArn"]) == (100, ROLE)
    assert completed["detail"]["backupSizeInBytes"] == str(job["BackupSizeInBytes"])
    assert completed["detail"]["completionDate"].endswith("Z")
    failure = states[("Backup Job State Change", "FAILED")]["detail"]
    assert (failure["backupJobId"], failure["statusMessage"]) == (
        failed["BackupJobId"],
        f"Table missing-{suffix} was not found.",
    )
    point = states[("Recovery Point State Change", "COMPLETED")]["detail"]
    assert point["lifecycle"] == {"deleteAfterDays": 3} and "deleteAt" in point["calculatedLifeCycle"]
    restored = states[("Restore Job State Change", "COMPLETED")]["detail"]
    assert (restored["restoreJobId"], restored["createdResourceArn"]) == (
        restore["RestoreJobId"],
        table_arn(f"evented2-{suffix}"),
    )
    assert ("Backup Job State Change", "RUNNING") in states and ("Restore Job State Change", "PENDING") in states


def past_the_next_hour() -> timedelta:
    """How far to advance to pass exactly one top of the hour, wherever in the hour the clock is
    (61 minutes from hh:59 would pass two, and an hourly rule would run twice)."""
    return timedelta(minutes=60 - CLOCK.now().minute)


def test_d12_plan_rule_backs_up_each_selected_resource_when_the_clock_passes_its_time(aws, vault, suffix):
    backup, s3 = aws("backup"), aws("s3")
    make_table(aws, f"planned-{suffix}")
    s3.create_bucket(Bucket=f"planned-{suffix}")
    s3.put_object(Bucket=f"planned-{suffix}", Key="a", Body=b"a")
    rule = {
        "RuleName": "hourly",
        "TargetBackupVaultName": vault,
        "ScheduleExpression": "cron(0 * * * ? *)",
        "StartWindowMinutes": 60,
        "Lifecycle": {"DeleteAfterDays": 7},
        "RecoveryPointTags": {"plan": "hourly"},
    }
    plan = backup.create_backup_plan(BackupPlan={"BackupPlanName": f"plan-{suffix}", "Rules": [rule]})
    resources = [table_arn(f"planned-{suffix}"), bucket_arn(f"planned-{suffix}")]
    backup.create_backup_selection(
        BackupPlanId=plan["BackupPlanId"],
        BackupSelection={"SelectionName": "named", "IamRoleArn": ROLE, "Resources": resources},
    )
    try:
        before = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]
        fired = CLOCK.advance(past_the_next_hour())
        fired += CLOCK.advance(timedelta(minutes=15))  # the jobs take minutes
        points = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]
    finally:
        backup.delete_backup_plan(BackupPlanId=plan["BackupPlanId"])

    assert before == []
    assert sorted(p["ResourceArn"] for p in points) == sorted(resources)
    [rule_id] = [r["RuleId"] for r in backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])["BackupPlan"]["Rules"]]
    for point in points:
        assert point["CreatedBy"]["BackupPlanId"] == plan["BackupPlanId"]
        assert point["CreatedBy"]["BackupRuleId"] == rule_id
        assert point["CreationDate"].minute == 0 and point["Lifecycle"] == {"DeleteAfterDays": 7}
        assert backup.list_tags(ResourceArn=point["RecoveryPointArn"])["Tags"] == {"plan": "hourly"}
    ran = [f for f in fired if f.name == f"backup plan plan-{suffix} rule hourly"]
    assert [f.error for f in ran] == [None]


def test_d12_selection_by_tag_is_refused_with_a_message(aws, vault, suffix):
    backup = aws("backup")
    rule = {"RuleName": "hourly", "TargetBackupVaultName": vault, "ScheduleExpression": "cron(0 * * * ? *)"}
    plan = backup.create_backup_plan(BackupPlan={"BackupPlanName": f"tagged-{suffix}", "Rules": [rule]})
    tags = [{"ConditionType": "STRINGEQUALS", "ConditionKey": "backup", "ConditionValue": "yes"}]
    backup.create_backup_selection(
        BackupPlanId=plan["BackupPlanId"],
        BackupSelection={"SelectionName": "by-tag", "IamRoleArn": ROLE, "Resources": ["*"], "ListOfTags": tags},
    )
    try:
        fired = CLOCK.advance(past_the_next_hour())
    finally:
        backup.delete_backup_plan(BackupPlanId=plan["BackupPlanId"])

    [run] = [f for f in fired if f.name == f"backup plan tagged-{suffix} rule hourly"]
    assert run.error is not None and "selection by-tag selects by ListOfTags, *" in run.error


def test_d13_retention_deletes_a_recovery_point_when_the_clock_passes_delete_at(aws, vault, suffix):
    backup = aws("backup")
    make_table(aws, f"kept-{suffix}")
    job = back_up(aws, vault, table_arn(f"kept-{suffix}"), Lifecycle={"DeleteAfterDays": 1})

    for _ in range(23):  # hour by hour: every other schedule of the shared server runs on the way
        CLOCK.advance(timedelta(hours=1))
    still_there = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]
    CLOCK.advance(timedelta(hours=1, minutes=1))

    assert [p["RecoveryPointArn"] for p in still_there] == [job["RecoveryPointArn"]]
    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"] == []


def test_d14_vault_with_recovery_points_cannot_be_deleted(aws, cfn, suffix):
    backup = aws("backup")
    stack = cfn.deploy(
        template(
            {"Vault": {"Type": "AWS::Backup::BackupVault", "Properties": {"BackupVaultName": f"kept-{suffix}"}}},
        )
    )
    make_table(aws, f"in-vault-{suffix}")
    point = back_up(aws, f"kept-{suffix}", table_arn(f"in-vault-{suffix}"))["RecoveryPointArn"]

    with pytest.raises(ClientError) as refused:
        backup.delete_backup_vault(BackupVaultName=f"kept-{suffix}")
    stack_delete = cfn.delete(stack)
    backup.delete_recovery_point(BackupVaultName=f"kept-{suffix}", RecoveryPointArn=point)
    retried = cfn.delete(stack)

    message = "Backup vault cannot be deleted because it contains recovery points."
    assert (code(refused), refused.value.response["Error"]["Message"]) == ("InvalidRequestException", message)
    assert stack_delete.status == "DELETE_FAILED" and any(message in event for event in cfn.events(stack))
    assert retried.status == "DELETE_COMPLETE"


def _tls() -> ssl.SSLContext:
    """TLS without verification, as most database clients connect to Aurora."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _sql(cluster: dict[str, Any], statement: str) -> list[list[Any]]:
    connection = pg8000.native.Connection(
        cluster["MasterUsername"],
        host=cluster["Endpoint"],
        port=cluster["Port"],
        password=AURORA_PASSWORD,
        database=cluster["DatabaseName"],
        ssl_context=_tls(),
        timeout=10,
    )
    try:
        return connection.run(statement)
    finally:
        connection.close()


def test_d10_d11_aurora_backup_restores_the_database_into_a_new_cluster(aws, vault, suffix):
    rds, backup = aws("rds"), aws("backup")
    source = rds.create_db_cluster(
        DBClusterIdentifier=f"orders-{suffix}",
        Engine="aurora-postgresql",
        EngineVersion="16.6",
        MasterUsername="master",
        MasterUserPassword=AURORA_PASSWORD,
        DatabaseName="orders",
    )["DBCluster"]
    try:
        _sql(source, "CREATE TABLE orders (id int PRIMARY KEY, item text)")
        _sql(source, "INSERT INTO orders VALUES (1, 'book')")

        job = back_up(aws, vault, source["DBClusterArn"])
        metadata = backup.get_recovery_point_restore_metadata(
            BackupVaultName=vault, RecoveryPointArn=job["RecoveryPointArn"]
        )["RestoreMetadata"]
        restore = backup.start_restore_job(
            RecoveryPointArn=job["RecoveryPointArn"],
            IamRoleArn=ROLE,
            Metadata={**metadata, "DBClusterIdentifier": f"restored-{suffix}"},
        )
        restored_job = restore_job_done(aws, restore["RestoreJobId"])
        restored = rds.describe_db_clusters(DBClusterIdentifier=f"restored-{suffix}")["DBClusters"][0]

        assert (job["State"], job["ResourceType"]) == ("COMPLETED", "Aurora")
        assert job["RecoveryPointArn"].startswith(f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster-snapshot:awsbackup:job-")
        assert (metadata["Engine"], metadata["DatabaseName"]) == ("aurora-postgresql", "orders")
        assert (restored_job["Status"], restored_job["CreatedResourceArn"]) == ("COMPLETED", restored["DBClusterArn"])
        assert (restored["Engine"], restored["EngineVersion"], restored["MasterUsername"]) == (
            "aurora-postgresql",
            "16.6",
            "master",
        )
        # AWS Backup restores the cluster without any DB instance (D51): add one, wait until it is available.
        rds.create_db_instance(
            DBInstanceIdentifier=f"restored-{suffix}-writer",
            DBClusterIdentifier=f"restored-{suffix}",
            Engine="aurora-postgresql",
            DBInstanceClass="db.serverless",
        )
        CLOCK.advance(timedelta(minutes=aurora_instances.CREATE_MINUTES))
        assert _sql(restored, "SELECT id, item FROM orders") == [[1, "book"]]
    finally:
        with contextlib.suppress(ClientError):
            rds.delete_db_instance(DBInstanceIdentifier=f"restored-{suffix}-writer")
        for identifier in (f"orders-{suffix}", f"restored-{suffix}"):
            with contextlib.suppress(ClientError):
                rds.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)


def test_d10_a_job_polled_while_time_passes_without_a_tick_moves_on_as_on_aws(aws, vault, suffix):
    """Emulated time is wall time plus an offset: a client that polls a job while real time passes
    (the vault clean-up waiting on ``cdk destroy``, no one ticking) sees it end. ``jump`` stands for
    that passing time here: it runs nothing on the way."""
    backup = aws("backup")
    make_table(aws, f"polled-{suffix}")
    started = backup.start_backup_job(BackupVaultName=vault, ResourceArn=table_arn(f"polled-{suffix}"), IamRoleArn=ROLE)

    CLOCK.jump(timedelta(minutes=30))

    assert backup.describe_backup_job(BackupJobId=started["BackupJobId"])["State"] == "COMPLETED"
    assert len(backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]) == 1
