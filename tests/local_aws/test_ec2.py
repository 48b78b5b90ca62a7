"""Network resources: VPC plumbing deletes, route table associations, attributes, SG rules, flow logs."""

from __future__ import annotations

from typing import Any

from .helpers import get_att, ref, role, subnet, template, vpc


def _public_network() -> dict[str, Any]:
    """A VPC with one public subnet, internet gateway, route table and an S3 gateway endpoint."""
    resources = {
        "Vpc": vpc("10.1.0.0/16", EnableDnsHostnames=True, EnableDnsSupport=True),
        "Public": subnet("Vpc", "10.1.0.0/24", MapPublicIpOnLaunch=True),
        "Gateway": {"Type": "AWS::EC2::InternetGateway", "Properties": {}},
        "Attachment": {
            "Type": "AWS::EC2::VPCGatewayAttachment",
            "Properties": {"VpcId": ref("Vpc"), "InternetGatewayId": ref("Gateway")},
        },
        "Table": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": ref("Vpc")}},
        "Association": {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {"SubnetId": ref("Public"), "RouteTableId": ref("Table")},
        },
        "DefaultRoute": {
            "Type": "AWS::EC2::Route",
            "DependsOn": "Attachment",
            "Properties": {
                "RouteTableId": ref("Table"),
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": ref("Gateway"),
            },
        },
        "S3Endpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": ref("Vpc"),
                "ServiceName": "com.amazonaws.us-east-1.s3",
                "VpcEndpointType": "Gateway",
                "RouteTableIds": [ref("Table")],
            },
        },
    }
    outputs = {name: ref(name) for name in ("Vpc", "Public", "Gateway", "Table", "S3Endpoint")}
    return template(resources, outputs)


def _in_vpc(vpc_id: str) -> list[dict[str, Any]]:
    return [{"Name": "vpc-id", "Values": [vpc_id]}]


def test_r9_vpc_plumbing_is_deleted_with_the_stack(cfn, aws):
    ec2 = aws("ec2")
    stack = cfn.deploy(_public_network())
    ids = stack.outputs

    assert cfn.delete(stack).status == "DELETE_COMPLETE"

    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [ids["Vpc"]]}])["Vpcs"] == []
    assert ec2.describe_subnets(Filters=_in_vpc(ids["Vpc"]))["Subnets"] == []
    assert ec2.describe_route_tables(Filters=_in_vpc(ids["Vpc"]))["RouteTables"] == []
    gateways = ec2.describe_internet_gateways()["InternetGateways"]
    assert ids["Gateway"] not in {g["InternetGatewayId"] for g in gateways}
    assert ids["S3Endpoint"] not in {e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]}


def test_f1_subnet_associations_and_routes_are_in_the_route_table(cfn, aws):
    stack = cfn.deploy(_public_network())
    ids = stack.outputs

    table = aws("ec2").describe_route_tables(RouteTableIds=[ids["Table"]])["RouteTables"][0]

    assert [a.get("SubnetId") for a in table["Associations"]] == [ids["Public"]]
    targets = {
        r.get("DestinationCidrBlock") or r.get("DestinationPrefixListId"): r.get("GatewayId") for r in table["Routes"]
    }
    assert targets["0.0.0.0/0"] == ids["Gateway"]
    assert ids["S3Endpoint"] in targets.values()


def test_f6_vpc_dns_and_subnet_public_ip_attributes(cfn, aws):
    ec2 = aws("ec2")
    stack = cfn.deploy(_public_network())

    hostnames = ec2.describe_vpc_attribute(VpcId=stack.outputs["Vpc"], Attribute="enableDnsHostnames")
    public = ec2.describe_subnets(SubnetIds=[stack.outputs["Public"]])["Subnets"][0]

    assert hostnames["EnableDnsHostnames"]["Value"] is True
    assert public["MapPublicIpOnLaunch"] is True


