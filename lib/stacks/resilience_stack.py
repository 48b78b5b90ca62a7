"""Resilience layer: AWS Backup (1-hour RPO), alert topic, backup-job events, alarms, dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import NestedStack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.alerting import Alerting
from lib.constructs.az_experiments import AzExperiments
from lib.constructs.backup_job_events import BackupJobEvents
from lib.constructs.backup_monitor import BackupMonitor, ProtectedResource
from lib.constructs.backup_plan import BackupPlan
from lib.constructs.dashboard import Metrics, add_alarms, dr_dashboard
from lib.constructs.execution_role import FunctionNetwork
from lib.constructs.function_export import FunctionExport
from lib.constructs.kit_function import KitFunction
from lib.constructs.restore_testing import RestoreTesting


@dataclass(frozen=True)
class ResilienceStackProps:
    config: EnvironmentConfig
    backup_key: kms.IKey
    monitoring_key: kms.IKey
    backup_role: iam.IRole
    restore_testing_role: iam.IRole
    cluster: rds.IDatabaseCluster
    table: dynamodb.ITable
    bucket: s3.IBucket
    function: KitFunction
    database_users_function: KitFunction  # exported with the others (function export)
    dead_letter_queue: sqs.IQueue
    metrics_namespace: str
    # where the functions run; restore testing: the Aurora copy's network
    vpc: ec2.IVpc
    function_security_group: ec2.ISecurityGroup
    database_security_group: ec2.ISecurityGroup
    database_subnet_group_name: str


class ResilienceStack(NestedStack):
    """Backs up every stateful store hourly, and tells a human when backups or the data plane fail.

    Exposes: vault, plan, topic, dashboard, experiments (the AWS FIS templates of the AZ-loss drill).
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: ResilienceStackProps) -> None:
        super().__init__(scope, construct_id, description="Resilience layer: AWS Backup, alerting, dashboard")
        config = props.config
        network = FunctionNetwork(props.vpc, props.function_security_group)
        alerting = Alerting(self, config=config, key=props.monitoring_key)
        self.topic, undelivered, alarms = alerting.topic, alerting.undelivered, alerting.alarms
        # One list names what is protected: the selection backs these up and the monitor measures them.
        # Lambda functions are not a resource type AWS Backup supports; they are recovered from code.
        protected = [
            ProtectedResource("aurora-cluster", props.cluster.cluster_arn),
            ProtectedResource("dynamodb-table", props.table.table_arn),
            ProtectedResource("data-bucket", props.bucket.bucket_arn),
        ]
        backups = BackupPlan(
            self,
            config=config,
            key=props.backup_key,
            role=props.backup_role,
            bucket=props.bucket,
            protected=protected,
            log_key=props.monitoring_key,
            network=network,
        )
        self.vault, self.plan = backups.vault, backups.plan
        vault_name = self.vault.backup_vault_name

        BackupJobEvents(
            self,
            "BackupJobEvents",
            config=config,
            backup_vault_name=vault_name,
            topic=self.topic,
            dead_letter_queue=undelivered,
        )
        monitor = BackupMonitor(
            self,
            "BackupMonitor",
            config=config,
            resources=protected,
            vault_name=vault_name,
            key=props.monitoring_key,
            dead_letter_queue=undelivered,
            alarms=alarms,
            network=network,
        )
        restore_testing = RestoreTesting(
            self,
            "RestoreTesting",
            config=config,
            vault=self.vault,
            restore_role=props.restore_testing_role,
            cluster=props.cluster,
            table=props.table,
            network=network,
            database_security_group=props.database_security_group,
            database_subnet_group_name=props.database_subnet_group_name,
            key=props.monitoring_key,
            dead_letter_queue=undelivered,
            alarms=alarms,
        )
        # AWS Backup cannot back up Lambda functions: every function's package and configuration is
        # exported into the backed-up data bucket instead (on every deploy that changes one).
        FunctionExport(
            self,
            "FunctionExport",
            config=config,
            functions=[
                props.function,
                props.database_users_function,
                backups.cleanup.function,
                monitor.function,
                restore_testing.function,
            ],
            bucket=props.bucket,
            log_key=props.monitoring_key,
            dead_letter_queue=undelivered,
            network=network,
        )
        metrics = Metrics(
            config=config,
            vault_name=vault_name,
            cluster=props.cluster,
            table=props.table,
            canary=props.function,
            canary_dead_letters=props.dead_letter_queue,
            canary_namespace=props.metrics_namespace,
            undelivered=undelivered,
        )
        paging = add_alarms(alarms, metrics)
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
            dead_letter_queue=undelivered,
        )
        self.dashboard = dr_dashboard(self, config, metrics, monitor, alarms.alarms)
