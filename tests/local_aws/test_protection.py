"""tools/protection.py against the emulator: a prod-like deployment blocks a destroy with one sentence
until `unprotect` lifts its locks; then the stack deletes completely (R14, F11, Q7, Q19 and moto's own
deletion protection of clusters and tables)."""

from __future__ import annotations

import io
import json

import pytest
from botocore.exceptions import ClientError

from lib.config import KEY_DENY_SIDS
from tests.emulator import ACCOUNT
from tools import protection

from .helpers import ref, template

BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/role-breakglass-"


def _deny(sid: str, actions: list[str], suffix: str) -> dict:
    """A Deny to all but the break-glass role, as lib/constructs/break_glass.py writes it."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": actions,
        "Resource": "*",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [BREAK_GLASS + suffix]}},
    }


def _key(suffix: str) -> dict:
    statements = [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"],
            "Resource": "*",
        },
        _deny(KEY_DENY_SIDS[0], ["kms:DisableKey", "kms:ScheduleKeyDeletion"], suffix),
        _deny(KEY_DENY_SIDS[1], ["kms:PutKeyPolicy"], suffix),
    ]
    return {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": statements}}}


def _protected(suffix: str) -> dict:
    """The four things a prod deployment locks, under the kit's names."""
    return template(
        {
            "Cluster": {
                "Type": "AWS::RDS::DBCluster",
                "Properties": {
                    "DBClusterIdentifier": f"aurora-cluster-{suffix}",
                    "Engine": "aurora-postgresql",
                    "EngineVersion": "16.13",
                    "MasterUsername": "dbadmin",
                    "MasterUserPassword": "correct-horse-battery",
                    "DeletionProtection": True,
                },
            },
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": f"dynamodb-table-{suffix}",
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "DeletionProtectionEnabled": True,
                },
            },
            "Vault": {
                "Type": "AWS::Backup::BackupVault",
                "Properties": {
                    "BackupVaultName": f"backup-vault-{suffix}",
                    "LockConfiguration": {"MinRetentionDays": 7},
                    "AccessPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            _deny("OnlyBreakGlassDeletesRecoveryPoints", ["backup:DeleteRecoveryPoint"], suffix)
                        ],
                    },
                },
            },
            "AuroraKey": _key(suffix),
            "AuroraAlias": {
                "Type": "AWS::KMS::Alias",
                "Properties": {"AliasName": f"alias/aurora-key-{suffix}", "TargetKeyId": ref("AuroraKey")},
            },
            "BackupKey": _key(suffix),
            "BackupAlias": {
                "Type": "AWS::KMS::Alias",
                "Properties": {"AliasName": f"alias/backup-key-{suffix}", "TargetKeyId": ref("BackupKey")},
            },
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": f"data-bucket-{ACCOUNT}-{suffix}",
                    "VersioningConfiguration": {"Status": "Enabled"},
                },
            },
        }
    )


def _fill(aws, suffix: str) -> None:
    """Two versions and a delete marker in the data bucket, as the kit's writers leave it."""
    bucket = f"data-bucket-{ACCOUNT}-{suffix}"
    aws("s3").put_object(Bucket=bucket, Key="exports/a.zip", Body=b"one")
    aws("s3").put_object(Bucket=bucket, Key="exports/a.zip", Body=b"two")
    aws("s3").delete_object(Bucket=bucket, Key="exports/a.zip")


