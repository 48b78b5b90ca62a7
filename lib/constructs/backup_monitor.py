"""Measures and alarms the RPO of every protected resource (the function: lib/lambda/backup_monitor).

Every five minutes the function asks AWS Backup for each resource's newest completed recovery point
and publishes its age; it also counts failed backup jobs per resource from AWS Backup's events. One
alarm per resource fires when its age stays above the RPO -- or when no age arrives at all (no
recovery point, or the monitor stopped): missing data is breaching.

Why the alarm waits ``AGE_PERIODS`` five-minute periods: AWS Backup starts an hourly job within its
start window and the job takes minutes, and a point's age counts from the job's start. So on a
healthy hourly plan every resource's age passes the RPO for a few minutes each hour, until the new
point completes (an Aurora job on the local target: 12 minutes). Four measurements above the RPO in
a row -- 15 to 20 minutes -- mean the hour's point did not arrive; with three, a 12-minute job paged
and cleared every hour whenever the monitor's schedule happened to report at :01, :06 and :11 (the
7-day soak found it).

When it pages (CloudWatch's evaluation range: it reads two periods more than it evaluates, User
Guide "Configuring how CloudWatch alarms treat missing data"): when a resource's backups stop, the
fourth measurement above the RPO pages, 75 to 81 minutes after its newest point was taken (RPO + 3 to
4 schedules + the minute the alarm waits for its evaluation). When no age arrives (the monitor
stopped, or the resource has no completed point left), missing data counts as breaching only once
the last measured age has left the 6-period range: 25 to 30 minutes after the last report. A resource that
never had a point pages at the first evaluation.

IAM: it reads recovery points with ``backup:ListRecoveryPointsByBackupVault`` on the plan's vault
only (filtered by resource and creation time), not ``ListRecoveryPointsByResource``, which takes no
resource-level permission and lists every vault's points. The function runs in the isolated subnets
and reaches AWS Backup through its interface endpoint (lib/network_reachability.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.build.lambda_bundle import bundle_function
from lib.config import EnvironmentConfig
from lib.constructs.backup_job_events import BACKUP_JOB_DETAIL_TYPE
from lib.constructs.execution_role import FunctionNetwork, execution_role
from lib.constructs.log_group import encrypted_log_group
from lib.constructs.topic_alarms import Comparison, Missing, TopicAlarms
from lib.network_reachability import FUNCTION_PACKAGES

SOURCE = FUNCTION_PACKAGES["backup-monitor"]
NAMESPACE = "DisasterRecovery/Backup"
SCHEDULE = Duration.minutes(5)
AGE_PERIODS = 4
EVALUATION_RANGE = AGE_PERIODS + 2  # periods CloudWatch reads (5 for 3 in the User Guide's example)


@dataclass(frozen=True)
class ProtectedResource:
    """A resource the backup plan selects: its label (metric dimension, alarm name) and ARN."""

    label: str
    arn: str


class BackupMonitor(Construct):
    """The RPO monitor function, its two triggers, and one age alarm per protected resource.

    Exposes: function, age_metrics (label -> metric), worst_age, failed_jobs (label -> metric),
    alarms (label -> alarm).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        resources: Sequence[ProtectedResource],
        vault_name: str,
        key: kms.IKey,
        dead_letter_queue: sqs.IQueue,
        alarms: TopicAlarms,
        network: FunctionNetwork,
    ) -> None:
        super().__init__(scope, construct_id)
        function_name = config.name("backup-monitor")
        rpo = config.objectives.rpo_minutes
        log_group = encrypted_log_group(self, "LogGroup", config=config, name=f"/aws/lambda/{function_name}", key=key)
        role, policy = execution_role(
            self,
            config=config,
            name="backup-monitor",
            description="Execution role of the function that measures recovery-point ages",
            log_group=log_group,
            dead_letter_queue=dead_letter_queue,
            statements=[
                iam.PolicyStatement(
                    sid="ReadRecoveryPoints",
                    actions=["backup:ListRecoveryPointsByBackupVault"],
                    resources=[
                        Stack.of(self).format_arn(
                            service="backup",
                            resource="backup-vault",
                            resource_name=vault_name,
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
            ],
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description="Publishes each protected resource's recovery-point age and counts failed backup jobs",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(bundle_function(SOURCE))),
            role=role,
            memory_size=256,
            timeout=Duration.seconds(60),
            **network.placement(),
            log_group=log_group,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=2,
            environment_encryption=key,
            environment={
                "PROTECTED_RESOURCES": Stack.of(self).to_json_string({r.label: r.arn for r in resources}),
                "RPO_MINUTES": str(rpo),
                "METRICS_NAMESPACE": NAMESPACE,
                "ENVIRONMENT_SUFFIX": config.environment_suffix,
                "BACKUP_VAULT_NAME": vault_name,
            },
        )
        self.function.node.add_dependency(policy)  # Lambda creates a VPC function only once its role may manage ENIs
        target = targets.LambdaFunction(
            self.function, dead_letter_queue=dead_letter_queue, retry_attempts=2, max_event_age=SCHEDULE
        )
        events.Rule(
            self,
            "Schedule",
            rule_name=config.name("backup-monitor-schedule"),
            description=f"Measures recovery-point ages every {SCHEDULE.to_minutes()} minutes",
            schedule=events.Schedule.rate(SCHEDULE),
            targets=[target],
        )
        events.Rule(
            self,
            "JobEvents",
            rule_name=config.name("backup-monitor-jobs"),
            description=f"AWS Backup job state changes of {vault_name}, counted per resource",
            event_pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=[BACKUP_JOB_DETAIL_TYPE],
                detail={"backupVaultName": [vault_name]},
            ),
            targets=[target],
        )

        suffix, every = config.environment_suffix, int(SCHEDULE.to_minutes())
        self.age_metrics = {r.label: _metric("RecoveryPointAgeMinutes", suffix, r.label) for r in resources}
        self.failed_jobs = {r.label: _metric("FailedBackupJobs", suffix, r.label, "Sum") for r in resources}
        self.worst_age = _metric("WorstRecoveryPointAgeMinutes", suffix)
        self.alarms = {
            label: alarms.add(
                f"rpo-{label}",
                description=(
                    f"The newest completed recovery point of {label} was older than the {rpo}-minute RPO in "
                    f"{AGE_PERIODS} measurements in a row (pages {rpo + (AGE_PERIODS - 1) * every} to "
                    f"{rpo + AGE_PERIODS * every + 1} minutes after that point was taken if no newer one "
                    f"completes), or no age was reported for {(EVALUATION_RANGE - 1) * every} to "
                    f"{EVALUATION_RANGE * every} minutes (no recovery point, or the monitor stopped)."
                ),
                metric=metric,
                threshold=rpo,
                comparison=Comparison.GREATER_THAN_THRESHOLD,
                evaluation_periods=AGE_PERIODS,
                missing=Missing.BREACHING,
            )
            for label, metric in self.age_metrics.items()
        }


def _metric(name: str, suffix: str, resource: str | None = None, statistic: str = "Maximum") -> cloudwatch.Metric:
    dimensions = {"EnvironmentSuffix": suffix, **({"Resource": resource} if resource else {})}
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=SCHEDULE,
    )
