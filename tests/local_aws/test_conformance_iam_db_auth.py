"""IAM database authentication on the emulated Aurora clusters (``services/rds/iam_auth.py``).

Amazon Aurora User Guide, "IAM database authentication",
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.html ("IAM
database authentication for MariaDB, MySQL, and PostgreSQL"): an authentication token has a lifetime
of 15 minutes; network traffic to and from the database is encrypted using SSL/TLS.
"Creating a database account using IAM authentication",
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.DBAccounts.html:
a PostgreSQL user granted ``rds_iam`` must log in with a token ("If the rds_iam role is granted to
a user, IAM authentication takes precedence over password authentication").
"Creating and using an IAM policy for IAM database access",
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html:
the principal needs ``rds-db:connect`` on ``arn:aws:rds-db:<region>:<account>:dbuser:<DbClusterResourceId>/<user>``.
"Connecting to your DB cluster using IAM authentication",
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.Connecting.html:
the token, made with ``generate_db_auth_token`` for the endpoint, port and user, is the password.
"""

from __future__ import annotations

import json
import logging
import ssl
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pg8000.native
import pytest
from botocore.exceptions import ClientError
from pg8000.exceptions import DatabaseError, InterfaceError

from tests.emulator import REGION
from tools.local_aws.clock import CLOCK
from tools.local_aws.services.rds import iam_auth, postgres

from .helpers import TRUST_LAMBDA, as_role

PASSWORD = "correct-horse-battery"
USER = "app_reader"
REFUSED = (DatabaseError, InterfaceError)


@pytest.fixture(autouse=True)
def signing_on_the_emulators_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens signed at emulated time, as a function signs them (its code reads the emulator's clock)."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: CLOCK.now().replace(tzinfo=None))


@pytest.fixture
def cluster(aws: Callable[[str], Any], suffix: str) -> Iterator[dict[str, Any]]:
    """A cluster with IAM database authentication on and a user granted ``rds_iam`` (and a password,
    which must then no longer work)."""
    rds = aws("rds")
    identifier = f"iam-auth-{suffix}"
    described = rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-postgresql",
        EngineVersion="16.6",
        MasterUsername="master",
        MasterUserPassword=PASSWORD,
        DatabaseName="orders",
        EnableIAMDatabaseAuthentication=True,
    )["DBCluster"]
    master = _connect(described, "master", PASSWORD)
    master.run(f"CREATE USER {USER} WITH PASSWORD '{PASSWORD}'")
    master.run(f"GRANT rds_iam TO {USER}")
    master.close()
    yield described
    try:
        rds.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "DBClusterNotFoundFault"


def _verified(cluster: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(postgres.server_for(cluster["DBClusterIdentifier"]).certificate))


def _connect(cluster: dict[str, Any], user: str, password: str, **options: Any) -> pg8000.native.Connection:
    return pg8000.native.Connection(
        user,
        host=cluster["Endpoint"],
        port=cluster["Port"],
        password=password,
        database="orders",
        timeout=10,
        **{"ssl_context": _verified(cluster), **options},
    )


def _principal(aws: Callable[[str], Any], endpoint: str, suffix: str, resource: str | None) -> Any:
    """An RDS client signing as a session of a role only Lambda may assume (IAM is enforced for it),
    allowed ``rds-db:connect`` on ``resource`` (or nothing)."""
    name = f"db-auth-{suffix}-{uuid.uuid4().hex[:4]}"
    arn = aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
    if resource is not None:
        statement = {"Effect": "Allow", "Action": "rds-db:connect", "Resource": resource}
        document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        aws("iam").put_role_policy(RoleName=name, PolicyName="connect", PolicyDocument=document)
    return as_role(aws, arn, endpoint, "app")("rds")


