"""Conformance: a VPC function's execution role must be able to manage ENIs when the function is created.

AWS Lambda Developer Guide, "Giving Lambda functions access to resources in an Amazon VPC", execution
role permissions, https://docs.aws.amazon.com/lambda/latest/dg/configuring-vpc.html: Lambda creates
the function's network interfaces with its execution role, which needs ec2:CreateNetworkInterface,
ec2:DescribeNetworkInterfaces and ec2:DeleteNetworkInterface; without them CreateFunction (and an
UpdateFunctionConfiguration that connects the function to a VPC) fails with
InvalidParameterValueException "The provided execution role does not have permissions to call
CreateNetworkInterface on EC2". CloudFormation creates resources that have no dependency between
them in parallel (AWS CloudFormation User Guide, "DependsOn attribute",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html), so a
function created without DependsOn on the policy that grants these fails the stack.

Fixes: Q8 (the check), Q9 (creation follows only the dependency graph, so template order does not
hide a missing DependsOn).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import TRUST_LAMBDA, function, ref, role, subnet, template, vpc

REFUSAL = "The provided execution role does not have permissions to call CreateNetworkInterface on EC2"
ENI_ACTIONS = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface"]
CODE = {"ZipFile": b"PK\x05\x06" + b"\x00" * 18}  # an empty zip: the function is never invoked here


def _document(effect: str, actions: list[str], resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": actions, "Resource": resource}]}
    )


@pytest.fixture
def network(aws: Any) -> dict[str, Any]:
    ec2 = aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"fn-{uuid.uuid4().hex[:8]}", Description="fn", VpcId=vpc_id)
    return {"SubnetIds": [subnet_id], "SecurityGroupIds": [group["GroupId"]]}


def _role(aws: Any, suffix: str, *documents: str) -> str:
    iam = aws("iam")
    name = f"vpc-fn-{suffix}-{uuid.uuid4().hex[:6]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
    for number, document in enumerate(documents):
        iam.put_role_policy(RoleName=name, PolicyName=f"p{number}", PolicyDocument=document)
    return arn


def _create(aws: Any, suffix: str, role_arn: str, vpc_config: dict[str, Any] | None) -> dict[str, Any]:
    return aws("lambda").create_function(
        FunctionName=f"vpc-fn-{suffix}-{uuid.uuid4().hex[:6]}",
        Runtime="python3.12",
        Handler="index.handler",
        Role=role_arn,
        Code=CODE,
        **({"VpcConfig": vpc_config} if vpc_config else {}),
    )


def test_q8_a_vpc_function_whose_role_cannot_manage_enis_is_refused(aws, suffix, network):
    role_arn = _role(aws, suffix, _document("Allow", ["logs:CreateLogStream"]))

    with pytest.raises(ClientError) as refused:
        _create(aws, suffix, role_arn, network)

    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert refused.value.response["Error"]["Message"] == REFUSAL
    assert _create(aws, suffix, role_arn, None)["FunctionName"]  # outside a VPC the role needs nothing


def test_q8_the_eni_permission_of_the_moment_counts_and_an_explicit_deny_wins(aws, suffix, network):
    role_arn = _role(aws, suffix, _document("Allow", ENI_ACTIONS))
    assert _create(aws, suffix, role_arn, network)["VpcConfig"]["SubnetIds"] == network["SubnetIds"]

    denied = aws("iam").create_policy(
        PolicyName=f"deny-eni-{uuid.uuid4().hex[:8]}", PolicyDocument=_document("Deny", ["ec2:*NetworkInterface"])
    )["Policy"]["Arn"]
    aws("iam").attach_role_policy(RoleName=role_arn.rsplit("/", 1)[1], PolicyArn=denied)

    with pytest.raises(ClientError, match=REFUSAL):
        _create(aws, suffix, role_arn, network)


def test_q8_describe_network_interfaces_must_be_allowed_on_all_resources(aws, suffix, network):
    """The guide: DescribeNetworkInterfaces "only works if it's allowed on all resources"."""
    role_arn = _role(aws, suffix, _document("Allow", ENI_ACTIONS, "arn:aws:ec2:*:*:network-interface/*"))

    with pytest.raises(ClientError) as refused:
        _create(aws, suffix, role_arn, network)

    message = "The provided execution role does not have permissions to call DescribeNetworkInterfaces on EC2"
    assert refused.value.response["Error"]["Message"] == message


def test_q8_connecting_an_existing_function_to_a_vpc_checks_the_role(aws, suffix, network):
    role_arn = _role(aws, suffix, _document("Allow", ["ec2:CreateNetworkInterface"]))
    name = _create(aws, suffix, role_arn, None)["FunctionName"]

    with pytest.raises(ClientError) as refused:
        aws("lambda").update_function_configuration(FunctionName=name, VpcConfig=network)

    message = "The provided execution role does not have permissions to call DescribeNetworkInterfaces on EC2"
    assert refused.value.response["Error"]["Message"] == message


def _stack(name: str, *, depends_on_policy: bool, policy_first: bool = True) -> dict[str, Any]:
    """A VPC function and the managed policy that grants its role the ENI actions (written policy
    first, as CDK writes them, unless ``policy_first`` is false); the function refers to the role only."""
    vpc_function = function(
        "Role",
        FunctionName=name,
        VpcConfig={"SubnetIds": [ref("Subnet")], "SecurityGroupIds": [ref("Group")]},
    )
    if depends_on_policy:
        vpc_function["DependsOn"] = ["EniPolicy"]
    policy = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {"Roles": [ref("Role")], "PolicyDocument": json.loads(_document("Allow", ENI_ACTIONS))},
    }
    network = {
        "Vpc": vpc("10.43.0.0/16"),
        "Subnet": subnet("Vpc", "10.43.1.0/24"),
        "Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "fn", "VpcId": ref("Vpc")}},
        "Role": role(),
    }
    pair = {"EniPolicy": policy, "Function": vpc_function}
    return template({**network, **(pair if policy_first else dict(reversed(pair.items())))})


def test_q9_a_vpc_function_without_depends_on_its_eni_policy_fails_the_stack(cfn, suffix):
    stack = cfn.deploy(_stack(f"vpc-fn-{suffix}-race", depends_on_policy=False))

    assert stack.status == "ROLLBACK_COMPLETE"
    assert any(REFUSAL in event for event in cfn.events(stack))


@pytest.mark.parametrize("policy_first", [True, False], ids=["policy-written-first", "policy-written-last"])
def test_q9_with_depends_on_the_same_stack_deploys_wherever_the_policy_is_written(cfn, aws, suffix, policy_first):
    name = f"vpc-fn-{suffix}-after"
    stack = cfn.deploy(_stack(name, depends_on_policy=True, policy_first=policy_first))

    assert stack.status == "CREATE_COMPLETE"
    assert aws("lambda").get_function(FunctionName=name)["Configuration"]["VpcConfig"]["SubnetIds"]
    assert cfn.delete(stack).status == "DELETE_COMPLETE"
