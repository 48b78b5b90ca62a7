"""Conformance: the network a VPC function runs in (pipeline/network.py).

AWS Lambda Developer Guide, "Giving Lambda functions access to resources in an Amazon VPC",
https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html: a function connected to a VPC
runs in the subnets it is given (at least two AZs recommended for availability) and "can't access
the internet" or AWS services unless the VPC gives it a way: a NAT gateway or VPC endpoints.
AWS PrivateLink Guide, "Access an AWS service using an interface VPC endpoint",
https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html: an interface
endpoint is an ENI per subnet; with private DNS the service's default name resolves to it; its
security group "must allow communication between the endpoint network interface and the resources
in your VPC" on HTTPS. AWS PrivateLink Guide, "Gateway endpoints",
https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html: S3 and DynamoDB, reached
through a route in the route tables the endpoint is associated with. Amazon VPC User Guide,
"Control subnet traffic with network access control lists",
https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html: stateless, rules evaluated
in order from the lowest number, the first match decides, a new custom ACL denies everything; FIS's
``aws:network:disrupt-connectivity`` cuts a subnet off this way (AWS FIS User Guide, "Network
actions", https://docs.aws.amazon.com/fis/latest/userguide/network-actions-reference.html).
AWS SDK for Python (botocore), "Config reference", connect_timeout (60 s by default) and
https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html: a connection that
never answers raises ConnectTimeoutError "Connect timeout on endpoint URL" after the retries.
Aurora User Guide, "Amazon Aurora DB clusters" / "High availability for Amazon Aurora",
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.AuroraHighAvailability.html:
the cluster endpoint points at the writer; a failover makes a reader in another AZ the writer.
Amazon VPC User Guide, "Security group rules",
https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html: a rule can name a
security group as its source; the database admits only what its groups allow.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.emulator import ACCOUNT
from tools.local_aws.services.awslambda import runtime

from .helpers import TRUST_LAMBDA, VPC_ACCESS_POLICY, function, get_att, ref, role, subnet, template, until, vpc

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")

CALL_SERVICE = """
import time
import boto3
from botocore.config import Config


def handler(event, context):
    retries = event.get("retries", {"mode": "standard", "max_attempts": 1})
    config = Config(connect_timeout=event.get("connect_timeout", 60), retries=retries)
    client = boto3.client(event["service"], config=config)
    started = time.time()
    try:
        getattr(client, event["call"])()
        outcome = "reached"
    except Exception as error:
        outcome = f"{type(error).__name__}: {error}"
    return {"outcome": outcome, "waited": time.time() - started, "remaining_ms": context.get_remaining_time_in_millis()}
"""

CONNECT_DATABASE = """
import ssl
import time
import pg8000.native


def handler(event, context):
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    started = time.time()
    try:
        connection = pg8000.native.Connection(
            user="master", password="correct-horse-battery", host=event["host"], port=event["port"],
            database="postgres", ssl_context=tls, timeout=5,
        )
        outcome = str(connection.run("SELECT 1")[0][0])
        connection.close()
    except Exception as error:
        outcome = f"{type(error).__name__}: {error}"
    return {"outcome": outcome, "waited": time.time() - started}
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


