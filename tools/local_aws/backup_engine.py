"""AWS Backup's data plane: backup jobs, recovery points and restore jobs.

moto stores backup vaults and plans but never backs anything up. Here a backup job copies a
resource's data into a recovery point and a restore job creates a new resource from it:

- DynamoDB tables: every item, with the key schema, attribute definitions, billing mode,
  throughput, secondary indexes and encryption, so a restore recreates the table;
- S3 buckets: every object version and delete marker, with metadata, content type and storage
  class, and the bucket's versioning and default encryption. A restore writes the latest version of
  each object whose latest version is not a delete marker -- AWS Backup "restores only the latest
  version from the version stack" -- and never overwrites an object the destination already has;
- Aurora clusters: a ``pg_dump`` of the cluster's PostgreSQL (``postgres.server_for``) and the
  cluster's configuration; a restore creates a new cluster through moto's RDS backend (which starts
  its server) and loads the dump into it.

Jobs run synchronously in the thread that starts them (the API request, or the clock's advance for
a plan's rule), so the emulator stays deterministic: StartBackupJob returns once the recovery point
exists. Each state change is sent to EventBridge as AWS Backup sends it (source ``aws.backup``).

Payloads live on disk, one directory per recovery point under ``<state dir>/backup/``: an hourly
plan keeps days of copies of every table and bucket, which would otherwise sit in the server's
memory next to the originals, and Aurora dumps are files anyway. A directory is removed with its
recovery point; the directories of a server that stopped reference nothing and can be removed.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from moto.backup.exceptions import (
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from moto.backup.models import BackupBackend, Plan, Vault, backup_backends
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.events.models import events_backends
from moto.moto_api._internal import mock_random
from moto.rds.models import rds_backends
from moto.s3.models import FakeDeleteMarker, FakeKey, s3_backends
from moto.utilities.utils import get_partition

from lib import schedules

from . import metrics
from .clock import CLOCK, Due
from .server import state_dir

logger = logging.getLogger(__name__)

PLAN_ORDER = 20  # a plan's rule runs after scheduled EventBridge rules (10) at the same instant
RETENTION_ORDER = 21  # expired recovery points go right after the backups of that instant
DEFAULT_START_WINDOW_MINUTES = 480  # AWS Backup's default for StartBackupJob
DEFAULT_MAX_RESULTS = 1000
ACTIVE_JOB_STATES = ("CREATED", "PENDING", "RUNNING")
EVENT_SOURCE = "aws.backup"


class BackupFailure(Exception):
    """A job cannot finish; the message is the job's StatusMessage."""


def payload_root() -> Path:
    return state_dir() / "backup"


def now() -> datetime:
    return CLOCK.now()


def event_time(moment: datetime) -> str:
    """A date as AWS Backup writes it in events: ``2020-07-15T21:40:31.207Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def emit(account_id: str, region: str, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
    """Send one AWS Backup event to the region's default event bus (rules route it to targets)."""
    entry = {
        "Source": EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "Resources": resources,
        "Time": now().timestamp(),
    }
    failed = [answer for answer in events_backends[account_id][region].put_events([entry]) if "ErrorCode" in answer]
    if failed:
        logger.warning("EventBridge refused the %s event: %s", detail_type, failed)


# --- resources: what a backup copies and what a restore creates -------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What backing up one resource wrote into the recovery point's directory."""

    size: int
    restore_metadata: dict[str, str]


class ResourceKind:
    """One type of resource AWS Backup protects; subclasses know how to copy and recreate it."""

    resource_type: ClassVar[str]
    arn_pattern: ClassVar[re.Pattern[str]]

    def __init__(self, account_id: str, region: str):
        self.account_id = account_id
        self.region = region

    @classmethod
    def name_in(cls, arn: str) -> str | None:
        match = cls.arn_pattern.match(arn)
        return match.group("name") if match else None

    def back_up(self, name: str, directory: Path) -> Snapshot:
        """Copy the resource called ``name`` into ``directory``; BackupFailure if it is missing."""
        raise NotImplementedError

    def restore(self, directory: Path, metadata: dict[str, str]) -> str:
        """Create the new resource from the payload in ``directory``; returns its ARN."""
        raise NotImplementedError


def _write_json(path: Path, value: Any) -> int:
    text = json.dumps(value)
    path.write_text(text)
    return len(text.encode())


def _required(metadata: dict[str, str], key: str) -> str:
    value = metadata.get(key, "").strip()
    if not value:
        raise BackupFailure(f"The restore metadata must name the new resource in {key!r}.")
    return value


