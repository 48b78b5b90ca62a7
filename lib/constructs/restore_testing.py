"""AWS Backup restore testing: on the profile's schedule the newest recovery point of Aurora and of
DynamoDB is restored into a throw-away copy, validated as the DR drill does, and timed against the RTO.

Pieces:

* ``AWS::Backup::RestoreTestingPlan``: ``Profile.restore_test_schedule`` (daily on prod, twice a month on dev),
  a one-hour start window, the latest snapshot recovery point of the last day from this stack's vault.
* One ``AWS::Backup::RestoreTestingSelection`` per resource (Aurora cluster, DynamoDB table), restored
  with the restore-testing role and kept one hour for validation; the Aurora copy goes into the database
  subnet group with the database security group, so the validator can reach it on 5432.
* The validation function (``lib/lambda/restore_validation``), driven by events, never waiting:
  AWS Backup's "Restore Job State Change" events of this plan (COMPLETED and FAILED/ABORTED); RDS's
  "DB instance created" (RDS-EVENT-0005) of a copy's writer -- AWS Backup restores an Aurora cluster
  without any DB instance, so the function adds one first, and creating it takes 10-20 minutes, more
  than an invocation may run; and a schedule every ``SWEEP_MINUTES`` that fails a test whose writer
  was not available within ``INSTANCE_DEADLINE_MINUTES`` and deletes writers left behind. It checks
  the copy, deletes the writer (so that AWS Backup can delete the cluster), reports
  ``PutRestoreValidationResult`` and publishes ``RestoreDurationMinutes`` (until the copy is usable)
  and ``RestoreValidationFailed``; two alarms page the topic: ``restore-test-failed`` and
  ``restore-test-over-rto``.

Timing: the validation window (``VALIDATION_WINDOW_HOURS``) must hold the writer's creation, the
deadline, one more sweep and the writer's deletion, or AWS Backup would try to delete a cluster that
still has an instance (Aurora refuses) when the window closes.

Network: the validator runs in the isolated subnets with the functions' security group (allowed to
the database group on 5432), like every function of the kit. It reaches AWS Backup and RDS through
their interface endpoints and DynamoDB through its gateway endpoint, and the Aurora copy directly
(restored into the database subnet group with the database security group, and with IAM database
authentication on: the validator logs in as its read-only user ``dr_restore_probe`` with an IAM token
it signs itself; the copy keeps the source's users and grants, as a snapshot does).

Names: restore testing plan and selection names allow only letters, digits and underscores (AWS's
rule, unlike every other resource here), so ``{resource-type}-{suffix}`` is written with
underscores for these two types (``restore_testing_plan_dev``).

IAM facts (Service Authorization Reference): ``backup:PutRestoreValidationResult``,
``backup:DescribeRestoreJob`` and ``backup:ListRestoreJobs`` list no resource type, so they are
granted on ``*`` limited to this region. The copies AWS Backup restore testing creates are named
``awsbackup-restore-test-*`` and the writers are named after them; the validator may query only
tables, and describe, modify and add instances to only clusters, and create, tag, describe and
delete only DB instances, of that name (``rds:CreateDBInstance`` is authorized on the instance and
on the cluster it joins; tags given at creation need ``rds:AddTagsToResource``). ``rds-db:connect``
names the cluster by its resource id, which RDS generates when the copy is restored: the validator
may connect as ``dr_restore_probe`` to any cluster (``dbuser:cluster-*/dr_restore_probe``).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib import database_users
from lib.build.lambda_bundle import RDS_CA_BUNDLE
from lib.config import EnvironmentConfig
from lib.constructs.database_users import connect_statement
from lib.constructs.execution_role import FunctionNetwork, unscopable_statement
from lib.constructs.kit_function import function_with_role
from lib.constructs.topic_alarms import Comparison, Missing, TopicAlarms

NAMESPACE = "DisasterRecovery/RestoreTesting"
START_WINDOW_HOURS = 1
SELECTION_WINDOW_DAYS = 1
# Writer creation takes 10-20 minutes on AWS: give it an hour, then a sweep (every 30 minutes) fails
# the test and deletes the writer (5-10 minutes), all inside a two-hour validation window.
INSTANCE_DEADLINE_MINUTES = 60
SWEEP_MINUTES = 30  # 48 invocations a day
VALIDATION_WINDOW_HOURS = 2
RDS_INSTANCE_DETAIL_TYPE = "RDS DB Instance Event"
INSTANCE_CREATED = "RDS-EVENT-0005"  # "DB instance created"
RESTORE_JOB_DETAIL_TYPE = "Restore Job State Change"
REPORTED_STATUSES = ("COMPLETED", "FAILED", "ABORTED")
COPY_PREFIX = "awsbackup-restore-test-"  # how AWS Backup restore testing names the copies
UNSCOPABLE_ACTIONS = ("backup:PutRestoreValidationResult", "backup:DescribeRestoreJob", "backup:ListRestoreJobs")
ALARM_PERIOD = Duration.hours(1)
RETRY_ATTEMPTS = 2


def restore_testing_name(config: EnvironmentConfig, resource_type: str) -> str:
    """``{resource-type}-{suffix}`` with underscores: restore testing names allow [a-zA-Z0-9_] only."""
    return config.name(resource_type).replace("-", "_")


class RestoreTesting(Construct):
    """Restore testing plan, its selections, the validator, the rules and the two alarms.

    Exposes: plan, selections (label -> selection), function, the rules (rule: restore jobs,
    writer_rule: writers created, sweep_rule: the schedule), alarms (name -> alarm).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        vault: backup.IBackupVault,
        restore_role: iam.IRole,
        cluster: rds.IDatabaseCluster,
        table: dynamodb.ITable,
        network: FunctionNetwork,
        database_security_group: ec2.ISecurityGroup,
        database_subnet_group_name: str,
        key: kms.IKey,
        dead_letter_queue: sqs.IQueue,
        alarms: TopicAlarms,
    ) -> None:
        super().__init__(scope, construct_id)
        self.plan = self._plan(config, vault)
        # Into the isolated subnets with the database security group, where the validator reaches it.
        # Restore metadata is string -> string; list values are JSON (AWS Backup's inferred metadata format).
        aurora_overrides = {
            "DBSubnetGroupName": database_subnet_group_name,
            "VpcSecurityGroupIds": Stack.of(self).to_json_string([database_security_group.security_group_id]),
            # The probe logs in with an IAM token: the copy must accept them as the source does.
            "EnableIAMDatabaseAuthentication": "true",
        }
        self.selections = {
            "aurora": self._selection(config, "aurora", "Aurora", cluster.cluster_arn, restore_role, aurora_overrides),
            "dynamodb": self._selection(config, "dynamodb", "DynamoDB", table.table_arn, restore_role, None),
        }
        self.function = function_with_role(
            self,
            config=config,
            function_type="restore-validation",
            description="Validates restore-test copies (heartbeat present), reports to AWS Backup, times them",
            role_description="Execution role of the function that validates restore tests",
            statements=_validator_statements(config),
            log_key=key,
            network=network,
            timeout=Duration.seconds(90),
            dead_letter_queue=dead_letter_queue,
            retry_attempts=RETRY_ATTEMPTS,
            environment_key=key,
            environment={
                "RESTORE_TESTING_PLAN_ARN": self.plan.attr_restore_testing_plan_arn,
                "DB_USER": database_users.RESTORE_PROBE,
                "DB_NAME": config.database_name,
                "DB_CA_BUNDLE": RDS_CA_BUNDLE,
                # Only restore tests of these two are validated (DescribeRestoreJob's SourceResourceArn).
                "SOURCE_CLUSTER_ARN": cluster.cluster_arn,
                "SOURCE_TABLE_ARN": table.table_arn,
                "RTO_MINUTES": str(config.objectives.rto_minutes),
                "INSTANCE_DEADLINE_MINUTES": str(INSTANCE_DEADLINE_MINUTES),
                "METRICS_NAMESPACE": NAMESPACE,
                "ENVIRONMENT_SUFFIX": config.environment_suffix,
            },
        ).function
        self.rule, self.writer_rule, self.sweep_rule = self._triggers(config, dead_letter_queue)
        self.failed = _metric("RestoreValidationFailed", config.environment_suffix, "Sum")
        self.duration = _metric("RestoreDurationMinutes", config.environment_suffix, "Maximum")
        self.alarms = self._alarms(config, alarms)

    def _plan(self, config: EnvironmentConfig, vault: backup.IBackupVault) -> backup.CfnRestoreTestingPlan:
        return backup.CfnRestoreTestingPlan(
            self,
            "Plan",
            restore_testing_plan_name=restore_testing_name(config, "restore-testing-plan"),
            schedule_expression=config.profile.restore_test_schedule,
            schedule_expression_timezone="Etc/UTC",
            start_window_hours=START_WINDOW_HOURS,
            recovery_point_selection=backup.CfnRestoreTestingPlan.RestoreTestingRecoveryPointSelectionProperty(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[vault.backup_vault_arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=SELECTION_WINDOW_DAYS,
            ),
        )

    def _selection(
        self,
        config: EnvironmentConfig,
        label: str,
        resource_type: str,
        arn: str,
        role: iam.IRole,
        overrides: dict[str, str] | None,
    ) -> backup.CfnRestoreTestingSelection:
        selection = backup.CfnRestoreTestingSelection(
            self,
            f"{resource_type}Selection",
            restore_testing_plan_name=self.plan.restore_testing_plan_name,
            restore_testing_selection_name=restore_testing_name(config, f"restore-test-{label}"),
            protected_resource_type=resource_type,
            protected_resource_arns=[arn],
            iam_role_arn=role.role_arn,
            validation_window_hours=VALIDATION_WINDOW_HOURS,
            restore_metadata_overrides=overrides,
        )
        selection.add_resource_dependency(self.plan)  # the name is a literal: say the plan goes first
        return selection

    def _triggers(
        self, config: EnvironmentConfig, dead_letter_queue: sqs.IQueue
    ) -> tuple[events.Rule, events.Rule, events.Rule]:
        """The validator's three rules: restore jobs that ended, writers created, the sweep."""
        target = targets.LambdaFunction(
            self.function,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=Duration.hours(VALIDATION_WINDOW_HOURS),
        )
        jobs = events.Rule(
            self,
            "RestoreJobEvents",
            rule_name=config.name("restore-test-jobs"),
            description="Restore jobs of the restore testing plan that ended: validate and time them",
            event_pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=[RESTORE_JOB_DETAIL_TYPE],
                detail={
                    "restoreTestingPlanArn": [self.plan.attr_restore_testing_plan_arn],
                    "status": list(REPORTED_STATUSES),
                },
            ),
            targets=[target],
        )
        writers = events.Rule(
            self,
            "WriterEvents",
            rule_name=config.name("restore-test-writers"),
            description="A restored Aurora copy's writer was created: validate the copy, then delete the writer",
            event_pattern=events.EventPattern(
                source=["aws.rds"],
                detail_type=[RDS_INSTANCE_DETAIL_TYPE],
                detail={
                    "EventID": [INSTANCE_CREATED],
                    "SourceArn": [{"prefix": f"arn:aws:rds:{config.region}:{config.account}:db:{COPY_PREFIX}"}],
                },
            ),
            targets=[target],
        )
        sweep = events.Rule(
            self,
            "Sweep",
            rule_name=config.name("restore-test-sweep"),
            description="Fail Aurora restore tests whose writer is late, delete writers left behind",
            schedule=events.Schedule.rate(Duration.minutes(SWEEP_MINUTES)),
            targets=[target],
        )
        return jobs, writers, sweep

    def _alarms(self, config: EnvironmentConfig, alarms: TopicAlarms) -> dict[str, cloudwatch.Alarm]:
        rto = config.objectives.rto_minutes
        return {
            "restore-test-failed": alarms.add(
                "restore-test-failed",
                description="A restore test failed: the restore job failed or the copy did not hold the heartbeat.",
                metric=self.failed,
                threshold=1,
                comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                missing=Missing.NOT_BREACHING,
            ),
            "restore-test-over-rto": alarms.add(
                "restore-test-over-rto",
                description=f"A restore test took longer than the {rto}-minute RTO.",
                metric=self.duration,
                threshold=rto,
                comparison=Comparison.GREATER_THAN_THRESHOLD,
                missing=Missing.NOT_BREACHING,
            ),
        }


