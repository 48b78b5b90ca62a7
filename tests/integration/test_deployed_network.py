"""The deployed network: VPC over three AZs, endpoints, security-group rules."""

from __future__ import annotations

import pytest

from lib import output_keys as keys
from lib.config import select_profile
from lib.network_reachability import FUNCTION_PACKAGES, interface_services

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
    """Gateway endpoints for S3 and DynamoDB; an interface endpoint (private DNS) for every other service
    the functions' code calls (lib/network_reachability.py), with an ENI in the profile's AZs."""
    endpoints = client("ec2").describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [outputs[keys.VPC_ID]]}])[
        "VpcEndpoints"
    ]
    by_service = {e["ServiceName"]: e for e in endpoints}
    interface = {f"com.amazonaws.us-east-1.{service}" for service in interface_services()}
    assert set(by_service) == {"com.amazonaws.us-east-1.s3", "com.amazonaws.us-east-1.dynamodb", *interface}
    assert by_service["com.amazonaws.us-east-1.s3"]["VpcEndpointType"] == "Gateway"
    assert len(by_service["com.amazonaws.us-east-1.s3"]["RouteTableIds"]) == 6
    private = set(outputs[keys.PRIVATE_SUBNET_IDS].split(","))
    azs = select_profile(outputs[keys.PROFILE]).interface_endpoint_azs
    for service in interface:
        assert by_service[service]["VpcEndpointType"] == "Interface"
        assert by_service[service]["PrivateDnsEnabled"] is True
        subnets = set(by_service[service]["SubnetIds"])
        assert subnets <= private and len(subnets) == azs


def test_every_function_of_the_kit_runs_in_the_isolated_subnets(client, outputs, suffix) -> None:
    functions = [f"{kind}-{suffix}" for kind in FUNCTION_PACKAGES]
    private = set(outputs[keys.PRIVATE_SUBNET_IDS].split(","))
    for name in functions:
        config = client("lambda").get_function_configuration(FunctionName=name)
        assert set(config["VpcConfig"]["SubnetIds"]) == private, name
        assert config["VpcConfig"]["SecurityGroupIds"] == [outputs[keys.FUNCTION_SECURITY_GROUP_ID]], name


def test_database_accepts_postgres_only_from_the_function_group(client, outputs) -> None:
    (group,) = client("ec2").describe_security_groups(GroupIds=[outputs[keys.DATABASE_SECURITY_GROUP_ID]])[
        "SecurityGroups"
    ]
    (rule,) = group["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (5432, 5432, "tcp")
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [outputs[keys.FUNCTION_SECURITY_GROUP_ID]]
    assert rule["IpRanges"] == []


def test_functions_send_nothing_to_the_internet_and_endpoints_serve_this_account_only(client, outputs) -> None:
    """The functions' group lets out only 443 to the interface endpoints' group and the S3/DynamoDB
    prefix lists, and 5432 to the database; every endpoint's policy names this account's resources."""
    ec2 = client("ec2")
    (group,) = ec2.describe_security_groups(GroupIds=[outputs[keys.FUNCTION_SECURITY_GROUP_ID]])["SecurityGroups"]
    rules = group["IpPermissionsEgress"]
    peers = {
        (rule["FromPort"], peer.get("GroupId") or peer.get("PrefixListId"))
        for rule in rules
        for peer in [*rule["UserIdGroupPairs"], *rule["PrefixListIds"]]
    }
    prefix_lists = {
        found["PrefixListId"]
        for found in ec2.describe_managed_prefix_lists()["PrefixLists"]
        if found["PrefixListName"] in ("com.amazonaws.us-east-1.s3", "com.amazonaws.us-east-1.dynamodb")
    }
    assert all(rule["IpRanges"] == [] and rule["Ipv6Ranges"] == [] for rule in rules)
    assert {peer for port, peer in peers if port == 443} - {outputs[keys.DATABASE_SECURITY_GROUP_ID]} >= prefix_lists
    assert len(prefix_lists) == 2 and len(peers) == 4
    assert (5432, outputs[keys.DATABASE_SECURITY_GROUP_ID]) in peers
    in_vpc = [{"Name": "vpc-id", "Values": [outputs[keys.VPC_ID]]}]
    for endpoint in ec2.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"]:
        assert "aws:ResourceAccount" in endpoint["PolicyDocument"], endpoint["ServiceName"]
