"""The one way this app makes a function's execution role: exactly the calls it makes, and its logs.

Each function gets a role of its own and a customer-managed policy (not inline: HIPAA
IAMNoInlinePolicy) holding the statements its code needs plus writing its own, pre-created log group.

A function with a dead-letter queue also needs the queue's KMS key: Lambda sends a failed async event
to the DLQ with the function's execution role, and SQS encrypts it with that role's permission on the
queue's key (kms:GenerateDataKey, kms:Decrypt; Amazon SQS Developer Guide, "Key management"). CDK
grants only sqs:SendMessage (aws/aws-cdk#33153), so without ``dead_letter_key_statement`` every
failed event would be dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.config import EnvironmentConfig


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
    ``{id_prefix}Policy`` under ``scope``. Give ``dead_letter_queue`` when the function has one."""
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
            *([dead_letter_key_statement(config, dead_letter_queue)] if dead_letter_queue else []),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],  # "...:log-group:/aws/lambda/<name>:*"
            ),
        ],
    )
    return role, policy


def dead_letter_key_statement(config: EnvironmentConfig, queue: sqs.IQueue) -> iam.PolicyStatement:
    """Lets a function's role encrypt dead letters into ``queue``: its key, only through SQS."""
    key = queue.encryption_master_key
    if key is None:
        raise ValueError(f"{queue.node.path} has no customer managed key; this app encrypts every queue with one")
    return iam.PolicyStatement(
        sid="EncryptDeadLetters",
        actions=["kms:GenerateDataKey", "kms:Decrypt"],
        resources=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"sqs.{config.region}.amazonaws.com"}},
    )
