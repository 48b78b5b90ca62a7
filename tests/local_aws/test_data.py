"""Aurora (cluster, instances, parameter group) and its Secrets Manager secret, rotation and policy."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import CloudFormation, Stack, get_att, ref, subnet, template, vpc

EXCLUDED = " %+~`#$&*()|[]{}:;<>?!'/@\"\\"


def _aurora(suffix: str) -> dict[str, Any]:
    """An Aurora PostgreSQL Serverless v2 cluster as CDK writes it: generated secret, writer, reader."""
    secret_ref = {"Ref": "Secret"}
    resources = {
        "Vpc": vpc("10.5.0.0/16"),
        "SubnetA": subnet("Vpc", "10.5.0.0/24", "us-east-1a"),
        "SubnetB": subnet("Vpc", "10.5.1.0/24", "us-east-1b"),
        "Group": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "db", "VpcId": ref("Vpc")},
        },
        "SubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {"DBSubnetGroupDescription": "db", "SubnetIds": [ref("SubnetA"), ref("SubnetB")]},
        },
        "Parameters": {
            "Type": "AWS::RDS::DBClusterParameterGroup",
            "Properties": {
                "DBClusterParameterGroupName": f"params-{suffix}",
                "Family": "aurora-postgresql16",
                "Description": "test",
                "Parameters": {"rds.force_ssl": 1},
            },
        },
        "Secret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": f"credentials-{suffix}",
                "GenerateSecretString": {
                    "SecretStringTemplate": json.dumps({"username": "dbadmin"}),
                    "GenerateStringKey": "password",
                    "PasswordLength": 30,
                    "ExcludeCharacters": EXCLUDED,
                },
            },
        },
        "Cluster": {
            "Type": "AWS::RDS::DBCluster",
            "Properties": {
                "DBClusterIdentifier": f"Aurora-{suffix}",
                "Engine": "aurora-postgresql",
                "EngineVersion": "16.6",
                "DatabaseName": "appdb",
                "Port": 5432,
                "MasterUsername": "dbadmin",
                "MasterUserPassword": {
                    "Fn::Join": ["", ["{{resolve:secretsmanager:", secret_ref, ":SecretString:password::}}"]]
                },
                "DBSubnetGroupName": ref("SubnetGroup"),
                "DBClusterParameterGroupName": ref("Parameters"),
                "VpcSecurityGroupIds": [get_att("Group", "GroupId")],
                "StorageEncrypted": True,
                "BackupRetentionPeriod": 7,
                "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 4},
            },
        },
        "Writer": _instance(0),
        "Reader": {**_instance(1), "DependsOn": "Writer"},
        "Attachment": {
            "Type": "AWS::SecretsManager::SecretTargetAttachment",
            "Properties": {"SecretId": secret_ref, "TargetId": ref("Cluster"), "TargetType": "AWS::RDS::DBCluster"},
        },
        "Rotation": {
            "Type": "AWS::SecretsManager::RotationSchedule",
            "Properties": {
                "SecretId": ref("Attachment"),
                "HostedRotationLambda": {"RotationType": "PostgreSQLSingleUser", "ExcludeCharacters": EXCLUDED},
                "RotationRules": {"ScheduleExpression": "rate(30 days)"},
            },
        },
        "Policy": {
            "Type": "AWS::SecretsManager::ResourcePolicy",
            "Properties": {
                "SecretId": ref("Attachment"),
                "ResourcePolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                            "Action": "secretsmanager:DeleteSecret",
                            "Resource": "*",
                        }
                    ],
                },
            },
        },
    }
    outputs = {
        "Cluster": ref("Cluster"),
        "Writer": ref("Writer"),
        "Reader": ref("Reader"),
        "Endpoint": get_att("Cluster", "Endpoint.Address"),
        "ReadEndpoint": get_att("Cluster", "ReadEndpoint.Address"),
        "Port": get_att("Cluster", "Endpoint.Port"),
        "SecretArn": ref("Attachment"),
        "SubnetGroup": ref("SubnetGroup"),
        "Group": get_att("Group", "GroupId"),
    }
    return template(resources, outputs, Transform="AWS::SecretsManager-2024-09-16")


def _instance(promotion_tier: int) -> dict[str, Any]:
    return {
        "Type": "AWS::RDS::DBInstance",
        "Properties": {
            "DBClusterIdentifier": ref("Cluster"),
            "DBInstanceClass": "db.serverless",
            "Engine": "aurora-postgresql",
            "PromotionTier": promotion_tier,
            "PubliclyAccessible": False,
        },
    }


@pytest.fixture
def aurora(cfn, suffix):
    """A cluster of the test's own, for the tests that delete it."""
    return cfn.deploy(_aurora(suffix))


@pytest.fixture(scope="module")
def read_only_aurora(aws) -> Iterator[tuple[Stack, str]]:
    """One cluster and its suffix for the tests that only describe it: each deployment starts a real
    PostgreSQL server, about a second apiece."""
    suffix = uuid.uuid4().hex[:8]
    cfn = CloudFormation(aws, suffix)
    stack = cfn.deploy(_aurora(suffix))
    yield stack, suffix
    cfn.delete(stack)


