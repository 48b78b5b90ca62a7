"""A customer-managed KMS key with an explicit, wildcard-free key policy."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from lib.config import EnvironmentConfig

# What the account (and through it, IAM policies in the account) may do with the key. CDK's
# default policy grants "kms:*"; this list is the same control, spelt out, so the key stays
# administrable (PutKeyPolicy, ScheduleKeyDeletion) without a wildcard action.
ACCOUNT_KEY_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)

# Pending window before a destroyed key is gone: the minimum AWS allows, so a test environment
# does not hold keys for long. The alias is deleted at once, so a redeploy with the same suffix works.
PENDING_WINDOW_DAYS = 7


class CustomerManagedKey(Construct):
    """Rotating, destroyable CMK with alias `alias/{purpose}-key-{suffix}`.

    `service_statements` are added for AWS services that use the key with their own service
    principal (CloudWatch Logs, SNS publishers); services acting through the caller's IAM
    identity (RDS, S3, AWS Backup, Secrets Manager) are covered by the account statement. `denies`
    limit what even the account may do (``lib/constructs/break_glass.key_denies``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        purpose: str,
        description: str,
        service_statements: Sequence[iam.PolicyStatement] = (),
        denies: Sequence[iam.PolicyStatement] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="AccountAdministersAndDelegatesToIam",
                    principals=[iam.AccountRootPrincipal()],
                    actions=list(ACCOUNT_KEY_ACTIONS),
                    resources=["*"],  # in a key policy "*" means this key
                ),
                *service_statements,
                *denies,
            ]
        )
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{config.name(purpose + '-key')}",
            description=f"{description} ({config.name(purpose + '-key')})",
            enable_key_rotation=True,
            pending_window=Duration.days(PENDING_WINDOW_DAYS),
            removal_policy=RemovalPolicy.DESTROY,
            policy=policy,
        )
