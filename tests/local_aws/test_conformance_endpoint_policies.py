"""Conformance: what passes a VPC endpoint -- its policy, and the security-group egress a gateway
endpoint needs (pipeline/network.py, pipeline/authorization.py, services/ec2/patches.py).

AWS PrivateLink Guide, "Control access to VPC endpoints using endpoint policies",
https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html: an endpoint policy is
a resource-based policy on the endpoint that "controls which AWS principals can use the endpoint to
access an AWS service"; it does not grant, it limits (identity and resource policies still apply).
IAM User Guide, "Troubleshoot access denied error messages",
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html: an implicit denial
by an endpoint policy reads "... because no VPC endpoint policy allows the <action> action".
IAM User Guide, "AWS global condition context keys", aws:ResourceAccount,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceaccount:
the account that owns the resource the request acts on.
Amazon VPC User Guide, "AWS-managed prefix lists",
https://docs.aws.amazon.com/vpc/latest/userguide/working-with-aws-managed-prefix-lists.html: the S3
and DynamoDB lists (``com.amazonaws.<region>.s3`` / ``.dynamodb``) hold the addresses a gateway
endpoint routes to; a security group rule can name one as its destination. AWS CLI Command
Reference, "describe-prefix-lists" example: ``com.amazonaws.us-east-1.s3`` is ``pl-63a5400a``.
AWS PrivateLink Guide, "Gateway endpoints",
https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html: "the security groups ...
must allow traffic to and from the AWS service"; outbound rules can reference the prefix list ID.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.emulator import ACCOUNT, REGION

from .helpers import TRUST_LAMBDA, VPC_ACCESS_POLICY, template
from .test_conformance_network import _zip, invoke

OTHER_ACCOUNT = "111111111111"
S3_PREFIX_LIST = "pl-63a5400a"
DYNAMODB_PREFIX_LIST = "pl-02cd2c6b"

CALL = """
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def handler(event, context):
    config = Config(connect_timeout=5, retries={"mode": "standard", "max_attempts": 1})
    client = boto3.client(event["service"], config=config)
    try:
        getattr(client, event["call"])(**event.get("arguments", {}))
        return {"outcome": "done"}
    except ClientError as error:
        return {"outcome": error.response["Error"]["Code"], "message": error.response["Error"]["Message"]}
    except Exception as error:
        return {"outcome": type(error).__name__, "message": str(error)}
"""


def endpoint_policy(actions: list[str], *, own_account_only: bool = True) -> dict[str, Any]:
    """The kit's endpoint policy shape (lib/stacks/network_stack.py): its actions, this account's resources."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": actions, "Resource": "*"}
    if own_account_only:
        statement["Condition"] = {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}
    return {"Version": "2012-10-17", "Statement": [statement]}


@dataclass
class Vpc:
    aws: Callable[[str], Any]
    vpc_id: str
    subnet_id: str
    route_table_id: str
    group_id: str
    role_name: str
    role_arn: str

    def function(self) -> str:
        name = f"vpce-{uuid.uuid4().hex[:8]}"
        self.aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=self.role_arn,
            Handler="index.handler",
            Code={"ZipFile": _zip(CALL)},
            Timeout=30,
            VpcConfig={"SubnetIds": [self.subnet_id], "SecurityGroupIds": [self.group_id]},
        )
        return name

    def gateway_endpoint(self, service: str, policy: dict[str, Any] | None = None) -> str:
        arguments: dict[str, Any] = {"PolicyDocument": json.dumps(policy)} if policy is not None else {}
        created = self.aws("ec2").create_vpc_endpoint(
            VpcId=self.vpc_id,
            VpcEndpointType="Gateway",
            ServiceName=f"com.amazonaws.{REGION}.{service}",
            RouteTableIds=[self.route_table_id],
            **arguments,
        )
        return str(created["VpcEndpoint"]["VpcEndpointId"])

    def let_out_to(self, prefix_list_id: str) -> None:
        self.aws("ec2").authorize_security_group_egress(
            GroupId=self.group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "PrefixListIds": [{"PrefixListId": prefix_list_id}],
                }
            ],
        )

    def allow(self, statements: list[dict[str, Any]]) -> None:
        self.aws("iam").put_role_policy(
            RoleName=self.role_name,
            PolicyName="calls",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )


@pytest.fixture
def vpc(aws: Callable[[str], Any]) -> Iterator[Vpc]:
    """A VPC with one isolated subnet and a function group whose egress is closed (no allow-all)."""
    ec2, iam = aws("ec2"), aws("iam")
    vpc_id = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.70.0.0/24", AvailabilityZone="us-east-1a")["Subnet"][
        "SubnetId"
    ]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    tag = uuid.uuid4().hex[:8]
    group_id = ec2.create_security_group(GroupName=f"fn-{tag}", Description="fn", VpcId=vpc_id)["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    role_name = f"vpce-{tag}"
    role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName=VPC_ACCESS_POLICY["PolicyName"],
        PolicyDocument=json.dumps(VPC_ACCESS_POLICY["PolicyDocument"]),
    )
    yield Vpc(aws, vpc_id, subnet_id, tables[0]["RouteTableId"], group_id, role_name, role_arn)


