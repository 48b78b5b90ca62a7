"""Empties an AWS Backup vault on stack deletion, so CloudFormation can delete the vault.

CloudFormation cannot delete a vault that still holds recovery points (aws/aws-cdk#33711) and the
backup plan adds one per protected resource every hour. This construct adds a custom resource that
depends on the vault: CloudFormation deletes the custom resource first, and its function
(``lib/lambda/vault_cleanup``) stops the vault's running backup jobs and deletes every recovery
point before answering, after which the vault is empty and deletable. It runs in the isolated
subnets: AWS Backup through its interface endpoint, the answer to CloudFormation (a pre-signed S3
URL) through the S3 gateway endpoint. The network layer is deleted after this one, so both are
still there when the stack's deletion invokes it.

IAM facts behind the policy (Service Authorization Reference for AWS Backup, RDS, DynamoDB, IAM;
AWS managed policies AWSBackupFullAccess and AWSBackupServiceRolePolicyForBackup):

* ``backup:ListRecoveryPointsByBackupVault`` takes the ``backupVault`` resource type;
  ``backup:DeleteRecoveryPoint`` takes ``recoveryPoint``, whose ARN is the recovery point's own ARN
  (``arn:aws:backup:...:recovery-point:ID`` for Backup-managed points such as S3 and advanced
  DynamoDB, the snapshot's ARN for Aurora: ``arn:aws:rds:...:cluster-snapshot:awsbackup:job-...``).
  Neither has a condition key that names the vault, so deletion is scoped to this account and region.
* ``backup:ListBackupJobs``, ``backup:StopBackupJob`` and ``backup:ListBackupVaults`` support no
  resource-level permissions: ``*`` is the only valid resource.
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
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from lib.build.lambda_bundle import bundle_function
from lib.config import EnvironmentConfig
from lib.constructs.execution_role import FunctionNetwork, execution_role, unscopable_statement
from lib.constructs.log_group import encrypted_log_group
from lib.network_reachability import FUNCTION_PACKAGES

HANDLER_DIR = FUNCTION_PACKAGES["vault-cleanup"]
RESOURCE_TYPE = "Custom::BackupVaultCleanup"
# The Lambda maximum: emptying a vault waits for Aurora snapshot deletions and unstoppable jobs.
FUNCTION_TIMEOUT = Duration.minutes(15)
# CloudFormation waits this long for an answer (default: one hour). The handler always answers
# before the function timeout; this only bounds the wait if the function is killed (e.g. out of memory).
SERVICE_TIMEOUT = Duration.minutes(20)
CALLED_VIA_BACKUP = {"ForAnyValue:StringEquals": {"aws:CalledVia": ["backup.amazonaws.com"]}}

# Actions of the service authorization reference without resource types: only "*" is valid.
UNSCOPABLE_BACKUP_ACTIONS = ("backup:ListBackupJobs", "backup:StopBackupJob", "backup:ListBackupVaults")


class BackupVaultCleanup(Construct):
    """Custom resource whose deletion empties ``vault``; must be deleted before the vault.

    Exposes: function, resource, role, log_group.
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
        function_name = config.name("vault-cleanup")

        self.log_group = encrypted_log_group(
            self, "LogGroup", config=config, name=f"/aws/lambda/{function_name}", key=log_key
        )
        self.role, policy = execution_role(
            self,
            config=config,
            name="vault-cleanup",
            description="Execution role of the function that empties the AWS Backup vault on stack deletion",
            log_group=self.log_group,
            statements=_statements(config, vault),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description="Empties the stack's AWS Backup vault when CloudFormation deletes the stack",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(bundle_function(HANDLER_DIR))),
            timeout=FUNCTION_TIMEOUT,
            memory_size=256,
            role=self.role,
            **network.placement(),
            log_group=self.log_group,
        )
        self.function.node.add_dependency(policy)  # Lambda creates a VPC function only once its role may manage ENIs
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
        self.resource.node.add_dependency(policy)


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