def _rule_peers(permissions: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """(protocol, port, peer) for every peer of every permission."""
    peers = set()
    for permission in permissions:
        for peer in permission["IpRanges"]:
            peers.add((permission["IpProtocol"], permission.get("FromPort"), peer["CidrIp"]))
        for peer in permission["UserIdGroupPairs"]:
            peers.add((permission["IpProtocol"], permission.get("FromPort"), peer["GroupId"]))
    return peers


PLACEHOLDER_EGRESS = {"CidrIp": "255.255.255.255/32", "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86}


def _groups_template() -> dict[str, Any]:
    """Two groups without outbound access (CDK's allow_all_outbound=False writes a placeholder rule)."""
    group = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {"GroupDescription": "test", "VpcId": ref("Vpc"), "SecurityGroupEgress": [PLACEHOLDER_EGRESS]},
    }
    return template(
        {"Vpc": vpc("10.2.0.0/16"), "App": group, "Db": group},
        {"App": get_att("App", "GroupId"), "Db": get_att("Db", "GroupId")},
    )


def test_f2_inline_egress_replaces_the_default_allow_all_rule(cfn, aws):
    stack = cfn.deploy(_groups_template())

    group = aws("ec2").describe_security_groups(GroupIds=[stack.outputs["App"]])["SecurityGroups"][0]

    assert _rule_peers(group["IpPermissionsEgress"]) == {("icmp", 252, "255.255.255.255/32")}


def test_q5_standalone_rules_are_authorized_and_revoked(cfn, aws):
    ec2 = aws("ec2")
    groups = cfn.deploy(_groups_template()).outputs
    rule = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432}
    rules = cfn.deploy(
        template(
            {
                "Egress": {
                    "Type": "AWS::EC2::SecurityGroupEgress",
                    "Properties": {"GroupId": groups["App"], "DestinationSecurityGroupId": groups["Db"], **rule},
                },
                "Ingress": {
                    "Type": "AWS::EC2::SecurityGroupIngress",
                    "Properties": {"GroupId": groups["Db"], "SourceSecurityGroupId": groups["App"], **rule},
                },
            }
        )
    )

    def peers() -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
        described = {
            g["GroupId"]: g
            for g in ec2.describe_security_groups(GroupIds=[groups["App"], groups["Db"]])["SecurityGroups"]
        }
        return (
            _rule_peers(described[groups["App"]]["IpPermissionsEgress"]),
            _rule_peers(described[groups["Db"]]["IpPermissions"]),
        )

    app_egress, db_ingress = peers()
    assert ("tcp", 5432, groups["Db"]) in app_egress
    assert ("tcp", 5432, groups["App"]) in db_ingress

    assert cfn.delete(rules).status == "DELETE_COMPLETE"
    app_egress, db_ingress = peers()
    assert ("tcp", 5432, groups["Db"]) not in app_egress
    assert ("tcp", 5432, groups["App"]) not in db_ingress


def test_n1_flow_logs_are_deleted_with_the_stack(cfn, aws):
    resources = {
        "Vpc": vpc("10.3.0.0/16"),
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
        "Role": role(),
        "FlowLog": {
            "Type": "AWS::EC2::FlowLog",
            "Properties": {
                "ResourceId": ref("Vpc"),
                "ResourceType": "VPC",
                "TrafficType": "ALL",
                "LogDestinationType": "cloud-watch-logs",
                "LogGroupName": ref("Logs"),
                "DeliverLogsPermissionArn": get_att("Role", "Arn"),
            },
        },
    }
    stack = cfn.deploy(template(resources, {"FlowLog": ref("FlowLog"), "Logs": ref("Logs")}))
    flow_logs = aws("ec2").describe_flow_logs(FlowLogIds=[stack.outputs["FlowLog"]])["FlowLogs"]
    assert [f["LogGroupName"] for f in flow_logs] == [stack.outputs["Logs"]]

    cfn.delete(stack)

    remaining = {f["FlowLogId"] for f in aws("ec2").describe_flow_logs()["FlowLogs"]}
    assert stack.outputs["FlowLog"] not in remaining


def test_n2_restrict_default_security_group_removes_its_rules(cfn, aws):
    resources = {
        "Vpc": vpc("10.4.0.0/16"),
        "ProviderRole": role(),
        "Provider": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "nodejs22.x",
                "Handler": "index.handler",
                "Code": {"ZipFile": "exports.handler = async () => ({})"},
                "Role": get_att("ProviderRole", "Arn"),
            },
        },
        "Restrict": {
            "Type": "Custom::VpcRestrictDefaultSG",
            "Properties": {
                "ServiceToken": get_att("Provider", "Arn"),
                "DefaultSecurityGroupId": get_att("Vpc", "DefaultSecurityGroup"),
            },
        },
    }
    stack = cfn.deploy(template(resources, {"DefaultGroup": get_att("Vpc", "DefaultSecurityGroup")}))

    group = aws("ec2").describe_security_groups(GroupIds=[stack.outputs["DefaultGroup"]])["SecurityGroups"][0]

    assert group["IpPermissions"] == []
    assert group["IpPermissionsEgress"] == []
