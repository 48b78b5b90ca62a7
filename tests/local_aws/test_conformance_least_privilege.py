"""Conformance: services that act for a caller ask IAM what AWS derives from the request -- the KMS
key use of S3, Secrets Manager and SQS, the DLQ delivery Lambda makes with the function's role, and
the permissions AWS Backup needs of the job's role -- through the one evaluator
(``pipeline.policy.authorize``).

Each test names the AWS page it follows. Fixes: S1 (S3), S2 (Secrets Manager), S3 (SQS), S4 (SNS); the DLQ
delivery and the backup check are engine behaviour (``services/awslambda/runtime.py``,
``services/backup/jobs.py``). Run one without its fix: ``LOCAL_AWS_WITHOUT=S1 pytest ...``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator import ACCOUNT, REGION
from tools.local_aws import world
from tools.local_aws.clock import CLOCK
from tools.local_aws.pipeline import caller
from tools.local_aws.services.awslambda import runtime as lambda_runtime
from tools.local_aws.services.cloudwatch import alarms

from .helpers import TRUST_LAMBDA, as_role, backup_job_done, failing_function

Aws = Callable[[str], Any]
# The key policy statement of every kit key: the account administers it and delegates to IAM.
ACCOUNT_DELEGATES = {
    "Sid": "AccountAdministersAndDelegatesToIam",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:PutKeyPolicy"],
    "Resource": "*",
}


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(actions: list[str], resource: str, via: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if via:
        statement["Condition"] = {"StringEquals": {"kms:ViaService": f"{via}.{REGION}.amazonaws.com"}}
    return statement


def _key(aws: Aws) -> str:
    return str(aws("kms").create_key(Policy=_document(ACCOUNT_DELEGATES))["KeyMetadata"]["Arn"])


def _role(aws: Aws, name: str, *statements: dict[str, Any], trust: dict[str, Any] = TRUST_LAMBDA) -> str:
    iam = aws("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="needs", PolicyDocument=_document(*statements))
    return str(arn)


def _deny(aws: Aws, role_arn: str, action: str, resource: str) -> None:
    """An inline Deny of ``action`` on the role, as an operator would put it (PutRolePolicy)."""
    document = _document({"Effect": "Deny", "Action": action, "Resource": resource})
    aws("iam").put_role_policy(RoleName=role_arn.split("/")[-1], PolicyName="deny", PolicyDocument=document)


def _lift(aws: Aws, role_arn: str) -> None:
    aws("iam").delete_role_policy(RoleName=role_arn.split("/")[-1], PolicyName="deny")


def test_s1_an_sse_kms_object_needs_the_callers_key_permission_through_s3_also_with_a_bucket_key(
    aws: Aws, endpoint: str, suffix: str
) -> None:
    """Amazon S3 User Guide, "Using server-side encryption with AWS KMS keys (SSE-KMS)",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html: uploading an
    object needs kms:GenerateDataKey and downloading it kms:Decrypt on the key; "Reducing the cost of
    SSE-KMS with Amazon S3 Bucket Keys",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html: with a bucket key S3
    still checks the requester's permission on the key. A refusal is 403 AccessDenied with KMS's
    message naming the action ("Troubleshoot Access Denied (403 Forbidden) errors in Amazon S3",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html)."""
    key, bucket = _key(aws), f"lp-objects-{suffix}"
    aws("s3").create_bucket(Bucket=bucket)
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    aws("s3").put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
        },
    )
    objects = _allow(["s3:PutObject", "s3:GetObject"], f"arn:aws:s3:::{bucket}/*")
    writer = _role(aws, f"lp-s3-writer-{suffix}", objects)
    both = _role(aws, f"lp-s3-both-{suffix}", objects, _allow(["kms:GenerateDataKey", "kms:Decrypt"], key, via="s3"))
    elsewhere = _role(
        aws, f"lp-s3-sqs-{suffix}", objects, _allow(["kms:GenerateDataKey", "kms:Decrypt"], key, via="sqs")
    )

    for role_arn in (writer, elsewhere):
        with pytest.raises(ClientError) as refused:
            as_role(aws, role_arn, endpoint)("s3").put_object(Bucket=bucket, Key="heartbeat", Body=b"1")
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert f"is not authorized to perform: kms:GenerateDataKey on resource: {key}" in str(refused.value)

    s3 = as_role(aws, both, endpoint)("s3")
    s3.put_object(Bucket=bucket, Key="heartbeat", Body=b"1")
    assert s3.get_object(Bucket=bucket, Key="heartbeat")["Body"].read() == b"1"
    _deny(aws, both, "kms:Decrypt", key)
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=bucket, Key="heartbeat")
    assert "kms:Decrypt" in refused.value.response["Error"]["Message"]
    assert "explicit deny" in refused.value.response["Error"]["Message"]
    _lift(aws, both)
    assert s3.get_object(Bucket=bucket, Key="heartbeat")["Body"].read() == b"1"


def test_s2_a_role_without_kms_decrypt_cannot_read_a_secret_encrypted_with_a_customer_managed_key(
    aws: Aws, endpoint: str, suffix: str
) -> None:
    """AWS Secrets Manager User Guide, "Secret encryption and decryption in AWS Secrets Manager",
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html: to read a
    secret encrypted with a customer managed key the caller needs kms:Decrypt on it (through Secrets
    Manager: kms:ViaService); "Troubleshoot AWS Secrets Manager",
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/troubleshoot.html: "Access to KMS is
    not allowed"."""
    key = _key(aws)
    secret = aws("secretsmanager").create_secret(Name=f"lp-secret-{suffix}", SecretString="s3cr3t", KmsKeyId=key)
    reads = _allow(["secretsmanager:GetSecretValue"], secret["ARN"])
    without = _role(aws, f"lp-secret-reader-{suffix}", reads)
    decrypts = _role(aws, f"lp-secret-decrypts-{suffix}", reads, _allow(["kms:Decrypt"], key, via="secretsmanager"))

    with pytest.raises(ClientError) as refused:
        as_role(aws, without, endpoint)("secretsmanager").get_secret_value(SecretId=secret["ARN"])
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("AccessDeniedException", "Access to KMS is not allowed")
    value = as_role(aws, decrypts, endpoint)("secretsmanager").get_secret_value(SecretId=secret["ARN"])
    assert value["SecretString"] == "s3cr3t"


