"""cdk-nag rule packs on every synth, and the reviewed list of findings we acknowledge.

Every finding is either fixed in the layer it belongs to, or listed here with the rule, the
construct and the reason it stands. Synth fails on any finding not listed; an entry whose construct
no longer exists fails too, so the list cannot go stale.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, ServerlessChecks
from constructs import IConstruct

from lib.config import WRITER_ID, EnvironmentConfig

BACKUP_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Restore",
)


@dataclass(frozen=True)
class Finding:
    """An acknowledged finding: construct path below the TapStack, rule id, why it stands."""

    path: str
    rule: str
    reason: str


_SPLIT_STACK = (
    "False positive: cdk-nag looks for the {what} in the same stack, but it is in the {where} nested "
    "stack (tests/unit prove it)."
)
_NO_RESOURCE_LEVEL = "{actions} support no resource-level permissions; '*' is the only valid resource."
_FAILURE_QUEUE = (
    "The queue is where failures end: the on-failure destination of the kit's asynchronous invocations "
    "(and the DLQ of EventBridge targets), and its depth pages. A redrive policy or a DLQ behind it would "
    "move the records away from that alarm before anyone read them."
)
_ON_FAILURE_DESTINATION = (
    "An invocation that failed every attempt goes to the function's on-failure destination, the queue "
    "whose depth pages, with Lambda's record (condition, error, event); a DeadLetterConfig beside it "
    "would put every failure into a queue a second time (Lambda sends to both)."
)
_ENI = "the Lambda VPC ENI actions (ec2:CreateNetworkInterface et al.; every function runs in the VPC)"
# CDK's own Node.js custom-resource providers (S3 auto-delete objects, restricting the default security
# group) run outside the VPC: they are CDK's singletons and offer no VPC option. cdk-nag's
# LambdaInsideVPC rule looks only at lambda.CfnFunction, which they are not, so nothing is acknowledged.

ACKNOWLEDGED: tuple[Finding, ...] = (
    # --- Network
    Finding("Network/Vpc/Resource", "AwsSolutions-VPC7", _SPLIT_STACK.format(what="flow log", where="Security")),
    Finding(
        "Network/Vpc/Resource",
        "HIPAA.Security-VPCFlowLogsEnabled",
        _SPLIT_STACK.format(what="flow log", where="Security"),
    ),
    *(
        Finding(
            f"Network/Vpc/publicSubnet{n}/DefaultRoute",
            "HIPAA.Security-VPCNoUnrestrictedRouteToIGW",
            "The customer asked for public subnets for future load balancers; a public subnet is one with "
            "a route to the internet gateway. Nothing is deployed in them and they assign no public IPs.",
        )
        for n in (1, 2, 3)
    ),
    # --- Security
    Finding(
        "Security/FunctionVpcAccessPolicy/Resource",
        "AwsSolutions-IAM5[Resource::*]",
        _NO_RESOURCE_LEVEL.format(actions="The Lambda VPC ENI actions (ec2:DescribeNetworkInterfaces et al.)"),
    ),
    *(
        Finding(
            "Security/BackupRole/Resource",
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]",
            "AWS Backup service-role policy maintained by AWS for the resource types Backup supports; a "
            "hand-written copy would fall behind new Backup features.",
        )
        for policy in BACKUP_POLICIES
    ),
    Finding(
        "Security/RestoreTestingRole/Resource",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores]",
        "AWS Backup service-role policy maintained by AWS for restores (and the deletion of restore-test "
        "copies); a hand-written copy would fall behind new Backup features.",
    ),
    Finding(
        "Security/FlowLogRole/DefaultPolicy/Resource",
        "HIPAA.Security-IAMNoInlinePolicy",
        "Written by CDK's FlowLog construct: CreateLogStream/PutLogEvents/DescribeLogStreams on the one "
        "flow-log group only.",
    ),
    # --- Data
    Finding(
        "Data/AuroraCluster/MonitoringRole/Resource",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]",
        "The AWS-maintained policy RDS enhanced monitoring requires (writes OS metrics to RDSOSMetrics).",
    ),
    Finding(
        "Data/Table/Resource",
        "HIPAA.Security-DynamoDBInBackupPlan",
        _SPLIT_STACK.format(what="backup selection", where="Resilience"),
    ),
    *(
        Finding(
            f"Data/{bucket}/Resource",
            "HIPAA.Security-S3BucketReplicationEnabled",
            "Single-region design: the customer forbids cross-region replication; hourly AWS Backup "
            "recovery points and versioning provide the recovery copies.",
        )
        for bucket in ("DataBucket", "AccessLogsBucket")
    ),
    Finding(
        "Data/AccessLogsBucket/Resource",
        "HIPAA.Security-S3DefaultEncryptionKMS",
        "S3 server access logs can only be delivered to buckets encrypted with SSE-S3, not SSE-KMS.",
    ),
    # --- Compute
    *(
        Finding(
            path,
            "HIPAA.Security-LambdaConcurrency",
            "Reserved concurrency fails to deploy on accounts whose concurrency quota is at the minimum of "
            "10 (new accounts). This function runs one invocation at a time by design (a 5-minute "
            "schedule with a 30 s timeout, or once per stack deletion).",
        )
        for path in (
            "Compute/Function/Resource",
            "Resilience/VaultCleanup/Function/Resource",
            "Resilience/BackupMonitor/Function/Resource",
        )
    ),
    # --- Resilience
    Finding(
        "Resilience/BackupS3Policy/Resource",
        "AwsSolutions-IAM5[Resource::*]",
        _NO_RESOURCE_LEVEL.format(actions="s3:ListAllMyBuckets, cloudwatch:GetMetricData and events:ListRules")
        + " Limited to this region by aws:RequestedRegion.",
    ),
    Finding(
        "Resilience/BackupS3Policy/Resource",
        "AwsSolutions-IAM5[Resource::arn:aws:events:us-east-1:<AWS::AccountId>:rule/AwsBackupManagedRule*]",
        "The EventBridge rules AWS Backup creates for S3 continuous backups; AWS Backup names them, the "
        "pattern admits only those in this account and region.",
    ),
    Finding(
        "Resilience/BackupS3Policy/Resource",
        "AwsSolutions-IAM5[Resource::arn:aws:backup:us-east-1:<AWS::AccountId>:recovery-point:*]",
        "AWS Backup tags the S3 recovery points it creates; their ARNs are generated, the pattern admits "
        "only this account's and region's points.",
    ),
    Finding(
        "Resilience/VaultCleanup/Policy/Resource",
        "AwsSolutions-IAM5[Resource::*]",
        _NO_RESOURCE_LEVEL.format(actions=f"backup:ListBackupJobs, StopBackupJob, ListBackupVaults and {_ENI}"),
    ),
    *(
        Finding(
            "Resilience/VaultCleanup/Policy/Resource",
            f"AwsSolutions-IAM5[Resource::{arn}]",
            "Recovery-point ARNs are generated by AWS Backup and no condition key names their vault; the "
            "pattern is limited to this account, region and AWS Backup's own points.",
        )
        for arn in (
            "arn:aws:backup:us-east-1:<AWS::AccountId>:recovery-point:*",
            "arn:aws:dynamodb:us-east-1:<AWS::AccountId>:table/*/backup/*",
            "arn:aws:rds:us-east-1:<AWS::AccountId>:cluster-snapshot:awsbackup:*",
        )
    ),
    Finding(
        "Resilience/VaultCleanup/Function/Resource",
        "HIPAA.Security-LambdaDLQ",
        "CloudFormation custom-resource handler: every outcome is reported to CloudFormation, which "
        "fails the stack operation visibly; a DLQ would hold nothing to act on.",
    ),
    Finding(
        "Resilience/BackupMonitor/Policy/Resource",
        "AwsSolutions-IAM5[Resource::*]",
        _NO_RESOURCE_LEVEL.format(actions=_ENI[0].upper() + _ENI[1:]),
    ),
    # --- Resilience: function export (lib/constructs/function_export.py)
    Finding(
        "Resilience/FunctionExport/Function/Resource",
        "HIPAA.Security-LambdaConcurrency",
        "Reserved concurrency fails to deploy on accounts whose concurrency quota is at the minimum of 10 "
        "(new accounts). This function runs once per deploy that changes a function.",
    ),
    Finding(
        "Resilience/FunctionExport/Policy/Resource",
        "AwsSolutions-IAM5[Resource::*]",
        _NO_RESOURCE_LEVEL.format(actions=_ENI[0].upper() + _ENI[1:]),
    ),
    # --- Resilience: restore testing (lib/constructs/restore_testing.py)
    Finding(
        "Resilience/RestoreTesting/Function/Resource",
        "HIPAA.Security-LambdaConcurrency",
        "Reserved concurrency fails to deploy on accounts whose concurrency quota is at the minimum of "
        "10 (new accounts). Restore tests run once a day, one restore job per protected resource.",
    ),
    Finding(
        "Resilience/RestoreTesting/Policy/Resource",
        "AwsSolutions-IAM5[Resource::*]",
        _NO_RESOURCE_LEVEL.format(
            actions="backup:PutRestoreValidationResult, backup:DescribeRestoreJob, backup:ListRestoreJobs and " + _ENI
        )
        + " The backup actions are limited to this region by aws:RequestedRegion.",
    ),
    *(
        Finding(
            "Resilience/RestoreTesting/Policy/Resource",
            f"AwsSolutions-IAM5[Resource::{arn}]",
            "AWS Backup restore testing gives each copy a generated name (awsbackup-restore-test-...) that "
            "is unknown at deploy time, and the validator names the writer it adds to an Aurora copy after "
            "the copy; the pattern admits only those copies and writers in this account and region "
            "(dynamodb:Query of tables; rds:DescribeDBClusters, rds:ModifyDBCluster and rds:CreateDBInstance "
            "into clusters; rds:CreateDBInstance, rds:AddTagsToResource, rds:DescribeDBInstances and "
            "rds:DeleteDBInstance of DB instances).",
        )
        for arn in (
            "arn:aws:dynamodb:us-east-1:<AWS::AccountId>:table/awsbackup-restore-test-*",
            "arn:aws:rds:us-east-1:<AWS::AccountId>:cluster:awsbackup-restore-test-*",
            "arn:aws:rds:us-east-1:<AWS::AccountId>:db:awsbackup-restore-test-*",
        )
    ),
    # --- Every function: X-Ray active tracing (lib/constructs/kit_function.py)
    *(
        Finding(
            f"{function}/Function/TracingPolicy/Resource",
            "AwsSolutions-IAM5[Resource::*]",
            _NO_RESOURCE_LEVEL.format(
                actions="xray:PutTraceSegments and xray:PutTelemetryRecords (the X-Ray daemon "
                "Lambda runs for an actively traced function uploads with its role)"
            )
            + " Limited to this region by aws:RequestedRegion.",
        )
        for function in (
            "Compute",
            "Resilience/VaultCleanup",
            "Resilience/BackupMonitor",
            "Resilience/FunctionExport",
            "Resilience/RestoreTesting",
            "Compute/DatabaseUsers",
        )
    ),
    Finding(
        "Resilience/RestoreTesting/Policy/Resource",
        "AwsSolutions-IAM5[Resource::arn:aws:rds-db:us-east-1:<AWS::AccountId>:dbuser:cluster-*/dr_restore_probe]",
        "rds-db:connect names the cluster by its resource id, which RDS generates when AWS Backup restores "
        "a copy (unknown at deploy time); the pattern pins the probe's read-only database user and admits "
        "any cluster of this account and region, so only that user's SELECT on the heartbeat table.",
    ),
    # --- Compute: the database-users custom resource (lib/constructs/database_users.py)
    Finding(
        "Compute/DatabaseUsers/Policy/Resource",
        "AwsSolutions-IAM5[Resource::*]",
        _NO_RESOURCE_LEVEL.format(actions=_ENI[0].upper() + _ENI[1:]),
    ),
    Finding(
        "Compute/DatabaseUsers/Function/Resource",
        "HIPAA.Security-LambdaConcurrency",
        "Reserved concurrency fails to deploy on accounts whose concurrency quota is at the minimum of "
        "10 (new accounts). This function runs once per deploy that creates or updates its resource.",
    ),
    Finding(
        "Compute/DatabaseUsers/Function/Resource",
        "HIPAA.Security-LambdaDLQ",
        "CloudFormation custom-resource handler: every outcome is reported to CloudFormation, which "
        "fails the stack operation visibly; a DLQ would hold nothing to act on.",
    ),
    # --- Asynchronous failures (lib/constructs/kit_function.py: with_failure_destination)
    *(
        Finding(path, rule, _FAILURE_QUEUE)
        for path in ("Compute/DeadLetterQueue/Resource", "Resilience/UndeliveredAlerts/Resource")
        for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy")
    ),
    *(
        Finding(f"{function}/Function/Resource", rule, _ON_FAILURE_DESTINATION)
        for function in (
            "Compute",
            "Resilience/BackupMonitor",
            "Resilience/RestoreTesting",
            "Resilience/FunctionExport",
        )
        for rule in ("HIPAA.Security-LambdaDLQ", "Serverless-LambdaDLQ")
    ),
    *(
        Finding(
            f"{function}/Function/Resource",
            "Serverless-LambdaDLQ",
            "CloudFormation custom-resource handler: every outcome is reported to CloudFormation, which "
            "fails the stack operation visibly; a DLQ would hold nothing to act on.",
        )
        for function in ("Resilience/VaultCleanup", "Compute/DatabaseUsers")
    ),
    # --- Resilience: AWS FIS experiments (lib/constructs/az_experiments.py)
    Finding(
        "Resilience/AzExperiments/Policy/Resource",
        "AwsSolutions-IAM5[Resource::*]",
        _NO_RESOURCE_LEVEL.format(
            actions="ec2:DescribeNetworkAcls, ec2:DescribeSubnets, ec2:DescribeVpcs and logs:CreateLogDelivery"
        )
        + " Limited to this region by aws:RequestedRegion.",
    ),
    Finding(
        "Resilience/AzExperiments/Policy/Resource",
        "AwsSolutions-IAM5[Resource::arn:aws:ec2:us-east-1:<AWS::AccountId>:network-acl/*]",
        "FIS creates the deny-all network ACL during the experiment, so its id is unknown at deploy time, "
        "and the subnets' original ACL is CDK's VPC default: creation requires the tag managedByFIS=true, "
        "entries and deletion only ACLs carrying it, and every ACL action is limited to this VPC (ec2:Vpc).",
    ),
    Finding(
        "Resilience/AzExperiments/Policy/Resource",
        "AwsSolutions-IAM5[Resource::arn:aws:logs:us-east-1:<AWS::AccountId>:log-group:*]",
        "Experiment log delivery to CloudWatch Logs: the CloudWatch Logs User Guide ('Logs sent to "
        "CloudWatch Logs') asks for the log-group:* wildcard on logs:PutResourcePolicy, "
        "DescribeResourcePolicies and DescribeLogGroups (the resource policy is the account's).",
    ),
)


# Only a profile without deletion protection (a test environment) has these findings.
UNPROTECTED_DATA: tuple[Finding, ...] = (
    Finding(
        "Data/AuroraCluster/Resource",
        "AwsSolutions-RDS10",
        "The customer requires deletion protection off so test environments destroy completely; hourly "
        "AWS Backup recovery points and 7-day PITR protect the data.",
    ),
    Finding(
        "Data/AuroraCluster/Resource",
        "HIPAA.Security-RDSInstanceDeletionProtectionEnabled",
        "The customer requires deletion protection off so test environments destroy completely.",
    ),
)


def protected_data(config: EnvironmentConfig) -> tuple[Finding, ...]:
    """Only a protected profile (prod) has these: the break-glass role's policy
    (lib/constructs/break_glass.py), whose patterns name this deployment's stack and data bucket."""
    policy = "Security/BreakGlass/Policy/Resource"
    return (
        Finding(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            _NO_RESOURCE_LEVEL.format(actions="backup:ListBackupVaults")
            + " Limited to this region by aws:RequestedRegion.",
        ),
        Finding(
            policy,
            f"AwsSolutions-IAM5[Resource::arn:aws:cloudformation:{config.region}:<AWS::AccountId>:stack/"
            f"{config.stack_name}/*]",
            "A stack ARN ends with an id CloudFormation generates; the pattern names this deployment's stack.",
        ),
        Finding(
            policy,
            f"AwsSolutions-IAM5[Resource::arn:aws:s3:::{config.global_name('data-bucket')}/*]",
            "`make unprotect` empties the data bucket before a destroy: s3:DeleteObjectVersion on its objects "
            "(every key), of this one bucket only.",
        ),
    )


