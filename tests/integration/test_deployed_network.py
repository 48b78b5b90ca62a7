"""The deployed network: VPC over three AZs, endpoints, security-group rules."""

from __future__ import annotations

import pytest

from lib import output_keys as keys

pytestmark = pytest.mark.aws_minutes(0.5)


def test_vpc_exists_with_its_name(client, outputs, suffix) -> None:
    (vpc,) = client("ec2").describe_vpcs(VpcIds=[outputs[keys.VPC_ID]])["Vpcs"]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert {"Key": "Name", "Value": f"vpc-{suffix}"} in vpc["Tags"]


def test_private_and_public_subnets_span_three_azs(client, outputs) -> None:
    ec2 = client("ec2")
    for key in (keys.PRIVATE_SUBNET_IDS, keys.PUBLIC_SUBNET_IDS):
        subnets = ec2.describe_subnets(SubnetIds=outputs[key].split(","))["Subnets"]
        assert len(subnets) == 3
        assert {s["AvailabilityZone"] for s in subnets} == {"us-east-1a", "us-east-1b", "us-east-1c"}
        assert {s["VpcId"] for s in subnets} == {outputs[keys.VPC_ID]}


def test_gateway_and_interface_endpoints(client, outputs) -> None:
    endpoints = client("ec2").describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [outputs[keys.VPC_ID]]}])[
        "VpcEndpoints"
    ]
    by_service = {e["ServiceName"]: e for e in endpoints}
    assert set(by_service) == {
        "com.amazonaws.us-east-1.s3",
        "com.amazonaws.us-east-1.dynamodb",
        "com.amazonaws.us-east-1.secretsmanager",
    }
    assert by_service["com.amazonaws.us-east-1.s3"]["VpcEndpointType"] == "Gateway"
    assert by_service["com.amazonaws.us-east-1.secretsmanager"]["VpcEndpointType"] == "Interface"
    assert len(by_service["com.amazonaws.us-east-1.s3"]["RouteTableIds"]) == 6
    private = set(outputs[keys.PRIVATE_SUBNET_IDS].split(","))
    assert set(by_service["com.amazonaws.us-east-1.secretsmanager"]["SubnetIds"]) == private


def test_database_accepts_postgres_only_from_the_function_group(client, outputs) -> None:
    (group,) = client("ec2").describe_security_groups(GroupIds=[outputs[keys.DATABASE_SECURITY_GROUP_ID]])[
        "SecurityGroups"
    ]
    (rule,) = group["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (5432, 5432, "tcp")
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [outputs[keys.FUNCTION_SECURITY_GROUP_ID]]
    assert rule["IpRanges"] == []