@dataclass
class Network:
    """A VPC with one subnet per AZ, a function group, an endpoint group that admits it on 443."""

    aws: Callable[[str], Any]
    vpc_id: str
    subnets: dict[str, str]  # AZ -> subnet
    function_group: str
    endpoint_group: str
    role_arn: str

    def function(self, source: str, zones: tuple[str, ...] = ZONES, timeout: int = 30) -> str:
        name = f"net-{uuid.uuid4().hex[:8]}"
        self.aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=self.role_arn,
            Handler="index.handler",
            Code={"ZipFile": _zip(source)},
            Timeout=timeout,
            VpcConfig={"SubnetIds": [self.subnets[z] for z in zones], "SecurityGroupIds": [self.function_group]},
        )
        return name

    def interface_endpoint(self, service: str, zones: tuple[str, ...], group: str | None = None) -> str:
        endpoint = self.aws("ec2").create_vpc_endpoint(
            VpcId=self.vpc_id,
            VpcEndpointType="Interface",
            ServiceName=f"com.amazonaws.us-east-1.{service}",
            SubnetIds=[self.subnets[z] for z in zones],
            SecurityGroupIds=[group or self.endpoint_group],
            PrivateDnsEnabled=True,
        )
        return str(endpoint["VpcEndpoint"]["VpcEndpointId"])

    def cut_off(self, zone: str) -> None:
        """What FIS's disrupt-connectivity does: the subnet's ACL swapped for a new, empty one."""
        ec2 = self.aws("ec2")
        subnet = self.subnets[zone]
        current = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
        association = next(
            a["NetworkAclAssociationId"]
            for acl in current["NetworkAcls"]
            for a in acl["Associations"]
            if a["SubnetId"] == subnet
        )
        deny_all = ec2.create_network_acl(VpcId=self.vpc_id)["NetworkAcl"]["NetworkAclId"]
        ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=deny_all)


def invoke(aws: Callable[[str], Any], name: str, event: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The function's answer (its error payload when it failed) and its log tail."""
    import base64

    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    body: dict[str, Any] = json.loads(response["Payload"].read())
    return body, base64.b64decode(response["LogResult"]).decode()


@pytest.fixture
def network(aws: Callable[[str], Any]) -> Iterator[Network]:
    ec2, iam = aws("ec2"), aws("iam")
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnets = {
        zone: ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.60.{index}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for index, zone in enumerate(ZONES)
    }
    tag = uuid.uuid4().hex[:8]
    function_group = ec2.create_security_group(GroupName=f"fn-{tag}", Description="fn", VpcId=vpc_id)["GroupId"]
    endpoint_group = ec2.create_security_group(GroupName=f"vpce-{tag}", Description="vpce", VpcId=vpc_id)["GroupId"]
    _admit(aws, endpoint_group, function_group, 443)
    role_name = f"net-{tag}"
    role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
    for policy in (VPC_ACCESS_POLICY, PROBE_POLICY):
        iam.put_role_policy(
            RoleName=role_name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
        )
    yield Network(aws, vpc_id, subnets, function_group, endpoint_group, role_arn)


def _admit(aws: Callable[[str], Any], group: str, source_group: str, port: int) -> None:
    permission = {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "UserIdGroupPairs": [{"GroupId": source_group}],
    }
    aws("ec2").authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])


def _placement(log: str) -> tuple[str, str]:
    line = next(line for line in log.splitlines() if " placement " in line)
    subnet, zone = line.split(" placement ")[1].split()
    return subnet, zone


# What the probing functions call (IAM is enforced for them): list actions without resource types.
PROBE_POLICY = {
    "PolicyName": "probe",
    "PolicyDocument": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListAllMyBuckets", "dynamodb:ListTables", "secretsmanager:ListSecrets"],
                "Resource": "*",
            }
        ],
    },
}
STS = {"service": "sts", "call": "get_caller_identity", "connect_timeout": 5}
TIMED_OUT = 'ConnectTimeoutError: Connect timeout on endpoint URL: "'


# --- placement -----------------------------------------------------------------------------


def test_new_execution_environments_are_spread_over_the_functions_subnets_and_the_placement_is_logged(aws, network):
    name = network.function("def handler(event, context):\n    return {}\n")
    placements = []
    for _ in range(4):
        _, log = invoke(aws, name, {})
        placements.append(_placement(log))
        runtime.retire(ACCOUNT, "us-east-1", name)  # the next invocation needs a new environment

    assert [zone for _, zone in placements] == [*ZONES, ZONES[0]]
    assert [subnet for subnet, _ in placements] == [network.subnets[zone] for zone in (*ZONES, ZONES[0])]


