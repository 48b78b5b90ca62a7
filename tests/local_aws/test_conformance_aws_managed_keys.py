"""Conformance: the key behind a reserved alias (``alias/aws/s3``) is an AWS managed key, which every
principal of the account may use through its service without a grant of its own.

AWS KMS Developer Guide, "AWS managed keys",
https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key ("AWS managed
keys ... are created, managed, and used on your behalf by an AWS service"; their key policy allows
use by "all principals in the account that are authorized to use" the service, through that service
only: kms:ViaService and kms:CallerAccount); Amazon S3 User Guide, "Using server-side encryption with
AWS KMS keys (SSE-KMS)", https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
(without a key id, S3 uses the AWS managed key ``aws/s3``). Without fix Q30 the read below is denied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import TRUST_LAMBDA, as_role


def _app_role(aws: Callable[[str], Any], suffix: str, statement: dict[str, Any]) -> str:
    """A role only Lambda may assume (the app's: IAM is evaluated for it) allowed ``statement``."""
    iam, name = aws("iam"), f"managed-key-reader-{suffix}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
    document = {"Version": "2012-10-17", "Statement": [statement]}
    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps(document))
    return str(arn)


def test_an_object_under_aws_s3_reads_with_s3_permissions_alone_and_a_customer_key_needs_its_grant(
    aws: Callable[[str], Any], endpoint: str, suffix: str
) -> None:
    s3, bucket = aws("s3"), f"managed-key-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="managed", Body=b"m", ServerSideEncryption="aws:kms")  # no key id: aws/s3
    customer = aws("kms").create_key(Description="customer managed")["KeyMetadata"]["KeyId"]
    s3.put_object(Bucket=bucket, Key="customer", Body=b"c", ServerSideEncryption="aws:kms", SSEKMSKeyId=customer)
    role = _app_role(aws, suffix, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"})
    reader = as_role(aws, role, endpoint)("s3")

    assert reader.get_object(Bucket=bucket, Key="managed")["Body"].read() == b"m"
    with pytest.raises(ClientError) as denied:
        reader.get_object(Bucket=bucket, Key="customer")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_the_key_behind_a_reserved_alias_is_aws_managed_with_a_service_scoped_policy(
    aws: Callable[[str], Any],
) -> None:
    kms = aws("kms")
    metadata = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    policy = json.loads(kms.get_key_policy(KeyId=metadata["KeyId"], PolicyName="default")["Policy"])

    assert metadata["KeyManager"] == "AWS"
    (use,) = [s for s in policy["Statement"] if "kms:Decrypt" in s["Action"]]
    assert use["Principal"] == {"AWS": "*"}
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