def _refused(caplog: pytest.LogCaptureFixture, cluster: dict[str, Any], password: str, **options: Any) -> str:
    """Why the emulator refused ``password`` for USER (what it logs; the client hears only
    PostgreSQL's "LDAP authentication failed", as RDS's clients hear "PAM authentication failed")."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=iam_auth.__name__), pytest.raises(REFUSED, match="LDAP authentication"):
        _connect(cluster, USER, password, **options)
    return " ".join(record.getMessage() for record in caplog.records if record.name == iam_auth.__name__)


def _user_arn(cluster: dict[str, Any], user: str = USER) -> str:
    return f"arn:aws:rds-db:{REGION}:123456789012:dbuser:{cluster['DbClusterResourceId']}/{user}"


def _token(client: Any, cluster: dict[str, Any], user: str = USER) -> str:
    return str(client.generate_db_auth_token(cluster["Endpoint"], cluster["Port"], user, Region=REGION))


def test_a_principal_allowed_rds_db_connect_logs_in_with_its_token_over_tls(aws, endpoint, suffix, cluster):
    client = _principal(aws, endpoint, suffix, _user_arn(cluster))

    connection = _connect(cluster, USER, _token(client, cluster))

    assert connection.run("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [[USER, True]]
    connection.close()


def test_a_token_of_a_principal_without_the_grant_is_refused(aws, endpoint, suffix, cluster, caplog):
    other_user = _principal(aws, endpoint, suffix, _user_arn(cluster, "someone_else"))
    nothing = _principal(aws, endpoint, suffix, None)

    for client in (other_user, nothing):
        reason = _refused(caplog, cluster, _token(client, cluster))
        assert f"is not authorized to perform: rds-db:connect on resource: {_user_arn(cluster)}" in reason


def test_a_token_lives_fifteen_minutes_on_the_emulators_clock(aws, endpoint, suffix, cluster, caplog):
    client = _principal(aws, endpoint, suffix, _user_arn(cluster))
    token = _token(client, cluster)

    CLOCK.advance(timedelta(minutes=14))
    _connect(cluster, USER, token).close()
    CLOCK.advance(timedelta(minutes=2))
    assert "the token expired at" in _refused(caplog, cluster, token)
    _connect(cluster, USER, _token(client, cluster)).close()


def test_only_over_tls_and_never_with_the_password(aws, endpoint, suffix, cluster, caplog):
    client = _principal(aws, endpoint, suffix, _user_arn(cluster))

    with pytest.raises(REFUSED, match="no encryption"):
        _connect(cluster, USER, _token(client, cluster), ssl_context=False)
    assert "the password is not an IAM authentication token" in _refused(caplog, cluster, PASSWORD)
    _connect(cluster, "master", PASSWORD).close()  # a user without rds_iam keeps its password


def test_a_token_not_signed_by_a_key_the_emulator_issued_or_altered_is_refused(aws, endpoint, suffix, cluster, caplog):
    client = _principal(aws, endpoint, suffix, _user_arn(cluster))
    token = _token(client, cluster)
    forged = boto3.client(
        "rds", region_name=REGION, aws_access_key_id="AKIAFORGEDFORGED0000", aws_secret_access_key="x" * 40
    )
    signature = token.rsplit("X-Amz-Signature=", 1)[1]
    altered = token.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])

    assert "which is no key the emulator issued" in _refused(caplog, cluster, _token(forged, cluster))
    assert "the token's signature does not match" in _refused(caplog, cluster, altered)
    assert "the token is for user 'master'" in _refused(caplog, cluster, _token(client, cluster, "master"))


def test_a_snapshot_restore_keeps_the_database_users_and_their_grants(endpoint, tmp_path: Path):
    """Amazon Aurora User Guide, "Restoring from a DB cluster snapshot",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-restore-snapshot.html: the
    new cluster is the snapshot's database, its users and their privileges included. AWS Backup's
    Aurora backup and restore here are ``dump`` and ``load``."""
    identifiers = [f"roles-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    source = postgres.start_server(identifiers[0], "master", PASSWORD, "orders")
    try:
        target = postgres.start_server(identifiers[1], "master", PASSWORD, "orders")
        source.sql(
            "CREATE TABLE readings (id int)",
            f"CREATE USER {USER}",
            f"GRANT rds_iam TO {USER}",
            f"GRANT SELECT ON readings TO {USER}",
        )
        source.dump(tmp_path / "database.dump")

        target.load(tmp_path / "database.dump")

        member = f"pg_has_role('{USER}', 'rds_iam', 'member')"
        reads = f"has_table_privilege('{USER}', 'readings', 'SELECT')"
        assert target.sql(f"SELECT {member}, {reads}").strip() == "t|t"
    finally:
        for identifier in identifiers:
            postgres.delete_server(identifier)
