"""Empties an AWS Backup vault on stack deletion, so CloudFormation can delete the vault.

CloudFormation cannot delete a vault that still holds recovery points (aws/aws-cdk#33711) and the
backup plan adds one per protected resource every hour. This construct adds a custom resource that
depends on the vault: CloudFormation deletes the custom resource first, and its function
(``lib/lambda/vault_cleanup``) stops the vault's running backup jobs and deletes every recovery
point before answering, after which the vault is empty and deletable. It runs in the isolated
subnets: AWS Backup through its interface endpoint, the answer to CloudFormation (a pre-signed S3
URL) through the S3 gateway endpoint. The network layer is deleted after this one, so both are
still there when the stack's deletion invokes it.

The vault is pinned at deploy time: the function's environment names it, and the function refuses any
request that names another vault (or none) before it makes a single AWS call, so a fake Delete sent by
anyone allowed to invoke it empties nothing and stops nothing.

IAM facts behind the policy (Service Authorization Reference for AWS Backup, RDS, DynamoDB, IAM;
AWS managed policies AWSBackupFullAccess and AWSBackupServiceRolePolicyForBackup):

* ``backup:ListRecoveryPointsByBackupVault`` takes the ``backupVault`` resource type;
  ``backup:DeleteRecoveryPoint`` takes ``recoveryPoint``, whose ARN is the recovery point's own ARN
  (``arn:aws:backup:...:recovery-point:ID`` for Backup-managed points such as S3 and advanced
  DynamoDB, the snapshot's ARN for Aurora: ``arn:aws:rds:...:cluster-snapshot:awsbackup:job-...``).
  Neither has a condition key that names the vault, so IAM can scope deletion to this account and
  region only. What confines it to this vault is the code (the pinned vault) and, for everyone else,
  the vault's access policy (``lib/constructs/backup_plan.access_policy``): it denies deleting this vault's
  recovery points to every principal but this role (dev) or the break-glass role (prod).
* ``backup:ListBackupJobs``, ``backup:StopBackupJob`` and ``backup:ListBackupVaults`` support no
  resource-level permissions: ``*`` is the only valid resource. StopBackupJob names a job, not a vault,
  so IAM cannot keep the role off another vault's jobs: the function lists only its own vault's jobs
  (``ListBackupJobs`` with ``ByBackupVaultName``) and stops only those.
* AWS Backup deletes an Aurora snapshot (or a DynamoDB backup made without advanced DynamoDB
  features) with the caller's permissions, through a forward-access session: the caller also needs
  ``rds:DeleteDBClusterSnapshot`` / ``dynamodb:DeleteBackup``. AWSBackupFullAccess grants exactly
  these with ``aws:CalledVia = backup.amazonaws.com``; the same condition is used here, so the
  function cannot delete snapshots directly. Without them DeleteRecoveryPoint answers 200 and the
  point turns EXPIRED instead of disappearing.
* DeleteRecoveryPoint deletes EXPIRED points only if the caller may create the AWS Backup
  service-linked role; ``iam:CreateServiceLinkedRole`` is granted for that one role only.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_backup as backup
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.execution_role import FunctionNetwork, unscopable_statement
from lib.constructs.kit_function import function_with_role
from lib.network_reachability import FUNCTION_PACKAGES

FUNCTION_TYPE = "vault-cleanup"
HANDLER_DIR = FUNCTION_PACKAGES[FUNCTION_TYPE]
RESOURCE_TYPE = "Custom::BackupVaultCleanup"
# The Lambda maximum: emptying a vault waits for Aurora snapshot deletions and unstoppable jobs.
FUNCTION_TIMEOUT = Duration.minutes(15)
# CloudFormation waits this long for an answer (default: one hour). The handler always answers
# before the function timeout; this only bounds the wait if the function is killed (e.g. out of memory).
SERVICE_TIMEOUT = Duration.minutes(20)
# The function's environment variable naming the one vault it may empty (lib/lambda/vault_cleanup/handler.py).
VAULT_VARIABLE = "BACKUP_VAULT_NAME"
CALLED_VIA_BACKUP = {"ForAnyValue:StringEquals": {"aws:CalledVia": ["backup.amazonaws.com"]}}

# Actions of the service authorization reference without resource types: only "*" is valid.
UNSCOPABLE_BACKUP_ACTIONS = ("backup:ListBackupJobs", "backup:StopBackupJob", "backup:ListBackupVaults")


class BackupVaultCleanup(Construct):
    """Custom resource whose deletion empties ``vault``; must be deleted before the vault.

    Exposes: function, resource, role, policy, log_group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        vault: backup.IBackupVault,
        log_key: kms.IKey,
        network: FunctionNetwork,
    ) -> None:
        super().__init__(scope, construct_id)
        made = function_with_role(
            self,
            config=config,
            function_type=FUNCTION_TYPE,
            description="Empties the stack's AWS Backup vault when CloudFormation deletes the stack",
            role_description="Execution role of the function that empties the AWS Backup vault on stack deletion",
            statements=_statements(config, vault),
            log_key=log_key,
            network=network,
            timeout=FUNCTION_TIMEOUT,
            environment={VAULT_VARIABLE: vault.backup_vault_name},
            environment_key=log_key,
        )
        self.function, self.role, self.policy, self.log_group = made.function, made.role, made.policy, made.log_group
        self.resource = CustomResource(
            self,
            "Resource",
            resource_type=RESOURCE_TYPE,
            service_token=self.function.function_arn,
            service_timeout=SERVICE_TIMEOUT,
            properties={"BackupVaultName": vault.backup_vault_name},
        )
        # Deleted before the vault (so the vault is empty when CloudFormation deletes it) and before
        # the policy (so the function still has its permissions when it runs on delete).
        self.resource.node.add_dependency(vault)
        self.resource.node.add_dependency(self.policy)


