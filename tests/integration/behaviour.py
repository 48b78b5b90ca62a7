"""Helpers for tests that make the deployed system act: time that passes, an inbox for alerts.

Time: on the local target the tests advance the emulator's clock (what falls due runs at once);
against real AWS the same test waits for real time, polling. A test says how long it may take in
the system's minutes and never sleeps on the local target.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from tools.local_aws import control

T = TypeVar("T")
AWS_POLL_SECONDS = 15
# Longest the tests wait for one backup or restore job: the RTO. Jobs take minutes on both targets
# (locally the emulator's: tools/local_aws/README.md, AWS Backup); ``Clock.until`` advances through them.
RTO_MINUTES = 240
FINAL_JOB_STATES = ("COMPLETED", "FAILED", "ABORTED", "EXPIRED", "PARTIAL")


class Clock:
    """The deployed target's time: the emulator's clock, or the real one."""

    def __init__(self, endpoint: str | None):
        self.endpoint = endpoint

    @property
    def is_emulated(self) -> bool:
        return self.endpoint is not None

    def now(self) -> datetime:
        """The target's current time: the emulator's clock, or the real one."""
        if self.endpoint is None:
            return datetime.now(UTC)
        return datetime.fromisoformat(control.call(self.endpoint, "clock")["now"])

    def advance(self, minutes: float) -> list[dict[str, Any]]:
        """Let ``minutes`` pass; on the emulator returns what ran (each with its error, if any)."""
        if self.endpoint is None:
            time.sleep(minutes * 60)
            return []
        return list(control.call(self.endpoint, "tick", {"minutes": minutes})["fired"])

    def jump_until(self, target: datetime) -> None:
        """On the emulator, jump (running nothing on the way) to ``target``; against AWS, wait for it.
        For reaching a daily or monthly schedule without simulating every hour."""
        now = self.now()
        if self.endpoint is None:
            time.sleep(max(0.0, (target - now).total_seconds()))
        else:
            control.call(self.endpoint, "jump", {"minutes": max(0.0, (target - now).total_seconds() / 60)})

    def until(self, condition: Callable[[], T | None], *, minutes: float, what: str, step: float = 1) -> T:
        """The first truthy ``condition()`` while at most ``minutes`` pass, else the test fails."""
        result = condition()
        steps = math.ceil(minutes / step) if self.is_emulated else math.ceil(minutes * 60 / AWS_POLL_SECONDS)
        for _ in range(steps):
            if result:
                return result
            if self.is_emulated:
                self.advance(step)
            else:
                time.sleep(AWS_POLL_SECONDS)
            result = condition()
        if result:
            return result
        raise AssertionError(f"{what}: not within {minutes:g} minutes")


class Inbox:
    """An SQS queue subscribed to an SNS topic: what the topic's e-mail subscribers would get."""

    def __init__(self, client: Callable[[str], Any], url: str, subscription_arn: str):
        self._sqs = client("sqs")
        self._sns = client("sns")
        self.url = url
        self.subscription_arn = subscription_arn
        self.received: list[dict[str, Any]] = []

    @classmethod
    def subscribe(cls, client: Callable[[str], Any], topic_arn: str, name: str) -> Inbox:
        sqs = client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        subscription = client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True
        )
        return cls(client, url, subscription["SubscriptionArn"])

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS notification received so far (Subject, Message, ...), oldest first."""
        while True:
            batch = self._sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return self.received
            for message in batch:
                self.received.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def forget(self) -> None:
        """Drop what has arrived so far: later checks see only what comes after this point."""
        self.notifications()
        self.received.clear()

    def alarm(self, alarm_name: str, state: str) -> dict[str, Any] | None:
        """The CloudWatch notification that ``alarm_name`` entered ``state``, if one arrived."""
        for notification in self.notifications():
            try:
                body = json.loads(notification["Message"])
            except (ValueError, TypeError):
                continue
            if isinstance(body, dict) and (body.get("AlarmName"), body.get("NewStateValue")) == (alarm_name, state):
                return body
        return None

    def remove(self) -> None:
        self._sns.unsubscribe(SubscriptionArn=self.subscription_arn)
        self._sqs.delete_queue(QueueUrl=self.url)


def invoke_canary(client: Callable[[str], Any], outputs: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    """Run the health-check canary once through its ``live`` alias: (payload, FunctionError)."""
    from lib import output_keys as keys

    response = client("lambda").invoke(FunctionName=outputs[keys.FUNCTION_ALIAS_ARN], Payload=b"{}")
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def selected_resources(client: Callable[[str], Any], plan_id: str) -> set[str]:
    """The resource ARNs the backup plan's selections name."""
    backup = client("backup")
    selections = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    return {
        arn
        for selection in selections
        for arn in backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=selection["SelectionId"])[
            "BackupSelection"
        ]["Resources"]
    }


def finished(describe: Callable[..., dict[str, Any]], **key: str) -> Callable[[], dict[str, Any] | None]:
    """A condition for Clock.until: the job's description once it reached a final state."""

    def check() -> dict[str, Any] | None:
        job = describe(**key)
        return job if (job.get("State") or job.get("Status")) in FINAL_JOB_STATES else None

    return check


def start_backup(client: Callable[[str], Any], outputs: dict[str, str], arn: str) -> str:
    """Start an on-demand backup of ``arn`` into the stack's vault with the stack's backup role: its job id."""
    from lib import output_keys as keys

    return str(
        client("backup").start_backup_job(
            BackupVaultName=outputs[keys.BACKUP_VAULT_NAME], ResourceArn=arn, IamRoleArn=outputs[keys.BACKUP_ROLE_ARN]
        )["BackupJobId"]
    )


def back_up(client: Callable[[str], Any], outputs: dict[str, str], clock: Clock, arn: str) -> dict[str, Any]:
    """An on-demand backup of ``arn`` into the stack's vault; the finished job's description, once
    the job has run its course (CREATED, PENDING, RUNNING: minutes of the target's time)."""
    job_id = start_backup(client, outputs, arn)
    describe = client("backup").describe_backup_job
    return clock.until(finished(describe, BackupJobId=job_id), minutes=RTO_MINUTES, what=arn)


@contextmanager
def aurora_stopped(client: Callable[[str], Any], outputs: dict[str, str], clock: Clock) -> Iterator[None]:
    """The Aurora cluster stopped (connections refused) inside the block, started again after it."""
    from lib import output_keys as keys

    rds = client("rds")
    cluster = outputs[keys.AURORA_CLUSTER_IDENTIFIER]

    def status() -> str:
        return str(rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["Status"])

    rds.stop_db_cluster(DBClusterIdentifier=cluster)
    try:
        clock.until(lambda: status() == "stopped", minutes=30, what="the cluster stopping")
        yield
    finally:
        rds.start_db_cluster(DBClusterIdentifier=cluster)
        clock.until(lambda: status() == "available", minutes=30, what="the cluster starting again")
