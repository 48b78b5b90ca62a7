"""Conformance: an Aurora cluster AWS Backup restores has no DB instance and answers no SQL until one
is created; instances take minutes to create and delete and RDS sends their events; a cluster with an
instance that is not deleting cannot be deleted (D50, D51)."""

from __future__ import annotations

import contextlib
import json
import ssl
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pg8000.native
import pytest
from botocore.exceptions import ClientError

from tests.emulator import ACCOUNT, REGION
from tools.local_aws.clock import CLOCK
from tools.local_aws.services.rds.aurora_instances import CREATE_MINUTES, DELETE_MINUTES

from .helpers import events_queue, ref, template
from .test_backup_engine import ROLE

PASSWORD = "restored-horse-battery"


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _sql(cluster: dict[str, Any], statement: str) -> list[list[Any]]:
    connection = pg8000.native.Connection(
        "master",
        host=cluster["Endpoint"],
        port=cluster["Port"],
        password=PASSWORD,
        database="orders",
        ssl_context=_tls(),
        timeout=5,
    )
    try:
        return connection.run(statement)
    finally:
        connection.close()


def _answers(cluster: dict[str, Any]) -> bool:
    try:
        _sql(cluster, "SELECT 1")
    except Exception:  # refused: nothing listens on the endpoint
        return False
    return True


def _until(check: Callable[[], Any], what: str, minutes: int = 30) -> Any:
    """Advance the emulator's clock a minute at a time until ``check()`` is truthy."""
    for _ in range(minutes):
        found = check()
        if found:
            return found
        CLOCK.advance(timedelta(minutes=1))
    raise AssertionError(f"{what} did not happen within {minutes} emulated minutes")


@pytest.fixture
def restored(aws: Callable[[str], Any], suffix: str) -> Iterator[dict[str, Any]]:
    """An Aurora cluster with data, backed up and restored by AWS Backup into ``copy-<suffix>``."""
    rds, backup = aws("rds"), aws("backup")
    vault, source, copy = f"aurora-vault-{suffix}", f"aurora-source-{suffix}", f"copy-{suffix}"
    backup.create_backup_vault(BackupVaultName=vault)
    described = rds.create_db_cluster(
        DBClusterIdentifier=source,
        Engine="aurora-postgresql",
        MasterUsername="master",
        MasterUserPassword=PASSWORD,
        DatabaseName="orders",
    )["DBCluster"]
    try:
        _sql(described, "CREATE TABLE orders AS SELECT 1 AS id")
        job_id = backup.start_backup_job(BackupVaultName=vault, ResourceArn=described["DBClusterArn"], IamRoleArn=ROLE)[
            "BackupJobId"
        ]
        point = _until(
            lambda: (
                (job := backup.describe_backup_job(BackupJobId=job_id))["State"] == "COMPLETED"
                and job["RecoveryPointArn"]
            ),
            "the backup job",
        )
        metadata = backup.get_recovery_point_restore_metadata(BackupVaultName=vault, RecoveryPointArn=point)[
            "RestoreMetadata"
        ]
        restore_id = backup.start_restore_job(
            RecoveryPointArn=point, IamRoleArn=ROLE, Metadata={**metadata, "DBClusterIdentifier": copy}
        )["RestoreJobId"]
        _until(lambda: backup.describe_restore_job(RestoreJobId=restore_id)["Status"] == "COMPLETED", "the restore job")
        # The copy's description, and the point's restore metadata it was restored from.
        yield {**rds.describe_db_clusters(DBClusterIdentifier=copy)["DBClusters"][0], "RestoreMetadata": metadata}
    finally:
        for instance in rds.describe_db_instances()["DBInstances"]:
            if instance.get("DBClusterIdentifier") == copy and instance["DBInstanceStatus"] != "deleting":
                rds.delete_db_instance(DBInstanceIdentifier=instance["DBInstanceIdentifier"])
        for identifier in (source, copy):
            with contextlib.suppress(ClientError):
                rds.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)
        for listed in backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]:
            backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=listed["RecoveryPointArn"])
        backup.delete_backup_vault(BackupVaultName=vault)


