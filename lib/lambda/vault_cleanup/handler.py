"""CloudFormation custom resource that empties an AWS Backup vault before CloudFormation deletes it.

CloudFormation cannot delete a backup vault that still holds recovery points (aws/aws-cdk#33711),
and the hourly backup plan keeps adding them, so ``cdk destroy`` would fail on every stack that ran
for more than an hour. The custom resource depends on the vault, so CloudFormation deletes it -- and
runs this function with ``RequestType: Delete`` -- before it deletes the vault.

Delete, for the vault named in ``ResourceProperties.BackupVaultName``:

1. stop the vault's backup jobs that are still CREATED, PENDING or RUNNING, so no new recovery
   point lands after the vault was emptied (Aurora/RDS jobs cannot be stopped; they are waited for);
2. request deletion of every recovery point in the vault;
3. poll until the vault is empty, waiting for points that are still CREATING or DELETING, and
   answer SUCCESS -- or FAILED with the reason, when a point cannot be deleted or the function's
   time is nearly out. A vault that no longer exists answers SUCCESS.

Create and Update have nothing to do. The function answers CloudFormation itself (a JSON PUT to the
pre-signed ``ResponseURL``, with urllib: the function has no third-party dependencies) and answers
on every path, exceptions included, so a stack operation never waits for CloudFormation's timeout.
The ResponseURL is a credential-bearing pre-signed URL: it is never logged.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

SUCCESS = "SUCCESS"
FAILED = "FAILED"
# Backup jobs that may still write a recovery point into the vault.
ACTIVE_JOB_STATES = ("CREATED", "PENDING", "RUNNING")
# Recovery points in transition: neither deletable now nor a failure; they are waited for.
TRANSITIONAL_STATUSES = frozenset({"CREATING", "DELETING"})
# Delete errors that only mean "not now" (Backup is busy with the point); retried next round.
TRANSIENT_DELETE_ERRORS = frozenset(
    {"InvalidResourceStateException", "ServiceUnavailableException", "ThrottlingException"}
)
# Seconds between two looks at the vault: deletion of Backup-managed points takes seconds, of an
# Aurora snapshot up to a few minutes. So the first look again comes after a second, and the waits
# double up to this ceiling.
FIRST_POLL_SECONDS = 1
POLL_INTERVAL_SECONDS = 15
# Time kept back from the Lambda timeout to write the answer to CloudFormation.
RESPONSE_RESERVE_SECONDS = 30
# A point still there (and not DELETING) this long after a delete request gets another request;
# after MAX_DELETE_REQUESTS it is reported as undeletable instead of being retried until timeout.
RETRY_DELETE_AFTER_SECONDS = 120
MAX_DELETE_REQUESTS = 3
# CloudFormation rejects responses over 4 KiB; the reason is kept well below that.
MAX_REASON_CHARS = 1500
MAX_POINTS_IN_REASON = 5
RESPONSE_PUT_ATTEMPTS = 3
RESPONSE_PUT_TIMEOUT_SECONDS = 20
BOTO_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 5, "mode": "standard"})


class LambdaContext(Protocol):
    """The parts of the Lambda context object the handler reads."""

    log_stream_name: str

    def get_remaining_time_in_millis(self) -> int: ...


class VaultGone(Exception):
    """The vault does not exist (any more): there is nothing to empty."""


@dataclass(frozen=True)
class Outcome:
    """What to tell CloudFormation."""

    status: str
    reason: str = ""


@dataclass
class DeleteRequests:
    """Delete requests sent per recovery point ARN, so a point is neither re-requested every
    round nor retried forever, and the permanent errors to report."""

    sent_at: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class Clock:
    """Elapsed and remaining time of this invocation, both read from the Lambda context, so the
    loop stops in time to answer CloudFormation before Lambda kills the function."""

    def __init__(self, context: LambdaContext) -> None:
        self._context = context
        self._start_ms = context.get_remaining_time_in_millis()

    def remaining_seconds(self) -> float:
        """Seconds left for work, the reserve for the response already taken off."""
        return self._context.get_remaining_time_in_millis() / 1000 - RESPONSE_RESERVE_SECONDS

    def elapsed_seconds(self) -> float:
        return (self._start_ms - self._context.get_remaining_time_in_millis()) / 1000


def handler(event: Mapping[str, Any], context: LambdaContext) -> None:
    """Lambda entry point: work out the outcome, then always answer CloudFormation."""
    logger.info(
        "%s request for %s (stack %s), vault %r",
        event.get("RequestType"),
        event.get("LogicalResourceId"),
        event.get("StackId"),
        event.get("ResourceProperties", {}).get("BackupVaultName"),
    )
    try:
        outcome = _outcome(event, context)
    except Exception as exc:  # any failure must still reach CloudFormation
        logger.exception("Request failed")
        outcome = Outcome(FAILED, f"{type(exc).__name__}: {exc}")
    logger.info("Answering %s%s", outcome.status, f": {outcome.reason}" if outcome.reason else "")
    send_response(event, context, outcome)


def _outcome(event: Mapping[str, Any], context: LambdaContext) -> Outcome:
    """Create/Update: nothing to do. Delete: empty the vault."""
    if event["RequestType"] != "Delete":
        return Outcome(SUCCESS)
    vault_name = event["ResourceProperties"]["BackupVaultName"]
    return empty_vault(_backup_client(), vault_name, Clock(context))


def _backup_client() -> Any:
    """The AWS Backup client (a seam for the unit tests)."""
    return boto3.client("backup", config=BOTO_CONFIG)


def _sleep(seconds: float) -> None:
    """Wait between polls (a seam for the unit tests)."""
    time.sleep(seconds)


def empty_vault(client: Any, vault_name: str, clock: Clock) -> Outcome:
    """Stop the vault's jobs and delete its recovery points until it is empty or time runs out."""
    requests = DeleteRequests()
    wait = FIRST_POLL_SECONDS
    while True:
        active_jobs = stop_active_jobs(client, vault_name)
        try:
            points = list_recovery_points(client, vault_name)
        except VaultGone:
            logger.info("Vault %s does not exist; nothing to empty", vault_name)
            return Outcome(SUCCESS)
        if not points and not active_jobs:
            logger.info("Vault %s is empty", vault_name)
            return Outcome(SUCCESS)
        blocked = request_deletions(client, vault_name, points, requests, clock)
        logger.info(
            "Vault %s: %d recovery point(s) left (%s), %d active job(s), %d undeletable",
            vault_name,
            len(points),
            _status_counts(points),
            active_jobs,
            len(blocked),
        )
        if points and len(blocked) == len(points) and not active_jobs:
            return Outcome(FAILED, _reason(vault_name, "cannot delete", blocked, requests))
        if clock.remaining_seconds() < wait:
            return Outcome(FAILED, _timeout_reason(vault_name, points, active_jobs, requests))
        _sleep(wait)
        wait = min(2 * wait, POLL_INTERVAL_SECONDS)


