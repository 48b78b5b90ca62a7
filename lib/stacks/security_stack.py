"""Security layer: customer-managed KMS keys, the IAM roles of the workloads, VPC flow logs."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import NestedStack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.break_glass import BreakGlassRole, key_denies
from lib.constructs.customer_key import CustomerManagedKey
from lib.constructs.execution_role import vpc_access_statement
from lib.constructs.log_group import encrypted_log_group

# AWS-maintained policies for the AWS Backup service role. AWS keeps them in step with the
# services Backup supports (RDS/Aurora, DynamoDB, S3); a hand-written copy would fall behind.
# The backup role's AWS managed policies. S3 backups are granted on the data bucket alone instead of
# AWSBackupServiceRolePolicyForS3Backup's arn:aws:s3:::* (lib/constructs/backup_plan.py); an S3 restore
# goes into a new bucket named at restore time, so AWSBackupServiceRolePolicyForS3Restore stays.
BACKUP_MANAGED_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Restore",
)
# Restore testing restores Aurora and DynamoDB copies and deletes them after validation: restores only.
RESTORE_TESTING_MANAGED_POLICIES = ("service-role/AWSBackupServiceRolePolicyForRestores",)


@dataclass(frozen=True)
class SecurityStackProps:
    config: EnvironmentConfig
    vpc: ec2.IVpc


class SecurityStack(NestedStack):
    """Keys and roles the later layers use; data permissions are attached where the data lives.

    Exposes: aurora_key, bucket_key, backup_key, monitoring_key, function_role, backup_role,
    restore_testing_role.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: SecurityStackProps) -> None:
        super().__init__(scope, construct_id, description="Security layer: KMS keys, IAM roles, flow logs")
        config = props.config

        # The keys that encrypt recovery points: AWS Backup's Aurora snapshots keep the cluster's key, the
        # vault's key encrypts S3's (and DynamoDB's with advanced backup features; without them a DynamoDB
        # backup keeps the table's AWS managed key, which no one can delete). A protected profile denies
        # destroying them.
        recovery_key_denies = key_denies(config) if config.profile.deletion_protection else []
        self.aurora_key = CustomerManagedKey(
            self,
            "AuroraKey",
            config=config,
            purpose="aurora",
            description="Aurora storage, snapshots, the database secret and the function's connection settings",
            denies=recovery_key_denies,
        ).key
        self.bucket_key = CustomerManagedKey(
            self,
            "BucketKey",
            config=config,
            purpose="s3",
            description="S3 data bucket objects",
        ).key
        self.backup_key = CustomerManagedKey(
            self,
            "BackupKey",
            config=config,
            purpose="backup",
            description="AWS Backup vault recovery points",
            denies=recovery_key_denies,
        ).key
        if config.profile.deletion_protection:
            BreakGlassRole(self, "BreakGlass", config=config, recovery_keys=[self.aurora_key, self.backup_key])
        self.monitoring_key = CustomerManagedKey(
            self,
            "MonitoringKey",
            config=config,
            purpose="monitoring",
            description="CloudWatch Logs log groups, the alerts SNS topic and the dead-letter queue",
            service_statements=_monitoring_key_statements(config),
        ).key

        self.function_role = iam.Role(
            self,
            "FunctionRole",
            role_name=config.name("lambda-execution-role"),
            description="Execution role of the VPC health-check function",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        iam.ManagedPolicy(
            self,
            "FunctionVpcAccessPolicy",
            managed_policy_name=config.name("lambda-vpc-access"),
            description="Lets Lambda attach the function to the VPC",
            roles=[self.function_role],
            statements=[vpc_access_statement()],
        )

        self.backup_role = iam.Role(
            self,
            "BackupRole",
            role_name=config.name("backup-service-role"),
            description="Role AWS Backup assumes to back up and restore Aurora, DynamoDB and S3",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(n) for n in BACKUP_MANAGED_POLICIES],
        )
        # A role of its own for restore testing: the daily tests cannot back up, and the backups'
        # role is not the one that creates and deletes the throw-away copies.
        self.restore_testing_role = iam.Role(
            self,
            "RestoreTestingRole",
            role_name=config.name("restore-testing-role"),
            description="Role AWS Backup assumes to restore and delete the daily restore-test copies",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(n) for n in RESTORE_TESTING_MANAGED_POLICIES
            ],
        )

        flow_log_group = encrypted_log_group(
            self,
            "FlowLogGroup",
            config=config,
            name=f"/aws/vpc/flow-logs-{config.environment_suffix}",
            key=self.monitoring_key,
        )
        flow_log_role = iam.Role(
            self,
            "FlowLogRole",
            role_name=config.name("flow-logs-role"),
            # Only for this account's flow logs (Amazon VPC User Guide, "IAM role for publishing flow
            # logs to CloudWatch Logs": confused deputy prevention with aws:SourceAccount/SourceArn).
            assumed_by=iam.ServicePrincipal(
                "vpc-flow-logs.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": config.account},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{config.region}:{config.account}:vpc-flow-log/*"},
                },
            ),
        )
        ec2.FlowLog(
            self,
            "FlowLog",
            flow_log_name=config.name("vpc-flow-log"),
            resource_type=ec2.FlowLogResourceType.from_vpc(props.vpc),
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group, flow_log_role),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )


def _monitoring_key_statements(config: EnvironmentConfig) -> list[iam.PolicyStatement]:
    """CloudWatch Logs encrypts log groups, and EventBridge/CloudWatch publish to the encrypted topic,
    with their own service principals, so the key policy must name them."""
    log_group_arns = f"arn:aws:logs:{config.region}:{config.account}:log-group:*"
    return [
        iam.PolicyStatement(
            sid="CloudWatchLogsEncryptsThisAccountsLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{config.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:DescribeKey",
            ],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arns}},
        ),
        iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisAccountUseTheTopicKey",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={
                "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{config.region}:{config.account}:alarm:*"},
                "StringEquals": {"aws:SourceAccount": config.account},
            },
        ),
        # No source condition: EventBridge sends neither aws:SourceArn nor aws:SourceAccount with the
        # KMS requests of a delivery to an encrypted topic, so a condition on them would drop every
        # alert. The topic policy limits EventBridge to this account's rules instead (alerting.py).
        iam.PolicyStatement(
            sid="EventBridgeUsesTheTopicKey",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
        ),
    ]
