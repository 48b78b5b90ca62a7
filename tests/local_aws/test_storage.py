"""S3 and DynamoDB: buckets with objects on delete, bucket policies, bucket and table properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import function, get_att, ref, role, template

DENY_INSECURE_TRANSPORT = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "s3:*",
    "Resource": "*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def _bucket(name: str, **properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name, **properties}}


def _auto_deleted_bucket(name: str) -> dict[str, Any]:
    """A versioned bucket with CDK's auto-delete custom resource (provider inline)."""
    return template(
        {
            "Bucket": _bucket(name, VersioningConfiguration={"Status": "Enabled"}),
            "ProviderRole": role(),
            "Provider": function("ProviderRole"),
            "AutoDelete": {
                "Type": "Custom::S3AutoDeleteObjects",
                "Properties": {"ServiceToken": get_att("Provider", "Arn"), "BucketName": ref("Bucket")},
            },
        }
    )


def _put_two_versions(s3: Any, bucket: str) -> None:
    for body in (b"first", b"second"):
        s3.put_object(Bucket=bucket, Key="data.txt", Body=body)


def _bucket_exists(s3: Any, bucket: str) -> bool:
    return bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_r10_auto_delete_empties_the_bucket_so_it_is_deleted(cfn, aws, suffix):
    s3 = aws("s3")
    stack = cfn.deploy(_auto_deleted_bucket(f"auto-delete-{suffix}"))
    _put_two_versions(s3, f"auto-delete-{suffix}")

    assert cfn.delete(stack).status == "DELETE_COMPLETE"
    assert not _bucket_exists(s3, f"auto-delete-{suffix}")


def test_r10_a_bucket_with_objects_fails_the_delete(cfn, aws, suffix):
    s3 = aws("s3")
    stack = cfn.deploy(template({"Bucket": _bucket(f"kept-{suffix}")}))
    s3.put_object(Bucket=f"kept-{suffix}", Key="data.txt", Body=b"data")

    failed = cfn.delete(stack)

    assert failed.status == "DELETE_FAILED"
    assert any("BucketNotEmpty" in event for event in cfn.events(stack))
    s3.delete_object(Bucket=f"kept-{suffix}", Key="data.txt")
    assert cfn.delete(stack).status == "DELETE_COMPLETE"


def _policy_stack(cfn: Any, bucket: str, *statements: dict[str, Any]) -> Any:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    policy = {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": ref("Bucket"), "PolicyDocument": document}}
    return cfn.deploy(template({"Bucket": _bucket(bucket), "Policy": policy}))


def test_q4_bucket_policy_is_stored_and_conditional_denies_do_not_block_the_local_endpoint(cfn, aws, suffix):
    s3 = aws("s3")
    _policy_stack(cfn, f"policy-{suffix}", DENY_INSECURE_TRANSPORT)

    stored = json.loads(s3.get_bucket_policy(Bucket=f"policy-{suffix}")["Policy"])
    s3.put_object(Bucket=f"policy-{suffix}", Key="asset.zip", Body=b"zip")

    assert stored["Statement"] == [DENY_INSECURE_TRANSPORT]
    assert s3.get_object(Bucket=f"policy-{suffix}", Key="asset.zip")["Body"].read() == b"zip"


def test_q4_unconditional_denies_are_still_enforced(cfn, aws, suffix):
    deny_puts = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::deny-{suffix}/*",
    }
    _policy_stack(cfn, f"deny-{suffix}", deny_puts, DENY_INSECURE_TRANSPORT)

    with pytest.raises(ClientError) as denied:
        aws("s3").put_object(Bucket=f"deny-{suffix}", Key="blocked.txt", Body=b"no")

    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_f3_bucket_versioning_lifecycle_public_access_block_and_logging(cfn, aws, suffix):
    s3 = aws("s3")
    lifecycle = {
        "Rules": [
            {"Id": "old-versions", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 30}},
            {"Id": "uploads", "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        ]
    }
    block_all = {
        name: True for name in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    }
    data = _bucket(
        f"data-{suffix}",
        VersioningConfiguration={"Status": "Enabled"},
        LifecycleConfiguration=lifecycle,
        PublicAccessBlockConfiguration=block_all,
        LoggingConfiguration={"DestinationBucketName": ref("Logs"), "LogFilePrefix": "data/"},
    )
    cfn.deploy(template({"Logs": _bucket(f"logs-{suffix}"), "Data": data}))
    bucket = f"data-{suffix}"

    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert rules["old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rules["uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == block_all
    assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"] == {
        "TargetBucket": f"logs-{suffix}",
        "TargetPrefix": "data/",
    }


def test_f4_table_point_in_time_recovery_and_encryption(cfn, aws, suffix):
    dynamodb = aws("dynamodb")
    table = {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": f"table-{suffix}",
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7},
            "SSESpecification": {"SSEEnabled": True},
        },
    }
    cfn.deploy(template({"Table": table}))

    recovery = dynamodb.describe_continuous_backups(TableName=f"table-{suffix}")["ContinuousBackupsDescription"]
    description = dynamodb.describe_table(TableName=f"table-{suffix}")["Table"]

    assert recovery["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert recovery["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7
    assert description["SSEDescription"]["Status"] == "ENABLED"
    assert description["SSEDescription"]["SSEType"] == "KMS"