def run(aws, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = protection.main(list(args), aws=aws, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_a_protected_deployment_blocks_destroy_until_unprotected(cfn, aws, suffix):
    stack = cfn.deploy(_protected(suffix), StackName=f"TapStack{suffix}")
    cfn.client.update_termination_protection(StackName=stack.name, EnableTerminationProtection=True)
    _fill(aws, suffix)

    code, _, err = run(aws, "check", "--suffix", suffix)

    assert code == 1
    assert err.strip().splitlines() == [
        f"Error: Destroy blocked: TapStack{suffix} protects its data (termination protection on stack "
        f"TapStack{suffix}, deletion protection on aurora-cluster-{suffix}, deletion protection on "
        f"dynamodb-table-{suffix}, the governance-mode lock on backup-vault-{suffix}, the access policy of "
        f"backup-vault-{suffix}, the deletion denies in the key policy of alias/aurora-key-{suffix}, the deletion "
        f"denies in the key policy of alias/backup-key-{suffix}, the objects in data-bucket-{ACCOUNT}-{suffix}, "
        f"which does not empty itself); if you really mean to delete it, run `make unprotect SUFFIX={suffix}` "
        f"first -- on AWS as the break-glass role role-breakglass-{suffix}, assumed with MFA: it lifts these "
        f"locks and deletes every object in the data bucket --, then `make destroy SUFFIX={suffix}` again."
    ]
    with pytest.raises(ClientError, match="cannot be deleted while TerminationProtection is enabled"):
        cfn.client.delete_stack(StackName=stack.name)

    code, out, _ = run(aws, "unprotect", "--suffix", suffix)

    assert code == 0
    assert out.count("Turned off") == 7
    assert f"Emptied data-bucket-{ACCOUNT}-{suffix}." in out
    assert aws("s3").list_object_versions(Bucket=f"data-bucket-{ACCOUNT}-{suffix}").get("Versions", []) == []
    assert run(aws, "check", "--suffix", suffix)[0] == 0
    for alias in (f"alias/aurora-key-{suffix}", f"alias/backup-key-{suffix}"):
        policy = json.loads(
            aws("kms").get_key_policy(
                KeyId=aws("kms").describe_key(KeyId=alias)["KeyMetadata"]["KeyId"], PolicyName="default"
            )["Policy"]
        )
        assert [statement["Sid"] for statement in policy["Statement"]] == ["AccountAdministers"]
    assert cfn.delete(stack).status == "DELETE_COMPLETE"
    clusters = {c["DBClusterIdentifier"] for c in aws("rds").describe_db_clusters()["DBClusters"]}
    assert f"aurora-cluster-{suffix}" not in clusters


def test_deletion_protection_alone_fails_the_stack_delete_as_in_aws(cfn, aws, suffix):
    """Without termination protection CloudFormation starts deleting and stops at the protected data."""
    stack = cfn.deploy(_protected(suffix), StackName=f"TapStack{suffix}")

    failed = cfn.delete(stack)

    assert failed.status == "DELETE_FAILED"
    assert any("protect" in event.lower() for event in cfn.events(failed))
    assert run(aws, "unprotect", "--suffix", suffix)[0] == 0
    assert cfn.delete(stack).status == "DELETE_COMPLETE"


def test_nothing_deployed_is_nothing_protected(aws, suffix):
    code, out, _ = run(aws, "check", "--suffix", f"gone-{suffix}")
    assert code == 0
    assert "nothing protected" in out


def test_a_bad_suffix_is_one_sentence(aws):
    code, _, err = run(aws, "check", "--suffix", "Bad_Suffix")
    assert code == 1
    assert err.startswith("Error: environmentSuffix 'Bad_Suffix' is not allowed")


def test_a_dev_deployment_is_not_protected_by_its_vault_policy_or_its_self_emptying_bucket(cfn, aws, suffix):
    """dev's vault policy lets the vault cleanup delete, and its data bucket carries CDK's auto-delete tag."""
    cfn.deploy(
        template(
            {
                "Vault": {
                    "Type": "AWS::Backup::BackupVault",
                    "Properties": {
                        "BackupVaultName": f"backup-vault-{suffix}",
                        "AccessPolicy": {
                            "Version": "2012-10-17",
                            "Statement": [
                                _deny(
                                    "OnlyTheVaultCleanupDeletesRecoveryPoints", ["backup:DeleteRecoveryPoint"], suffix
                                )
                            ],
                        },
                    },
                },
                "Bucket": {
                    "Type": "AWS::S3::Bucket",
                    "Properties": {
                        "BucketName": f"data-bucket-{ACCOUNT}-{suffix}",
                        "Tags": [{"Key": "aws-cdk:auto-delete-objects", "Value": "true"}],
                    },
                },
            }
        ),
        StackName=f"TapStack{suffix}",
    )
    aws("s3").put_object(Bucket=f"data-bucket-{ACCOUNT}-{suffix}", Key="heartbeat", Body=b"ok")

    code, out, _ = run(aws, "check", "--suffix", suffix)

    assert (code, out.strip()) == (0, f"TapStack{suffix}: nothing protected, destroy may proceed.")
