"""The one way this app makes a function's execution role: exactly the calls it makes, and its logs.

Each function gets a role of its own and a customer-managed policy (not inline: HIPAA
IAMNoInlinePolicy) holding the statements its code needs plus writing its own, pre-created log group.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
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
    id_prefix: str = "",
) -> tuple[iam.Role, iam.ManagedPolicy]:
    """``{name}-role-<suffix>`` with ``{name}-policy-<suffix>``; construct ids ``{id_prefix}Role`` and
    ``{id_prefix}Policy`` under ``scope``."""
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
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],  # "...:log-group:/aws/lambda/<name>:*"
            ),
        ],
    )
    return role, policy