class DynamoDBTables(ResourceKind):
    """A table's items (DynamoDB JSON, one per line) and the settings CreateTable needs."""

    resource_type = "DynamoDB"
    arn_pattern = re.compile(r"^arn:aws[\w-]*:dynamodb:[^:]+:\d{12}:table/(?P<name>[^/]+)$")

    def _backend(self) -> Any:
        return dynamodb_backends[self.account_id][self.region]

    def back_up(self, name: str, directory: Path) -> Snapshot:
        table: Table | None = self._backend().tables.get(name)
        if table is None:
            raise BackupFailure(f"Table {name} was not found.")
        throughput = {key: value for key, value in table.throughput.items() if key != "NumberOfDecreasesToday"}
        settings = {
            "TableName": table.name,
            "KeySchema": table.schema,
            "AttributeDefinitions": table.attr,
            "BillingMode": table.billing_mode,
            "ProvisionedThroughput": throughput,
            "GlobalSecondaryIndexes": [
                {
                    key: index.describe()[key]
                    for key in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
                }
                for index in table.global_indexes
            ],
            "LocalSecondaryIndexes": [index.describe() for index in table.indexes],
            "SSESpecification": table.sse_specification,
        }
        size = _write_json(directory / "table.json", settings)
        with (directory / "items.jsonl").open("w") as items:
            for item in table.all_items():
                line = dynamo_json_dump(item.to_json()["Attributes"]) + "\n"
                items.write(line)
                size += len(line.encode())
        return Snapshot(size, {"targetTableName": table.name})

    def restore(self, directory: Path, metadata: dict[str, str]) -> str:
        settings = json.loads((directory / "table.json").read_text())
        name = _required(metadata, "targetTableName")
        backend = self._backend()
        if name in backend.tables:
            raise BackupFailure(f"Table already exists: {name}")
        table = backend.create_table(
            name,
            schema=settings["KeySchema"],
            throughput=settings["ProvisionedThroughput"] if settings["BillingMode"] != "PAY_PER_REQUEST" else None,
            attr=settings["AttributeDefinitions"],
            global_indexes=settings["GlobalSecondaryIndexes"],
            indexes=settings["LocalSecondaryIndexes"],
            streams=None,
            billing_mode=settings["BillingMode"],
            sse_specification=settings["SSESpecification"],
            tags=[],
            deletion_protection_enabled=False,
            warm_throughput=None,
        )
        with (directory / "items.jsonl").open() as items:
            for line in items:
                table.put_item(json.loads(line))
        return str(table.table_arn)


class S3Buckets(ResourceKind):
    """Every version of every object (bodies as files, a manifest in version order) and the
    bucket's versioning and default encryption."""

    resource_type = "S3"
    arn_pattern = re.compile(r"^arn:aws[\w-]*:s3:::(?P<name>[^/]+)$")

    def _backend(self) -> Any:
        return s3_backends[self.account_id][get_partition(self.region)]

    def back_up(self, name: str, directory: Path) -> Snapshot:
        bucket = self._backend().buckets.get(name)
        if bucket is None:
            raise BackupFailure(f"Bucket {name} was not found.")
        versions: list[dict[str, Any]] = []
        size = 0
        for key_name, stack in bucket.keys.lists():
            for version in stack:
                entry: dict[str, Any] = {"Key": key_name, "VersionId": version.version_id}
                if isinstance(version, FakeDeleteMarker):
                    versions.append({**entry, "DeleteMarker": True})
                    continue
                body = f"{len(versions)}.bin"
                value = version.value
                (directory / body).write_bytes(value)
                size += len(value)
                versions.append(
                    {
                        **entry,
                        "Body": body,
                        "Metadata": dict(version.metadata),
                        "StorageClass": version.storage_class,
                        "Encryption": version.encryption,
                        "KmsKeyId": version.kms_key_id,
                        "BucketKeyEnabled": version.bucket_key_enabled,
                    }
                )
        settings = {"Versioning": bucket.versioning_status, "Encryption": bucket.encryption, "Versions": versions}
        size += _write_json(directory / "bucket.json", settings)
        return Snapshot(size, {"DestinationBucketName": name, "NewBucket": "false"})

    def restore(self, directory: Path, metadata: dict[str, str]) -> str:
        settings = json.loads((directory / "bucket.json").read_text())
        name = _required(metadata, "DestinationBucketName")
        backend = self._backend()
        if metadata.get("NewBucket", "false").lower() == "true":
            if name in s3_backends.bucket_accounts:
                raise BackupFailure(f"Bucket {name} already exists; restore into it with NewBucket=false.")
            backend.create_bucket(name, self.region)
            if settings["Versioning"]:
                backend.put_bucket_versioning(name, settings["Versioning"])
            if settings["Encryption"]:
                backend.put_bucket_encryption(name, settings["Encryption"])
        elif name not in backend.buckets:
            raise BackupFailure(f"Bucket {name} does not exist; create it or restore with NewBucket=true.")
        bucket = backend.buckets[name]
        latest: dict[str, dict[str, Any]] = {}
        for version in settings["Versions"]:
            latest[version["Key"]] = version  # versions are listed oldest first
        for key_name, version in latest.items():
            if version.get("DeleteMarker") or bucket.keys.get(key_name) is not None:
                continue
            self._put(name, key_name, version, (directory / version["Body"]).read_bytes(), metadata)
        return f"arn:{get_partition(self.region)}:s3:::{name}"

    def _put(self, bucket: str, key_name: str, version: dict[str, Any], body: bytes, metadata: dict[str, str]) -> None:
        """Write one object as AWS Backup does: S3 Standard, the original encryption unless the
        restore asks for SSE-S3 or SSE-KMS (``EncryptionType``, ``KMSKey``)."""
        encryption, kms_key = version["Encryption"], version["KmsKeyId"]
        requested = metadata.get("EncryptionType", "ORIGINAL").upper()
        if requested == "SSE-S3":
            encryption, kms_key = "AES256", None
        elif requested == "SSE-KMS":
            encryption, kms_key = "aws:kms", metadata.get("KMSKey") or kms_key
        key: FakeKey = self._backend().put_object(
            bucket,
            key_name,
            body,
            storage="STANDARD",
            encryption=encryption,
            kms_key_id=kms_key,
            bucket_key_enabled=version["BucketKeyEnabled"],
            disable_notification=True,
        )
        key.set_metadata(dict(version["Metadata"]))


