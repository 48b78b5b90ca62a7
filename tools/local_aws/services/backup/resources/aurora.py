"""Aurora clusters in AWS Backup: what a backup copies (a ``pg_dump`` of the cluster's PostgreSQL and
its configuration) and how a restore creates the new cluster and loads the dump."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from .... import world
from .base import BackupFailure, ResourceKind, Snapshot, _required, _write_json

# RestoreDBClusterFromSnapshot's parameters that a restore takes from the metadata: the DBCluster
# attribute a backup reads each from, and the create_db_cluster argument a restore passes it as.
AURORA_SETTINGS = {
    "Engine": ("engine", "engine"),
    "EngineVersion": ("engine_version", "engine_version"),
    "EngineMode": ("engine_mode", "engine_mode"),
    # The port the cluster was created with (D3 serves it from a local one; SG rules name this one).
    "Port": ("declared_port", "port"),
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

    def recovery_point_arn(self, name: str, point_id: str) -> str:
        """An RDS cluster snapshot that AWS Backup names ``awsbackup:job-<id>``."""
        prefix = f"arn:{world.partition(self.region)}:rds:{self.region}:{self.account_id}"
        return f"{prefix}:cluster-snapshot:awsbackup:job-{point_id}"

    def unready(self, name: str) -> str | None:
        cluster = world.cluster(self.account_id, self.region, name)
        if cluster is not None and cluster.status != "available":
            return f"DB cluster {name} is {cluster.status}; it can be backed up only when it is available."
        return None

    def backup_permissions(self, name: str) -> list[tuple[str, str]]:
        cluster_arn = f"arn:{world.partition(self.region)}:rds:{self.region}:{self.account_id}:cluster:{name}"
        return [("rds:DescribeDBClusters", cluster_arn), ("rds:CreateDBClusterSnapshot", cluster_arn)]

    def back_up(self, name: str, directory: Path) -> Snapshot:
        from ...rds import auto_pause, postgres

        cluster = world.cluster(self.account_id, self.region, name)
        if cluster is None:
            raise BackupFailure(f"DB cluster {name} was not found.")
        try:
            server = postgres.server_for(cluster.db_cluster_identifier)
        except KeyError:
            raise BackupFailure(f"DB cluster {name} has no database server to back up.") from None
        with auto_pause.paused_snapshot(cluster.db_cluster_identifier) as paused:  # its storage, no resume
            if paused is None:
                size = server.dump(directory / "database.dump")  # with the database users, as a snapshot
            else:  # the dump taken as it paused, and the roles taken with it
                size = sum(
                    shutil.copyfile(source, target).stat().st_size
                    for source, target in (
                        (paused, directory / "database.dump"),
                        (postgres.roles_file(paused), postgres.roles_file(directory / "database.dump")),
                    )
                )
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
        from ...rds import postgres

        saved = json.loads((directory / "cluster.json").read_text())
        settings = {**saved["Metadata"], **metadata}
        name = _required(metadata, "DBClusterIdentifier").lower()
        if world.cluster(self.account_id, self.region, name) is not None:
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
        cluster = world.create_cluster(self.account_id, self.region, arguments)
        postgres.server_for(cluster.db_cluster_identifier).load(directory / "database.dump")
        return str(cluster.db_cluster_arn)