def stop_active_jobs(client: Any, vault_name: str) -> int:
    """Ask AWS Backup to stop the vault's unfinished backup jobs; return how many were unfinished.

    Stopping is best effort: AWS Backup cannot stop Aurora/RDS jobs (InvalidRequestException);
    those are waited for and their recovery points deleted when they appear.
    """
    job_ids = [job["BackupJobId"] for job in _active_jobs(client, vault_name)]
    for job_id in job_ids:
        try:
            client.stop_backup_job(BackupJobId=job_id)
            logger.info("Requested stop of backup job %s", job_id)
        except ClientError as exc:
            logger.info("Backup job %s was not stopped (%s); waiting for it", job_id, _error_code(exc))
    return len(job_ids)


def _active_jobs(client: Any, vault_name: str) -> Iterable[Mapping[str, Any]]:
    """Backup jobs targeting the vault in any of ACTIVE_JOB_STATES (ByState takes one state)."""
    paginator = client.get_paginator("list_backup_jobs")
    for state in ACTIVE_JOB_STATES:
        for page in paginator.paginate(ByBackupVaultName=vault_name, ByState=state):
            yield from page.get("BackupJobs", [])


def list_recovery_points(client: Any, vault_name: str) -> list[Mapping[str, Any]]:
    """Every recovery point in the vault; raises VaultGone if the vault does not exist.

    AWS Backup answers a missing vault with AccessDeniedException ("Insufficient privileges")
    rather than ResourceNotFoundException, so either error is checked against ListBackupVaults
    before it is taken to mean "gone": a real permission problem must still fail the delete.
    """
    paginator = client.get_paginator("list_recovery_points_by_backup_vault")
    try:
        return [
            point for page in paginator.paginate(BackupVaultName=vault_name) for point in page.get("RecoveryPoints", [])
        ]
    except ClientError as exc:
        if _error_code(exc) in ("ResourceNotFoundException", "AccessDeniedException") and not vault_exists(
            client, vault_name
        ):
            raise VaultGone(vault_name) from exc
        raise


def vault_exists(client: Any, vault_name: str) -> bool:
    """Whether the account has a vault of this name in the function's region."""
    paginator = client.get_paginator("list_backup_vaults")
    return any(
        vault.get("BackupVaultName") == vault_name
        for page in paginator.paginate()
        for vault in page.get("BackupVaultList", [])
    )


def request_deletions(
    client: Any, vault_name: str, points: list[Mapping[str, Any]], requests: DeleteRequests, clock: Clock
) -> list[Mapping[str, Any]]:
    """Send a delete request for each point that needs one; return the points that cannot be deleted.

    A point is undeletable after a permanent error (access denied, legal hold, vault lock) or when
    it is still there, not DELETING, after MAX_DELETE_REQUESTS requests -- AWS Backup answers a
    request it lacks permissions for with 200 and marks the point EXPIRED instead of deleting it.
    """
    blocked = []
    for point in points:
        arn = point["RecoveryPointArn"]
        if point.get("Status") in TRANSITIONAL_STATUSES:
            continue
        if arn in requests.errors:
            blocked.append(point)
            continue
        if arn in requests.sent_at and clock.elapsed_seconds() - requests.sent_at[arn] < RETRY_DELETE_AFTER_SECONDS:
            continue  # requested recently; AWS Backup may not show DELETING yet
        if requests.counts.get(arn, 0) >= MAX_DELETE_REQUESTS:
            blocked.append(point)
            continue
        _delete_point(client, vault_name, arn, requests, clock)
        if arn in requests.errors:
            blocked.append(point)
    return blocked