def test_r5_cluster_is_created_with_its_properties_and_endpoints(read_only_aurora, aws):
    aurora, suffix = read_only_aurora
    cluster = aws("rds").describe_db_clusters(DBClusterIdentifier=f"aurora-{suffix}")["DBClusters"][0]

    assert aurora.status == "CREATE_COMPLETE"
    assert aurora.outputs["Cluster"] == f"aurora-{suffix}"
    assert (aurora.outputs["Endpoint"], aurora.outputs["ReadEndpoint"]) == (
        cluster["Endpoint"],
        cluster["ReaderEndpoint"],
    )
    assert aurora.outputs["Port"] == str(cluster["Port"])
    assert cluster["Status"] == "available"
    assert (cluster["Engine"], cluster["EngineVersion"], cluster["DatabaseName"]) == (
        "aurora-postgresql",
        "16.6",
        "appdb",
    )
    assert cluster["DBSubnetGroup"] == aurora.outputs["SubnetGroup"]
    assert cluster["DBClusterParameterGroup"] == f"params-{suffix}"
    assert [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]] == [aurora.outputs["Group"]]
    assert (cluster["StorageEncrypted"], cluster["BackupRetentionPeriod"]) == (True, 7)
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4.0}


def test_r6_instances_join_their_cluster_as_writer_and_reader(read_only_aurora, aws):
    aurora, suffix = read_only_aurora
    cluster = aws("rds").describe_db_clusters(DBClusterIdentifier=f"aurora-{suffix}")["DBClusters"][0]
    members = {
        m["DBInstanceIdentifier"]: (m["IsClusterWriter"], m["PromotionTier"]) for m in cluster["DBClusterMembers"]
    }
    writer = aws("rds").describe_db_instances(DBInstanceIdentifier=aurora.outputs["Writer"])["DBInstances"][0]

    assert members == {aurora.outputs["Writer"]: (True, 0), aurora.outputs["Reader"]: (False, 1)}
    assert (writer["DBInstanceClass"], writer["Engine"]) == ("db.serverless", "aurora-postgresql")


def test_r5_cluster_and_instances_are_deleted_with_the_stack(cfn, aurora, aws, suffix):
    rds = aws("rds")

    assert cfn.delete(aurora).status == "DELETE_COMPLETE"

    with pytest.raises(ClientError, match="DBClusterNotFoundFault"):
        rds.describe_db_clusters(DBClusterIdentifier=f"aurora-{suffix}")
    remaining = {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]}
    assert not remaining & {aurora.outputs["Writer"], aurora.outputs["Reader"]}
    snapshots = rds.describe_db_cluster_snapshots(DBClusterIdentifier=f"aurora-{suffix}")["DBClusterSnapshots"]
    assert snapshots == []


def test_n3_cluster_parameter_group_holds_its_parameters(cfn, aurora, aws, suffix):
    rds = aws("rds")
    parameters = rds.describe_db_cluster_parameters(DBClusterParameterGroupName=f"params-{suffix}")["Parameters"]

    assert {p["ParameterName"]: p["ParameterValue"] for p in parameters} == {"rds.force_ssl": "1"}
    cfn.delete(aurora)
    names = {
        g["DBClusterParameterGroupName"] for g in rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]
    }
    assert f"params-{suffix}" not in names


def test_r7_generated_secret_holds_the_connection_details(read_only_aurora, aws):
    aurora, suffix = read_only_aurora
    secret = aws("secretsmanager").get_secret_value(SecretId=aurora.outputs["SecretArn"])
    value = json.loads(secret["SecretString"])

    assert secret["Name"] == f"credentials-{suffix}"
    assert value["username"] == "dbadmin"
    assert len(value["password"]) == 30 and not set(value["password"]) & set(EXCLUDED)
    assert value["engine"] == "postgres"
    assert (value["host"], value["port"], value["dbname"]) == (
        aurora.outputs["Endpoint"],
        int(aurora.outputs["Port"]),
        "appdb",
    )
    assert value["dbClusterIdentifier"] == f"aurora-{suffix}"


def test_r7_secret_is_deleted_without_recovery_window(cfn, aurora, aws):
    cfn.delete(aurora)

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws("secretsmanager").describe_secret(SecretId=aurora.outputs["SecretArn"])


def test_n4_rotation_schedule_is_recorded_without_rotating(read_only_aurora, aws):
    aurora, _ = read_only_aurora
    secrets = aws("secretsmanager")
    secret = secrets.describe_secret(SecretId=aurora.outputs["SecretArn"])

    assert secret["RotationEnabled"] is True
    assert secret["RotationRules"] == {"AutomaticallyAfterDays": 30}
    assert "NextRotationDate" in secret
    assert "LastRotatedDate" not in secret
    versions = secrets.list_secret_version_ids(SecretId=aurora.outputs["SecretArn"])["Versions"]
    assert [v["VersionStages"] for v in versions if "AWSPENDING" in v["VersionStages"]] == []


def test_n5_secret_resource_policy_is_stored(read_only_aurora, aws):
    aurora, _ = read_only_aurora
    policy = aws("secretsmanager").get_resource_policy(SecretId=aurora.outputs["SecretArn"])

    statement = json.loads(policy["ResourcePolicy"])["Statement"][0]
    assert (statement["Effect"], statement["Action"]) == ("Deny", "secretsmanager:DeleteSecret")