def test_a_warm_environment_stays_where_it_was_placed(aws, network):
    name = network.function("def handler(event, context):\n    return {}\n")

    first = _placement(invoke(aws, name, {})[1])
    warm = _placement(invoke(aws, name, {})[1])

    assert warm == first


# --- API reachability ----------------------------------------------------------------------


def test_an_interface_endpoint_makes_the_service_reachable_and_without_one_the_connect_times_out(aws, network):
    name = network.function(CALL_SERVICE)

    missing, _ = invoke(aws, name, STS)
    network.interface_endpoint("sts", ZONES)
    present, _ = invoke(aws, name, STS)

    assert missing["outcome"].startswith(TIMED_OUT), missing
    assert "sts.us-east-1" in missing["outcome"] or "127.0.0.1" in missing["outcome"]
    assert missing["waited"] >= 5  # the connect timeout passed on the function's clock
    assert present["outcome"] == "reached"


def test_an_endpoint_whose_only_interface_is_in_a_cut_off_subnet_is_unreachable(aws, network):
    name = network.function(CALL_SERVICE, zones=("us-east-1a",))
    network.interface_endpoint("sts", ("us-east-1b",))
    reached, _ = invoke(aws, name, STS)

    network.cut_off("us-east-1b")
    cut_off, _ = invoke(aws, name, STS)

    assert reached["outcome"] == "reached"
    assert cut_off["outcome"].startswith(TIMED_OUT), cut_off


def test_an_endpoint_with_interfaces_in_two_zones_survives_the_loss_of_one(aws, network):
    name = network.function(CALL_SERVICE, zones=("us-east-1a",))
    network.interface_endpoint("sts", ("us-east-1b", "us-east-1c"))

    network.cut_off("us-east-1b")

    assert invoke(aws, name, STS)[0]["outcome"] == "reached"


def test_an_endpoint_whose_security_group_does_not_admit_the_functions_is_unreachable(aws, network):
    closed = aws("ec2").create_security_group(
        GroupName=f"closed-{uuid.uuid4().hex[:8]}", Description="x", VpcId=network.vpc_id
    )
    name = network.function(CALL_SERVICE)
    network.interface_endpoint("sts", ZONES, group=closed["GroupId"])

    assert invoke(aws, name, STS)[0]["outcome"].startswith(TIMED_OUT)


def test_a_function_in_a_cut_off_subnet_reaches_no_endpoint_outside_it(aws, network):
    name = network.function(CALL_SERVICE, zones=("us-east-1a",))
    network.interface_endpoint("sts", ("us-east-1b", "us-east-1c"))

    network.cut_off("us-east-1a")

    assert invoke(aws, name, STS)[0]["outcome"].startswith(TIMED_OUT)


def test_traffic_inside_a_cut_off_subnet_still_flows(aws, network):
    """AWS FIS User Guide, "Network actions", aws:network:disrupt-connectivity scope ``all``:
    "allows intra-subnet traffic, including traffic to and from network interfaces in the subnet"."""
    name = network.function(CALL_SERVICE, zones=("us-east-1a",))
    network.interface_endpoint("sts", ("us-east-1a",))

    network.cut_off("us-east-1a")

    assert invoke(aws, name, STS)[0]["outcome"] == "reached"


def test_deleting_the_interface_endpoint_fails_the_next_invocation_with_the_connect_error(aws, network):
    name = network.function(CALL_SERVICE)
    endpoint = network.interface_endpoint("sts", ZONES)
    before, _ = invoke(aws, name, STS)

    aws("ec2").delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    after, _ = invoke(aws, name, STS)

    assert before["outcome"] == "reached"
    assert after["outcome"].startswith(TIMED_OUT), after