# RestoreDBClusterFromSnapshot's parameters that a restore takes from the metadata: the DBCluster
# attribute a backup reads each from, and the create_db_cluster argument a restore passes it as.
AURORA_SETTINGS = {
    "Engine": ("engine", "engine"),
    "EngineVersion": ("engine_version", "engine_version"),
    "EngineMode": ("engine_mode", "engine_mode"),
    "Port": ("port", "port"),
    "DatabaseName": ("database_name", "database_name"),
    "DBSubnetGroupName": ("db_subnet_group_name", "db_subnet_group_name"),
    "VpcSecurityGroupIds": ("vpc_security_group_ids", "vpc_security_group_ids"),
    "DBClusterParameterGroupName": ("parameter_group", "db_cluster_parameter_group_name"),
    "AvailabilityZones": ("availability_zones", "availability_zones"),
    "KmsKeyId": ("kms_key_id", "kms_key_id"),
    "StorageEncrypted": ("storage_encrypted", "storage_encrypted"),
    "EnableIAMDatabaseAuthentication": ("iam_auth", "enable_iam_database_authentication"),
    "CopyTagsToSnapshot": ("copy_tags_to_snapshot", "copy_tags_to_snapshot"),
}
AURORA_LISTS = ("VpcSecurityGroupIds", "AvailabilityZones")
AURORA_NUMBERS = ("Port",)
AURORA_FLAGS = ("StorageEncrypted", "EnableIAMDatabaseAuthentication", "CopyTagsToSnapshot")


class AuroraClusters(ResourceKind):
    """The cluster's database as a ``pg_dump`` and its configuration (restore metadata in the
    shape of RestoreDBClusterFromSnapshot's parameters, as strings)."""

    resource_type = "Aurora"
    arn_pattern = re.compile(r"^arn:aws[\w-]*:rds:[^:]+:\d{12}:cluster:(?P<name>[^:/]+)$")

    def _backend(self) -> Any:
        return rds_backends[self.account_id][self.region]

    def back_up(self, name: str, directory: Path) -> Snapshot:
        from . import postgres

        cluster = self._backend().clusters.get(name)
        if cluster is None:
            raise BackupFailure(f"DB cluster {name} was not found.")
        try:
            server = postgres.server_for(cluster.db_cluster_identifier)
        except KeyError:
            raise BackupFailure(f"DB cluster {name} has no database server to back up.") from None
        size = server.dump(directory / "database.dump")
        metadata = {"DBClusterIdentifier": cluster.db_cluster_identifier}
        for key, (attribute, _) in AURORA_SETTINGS.items():
            value = getattr(cluster, attribute, None)
            if value is None:
                continue
            if key in AURORA_LISTS:
                metadata[key] = json.dumps(list(value))
            elif key in AURORA_FLAGS:
                metadata[key] = "true" if value else "false"
            else:
                metadata[key] = str(value)
        credentials = {"MasterUsername": server.username, "MasterUserPassword": server.password}
        size += _write_json(directory / "cluster.json", {"Metadata": metadata, "Credentials": credentials})
        return Snapshot(size, metadata)

    def restore(self, directory: Path, metadata: dict[str, str]) -> str:
        from . import postgres

        saved = json.loads((directory / "cluster.json").read_text())
        settings = {**saved["Metadata"], **metadata}
        name = _required(metadata, "DBClusterIdentifier").lower()
        backend = self._backend()
        if name in backend.clusters:
            raise BackupFailure(f"DBClusterAlreadyExistsFault: DB Cluster {name} already exists")
        arguments: dict[str, Any] = {
            "db_cluster_identifier": name,
            "master_username": saved["Credentials"]["MasterUsername"],
            "master_user_password": saved["Credentials"]["MasterUserPassword"],
        }
        for key, (_, keyword) in AURORA_SETTINGS.items():
            if key not in settings:
                continue
            value: Any = settings[key]
            if key in AURORA_LISTS:
                value = json.loads(value)
            elif key in AURORA_NUMBERS:
                value = int(value)
            elif key in AURORA_FLAGS:
                value = value.lower() == "true"
            arguments[keyword] = value
        cluster = backend.create_db_cluster(arguments)
        postgres.server_for(cluster.db_cluster_identifier).load(directory / "database.dump")
        return str(cluster.db_cluster_arn)


KINDS: tuple[type[ResourceKind], ...] = (DynamoDBTables, S3Buckets, AuroraClusters)


def kind_of(arn: str) -> type[ResourceKind]:
    """The resource type of an ARN; InvalidParameterValueException for any other resource."""
    for kind in KINDS:
        if kind.name_in(arn) is not None:
            return kind
    raise InvalidParameterValueException(
        msg=f"Invalid resource ARN {arn}: the emulator backs up DynamoDB tables, S3 buckets and Aurora DB clusters."
    )


# --- jobs and recovery points --------------------------------------------------------------


