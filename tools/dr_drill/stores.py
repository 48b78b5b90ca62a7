"""The three stores the kit protects, one class each: how to restore one into a temporary copy, make
the copy usable, find the canary's newest heartbeat in it, and delete it.

A copy is named ``drill-<store>-<suffix>-<run id>``. Restores from a recovery point go through AWS
Backup (StartRestoreJob with the point's own restore metadata, only the new name changed); restores to
a point in time use the service's own PITR. Every copy is registered in the ledger before the request
that creates it, so an interrupted drill can remove it.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from lib import output_keys as keys
from lib.config import DEFAULT_PROFILE, HEARTBEAT_OBJECT_KEY, PROFILES, REGION

from . import database
from .cleanup import Created, Ledger
from .errors import Busy, SetupError, StepFailed, error_code
from .recovery_points import RecoveryPoint
from .target import Target
from .waiting import Steps, Wait

HEARTBEAT_PARTITION = "heartbeat"  # the canary's DynamoDB partition key (health_check handler)
ACTIVE_RESTORE_STATES = ("CREATED", "PENDING", "RUNNING")
# DescribeDBClusters / DescribeDBInstances states from which a copy never becomes available.
RDS_DEAD_STATES = frozenset(
    {"failed", "inaccessible-encryption-credentials", "incompatible-parameters", "incompatible-restore", "stopped"}
)
# A restored Aurora cluster has no instance: the drill adds a Serverless v2 writer like the stack's.
COPY_INSTANCE_CLASS = "db.serverless"
S3_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


@dataclass(frozen=True)
class Request:
    """The call that starts a recovery: a dry run prints it, a drill sends it."""

    service: str
    operation: str
    arguments: dict[str, Any]

    def __str__(self) -> str:
        body = json.dumps(self.arguments, indent=2, default=_printable, sort_keys=True)
        return f"{self.service} {self.operation} " + body.replace("\n", "\n    ")

    def send(self, target: Target) -> dict[str, Any]:
        return dict(getattr(target.client(self.service), self.operation)(**self.arguments))


def _printable(value: Any) -> str:
    """A code package is shown by its size, not its bytes; times in ISO 8601."""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value.isoformat() if isinstance(value, datetime) else str(value)


def parse_time(text: str, where: str) -> datetime:
    """An ISO 8601 time the canary wrote; naive times are UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise StepFailed(f"the heartbeat in {where} has no readable time ({text!r})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Store(ABC):
    """One kind of protected store, in one deployment."""

    key: ClassVar[str]  # its name on the command line and in reports
    backup_type: ClassVar[str]  # AWS Backup's ResourceType
    kind: ClassVar[str]  # what a copy is, for people
    output_key: ClassVar[str]  # the stack output naming the source
    arn_pattern: ClassVar[re.Pattern[str]]
    has_point_in_time: ClassVar[bool] = True

    def __init__(self, target: Target, ledger: Ledger):
        self.target = target
        self.ledger = ledger

    @classmethod
    def protects(cls, resource_arn: str) -> bool:
        return cls.arn_pattern.match(resource_arn) is not None

    @property
    def source(self) -> str:
        return self.target.output(self.output_key)

    @abstractmethod
    def resource_arn(self) -> str:
        """The ARN AWS Backup knows the source by (built, so the source need not exist any more)."""

    def copy_name(self, run_id: str) -> str:
        return f"drill-{self.key}-{self.target.suffix}-{run_id}"

    @abstractmethod
    def copy_metadata(self, copy: str) -> dict[str, str]:
        """Restore metadata that makes AWS Backup create ``copy`` beside the source."""

    def from_recovery_point(self, point: RecoveryPoint, copy: str) -> Request:
        """StartRestoreJob with the point's own restore metadata, only the new resource's name changed."""
        metadata = self.target.client("backup").get_recovery_point_restore_metadata(
            BackupVaultName=point.vault, RecoveryPointArn=point.arn
        )["RestoreMetadata"]
        return Request(
            "backup",
            "start_restore_job",
            {
                "RecoveryPointArn": point.arn,
                "IamRoleArn": self.target.output(keys.BACKUP_ROLE_ARN),
                "ResourceType": self.backup_type,
                "Metadata": {**metadata, **self.copy_metadata(copy)},
            },
        )

    @abstractmethod
    def to_point_in_time(self, when: datetime, copy: str) -> Request:
        """The service's own point-in-time restore of the source into ``copy``."""

    @abstractmethod
    def next_steps(self, copy: str) -> list[str]:
        """What follows the request, in words (printed by a dry run)."""

    def recover(self, request: Request, copy: str) -> Steps:
        """Send ``request`` and wait until ``copy`` can be used."""
        job: dict[str, str] = {}
        self.ledger.add(Created(self.kind, copy, lambda: self._delete_copy(request, job, copy), self.delete_with(copy)))
        answer = request.send(self.target)
        if "RestoreJobId" in answer:
            job["id"] = answer["RestoreJobId"]
            yield Wait(f"restore job {job['id']}", lambda: self._restore_job(job["id"]))
        yield from self.until_usable(copy)

    def until_usable(self, copy: str) -> Steps:
        """Waits after the restore until the copy answers requests (nothing by default)."""
        yield from ()

    @abstractmethod
    def newest_heartbeat(self, copy: str) -> datetime:
        """When the canary's newest heartbeat in ``copy`` was written; StepFailed if there is none."""

    @abstractmethod
    def copy_details(self, copy: str) -> str:
        """Where the copy answers, for an operator who keeps it."""

    @abstractmethod
    def delete(self, copy: str) -> None:
        """Delete ``copy``; nothing if it does not exist; Busy while it cannot be deleted yet."""

    @abstractmethod
    def delete_with(self, copy: str) -> str:
        """The command that deletes ``copy`` by hand."""

    def _restore_job(self, job_id: str) -> tuple[str, bool]:
        job = self.target.client("backup").describe_restore_job(RestoreJobId=job_id)
        status = str(job["Status"])
        if status in ("FAILED", "ABORTED"):
            raise StepFailed(f"restore job {job_id} {status}: {job.get('StatusMessage') or 'no reason given'}")
        return status, status == "COMPLETED"

    def _delete_copy(self, request: Request, job: dict[str, str], copy: str) -> None:
        """A copy whose restore job still runs would appear after its deletion: wait for the job first.
        Without a job id (interrupted during StartRestoreJob) every running restore of the point counts."""
        if request.operation == "start_restore_job":
            backup = self.target.client("backup")
            if "id" in job:
                jobs = [backup.describe_restore_job(RestoreJobId=job["id"])]
            else:
                pages = backup.get_paginator("list_restore_jobs").paginate()
                point = request.arguments["RecoveryPointArn"]
                jobs = [j for page in pages for j in page["RestoreJobs"] if j["RecoveryPointArn"] == point]
            for running in jobs:
                if running["Status"] in ACTIVE_RESTORE_STATES:
                    raise Busy(f"restore job {running['RestoreJobId']} is still {running['Status']}")
        self.delete(copy)


class DynamoDBTable(Store):
    key = "dynamodb"
    backup_type = "DynamoDB"
    kind = "DynamoDB table"
    output_key = keys.TABLE_NAME
    arn_pattern = re.compile(r"^arn:aws[\w-]*:dynamodb:[^:]+:\d{12}:table/[^/]+$")

    def resource_arn(self) -> str:
        return f"arn:aws:dynamodb:{REGION}:{self.target.account_id}:table/{self.source}"

    def copy_metadata(self, copy: str) -> dict[str, str]:
        return {"targetTableName": copy}

    def to_point_in_time(self, when: datetime, copy: str) -> Request:
        return Request(
            "dynamodb",
            "restore_table_to_point_in_time",
            {"SourceTableName": self.source, "TargetTableName": copy, "RestoreDateTime": when},
        )

    def next_steps(self, copy: str) -> list[str]:
        return [
            f"wait until table {copy} is ACTIVE",
            f"query its newest heartbeat (pk = {HEARTBEAT_PARTITION!r}, highest sk)",
            f"delete table {copy}",
        ]

    def until_usable(self, copy: str) -> Steps:
        yield Wait(f"table {copy}", lambda: self._status(copy))

    def _status(self, copy: str) -> tuple[str, bool]:
        status = str(self.target.client("dynamodb").describe_table(TableName=copy)["Table"]["TableStatus"])
        return status, status == "ACTIVE"

    def newest_heartbeat(self, copy: str) -> datetime:
        items = self.target.client("dynamodb").query(
            TableName=copy,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": HEARTBEAT_PARTITION}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        if not items:
            raise StepFailed(f"table {copy} holds no heartbeat (no item with pk = {HEARTBEAT_PARTITION!r})")
        return parse_time(items[0].get("checked_at", items[0]["sk"])["S"], f"table {copy}")

    def copy_details(self, copy: str) -> str:
        return str(self.target.client("dynamodb").describe_table(TableName=copy)["Table"]["TableArn"])

    def delete(self, copy: str) -> None:
        try:
            self.target.client("dynamodb").delete_table(TableName=copy)
        except ClientError as error:
            if error_code(error) == "ResourceInUseException":
                raise Busy("the table is not ACTIVE yet") from None
            if error_code(error) != "ResourceNotFoundException":
                raise

    def delete_with(self, copy: str) -> str:
        return f"aws dynamodb delete-table --table-name {copy}"


class S3Bucket(Store):
    key = "s3"
    backup_type = "S3"
    kind = "S3 bucket"
    output_key = keys.BUCKET_NAME
    arn_pattern = re.compile(r"^arn:aws[\w-]*:s3:::[^/]+$")
    has_point_in_time = False

    def resource_arn(self) -> str:
        return f"arn:aws:s3:::{self.source}"

    def copy_metadata(self, copy: str) -> dict[str, str]:
        return {"DestinationBucketName": copy, "NewBucket": "true"}

    def to_point_in_time(self, when: datetime, copy: str) -> Request:
        raise SetupError(
            "S3 has no point-in-time restore in this kit; restore the bucket from its newest recovery point "
            "(leave out --point-in-time) or restore earlier object versions."
        )

    def next_steps(self, copy: str) -> list[str]:
        return [f"read s3://{copy}/{HEARTBEAT_OBJECT_KEY}", f"delete every object version in {copy}, then the bucket"]

    def newest_heartbeat(self, copy: str) -> datetime:
        try:
            body = self.target.client("s3").get_object(Bucket=copy, Key=HEARTBEAT_OBJECT_KEY)["Body"].read()
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404"):
                raise StepFailed(f"bucket {copy} holds no {HEARTBEAT_OBJECT_KEY}") from None
            raise
        try:
            checked_at = json.loads(body)["checked_at"]
        except (ValueError, KeyError, TypeError):
            raise StepFailed(f"s3://{copy}/{HEARTBEAT_OBJECT_KEY} is not a heartbeat (no checked_at)") from None
        return parse_time(str(checked_at), f"bucket {copy}")

    def copy_details(self, copy: str) -> str:
        return f"s3://{copy}"

    def delete(self, copy: str) -> None:
        """A restored bucket is versioned like its source: every version and delete marker goes first."""
        s3 = self.target.client("s3")
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=copy):
                entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
                objects = [{"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in entries]
                for start in range(0, len(objects), S3_DELETE_BATCH):
                    batch = objects[start : start + S3_DELETE_BATCH]
                    s3.delete_objects(Bucket=copy, Delete={"Objects": batch, "Quiet": True})
            s3.delete_bucket(Bucket=copy)
        except ClientError as error:
            if error_code(error) != "NoSuchBucket":
                raise

    def delete_with(self, copy: str) -> str:
        return f"empty every object version of {copy} (console: Empty), then aws s3api delete-bucket --bucket {copy}"


class AuroraCluster(Store):
    key = "aurora"
    backup_type = "Aurora"
    kind = "Aurora cluster"
    output_key = keys.AURORA_CLUSTER_IDENTIFIER
    arn_pattern = re.compile(r"^arn:aws[\w-]*:rds:[^:]+:\d{12}:cluster:[^:/]+$")

    def resource_arn(self) -> str:
        return f"arn:aws:rds:{REGION}:{self.target.account_id}:cluster:{self.source}"

    def copy_metadata(self, copy: str) -> dict[str, str]:
        return {"DBClusterIdentifier": copy}

    def to_point_in_time(self, when: datetime, copy: str) -> Request:
        """Into the source's subnet group, security groups, parameter group and key: the copy must be
        reachable and behave like the source (TLS forced)."""
        source = self._cluster(self.source)
        arguments: dict[str, Any] = {
            "SourceDBClusterIdentifier": self.source,
            "DBClusterIdentifier": copy,
            "RestoreToTime": when,
            "VpcSecurityGroupIds": [group["VpcSecurityGroupId"] for group in source.get("VpcSecurityGroups", [])],
        }
        for argument, attribute in (
            ("DBSubnetGroupName", "DBSubnetGroup"),
            ("DBClusterParameterGroupName", "DBClusterParameterGroup"),
            ("KmsKeyId", "KmsKeyId"),
            ("ServerlessV2ScalingConfiguration", "ServerlessV2ScalingConfiguration"),
        ):
            if source.get(attribute):
                arguments[argument] = source[attribute]
        return Request("rds", "restore_db_cluster_to_point_in_time", arguments)

    def next_steps(self, copy: str) -> list[str]:
        return [
            f"wait until cluster {copy} is available",
            f"if it has no instance (a restored cluster never has one): create {self._instance(copy)} "
            f"({COPY_INSTANCE_CLASS}) and wait until it is available",
            f"over TLS at its endpoint: {database.HEARTBEAT_QUERY}",
            f"delete {self._instance(copy)}, then cluster {copy} (SkipFinalSnapshot)",
        ]

    def until_usable(self, copy: str) -> Steps:
        yield Wait(f"cluster {copy}", lambda: self._cluster_status(copy))
        cluster = self._cluster(copy)
        if cluster.get("DBClusterMembers"):
            return
        rds = self.target.client("rds")
        if not cluster.get("ServerlessV2ScalingConfiguration"):
            rds.modify_db_cluster(
                DBClusterIdentifier=copy, ServerlessV2ScalingConfiguration=self._scaling(), ApplyImmediately=True
            )
            yield Wait(f"cluster {copy}", lambda: self._cluster_status(copy))
        instance = self._instance(copy)
        self.ledger.add(
            Created(
                "Aurora instance",
                instance,
                lambda: self._delete_instance(instance),
                f"aws rds delete-db-instance --db-instance-identifier {instance} --skip-final-snapshot",
            )
        )
        rds.create_db_instance(
            DBInstanceIdentifier=instance,
            DBClusterIdentifier=copy,
            Engine=cluster["Engine"],
            DBInstanceClass=COPY_INSTANCE_CLASS,
        )
        yield Wait(f"instance {instance}", lambda: self._instance_status(instance))

    def newest_heartbeat(self, copy: str) -> datetime:
        cluster = self._cluster(copy)
        return database.newest_heartbeat(cluster["Endpoint"], int(cluster["Port"]), database.master_login(self.target))

    def copy_details(self, copy: str) -> str:
        cluster = self._cluster(copy)
        return f"writer endpoint {cluster['Endpoint']}:{cluster['Port']}"

    def delete(self, copy: str) -> None:
        try:
            self.target.client("rds").delete_db_cluster(DBClusterIdentifier=copy, SkipFinalSnapshot=True)
        except ClientError as error:
            if error_code(error) == "InvalidDBClusterStateFault":
                raise Busy(
                    f"the cluster cannot be deleted yet ({error.response['Error'].get('Message', '')})"
                ) from None
            if error_code(error) != "DBClusterNotFoundFault":
                raise

    def delete_with(self, copy: str) -> str:
        return f"aws rds delete-db-cluster --db-cluster-identifier {copy} --skip-final-snapshot"

    @staticmethod
    def _instance(copy: str) -> str:
        return f"{copy}-writer"

    def _cluster(self, identifier: str) -> dict[str, Any]:
        return dict(self.target.client("rds").describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0])

    def _cluster_status(self, identifier: str) -> tuple[str, bool]:
        return _rds_status(str(self._cluster(identifier)["Status"]), f"cluster {identifier}")

    def _instance_status(self, identifier: str) -> tuple[str, bool]:
        instance = self.target.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        return _rds_status(str(instance["DBInstanceStatus"]), f"instance {identifier}")

    def _scaling(self) -> dict[str, float]:
        """The source's Serverless v2 capacity; the default profile's when the source is gone."""
        try:
            scaling = self._cluster(self.source).get("ServerlessV2ScalingConfiguration")
        except ClientError:
            scaling = None
        return (
            dict(scaling)
            if scaling
            else {
                "MinCapacity": PROFILES[DEFAULT_PROFILE].aurora_min_capacity,
                "MaxCapacity": PROFILES[DEFAULT_PROFILE].aurora_max_capacity,
            }
        )

    def _delete_instance(self, identifier: str) -> None:
        try:
            self.target.client("rds").delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)
        except ClientError as error:
            if error_code(error) == "InvalidDBInstanceState":
                raise Busy("the instance cannot be deleted yet") from None
            if error_code(error) not in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
                raise


def _rds_status(status: str, what: str) -> tuple[str, bool]:
    if status in RDS_DEAD_STATES:
        raise StepFailed(f"{what} is {status}")
    return status, status == "available"


STORES: dict[str, type[Store]] = {store.key: store for store in (AuroraCluster, DynamoDBTable, S3Bucket)}


def store_of(resource_arn: str) -> str | None:
    """The store key of a protected resource's ARN, or None for a kind the drill does not restore."""
    return next((key for key, store in STORES.items() if store.protects(resource_arn)), None)