def _validator_statements(config: EnvironmentConfig) -> list[iam.PolicyStatement]:
    """Exactly what the validator calls: on the copies and their writers, and its database login."""
    region, account = config.region, config.account
    copy_clusters = f"arn:aws:rds:{region}:{account}:cluster:{COPY_PREFIX}*"
    copy_instances = f"arn:aws:rds:{region}:{account}:db:{COPY_PREFIX}*"
    return [
        unscopable_statement("ReportValidation", UNSCOPABLE_ACTIONS, region),
        iam.PolicyStatement(
            sid="ReadRestoredTables",
            actions=["dynamodb:Query"],
            resources=[f"arn:aws:dynamodb:{region}:{account}:table/{COPY_PREFIX}*"],
        ),
        iam.PolicyStatement(
            sid="PrepareRestoredClusters",
            actions=["rds:DescribeDBClusters", "rds:ModifyDBCluster"],
            resources=[copy_clusters],
        ),
        iam.PolicyStatement(
            sid="AddWriters", actions=["rds:CreateDBInstance"], resources=[copy_instances, copy_clusters]
        ),
        iam.PolicyStatement(
            sid="ManageWriters",
            actions=["rds:AddTagsToResource", "rds:DescribeDBInstances", "rds:DeleteDBInstance"],
            resources=[copy_instances],
        ),
        # The probe's read-only user on any restore-test copy: a copy's resource id (cluster-...) is made
        # at restore time, so only the user is pinned; the same user on the live cluster reads too.
        connect_statement(config, "cluster-*", database_users.RESTORE_PROBE),
    ]


def _metric(name: str, suffix: str, statistic: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"EnvironmentSuffix": suffix},
        statistic=statistic,
        period=ALARM_PERIOD,
    )