def _failing_function(aws: Aws, name: str, role_arn: str, dead_letters: str) -> str:
    failing_function(aws, role_arn, name, DeadLetterConfig={"TargetArn": dead_letters})
    aws("lambda").put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    return name


def _dead_letter_errors(aws: Aws, name: str) -> float:
    stats = aws("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="DeadLetterErrors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=CLOCK.now() - timedelta(hours=1),
        EndTime=CLOCK.now() + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in stats["Datapoints"]))


def test_s3_lambda_dead_letters_into_an_sse_kms_queue_only_with_the_functions_key_permission(
    aws: Aws, suffix: str
) -> None:
    """Amazon SQS Developer Guide, "Key management",
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html:
    a producer of an SSE-KMS queue needs kms:GenerateDataKey and kms:Decrypt on its key; AWS Lambda
    Developer Guide, "Dead-letter queues",
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq:
    Lambda sends the event with the function's execution role, and counts DeadLetterErrors when it
    cannot. The kit's ``failure_queue_statements`` grant the first; a role without it (the fix
    reverted) loses every dead letter."""
    key = _key(aws)
    url = aws("sqs").create_queue(QueueName=f"lp-dlq-{suffix}", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:lp-dlq-{suffix}"
    sends = _allow(["sqs:SendMessage"], queue_arn)
    # The key statement lib/constructs/execution_role.failure_queue_statements writes.
    key_grant = _allow(["kms:GenerateDataKey", "kms:Decrypt"], key, via="sqs")
    reverted = _failing_function(aws, f"lp-no-grant-{suffix}", _role(aws, f"lp-no-grant-{suffix}", sends), queue_arn)
    granted = _failing_function(
        aws, f"lp-grant-{suffix}", _role(aws, f"lp-grant-{suffix}", sends, key_grant), queue_arn
    )

    lambda_runtime.invoke_event(ACCOUNT, REGION, reverted, b'{"n": 1}')
    assert aws("sqs").receive_message(QueueUrl=url).get("Messages", []) == []
    assert _dead_letter_errors(aws, reverted) == 1
    lambda_runtime.invoke_event(ACCOUNT, REGION, granted, b'{"n": 2}')
    (message,) = aws("sqs").receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"]) == {"n": 2}
    assert _dead_letter_errors(aws, granted) == 0


TRUST_BACKUP = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def test_aws_backup_fails_a_job_whose_role_may_not_back_up_the_resource_and_completes_it_once_allowed(
    aws: Aws, backup_role: str, suffix: str
) -> None:
    """AWS Backup Developer Guide, "Access control",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/access-control.html and "Troubleshooting
    AWS Backup", https://docs.aws.amazon.com/aws-backup/latest/devguide/troubleshooting.html: AWS
    Backup acts on the resource with the role passed to the job; a role that lacks the permissions
    the AWS managed policy AWSBackupServiceRolePolicyForBackup grants for the resource type
    (dynamodb:DescribeTable, dynamodb:CreateBackup on the table) makes the job FAIL with the
    service's AccessDenied message, naming the action."""
    table = f"lp-table-{suffix}"
    aws("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    vault = f"lp-vault-{suffix}"
    aws("backup").create_backup_vault(BackupVaultName=vault)
    describes_only = _role(
        aws, f"lp-backup-{suffix}", _allow(["dynamodb:DescribeTable"], table_arn), trust=TRUST_BACKUP
    )

    def job(role_arn: str) -> dict[str, Any]:
        started = aws("backup").start_backup_job(BackupVaultName=vault, ResourceArn=table_arn, IamRoleArn=role_arn)
        return backup_job_done(aws, started["BackupJobId"])

    failed = job(describes_only)
    assert failed["State"] == "FAILED"
    assert failed["StatusMessage"] == (
        f"User: {describes_only} is not authorized to perform: dynamodb:CreateBackup on resource: {table_arn} "
        "because no identity-based policy allows the dynamodb:CreateBackup action"
    )
    _deny(aws, backup_role, "dynamodb:CreateBackup", table_arn)
    denied = job(backup_role)
    _lift(aws, backup_role)
    completed = job(backup_role)

    assert denied["State"] == "FAILED"
    assert "dynamodb:CreateBackup" in denied["StatusMessage"]
    assert "explicit deny in an identity-based policy" in denied["StatusMessage"]
    assert completed["State"] == "COMPLETED"
    for point in aws("backup").list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]:
        aws("backup").delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point["RecoveryPointArn"])
    aws("backup").delete_backup_vault(BackupVaultName=vault)


