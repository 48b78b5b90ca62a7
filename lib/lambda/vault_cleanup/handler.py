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

Create and Update have nothing to do. The function answers CloudFormation itself (``dr_common.cfn``)
on every path, exceptions included, so a stack operation never waits for CloudFormation's timeout;
the physical id is the vault's name.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from dr_common import cfn, observability
from dr_common.cfn import FAILED, SUCCESS, LambdaContext
from dr_common.clients import Clients

logger = observability.logger("vault-cleanup")

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
MAX_POINTS_IN_REASON = 5  # the reason stays well below CloudFormation's 4 KiB
clients = Clients(Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 5, "mode": "standard"}))


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


@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> None:
    """Lambda entry point: work out the outcome, then always answer CloudFormation."""
    vault_name = event.get("ResourceProperties", {}).get("BackupVaultName")
    logger.info(
        "Custom-resource request",
        request=event.get("RequestType"),
        resource=event.get("LogicalResourceId"),
        stack=event.get("StackId"),
        vault=vault_name,
    )
    try:
        outcome = _outcome(event, context)
    except Exception as exc:  # any failure must still reach CloudFormation
        logger.exception("Request failed")
        outcome = Outcome(FAILED, f"{type(exc).__name__}: {exc}")
    logger.info("Answering", status=outcome.status, reason=outcome.reason)
    cfn.respond(event, context, outcome.status, outcome.reason, own_id=vault_name)


def _outcome(event: Mapping[str, Any], context: LambdaContext) -> Outcome:
    """Create/Update: nothing to do. Delete: empty the vault."""
    if event["RequestType"] != "Delete":
        return Outcome(SUCCESS)
    vault_name = event["ResourceProperties"]["BackupVaultName"]
    return empty_vault(clients("backup"), vault_name, Clock(context))


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
            logger.info("The vault does not exist; nothing to empty", vault=vault_name)
            return Outcome(SUCCESS)
        if not points and not active_jobs:
            logger.info("The vault is empty", vault=vault_name)
            return Outcome(SUCCESS)
        blocked = request_deletions(client, vault_name, points, requests, clock)
        logger.info(
            "Vault not empty yet",
            vault=vault_name,
            recovery_points=_status_counts(points),
            active_jobs=active_jobs,
            undeletable=len(blocked),
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
            logger.info("Requested stop of backup job", job=job_id)
        except ClientError as exc:
            logger.info("Backup job not stopped; waiting for it", job=job_id, reason=_error_code(exc))
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
            logger.info("Recovery point busy; retrying later", recovery_point=arn, reason=code)
            return
        requests.errors[arn] = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
        logger.warning("Deleting a recovery point failed", recovery_point=arn, reason=requests.errors[arn])
        return
    except BotoCoreError as exc:
        logger.warning("Deleting a recovery point failed; retrying later", recovery_point=arn, reason=str(exc))
        return
    requests.sent_at[arn] = clock.elapsed_seconds()
    requests.counts[arn] = requests.counts.get(arn, 0) + 1
    logger.info("Requested deletion of a recovery point", recovery_point=arn, request=requests.counts[arn])


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
