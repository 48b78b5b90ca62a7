"""Resilience layer: AWS Backup (1-hour RPO), alert topic, backup-job events, alarms, dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, NestedStack, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.az_experiments import AzExperiments
from lib.constructs.backup_job_events import BackupJobEvents
from lib.constructs.backup_monitor import BackupMonitor, ProtectedResource
from lib.constructs.execution_role import FunctionNetwork
from lib.constructs.function_export import FunctionExport
from lib.constructs.restore_testing import RestoreTesting
from lib.constructs.topic_alarms import Comparison, Missing, TopicAlarms
from lib.constructs.vault_cleanup import BackupVaultCleanup

# Hourly at minute 0: a recovery point at least every hour is the 1-hour RPO.
HOURLY = events.Schedule.cron(minute="0")
BACKUP_START_WINDOW = Duration.hours(1)  # the shortest window AWS Backup allows
BACKUP_COMPLETION_WINDOW = Duration.hours(2)
FIVE_MINUTES = Duration.minutes(5)
ONE_HOUR = Duration.hours(1)


@dataclass(frozen=True)
class ResilienceStackProps:
    config: EnvironmentConfig
    backup_key: kms.IKey
    monitoring_key: kms.IKey
    backup_role: iam.IRole
    cluster: rds.IDatabaseCluster
    table: dynamodb.ITable
    bucket: s3.IBucket
    function: lambda_.IFunction
    dead_letter_queue: sqs.IQueue
    metrics_namespace: str
    # where the functions run; restore testing: the Aurora copy's network and the validation's credentials
    vpc: ec2.IVpc
    function_security_group: ec2.ISecurityGroup
    database_security_group: ec2.ISecurityGroup
    database_subnet_group_name: str
    secret: secretsmanager.ISecret
    aurora_key: kms.IKey


class ResilienceStack(NestedStack):
    """Backs up every stateful store hourly, and tells a human when backups or the data plane fail.

    Exposes: vault, plan, topic, dashboard, experiments (the AWS FIS templates of the AZ-loss drill).
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: ResilienceStackProps) -> None:
        super().__init__(scope, construct_id, description="Resilience layer: AWS Backup, alerting, dashboard")
        config = props.config
        network = FunctionNetwork(props.vpc, props.function_security_group)

        self.topic = sns.Topic(
            self,
            "AlertsTopic",
            topic_name=config.name("alerts-topic"),
            display_name=f"DR alerts ({config.environment_suffix})",
            master_key=props.monitoring_key,
            enforce_ssl=True,
        )
        # The topic policy replaces SNS's default one, so the alarm service must be named in it
        # (EventBridge's statement is added by its SnsTopic target).
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccountPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{config.region}:{config.account}:alarm:*"},
                    "StringEquals": {"aws:SourceAccount": config.account},
                },
            )
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))

        lock_days = config.profile.vault_lock_min_retention_days
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=config.name("backup-vault"),
            encryption_key=props.backup_key,
            # Governance mode (no ChangeableFor): nobody deletes a recovery point early, but a principal
            # allowed backup:DeleteBackupVaultLockConfiguration can lift the lock before a destroy.
            lock_configuration=backup.LockConfiguration(min_retention=Duration.days(lock_days)) if lock_days else None,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # AWS Backup keeps filling the vault; it must be emptied before CloudFormation can delete it.
        cleanup = BackupVaultCleanup(
            self, "VaultCleanup", config=config, vault=self.vault, log_key=props.monitoring_key, network=network
        )

        self.plan = backup.BackupPlan(
            self,
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
        self.plan.node.add_dependency(cleanup.resource)
        # One list names what is protected: the selection backs these up and the monitor measures them.
        # Lambda functions are not a resource type AWS Backup supports; they are recovered from code.
        protected = [
            ProtectedResource("aurora-cluster", props.cluster.cluster_arn),
            ProtectedResource("dynamodb-table", props.table.table_arn),
            ProtectedResource("data-bucket", props.bucket.bucket_arn),
        ]
        self.plan.add_selection(
            "Selection",
            backup_selection_name=config.name("backup-selection"),
            role=props.backup_role,
            resources=[backup.BackupResource.from_arn(resource.arn) for resource in protected],
        )

        # Alerts and DR signals that EventBridge or Lambda cannot deliver land here, and page.
        self.undelivered = sqs.Queue(
            self,
            "UndeliveredAlerts",
            queue_name=config.name("undelivered-alerts"),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=props.monitoring_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.DESTROY,
        )
        BackupJobEvents(
            self,
            "BackupJobEvents",
            config=config,
            backup_vault_name=self.vault.backup_vault_name,
            topic=self.topic,
            dead_letter_queue=self.undelivered,
        )
        alarms = TopicAlarms(self, "Alarms", config=config, topic=self.topic)
        monitor = BackupMonitor(
            self,
            "BackupMonitor",
            config=config,
            resources=protected,
            vault_name=self.vault.backup_vault_name,
            key=props.monitoring_key,
            dead_letter_queue=self.undelivered,
            alarms=alarms,
            network=network,
        )
        restore_testing = RestoreTesting(
            self,
            "RestoreTesting",
            config=config,
            vault=self.vault,
            backup_role=props.backup_role,
            cluster=props.cluster,
            table=props.table,
            secret=props.secret,
            network=network,
            database_security_group=props.database_security_group,
            database_subnet_group_name=props.database_subnet_group_name,
            aurora_key=props.aurora_key,
            key=props.monitoring_key,
            dead_letter_queue=self.undelivered,
            alarms=alarms,
        )
        # AWS Backup cannot back up Lambda functions: every function's package and configuration is
        # exported into the backed-up data bucket instead (hourly and on every code change).
        FunctionExport(
            self,
            "FunctionExport",
            config=config,
            functions=[
                props.function,
                cleanup.function,
                monitor.function,
                restore_testing.function,
            ],
            bucket=props.bucket,
            log_key=props.monitoring_key,
            dead_letter_queue=self.undelivered,
            network=network,
        )
        metrics = _Metrics(props, self.vault.backup_vault_name, self.undelivered)
        paging = _add_alarms(alarms, metrics)
        # Stop an experiment on harm beyond it: a dead-lettered alert or DR signal, or an RPO breach.
        self.experiments = AzExperiments(
            self,
            "AzExperiments",
            config=config,
            vpc=props.vpc,
            cluster=props.cluster,
            stop_alarms=[paging["undelivered-alerts"], *monitor.alarms.values()],
            log_key=props.monitoring_key,
            topic=self.topic,
            dead_letter_queue=self.undelivered,
        )
        self.dashboard = _dashboard(self, config, metrics, monitor, alarms.alarms)


class _Metrics:
    """The metrics the alarms and the dashboard share, defined once."""

    def __init__(self, props: ResilienceStackProps, vault_name: str, undelivered: sqs.IQueue) -> None:
        cluster, table, function = props.cluster, props.table, props.function
        # A job that never completes is a failure whatever AWS Backup calls it: FAILED, ABORTED, or
        # EXPIRED (it could not start within its start window, e.g. a stopped Aurora cluster, or not
        # finish within its completion window). Each has its own metric, published only when it happens.
        self.backup_not_completed = cloudwatch.MathExpression(
            label="Backup jobs failed, aborted or expired",
            expression="FILL(failed, 0) + FILL(aborted, 0) + FILL(expired, 0)",
            using_metrics={
                state: _backup_metric(f"NumberOfBackupJobs{state.capitalize()}", vault_name)
                for state in ("failed", "aborted", "expired")
            },
            period=ONE_HOUR,
        )
        self.backup_completed = _backup_metric("NumberOfBackupJobsCompleted", vault_name)
        self.aurora_cpu = cluster.metric_cpu_utilization(period=FIVE_MINUTES)
        self.aurora_memory = cluster.metric_freeable_memory(period=FIVE_MINUTES, statistic="Minimum")
        self.aurora_replica_lag = cluster.metric("AuroraReplicaLagMaximum", period=FIVE_MINUTES, statistic="Maximum")
        self.aurora_connections = cluster.metric_database_connections(period=FIVE_MINUTES)
        self.aurora_capacity = cluster.metric("ServerlessDatabaseCapacity", period=FIVE_MINUTES, statistic="Maximum")
        # DynamoDB publishes throttle counts only when it throttles, and CloudWatch ignores missing
        # data on AWS/DynamoDB alarms (whatever TreatMissingData says): without FILL the alarm would
        # sit in INSUFFICIENT_DATA until the first throttle and in ALARM for ever after it.
        self.dynamodb_throttles = cloudwatch.MathExpression(
            label="Read + write throttle events",
            expression="FILL(reads, 0) + FILL(writes, 0)",
            using_metrics={
                "reads": table.metric("ReadThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
                "writes": table.metric("WriteThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
            },
            period=FIVE_MINUTES,
        )
        self.dynamodb_errors = table.metric_system_errors_for_operations(period=FIVE_MINUTES)
        self.dynamodb_read = table.metric_consumed_read_capacity_units(period=FIVE_MINUTES)
        self.dynamodb_write = table.metric_consumed_write_capacity_units(period=FIVE_MINUTES)
        self.function_errors = function.metric_errors(period=FIVE_MINUTES, statistic="Sum")
        self.function_invocations = function.metric_invocations(period=FIVE_MINUTES, statistic="Sum")
        self.function_duration = function.metric_duration(period=FIVE_MINUTES, statistic="p99")
        self.dead_letters = props.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        self.undelivered = undelivered.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        suffix = props.config.environment_suffix
        self.canary = {
            dependency: (
                _canary_metric(props.metrics_namespace, "Success", dependency, suffix, "Minimum"),
                _canary_metric(props.metrics_namespace, "Latency", dependency, suffix, "p99"),
            )
            for dependency in ("Aurora", "DynamoDB", "S3")
        }


def _backup_metric(name: str, vault_name: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Backup",
        metric_name=name,
        dimensions_map={"BackupVaultName": vault_name},
        statistic="Sum",
        period=ONE_HOUR,
    )


def _canary_metric(namespace: str, name: str, dependency: str, suffix: str, statistic: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"Dependency": dependency, "EnvironmentSuffix": suffix},
        statistic=statistic,
        period=FIVE_MINUTES,
        label=f"{dependency} {name.lower()}",
    )


# alarm name, what it means, metric (a _Metrics attribute), threshold, comparison,
# (datapoints to alarm, evaluation periods), missing data.
# Timings follow CloudWatch's evaluation range: it reads two periods more than the evaluation periods,
# and while a real value is among them, the newest real values decide (User Guide, "Configuring how
# CloudWatch alarms treat missing data"). So an alarm on a metric that is only published on events
# (errors, failures) stays in ALARM until a newer value or until the event leaves the range.
_AlarmRow = tuple[str, str, str, float, cloudwatch.ComparisonOperator, tuple[int, int], cloudwatch.TreatMissingData]
# fmt: off
_ALARMS: tuple[_AlarmRow, ...] = (
    ("backup-job-failures", "An AWS Backup job of the vault did not complete: it failed, was aborted, or expired "
     "(could not start within its start window or finish within its completion window). Clears with the next hour "
     "that counts none.",
     "backup_not_completed", 1, Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, (1, 1), Missing.NOT_BREACHING),
    # The RPO itself is watched per resource by the backup monitor's rpo-<resource> alarms.
    ("undelivered-alerts", "An alert or DR signal could not be delivered (EventBridge or Lambda dead letters).",
     "undelivered", 1, Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, (1, 1), Missing.NOT_BREACHING),
    ("aurora-cpu-high", "Aurora CPU above 80 % in three 5-minute periods in a row.",
     "aurora_cpu", 80, Comparison.GREATER_THAN_THRESHOLD, (3, 3), Missing.NOT_BREACHING),
    ("aurora-freeable-memory-low", "Aurora freeable memory below 128 MiB in three 5-minute periods in a row.",
     "aurora_memory", 128 * 1024 * 1024, Comparison.LESS_THAN_THRESHOLD, (3, 3), Missing.NOT_BREACHING),
    ("aurora-replica-lag-high", "An Aurora reader lagged the writer by more than 1 s in three 5-minute periods "
     "in a row.",
     "aurora_replica_lag", 1000, Comparison.GREATER_THAN_THRESHOLD, (3, 3), Missing.NOT_BREACHING),
    ("dynamodb-throttling", "The DynamoDB table throttled reads or writes in one of the last two 5-minute periods. "
     "Periods without throttle counts are 0 (FILL): CloudWatch ignores missing data on AWS/DynamoDB alarms.",
     "dynamodb_throttles", 1, Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, (1, 2), Missing.NOT_BREACHING),
    ("health-check-errors", "The data-plane canary failed: a store is unreachable or broken. Clears with the next "
     "5-minute period in which the canary only succeeds.",
     "function_errors", 1, Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, (1, 1), Missing.NOT_BREACHING),
    ("health-check-not-running", "The data-plane canary has not run: no invocation for 20 to 25 minutes (missing "
     "data is breaching, and CloudWatch fills it only once the last invocation has left its 5-period range).",
     "function_invocations", 1, Comparison.LESS_THAN_THRESHOLD, (3, 3), Missing.BREACHING),
    ("health-check-dead-letters", "Canary invocations were dead-lettered.",
     "dead_letters", 1, Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, (1, 1), Missing.NOT_BREACHING),
)
# fmt: on


def _add_alarms(alarms: TopicAlarms, metrics: _Metrics) -> dict[str, cloudwatch.Alarm]:
    """The alarms of ``_ALARMS``, by name."""
    return {
        name: alarms.add(
            name,
            description=description,
            metric=getattr(metrics, metric),
            threshold=threshold,
            comparison=comparison,
            evaluation_periods=periods,
            datapoints=datapoints,
            missing=missing,
        )
        for name, description, metric, threshold, comparison, (datapoints, periods), missing in _ALARMS
    }


def _dashboard(
    scope: Construct, config: EnvironmentConfig, m: _Metrics, monitor: BackupMonitor, alarms: list[cloudwatch.Alarm]
) -> cloudwatch.Dashboard:
    def graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)

    dashboard = cloudwatch.Dashboard(scope, "Dashboard", dashboard_name=config.name("dr-dashboard"))
    dashboard.add_widgets(
        cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=24, height=3),
    )
    rpo = config.objectives.rpo_minutes
    dashboard.add_widgets(
        cloudwatch.GraphWidget(
            title=f"Recovery point age per resource (minutes) against the {rpo}-minute RPO",
            left=[metric.with_(label=label) for label, metric in monitor.age_metrics.items()],
            left_annotations=[cloudwatch.HorizontalAnnotation(value=rpo, label="RPO", color="#d62728")],
            width=16,
            height=6,
        ),
        cloudwatch.SingleValueWidget(
            title="RPO headroom (minutes until the worst resource breaches)",
            metrics=[
                cloudwatch.MathExpression(
                    expression=f"{rpo} - worst", using_metrics={"worst": monitor.worst_age}, label="headroom"
                )
            ],
            width=8,
            height=6,
        ),
    )
    dashboard.add_widgets(
        graph("Backup jobs (per hour)", m.backup_completed, m.backup_not_completed),
        graph("Canary success (1 = ok)", *(success for success, _ in m.canary.values())),
        graph("Canary latency p99 (ms)", *(latency for _, latency in m.canary.values())),
    )
    dashboard.add_widgets(
        graph("Aurora CPU %", m.aurora_cpu),
        graph("Aurora capacity (ACU) / connections", m.aurora_capacity, m.aurora_connections),
        graph("Aurora replica lag (ms) / freeable memory", m.aurora_replica_lag, m.aurora_memory),
    )
    dashboard.add_widgets(
        graph("DynamoDB consumed capacity", m.dynamodb_read, m.dynamodb_write),
        graph("DynamoDB throttles / system errors", m.dynamodb_throttles, m.dynamodb_errors),
        graph(
            "Canary function invocations / errors / p99 duration",
            m.function_invocations,
            m.function_errors,
            m.function_duration,
        ),
    )
    return dashboard