@pytest.mark.parametrize("service, call", [("s3", "list_buckets"), ("dynamodb", "list_tables")], ids=["s3", "dynamodb"])
def test_a_gateway_endpoint_serves_only_the_subnets_whose_route_table_it_is_associated_with(
    aws, network, service, call
):
    ec2 = aws("ec2")
    tables = {}
    for zone in ("us-east-1a", "us-east-1b"):
        table = ec2.create_route_table(VpcId=network.vpc_id)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=network.subnets[zone])
        tables[zone] = table
    ec2.create_vpc_endpoint(
        VpcId=network.vpc_id,
        VpcEndpointType="Gateway",
        ServiceName=f"com.amazonaws.us-east-1.{service}",
        RouteTableIds=[tables["us-east-1a"]],
    )
    routed = network.function(CALL_SERVICE, zones=("us-east-1a",))
    not_routed = network.function(CALL_SERVICE, zones=("us-east-1b",))
    event = {"service": service, "call": call, "connect_timeout": 5}

    assert invoke(aws, routed, event)[0]["outcome"] == "reached"
    assert invoke(aws, not_routed, event)[0]["outcome"].startswith(TIMED_OUT)


def test_the_functions_timeout_still_applies_while_the_sdk_waits_for_its_connect_timeouts(aws, network):
    """botocore's defaults: 60 s connect timeout, legacy retries (5 attempts): minutes, emulated."""
    name = network.function(CALL_SERVICE, timeout=10)

    answer, log = invoke(aws, name, {**STS, "retries": {"mode": "legacy"}})

    assert answer["errorType"] == "Sandbox.Timedout"
    assert answer["errorMessage"].endswith("Task timed out after 10.00 seconds")
    assert "Status: timeout" in log


# --- database connections ------------------------------------------------------------------


@pytest.fixture
def database(aws: Callable[[str], Any], network: Network) -> Iterator[dict[str, Any]]:
    """An Aurora cluster in subnets of us-east-1a and us-east-1b, writer in a, reader in b; its
    security group admits the function group on 5432 (the cluster's port)."""
    rds, ec2 = aws("rds"), aws("ec2")
    tag = uuid.uuid4().hex[:8]
    group = ec2.create_security_group(GroupName=f"db-{tag}", Description="db", VpcId=network.vpc_id)["GroupId"]
    rds.create_db_subnet_group(
        DBSubnetGroupName=f"db-{tag}",
        DBSubnetGroupDescription="db",
        SubnetIds=[network.subnets["us-east-1a"], network.subnets["us-east-1b"]],
    )
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=f"net-{tag}",
        Engine="aurora-postgresql",
        MasterUsername="master",
        MasterUserPassword="correct-horse-battery",
        DBSubnetGroupName=f"db-{tag}",
        VpcSecurityGroupIds=[group],
    )["DBCluster"]
    for member, zone in (("writer", "us-east-1a"), ("reader", "us-east-1b")):
        rds.create_db_instance(
            DBInstanceIdentifier=f"net-{tag}-{member}",
            DBClusterIdentifier=f"net-{tag}",
            Engine="aurora-postgresql",
            DBInstanceClass="db.serverless",
            AvailabilityZone=zone,
        )

    def available() -> bool:
        instances = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [f"net-{tag}"]}])
        return all(i["DBInstanceStatus"] == "available" for i in instances["DBInstances"])

    until(available, minutes=30, what="the cluster's instances")
    yield {"cluster": f"net-{tag}", "group": group, "host": cluster["Endpoint"], "port": cluster["Port"]}
    for member in ("writer", "reader"):
        rds.delete_db_instance(DBInstanceIdentifier=f"net-{tag}-{member}")
    until(
        lambda: not rds.describe_db_clusters(DBClusterIdentifier=f"net-{tag}")["DBClusters"][0]["DBClusterMembers"],
        minutes=30,
        what="instances deleted",
    )
    rds.delete_db_cluster(DBClusterIdentifier=f"net-{tag}", SkipFinalSnapshot=True)


def _connect(aws: Callable[[str], Any], name: str, database: dict[str, Any]) -> dict[str, Any]:
    return invoke(aws, name, {"host": database["host"], "port": database["port"]})[0]


