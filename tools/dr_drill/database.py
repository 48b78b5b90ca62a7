"""SQL over TLS to an Aurora cluster or its restored copy, with the master secret's login.

TLS is always on (the clusters set ``rds.force_ssl``) but the certificate is not verified: the RDS CA
bundle is not in the repository (see the canary's docstring), and what the drill proves is that the
copy answers and holds the data, not who signed its certificate.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pg8000.native
from pg8000.exceptions import Error as PostgresError

from lib import output_keys as keys

from .errors import StepFailed
from .target import Target

HEARTBEAT_QUERY = "SELECT max(checked_at) FROM dr_heartbeat"  # the canary's table (health_check handler)
QUERY_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Login:
    username: str
    password: str = field(repr=False)
    database: str


def master_login(target: Target) -> Login:
    """The master user from the cluster's secret; a restored copy keeps the source's master login."""
    secret = target.client("secretsmanager").get_secret_value(SecretId=target.output(keys.DATABASE_SECRET_ARN))
    try:
        values = json.loads(secret["SecretString"])
        return Login(values["username"], values["password"], target.output(keys.DATABASE_NAME))
    except (ValueError, KeyError, TypeError):
        raise StepFailed("the database secret is not JSON with a username and a password") from None


def _tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _reason(error: Exception, login: Login) -> str:
    """pg8000 reports server errors as a dict of fields; the message is under "M". Never the password."""
    detail: Any = error.args[0] if error.args else None
    text = str(detail.get("M", detail)) if isinstance(detail, dict) else str(error) or type(error).__name__
    return text.replace(login.password, "***") if login.password else text


def run(host: str, port: int, login: Login, sql: str, timeout: float) -> list[list[Any]]:
    """One statement on a fresh connection; a refused or failing one raises StepFailed with the reason."""
    try:
        connection = pg8000.native.Connection(
            user=login.username,
            password=login.password,
            host=host,
            port=port,
            database=login.database,
            ssl_context=_tls(),
            timeout=timeout,
            application_name="dr-drill",
        )
        try:
            return list(connection.run(sql))
        finally:
            connection.close()
    except (PostgresError, OSError) as error:
        raise StepFailed(f"{host}:{port} did not answer {sql!r}: {_reason(error, login)}") from None


def newest_heartbeat(host: str, port: int, login: Login) -> datetime:
    rows = run(host, port, login, HEARTBEAT_QUERY, QUERY_TIMEOUT_SECONDS)
    newest = rows[0][0] if rows else None
    if not isinstance(newest, datetime):
        raise StepFailed(f"the database at {host}:{port} holds no heartbeat (dr_heartbeat is empty)")
    return newest if newest.tzinfo else newest.replace(tzinfo=UTC)
