"""The one way this app makes a function's execution role and places the function in the VPC.

Each function gets a role of its own and a customer-managed policy (not inline: HIPAA
IAMNoInlinePolicy) holding the statements its code needs, writing its own, pre-created log group,
and the network-interface actions Lambda needs to attach it to the VPC (``vpc_access_statement``,
the same statement the canary's role gets in the security layer). Every function of the kit runs in
the isolated subnets of all AZs with the functions' security group (``FunctionNetwork``), and must
be created after its policy: Lambda refuses to create a VPC function whose role cannot manage ENIs
(each construct adds that dependency).

A function whose failed asynchronous invocations go to a queue (its on-failure destination) needs
``failure_queue_statements``: Lambda sends the invocation record with the function's execution role,
so the role may send to the queue, and SQS encrypts it with that role's permission on the queue's
key (kms:GenerateDataKey, kms:Decrypt; Amazon SQS Developer Guide, "Key management"). The kit writes
both itself rather than let CDK's SqsDestination grant them: CDK's grant adds an inline policy and
leaves out the key's ViaService condition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.config import EnvironmentConfig

# Lambda creates and removes the function's ENIs with the execution role. These EC2 actions are
# not scoped by resource for this use (DescribeNetworkInterfaces has no resource-level
# permissions at all), so AWS documents them with Resource "*".
LAMBDA_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)

# What the X-Ray daemon Lambda runs beside an actively traced function calls with the function's
# execution role (Lambda Developer Guide, "Visualize Lambda function invocations using AWS X-Ray").
# X-Ray has no resource-level permissions for them (Service Authorization Reference, "Actions,
# resources, and condition keys for AWS X-Ray": no resource type), so "*", limited to the region.
TRACE_UPLOAD_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


ISOLATED = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)


class Placement(TypedDict):
    """``lambda_.Function`` keyword arguments of a function in the VPC."""

    vpc: ec2.IVpc
    vpc_subnets: ec2.SubnetSelection
    security_groups: list[ec2.ISecurityGroup]


@dataclass(frozen=True)
class FunctionNetwork:
    """Where every function of the kit runs: the VPC's isolated subnets (all AZs), the functions' group."""

    vpc: ec2.IVpc
    security_group: ec2.ISecurityGroup

    def placement(self) -> Placement:
        """The keyword arguments of ``lambda_.Function`` that put it in the isolated subnets."""
        return Placement(vpc=self.vpc, vpc_subnets=ISOLATED, security_groups=[self.security_group])

    def subnet_ids(self) -> list[str]:
        """The ids of those subnets (what a VpcConfig names)."""
        return self.vpc.select_subnets(subnet_type=ISOLATED.subnet_type).subnet_ids


def unscopable_statement(sid: str, actions: Sequence[str], region: str) -> iam.PolicyStatement:
    """``actions`` that support no resource-level permissions (the Service Authorization Reference
    lists no resource type for them): granted on ``*``, limited to this region."""
    return iam.PolicyStatement(
        sid=sid, actions=list(actions), resources=["*"], conditions={"StringEquals": {"aws:RequestedRegion": region}}
    )


def trace_upload_statement(region: str) -> iam.PolicyStatement:
    """What an actively traced function's role needs so that its traces reach X-Ray."""
    return unscopable_statement("UploadTraces", TRACE_UPLOAD_ACTIONS, region)


def vpc_access_statement() -> iam.PolicyStatement:
    """What Lambda needs of a VPC function's role to attach it to the VPC."""
    return iam.PolicyStatement(sid="ManageVpcNetworkInterfaces", actions=list(LAMBDA_ENI_ACTIONS), resources=["*"])


def execution_role(
    scope: Construct,
    *,
    config: EnvironmentConfig,
    name: str,
    description: str,
    log_group: logs.ILogGroup,
    statements: Sequence[iam.PolicyStatement],
    dead_letter_queue: sqs.IQueue | None = None,
    id_prefix: str = "",
) -> tuple[iam.Role, iam.ManagedPolicy]:
    """``{name}-role-<suffix>`` with ``{name}-policy-<suffix>``; construct ids ``{id_prefix}Role`` and
    ``{id_prefix}Policy`` under ``scope``. Give ``dead_letter_queue`` when the function has one. The
    policy lets Lambda attach the function to the VPC: every function of the kit runs there."""
    role = iam.Role(
        scope,
        f"{id_prefix}Role",
        role_name=config.name(f"{name}-role"),
        description=description,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
    )
    policy = iam.ManagedPolicy(
        scope,
        f"{id_prefix}Policy",
        managed_policy_name=config.name(f"{name}-policy"),
        roles=[role],
        statements=[
            *statements,
            vpc_access_statement(),
            *(failure_queue_statements(config, dead_letter_queue) if dead_letter_queue else []),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],  # "...:log-group:/aws/lambda/<name>:*"
            ),
        ],
    )
    return role, policy


def failure_queue_statements(config: EnvironmentConfig, queue: sqs.IQueue) -> list[iam.PolicyStatement]:
    """Lets a function's role put its failed invocations' records into ``queue``: sqs:SendMessage on
    it, and its key only through SQS."""
    key = queue.encryption_master_key
    if key is None:
        raise ValueError(f"{queue.node.path} has no customer managed key; this app encrypts every queue with one")
    return [
        iam.PolicyStatement(sid="SendFailedInvocations", actions=["sqs:SendMessage"], resources=[queue.queue_arn]),
        iam.PolicyStatement(
            sid="EncryptDeadLetters",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"sqs.{config.region}.amazonaws.com"}},
        ),
    ]
