"""The kit's DR dashboard, the metrics it shares with the alarms, and the table of those alarms.

Made in the resilience layer's scope: the dashboard and the alarms keep the construct ids (hence the
logical ids) they were deployed with; a replacement with the same fixed name would delete them.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.backup_monitor import BackupMonitor
from lib.constructs.topic_alarms import Comparison, Missing, TopicAlarms

FIVE_MINUTES = Duration.minutes(5)
ONE_HOUR = Duration.hours(1)


class Metrics:
    """The metrics the alarms and the dashboard share, defined once: the vault's backup jobs, Aurora,
    DynamoDB, the canary (its function, dead letters and per-dependency results) and undelivered alerts."""

    def __init__(
        self,
        *,
        config: EnvironmentConfig,
        vault_name: str,
        cluster: rds.IDatabaseCluster,
        table: dynamodb.ITable,
        canary: lambda_.IFunction,
        canary_dead_letters: sqs.IQueue,
        canary_namespace: str,
        undelivered: sqs.IQueue,
    ) -> None:
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
        self.function_errors = canary.metric_errors(period=FIVE_MINUTES, statistic="Sum")
        # health-check-not-running counts the canary's runs per interval: one run in each period.
        self.canary_interval = Duration.minutes(config.profile.canary_interval_minutes)
        self.function_invocations = canary.metric_invocations(period=self.canary_interval, statistic="Sum")
        self.function_duration = canary.metric_duration(period=FIVE_MINUTES, statistic="p99")
        self.dead_letters = canary_dead_letters.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        self.undelivered = undelivered.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        suffix = config.environment_suffix
        self.canary = {
            dependency: (
                _canary_metric(canary_namespace, "Success", dependency, suffix, "Minimum"),
                _canary_metric(canary_namespace, "Latency", dependency, suffix, "p99"),
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


# alarm name, what it means (``{interval}``, ``{four}``, ``{five}``: the canary's interval in minutes and
# four and five times it), metric (a Metrics attribute), threshold, comparison,
# (datapoints to alarm, evaluation periods), missing data.
# Timings follow CloudWatch's evaluation range: it reads two periods more than the evaluation periods,
# and while a real value is among them, the newest real values decide (User Guide, "Configuring how
# CloudWatch alarms treat missing data"). So an alarm on a metric that is only published on events
# (errors, failures) stays in ALARM until a newer value or until the event leaves the range.
AlarmRow = tuple[str, str, str, float, cloudwatch.ComparisonOperator, tuple[int, int], cloudwatch.TreatMissingData]
# fmt: off
ALARMS: tuple[AlarmRow, ...] = (
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
     "5-minute period in which the canary only succeeds; with no run in between (it runs every {interval} "
     "minutes), 10 to 15 minutes after the failed run.",
     "function_errors", 1, Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, (1, 1), Missing.NOT_BREACHING),
    ("health-check-not-running", "The data-plane canary has not run: no invocation for {four} to {five} minutes "
     "(missing data is breaching, and CloudWatch fills it only once the last invocation has left its 5-period "
     "range of {interval}-minute periods, one run each).",
     "function_invocations", 1, Comparison.LESS_THAN_THRESHOLD, (3, 3), Missing.BREACHING),
    ("health-check-dead-letters", "Canary invocations were dead-lettered.",
     "dead_letters", 1, Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, (1, 1), Missing.NOT_BREACHING),
)
# fmt: on


def add_alarms(alarms: TopicAlarms, metrics: Metrics) -> dict[str, cloudwatch.Alarm]:
    """The alarms of ``ALARMS``, by name."""
    interval = int(metrics.canary_interval.to_minutes())
    return {
        name: alarms.add(
            name,
            description=description.format(interval=interval, four=4 * interval, five=5 * interval),
            metric=getattr(metrics, metric),
            threshold=threshold,
            comparison=comparison,
            evaluation_periods=periods,
            datapoints=datapoints,
            missing=missing,
        )
        for name, description, metric, threshold, comparison, (datapoints, periods), missing in ALARMS
    }


def dr_dashboard(
    scope: Construct, config: EnvironmentConfig, m: Metrics, monitor: BackupMonitor, alarms: list[cloudwatch.Alarm]
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
