"""What keeps a deployed kit's data from being deleted: `check` it before a destroy, `unprotect` it on purpose.

A protected profile (prod) has four locks: termination protection on the stack, deletion protection
on the Aurora cluster and on the DynamoDB table, and a governance-mode lock on the backup vault (its
recovery points cannot be deleted, so the vault cleanup could not empty it). `cdk destroy` would stop
at the first of them after tearing down part of the stack; `make destroy` runs `check` first, which
reads the deployed flags (not the profile someone passes) and refuses in one sentence.

    python -m tools.protection check --suffix prod       exit 1 and one sentence if anything is locked
    python -m tools.protection unprotect --suffix prod   turn every lock off, say what it did

The target is the environment's: `make` sets AWS_ENDPOINT_URL for the local emulator; otherwise the
credentials in the environment reach AWS. Unprotecting needs cloudformation:UpdateTerminationProtection,
rds:ModifyDBCluster, dynamodb:UpdateTable and backup:DeleteBackupVaultLockConfiguration.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lib.config import DEFAULT_SUFFIX, REGION, ConfigError, EnvironmentConfig, validate_suffix

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Lock:
    """One protection of a deployment: what it is, how to read it, how to lift it."""

    description: str
    is_on: Callable[[Clients], bool]
    lift: Callable[[Clients], None]


def _flag(describe: Callable[[], dict[str, Any]], missing_code: str, flag: str) -> bool:
    """A resource's protection flag; a resource the service says is missing is not protected."""
    try:
        return bool(describe().get(flag))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == missing_code:
            return False
        raise


def locks(config: EnvironmentConfig) -> list[Lock]:
    """The four locks of the deployment `config` names; a resource that does not exist is not locked."""
    stack, cluster = config.stack_name, config.name("aurora-cluster")
    table, vault = config.name("dynamodb-table"), config.name("backup-vault")

    # Each service answers a missing resource with its own error code: that resource is not locked.
    def stack_protected(aws: Clients) -> bool:
        return _flag(
            lambda: aws("cloudformation").describe_stacks(StackName=stack)["Stacks"][0],
            "ValidationError",
            "EnableTerminationProtection",
        )

    def cluster_protected(aws: Clients) -> bool:
        return _flag(
            lambda: aws("rds").describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0],
            "DBClusterNotFoundFault",
            "DeletionProtection",
        )

    def table_protected(aws: Clients) -> bool:
        return _flag(
            lambda: aws("dynamodb").describe_table(TableName=table)["Table"],
            "ResourceNotFoundException",
            "DeletionProtectionEnabled",
        )

    def vault_locked(aws: Clients) -> bool:
        # ListBackupVaults, because DescribeBackupVault answers a missing vault with AccessDenied.
        pages = aws("backup").get_paginator("list_backup_vaults").paginate()
        return any(v["BackupVaultName"] == vault and v.get("Locked") for page in pages for v in page["BackupVaultList"])

    return [
        Lock(
            f"termination protection on stack {stack}",
            stack_protected,
            lambda aws: aws("cloudformation").update_termination_protection(
                StackName=stack, EnableTerminationProtection=False
            ),
        ),
        Lock(
            f"deletion protection on {cluster}",
            cluster_protected,
            lambda aws: aws("rds").modify_db_cluster(
                DBClusterIdentifier=cluster, DeletionProtection=False, ApplyImmediately=True
            ),
        ),
        Lock(
            f"deletion protection on {table}",
            table_protected,
            lambda aws: aws("dynamodb").update_table(TableName=table, DeletionProtectionEnabled=False),
        ),
        Lock(
            f"the governance-mode lock on {vault}",
            vault_locked,
            lambda aws: aws("backup").delete_backup_vault_lock_configuration(BackupVaultName=vault),
        ),
    ]


def blocked_sentence(config: EnvironmentConfig, on: Sequence[Lock]) -> str:
    """The one sentence a blocked destroy prints."""
    suffix = config.environment_suffix
    return (
        f"Destroy blocked: {config.stack_name} protects its data ({', '.join(lock.description for lock in on)}); "
        f"if you really mean to delete it, run `make unprotect SUFFIX={suffix}` first, then `make destroy "
        f"SUFFIX={suffix}` again."
    )


def check(config: EnvironmentConfig, aws: Clients, out: TextIO, err: TextIO) -> int:
    on = [lock for lock in locks(config) if lock.is_on(aws)]
    if on:
        print(f"Error: {blocked_sentence(config, on)}", file=err)
        return 1
    print(f"{config.stack_name}: nothing protected, destroy may proceed.", file=out)
    return 0


def unprotect(config: EnvironmentConfig, aws: Clients, out: TextIO, err: TextIO) -> int:
    for lock in locks(config):
        if lock.is_on(aws):
            lock.lift(aws)
            print(f"Turned off {lock.description}.", file=out)
    suffix = config.environment_suffix
    print(f"{config.stack_name} is unprotected: `make destroy SUFFIX={suffix}` deletes it.", file=out)
    return 0


COMMANDS = {"check": check, "unprotect": unprotect}


@functools.cache
def boto3_client(service: str) -> Any:
    """A boto3 client for the environment's target (boto3 itself honours AWS_ENDPOINT_URL)."""
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def main(argv: Sequence[str], aws: Clients | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.protection", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--suffix", default=os.environ.get("ENVIRONMENT_SUFFIX", DEFAULT_SUFFIX))
    args = parser.parse_args(argv)
    try:
        config = EnvironmentConfig(environment_suffix=validate_suffix(args.suffix))
        return COMMANDS[args.command](config, aws or boto3_client, out, err)
    except ConfigError as error:
        print(f"Error: {error}", file=err)
    except (BotoCoreError, ClientError) as error:
        print(f"Error: could not {args.command} the deployment of {args.suffix!r}: {error}", file=err)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