CONNECT_TIMED_OUT = "InterfaceError: Can't create a connection to host"


def test_a_connection_is_admitted_only_when_the_databases_security_group_admits_the_functions(aws, network, database):
    name = network.function(CONNECT_DATABASE, zones=("us-east-1c",))

    refused = _connect(aws, name, database)
    _admit(aws, database["group"], network.function_group, 5432)
    admitted = _connect(aws, name, database)

    assert refused["outcome"].startswith(CONNECT_TIMED_OUT), refused
    assert refused["waited"] >= 5  # pg8000's timeout, on the function's clock
    assert admitted["outcome"] == "1"


def test_a_writer_in_a_cut_off_zone_is_unreachable_until_a_failover_moves_it(aws, network, database):
    _admit(aws, database["group"], network.function_group, 5432)
    name = network.function(CONNECT_DATABASE, zones=("us-east-1c",))

    network.cut_off("us-east-1a")
    during = _connect(aws, name, database)
    aws("rds").failover_db_cluster(DBClusterIdentifier=database["cluster"])
    after = _connect(aws, name, database)

    assert during["outcome"].startswith(CONNECT_TIMED_OUT), during
    assert after["outcome"] == "1", after


# --- the VPC as CloudFormation creates it ---------------------------------------------------


def test_endpoints_cloudformation_creates_keep_their_subnets_groups_and_route_tables(cfn, aws):
    """AWS CloudFormation User Guide, "AWS::EC2::VPCEndpoint",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-vpcendpoint.html:
    SubnetIds and SecurityGroupIds (interface), RouteTableIds (gateway), PrivateDnsEnabled."""
    https_from_functions = {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "SourceSecurityGroupId": get_att("FunctionGroup", "GroupId"),
    }
    resources = {
        "Vpc": vpc("10.61.0.0/16", EnableDnsSupport=True, EnableDnsHostnames=True),
        "Subnet": subnet("Vpc", "10.61.1.0/24"),
        "Table": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": ref("Vpc")}},
        "Association": {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {"RouteTableId": ref("Table"), "SubnetId": ref("Subnet")},
        },
        "FunctionGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "fn", "VpcId": ref("Vpc")},
        },
        "EndpointGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "vpce",
                "VpcId": ref("Vpc"),
                "SecurityGroupIngress": [https_from_functions],
            },
        },
        "Sts": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": ref("Vpc"),
                "VpcEndpointType": "Interface",
                "ServiceName": "com.amazonaws.us-east-1.sts",
                "SubnetIds": [ref("Subnet")],
                "SecurityGroupIds": [get_att("EndpointGroup", "GroupId")],
                "PrivateDnsEnabled": True,
            },
        },
        "DynamoDb": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": ref("Vpc"),
                "ServiceName": "com.amazonaws.us-east-1.dynamodb",
                "RouteTableIds": [ref("Table")],
            },
        },
        "Role": role(Policies=[VPC_ACCESS_POLICY, PROBE_POLICY]),
        "Function": function(
            "Role",
            Code={"ZipFile": CALL_SERVICE},
            Timeout=30,
            VpcConfig={"SubnetIds": [ref("Subnet")], "SecurityGroupIds": [get_att("FunctionGroup", "GroupId")]},
        ),
    }

    stack = cfn.deploy(template(resources, {"Function": ref("Function")}))

    assert stack.status == "CREATE_COMPLETE", cfn.events(stack)
    name = stack.outputs["Function"]
    assert invoke(aws, name, STS)[0]["outcome"] == "reached"
    assert (
        invoke(aws, name, {"service": "dynamodb", "call": "list_tables", "connect_timeout": 5})[0]["outcome"]
        == "reached"
    )
    assert invoke(aws, name, {"service": "secretsmanager", "call": "list_secrets", "connect_timeout": 5})[0][
        "outcome"
    ].startswith(TIMED_OUT)
