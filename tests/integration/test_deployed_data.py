"""The deployed data tier, including real data round trips."""

from __future__ import annotations

import json
import uuid

import pytest

from lib import output_keys as keys

pytestmark = pytest.mark.aws_minutes(0.5)


def _cluster(client, outputs) -> dict:
    (cluster,) = client("rds").describe_db_clusters(DBClusterIdentifier=outputs[keys.AURORA_CLUSTER_IDENTIFIER])[
        "DBClusters"
    ]
    return cluster


def _instances(config) -> dict[str, bool]:
    """Every instance of the profile: is it the writer?"""
    readers = {config.name(name): False for _, name, _ in config.aurora_readers()}
    return {config.name("aurora-writer"): True, **readers}


def test_aurora_cluster_engine_encryption_and_retention(client, outputs, suffix, config) -> None:
    cluster = _cluster(client, outputs)
    assert cluster["DBClusterIdentifier"] == f"aurora-cluster-{suffix}"
    assert cluster["Engine"] == "aurora-postgresql" and cluster["EngineVersion"].startswith("16.")
    assert cluster["StorageEncrypted"] is True
    assert cluster["KmsKeyId"] == outputs[keys.AURORA_KEY_ARN]
    assert cluster["BackupRetentionPeriod"] == 7
    assert cluster["DeletionProtection"] is config.profile.deletion_protection
    assert cluster["ServerlessV2ScalingConfiguration"]["MinCapacity"] == config.profile.aurora_min_capacity
    assert cluster["Port"] == int(outputs[keys.AURORA_PORT])
    assert cluster["Endpoint"] == outputs[keys.AURORA_WRITER_ENDPOINT]


def test_aurora_has_a_writer_and_the_profiles_readers(client, outputs, config) -> None:
    members = _cluster(client, outputs)["DBClusterMembers"]
    assert {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in members} == _instances(config)


def test_database_secret_describes_the_cluster(client, outputs, suffix) -> None:
    secrets = client("secretsmanager")
    assert secrets.describe_secret(SecretId=outputs[keys.DATABASE_SECRET_ARN])["Name"] == f"aurora-credentials-{suffix}"
    value = json.loads(secrets.get_secret_value(SecretId=outputs[keys.DATABASE_SECRET_ARN])["SecretString"])
    assert value["username"] == "dbadmin"
    assert value["host"] == outputs[keys.AURORA_WRITER_ENDPOINT]
    assert len(value["password"]) >= 30


def test_table_is_on_demand_and_stores_an_item(client, outputs, config) -> None:
    dynamodb = client("dynamodb")
    table = dynamodb.describe_table(TableName=outputs[keys.TABLE_NAME])["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is config.profile.deletion_protection
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    key = {"pk": {"S": "integration-test"}, "sk": {"S": str(uuid.uuid4())}}
    dynamodb.put_item(TableName=outputs[keys.TABLE_NAME], Item={**key, "payload": {"S": "round trip"}})
    item = dynamodb.get_item(TableName=outputs[keys.TABLE_NAME], Key=key, ConsistentRead=True)["Item"]
    assert item["payload"] == {"S": "round trip"}
    dynamodb.delete_item(TableName=outputs[keys.TABLE_NAME], Key=key)


def test_bucket_is_kms_encrypted_with_its_cmk(client, outputs) -> None:
    encryption = client("s3").get_bucket_encryption(Bucket=outputs[keys.BUCKET_NAME])
    (rule,) = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == outputs[keys.BUCKET_KEY_ARN]


def test_only_devs_data_bucket_empties_itself_on_destroy(client, outputs, config) -> None:
    """CDK's auto-delete tag (and custom resource): dev only; prod keeps its objects until `make unprotect`."""
    tags = client("s3").get_bucket_tagging(Bucket=outputs[keys.BUCKET_NAME])["TagSet"]
    auto_deletes = {"Key": "aws-cdk:auto-delete-objects", "Value": "true"} in tags
    assert auto_deletes is not config.profile.deletion_protection


def test_bucket_keeps_old_versions_readable(client, outputs) -> None:
    s3 = client("s3")
    bucket, key = outputs[keys.BUCKET_NAME], f"integration-test/{uuid.uuid4()}.txt"
    first = s3.put_object(Bucket=bucket, Key=key, Body=b"version one")["VersionId"]
    s3.put_object(Bucket=bucket, Key=key, Body=b"version two")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"version two"
    assert s3.get_object(Bucket=bucket, Key=key, VersionId=first)["Body"].read() == b"version one"


def test_aurora_tls_iam_auth_and_log_export(client, outputs, suffix) -> None:
    cluster = _cluster(client, outputs)
    assert cluster["IAMDatabaseAuthenticationEnabled"] is True
    assert cluster["EnabledCloudwatchLogsExports"] == ["postgresql"]
    assert cluster["DBClusterParameterGroup"] == f"aurora-cluster-params-{suffix}"


def test_aurora_instances_sit_in_different_azs(client, outputs, config) -> None:
    instances = client("rds").describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": [outputs[keys.AURORA_CLUSTER_IDENTIFIER]]}]
    )["DBInstances"]
    zones = {i["DBInstanceIdentifier"]: i["AvailabilityZone"] for i in instances}
    assert set(zones) == set(_instances(config))
    assert len(set(zones.values())) == len(zones)


def test_secret_is_cmk_encrypted_and_rotates(client, outputs) -> None:
    secret = client("secretsmanager").describe_secret(SecretId=outputs[keys.DATABASE_SECRET_ARN])
    assert secret["KmsKeyId"] == outputs[keys.AURORA_KEY_ARN]
    assert secret["RotationEnabled"] is True
    assert secret["RotationRules"]["AutomaticallyAfterDays"] == 30


def test_table_has_pitr_and_server_side_encryption(client, outputs) -> None:
    dynamodb = client("dynamodb")
    table = dynamodb.describe_table(TableName=outputs[keys.TABLE_NAME])["Table"]
    assert table["SSEDescription"]["Status"] == "ENABLED"
    backups = dynamodb.describe_continuous_backups(TableName=outputs[keys.TABLE_NAME])["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert backups["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7


def test_bucket_versioning_public_access_block_lifecycle_and_logging(client, outputs) -> None:
    s3, bucket = client("s3"), outputs[keys.BUCKET_NAME]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    logging = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
    assert logging["TargetBucket"] == outputs[keys.ACCESS_LOGS_BUCKET_NAME]


def test_bucket_policy_denies_plain_http(client, outputs) -> None:
    policy = json.loads(client("s3").get_bucket_policy(Bucket=outputs[keys.BUCKET_NAME])["Policy"])
    assert any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in policy["Statement"]
    )
