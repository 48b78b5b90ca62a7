"""Who may destroy or crypto-shred the recovery data: the principals the vault access policy and, in a
protected profile (prod), the key policies of the recovery points' keys exempt from their denies.

* The break-glass role ``role-breakglass-{suffix}`` exists only in a protected profile. The account
  may assume it with MFA only (``aws:MultiFactorAuthPresent``); it has no permission beyond what
  ``make unprotect`` (``tools/protection.py``) calls to lift the deployment's locks. docs/RUNBOOK.md
  says when and how to use it.
* CloudFormation's execution role (the CDK bootstrap's ``cfn-exec-role``) is exempt from the denies of
  the policy changes only (PutKeyPolicy, the vault's access policy and lock configuration): it applies
  those properties on every stack update. It is not exempt from deleting recovery points or from
  disabling or deleting a key: a protected deployment's destroy needs ``make unprotect`` first.

Conditions name the principals by ``aws:PrincipalArn`` (the role's ARN for each of its sessions) with
``ArnNotEquals``, rather than with NotPrincipal, as the IAM User Guide recommends ("AWS JSON policy
elements: NotPrincipal"). ARNs are built from the fixed names, so that no layer depends on another for
them.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import DefaultStackSynthesizer
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from lib.config import BREAK_GLASS_ROLE_TYPE, KEY_DENY_SIDS, EnvironmentConfig

KEY_DESTRUCTION_ACTIONS = ("kms:DisableKey", "kms:ScheduleKeyDeletion")


def break_glass_role_arn(config: EnvironmentConfig) -> str:
    return f"arn:aws:iam::{config.account}:role/{config.name(BREAK_GLASS_ROLE_TYPE)}"


def cloudformation_role_arn(config: EnvironmentConfig) -> str:
    """The role CloudFormation deploys with: the CDK bootstrap's execution role (default qualifier)."""
    return (
        DefaultStackSynthesizer.DEFAULT_CLOUDFORMATION_ROLE_ARN.replace("${AWS::Partition}", "aws")
        .replace("${AWS::AccountId}", config.account)
        .replace("${AWS::Region}", config.region)
        .replace("${Qualifier}", DefaultStackSynthesizer.DEFAULT_QUALIFIER)
    )


def deny_all_but(sid: str, actions: Sequence[str], exempt: Sequence[str]) -> iam.PolicyStatement:
    """A resource-policy Deny of ``actions`` to every principal whose ARN is not in ``exempt``."""
    return iam.PolicyStatement(
        sid=sid,
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=list(actions),
        resources=["*"],  # in a resource policy: this resource (the key, the vault and its recovery points)
        conditions={"ArnNotEquals": {"aws:PrincipalArn": list(exempt)}},
    )


def key_denies(config: EnvironmentConfig) -> list[iam.PolicyStatement]:
    """Key policy statements of a key that encrypts recovery points, in a protected profile: nobody but
    the break-glass role disables the key or schedules its deletion (which would make every recovery
    point it encrypts useless, whatever the vault lock says), nor rewrites the key policy to lift that
    -- except CloudFormation, which applies the template's key policy on updates."""
    glass = break_glass_role_arn(config)
    return [
        deny_all_but(KEY_DENY_SIDS[0], KEY_DESTRUCTION_ACTIONS, [glass]),
        deny_all_but(KEY_DENY_SIDS[1], ["kms:PutKeyPolicy"], [glass, cloudformation_role_arn(config)]),
    ]


class BreakGlassRole(Construct):
    """``role-breakglass-{suffix}``: assumable by the account's principals with MFA; allowed exactly the
    calls of ``make unprotect`` on this deployment's resources (``recovery_keys``: the keys whose
    policies deny destruction). Exposes: role."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, recovery_keys: Sequence[kms.IKey]
    ) -> None:
        super().__init__(scope, construct_id)
        region, account = config.region, config.account
        self.role = iam.Role(
            self,
            "Role",
            role_name=config.name(BREAK_GLASS_ROLE_TYPE),
            description="Break-glass role: lifts the locks on the recovery data before a deliberate destroy (RUNBOOK)",
            assumed_by=iam.AccountRootPrincipal().with_conditions({"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
        )
        vault = f"arn:aws:backup:{region}:{account}:backup-vault:{config.name('backup-vault')}"
        bucket = f"arn:aws:s3:::{config.global_name('data-bucket')}"
        iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=config.name("breakglass-policy"),
            description="Exactly the calls of `make unprotect` (tools/protection.py) on this deployment",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="LiftTerminationProtection",
                    actions=["cloudformation:DescribeStacks", "cloudformation:UpdateTerminationProtection"],
                    resources=[f"arn:aws:cloudformation:{region}:{account}:stack/{config.stack_name}/*"],
                ),
                iam.PolicyStatement(
                    sid="LiftClusterDeletionProtection",
                    actions=["rds:DescribeDBClusters", "rds:ModifyDBCluster"],
                    resources=[f"arn:aws:rds:{region}:{account}:cluster:{config.name('aurora-cluster')}"],
                ),
                iam.PolicyStatement(
                    sid="LiftTableDeletionProtection",
                    actions=["dynamodb:DescribeTable", "dynamodb:UpdateTable"],
                    resources=[f"arn:aws:dynamodb:{region}:{account}:table/{config.name('dynamodb-table')}"],
                ),
                # ListBackupVaults supports no resource-level permissions: "*", limited to this region.
                iam.PolicyStatement(
                    sid="FindTheVault",
                    actions=["backup:ListBackupVaults"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:RequestedRegion": region}},
                ),
                iam.PolicyStatement(
                    sid="LiftTheVaultLockAndAccessPolicy",
                    actions=[
                        "backup:GetBackupVaultAccessPolicy",
                        "backup:DeleteBackupVaultAccessPolicy",
                        "backup:DeleteBackupVaultLockConfiguration",
                    ],
                    resources=[vault],
                ),
                iam.PolicyStatement(
                    sid="LiftTheKeyDenies",
                    actions=["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy"],
                    resources=[key.key_arn for key in recovery_keys],
                ),
                iam.PolicyStatement(
                    sid="EmptyTheDataBucket",
                    actions=["s3:ListBucketVersions", "s3:GetBucketTagging"],
                    resources=[bucket],
                ),
                iam.PolicyStatement(
                    sid="DeleteTheDataBucketsObjects", actions=["s3:DeleteObjectVersion"], resources=[f"{bucket}/*"]
                ),
            ],
        )
