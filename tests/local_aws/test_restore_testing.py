"""AWS Backup restore testing: plans and selections deployed by CloudFormation, runs on the clock,
validation results and the deletion of the copies (D40-D42; Aurora copies without an instance, D51)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pg8000.native
import pytest
from botocore.exceptions import ClientError

from tests.emulator import ACCOUNT, REGION
from tools.local_aws.clock import CLOCK, Fired
from tools.local_aws.services.backup import jobs as backup_engine
from tools.local_aws.services.backup.restore_testing import COPY_PREFIX
from tools.local_aws.services.rds import aurora_instances

from .helpers import allow_events, backup_job_done, get_att, ref, template
from .test_backup_engine import ROLE, make_table, table_arn

# The plan runs this long after deployment: time enough for the tests' backup jobs to end first.
PLAN_DELAY = timedelta(minutes=30)
# After the plan runs, a DynamoDB restore job ends (PENDING, RUNNING) and its events are delivered.
RESTORE_DONE = timedelta(minutes=1 + backup_engine.RESTORE_MINUTES["DynamoDB"]) + backup_engine.DELIVERY_INTERVAL


def _cron_in(minutes: int) -> str:
    """A daily cron that falls due ``minutes`` from the emulator's now."""
    moment = CLOCK.now() + timedelta(minutes=minutes)
    return f"cron({moment.minute} {moment.hour} ? * * *)"


def _past_the_plan_run(deployed: datetime) -> list[Fired]:
    """Advance past the plan's run (``PLAN_DELAY`` after ``deployed``) and the end of its restore."""
    return CLOCK.advance(deployed + PLAN_DELAY - CLOCK.now() + RESTORE_DONE)


def _restore_testing(suffix: str, table: str, *, window_hours: int = 1, schedule: str | None = None) -> dict[str, Any]:
    plan_name = f"plan_{suffix}"
    resources = {
        "Vault": {"Type": "AWS::Backup::BackupVault", "Properties": {"BackupVaultName": f"rt-vault-{suffix}"}},
        "Plan": {
            "Type": "AWS::Backup::RestoreTestingPlan",
            "Properties": {
                "RestoreTestingPlanName": plan_name,
                "ScheduleExpression": schedule or _cron_in(2),
                "ScheduleExpressionTimezone": "Etc/UTC",
                "StartWindowHours": 1,
                "RecoveryPointSelection": {
                    "Algorithm": "LATEST_WITHIN_WINDOW",
                    "IncludeVaults": [get_att("Vault", "BackupVaultArn")],
                    "RecoveryPointTypes": ["SNAPSHOT"],
                    "SelectionWindowDays": 1,
                },
            },
        },
        "Selection": {
            "Type": "AWS::Backup::RestoreTestingSelection",
            "DependsOn": "Plan",
            "Properties": {
                "RestoreTestingPlanName": plan_name,
                "RestoreTestingSelectionName": f"table_{suffix}",
                "ProtectedResourceType": "DynamoDB",
                "ProtectedResourceArns": [table_arn(table)],
                "IamRoleArn": ROLE,
                "ValidationWindowHours": window_hours,
            },
        },
    }
    outputs = {"PlanArn": get_att("Plan", "RestoreTestingPlanArn"), "PlanName": ref("Plan"), "VaultName": ref("Vault")}
    return template(resources, outputs)


def _jobs_of(aws: Callable[[str], Any], plan_arn: str) -> list[dict[str, Any]]:
    backup = aws("backup")
    return [
        backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
        for job in backup.list_restore_jobs()["RestoreJobs"]
        if (job.get("CreatedBy") or {}).get("RestoreTestingPlanArn") == plan_arn
    ]


def _tables(aws: Callable[[str], Any]) -> set[str]:
    return set(aws("dynamodb").list_tables()["TableNames"])


@pytest.fixture
def tested_table(aws, suffix) -> str:
    name = f"rt-table-{suffix}"
    make_table(aws, name)
    aws("dynamodb").put_item(TableName=name, Item={"pk": {"S": "heartbeat"}, "sk": {"N": "1"}})
    return name


def _empty_vault(aws: Callable[[str], Any], vault: str) -> None:
    backup = aws("backup")
    for point in backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]:
        backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point["RecoveryPointArn"])


