"""What keeps a deployed kit's data from being deleted: `check` it before a destroy, `unprotect` it on purpose.

A protected profile (prod) has these locks: termination protection on the stack, deletion protection on
the Aurora cluster and on the DynamoDB table, a governance-mode lock on the backup vault and its access
policy (only the break-glass role may delete recovery points, so the vault cleanup could not empty it),
key policies that deny disabling or deleting the keys of the recovery points to all but the break-glass
role (so CloudFormation could not delete them), and a data bucket that does not empty itself (so
CloudFormation could not delete it). `cdk destroy` would stop at the first of them after tearing down
part of the stack; `make destroy` runs `check` first, which reads the deployed state (not the profile
someone passes) and refuses in one sentence.

    python -m tools.protection check --suffix prod       exit 1 and one sentence if anything is locked
    python -m tools.protection unprotect --suffix prod   turn every lock off, say what it did

The target is the environment's: `make` sets AWS_ENDPOINT_URL for the local emulator; otherwise the
credentials in the environment reach AWS. Unprotecting a prod deployment on AWS needs the break-glass
role `role-breakglass-{suffix}` (assumed with MFA; docs/RUNBOOK.md): the vault's and the keys' policies
deny lifting to everyone else, and its policy allows exactly the calls this module makes
(lib/constructs/break_glass.py).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lib.config import (
    BREAK_GLASS_ROLE_TYPE,
    DEFAULT_SUFFIX,
    GUARDED_BY_BREAK_GLASS_SID,
    KEY_DENY_SIDS,
    REGION,
    ConfigError,
    EnvironmentConfig,
    validate_suffix,
)

# The keys whose recovery points a protected profile keeps from being crypto-shredded (their aliases'
# purposes; lib/stacks/security_stack.py), and CDK's tag on a bucket that empties itself on destroy.
RECOVERY_KEY_PURPOSES = ("aurora", "backup")
AUTO_DELETE_TAG = "aws-cdk:auto-delete-objects"

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Lock:
    """One protection of a deployment: what it is, how to read it, how to lift it."""

    description: str
    is_on: Callable[[Clients], bool]
    lift: Callable[[Clients], None]
    lifted: str = ""  # what unprotect says it did, if not "Turned off <description>"


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

    def vault_guarded(aws: Clients) -> bool:
        if not _vault_exists(aws, vault):
            return False
        try:
            document = aws("backup").get_backup_vault_access_policy(BackupVaultName=vault)["Policy"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False  # no access policy
            raise
        return GUARDED_BY_BREAK_GLASS_SID in _sids(json.loads(document))

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
        Lock(
            f"the access policy of {vault}",
            vault_guarded,
            lambda aws: aws("backup").delete_backup_vault_access_policy(BackupVaultName=vault),
        ),
        *(_key_lock(f"alias/{config.name(purpose + '-key')}") for purpose in RECOVERY_KEY_PURPOSES),
        _bucket_lock(config.global_name("data-bucket")),
    ]


def _vault_exists(aws: Clients, vault: str) -> bool:
    """ListBackupVaults, because the vault's own operations answer a missing vault with AccessDenied."""
    pages = aws("backup").get_paginator("list_backup_vaults").paginate()
    return any(v["BackupVaultName"] == vault for page in pages for v in page["BackupVaultList"])


def _sids(document: dict[str, Any]) -> set[str]:
    statements = document.get("Statement", [])
    return {str(s.get("Sid")) for s in (statements if isinstance(statements, list) else [statements])}


def _key_lock(alias: str) -> Lock:
    """The key policy's denies of disabling and deleting the key (lib/constructs/break_glass.py); lifted
    by putting the policy back without them."""

    def policy(aws: Clients) -> tuple[str, dict[str, Any]] | None:
        try:
            key_id = aws("kms").describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NotFoundException":
                return None
            raise
        return key_id, json.loads(aws("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])

    def is_on(aws: Clients) -> bool:
        found = policy(aws)
        return found is not None and bool(_sids(found[1]) & set(KEY_DENY_SIDS))

    def lift(aws: Clients) -> None:
        found = policy(aws)
        assert found is not None  # lift follows is_on
        key_id, document = found
        document["Statement"] = [s for s in document["Statement"] if s.get("Sid") not in KEY_DENY_SIDS]
        aws("kms").put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(document))

    return Lock(f"the deletion denies in the key policy of {alias}", is_on, lift)


def _bucket_lock(bucket: str) -> Lock:
    """Objects in a bucket that does not empty itself (no CDK auto-delete): CloudFormation cannot delete
    a bucket that holds any; lifted by deleting every version and delete marker."""

    def versions(aws: Clients) -> list[dict[str, str]]:
        pages = aws("s3").get_paginator("list_object_versions").paginate(Bucket=bucket)
        return [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for page in pages
            for item in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
        ]

    def is_on(aws: Clients) -> bool:
        try:
            tags = aws("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "NoSuchBucket":
                return False
            if code != "NoSuchTagSet":
                raise
            tags = []
        auto_deletes = any(tag["Key"] == AUTO_DELETE_TAG and tag["Value"] == "true" for tag in tags)
        return not auto_deletes and bool(versions(aws))

    def lift(aws: Clients) -> None:
        for version in versions(aws):
            aws("s3").delete_object(Bucket=bucket, **version)

    return Lock(f"the objects in {bucket}, which does not empty itself", is_on, lift, f"Emptied {bucket}")


def blocked_sentence(config: EnvironmentConfig, on: Sequence[Lock]) -> str:
    """The one sentence a blocked destroy prints."""
    suffix = config.environment_suffix
    return (
        f"Destroy blocked: {config.stack_name} protects its data ({', '.join(lock.description for lock in on)}); "
        f"if you really mean to delete it, run `make unprotect SUFFIX={suffix}` first -- on AWS as the break-glass "
        f"role {config.name(BREAK_GLASS_ROLE_TYPE)}, assumed with MFA: it lifts these locks and deletes every "
        f"object in the data bucket --, then `make destroy SUFFIX={suffix}` again."
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
            print(f"{lock.lifted or 'Turned off ' + lock.description}.", file=out)
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