def _statements(config: EnvironmentConfig, vault: backup.IBackupVault) -> list[iam.PolicyStatement]:
    """Exactly the calls the handler makes, plus what AWS Backup needs from the caller to delete."""
    region, account = config.region, config.account
    aurora_snapshots = f"arn:aws:rds:{region}:{account}:cluster-snapshot:awsbackup:*"
    dynamodb_backups = f"arn:aws:dynamodb:{region}:{account}:table/*/backup/*"
    return [
        unscopable_statement("FindAndStopBackupJobs", UNSCOPABLE_BACKUP_ACTIONS, region),
        iam.PolicyStatement(
            sid="ListRecoveryPointsOfTheVault",
            actions=["backup:ListRecoveryPointsByBackupVault"],
            resources=[vault.backup_vault_arn],
        ),
        iam.PolicyStatement(
            sid="DeleteRecoveryPoints",
            actions=["backup:DeleteRecoveryPoint"],
            resources=[
                f"arn:aws:backup:{region}:{account}:recovery-point:*",  # S3, advanced DynamoDB, continuous
                aurora_snapshots,  # Aurora cluster snapshots taken by AWS Backup
                dynamodb_backups,  # DynamoDB backups where advanced DynamoDB backup is off
            ],
        ),
        iam.PolicyStatement(
            sid="BackupDeletesAuroraSnapshotsForTheCaller",
            actions=["rds:DeleteDBClusterSnapshot"],
            resources=[aurora_snapshots],
            conditions=CALLED_VIA_BACKUP,
        ),
        iam.PolicyStatement(
            sid="BackupDeletesDynamoDbBackupsForTheCaller",
            actions=["dynamodb:DeleteBackup"],
            resources=[dynamodb_backups],
            conditions=CALLED_VIA_BACKUP,
        ),
        iam.PolicyStatement(
            sid="DeleteExpiredRecoveryPoints",
            actions=["iam:CreateServiceLinkedRole"],
            resources=[f"arn:aws:iam::{account}:role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup"],
            conditions={"StringEquals": {"iam:AWSServiceName": "backup.amazonaws.com"}},
        ),
    ]