def test_d40_plan_and_selection_deploy_read_back_and_delete(cfn, aws, suffix, tested_table):
    backup = aws("backup")
    stack = cfn.deploy(_restore_testing(suffix, tested_table))
    assert stack.status == "CREATE_COMPLETE", cfn.events(stack)
    plan_name = stack.outputs["PlanName"]

    plan = backup.get_restore_testing_plan(RestoreTestingPlanName=plan_name)["RestoreTestingPlan"]
    selection = backup.get_restore_testing_selection(
        RestoreTestingPlanName=plan_name, RestoreTestingSelectionName=f"table_{suffix}"
    )["RestoreTestingSelection"]

    assert plan["RestoreTestingPlanArn"] == stack.outputs["PlanArn"]
    assert plan["RestoreTestingPlanArn"].startswith(
        f"arn:aws:backup:{REGION}:{ACCOUNT}:restore-testing-plan:{plan_name}-"
    )
    assert plan["RecoveryPointSelection"]["Algorithm"] == "LATEST_WITHIN_WINDOW"
    assert plan["StartWindowHours"] == 1
    assert plan_name in {
        p["RestoreTestingPlanName"] for p in backup.list_restore_testing_plans()["RestoreTestingPlans"]
    }
    assert (selection["ProtectedResourceArns"], selection["IamRoleArn"], selection["ValidationWindowHours"]) == (
        [table_arn(tested_table)],
        ROLE,
        1,
    )
    listed = backup.list_restore_testing_selections(RestoreTestingPlanName=plan_name)["RestoreTestingSelections"]
    assert [s["RestoreTestingSelectionName"] for s in listed] == [f"table_{suffix}"]

    assert cfn.delete(stack).status == "DELETE_COMPLETE"
    with pytest.raises(ClientError) as gone:
        backup.get_restore_testing_plan(RestoreTestingPlanName=plan_name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_d40_names_with_hyphens_are_refused_as_in_aws(aws, suffix):
    with pytest.raises(ClientError) as refused:
        aws("backup").create_restore_testing_plan(
            RestoreTestingPlan={
                "RestoreTestingPlanName": f"plan-{suffix}",
                "ScheduleExpression": "cron(0 5 ? * * *)",
                "RecoveryPointSelection": {
                    "Algorithm": "LATEST_WITHIN_WINDOW",
                    "IncludeVaults": ["*"],
                    "RecoveryPointTypes": ["SNAPSHOT"],
                },
            }
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_d41_d42_plan_restores_the_newest_point_then_validation_deletes_the_copy(cfn, aws, suffix, tested_table):
    backup, sqs, events = aws("backup"), aws("sqs"), aws("events")
    deployed = CLOCK.now()
    stack = cfn.deploy(_restore_testing(suffix, tested_table, schedule=_cron_in(PLAN_DELAY.seconds // 60)))
    plan_arn, vault = stack.outputs["PlanArn"], stack.outputs["VaultName"]
    # The validation rule as the app writes it: this plan's restore jobs, by restoreTestingPlanArn.
    queue = sqs.create_queue(QueueName=f"restore-tests-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.backup"],
        "detail-type": ["Restore Job State Change"],
        "detail": {"restoreTestingPlanArn": [plan_arn], "status": ["COMPLETED"]},
    }
    events.put_rule(Name=f"restore-tests-{suffix}", EventPattern=json.dumps(pattern))
    allow_events(aws, queue_arn)
    events.put_targets(Rule=f"restore-tests-{suffix}", Targets=[{"Id": "queue", "Arn": queue_arn}])
    older, newest = (
        backup_job_done(
            aws,
            backup.start_backup_job(BackupVaultName=vault, ResourceArn=table_arn(tested_table), IamRoleArn=ROLE)[
                "BackupJobId"
            ],
        )
        for _ in range(2)
    )
    assert older["RecoveryPointArn"] != newest["RecoveryPointArn"]
    try:
        assert _jobs_of(aws, plan_arn) == []

        fired = _past_the_plan_run(deployed)

        assert [f.error for f in fired if "restore testing plan" in f.name] == [None]
        [job] = _jobs_of(aws, plan_arn)
        assert (job["Status"], job["RecoveryPointArn"], job["CreatedBy"]) == (
            "COMPLETED",
            newest["RecoveryPointArn"],
            {"RestoreTestingPlanArn": plan_arn},
        )
        copy = job["CreatedResourceArn"].split("/")[-1]
        assert copy.startswith(COPY_PREFIX) and copy in _tables(aws)
        items = aws("dynamodb").scan(TableName=copy)["Items"]
        assert {"pk": {"S": "heartbeat"}, "sk": {"N": "1"}} in items
        [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        event = json.loads(message["Body"])
        assert (event["detail"]["restoreJobId"], event["detail"]["restoreTestingPlanArn"]) == (
            job["RestoreJobId"],
            plan_arn,
        )

        backup.put_restore_validation_result(
            RestoreJobId=job["RestoreJobId"], ValidationStatus="SUCCESSFUL", ValidationStatusMessage="heartbeat found"
        )

        validated = backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
        assert (validated["ValidationStatus"], validated["ValidationStatusMessage"]) == (
            "SUCCESSFUL",
            "heartbeat found",
        )
        assert validated["DeletionStatus"] == "SUCCESSFUL"
        assert copy not in _tables(aws)
        with pytest.raises(ClientError) as closed:
            backup.put_restore_validation_result(RestoreJobId=job["RestoreJobId"], ValidationStatus="FAILED")
        assert closed.value.response["Error"]["Code"] == "InvalidRequestException"
    finally:
        events.remove_targets(Rule=f"restore-tests-{suffix}", Ids=["queue"])
        events.delete_rule(Name=f"restore-tests-{suffix}")
        _empty_vault(aws, vault)  # the cfn fixture then deletes the stack, vault included


def test_d42_without_a_final_validation_the_copy_is_deleted_when_the_window_closes(cfn, aws, suffix, tested_table):
    backup = aws("backup")
    deployed = CLOCK.now()
    stack = cfn.deploy(
        _restore_testing(suffix, tested_table, window_hours=1, schedule=_cron_in(PLAN_DELAY.seconds // 60))
    )
    plan_arn, vault = stack.outputs["PlanArn"], stack.outputs["VaultName"]
    backup.start_backup_job(BackupVaultName=vault, ResourceArn=table_arn(tested_table), IamRoleArn=ROLE)
    try:
        _past_the_plan_run(deployed)
        [job] = _jobs_of(aws, plan_arn)
        copy = job["CreatedResourceArn"].split("/")[-1]
        backup.put_restore_validation_result(RestoreJobId=job["RestoreJobId"], ValidationStatus="VALIDATING")
        assert copy in _tables(aws)

        CLOCK.advance(timedelta(minutes=61))

        closed = backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
        assert (closed["ValidationStatus"], closed["DeletionStatus"]) == ("TIMED_OUT", "SUCCESSFUL")
        assert copy not in _tables(aws)
    finally:
        _empty_vault(aws, vault)


def test_d41_no_point_within_the_window_starts_no_restore(cfn, aws, suffix, tested_table):
    stack = cfn.deploy(_restore_testing(suffix, tested_table))

    CLOCK.advance(timedelta(minutes=3))

    assert _jobs_of(aws, stack.outputs["PlanArn"]) == []


def test_d42_validation_of_a_job_no_plan_started_is_refused(aws, suffix, tested_table):
    backup = aws("backup")
    backup.create_backup_vault(BackupVaultName=f"plain-{suffix}")
    started = backup.start_backup_job(
        BackupVaultName=f"plain-{suffix}", ResourceArn=table_arn(tested_table), IamRoleArn=ROLE
    )
    point = backup_job_done(aws, started["BackupJobId"])["RecoveryPointArn"]
    job = backup.start_restore_job(
        RecoveryPointArn=point, IamRoleArn=ROLE, Metadata={"targetTableName": f"plain-copy-{suffix}"}
    )
    try:
        with pytest.raises(ClientError) as refused:
            backup.put_restore_validation_result(RestoreJobId=job["RestoreJobId"], ValidationStatus="SUCCESSFUL")
        assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
        assert "CreatedBy" not in backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
    finally:
        _empty_vault(aws, f"plain-{suffix}")
        backup.delete_backup_vault(BackupVaultName=f"plain-{suffix}")


AURORA_PASSWORD = "restore-test-password"


@pytest.fixture
def tested_cluster(aws, suffix) -> Iterator[dict[str, Any]]:
    """An Aurora cluster holding one heartbeat row; deleted afterwards."""
    rds = aws("rds")
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=f"rt-cluster-{suffix}",
        Engine="aurora-postgresql",
        MasterUsername="master",
        MasterUserPassword=AURORA_PASSWORD,
        DatabaseName="appdb",
    )["DBCluster"]
    _sql(cluster, "CREATE TABLE dr_heartbeat AS SELECT now() AS checked_at")
    yield cluster
    rds.delete_db_cluster(DBClusterIdentifier=cluster["DBClusterIdentifier"], SkipFinalSnapshot=True)


def _sql(cluster: dict[str, Any], statement: str) -> list[list[Any]]:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = pg8000.native.Connection(
        "master",
        host=cluster["Endpoint"],
        port=cluster["Port"],
        password=AURORA_PASSWORD,
        database="appdb",
        ssl_context=context,
        timeout=5,
    )
    try:
        return connection.run(statement)
    finally:
        connection.close()


def _aurora_restore_test(cfn, aws, suffix: str, cluster: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Deploy a plan restore-testing the cluster, back it up, let the plan run: (the job, the vault)."""
    deployed = CLOCK.now()
    definition = _restore_testing(suffix, "unused", schedule=_cron_in(PLAN_DELAY.seconds // 60))
    definition["Resources"]["Selection"]["Properties"].update(
        ProtectedResourceType="Aurora", ProtectedResourceArns=[cluster["DBClusterArn"]]
    )
    stack = cfn.deploy(definition)
    vault = stack.outputs["VaultName"]
    backup = aws("backup")
    backup_job_done(
        aws,
        backup.start_backup_job(BackupVaultName=vault, ResourceArn=cluster["DBClusterArn"], IamRoleArn=ROLE)[
            "BackupJobId"
        ],
    )
    aurora_restore = timedelta(minutes=1 + backup_engine.RESTORE_MINUTES["Aurora"]) + backup_engine.DELIVERY_INTERVAL
    CLOCK.advance(deployed + PLAN_DELAY - CLOCK.now() + aurora_restore)
    [job] = [job for job in _jobs_of(aws, stack.outputs["PlanArn"]) if job["Status"] == "COMPLETED"]
    return job, vault


def _add_writer(aws, copy: str) -> str:
    """What the kit's validator does with a restored Aurora copy: add a writer, wait until it is there."""
    writer = f"{copy}-writer"
    aws("rds").create_db_instance(
        DBInstanceIdentifier=writer,
        DBClusterIdentifier=copy,
        Engine="aurora-postgresql",
        DBInstanceClass="db.serverless",
    )
    CLOCK.advance(timedelta(minutes=aurora_instances.CREATE_MINUTES))
    return writer


def test_d42_d51_an_aurora_copy_is_validated_through_a_writer_deleted_before_it(cfn, aws, suffix, tested_cluster):
    rds, backup = aws("rds"), aws("backup")
    job, vault = _aurora_restore_test(cfn, aws, suffix, tested_cluster)
    try:
        copy = job["CreatedResourceArn"].split(":")[-1]
        restored = rds.describe_db_clusters(DBClusterIdentifier=copy)["DBClusters"][0]
        assert copy.startswith(COPY_PREFIX) and restored["DBClusterMembers"] == []
        with pytest.raises(Exception):  # noqa: B017 - no instance, nothing answers on the endpoint
            _sql(restored, "SELECT 1")

        writer = _add_writer(aws, copy)
        assert _sql(restored, "SELECT count(*) FROM dr_heartbeat") == [[1]]
        rds.delete_db_instance(DBInstanceIdentifier=writer)  # deleting: Aurora may now delete the cluster
        backup.put_restore_validation_result(RestoreJobId=job["RestoreJobId"], ValidationStatus="SUCCESSFUL")

        validated = backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
        assert (validated["ValidationStatus"], validated["DeletionStatus"]) == ("SUCCESSFUL", "SUCCESSFUL")
        assert copy not in {cluster["DBClusterIdentifier"] for cluster in rds.describe_db_clusters()["DBClusters"]}
        assert writer not in {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]}
    finally:
        _empty_vault(aws, vault)


def test_d42_a_writer_left_on_the_aurora_copy_makes_its_deletion_fail(cfn, aws, suffix, tested_cluster):
    rds, backup = aws("rds"), aws("backup")
    job, vault = _aurora_restore_test(cfn, aws, suffix, tested_cluster)
    copy = job["CreatedResourceArn"].split(":")[-1]
    writer = _add_writer(aws, copy)
    try:
        backup.put_restore_validation_result(RestoreJobId=job["RestoreJobId"], ValidationStatus="SUCCESSFUL")

        validated = backup.describe_restore_job(RestoreJobId=job["RestoreJobId"])
        assert validated["DeletionStatus"] == "FAILED"
        assert "InvalidDBClusterStateFault" in validated["DeletionStatusMessage"]
        assert rds.describe_db_clusters(DBClusterIdentifier=copy)["DBClusters"]
    finally:
        rds.delete_db_instance(DBInstanceIdentifier=writer)
        rds.delete_db_cluster(DBClusterIdentifier=copy, SkipFinalSnapshot=True)
        _empty_vault(aws, vault)