def other_account_client(endpoint: str, service: str) -> Any:
    """A client acting in another account: a session of a role there (moto keeps each account apart)."""
    sts = boto3.client(
        "sts", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/owner", RoleSessionName="owner")[
        "Credentials"
    ]
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_the_s3_and_dynamodb_prefix_lists_have_the_ids_aws_gives_them(aws):
    """Q27: a template names the gateway endpoints' prefix lists by AWS's ids."""
    lists = aws("ec2").describe_managed_prefix_lists()["PrefixLists"]
    by_name = {found["PrefixListName"]: found for found in lists}

    assert by_name[f"com.amazonaws.{REGION}.s3"]["PrefixListId"] == S3_PREFIX_LIST
    assert by_name[f"com.amazonaws.{REGION}.dynamodb"]["PrefixListId"] == DYNAMODB_PREFIX_LIST
    assert by_name[f"com.amazonaws.{REGION}.s3"]["OwnerId"] == "AWS"


def test_a_gateway_endpoint_is_reached_only_when_the_group_lets_443_out_to_its_prefix_list(aws, vpc):
    vpc.gateway_endpoint("s3")
    vpc.allow([{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}])
    name = vpc.function()

    closed, _ = invoke(aws, name, {"service": "s3", "call": "list_buckets"})
    vpc.let_out_to(DYNAMODB_PREFIX_LIST)
    other_list, _ = invoke(aws, name, {"service": "s3", "call": "list_buckets"})
    vpc.let_out_to(S3_PREFIX_LIST)
    opened, _ = invoke(aws, name, {"service": "s3", "call": "list_buckets"})

    assert closed["outcome"] == "ConnectTimeoutError", closed
    assert other_list["outcome"] == "ConnectTimeoutError", other_list
    assert opened["outcome"] == "done", opened


def test_a_function_cannot_write_to_another_accounts_bucket_through_an_endpoint_for_its_own_account(aws, endpoint, vpc):
    """The exfiltration the kit's S3 endpoint policy closes: the other account's bucket policy and the
    function's role both allow the write; only the endpoint policy refuses it."""
    own, foreign = f"own-{uuid.uuid4().hex[:8]}", f"foreign-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=own)
    other_s3 = other_account_client(endpoint, "s3")
    other_s3.create_bucket(Bucket=foreign)
    other_s3.put_bucket_policy(
        Bucket=foreign,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": vpc.role_arn},
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{foreign}/*",
                    }
                ],
            }
        ),
    )
    vpc.allow(
        [
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": [f"arn:aws:s3:::{own}/*", f"arn:aws:s3:::{foreign}/*"],
            }
        ]
    )
    endpoint_id = vpc.gateway_endpoint("s3", endpoint_policy(["s3:PutObject"]))
    vpc.let_out_to(S3_PREFIX_LIST)
    name = vpc.function()

    def put(bucket: str) -> dict[str, Any]:
        event = {"service": "s3", "call": "put_object", "arguments": {"Bucket": bucket, "Key": "k", "Body": "x"}}
        return invoke(aws, name, event)[0]

    to_own, to_foreign = put(own), put(foreign)
    any_account = endpoint_policy(["s3:PutObject"], own_account_only=False)
    aws("ec2").modify_vpc_endpoint(VpcEndpointId=endpoint_id, PolicyDocument=json.dumps(any_account))
    through_an_open_endpoint = put(foreign)

    assert to_own["outcome"] == "done", to_own
    assert to_foreign == {"outcome": "AccessDenied", "message": "Access Denied"}
    assert through_an_open_endpoint["outcome"] == "done", through_an_open_endpoint


def test_an_action_the_endpoint_policy_does_not_allow_is_refused_naming_the_vpc_endpoint_policy(aws, vpc):
    table = f"vpce-{uuid.uuid4().hex[:8]}"
    aws("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    vpc.allow([{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": arn}])
    vpc.gateway_endpoint("dynamodb", endpoint_policy(["dynamodb:GetItem"]))
    vpc.let_out_to(DYNAMODB_PREFIX_LIST)
    name = vpc.function()
    key = {"pk": {"S": "a"}}

    read, _ = invoke(
        aws, name, {"service": "dynamodb", "call": "get_item", "arguments": {"TableName": table, "Key": key}}
    )
    written, _ = invoke(
        aws, name, {"service": "dynamodb", "call": "put_item", "arguments": {"TableName": table, "Item": key}}
    )

    assert read["outcome"] == "done", read
    assert written["outcome"] == "AccessDeniedException"
    assert written["message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{vpc.role_name}/{name} is not authorized to perform: "
        f"dynamodb:PutItem on resource: {arn} because no VPC endpoint policy allows the dynamodb:PutItem action"
    )


def test_a_standalone_egress_rule_to_a_prefix_list_replaces_the_groups_default_egress(aws, cfn):
    """AWS CloudFormation: a group's default allow-all egress rule goes once an egress rule is added
    (what CDK's ``allow_all_outbound=False`` relies on when all its rules are standalone)."""
    vpc_id = aws("ec2").create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
    stack = cfn.deploy(
        template(
            {
                "Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "fn", "VpcId": vpc_id}},
                "ToS3": {
                    "Type": "AWS::EC2::SecurityGroupEgress",
                    "Properties": {
                        "GroupId": {"Fn::GetAtt": ["Group", "GroupId"]},
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "DestinationPrefixListId": S3_PREFIX_LIST,
                    },
                },
            },
            {"Group": {"Fn::GetAtt": ["Group", "GroupId"]}},
        )
    )

    group = aws("ec2").describe_security_groups(GroupIds=[stack.outputs["Group"]])["SecurityGroups"][0]
    assert [
        (rule["IpProtocol"], rule.get("FromPort"), [p["PrefixListId"] for p in rule["PrefixListIds"]], rule["IpRanges"])
        for rule in group["IpPermissionsEgress"]
    ] == [("tcp", 443, [S3_PREFIX_LIST], [])]
