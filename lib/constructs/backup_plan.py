"""The hourly AWS Backup plan (the 1-hour RPO): its vault, the vault's cleanup on deletion, the selection.

Made in the resilience layer's scope, not under a construct of its own: the vault, the plan and the
cleanup keep the construct ids -- hence the logical ids -- they were deployed with. A new level in
their paths would make CloudFormation replace them, and replacing the cleanup's custom resource
deletes the old one, which empties the vault.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lib.config import GUARDED_BY_BREAK_GLASS_SID, GUARDED_BY_CLEANUP_SID, EnvironmentConfig
from lib.constructs.backup_monitor import ProtectedResource
from lib.constructs.break_glass import break_glass_role_arn, cloudformation_role_arn, deny_all_but
from lib.constructs.execution_role import FunctionNetwork
from lib.constructs.vault_cleanup import BackupVaultCleanup

# Hourly at minute 0: a recovery point at least every hour is the 1-hour RPO.
HOURLY = events.Schedule.cron(minute="0")
BACKUP_START_WINDOW = Duration.hours(1)  # the shortest window AWS Backup allows
BACKUP_COMPLETION_WINDOW = Duration.hours(2)
# What the vault access policy keeps from everyone but its guardian: deleting recovery points or
# shortening their retention (AWS Backup Developer Guide, "Vault access policies": "Deny access to delete
# recovery points in a backup vault") ...
RECOVERY_POINT_ACTIONS = ("backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle")
# ... and lifting that protection: rewriting or removing the policy, removing the lock or weakening it
# (a Put of a lower MinRetentionDays would let points go early). CloudFormation may too (below).
PROTECTION_ACTIONS = (
    "backup:PutBackupVaultAccessPolicy",
    "backup:DeleteBackupVaultAccessPolicy",
    "backup:PutBackupVaultLockConfiguration",
    "backup:DeleteBackupVaultLockConfiguration",
)
# AWS Backup's S3 backups call these too; none has a resource type (Service Authorization Reference).
S3_BACKUP_UNSCOPABLE_ACTIONS = ("s3:ListAllMyBuckets", "cloudwatch:GetMetricData", "events:ListRules")


class BackupPlan:
    """Backs up ``protected`` every hour into a vault encrypted with ``key``, with ``role``.

    Exposes: vault, cleanup (``BackupVaultCleanup``), plan.
    """

    def __init__(
        self,
        scope: Construct,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        role: iam.IRole,
        bucket: s3.IBucket,
        protected: Sequence[ProtectedResource],
        log_key: kms.IKey,
        network: FunctionNetwork,
    ) -> None:
        lock_days = config.profile.vault_lock_min_retention_days
        self.vault = backup.BackupVault(
            scope,
            "Vault",
            backup_vault_name=config.name("backup-vault"),
            encryption_key=key,
            # Governance mode (no ChangeableFor): nobody deletes a recovery point early, but a principal
            # allowed backup:DeleteBackupVaultLockConfiguration can lift the lock before a destroy.
            lock_configuration=backup.LockConfiguration(min_retention=Duration.days(lock_days)) if lock_days else None,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # AWS Backup keeps filling the vault; it must be emptied before CloudFormation can delete it.
        self.cleanup = BackupVaultCleanup(
            scope, "VaultCleanup", config=config, vault=self.vault, log_key=log_key, network=network
        )
        for statement in access_policy(config, self.cleanup.role.role_arn):
            self.vault.add_to_access_policy(statement)
        self.plan = backup.BackupPlan(
            scope,
            "Plan",
            backup_plan_name=config.name("backup-plan"),
            backup_vault=self.vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name=config.name("hourly"),
                    schedule_expression=HOURLY,
                    start_window=BACKUP_START_WINDOW,
                    completion_window=BACKUP_COMPLETION_WINDOW,
                    delete_after=Duration.days(config.objectives.retention_days),
                    recovery_point_tags={"EnvironmentSuffix": config.environment_suffix},
                )
            ],
        )
        # The plan goes first on delete, so no new backup starts after the vault has been emptied.
        self.plan.node.add_dependency(self.cleanup.resource)
        iam.ManagedPolicy(
            scope,
            "BackupS3Policy",
            managed_policy_name=config.name("backup-s3"),
            description="What AWS Backup needs to back up the data bucket, and nothing else",
            roles=[role],
            statements=s3_backup_statements(config, bucket),
        )
        self.plan.add_selection(
            "Selection",
            backup_selection_name=config.name("backup-selection"),
            role=role,
            resources=[backup.BackupResource.from_arn(resource.arn) for resource in protected],
        )


def access_policy(config: EnvironmentConfig, cleanup_role_arn: str) -> list[iam.PolicyStatement]:
    """The vault access policy's statements: one guardian may delete recovery points -- the vault
    cleanup in a profile that destroys completely (dev), the break-glass role in a protected one
    (prod, where ``make unprotect`` removes this policy before a destroy) -- and may, with
    CloudFormation (which applies the vault's AccessPolicy and LockConfiguration on stack updates),
    change the vault's protection.

    AWS Backup's own deletion of points whose retention ended is not an IAM request and is not
    affected. The vault cleanup's role can name no vault in its DeleteRecoveryPoint permission (the
    action's resource is the recovery point): this policy is what keeps other principals off this
    vault's points.
    """
    if config.profile.deletion_protection:
        sid, guardian = GUARDED_BY_BREAK_GLASS_SID, break_glass_role_arn(config)
    else:
        sid, guardian = GUARDED_BY_CLEANUP_SID, cleanup_role_arn
    return [
        deny_all_but(sid, RECOVERY_POINT_ACTIONS, [guardian]),
        deny_all_but(
            "OnlyTheGuardianOrCloudFormationChangesTheProtection",
            PROTECTION_ACTIONS,
            [guardian, cloudformation_role_arn(config)],
        ),
    ]


def s3_backup_statements(config: EnvironmentConfig, bucket: s3.IBucket) -> list[iam.PolicyStatement]:
    """AWSBackupServiceRolePolicyForS3Backup's statements (AWS Backup Developer Guide, "Managed
    policies for AWS Backup", "Amazon S3 backup permissions") on the data bucket, its objects and its
    key instead of every bucket. Where AWS allows no narrower resource they stay as AWS wrote them:
    s3:ListAllMyBuckets, cloudwatch:GetMetricData and events:ListRules have no resource type (``*``),
    and the EventBridge rules AWS Backup manages for continuous backups are named by AWS Backup
    (``AwsBackupManagedRule*``, limited here to this account and region)."""
    region, account = config.region, config.account
    # The bucket's fixed name, not a reference: the policy reads as what it allows.
    bucket_arn = f"arn:aws:s3:::{config.global_name('data-bucket')}"
    statements = [
        iam.PolicyStatement(
            sid="S3BucketPermissions",
            actions=[
                "s3:GetBucketTagging",
                "s3:GetInventoryConfiguration",
                "s3:ListBucketVersions",
                "s3:ListBucket",
                "s3:GetBucketVersioning",
                "s3:GetBucketLocation",
                "s3:GetBucketAcl",
                "s3:PutInventoryConfiguration",
                "s3:GetBucketNotification",
                "s3:PutBucketNotification",
                "s3:ListTagsForResource",
            ],
            resources=[bucket_arn],
        ),
        iam.PolicyStatement(
            sid="S3ObjectPermissions",
            actions=[
                "s3:GetObjectAcl",
                "s3:GetObject",
                "s3:GetObjectVersionTagging",
                "s3:GetObjectVersionAcl",
                "s3:GetObjectTagging",
                "s3:GetObjectVersion",
            ],
            resources=[f"{bucket_arn}/*"],
        ),
        iam.PolicyStatement(
            sid="EventBridgePermissionsForAwsBackupManagedRule",
            actions=[
                "events:DeleteRule",
                "events:PutTargets",
                "events:DescribeRule",
                "events:EnableRule",
                "events:PutRule",
                "events:RemoveTargets",
                "events:ListTargetsByRule",
                "events:DisableRule",
            ],
            resources=[f"arn:aws:events:{region}:{account}:rule/AwsBackupManagedRule*"],
        ),
        iam.PolicyStatement(
            sid="RecoveryPointTaggingPermissions",
            actions=["backup:TagResource"],
            resources=[f"arn:aws:backup:{region}:{account}:recovery-point:*"],
        ),
        # No resource-level permissions: "*" is the only valid resource; limited to this region.
        iam.PolicyStatement(
            sid="ListingAndMetricsWithoutResourceTypes",
            actions=list(S3_BACKUP_UNSCOPABLE_ACTIONS),
            resources=["*"],
            conditions={"StringEquals": {"aws:RequestedRegion": region}},
        ),
    ]
    if bucket.encryption_key is not None:
        statements.append(
            iam.PolicyStatement(
                sid="KmsPermissions",
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[bucket.encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            )
        )
    return statements
