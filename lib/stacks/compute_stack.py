"""Compute layer: the VPC health-check canary that exercises Aurora, DynamoDB and S3 every few minutes."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, NestedStack, RemovalPolicy, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib import database_users
from lib.build.lambda_bundle import RDS_CA_BUNDLE
from lib.config import HEALTH_CHECK_NAMESPACE, HEARTBEAT_OBJECT_KEY, EnvironmentConfig
from lib.constructs.database_users import DatabaseUsers, connect_statement
from lib.constructs.execution_role import FunctionNetwork, failure_queue_statements
from lib.constructs.kit_function import KitFunction, function_log_group, with_failure_destination

FUNCTION_TYPE = "health-check"
LIVE_ALIAS = "live"


@dataclass(frozen=True)
class ComputeStackProps:
    config: EnvironmentConfig
    vpc: ec2.IVpc
    function_security_group: ec2.ISecurityGroup
    function_role: iam.IRole
    monitoring_key: kms.IKey
    aurora_key: kms.IKey
    bucket_key: kms.IKey
    cluster: rds.IDatabaseCluster
    secret: secretsmanager.ISecret
    table: dynamodb.ITable
    bucket: s3.IBucket


class ComputeStack(NestedStack):
    """The health-check function, its schedule, log group and dead-letter queue.

    Lambda functions cannot be backed up by AWS Backup; they are recovered from code: every
    deploy publishes an immutable version behind the `live` alias.

    Exposes: function, alias, dead_letter_queue, metrics_namespace.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: ComputeStackProps) -> None:
        super().__init__(scope, construct_id, description="Compute layer: VPC health-check function")
        config = props.config
        self.metrics_namespace = HEALTH_CHECK_NAMESPACE
        function_name = config.name(FUNCTION_TYPE)

        log_group = function_log_group(self, config=config, function_type=FUNCTION_TYPE, key=props.monitoring_key)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=config.name("health-check-dlq"),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=props.monitoring_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Policies for this layer's resources are attached here, through an import of the role:
        # attaching them to the role's own default policy would make the security layer depend
        # on this one (a nested-stack cycle). The import is mutable, so grants are real.
        role = iam.Role.from_role_arn(self, "FunctionRole", props.function_role.role_arn)
        _attach_data_access(self, role, props, log_group, self.dead_letter_queue)
        network = FunctionNetwork(props.vpc, props.function_security_group)
        # The canary's (and the restore probe's) database users, made before the canary first runs.
        self.database_users = DatabaseUsers(
            self,
            "DatabaseUsers",
            config=config,
            cluster=props.cluster,
            secret=props.secret,
            aurora_key=props.aurora_key,
            log_key=props.monitoring_key,
            network=network,
        )

        self.function = KitFunction(
            self,
            "Function",
            config=config,
            function_type=FUNCTION_TYPE,
            description="Data-plane canary: heartbeat write/read on Aurora, DynamoDB and S3, EMF metrics",
            role=role,
            log_group=log_group,
            network=network,
            timeout=Duration.seconds(30),
            environment_key=props.aurora_key,
            environment={
                "DB_USER": database_users.CANARY,
                "DB_HOST": props.cluster.cluster_endpoint.hostname,
                "DB_PORT": Token.as_string(props.cluster.cluster_endpoint.port),
                "DB_NAME": config.database_name,
                "DB_CA_BUNDLE": RDS_CA_BUNDLE,
                "TABLE_NAME": props.table.table_name,
                "BUCKET_NAME": props.bucket.bucket_name,
                "ENVIRONMENT_SUFFIX": config.environment_suffix,
                "METRICS_NAMESPACE": HEALTH_CHECK_NAMESPACE,
            },
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.DESTROY),
        )
        self.function.node.add_dependency(self.database_users.resource)  # its user exists before it runs
        # The schedule invokes the alias, so the async settings go on it (EventInvokeConfig Qualifier
        # "live"); on the function they would apply to $LATEST only, and `live` would keep Lambda's
        # defaults of 2 retries and 6 hours. A failed run goes to the DLQ (its on-failure destination)
        # at once; a queued event older than one interval is stale (the next run is due).
        interval = Duration.minutes(config.profile.canary_interval_minutes)
        self.alias = lambda_.Alias(
            self,
            "LiveAlias",
            alias_name=LIVE_ALIAS,
            version=self.function.current_version,
            retry_attempts=0,
            max_event_age=interval,
        )
        with_failure_destination(self.alias, self.dead_letter_queue)
        events.Rule(
            self,
            "Schedule",
            rule_name=config.name("health-check-schedule"),
            description=f"Runs {function_name} every {interval.to_minutes()} minutes",
            schedule=events.Schedule.expression(config.profile.canary_schedule),
            targets=[
                targets.LambdaFunction(
                    self.alias,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=interval,
                )
            ],
        )


def _attach_data_access(
    scope: Construct, role: iam.IRole, props: ComputeStackProps, log_group: logs.ILogGroup, dead_letters: sqs.IQueue
) -> None:
    """Exactly what the handler calls, on exactly the resources it touches."""
    region = props.config.region
    statements = [
        iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],
        ),
        # Its own database user with IAM tokens: no master secret (lib/constructs/database_users.py).
        connect_statement(props.config, props.cluster.cluster_resource_identifier, database_users.CANARY),
        iam.PolicyStatement(
            sid="HeartbeatItems",
            actions=["dynamodb:PutItem", "dynamodb:GetItem"],
            resources=[props.table.table_arn],
        ),
        iam.PolicyStatement(
            sid="HeartbeatObjects",
            actions=["s3:PutObject", "s3:GetObject"],
            resources=[props.bucket.arn_for_objects(HEARTBEAT_OBJECT_KEY)],
        ),
        iam.PolicyStatement(
            sid="EncryptHeartbeatObjects",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[props.bucket_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
        *failure_queue_statements(props.config, dead_letters),
    ]
    iam.ManagedPolicy(
        scope,
        "DataAccessPolicy",
        managed_policy_name=props.config.name("health-check-data-access"),
        roles=[role],
        statements=statements,
    )
