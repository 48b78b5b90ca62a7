"""The restore validation's AWS calls (AWS Backup, DynamoDB, RDS) and its SQL query
of a restored copy. AWS errors that are answers ("already exists", "not found", "not now") become
return values; any other error raises, so the invocation is retried."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError
from dr_common import postgres
from dr_common.clients import Clients
from dr_common.observability import current_logger

CONFIG = Config(connect_timeout=3, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"})
INSTANCE_GONE = ("DBInstanceNotFound", "DBInstanceNotFoundFault")
SELECT_NEWEST_HEARTBEAT_SQL = "SELECT max(checked_at) FROM dr_heartbeat"
DB_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "dr-restore-validation"  # shown in pg_stat_activity


def _code(error: ClientError) -> str | None:
    return error.response.get("Error", {}).get("Code")


class Gateway:
    """The function's cached clients, one per service."""

    def __init__(self, clients: Clients | None = None) -> None:
        self.clients = clients or Clients(CONFIG)

    # --- AWS Backup

    def describe_restore_job(self, job_id: str) -> Mapping[str, Any] | None:
        """The restore job, or None when AWS Backup knows no such job (a forged event)."""
        try:
            return dict(self.clients("backup").describe_restore_job(RestoreJobId=job_id))
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise

    def list_restore_jobs(
        self, resource_type: str, status: str, created_after: datetime
    ) -> Iterator[Mapping[str, Any]]:
        pages = (
            self.clients("backup")
            .get_paginator("list_restore_jobs")
            .paginate(ByResourceType=resource_type, ByStatus=status, ByCreatedAfter=created_after)
        )
        return (job for page in pages for job in page.get("RestoreJobs", []))

    def put_validation_result(self, job_id: str, status: str, message: str) -> None:
        self.clients("backup").put_restore_validation_result(
            RestoreJobId=job_id, ValidationStatus=status, ValidationStatusMessage=message
        )

    # --- DynamoDB

    def newest_item(self, table: str, pk: str) -> Mapping[str, Any] | None:
        """The item of partition ``pk`` with the highest sort key (read consistently), or None."""
        answer = self.clients("dynamodb").query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = answer.get("Items", [])
        return items[0] if items else None

    # --- RDS

    def describe_cluster(self, identifier: str) -> Mapping[str, Any] | None:
        clusters = self.clients("rds").describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
        return clusters[0] if clusters else None

    def set_serverless_scaling(self, cluster: str, scaling: Mapping[str, float]) -> None:
        self.clients("rds").modify_db_cluster(
            DBClusterIdentifier=cluster, ServerlessV2ScalingConfiguration=dict(scaling), ApplyImmediately=True
        )

    def create_instance(
        self, identifier: str, cluster: str, engine: str, instance_class: str, tags: Mapping[str, str]
    ) -> None:
        """CreateDBInstance in the cluster; one that exists already is fine (a retried event)."""
        try:
            self.clients("rds").create_db_instance(
                DBInstanceIdentifier=identifier,
                DBClusterIdentifier=cluster,
                Engine=engine,
                DBInstanceClass=instance_class,
                Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
            )
        except ClientError as error:
            if _code(error) != "DBInstanceAlreadyExists":
                raise

    def describe_instance(self, identifier: str) -> Mapping[str, Any] | None:
        """The instance, or None when it does not exist."""
        try:
            return dict(self.clients("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0])
        except ClientError as error:
            if _code(error) in INSTANCE_GONE:
                return None
            raise

    def delete_instance(self, identifier: str) -> bool:
        """DeleteDBInstance; False if the instance is gone or cannot be deleted now (still creating, or
        already deleting). The instance only has to leave "available": Aurora deletes a cluster whose
        instances are all deleting."""
        try:
            self.clients("rds").delete_db_instance(DBInstanceIdentifier=identifier)
        except ClientError as error:
            code = _code(error)
            if code in INSTANCE_GONE or code == "InvalidDBInstanceState":
                current_logger().info("Writer not deleted", instance=identifier, reason=code)
                return False
            raise
        return True

    # --- the copy's database

    def db_login(self, host: str, port: int, user: str) -> postgres.Credentials:
        return postgres.iam_token(host, port, user)

    def newest_heartbeat(
        self, host: str, port: int, database: str, credentials: postgres.Credentials, ca_bundle: Path
    ) -> Any:
        """``max(checked_at)`` of the canary's heartbeat table, over TLS; the connection is closed."""
        connection = postgres.connect(
            host, port, database, credentials, ca_bundle, timeout=DB_TIMEOUT_SECONDS, application_name=APPLICATION_NAME
        )
        try:
            rows = connection.run(SELECT_NEWEST_HEARTBEAT_SQL)
        finally:
            connection.close()
        return rows[0][0] if rows else None
