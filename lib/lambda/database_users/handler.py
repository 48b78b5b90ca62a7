"""CloudFormation custom resource that creates the kit's least-privilege database users at deploy time.

The canary and the restore validation log in to Aurora with IAM authentication tokens, each as a
user of its own (``lib/database_users.py``). This function -- with rotation, the only user of the
master user's secret -- makes them on Create and Update, idempotently:

* the heartbeat table (the canary used to create it; it may now only INSERT and SELECT), with a
  ``written_by`` column that records ``current_user``, so anyone can see who wrote a heartbeat;
* the canary's user: ``rds_iam``, INSERT and SELECT on the heartbeat table;
* the restore probe's user: ``rds_iam``, SELECT on the heartbeat table. A restore-test copy keeps
  users and grants, as an Aurora snapshot does, so the probe can log in to the copy.

Delete does nothing: the users go with the cluster, or stay with a retained one, where dropping them
would only break what outlives the stack.

What it acts on is pinned at deploy time in its environment (endpoint, database, secret, user names);
the event's properties are never read, so a forged event can only run the same statements again.
It answers CloudFormation itself (``dr_common.cfn``) on every path, exceptions included.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from dr_common import cfn, observability, postgres
from dr_common.cfn import FAILED, SUCCESS, LambdaContext
from dr_common.settings import ConfigurationError, integer, require
from gateway import Gateway

PACKAGE_DIR = Path(__file__).resolve().parent
REQUIRED_ENV_VARS = ("DB_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_NAME", "DB_CA_BUNDLE", "CANARY_USER", "PROBE_USER")
USER_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # written into SQL: plain lower-case identifiers only
TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS dr_heartbeat (id uuid PRIMARY KEY, checked_at timestamptz NOT NULL, "
    "environment_suffix text NOT NULL, written_by text NOT NULL DEFAULT current_user)",
    # A table the canary created before it had a user of its own lacks the column.
    "ALTER TABLE dr_heartbeat ADD COLUMN IF NOT EXISTS written_by text NOT NULL DEFAULT current_user",
)

logger = observability.logger("database-users")


class SqlGateway(Protocol):
    def secret_string(self, secret_arn: str) -> str: ...

    def run(
        self, host: str, port: int, database: str, credentials: postgres.Credentials, ca_bundle: Path, sql: list[str]
    ) -> None: ...


gateway: SqlGateway = Gateway()  # one per execution environment; unit tests replace it with a fake


def statements(canary: str, probe: str) -> list[str]:
    """The idempotent SQL that makes the table and both users with exactly their privileges."""
    for name in (canary, probe):
        if not USER_NAME.match(name):
            raise ConfigurationError(f"database user name {name!r} is not a lower-case SQL identifier")
    return [
        *TABLE_SQL,
        *_user(canary),
        f"GRANT INSERT, SELECT ON dr_heartbeat TO {canary}",
        *_user(probe),
        f"GRANT SELECT ON dr_heartbeat TO {probe}",
    ]


def _user(name: str) -> list[str]:
    """A login role that authenticates with IAM tokens only (``rds_iam``); one that exists is kept."""
    return [
        f"DO $$ BEGIN CREATE ROLE {name} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        f"GRANT rds_iam TO {name}",
    ]


@observability.tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> None:
    """Create/Update: make the table and the users. Delete: nothing. Always answer CloudFormation."""
    environ = os.environ
    own_id = f"{environ.get('DB_HOST')}/{environ.get('DB_NAME')}"
    logger.info("Custom-resource request", request=event.get("RequestType"), stack=event.get("StackId"))
    status, reason = SUCCESS, ""
    try:
        if event.get("RequestType") in ("Create", "Update"):
            require(environ, *REQUIRED_ENV_VARS)
            credentials = postgres.Credentials.from_secret(gateway.secret_string(environ["DB_SECRET_ARN"]))
            sql = statements(environ["CANARY_USER"], environ["PROBE_USER"])
            try:
                gateway.run(
                    environ["DB_HOST"],
                    integer(environ, "DB_PORT"),
                    environ["DB_NAME"],
                    credentials,
                    postgres.ca_bundle(environ, PACKAGE_DIR),
                    sql,
                )
            except Exception as error:  # drivers may echo the password
                raise RuntimeError(credentials.redact(f"{type(error).__name__}: {error}")) from None
    except Exception as error:  # any failure must still reach CloudFormation
        logger.exception("Request failed")
        status, reason = FAILED, f"{type(error).__name__}: {error}"
    logger.info("Answering", status=status, reason=reason)
    cfn.respond(event, context, status, reason, own_id=own_id)