def _delete_point(client: Any, vault_name: str, arn: str, requests: DeleteRequests, clock: Clock) -> None:
    """One delete request, its result recorded in ``requests``."""
    try:
        client.delete_recovery_point(BackupVaultName=vault_name, RecoveryPointArn=arn)
    except ClientError as exc:
        code = _error_code(exc)
        if code == "ResourceNotFoundException":
            return  # deleted meanwhile
        if code in TRANSIENT_DELETE_ERRORS:
            logger.info("Recovery point %s is busy (%s); retrying later", arn, code)
            return
        requests.errors[arn] = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
        logger.warning("Deleting recovery point %s failed: %s", arn, requests.errors[arn])
        return
    except BotoCoreError as exc:
        logger.warning("Deleting recovery point %s failed (%s); retrying later", arn, exc)
        return
    requests.sent_at[arn] = clock.elapsed_seconds()
    requests.counts[arn] = requests.counts.get(arn, 0) + 1
    logger.info("Requested deletion of recovery point %s (request %d)", arn, requests.counts[arn])


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _status_counts(points: Iterable[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for point in points:
        status = str(point.get("Status", "UNKNOWN"))
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "none"


def _describe(point: Mapping[str, Any], requests: DeleteRequests) -> str:
    arn = point["RecoveryPointArn"]
    detail = requests.errors.get(arn) or point.get("StatusMessage") or ""
    return f"{arn} [{point.get('Status', 'UNKNOWN')}{': ' + detail if detail else ''}]"


def _reason(vault_name: str, problem: str, points: list[Mapping[str, Any]], requests: DeleteRequests) -> str:
    shown = "; ".join(_describe(point, requests) for point in points[:MAX_POINTS_IN_REASON])
    more = f" and {len(points) - MAX_POINTS_IN_REASON} more" if len(points) > MAX_POINTS_IN_REASON else ""
    return (
        f"Backup vault {vault_name}: {problem} {len(points)} recovery point(s): {shown}{more}. "
        "Delete them (AWS Backup console or DeleteRecoveryPoint), then retry the stack deletion."
    )


def _timeout_reason(
    vault_name: str, points: list[Mapping[str, Any]], active_jobs: int, requests: DeleteRequests
) -> str:
    jobs = f" and {active_jobs} unfinished backup job(s)" if active_jobs else ""
    if not points:
        return (
            f"Backup vault {vault_name}: ran out of time waiting for {active_jobs} unfinished backup "
            "job(s) to end. Retry the stack deletion once they have ended."
        )
    return _reason(vault_name, f"ran out of time ({_status_counts(points)}){jobs} with", points, requests)


def send_response(event: Mapping[str, Any], context: LambdaContext, outcome: Outcome) -> None:
    """PUT the custom-resource response to the pre-signed ResponseURL.

    The physical id is the vault name on Create/Update and the id CloudFormation sent on Delete
    (answering a different one on Delete is meaningless). A response that cannot be delivered is
    logged, not raised: there is nobody left to tell.
    """
    reason = outcome.reason or f"See CloudWatch log stream {context.log_stream_name}"
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 3] + "..."
    vault_name = event.get("ResourceProperties", {}).get("BackupVaultName")
    if event.get("RequestType") == "Delete":
        physical_id = event.get("PhysicalResourceId") or vault_name or context.log_stream_name
    else:
        physical_id = vault_name or context.log_stream_name
    body = json.dumps(
        {
            "Status": outcome.status,
            "Reason": reason,
            "PhysicalResourceId": physical_id,
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
            "NoEcho": False,
            "Data": {},
        }
    ).encode()
    for attempt in range(1, RESPONSE_PUT_ATTEMPTS + 1):
        try:
            _http_put(str(event["ResponseURL"]), body)
            return
        except (urllib.error.URLError, OSError) as exc:
            logger.warning("Sending the response failed (attempt %d/%d): %s", attempt, RESPONSE_PUT_ATTEMPTS, exc)
            if attempt < RESPONSE_PUT_ATTEMPTS:
                _sleep(attempt * 2)
    logger.error("Could not deliver the %s response to CloudFormation", outcome.status)


def _http_put(url: str, body: bytes) -> None:
    """The one HTTP call: the pre-signed S3 URL expects an empty Content-Type (a seam for tests)."""
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=RESPONSE_PUT_TIMEOUT_SECONDS) as response:
        logger.info("CloudFormation response delivered (HTTP %s)", response.status)
