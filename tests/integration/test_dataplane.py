"""The deployed system acts: the canary runs and its heartbeat lands in every store; TLS is required."""

from __future__ import annotations

import json

import pg8000.exceptions
import pytest

from lib import database_users
from lib import output_keys as keys
from lib.config import HEALTH_CHECK_NAMESPACE, HEARTBEAT_OBJECT_KEY

from .behaviour import invoke_canary

# Against AWS: one canary run, reads, a refused plaintext connection.
pytestmark = pytest.mark.aws_minutes(1)


def test_canary_writes_one_heartbeat_to_every_store(client, outputs, database, clock) -> None:
    summary, error = invoke_canary(client, outputs)
    assert error is None, summary
    assert summary["healthy"] is True
    heartbeat = summary["heartbeat_id"]

    rows = database().run("SELECT environment_suffix, written_by FROM dr_heartbeat WHERE id = :id", id=heartbeat)
    # The canary's session ran as its own least-privilege user (IAM token), not as the master.
    assert rows == [[outputs[keys.ENVIRONMENT_SUFFIX], database_users.CANARY]]
    item = client("dynamodb").get_item(
        TableName=outputs[keys.TABLE_NAME],
        Key={"pk": {"S": "heartbeat"}, "sk": {"S": summary["checked_at"]}},
        ConsistentRead=True,
    )["Item"]
    assert item["heartbeat_id"]["S"] == heartbeat
    body = client("s3").get_object(Bucket=outputs[keys.BUCKET_NAME], Key=HEARTBEAT_OBJECT_KEY)["Body"].read()
    assert json.loads(body)["heartbeat_id"] == heartbeat

    def success_metrics() -> set[str]:
        listed = client("cloudwatch").list_metrics(Namespace=HEALTH_CHECK_NAMESPACE, MetricName="Success")["Metrics"]
        return {d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "Dependency"}

    found = clock.until(
        lambda: success_metrics() >= {"Aurora", "DynamoDB", "S3"} and success_metrics(),
        minutes=5,
        what="the canary's EMF metrics in CloudWatch",
    )
    assert found == {"Aurora", "DynamoDB", "S3"}


def test_a_plaintext_database_connection_is_refused(database) -> None:
    with pytest.raises(pg8000.exceptions.DatabaseError, match="no encryption"):
        database(tls=False)
    assert database().run("SHOW ssl") == [["on"]]


def test_the_canary_and_probe_users_have_only_their_privileges_and_log_in_with_tokens_only(database) -> None:
    """The database-users custom resource made them: rds_iam (no password login), INSERT and SELECT
    for the canary, SELECT for the probe, nothing else on the table, no superuser or role creation."""
    rows = database().run(
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, pg_has_role(rolname, 'rds_iam', 'member'),"
        " has_table_privilege(rolname, 'dr_heartbeat', 'INSERT'),"
        " has_table_privilege(rolname, 'dr_heartbeat', 'SELECT'),"
        " has_table_privilege(rolname, 'dr_heartbeat', 'UPDATE, DELETE, TRUNCATE')"
        " FROM pg_roles WHERE rolname IN (:canary, :probe) ORDER BY rolname",
        canary=database_users.CANARY,
        probe=database_users.RESTORE_PROBE,
    )
    assert rows == [
        [database_users.CANARY, False, False, False, True, True, True, False],
        [database_users.RESTORE_PROBE, False, False, False, True, False, True, False],
    ]


def test_invoking_a_missing_function_is_an_aws_error(client, suffix) -> None:
    lambda_ = client("lambda")
    with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
        lambda_.invoke(FunctionName=f"no-such-function-{suffix}", Payload=b"{}")
