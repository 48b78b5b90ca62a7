"""The canary's AWS calls (DynamoDB, S3) and its heartbeat row in Aurora over TLS, as its own
database user with an IAM authentication token (the table and the user are the database-users
custom resource's: the canary may only INSERT and SELECT).
Errors raise: every failure is a check's measured result."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.config import Config
from dr_common import postgres
from dr_common.clients import Clients

# Socket timeout for connecting, the TLS handshake and each statement. A paused Aurora Serverless v2
# instance holds a new connection while it resumes, which takes about 15 s (Aurora User Guide, "Scaling
# to Zero ACUs with automatic pause and resume for Aurora Serverless v2",
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html):
# 20 s covers that and still ends a dead connection inside the 30 s function timeout.
DB_TIMEOUT_SECONDS = 20
APPLICATION_NAME = "dr-health-check"  # shown in pg_stat_activity
# Short timeouts and a single retry keep a dead endpoint (worst case about 2 x (2 + 5) s per call)
# well inside the function timeout of about 30 s, so the metrics still get printed.
CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})

INSERT_HEARTBEAT_SQL = (
    "INSERT INTO dr_heartbeat (id, checked_at, environment_suffix) VALUES (:id, :checked_at, :environment_suffix)"
)
SELECT_HEARTBEAT_SQL = "SELECT checked_at FROM dr_heartbeat WHERE id = :id"


class Gateway:
    """The function's cached clients, one per service (the checks run in threads: ``Clients`` is locked)."""

    def __init__(self, clients: Clients | None = None) -> None:
        self.clients = clients or Clients(CONFIG)

    def db_login(self, host: str, port: int, user: str) -> postgres.Credentials:
        return postgres.iam_token(host, port, user)

    def write_heartbeat_row(
        self,
        host: str,
        port: int,
        database: str,
        credentials: postgres.Credentials,
        ca_bundle: Path,
        row: tuple[uuid.UUID, datetime, str],
    ) -> Any:
        """Insert the heartbeat row (id, checked_at, environment suffix) over TLS and return its
        ``checked_at`` as read back (None if absent); the connection is closed."""
        heartbeat_id, checked_at, environment_suffix = row
        connection = postgres.connect(
            host, port, database, credentials, ca_bundle, timeout=DB_TIMEOUT_SECONDS, application_name=APPLICATION_NAME
        )
        try:
            connection.run(
                INSERT_HEARTBEAT_SQL, id=heartbeat_id, checked_at=checked_at, environment_suffix=environment_suffix
            )
            rows = connection.run(SELECT_HEARTBEAT_SQL, id=heartbeat_id)
        finally:
            connection.close()
        return rows[0][0] if rows else None

    def put_item(self, table: str, item: Mapping[str, Any]) -> None:
        self.clients("dynamodb").put_item(TableName=table, Item=dict(item))

    def get_item(self, table: str, key: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The item, read consistently, or None."""
        return self.clients("dynamodb").get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item")

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self.clients("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def get_object(self, bucket: str, key: str) -> bytes:
        return bytes(self.clients("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
