"""The kit's least-privilege database users, made at deploy time by a custom resource.

The canary and the restore validation log in to Aurora with IAM authentication tokens as users of
their own (``lib/database_users.py``), not as the master user: the canary may INSERT and SELECT its
heartbeat table, the probe only SELECT it. This construct's function (``lib/lambda/database_users``)
is, with the secret's rotation, the only user of the master secret: on Create and Update it creates
the heartbeat table and both users (``GRANT rds_iam``: tokens only) idempotently; Delete does nothing.
It runs in the isolated subnets with the functions' security group (allowed to the database on
5432), reaches Secrets Manager through its interface endpoint and answers CloudFormation through
the S3 gateway endpoint. Everything it acts on is in its environment, pinned at deploy time.

The custom resource depends on the cluster (and so on its instances): the database answers SQL by
then. The functions that log in as these users depend on the resource, so they never run before it.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from lib import database_users
from lib.build.lambda_bundle import RDS_CA_BUNDLE
from lib.config import EnvironmentConfig
from lib.constructs.execution_role import FunctionNetwork
from lib.constructs.kit_function import function_with_role

FUNCTION_TYPE = "database-users"
RESOURCE_TYPE = "Custom::DatabaseUsers"
# Bump when the statements change, so that a deploy runs them again (an Update).
STATEMENTS_VERSION = "1"


class DatabaseUsers(Construct):
    """Custom resource that creates the heartbeat table and the canary's and the probe's users.

    Exposes: function, resource.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        cluster: rds.IDatabaseCluster,
        secret: secretsmanager.ISecret,
        aurora_key: kms.IKey,
        log_key: kms.IKey,
        network: FunctionNetwork,
    ) -> None:
        super().__init__(scope, construct_id)
        region = config.region
        made = function_with_role(
            self,
            config=config,
            function_type=FUNCTION_TYPE,
            description="Creates the canary's and the restore probe's database users (IAM authentication)",
            role_description="Execution role of the function that creates the kit's database users",
            statements=[
                iam.PolicyStatement(
                    sid="ReadMasterSecret", actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]
                ),
                iam.PolicyStatement(
                    sid="DecryptMasterSecret",
                    actions=["kms:Decrypt"],
                    resources=[aurora_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
                ),
            ],
            log_key=log_key,
            network=network,
            timeout=Duration.minutes(2),
            environment_key=aurora_key,
            environment={
                "DB_SECRET_ARN": secret.secret_arn,
                "DB_HOST": cluster.cluster_endpoint.hostname,
                "DB_PORT": Token.as_string(cluster.cluster_endpoint.port),
                "DB_NAME": config.database_name,
                "DB_CA_BUNDLE": RDS_CA_BUNDLE,
                "CANARY_USER": database_users.CANARY,
                "PROBE_USER": database_users.RESTORE_PROBE,
            },
        )
        self.function = made.function
        self.resource = CustomResource(
            self,
            "Resource",
            resource_type=RESOURCE_TYPE,
            service_token=self.function.function_arn,
            properties={
                "Version": STATEMENTS_VERSION,
                "Users": [database_users.CANARY, database_users.RESTORE_PROBE],
            },
        )
        self.resource.node.add_dependency(cluster)
        self.resource.node.add_dependency(made.policy)


def connect_statement(config: EnvironmentConfig, cluster_resource_id: str, user: str) -> iam.PolicyStatement:
    """``rds-db:connect`` as ``user`` of the cluster whose resource id is given (may be a pattern)."""
    return iam.PolicyStatement(
        sid="ConnectAsOwnDatabaseUser",
        actions=["rds-db:connect"],
        resources=[f"arn:aws:rds-db:{config.region}:{config.account}:dbuser:{cluster_resource_id}/{user}"],
    )
