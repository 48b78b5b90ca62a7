"""Network layer: three AZs, no internet path for workloads, endpoints, tight security groups."""

from __future__ import annotations

from typing import Any

from lib.config import DEV
from lib.network_reachability import interface_services
from lib.stacks.network_stack import ENDPOINT_ACTIONS, NO_RESOURCE_TYPE_ACTIONS
from tests.unit.templates import SUFFIX, Templates, only

ACCOUNT = {"Ref": "AWS::AccountId"}
IN_THIS_REGION = {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
S3_PREFIX_LIST, DYNAMODB_PREFIX_LIST = "pl-63a5400a", "pl-02cd2c6b"  # cdk.json's cached lookups


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
    assert services == [f"com.amazonaws.us-east-1.{s}" for s in ("backup", "rds", "secretsmanager")]
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
            assert rule["CidrIp"] == "255.255.255.255/32"


def test_no_security_group_lets_anything_out_to_the_internet(templates: Templates) -> None:
    """No egress rule to 0.0.0.0/0 or ::/0, and no group left with CloudFormation's default
    allow-all egress (a group without any egress rule of its own gets it)."""
    found = []
    for name, template in templates.all().items():
        standalone = template.find_resources("AWS::EC2::SecurityGroupEgress")
        for logical_id, group in template.find_resources("AWS::EC2::SecurityGroup").items():
            inline = group["Properties"].get("SecurityGroupEgress", [])
            own = [
                r for r in standalone.values() if r["Properties"]["GroupId"] == {"Fn::GetAtt": [logical_id, "GroupId"]}
            ]
            if not inline and not own:
                found.append(f"{name}/{logical_id} has no egress rule, so CloudFormation gives it allow-all egress")
            for rule in inline:
                if rule.get("CidrIp") == "0.0.0.0/0" or rule.get("CidrIpv6") == "::/0":
                    found.append(f"{name}/{logical_id} lets traffic out to the internet: {rule}")
        for logical_id, rule in standalone.items():
            if rule["Properties"].get("CidrIp") == "0.0.0.0/0" or rule["Properties"].get("CidrIpv6") == "::/0":
                found.append(f"{name}/{logical_id} lets traffic out to the internet: {rule['Properties']}")
    assert not found, found


def test_functions_reach_only_the_endpoints_and_the_database(templates: Templates) -> None:
    """Egress of the functions' group: 443 to the interface endpoints' group and to the S3 and
    DynamoDB prefix lists (the gateway endpoints), 5432 to the database's group."""
    egress = [
        r["Properties"]
        for r in templates.network.find_resources("AWS::EC2::SecurityGroupEgress").values()
        if "FunctionSecurityGroup" in r["Properties"]["GroupId"]["Fn::GetAtt"][0]
    ]

    def peer(rule: dict[str, Any]) -> str:
        if "DestinationPrefixListId" in rule:
            return str(rule["DestinationPrefixListId"])
        return str(rule["DestinationSecurityGroupId"]["Fn::GetAtt"][0])

    def group(name: str) -> str:
        found = templates.network.find_resources("AWS::EC2::SecurityGroup", {"Properties": {"GroupName": name}})
        return next(iter(found))

    assert sorted((peer(r), r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in egress) == sorted(
        [
            (group(f"database-sg-{SUFFIX}"), "tcp", 5432, 5432),
            (group(f"endpoint-sg-{SUFFIX}"), "tcp", 443, 443),
            (S3_PREFIX_LIST, "tcp", 443, 443),
            (DYNAMODB_PREFIX_LIST, "tcp", 443, 443),
        ]
    )


def test_every_endpoint_lets_through_only_this_accounts_resources(templates: Templates) -> None:
    """AWS PrivateLink Guide, "Control access to VPC endpoints using endpoint policies": each endpoint
    has a policy; every statement allows only the kit's actions for this service, and only on this
    account's resources (aws:ResourceAccount) -- except actions without a resource type (in this
    region) and the two AWS-owned S3 buckets the functions reach with pre-signed URLs, each limited to
    this account's objects."""
    found = []
    for logical_id, endpoint in templates.network.find_resources("AWS::EC2::VPCEndpoint").items():
        document = endpoint["Properties"].get("PolicyDocument")
        if document is None:
            found.append(f"{logical_id} has no endpoint policy (the default allows any account's resources)")
            continue
        service = _service(endpoint["Properties"]["ServiceName"])
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement["Effect"] != "Allow" or statement["Principal"] != {"AWS": "*"}:
                found.append(f"{logical_id}: unexpected statement {statement}")
            elif not set(actions) <= set(ENDPOINT_ACTIONS[service]):
                found.append(f"{logical_id} allows {sorted(set(actions) - set(ENDPOINT_ACTIONS[service]))}")
            elif statement.get("Condition") != {"StringEquals": {"aws:ResourceAccount": ACCOUNT}} and not (
                (service == "s3" and _aws_owned_bucket_of_this_account(statement))
                or (set(actions) <= NO_RESOURCE_TYPE_ACTIONS and statement.get("Condition") == IN_THIS_REGION)
            ):
                found.append(f"{logical_id}: statement {statement.get('Sid')} is not limited to this account")
    assert not found, found
    assert len(templates.network.find_resources("AWS::EC2::VPCEndpoint")) == 2 + len(interface_services())


def _service(service_name: Any) -> str:
    if isinstance(service_name, dict):  # gateway endpoints: {"Fn::Join": ["", ["com.amazonaws.", region, ".s3"]]}
        service_name = "".join(p if isinstance(p, str) else "" for p in service_name["Fn::Join"][1])
    return str(service_name).rsplit(".", 1)[-1]


def _aws_owned_bucket_of_this_account(statement: dict[str, Any]) -> bool:
    """The CloudFormation custom-resource response bucket (PutObject under this account's stacks)."""
    resource = statement["Resource"]
    parts = resource["Fn::Join"][1] if isinstance(resource, dict) else [resource]
    text = "".join(p if isinstance(p, str) else "<account>" for p in parts)
    return (statement["Action"], text) == (
        "s3:PutObject",
        "arn:aws:s3:::cloudformation-custom-resource-response-useast1/arn:aws:cloudformation:us-east-1:<account>:stack/*",
    ) and ACCOUNT in parts


def test_endpoint_policies_let_through_every_action_the_functions_roles_grant(templates: Templates) -> None:
    """A function's call that its role allows but its endpoint's policy does not would fail on AWS
    (and in the local target, which evaluates endpoint policies): the table must cover the roles."""
    granted: set[str] = set()
    for template in templates.all().values():
        roles = {
            logical_id
            for logical_id, role in template.find_resources("AWS::IAM::Role").items()
            if "lambda.amazonaws.com" in str(role["Properties"]["AssumeRolePolicyDocument"])
        }
        for policy in [
            *template.find_resources("AWS::IAM::Policy").values(),
            *template.find_resources("AWS::IAM::ManagedPolicy").values(),
        ]:
            attached = policy["Properties"].get("Roles", [])
            if not any(isinstance(r, dict) and r.get("Ref") in roles for r in attached):
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if "aws:CalledVia" in str(statement.get("Condition")):
                    continue  # a service makes that call for the function (forward access), not through its endpoint
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                granted.update(a for a in actions if a.split(":")[0] in ENDPOINT_ACTIONS)
    allowed = {action for actions in ENDPOINT_ACTIONS.values() for action in actions}
    assert granted, "no function role found"
    assert sorted(granted - allowed) == []


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
