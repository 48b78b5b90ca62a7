"""The vault cleanup's decisions: which jobs and recovery points to act on, when a point is asked
again or given up, how long to wait, what to tell CloudFormation. Every AWS Backup call (and the
wait between looks) goes through the gateway it is given (``gateway.Gateway``; unit tests give a fake)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dr_common.cfn import FAILED, SUCCESS, LambdaContext
from dr_common.observability import current_logger

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


@dataclass(frozen=True)
class Refusal:
    """Why AWS Backup did not do what it was asked: its error code and message, or (``unanswered``)
    botocore's error when no answer came."""

    code: str
    message: str = ""
    unanswered: bool = False


class Gateway(Protocol):
    """The AWS Backup calls the cleanup makes (``gateway.Gateway``)."""

    def active_jobs(self, vault_name: str, states: Iterable[str]) -> list[str]: ...

    def stop_job(self, job_id: str) -> Refusal | None: ...

    def recovery_points(self, vault_name: str) -> list[Mapping[str, Any]] | None: ...

    def delete_point(self, vault_name: str, arn: str) -> Refusal | None: ...

    def pause(self, seconds: float) -> None: ...


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


def refusal(pinned: str, properties: object) -> Outcome | None:
    """FAILED, with one sentence, for a request that does not name the pinned vault (or a function
    deployed without one); None for a request about the pinned vault."""
    if not pinned:
        return Outcome(FAILED, "This function was deployed without the name of its backup vault; it acts on none.")
    named = properties.get("BackupVaultName") if isinstance(properties, Mapping) else None
    if named != pinned:
        return Outcome(
            FAILED,
            f"Refused: this function empties backup vault {pinned} only, and the request names "
            f"{named!r} instead; nothing was stopped or deleted.",
        )
    return None


def empty_vault(gateway: Gateway, vault_name: str, clock: Clock) -> Outcome:
    """Stop the vault's jobs and delete its recovery points until it is empty or time runs out."""
    logger = current_logger()
    requests = DeleteRequests()
    wait = FIRST_POLL_SECONDS
    while True:
        active_jobs = stop_active_jobs(gateway, vault_name)
        points = gateway.recovery_points(vault_name)
        if points is None:
            logger.info("The vault does not exist; nothing to empty", vault=vault_name)
            return Outcome(SUCCESS)
        if not points and not active_jobs:
            logger.info("The vault is empty", vault=vault_name)
            return Outcome(SUCCESS)
        blocked = request_deletions(gateway, vault_name, points, requests, clock)
        logger.info(
            "Vault not empty yet",
            vault=vault_name,
            recovery_points=status_counts(points),
            active_jobs=active_jobs,
            undeletable=len(blocked),
        )
        if points and len(blocked) == len(points) and not active_jobs:
            return Outcome(FAILED, reason(vault_name, "cannot delete", blocked, requests))
        if clock.remaining_seconds() < wait:
            return Outcome(FAILED, timeout_reason(vault_name, points, active_jobs, requests))
        gateway.pause(wait)
        wait = min(2 * wait, POLL_INTERVAL_SECONDS)


def stop_active_jobs(gateway: Gateway, vault_name: str) -> int:
    """Ask AWS Backup to stop the vault's unfinished backup jobs; return how many were unfinished.

    Stopping is best effort: AWS Backup cannot stop Aurora/RDS jobs (InvalidRequestException);
    those are waited for and their recovery points deleted when they appear.
    """
    job_ids = gateway.active_jobs(vault_name, ACTIVE_JOB_STATES)
    for job_id in job_ids:
        refusal = gateway.stop_job(job_id)
        if refusal is None:
            current_logger().info("Requested stop of backup job", job=job_id)
        else:
            current_logger().info("Backup job not stopped; waiting for it", job=job_id, reason=refusal.code)
    return len(job_ids)


def request_deletions(
    gateway: Gateway, vault_name: str, points: list[Mapping[str, Any]], requests: DeleteRequests, clock: Clock
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
        delete_point(gateway, vault_name, arn, requests, clock)
        if arn in requests.errors:
            blocked.append(point)
    return blocked


def delete_point(gateway: Gateway, vault_name: str, arn: str, requests: DeleteRequests, clock: Clock) -> None:
    """One delete request, its result recorded in ``requests``."""
    logger = current_logger()
    refusal = gateway.delete_point(vault_name, arn)
    if refusal is None:
        requests.sent_at[arn] = clock.elapsed_seconds()
        requests.counts[arn] = requests.counts.get(arn, 0) + 1
        logger.info("Requested deletion of a recovery point", recovery_point=arn, request=requests.counts[arn])
    elif refusal.unanswered:
        logger.warning("Deleting a recovery point failed; retrying later", recovery_point=arn, reason=refusal.message)
    elif refusal.code == "ResourceNotFoundException":
        pass  # deleted meanwhile
    elif refusal.code in TRANSIENT_DELETE_ERRORS:
        logger.info("Recovery point busy; retrying later", recovery_point=arn, reason=refusal.code)
    else:
        requests.errors[arn] = f"{refusal.code}: {refusal.message}"
        logger.warning("Deleting a recovery point failed", recovery_point=arn, reason=requests.errors[arn])


def status_counts(points: Iterable[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for point in points:
        status = str(point.get("Status", "UNKNOWN"))
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "none"


def describe(point: Mapping[str, Any], requests: DeleteRequests) -> str:
    arn = point["RecoveryPointArn"]
    detail = requests.errors.get(arn) or point.get("StatusMessage") or ""
    return f"{arn} [{point.get('Status', 'UNKNOWN')}{': ' + detail if detail else ''}]"


def reason(vault_name: str, problem: str, points: list[Mapping[str, Any]], requests: DeleteRequests) -> str:
    shown = "; ".join(describe(point, requests) for point in points[:MAX_POINTS_IN_REASON])
    more = f" and {len(points) - MAX_POINTS_IN_REASON} more" if len(points) > MAX_POINTS_IN_REASON else ""
    return (
        f"Backup vault {vault_name}: {problem} {len(points)} recovery point(s): {shown}{more}. "
        "Delete them (AWS Backup console or DeleteRecoveryPoint), then retry the stack deletion."
    )


def timeout_reason(vault_name: str, points: list[Mapping[str, Any]], active_jobs: int, requests: DeleteRequests) -> str:
    jobs = f" and {active_jobs} unfinished backup job(s)" if active_jobs else ""
    if not points:
        return (
            f"Backup vault {vault_name}: ran out of time waiting for {active_jobs} unfinished backup "
            "job(s) to end. Retry the stack deletion once they have ended."
        )
    return reason(vault_name, f"ran out of time ({status_counts(points)}){jobs} with", points, requests)