def _lifecycle_dates(lifecycle: dict[str, Any] | None, created: datetime) -> dict[str, datetime]:
    """CalculatedLifecycle: when a point moves to cold storage and when it is deleted."""
    dates = {}
    if lifecycle and lifecycle.get("MoveToColdStorageAfterDays"):
        dates["MoveToColdStorageAt"] = created + timedelta(days=int(lifecycle["MoveToColdStorageAfterDays"]))
    if lifecycle and lifecycle.get("DeleteAfterDays"):
        dates["DeleteAt"] = created + timedelta(days=int(lifecycle["DeleteAfterDays"]))
    return dates


def _without_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclass
class BackupJob:
    """One backup of one resource into one vault."""

    account_id: str
    job_id: str
    vault_name: str
    vault_arn: str
    resource_arn: str
    resource_type: str
    resource_name: str
    iam_role_arn: str
    creation_date: datetime
    start_by: datetime
    recovery_point_arn: str
    lifecycle: dict[str, Any] | None
    recovery_point_tags: dict[str, str]
    created_by: dict[str, str] | None
    idempotency_token: str | None
    state: str = "CREATED"
    status_message: str | None = None
    completion_date: datetime | None = None
    percent_done: float = 0.0
    backup_size: int = 0

    def describe(self) -> dict[str, Any]:
        """DescribeBackupJob's answer (ListBackupJobs lists the same fields)."""
        completed = self.state == "COMPLETED"
        return _without_empty(
            {
                "AccountId": self.account_id,
                "BackupJobId": self.job_id,
                "BackupVaultName": self.vault_name,
                "BackupVaultArn": self.vault_arn,
                "RecoveryPointArn": self.recovery_point_arn if completed else None,
                "RecoveryPointLifecycle": self.lifecycle,
                "ResourceArn": self.resource_arn,
                "ResourceType": self.resource_type,
                "ResourceName": self.resource_name,
                "CreationDate": self.creation_date,
                "CompletionDate": self.completion_date,
                "State": self.state,
                "StatusMessage": self.status_message,
                "PercentDone": f"{self.percent_done:.1f}",
                "BackupSizeInBytes": self.backup_size,
                "BytesTransferred": self.backup_size if completed else 0,
                "IamRoleArn": self.iam_role_arn,
                "CreatedBy": self.created_by,
                "StartBy": self.start_by,
                "IsParent": False,
            }
        )

    def event(self) -> tuple[dict[str, Any], list[str]]:
        """The detail and resources of the "Backup Job State Change" event for the current state."""
        if self.state == "CREATED":
            return {"backupJobId": self.job_id, "state": "CREATED", "creationDate": event_time(self.creation_date)}, []
        detail: dict[str, Any] = {
            "backupJobId": self.job_id,
            "backupSizeInBytes": str(self.backup_size),
            "backupVaultArn": self.vault_arn,
            "backupVaultName": self.vault_name,
            "bytesTransferred": str(self.backup_size if self.state == "COMPLETED" else 0),
            "creationDate": event_time(self.creation_date),
            "iamRoleArn": self.iam_role_arn,
            "resourceArn": self.resource_arn,
            "resourceType": self.resource_type,
            "state": self.state,
            "startBy": event_time(self.start_by),
            "percentDone": round(self.percent_done),
        }
        if self.status_message is not None:
            detail["statusMessage"] = self.status_message
        if self.completion_date is not None:
            detail["completionDate"] = event_time(self.completion_date)
        if self.created_by:
            detail["createdBy"] = {
                "backupPlanId": self.created_by["BackupPlanId"],
                "backupPlanArn": self.created_by["BackupPlanArn"],
                "backupPlanVersion": self.created_by["BackupPlanVersion"],
                "backupPlanRuleId": self.created_by["BackupRuleId"],
            }
        return detail, [self.recovery_point_arn] if self.state == "COMPLETED" else []