def test_aws_backup_needs_kms_decrypt_through_s3_for_a_bucket_encrypted_with_a_customer_managed_key(
    aws: Aws, suffix: str
) -> None:
    """AWS Backup Developer Guide, "Encryption for backups in AWS Backup",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html, and the AWS managed policy
    AWSBackupServiceRolePolicyForS3Backup (kms:Decrypt with kms:ViaService s3.*.amazonaws.com): an
    S3 backup reads the objects through S3 with the job's role, so the role needs kms:Decrypt on
    the bucket's key."""
    key, bucket = _key(aws), f"lp-backed-{suffix}"
    aws("s3").create_bucket(Bucket=bucket)
    aws("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    aws("s3").put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}
    )
    reads = _allow(
        ["s3:GetBucketVersioning", "s3:ListBucketVersions", "s3:GetObject", "s3:GetObjectVersion"],
        f"arn:aws:s3:::{bucket}*",
    )
    role_arn = _role(aws, f"lp-s3-backup-{suffix}", reads, trust=TRUST_BACKUP)
    vault = f"lp-s3-vault-{suffix}"
    aws("backup").create_backup_vault(BackupVaultName=vault)
    started = aws("backup").start_backup_job(
        BackupVaultName=vault, ResourceArn=f"arn:aws:s3:::{bucket}", IamRoleArn=role_arn
    )

    failed = backup_job_done(aws, started["BackupJobId"])

    assert failed["State"] == "FAILED"
    assert f"is not authorized to perform: kms:Decrypt on resource: {key}" in failed["StatusMessage"]
    aws("backup").delete_backup_vault(BackupVaultName=vault)


def test_s4_publishing_to_an_encrypted_topic_needs_the_key_through_sns_for_a_role_and_the_key_policy_for_cloudwatch(
    aws: Aws, endpoint: str, suffix: str
) -> None:
    """Amazon SNS Developer Guide, "Securing Amazon SNS data with server-side encryption",
    https://docs.aws.amazon.com/sns/latest/dg/sns-server-side-encryption.html: a publisher needs
    kms:GenerateDataKey and kms:Decrypt on the topic's customer managed key; an AWS service that
    publishes (CloudWatch alarms) needs them in the key policy for its service principal
    ("Enable compatibility between event sources from AWS services and encrypted topics"). Publish
    API reference: KMSAccessDenied."""
    key = _key(aws)
    topic = aws("sns").create_topic(Name=f"lp-topic-{suffix}", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    publishes = _allow(["sns:Publish"], topic)
    without = _role(aws, f"lp-publisher-{suffix}", publishes)
    with_key = _role(
        aws, f"lp-publisher-key-{suffix}", publishes, _allow(["kms:GenerateDataKey", "kms:Decrypt"], key, via="sns")
    )

    with pytest.raises(ClientError) as refused:
        as_role(aws, without, endpoint)("sns").publish(TopicArn=topic, Message="m")
    assert refused.value.response["Error"]["Code"] == "KMSAccessDenied"
    assert "kms:GenerateDataKey" in refused.value.response["Error"]["Message"]
    assert as_role(aws, with_key, endpoint)("sns").publish(TopicArn=topic, Message="m")["MessageId"]

    aws_topic = world.topic(ACCOUNT, REGION, topic)
    assert aws_topic is not None
    cloudwatch = caller.Caller.service_principal(ACCOUNT, alarms.CLOUDWATCH)
    with caller.acting_as(cloudwatch), pytest.raises(world.AWS_ERRORS):
        aws_topic.publish("alarm")  # the key policy names only the account
    service = {
        "Effect": "Allow",
        "Principal": {"Service": alarms.CLOUDWATCH},
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": "*",
    }
    aws("kms").put_key_policy(KeyId=key, PolicyName="default", Policy=_document(ACCOUNT_DELEGATES, service))
    with caller.acting_as(cloudwatch):
        assert aws_topic.publish("alarm")
