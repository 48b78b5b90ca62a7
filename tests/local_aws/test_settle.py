"""`settle` before a local destroy: the backup jobs that run finish on the emulator's clock."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any

import pytest

from tests.emulator import ACCOUNT
from tools.local_aws import control, settle

ROLE = f"arn:aws:iam::{ACCOUNT}:role/backup-role"


def test_settle_advances_the_clock_until_no_backup_job_runs(aws: Callable[[str], Any], endpoint: str, suffix: str):
    """AWS Backup Developer Guide, "Backup job statuses" (CREATED, PENDING, RUNNING until COMPLETED),
    https://docs.aws.amazon.com/aws-backup/latest/devguide/backup-job-status.html: a job runs for
    minutes; on AWS those minutes pass while CloudFormation waits for the vault cleanup."""
    backup, vault, table = aws("backup"), f"settle-{suffix}", f"settle-{suffix}"
    backup.create_backup_vault(BackupVaultName=vault)
    aws("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}"
    job = backup.start_backup_job(BackupVaultName=vault, ResourceArn=arn, IamRoleArn=ROLE)["BackupJobId"]

    advanced = settle.settle(endpoint)

    assert advanced > 0
    assert backup.describe_backup_job(BackupJobId=job)["State"] == "COMPLETED"
    assert settle.settle(endpoint) == 0


def test_settle_names_an_emulator_that_does_not_answer() -> None:
    with socket.create_server(("127.0.0.1", 0)) as free:
        port = free.getsockname()[1]
    with pytest.raises(control.ControlError, match=re.escape(f"Cannot reach the emulator at http://127.0.0.1:{port}")):
        settle.settle(f"http://127.0.0.1:{port}")