def acknowledged(config: EnvironmentConfig) -> tuple[Finding, ...]:
    """The findings acknowledged for this configuration: the fixed list, one per Aurora instance of the
    profile, and the deletion-protection ones where the profile has it off."""
    instances = [WRITER_ID, *(construct_id for construct_id, _, _ in config.aurora_readers())]
    return (
        *ACKNOWLEDGED,
        *(
            Finding(
                f"Data/AuroraCluster/{instance}/Resource",
                "HIPAA.Security-RDSInBackupPlan",
                "False positive: AWS Backup protects Aurora at the cluster level; the cluster is in the backup "
                "selection of the Resilience nested stack.",
            )
            for instance in instances
        ),
        *(protected_data(config) if config.profile.deletion_protection else UNPROTECTED_DATA),
        Finding(
            "Resilience/BackupS3Policy/Resource",
            f"AwsSolutions-IAM5[Resource::arn:aws:s3:::{config.global_name('data-bucket')}/*]",
            "Every object of the data bucket: AWS Backup reads all of them (and their versions) to back "
            "the bucket up. No other bucket.",
        ),
        *(
            Finding(
                f"Resilience/AlertsTopic/{config.alarm_email}/Resource",
                "Serverless-SNSRedrivePolicy",
                "The on-call e-mail subscription: a notification SNS could not deliver to that address could "
                "only be reported to the same address. An alarm stays in ALARM, on the dashboard and in "
                "DescribeAlarmHistory, until it clears; the topic's publishers have DLQs of their own.",
            )
            for _ in [config.alarm_email]
            if config.alarm_email
        ),
    )


class StaleAcknowledgementError(LookupError):
    """An acknowledgement names a construct that no longer exists."""


def add_compliance_checks(app: App) -> None:
    """Run the AWS Solutions, HIPAA Security and Serverless packs as synth-time validation of the whole app."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), HIPAASecurityChecks(app), ServerlessChecks(app))


def acknowledge_findings(stack: Stack, config: EnvironmentConfig) -> None:
    """Attach every finding acknowledged for `config` to its construct below `stack`."""
    for finding in acknowledged(config):
        rule = finding.rule.replace("<AWS::AccountId>", config.account)
        Validations.of(_find(stack, finding.path)).acknowledge(Acknowledgment(id=rule, reason=finding.reason))


def _find(stack: Stack, path: str) -> IConstruct:
    node: IConstruct = stack
    for part in path.split("/"):
        child = node.node.try_find_child(part)
        if child is None:
            raise StaleAcknowledgementError(f"Acknowledged finding names {path!r}, which is not in {stack.node.id}.")
        node = child
    return node
