"""``python -m tools.local_aws settle``: let the AWS Backup jobs that are running finish, on the
emulator's clock, before a local destroy.

On AWS time passes while CloudFormation deletes the stack: the vault cleanup stops the backup jobs it
can and waits for the ones it cannot (Aurora snapshots), which finish within minutes. Locally the
clock moves only when something advances it, so a destroy that starts while an hourly Aurora backup
runs would wait until the cleanup function times out. Settling first advances the clock a minute at
a time until no job is CREATED, PENDING or RUNNING, as those minutes would pass on AWS.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import EndpointConnectionError

from . import control

ACTIVE_STATES = ("CREATED", "PENDING", "RUNNING")
MAX_MINUTES = 60  # longer than any backup job the emulator runs for the kit


def active_jobs(backup: Any) -> int:
    return sum(
        len(page["BackupJobs"])
        for state in ACTIVE_STATES
        for page in backup.get_paginator("list_backup_jobs").paginate(ByState=state)
    )


def settle(endpoint: str, max_minutes: int = MAX_MINUTES) -> int:
    """Minutes advanced until no backup job is active; raises ControlError if one still is after
    ``max_minutes``."""
    backup = control.operator_session().client("backup", endpoint_url=endpoint)
    try:
        for minute in range(max_minutes + 1):
            if not active_jobs(backup):
                return minute
            control.call(endpoint, "tick", {"minutes": 1})
    except EndpointConnectionError:
        raise control.ControlError(f"Cannot reach the emulator at {endpoint}; is it running?") from None
    raise control.ControlError(f"AWS Backup jobs are still running after {max_minutes} emulated minutes.")
