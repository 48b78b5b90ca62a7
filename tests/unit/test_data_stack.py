"""Data layer: Aurora Multi-AZ with PITR, DynamoDB with PITR, versioned encrypted S3 - all destroyable."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.unit.templates import ACCOUNT, SUFFIX, Templates, only


def test_aurora_postgres_current_16x_encrypted_with_the_cmk(templates: Templates) -> None:
    cluster = only(templates.data, "AWS::RDS::DBCluster")
    props = cluster["Properties"]
    assert props["Engine"] == "aurora-postgresql"
    major, minor = (int(part) for part in props["EngineVersion"].split("."))
    assert major == 16 and minor > 8  # 16.1-16.8 are deprecated (cfn-lint W3690)
    assert props["StorageEncrypted"] is True
    assert "AuroraKey" in props["KmsKeyId"]["Ref"]
    assert props["DBClusterIdentifier"] == f"aurora-cluster-{SUFFIX}"


def test_aurora_backups_retained_seven_days_and_deletable(templates: Templates) -> None:
    cluster = only(templates.data, "AWS::RDS::DBCluster")
    assert cluster["Properties"]["BackupRetentionPeriod"] == 7
    assert cluster["Properties"]["DeletionProtection"] is False
    assert cluster["DeletionPolicy"] == "Delete"
    assert cluster["Properties"]["CopyTagsToSnapshot"] is True


def test_aurora_writer_and_reader_in_different_azs(templates: Templates) -> None:
    instances = templates.data.find_resources("AWS::RDS::DBInstance")
    assert len(instances) == 2
    by_tier = {i["Properties"]["PromotionTier"]: i["Properties"] for i in instances.values()}
    assert by_tier[0]["AvailabilityZone"] != by_tier[1]["AvailabilityZone"]
    for props in by_tier.values():
        assert props["DBInstanceClass"] == "db.serverless"
        assert props["PubliclyAccessible"] is False
    assert {p["DBInstanceIdentifier"] for p in by_tier.values()} == {
        f"aurora-writer-{SUFFIX}",
        f"aurora-reader-{SUFFIX}",
    }
    for instance in instances.values():
        assert instance["DeletionPolicy"] == "Delete"


def test_aurora_in_isolated_subnets_behind_its_security_group(templates: Templates) -> None:
    group = only(templates.data, "AWS::RDS::DBSubnetGroup")["Properties"]
    assert group["DBSubnetGroupName"] == f"aurora-subnet-group-{SUFFIX}"
    assert len(group["SubnetIds"]) == 3
    assert all("privateSubnet" in subnet["Ref"] for subnet in group["SubnetIds"])
    cluster = only(templates.data, "AWS::RDS::DBCluster")["Properties"]
    assert "DatabaseSecurityGroup" in cluster["VpcSecurityGroupIds"][0]["Ref"]


def test_aurora_tls_only_iam_auth_and_log_export(templates: Templates) -> None:
    params = only(templates.data, "AWS::RDS::DBClusterParameterGroup")["Properties"]
    assert params["Parameters"]["rds.force_ssl"] == "1"
    cluster = only(templates.data, "AWS::RDS::DBCluster")["Properties"]
    assert cluster["EnableIAMDatabaseAuthentication"] is True
    assert cluster["EnableCloudwatchLogsExports"] == ["postgresql"]
    templates.data.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": f"/aws/rds/cluster/aurora-cluster-{SUFFIX}/postgresql",
            "RetentionInDays": 7,
            "KmsKeyId": Match.any_value(),
        },
    )


def test_credentials_in_a_cmk_encrypted_secret_with_hosted_rotation(templates: Templates) -> None:
    secret = only(templates.data, "AWS::SecretsManager::Secret")["Properties"]
    assert secret["Name"] == f"aurora-credentials-{SUFFIX}"
    assert "AuroraKey" in secret["KmsKeyId"]["Ref"]
    rotation = only(templates.data, "AWS::SecretsManager::RotationSchedule")["Properties"]
    assert rotation["HostedRotationLambda"]["RotationType"] == "PostgreSQLSingleUser"
    assert rotation["HostedRotationLambda"]["RotationLambdaName"] == f"secret-rotation-{SUFFIX}"
    assert "VpcSubnetIds" in rotation["HostedRotationLambda"]
    assert rotation["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    cluster = only(templates.data, "AWS::RDS::DBCluster")["Properties"]
    assert "resolve:secretsmanager" in str(cluster["MasterUserPassword"])


def test_first_rotation_waits_for_the_writer_instance(templates: Templates) -> None:
    """RotateSecret rotates at once when the schedule is created (Secrets Manager User Guide, "Rotate
    AWS Secrets Manager secrets"): the writer the rotation function connects to must already exist,
    and so must the secret's attachment to the cluster and the rotation function's log group."""
    writers = templates.data.find_resources(
        "AWS::RDS::DBInstance", {"Properties": {"DBInstanceIdentifier": f"aurora-writer-{SUFFIX}"}}
    )
    (writer,) = writers
    (schedule,) = templates.data.find_resources("AWS::SecretsManager::RotationSchedule").values()
    assert writer in schedule["DependsOn"]
    assert any("RotationLogGroup" in dependency for dependency in schedule["DependsOn"])
    assert "SecretAttachment" in schedule["Properties"]["SecretId"]["Ref"]


def test_dynamodb_on_demand_pitr_aws_managed_encryption_no_replicas(templates: Templates) -> None:
    table = only(templates.data, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["TableName"] == f"dynamodb-table-{SUFFIX}"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"] == {"SSEEnabled": True}  # no KMSMasterKeyId: the AWS managed key
    assert props["DeletionProtectionEnabled"] is False
    assert table["DeletionPolicy"] == "Delete"
    templates.data.resource_count_is("AWS::DynamoDB::GlobalTable", 0)


def _bucket(templates: Templates, name: str) -> dict:
    found = templates.data.find_resources("AWS::S3::Bucket", {"Properties": {"BucketName": name}})
    assert len(found) == 1, name
    return next(iter(found.values()))


def test_data_bucket_versioned_kms_encrypted_with_bucket_key(templates: Templates) -> None:
    bucket = _bucket(templates, f"data-bucket-{ACCOUNT}-{SUFFIX}")
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "BucketKey" in rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Ref"]
    assert rule["BucketKeyEnabled"] is True
    assert "ReplicationConfiguration" not in props
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "data-bucket/"


def test_data_bucket_lifecycle_expires_old_versions_and_aborts_uploads(templates: Templates) -> None:
    rules = _bucket(templates, f"data-bucket-{ACCOUNT}-{SUFFIX}")["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules == [
        {
            "Id": "expire-noncurrent-versions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    ]


def test_buckets_block_public_access_enforce_tls_and_auto_delete(templates: Templates) -> None:
    for name in (f"data-bucket-{ACCOUNT}-{SUFFIX}", f"access-logs-{ACCOUNT}-{SUFFIX}"):
        bucket = _bucket(templates, name)
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert bucket["DeletionPolicy"] == "Delete"
        assert {"Key": "aws-cdk:auto-delete-objects", "Value": "true"} in bucket["Properties"]["Tags"]
    templates.data.resource_count_is("Custom::S3AutoDeleteObjects", 2)
    for policy in templates.data.find_resources("AWS::S3::BucketPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in statements
        )
