"""The database-users function's two calls: the master secret (Secrets Manager) and its SQL over
TLS (``dr_common.postgres``). Errors raise: the handler answers CloudFormation with them."""

from __future__ import annotations

from pathlib import Path

from botocore.config import Config
from dr_common import postgres
from dr_common.clients import Clients

CONFIG = Config(connect_timeout=3, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"})
DB_TIMEOUT_SECONDS = 20
APPLICATION_NAME = "dr-database-users"  # shown in pg_stat_activity


class Gateway:
    def __init__(self, clients: Clients | None = None) -> None:
        self.clients = clients or Clients(CONFIG)

    def secret_string(self, secret_arn: str) -> str:
        return str(self.clients("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])

    def run(
        self, host: str, port: int, database: str, credentials: postgres.Credentials, ca_bundle: Path, sql: list[str]
    ) -> None:
        """Each statement in turn (each commits on its own); the connection is closed."""
        connection = postgres.connect(
            host, port, database, credentials, ca_bundle, timeout=DB_TIMEOUT_SECONDS, application_name=APPLICATION_NAME
        )
        try:
            for statement in sql:
                connection.run(statement)
        finally:
            connection.close()
