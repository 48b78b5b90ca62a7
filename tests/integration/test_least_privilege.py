"""Least privilege, proven by behaviour: take one permission away from a principal of the kit and the
system fails where an operator looks, naming what was denied; give it back and it works again.

Each test adds a Deny (an inline role policy ``deny-drill``, or a statement added to the data bucket's
policy), makes the system act, lifts the Deny and waits until what it made fire is quiet again, so the
deployment is left as it was found. The vault cleanup function is not tested here: it acts only when
CloudFormation deletes the vault, and making it work empties the vault.

Against AWS IAM changes take seconds to apply everywhere, so each "fails" and "works again" is polled.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from lib import database_users
from lib import output_keys as keys
from lib.config import REGION
from lib.stacks.compute_stack import HEARTBEAT_OBJECT_KEY

from .behaviour import Clock, Inbox, back_up, invoke_canary
from .test_az_loss import alarm_state, quiet
from .test_rpo import BREACH_MINUTES, CLEAR_MINUTES

# Against AWS: three canary outages (each ~20 min: its errors alarm pages and clears); three functions
# denied until their schedule's next event is retried and dead-lettered, then the queue's alarm clears
# (~30, ~95 and ~65 min: schedules of 5, 60 and 30 min); the table's RPO breach (backups, up to 100 min
# until it pages, a backup to clear it) and up to 150 min until backup-job-failures counts an hour
# without a failed job.
pytestmark = [pytest.mark.long, pytest.mark.aws_minutes(560)]

DENY_POLICY = "deny-drill"
CANARY_ALARM = "health-check-errors"
DEAD_LETTER_ALARM = "undelivered-alerts"
# The canary's alarm pages on the period of its first error and clears with the first period
# without one (tests/integration/test_on_demand_recovery.py waits the same).
PAGE_MINUTES, QUIET_MINUTES = 10, 15
# After its schedule fires, an event is tried three times (retries after one and two minutes), then
# dead-lettered.
DEAD_LETTER_MINUTES = 10
# backup-job-failures counts the failed jobs per hour: it clears with the first hour without one.
JOB_FAILURES_CLEAR_MINUTES = 150


@contextmanager
def denied(
    client: Callable[[str], Any], role: str, action: str, resource: str, condition: dict[str, Any] | None = None
) -> Iterator[None]:
    """``role`` may not perform ``action`` on ``resource`` inside the block (an explicit Deny wins
    over every Allow); the role's policies are as before after it."""
    statement: dict[str, Any] = {"Effect": "Deny", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    iam = client("iam")
    iam.put_role_policy(
        RoleName=role,
        PolicyName=DENY_POLICY,
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    try:
        yield
    finally:
        iam.delete_role_policy(RoleName=role, PolicyName=DENY_POLICY)


def role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def invoke(client: Callable[[str], Any], function: str, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """One synchronous invocation: (payload, FunctionError)."""
    response = client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read() or b"null"), response.get("FunctionError")


def failure(run: Callable[[], tuple[dict[str, Any], str | None]]) -> Callable[[], dict[str, Any] | None]:
    """A condition for Clock.until: the error payload once ``run`` fails."""

    def check() -> dict[str, Any] | None:
        payload, error = run()
        return payload if error else None

    return check


def success(run: Callable[[], tuple[dict[str, Any], str | None]]) -> Callable[[], bool]:
    return lambda: run()[1] is None


def canary_quiet_again(client: Callable[[str], Any], outputs: dict[str, str], clock: Clock, suffix: str) -> None:
    """The canary succeeds again, and its errors alarm leaves ALARM."""
    clock.until(success(lambda: invoke_canary(client, outputs)), minutes=5, what="the canary succeeding again")
    alarm = f"{CANARY_ALARM}-{suffix}"
    clock.until(lambda: alarm_state(client, alarm) == "OK", minutes=QUIET_MINUTES, what=f"{alarm} OK again")


# --- the canary ---------------------------------------------------------------------------------------


def test_the_canary_denied_dynamodb_putitem_fails_naming_the_action_pages_and_recovers(
    client, outputs, suffix, clock, alert_inbox
) -> None:
    alarm = f"{CANARY_ALARM}-{suffix}"
    quiet(client, clock, [alarm])
    alert_inbox.forget()
    table = client("dynamodb").describe_table(TableName=outputs[keys.TABLE_NAME])["Table"]["TableArn"]

    with denied(client, role_name(outputs[keys.FUNCTION_ROLE_ARN]), "dynamodb:PutItem", table):
        payload = clock.until(failure(lambda: invoke_canary(client, outputs)), minutes=5, what="the canary failing")
        message = payload["errorMessage"]
        assert payload["errorType"] == "HealthCheckFailed"
        assert message.startswith("1 of 3 dependencies failed: DynamoDB: "), payload
        assert "(AccessDeniedException) when calling the PutItem operation" in message
        assert f"is not authorized to perform: dynamodb:PutItem on resource: {table}" in message
        clock.until(lambda: alert_inbox.alarm(alarm, "ALARM"), minutes=PAGE_MINUTES, what=f"{alarm} paging")

    canary_quiet_again(client, outputs, clock, suffix)
    assert alert_inbox.alarm(alarm, "OK")


def test_a_bucket_policy_deny_stops_the_canarys_s3_write(client, outputs, suffix, clock) -> None:
    """The identity policy allows the write; a Deny in the bucket's policy wins over it."""
    s3, bucket = client("s3"), outputs[keys.BUCKET_NAME]
    quiet(client, clock, [f"{CANARY_ALARM}-{suffix}"])
    original = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    policy = json.loads(original)
    policy["Statement"].append(
        {
            "Sid": "DenyDrill",
            "Effect": "Deny",
            "Principal": {"AWS": outputs[keys.FUNCTION_ROLE_ARN]},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/{HEARTBEAT_OBJECT_KEY}",
        }
    )

    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    try:
        payload = clock.until(failure(lambda: invoke_canary(client, outputs)), minutes=5, what="the canary failing")
        message = payload["errorMessage"]
        assert message.startswith("1 of 3 dependencies failed: S3: "), payload
        assert "(AccessDenied) when calling the PutObject operation: Access Denied" in message
    finally:
        s3.put_bucket_policy(Bucket=bucket, Policy=original)

    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(original)
    canary_quiet_again(client, outputs, clock, suffix)


def test_the_canary_without_rds_db_connect_cannot_log_in(client, outputs, suffix, clock) -> None:
    """The canary logs in as its own database user with an IAM token (no master secret): a Deny of
    ``rds-db:connect`` on that user makes the database refuse the token (RDS checks the signer's
    permission at login; the emulator's log says why, the client hears only that authentication failed)."""
    function = outputs[keys.FUNCTION_NAME]
    quiet(client, clock, [f"{CANARY_ALARM}-{suffix}"])
    account = outputs[keys.FUNCTION_ROLE_ARN].split(":")[4]

    with denied(
        client,
        role_name(outputs[keys.FUNCTION_ROLE_ARN]),
        "rds-db:connect",
        f"arn:aws:rds-db:{REGION}:{account}:dbuser:*/{database_users.CANARY}",
    ):
        payload = clock.until(failure(lambda: invoke(client, function, {})), minutes=5, what="the canary failing")
        message = payload["errorMessage"]
        assert message.startswith("1 of 3 dependencies failed: Aurora: "), payload
        assert "authentication failed for user" in message and database_users.CANARY in message, payload

    clock.until(success(lambda: invoke(client, function, {})), minutes=5, what="$LATEST succeeding again")
    canary_quiet_again(client, outputs, clock, suffix)


# --- the functions AWS Backup's events and schedules drive ---------------------------------------------


def _vault(client: Callable[[str], Any], outputs: dict[str, str]) -> str:
    vault = client("backup").describe_backup_vault(BackupVaultName=outputs[keys.BACKUP_VAULT_NAME])
    return str(vault["BackupVaultArn"])


def _any(client: Callable[[str], Any], outputs: dict[str, str]) -> str:
    return "*"  # backup:ListRestoreJobs takes no resource type (Service Authorization Reference)


def scheduled_event(clock: Clock) -> dict[str, Any]:
    """An EventBridge schedule's event, as the functions' rules send it, at the target's time."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {},
    }


class DeadLetters:
    """The undelivered-alerts queue, read for the failure records one denial caused: the functions'
    on-failure destination gets Lambda's invocation record, whose ``responsePayload`` holds the
    function's error (naming the denied action) and ``requestPayload`` the event. They stay in the
    queue, whose depth pages, until ``take_out``; any other message stays there."""

    def __init__(self, client: Callable[[str], Any], suffix: str, action: str):
        self._sqs = client("sqs")
        self.url = self._sqs.get_queue_url(QueueName=f"{DEAD_LETTER_ALARM}-{suffix}")["QueueUrl"]
        self.action = action

    def _ours(self) -> list[dict[str, Any]]:
        batch = self._sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        return [message for message in batch if self.action in self._error(message)]

    def of(self, rule_arn: str) -> dict[str, Any] | None:
        """The record of an event the rule ``rule_arn`` sent: the event, the error and the condition."""
        for message in self._ours():
            record = json.loads(message["Body"])
            if record.get("requestPayload", {}).get("resources") == [rule_arn]:
                condition = record["requestContext"]["condition"]
                return {"body": record["requestPayload"], "error": self._error(message), "condition": condition}
        return None

    def take_out(self) -> None:
        while ours := self._ours():
            for message in ours:
                self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    @staticmethod
    def _error(message: dict[str, Any]) -> str:
        try:
            response = json.loads(message["Body"]).get("responsePayload")
        except (ValueError, AttributeError):
            return ""
        return str(response.get("errorMessage", "")) if isinstance(response, dict) else ""


# function (before its suffix), its schedule's rule and period in minutes, an action it calls on every
# scheduled run, and the resource that action is denied on.
SCHEDULED = [
    ("backup-monitor", "backup-monitor-schedule", 5, "backup:ListRecoveryPointsByBackupVault", _vault),
    ("restore-validation", "restore-test-sweep", 30, "backup:ListRestoreJobs", _any),
]


@pytest.mark.parametrize(("function", "rule", "period", "action", "resource"), SCHEDULED, ids=[s[0] for s in SCHEDULED])
def test_a_scheduled_function_denied_an_action_dead_letters_the_denial_pages_and_recovers(
    client, outputs, suffix, clock, alert_inbox, function, rule, period, action, resource
) -> None:
    """Its schedule's next event fails three times and its record lands in the undelivered-alerts queue
    (the on-failure destination) with the denial as the function's error, and that queue's alarm pages;
    the records are taken out afterwards."""
    name, alarm = f"{function}-{suffix}", f"{DEAD_LETTER_ALARM}-{suffix}"
    quiet(client, clock, [alarm])
    alert_inbox.forget()
    letters = DeadLetters(client, suffix, action)
    rule_arn = client("events").describe_rule(Name=f"{rule}-{suffix}")["Arn"]
    denied_resource = resource(client, outputs)

    with denied(client, f"{function}-role-{suffix}", action, denied_resource):
        letter = clock.until(
            lambda: letters.of(rule_arn), minutes=period + DEAD_LETTER_MINUTES, what=f"{name} dead-lettered"
        )
        assert letter["condition"] == "RetriesExhausted" and "AccessDenied" in letter["error"], letter
        assert f"is not authorized to perform: {action} on resource: {denied_resource}" in letter["error"], letter
        clock.until(lambda: alert_inbox.alarm(alarm, "ALARM"), minutes=PAGE_MINUTES, what=f"{alarm} paging")

    clock.until(
        success(lambda: invoke(client, name, scheduled_event(clock))), minutes=5, what=f"{name} succeeding again"
    )

    # The scheduled runs denied meanwhile were dead-lettered too: take them out, and the alarm clears.
    def letters_out_and_alarm_ok() -> bool:
        letters.take_out()
        return alarm_state(client, alarm) == "OK"

    clock.until(letters_out_and_alarm_ok, minutes=QUIET_MINUTES, what=f"{alarm} OK again")


# --- AWS Backup's role -----------------------------------------------------------------------------------


def test_a_backup_role_denied_dynamodb_createbackup_fails_the_job_and_the_tables_rpo_pages(
    client, outputs, suffix, clock, alert_inbox
) -> None:
    """The job FAILS with the denial as its status message (and the failure alert carries it); the
    plan's hourly jobs of the table fail too, so its RPO alarm pages. Lifted, a backup clears it."""
    table = client("dynamodb").describe_table(TableName=outputs[keys.TABLE_NAME])["Table"]["TableArn"]
    rpo, failures = f"rpo-dynamodb-table-{suffix}", f"backup-job-failures-{suffix}"
    assert back_up(client, outputs, clock, table)["State"] == "COMPLETED"
    clock.advance(6)  # the monitor measures the fresh point and the alarm evaluates it
    clock.until(lambda: alarm_state(client, rpo) == "OK", minutes=CLEAR_MINUTES, what=f"{rpo} OK")
    alert_inbox.forget()

    with denied(client, role_name(outputs[keys.BACKUP_ROLE_ARN]), "dynamodb:CreateBackup", table):
        job = back_up(client, outputs, clock, table)
        assert job["State"] == "FAILED", job
        assert f"is not authorized to perform: dynamodb:CreateBackup on resource: {table}" in job["StatusMessage"]
        alert = clock.until(lambda: _failure_alert(alert_inbox, job["BackupJobId"]), minutes=5, what="its alert")
        assert "dynamodb:CreateBackup" in alert["statusMessage"], alert
        notice = clock.until(
            lambda: alert_inbox.alarm(rpo, "ALARM"), minutes=BREACH_MINUTES, step=5, what=f"{rpo} paging"
        )
        assert notice["Trigger"]["MetricName"] == "RecoveryPointAgeMinutes"

    assert back_up(client, outputs, clock, table)["State"] == "COMPLETED"
    clock.until(lambda: alert_inbox.alarm(rpo, "OK"), minutes=CLEAR_MINUTES, what=f"{rpo} clearing")
    clock.until(
        lambda: alarm_state(client, failures) == "OK",
        minutes=JOB_FAILURES_CLEAR_MINUTES,
        step=5,
        what=f"{failures} OK again",
    )


def _failure_alert(inbox: Inbox, job_id: str) -> dict[str, Any] | None:
    """The alerts topic's message about the failed job (lib/constructs/backup_job_events.py)."""
    for notification in inbox.notifications():
        try:
            body = json.loads(notification["Message"])
        except (ValueError, TypeError):
            continue
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, dict) and detail.get("backupJobId") == job_id and detail.get("state") == "FAILED":
            return detail
    return None
