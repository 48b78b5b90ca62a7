"""TapStack: the parent stack that composes the five layers and owns the stable outputs."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aspects, CfnOutput, Environment, Fn, Stack, Tags, Token
from constructs import Construct

from lib import output_keys as keys
from lib.config import EnvironmentConfig
from lib.explicit_actions import ExplicitActions
from lib.stacks.compute_stack import ComputeStack, ComputeStackProps
from lib.stacks.data_stack import DataStack, DataStackProps
from lib.stacks.network_stack import NetworkStack, NetworkStackProps
from lib.stacks.resilience_stack import ResilienceStack, ResilienceStackProps
from lib.stacks.security_stack import SecurityStack, SecurityStackProps


@dataclass(frozen=True)
class TapStackProps:
    config: EnvironmentConfig


class TapStack(Stack):
    """network -> security -> data -> compute -> resilience; props flow left to right only.

    Nested-stack outputs get generated names, so everything an operator or an integration test
    needs is re-exported here under a fixed key from `lib.output_keys`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: TapStackProps) -> None:
        config = props.config
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=config.account, region=config.region),
            description=f"Single-region multi-AZ disaster-recovery infrastructure ({config.environment_suffix})",
            # A protected profile's stack cannot be deleted at all until an operator unprotects it, so a
            # stray `cdk destroy` fails before it tears down the alarms and backups around the kept data.
            termination_protection=config.profile.deletion_protection,
        )
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)
        Aspects.of(self).add(ExplicitActions())

        self.network = network = NetworkStack(self, "Network", props=NetworkStackProps(config=config))
        self.security = security = SecurityStack(
            self, "Security", props=SecurityStackProps(config=config, vpc=network.vpc)
        )
        self.data = data = DataStack(
            self,
            "Data",
            props=DataStackProps(
                config=config,
                vpc=network.vpc,
                database_security_group=network.database_security_group,
                rotation_security_group=network.function_security_group,
                aurora_key=security.aurora_key,
                bucket_key=security.bucket_key,
                monitoring_key=security.monitoring_key,
            ),
        )
        self.compute = compute = ComputeStack(
            self,
            "Compute",
            props=ComputeStackProps(
                config=config,
                vpc=network.vpc,
                function_security_group=network.function_security_group,
                function_role=security.function_role,
                monitoring_key=security.monitoring_key,
                aurora_key=security.aurora_key,
                bucket_key=security.bucket_key,
                cluster=data.cluster,
                secret=data.secret,
                table=data.table,
                bucket=data.bucket,
            ),
        )
        self.resilience = ResilienceStack(
            self,
            "Resilience",
            props=ResilienceStackProps(
                config=config,
                backup_key=security.backup_key,
                monitoring_key=security.monitoring_key,
                backup_role=security.backup_role,
                restore_testing_role=security.restore_testing_role,
                cluster=data.cluster,
                table=data.table,
                bucket=data.bucket,
                function=compute.function,
                database_users_function=compute.database_users.function,
                dead_letter_queue=compute.dead_letter_queue,
                metrics_namespace=compute.metrics_namespace,
                vpc=network.vpc,
                function_security_group=network.function_security_group,
                database_security_group=network.database_security_group,
                database_subnet_group_name=data.subnet_group.subnet_group_name,
            ),
        )
        self._outputs(config)

    def _outputs(self, config: EnvironmentConfig) -> None:
        network, security, data = self.network, self.security, self.data
        compute, resilience = self.compute, self.resilience
        values = {
            keys.ENVIRONMENT_SUFFIX: config.environment_suffix,
            keys.PROFILE: config.profile.name,
            keys.VPC_ID: network.vpc.vpc_id,
            keys.PRIVATE_SUBNET_IDS: Fn.join(",", [s.subnet_id for s in network.vpc.isolated_subnets]),
            keys.PUBLIC_SUBNET_IDS: Fn.join(",", [s.subnet_id for s in network.vpc.public_subnets]),
            keys.FUNCTION_SECURITY_GROUP_ID: network.function_security_group.security_group_id,
            keys.DATABASE_SECURITY_GROUP_ID: network.database_security_group.security_group_id,
            keys.AURORA_KEY_ARN: security.aurora_key.key_arn,
            keys.BUCKET_KEY_ARN: security.bucket_key.key_arn,
            keys.BACKUP_KEY_ARN: security.backup_key.key_arn,
            keys.LOGS_KEY_ARN: security.monitoring_key.key_arn,
            keys.FUNCTION_ROLE_ARN: security.function_role.role_arn,
            keys.BACKUP_ROLE_ARN: security.backup_role.role_arn,
            keys.AURORA_CLUSTER_IDENTIFIER: data.cluster.cluster_identifier,
            keys.AURORA_WRITER_ENDPOINT: data.cluster.cluster_endpoint.hostname,
            keys.AURORA_READER_ENDPOINT: data.cluster.cluster_read_endpoint.hostname,
            keys.AURORA_PORT: Token.as_string(data.cluster.cluster_endpoint.port),
            keys.DATABASE_NAME: config.database_name,
            keys.DATABASE_SECRET_ARN: data.secret.secret_arn,
            keys.TABLE_NAME: data.table.table_name,
            keys.BUCKET_NAME: data.bucket.bucket_name,
            keys.ACCESS_LOGS_BUCKET_NAME: data.access_logs_bucket.bucket_name,
            keys.FUNCTION_NAME: compute.function.function_name,
            keys.FUNCTION_ALIAS_ARN: compute.alias.function_arn,
            keys.BACKUP_VAULT_NAME: resilience.vault.backup_vault_name,
            keys.BACKUP_PLAN_ID: resilience.plan.backup_plan_id,
            keys.ALERTS_TOPIC_ARN: resilience.topic.topic_arn,
            keys.DASHBOARD_NAME: resilience.dashboard.dashboard_name,
            keys.ISOLATED_SUBNET_IDS_BY_AZ: self.to_json_string(
                {s.availability_zone: s.subnet_id for s in network.vpc.isolated_subnets}
            ),
            keys.AZ_LOSS_TEMPLATE_IDS: self.to_json_string(resilience.experiments.template_ids()),
            keys.WRITER_FAILOVER_TEMPLATE_ID: resilience.experiments.writer_failover.attr_id,
            keys.FIS_LOG_GROUP_NAME: resilience.experiments.log_group.log_group_name,
        }
        for key, value in values.items():
            CfnOutput(self, key, key=key, value=value)