@dataclass
class RecoveryPoint:
    """A completed backup in a vault; its payload is the files in ``directory``."""

    arn: str
    vault: Vault
    resource_arn: str
    resource_type: str
    resource_name: str
    iam_role_arn: str
    creation_date: datetime
    completion_date: datetime
    size: int
    lifecycle: dict[str, Any] | None
    created_by: dict[str, str] | None
    directory: Path
    restore_metadata: dict[str, str]
    status: str = "COMPLETED"
    last_restore_time: datetime | None = None

    @property
    def calculated_lifecycle(self) -> dict[str, datetime]:
        return _lifecycle_dates(self.lifecycle, self.creation_date)

    def describe(self) -> dict[str, Any]:
        """DescribeRecoveryPoint's answer (ListRecoveryPointsByBackupVault lists the same fields)."""
        return _without_empty(
            {
                "RecoveryPointArn": self.arn,
                "BackupVaultName": self.vault.backup_vault_name,
                "BackupVaultArn": self.vault.backup_vault_arn,
                "ResourceArn": self.resource_arn,
                "ResourceType": self.resource_type,
                "ResourceName": self.resource_name,
                "CreatedBy": self.created_by,
                "IamRoleArn": self.iam_role_arn,
                "Status": self.status,
                "CreationDate": self.creation_date,
                "CompletionDate": self.completion_date,
                "BackupSizeInBytes": self.size,
                "CalculatedLifecycle": self.calculated_lifecycle or None,
                "Lifecycle": self.lifecycle,
                "EncryptionKeyArn": self.vault.encryption_key_arn,
                "IsEncrypted": bool(self.vault.encryption_key_arn),
                "StorageClass": "WARM",
                "LastRestoreTime": self.last_restore_time,
                "IsParent": False,
                "VaultType": "BACKUP_VAULT",
            }
        )

    def describe_by_resource(self) -> dict[str, Any]:
        """ListRecoveryPointsByResource's shape (note BackupSizeBytes, not BackupSizeInBytes)."""
        return _without_empty(
            {
                "RecoveryPointArn": self.arn,
                "CreationDate": self.creation_date,
                "Status": self.status,
                "EncryptionKeyArn": self.vault.encryption_key_arn,
                "BackupSizeBytes": self.size,
                "BackupVaultName": self.vault.backup_vault_name,
                "IsParent": False,
                "ResourceName": self.resource_name,
                "VaultType": "BACKUP_VAULT",
            }
        )

    def event(self) -> dict[str, Any]:
        """The detail of the "Recovery Point State Change" event."""
        detail: dict[str, Any] = {
            "backupVaultName": self.vault.backup_vault_name,
            "backupVaultArn": self.vault.backup_vault_arn,
            "creationDate": event_time(self.creation_date),
            "iamRoleArn": self.iam_role_arn,
            "resourceType": self.resource_type,
            "resourceArn": self.resource_arn,
            "status": self.status,
            "isEncrypted": "true" if self.vault.encryption_key_arn else "false",
            "storageClass": "WARM",
            "completionDate": event_time(self.completion_date),
        }
        if self.lifecycle:
            detail["lifecycle"] = {key[0].lower() + key[1:]: value for key, value in self.lifecycle.items()}
        if "DeleteAt" in self.calculated_lifecycle:
            detail["calculatedLifeCycle"] = {"deleteAt": event_time(self.calculated_lifecycle["DeleteAt"])}
        return detail


@dataclass
class RestoreJob:
    """One restore of one recovery point into a new resource."""

    account_id: str
    job_id: str
    point: RecoveryPoint
    iam_role_arn: str
    creation_date: datetime
    idempotency_token: str | None
    status: str = "PENDING"
    status_message: str | None = None
    completion_date: datetime | None = None
    created_resource_arn: str | None = None
    percent_done: float = 0.0
    # Restore testing (tools/local_aws/restore_testing.py): the plan that started the job
    # ({"RestoreTestingPlanArn": ...}), the validation reported for it, the deletion of the copy.
    created_by: dict[str, str] | None = None
    validation_status: str | None = None
    validation_status_message: str | None = None
    deletion_status: str | None = None
    deletion_status_message: str | None = None

    def describe(self) -> dict[str, Any]:
        """DescribeRestoreJob's answer (ListRestoreJobs lists the same fields)."""
        return _without_empty(
            {
                "AccountId": self.account_id,
                "RestoreJobId": self.job_id,
                "RecoveryPointArn": self.point.arn,
                "SourceResourceArn": self.point.resource_arn,
                "BackupVaultArn": self.point.vault.backup_vault_arn,
                "CreationDate": self.creation_date,
                "CompletionDate": self.completion_date,
                "Status": self.status,
                "StatusMessage": self.status_message,
                "PercentDone": f"{self.percent_done:.1f}",
                "BackupSizeInBytes": self.point.size,
                "IamRoleArn": self.iam_role_arn,
                "CreatedResourceArn": self.created_resource_arn,
                "ResourceType": self.point.resource_type,
                "RecoveryPointCreationDate": self.point.creation_date,
                "IsParent": False,
                "CreatedBy": self.created_by,
                "ValidationStatus": self.validation_status,
                "ValidationStatusMessage": self.validation_status_message,
                "DeletionStatus": self.deletion_status,
                "DeletionStatusMessage": self.deletion_status_message,
            }
        )

    def event(self) -> dict[str, Any]:
        """The detail of the "Restore Job State Change" event for the current status."""
        detail: dict[str, Any] = {
            "restoreJobId": self.job_id,
            "backupVaultArn": self.point.vault.backup_vault_arn,
            "recoveryPointArn": self.point.arn,
            "sourceResourceArn": self.point.resource_arn,
            "backupSizeInBytes": str(self.point.size),
            "creationDate": event_time(self.creation_date),
            "iamRoleArn": self.iam_role_arn,
            "percentDone": round(self.percent_done),
            "resourceType": self.point.resource_type,
            "status": self.status,
        }
        if self.status_message is not None:
            detail["statusMessage"] = self.status_message
        if self.created_resource_arn is not None:
            detail["createdResourceArn"] = self.created_resource_arn
        if self.completion_date is not None:
            detail["completionDate"] = event_time(self.completion_date)
        if self.created_by:  # AWS Backup names the restore testing plan in the event's detail
            detail["restoreTestingPlanArn"] = self.created_by["RestoreTestingPlanArn"]
        return detail


