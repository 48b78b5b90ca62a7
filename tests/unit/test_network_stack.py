"""Network layer: three AZs, no internet path for workloads, endpoints, tight security groups."""

from __future__ import annotations

from lib.config import DEV
from lib.network_reachability import interface_services
from tests.unit.templates import SUFFIX, Templates, only


def test_one_vpc_named_with_suffix(templates: Templates) -> None:
    vpc = only(templates.network, "AWS::EC2::VPC")["Properties"]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert vpc["EnableDnsHostnames"] is True and vpc["EnableDnsSupport"] is True
    assert {"Key": "Name", "Value": f"vpc-{SUFFIX}"} in vpc["Tags"]


def test_public_and_isolated_subnets_in_three_azs(templates: Templates) -> None:
    subnets = templates.network.find_resources("AWS::EC2::Subnet")
    by_type: dict[str, set[str]] = {}
    for subnet in subnets.values():
        props = subnet["Properties"]
        kind = next(t["Value"] for t in props["Tags"] if t["Key"] == "aws-cdk:subnet-type")
        by_type.setdefault(kind, set()).add(props["AvailabilityZone"])
    expected = {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert by_type == {"Public": expected, "Isolated": expected}
    assert len(subnets) == 6


def test_no_nat_gateway_and_only_public_subnets_route_to_the_internet(templates: Templates) -> None:
    templates.network.resource_count_is("AWS::EC2::NatGateway", 0)
    routes = templates.network.find_resources("AWS::EC2::Route")
    assert len(routes) == 3  # one default route per public subnet
    for route in routes.values():
        assert "GatewayId" in route["Properties"]
        assert "public" in route["Properties"]["RouteTableId"]["Ref"]


def test_gateway_endpoints_for_s3_and_dynamodb_on_every_route_table(templates: Templates) -> None:
    endpoints = templates.network.find_resources(
        "AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Gateway"}}
    )
    services = sorted(str(e["Properties"]["ServiceName"]) for e in endpoints.values())
    assert len(services) == 2
    assert "dynamodb" in services[0] and "s3" in services[1]
    for endpoint in endpoints.values():
        assert len(endpoint["Properties"]["RouteTableIds"]) == 6


def test_interface_endpoints_exactly_for_the_services_the_functions_call(templates: Templates) -> None:
    """One per service some function's code calls that no gateway endpoint serves, private DNS on,
    behind the endpoint security group, with an ENI in each AZ the profile names."""
    endpoints = templates.network.find_resources(
        "AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}}
    )
    services = sorted(e["Properties"]["ServiceName"] for e in endpoints.values())
    assert services == [f"com.amazonaws.us-east-1.{s}" for s in ("backup", "lambda", "rds", "secretsmanager")]
    assert services == [f"com.amazonaws.us-east-1.{s}" for s in interface_services()]
    for endpoint in endpoints.values():
        properties = endpoint["Properties"]
        assert properties["PrivateDnsEnabled"] is True
        assert len(properties["SubnetIds"]) == DEV.interface_endpoint_azs == 2
        assert [g["Fn::GetAtt"][0] for g in properties["SecurityGroupIds"]] == [
            next(
                iter(
                    templates.network.find_resources(
                        "AWS::EC2::SecurityGroup", {"Properties": {"GroupName": f"endpoint-sg-{SUFFIX}"}}
                    )
                )
            )
        ]
    # the deployed Secrets Manager endpoint keeps its logical id (a replacement's private DNS would clash)
    assert any(logical_id.startswith("VpcSecretsManagerEndpoint") for logical_id in endpoints)


def test_security_groups_named_and_closed_by_default(templates: Templates) -> None:
    groups = templates.network.find_resources("AWS::EC2::SecurityGroup")
    names = sorted(g["Properties"]["GroupName"] for g in groups.values())
    assert names == [f"database-sg-{SUFFIX}", f"endpoint-sg-{SUFFIX}", f"lambda-sg-{SUFFIX}"]
    for group in groups.values():
        assert "SecurityGroupIngress" not in group["Properties"]
        for rule in group["Properties"].get("SecurityGroupEgress", []):
            # allow_all_outbound=False renders a "disallow all" placeholder rule
            assert rule["CidrIp"] in ("255.255.255.255/32", "0.0.0.0/0")
            if rule["CidrIp"] == "0.0.0.0/0":
                assert rule["FromPort"] == rule["ToPort"] == 443


def test_database_accepts_5432_only_from_the_function_group(templates: Templates) -> None:
    ingress = templates.network.find_resources("AWS::EC2::SecurityGroupIngress")
    to_database = [
        r["Properties"]
        for r in ingress.values()
        if "DatabaseSecurityGroup" in r["Properties"]["GroupId"]["Fn::GetAtt"][0]
    ]
    assert len(to_database) == 1
    rule = to_database[0]
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (5432, 5432, "tcp")
    assert "FunctionSecurityGroup" in rule["SourceSecurityGroupId"]["Fn::GetAtt"][0]


def test_nothing_is_open_to_the_internet(templates: Templates) -> None:
    for template in templates.all().values():
        for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values():
            assert "CidrIp" not in rule["Properties"] and "CidrIpv6" not in rule["Properties"]


def test_default_security_group_is_stripped(templates: Templates) -> None:
    templates.network.resource_count_is("Custom::VpcRestrictDefaultSG", 1)