@pytest.fixture
def rds_events(aws: Callable[[str], Any], suffix: str) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every "RDS DB Instance Event" on the default bus, through a rule into a queue."""
    sqs, events = aws("sqs"), aws("events")
    queue, queue_arn = events_queue(aws, f"rds-events-{suffix}")
    rule = f"rds-instance-events-{suffix}"
    events.put_rule(
        Name=rule, EventPattern=json.dumps({"source": ["aws.rds"], "detail-type": ["RDS DB Instance Event"]})
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    yield received
    events.remove_targets(Rule=rule, Ids=["queue"])
    events.delete_rule(Name=rule)
    sqs.delete_queue(QueueUrl=queue)


def _writer(aws: Callable[[str], Any], cluster: str) -> dict[str, Any]:
    return aws("rds").create_db_instance(
        DBInstanceIdentifier=f"{cluster}-writer",
        DBClusterIdentifier=cluster,
        Engine="aurora-postgresql",
        DBInstanceClass="db.serverless",
    )["DBInstance"]


def _status(aws: Callable[[str], Any], instance: str) -> str:
    return str(aws("rds").describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]["DBInstanceStatus"])


def test_the_restore_metadata_names_the_port_the_cluster_was_created_with(restored):
    """AWS Backup Developer Guide, "Restoring an Amazon Aurora cluster" (the restore metadata holds
    the source cluster's settings, Port among them, as RestoreDBClusterFromSnapshot takes them),
    https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-aur.html. The emulator serves
    each cluster from a local port of its own; the metadata, and so the copy's security group rules,
    must name the port the cluster was created with (5432), or a copy restored from it is
    unreachable through the database security group."""
    assert restored["RestoreMetadata"]["Port"] == "5432"


def test_d51_a_cluster_aws_backup_restored_has_no_instance_and_answers_no_sql(restored):
    """AWS Backup Developer Guide, "Restoring an Amazon Aurora cluster",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/restoring-aur.html: "AWS Backup restores
    your Aurora cluster; it does not create or attach an Amazon RDS instance to your cluster." No
    instance, so nothing serves the cluster endpoint."""
    assert restored["DBClusterMembers"] == []
    assert not _answers(restored)


def test_d50_d51_create_db_instance_takes_minutes_then_the_copy_answers_and_rds_says_so(aws, restored, rds_events):
    """Amazon RDS API Reference, "CreateDBInstance",
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html (the instance
    is returned ``creating``); Amazon Aurora User Guide, "Amazon RDS event categories and event
    messages for Aurora",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Events.Messages.html
    (RDS-EVENT-0005, creation, "DB instance created"); Amazon EventBridge events reference, "Amazon
    Relational Database Service events", https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-rds.html
    (sent directly to EventBridge as "RDS DB Instance Event")."""
    copy = restored["DBClusterIdentifier"]
    created = _writer(aws, copy)
    assert created["DBInstanceStatus"] == "creating"

    CLOCK.advance(timedelta(minutes=CREATE_MINUTES - 1))
    assert _status(aws, f"{copy}-writer") == "creating"
    assert not _answers(restored)
    CLOCK.advance(timedelta(minutes=1))

    assert _status(aws, f"{copy}-writer") == "available"
    assert _sql(restored, "SELECT id FROM orders") == [[1]]
    [event] = [event for event in rds_events() if event["detail"]["SourceIdentifier"] == f"{copy}-writer"]
    arn = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{copy}-writer"
    assert (event["source"], event["detail-type"], event["resources"]) == ("aws.rds", "RDS DB Instance Event", [arn])
    detail = event["detail"]
    assert (detail["EventID"], detail["EventCategories"], detail["Message"]) == (
        "RDS-EVENT-0005",
        ["creation"],
        "DB instance created",
    )
    assert (detail["SourceType"], detail["SourceArn"]) == ("DB_INSTANCE", arn)


def test_d50_a_cluster_with_an_instance_that_is_not_deleting_cannot_be_deleted(aws, restored, rds_events):
    """Amazon Aurora User Guide, "Deleting Aurora DB clusters and DB instances",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_DeleteCluster.html (the DB
    instances go first; DeleteDBCluster answers InvalidDBClusterStateFault, "Cluster cannot be deleted,
    it still contains DB instances in non-deleting state"); RDS-EVENT-0003, deletion, "DB instance
    deleted" (Aurora User Guide, USER_Events.Messages.html)."""
    rds, copy = aws("rds"), restored["DBClusterIdentifier"]
    _writer(aws, copy)
    CLOCK.advance(timedelta(minutes=CREATE_MINUTES))

    with pytest.raises(ClientError) as refused:
        rds.delete_db_cluster(DBClusterIdentifier=copy, SkipFinalSnapshot=True)
    assert refused.value.response["Error"]["Code"] == "InvalidDBClusterStateFault"
    assert "non-deleting state" in refused.value.response["Error"]["Message"]

    deleting = rds.delete_db_instance(DBInstanceIdentifier=f"{copy}-writer")["DBInstance"]
    assert deleting["DBInstanceStatus"] == "deleting"
    assert not _answers(restored)  # the copy's only instance is going
    with pytest.raises(ClientError, match="InvalidDBInstanceState"):
        rds.delete_db_instance(DBInstanceIdentifier=f"{copy}-writer")
    CLOCK.advance(timedelta(minutes=DELETE_MINUTES))

    with pytest.raises(ClientError, match="DBInstanceNotFound"):
        rds.describe_db_instances(DBInstanceIdentifier=f"{copy}-writer")
    assert [
        event["detail"]["EventID"] for event in rds_events() if event["detail"]["SourceIdentifier"] == f"{copy}-writer"
    ] == [
        "RDS-EVENT-0005",
        "RDS-EVENT-0003",
    ]
    rds.delete_db_cluster(DBClusterIdentifier=copy, SkipFinalSnapshot=True)


def test_d50_a_cluster_whose_instances_are_all_deleting_can_be_deleted(aws, restored):
    """Amazon Aurora User Guide, "Deleting Aurora DB clusters and DB instances",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_DeleteCluster.html: only
    instances "in non-deleting state" stop DeleteDBCluster."""
    rds, copy = aws("rds"), restored["DBClusterIdentifier"]
    _writer(aws, copy)
    CLOCK.advance(timedelta(minutes=CREATE_MINUTES))
    rds.delete_db_instance(DBInstanceIdentifier=f"{copy}-writer")

    rds.delete_db_cluster(DBClusterIdentifier=copy, SkipFinalSnapshot=True)

    assert copy not in {cluster["DBClusterIdentifier"] for cluster in rds.describe_db_clusters()["DBClusters"]}
    assert f"{copy}-writer" not in {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]}


def test_d50_instances_of_a_cloudformation_cluster_are_there_when_the_stack_is(aws, cfn):
    """AWS CloudFormation User Guide, "AWS::RDS::DBInstance",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-rds-dbinstance.html:
    the resource is complete when the instance is available, so a deployed stack's instances are."""
    stack = cfn.deploy(
        template(
            {
                "Cluster": {
                    "Type": "AWS::RDS::DBCluster",
                    "Properties": {
                        "Engine": "aurora-postgresql",
                        "MasterUsername": "master",
                        "MasterUserPassword": PASSWORD,
                        "DatabaseName": "orders",
                    },
                },
                "Writer": {
                    "Type": "AWS::RDS::DBInstance",
                    "Properties": {
                        "DBClusterIdentifier": ref("Cluster"),
                        "Engine": "aurora-postgresql",
                        "DBInstanceClass": "db.serverless",
                        "DBInstanceIdentifier": f"cfn-writer-{uuid.uuid4().hex[:6]}",
                    },
                },
            },
            {"Writer": ref("Writer")},
        )
    )
    assert stack.status == "CREATE_COMPLETE"
    assert _status(aws, stack.outputs["Writer"]) == "available"
    assert cfn.delete(stack).status == "DELETE_COMPLETE"


def test_d50_the_instance_answers_when_rds_says_it_was_created(aws, restored, monkeypatch):
    """RDS-EVENT-0005 "DB instance created" (Aurora User Guide, USER_Events.Messages.html) means the
    instance is usable: a consumer may connect the moment it arrives (the kit's restore validator
    does). EventBridge delivers on the emulator at once, so the server must be up before the event."""
    from tools.local_aws.services.rds import aurora_instances

    answered_at_event: list[bool] = []
    emit = aurora_instances._emit

    def observed(instance: Any, what: tuple[str, str, str]) -> None:
        answered_at_event.append(_answers(restored))
        emit(instance, what)

    monkeypatch.setattr(aurora_instances, "_emit", observed)
    _writer(aws, restored["DBClusterIdentifier"])
    CLOCK.advance(timedelta(minutes=CREATE_MINUTES))
    assert answered_at_event == [True]