@dataclass
class Engine:
    """The backup jobs, recovery points and restore jobs of one account and region."""

    backend: BackupBackend
    jobs: dict[str, BackupJob] = field(default_factory=dict)
    points: dict[str, RecoveryPoint] = field(default_factory=dict)
    restores: dict[str, RestoreJob] = field(default_factory=dict)
    # Guards the three stores and state changes; never held while data is copied, so a job can
    # be listed or stopped while another thread runs it.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def account_id(self) -> str:
        return str(self.backend.account_id)

    @property
    def region(self) -> str:
        return str(self.backend.region_name)

    def _emit(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        emit(self.account_id, self.region, detail_type, detail, resources)

    def _vault_arn(self, name: str) -> str:
        return f"arn:{get_partition(self.region)}:backup:{self.region}:{self.account_id}:backup-vault:{name}"

    def vault(self, name: str) -> Vault:
        vault = self.backend.vaults.get(name)
        if vault is None:
            raise ResourceNotFoundException(msg=f"Backup vault {name} does not exist")
        return vault

    # backup jobs

    def start_backup_job(
        self,
        vault_name: str,
        resource_arn: str,
        iam_role_arn: str,
        *,
        lifecycle: dict[str, Any] | None = None,
        recovery_point_tags: dict[str, str] | None = None,
        idempotency_token: str | None = None,
        start_window_minutes: int | None = None,
    ) -> BackupJob:
        """StartBackupJob: the vault and resource type are checked first; the job then runs to its
        end before this returns (a missing resource makes it FAILED, not an error)."""
        with self._lock:
            for job in self.jobs.values():
                if idempotency_token and job.idempotency_token == idempotency_token:
                    return job
            self.vault(vault_name)
            kind_of(resource_arn)
        return self.back_up(
            vault_name,
            resource_arn,
            iam_role_arn,
            lifecycle=lifecycle,
            recovery_point_tags=recovery_point_tags,
            idempotency_token=idempotency_token,
            start_window_minutes=start_window_minutes,
        )

    def back_up(
        self,
        vault_name: str,
        resource_arn: str,
        iam_role_arn: str,
        *,
        lifecycle: dict[str, Any] | None = None,
        recovery_point_tags: dict[str, str] | None = None,
        idempotency_token: str | None = None,
        start_window_minutes: int | None = None,
        created_by: dict[str, str] | None = None,
    ) -> BackupJob:
        """Create a job and run it; every outcome is a job state, never an exception."""
        kind = kind_of(resource_arn)
        created = now()
        point_id = str(mock_random.uuid4())
        prefix = f"arn:{get_partition(self.region)}"
        if kind is AuroraClusters:  # AWS Backup's Aurora recovery points are RDS cluster snapshots
            point_arn = f"{prefix}:rds:{self.region}:{self.account_id}:cluster-snapshot:awsbackup:job-{point_id}"
        else:
            point_arn = f"{prefix}:backup:{self.region}:{self.account_id}:recovery-point:{point_id}"
        window = DEFAULT_START_WINDOW_MINUTES if start_window_minutes is None else int(start_window_minutes)
        job = BackupJob(
            account_id=self.account_id,
            job_id=str(mock_random.uuid4()).upper(),
            vault_name=vault_name,
            vault_arn=self._vault_arn(vault_name),
            resource_arn=resource_arn,
            resource_type=kind.resource_type,
            resource_name=kind.name_in(resource_arn) or "",
            iam_role_arn=iam_role_arn,
            creation_date=created,
            start_by=created + timedelta(minutes=window),
            recovery_point_arn=point_arn,
            lifecycle=lifecycle,
            recovery_point_tags=dict(recovery_point_tags or {}),
            created_by=created_by,
            idempotency_token=idempotency_token,
        )
        with self._lock:
            self.jobs[job.job_id] = job
        self._emit_job(job)
        self._run(job, kind, payload_root() / point_id)
        return job

    def _emit_job(self, job: BackupJob) -> None:
        detail, resources = job.event()
        self._emit("Backup Job State Change", detail, resources)

    def _run(self, job: BackupJob, kind: type[ResourceKind], directory: Path) -> None:
        with self._lock:
            if job.state != "CREATED":
                return
            job.state = "RUNNING"
        self._emit_job(job)
        try:
            vault = self.backend.vaults.get(job.vault_name)
            if vault is None:
                raise BackupFailure(f"Backup job failed because backup vault {job.vault_arn} does not exist.")
            directory.mkdir(parents=True, exist_ok=False)
            snapshot = kind(self.account_id, self.region).back_up(job.resource_name, directory)
        except Exception as error:
            shutil.rmtree(directory, ignore_errors=True)
            if not isinstance(error, BackupFailure):
                logger.exception("backup job %s of %s failed", job.job_id, job.resource_arn)
            self._finish(job, "FAILED", str(error) if isinstance(error, BackupFailure) else repr(error))
            return
        with self._lock:
            if job.state != "RUNNING":  # stopped meanwhile: nothing may land in the vault
                shutil.rmtree(directory, ignore_errors=True)
                return
            point = RecoveryPoint(
                arn=job.recovery_point_arn,
                vault=vault,
                resource_arn=job.resource_arn,
                resource_type=job.resource_type,
                resource_name=job.resource_name,
                iam_role_arn=job.iam_role_arn,
                creation_date=job.creation_date,
                completion_date=now(),
                size=snapshot.size,
                lifecycle=job.lifecycle,
                created_by=job.created_by,
                directory=directory,
                restore_metadata=snapshot.restore_metadata,
            )
            self.points[point.arn] = point
            vault.num_of_recovery_points += 1
            if job.recovery_point_tags:
                self.backend.tag_resource(point.arn, job.recovery_point_tags)
            job.backup_size = snapshot.size
        self._finish(job, "COMPLETED", None)
        self._emit("Recovery Point State Change", point.event(), [point.arn])

    def _finish(self, job: BackupJob, state: str, message: str | None) -> None:
        with self._lock:
            job.state = state
            job.status_message = message
            job.completion_date = now()
            job.percent_done = 100.0 if state == "COMPLETED" else job.percent_done
        metrics.record_backup_job(self.account_id, self.region, job.vault_name, job.resource_type, state)
        self._emit_job(job)

    def backup_job(self, job_id: str) -> BackupJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise ResourceNotFoundException(msg=f"Backup job {job_id} not found")
        return job

    def list_backup_jobs(
        self,
        *,
        resource_arn: str | None = None,
        state: str | None = None,
        vault_name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        resource_type: str | None = None,
    ) -> list[BackupJob]:
        """ListBackupJobs' filters (ByResourceArn, ByState, ...), oldest job first."""
        with self._lock:
            jobs = list(self.jobs.values())
        return [
            job
            for job in jobs
            if (resource_arn is None or job.resource_arn == resource_arn)
            and (state is None or job.state == state)
            and (vault_name is None or job.vault_name == vault_name)
            and (created_after is None or job.creation_date > created_after)
            and (created_before is None or job.creation_date < created_before)
            and (resource_type is None or job.resource_type == resource_type)
        ]

    def stop_backup_job(self, job_id: str) -> None:
        """StopBackupJob: an unfinished job becomes ABORTED (Aurora jobs cannot be stopped)."""
        with self._lock:
            job = self.backup_job(job_id)
            if job.resource_type == "Aurora":
                raise InvalidRequestException(msg=f"StopBackupJob is not supported for {job.resource_type} resources")
            if job.state not in ACTIVE_JOB_STATES:
                raise InvalidRequestException(msg=f"Backup job {job_id} is {job.state} and cannot be stopped")
            job.state = "ABORTED"
            job.status_message = "Backup job was stopped by user."
            job.completion_date = now()
        self._emit_job(job)

    # recovery points

    def recovery_points(self, vault_name: str, resource_arn: str | None = None) -> list[RecoveryPoint]:
        """ListRecoveryPointsByBackupVault (optionally ByResourceArn), oldest first."""
        vault = self.vault(vault_name)
        with self._lock:
            return [
                point
                for point in self.points.values()
                if point.vault is vault and (resource_arn is None or point.resource_arn == resource_arn)
            ]

    def recovery_points_of(self, resource_arn: str) -> list[RecoveryPoint]:
        with self._lock:
            return [point for point in self.points.values() if point.resource_arn == resource_arn]

    def recovery_point(self, vault_name: str, arn: str) -> RecoveryPoint:
        point = self.points.get(arn)
        if point is None or point.vault is not self.vault(vault_name):
            raise ResourceNotFoundException(msg=f"Recovery point {arn} not found in backup vault {vault_name}")
        return point

    def delete_recovery_point(self, vault_name: str, arn: str) -> None:
        with self._lock:
            self._delete(self.recovery_point(vault_name, arn))

    def _delete(self, point: RecoveryPoint) -> None:
        del self.points[point.arn]
        point.vault.num_of_recovery_points -= 1
        self.backend.tagger.delete_all_tags_for_resource(point.arn)
        shutil.rmtree(point.directory, ignore_errors=True)

    def deletion_dates(self) -> list[tuple[str, datetime]]:
        """(ARN, DeleteAt) of every point with a retention."""
        with self._lock:
            points = list(self.points.values())
        return [
            (point.arn, point.calculated_lifecycle["DeleteAt"])
            for point in points
            if "DeleteAt" in point.calculated_lifecycle
        ]

    def expire(self, arn: str) -> None:
        """Delete a point whose retention ended (unless it was deleted meanwhile)."""
        with self._lock:
            point = self.points.get(arn)
            if point is not None:
                self._delete(point)

    # restore jobs

    def start_restore_job(
        self,
        recovery_point_arn: str,
        metadata: dict[str, str],
        iam_role_arn: str,
        *,
        resource_type: str | None = None,
        idempotency_token: str | None = None,
        created_by: dict[str, str] | None = None,
    ) -> RestoreJob:
        """StartRestoreJob: the job runs to its end before this returns; a restore that cannot be
        done (the new name exists, metadata is missing) ends FAILED with the reason."""
        with self._lock:
            for existing in self.restores.values():
                if idempotency_token and existing.idempotency_token == idempotency_token:
                    return existing
            point = self.points.get(recovery_point_arn)
            if point is None:
                raise ResourceNotFoundException(msg=f"Recovery point {recovery_point_arn} not found")
            if resource_type and resource_type != point.resource_type:
                raise InvalidParameterValueException(
                    msg=f"ResourceType {resource_type} does not match the recovery point's {point.resource_type}"
                )
            job = RestoreJob(
                account_id=self.account_id,
                job_id=str(mock_random.uuid4()).upper(),
                point=point,
                iam_role_arn=iam_role_arn,
                creation_date=now(),
                idempotency_token=idempotency_token,
                created_by=created_by,
            )
            self.restores[job.job_id] = job
        self._emit_restore(job)
        self._transition(job, "RUNNING")
        kind = next(kind for kind in KINDS if kind.resource_type == point.resource_type)
        try:
            created = kind(self.account_id, self.region).restore(point.directory, dict(metadata))
        except Exception as error:
            if not isinstance(error, BackupFailure):
                logger.exception("restore job %s of %s failed", job.job_id, point.arn)
            self._transition(job, "FAILED", str(error) if isinstance(error, BackupFailure) else repr(error))
            return job
        with self._lock:
            job.created_resource_arn = created
            job.percent_done = 100.0
            point.last_restore_time = now()
        self._transition(job, "COMPLETED")
        return job

    def _transition(self, job: RestoreJob, status: str, message: str | None = None) -> None:
        with self._lock:
            job.status = status
            job.status_message = message
            if status in ("COMPLETED", "FAILED"):
                job.completion_date = now()
        self._emit_restore(job)

    def _emit_restore(self, job: RestoreJob) -> None:
        self._emit("Restore Job State Change", job.event(), [job.point.arn])

    def restore_job(self, job_id: str) -> RestoreJob:
        job = self.restores.get(job_id)
        if job is None:
            raise ResourceNotFoundException(msg=f"Restore job {job_id} not found")
        return job

    def list_restore_jobs(
        self,
        *,
        status: str | None = None,
        resource_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> list[RestoreJob]:
        """ListRestoreJobs' filters (ByStatus, ByResourceType, ByCreatedAfter/Before)."""
        with self._lock:
            jobs = list(self.restores.values())
        return [
            job
            for job in jobs
            if (status is None or job.status == status)
            and (resource_type is None or job.point.resource_type == resource_type)
            and (created_after is None or job.creation_date > created_after)
            and (created_before is None or job.creation_date < created_before)
        ]

    # backup plans

    def run_rule(self, plan: Plan, rule: dict[str, Any], selections: Iterable[dict[str, Any]]) -> list[BackupJob]:
        """One scheduled run of a plan's rule: a job per resource its selections name, into the
        rule's vault with its lifecycle and tags. Selections by wildcard, tag or condition are not
        emulated: they are reported (the clock records the error), the named resources still run."""
        resources: dict[str, str] = {}
        refused = []
        for selection in selections:
            name = selection.get("SelectionName", "?")
            by_condition = [
                key for key in ("ListOfTags", "NotResources", "Conditions") if _has_entries(selection.get(key))
            ]
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
                    self.back_up(
                        rule["TargetBackupVaultName"],
                        arn,
                        role,
                        lifecycle=rule.get("Lifecycle"),
                        recovery_point_tags=rule.get("RecoveryPointTags"),
                        start_window_minutes=rule.get("StartWindowMinutes"),
                        created_by=created_by,
                    )
                )
            except InvalidParameterValueException as error:
                refused.append(error.message)
        if refused:
            raise BackupFailure(f"backup plan {plan.backup_plan['BackupPlanName']}: " + "; ".join(refused))
        return jobs


def _has_entries(value: Any) -> bool:
    """Whether a selection field selects something: a non-empty list, or a dict of such lists."""
    if isinstance(value, dict):
        return any(_has_entries(entry) for entry in value.values())
    return bool(value)


_engines_lock = threading.Lock()


def engine_for(backend: BackupBackend) -> Engine:
    """The engine of a Backup backend, created on first use; kept on the backend so that moto's
    reset of the backend discards it too."""
    with _engines_lock:
        engine = backend.__dict__.get("engine")
        if engine is None:
            engine = backend.__dict__["engine"] = Engine(backend)
        return engine


def _backends() -> Iterator[BackupBackend]:
    for regions in list(backup_backends.values()):
        yield from list(regions.values())


def due_plan_rules(
    start: datetime, end: datetime, selections_of: Callable[[BackupBackend, str], list[dict[str, Any]]]
) -> Iterator[Due]:
    """Every run of every rule of every live plan in ``(start, end]``; ``selections_of(backend,
    plan id)`` lists the plan's selections when the rule runs. A rate() counts from the plan's
    creation; an expression the emulator cannot read is logged and skipped."""
    for backend in _backends():
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
    backend: BackupBackend,
    plan: Plan,
    rule: dict[str, Any],
    selections_of: Callable[[BackupBackend, str], list[dict[str, Any]]],
) -> Callable[[], None]:
    def run() -> None:
        if plan.deletion_date is None:  # the plan may have been deleted earlier in the window
            engine_for(backend).run_rule(plan, rule, selections_of(backend, plan.backup_plan_id))

    return run


def due_expirations(start: datetime, end: datetime) -> Iterator[Due]:
    """Every recovery point whose DeleteAt is at or before ``end`` (one already past is due at
    ``start``): retention deletes it when the clock passes that instant."""
    for backend in _backends():
        current = engine_for(backend)
        for arn, delete_at in current.deletion_dates():
            if delete_at <= end:
                yield Due(max(delete_at, start), RETENTION_ORDER, f"retention of {arn}", _expiry(current, arn))


def _expiry(current: Engine, arn: str) -> Callable[[], None]:
    def expire() -> None:
        current.expire(arn)

    return expire
