"""The kit's AWS Backup role on the local target: its S3 backup permissions (lib/constructs/backup_plan.py)
back up the data bucket and no other bucket.

AWS Backup Developer Guide, "Amazon S3 backup permissions" / "Managed policies for AWS Backup"
(AWSBackupServiceRolePolicyForS3Backup), https://docs.aws.amazon.com/aws-backup/latest/devguide/s3-backups.html:
an S3 backup reads the bucket, its object versions and their key with the job's role, so a role that
holds these permissions on one bucket backs up that bucket only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from lib.app import new_app
from lib.config import EnvironmentConfig
from lib.constructs.backup_plan import s3_backup_statements
from tests.emulator import ACCOUNT

from .helpers import backup_job_done

Aws = Callable[[str], Any]
TRUST_BACKUP = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _kit_s3_backup_policy(config: EnvironmentConfig, key_arn: str) -> str:
    """The kit's S3 backup statements for ``config``'s data bucket encrypted with ``key_arn``, as JSON."""
    stack = Stack(new_app(), "S3BackupPolicy")
    bucket = s3.Bucket.from_bucket_attributes(
        stack,
        "DataBucket",
        bucket_name=config.global_name("data-bucket"),
        encryption_key=kms.Key.from_key_arn(stack, "BucketKey", key_arn),
    )
    statements = [stack.resolve(statement.to_statement_json()) for statement in s3_backup_statements(config, bucket)]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _bucket(aws: Aws, name: str, key_arn: str) -> str:
    aws("s3").create_bucket(Bucket=name)
    aws("s3").put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    aws("s3").put_bucket_encryption(
        Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}
    )
    aws("s3").put_object(Bucket=name, Key="heartbeat", Body=b"{}")
    return f"arn:aws:s3:::{name}"


def test_the_backup_roles_s3_permissions_back_up_the_data_bucket_and_no_other(aws: Aws, suffix: str) -> None:
    config = EnvironmentConfig(environment_suffix=suffix)
    delegate = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    key = aws("kms").create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [delegate]}))
    key_arn = key["KeyMetadata"]["Arn"]
    data_bucket = _bucket(aws, config.global_name("data-bucket"), key_arn)
    other_bucket = _bucket(aws, f"other-bucket-{suffix}", key_arn)
    role = f"backup-s3-{suffix}"
    role_arn = aws("iam").create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST_BACKUP))["Role"]["Arn"]
    aws("iam").put_role_policy(RoleName=role, PolicyName="s3", PolicyDocument=_kit_s3_backup_policy(config, key_arn))
    vault = f"backup-s3-vault-{suffix}"
    aws("backup").create_backup_vault(BackupVaultName=vault)

    def backup(bucket: str) -> dict[str, Any]:
        started = aws("backup").start_backup_job(BackupVaultName=vault, ResourceArn=bucket, IamRoleArn=role_arn)
        return backup_job_done(aws, started["BackupJobId"])

    data, other = backup(data_bucket), backup(other_bucket)

    assert data["State"] == "COMPLETED", data.get("StatusMessage")
    assert other["State"] == "FAILED"
    assert f"is not authorized to perform: s3:GetBucketVersioning on resource: {other_bucket}" in other["StatusMessage"]
    for point in aws("backup").list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]:
        aws("backup").delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point["RecoveryPointArn"])
    aws("backup").delete_backup_vault(BackupVaultName=vault)
