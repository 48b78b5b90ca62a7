"""Network layer: one VPC over three AZs, no internet path for workloads, endpoints, security groups."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, NestedStack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.restore_testing import UNSCOPABLE_ACTIONS as RESTORE_TEST_UNSCOPABLE_ACTIONS
from lib.constructs.vault_cleanup import UNSCOPABLE_BACKUP_ACTIONS
from lib.network_reachability import interface_services

POSTGRES_PORT = 5432
HTTPS_PORT = 443
# Construct ids of interface endpoints whose id predates the table: a new logical id would replace a
# deployed endpoint, and the replacement's private DNS name would clash with the old one's.
_ENDPOINT_IDS = {"secretsmanager": "SecretsManagerEndpoint"}
# What the kit's principals may do through each endpoint (its endpoint policy): the actions the
# functions' roles grant for that service (tests/unit/test_network_stack.py checks that it covers
# them) and, for Secrets Manager, those of the hosted rotation function AWS creates from the
# template's transform ("Lambda rotation function execution role permissions", Secrets Manager User
# Guide). Explicit lists: the kit writes no wildcard actions, not even in a filter.
ENDPOINT_ACTIONS: dict[str, tuple[str, ...]] = {
    "s3": ("s3:GetObject", "s3:PutObject"),
    "dynamodb": ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"),
    "backup": (
        "backup:DeleteRecoveryPoint",
        "backup:DescribeRestoreJob",
        "backup:ListBackupJobs",
        "backup:ListBackupVaults",
        "backup:ListRecoveryPointsByBackupVault",
        "backup:ListRestoreJobs",
        "backup:PutRestoreValidationResult",
        "backup:StopBackupJob",
    ),
    "rds": (
        "rds:AddTagsToResource",
        "rds:CreateDBInstance",
        "rds:DeleteDBInstance",
        "rds:DescribeDBClusters",
        "rds:DescribeDBInstances",
        "rds:FailoverDBCluster",
        "rds:ModifyDBCluster",
    ),
    "secretsmanager": (
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetRandomPassword",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ),
}
# Actions without a resource type (Service Authorization Reference): they act on nothing another
# account could own, and IAM documents aws:ResourceAccount only "for most service actions", so an
# endpoint lets them through for this region instead of on a condition they might not carry.
NO_RESOURCE_TYPE_ACTIONS = frozenset(
    {*UNSCOPABLE_BACKUP_ACTIONS, *RESTORE_TEST_UNSCOPABLE_ACTIONS, "secretsmanager:GetRandomPassword"}
)


@dataclass(frozen=True)
class NetworkStackProps:
    config: EnvironmentConfig


class NetworkStack(NestedStack):
    """VPC with public subnets (for future load balancers) and isolated subnets for data and compute.

    Isolated subnets have no NAT: workloads reach S3 and DynamoDB through gateway endpoints and every
    other AWS API their code calls through an interface endpoint (lib/network_reachability.py lists
    them from the functions' code), so no traffic leaves for the internet. Each interface endpoint has
    an ENI in the profile's first ``interface_endpoint_azs`` AZs (at least two): with private DNS the
    service name resolves to all of them, so losing one AZ leaves the others answering.

    Exposes: vpc, function_security_group, database_security_group, endpoint_security_group,
    interface_endpoints (service -> endpoint).
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: NetworkStackProps) -> None:
        super().__init__(scope, construct_id, description="Network layer: VPC, endpoints, security groups")
        config = props.config

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=config.name("vpc"),
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            availability_zones=list(config.availability_zones),
            nat_gateways=0,
            subnet_configuration=[
                # For future load balancers only; nothing here gets a public IP by default.
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24, map_public_ip_on_launch=False
                ),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22),
            ],
            restrict_default_security_group=True,
        )
        # Gateway endpoints (same construct ids as the VPC's ``gateway_endpoints`` option gives them).
        self.gateway_endpoints = {
            "s3": self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3),
            "dynamodb": self.vpc.add_gateway_endpoint("DynamoDB", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
        }

        self.function_security_group = self._security_group(
            "FunctionSecurityGroup", config.name("lambda-sg"), "Health-check and application functions"
        )
        self.database_security_group = self._security_group(
            "DatabaseSecurityGroup", config.name("database-sg"), "Aurora PostgreSQL cluster"
        )
        self.endpoint_security_group = self._security_group(
            "EndpointSecurityGroup", config.name("endpoint-sg"), "Interface VPC endpoints"
        )
        # Functions reach the database on 5432 and AWS APIs on 443: the interface endpoints' group and
        # the gateway endpoints' AWS-managed prefix lists, nothing else (no 0.0.0.0/0).
        self.function_security_group.connections.allow_to(
            self.database_security_group, ec2.Port.tcp(POSTGRES_PORT), "Functions to Aurora"
        )
        self.function_security_group.connections.allow_to(
            self.endpoint_security_group, ec2.Port.tcp(HTTPS_PORT), "Functions to interface endpoints"
        )
        for service in self.gateway_endpoints:
            self.function_security_group.add_egress_rule(
                ec2.Peer.prefix_list(_managed_prefix_list(self, config, service)),
                ec2.Port.tcp(HTTPS_PORT),
                f"Functions to the {service} gateway endpoint",
            )

        endpoint_subnets = ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
            availability_zones=list(config.availability_zones[: config.profile.interface_endpoint_azs]),
        )
        self.interface_endpoints = {
            service: self.vpc.add_interface_endpoint(
                _ENDPOINT_IDS.get(service, f"{service.capitalize()}Endpoint"),
                service=ec2.InterfaceVpcEndpointAwsService(service),
                subnets=endpoint_subnets,
                security_groups=[self.endpoint_security_group],
                private_dns_enabled=True,
                open=False,
            )
            for service in interface_services()
        }
        for service, endpoint in {**self.gateway_endpoints, **self.interface_endpoints}.items():
            for statement in endpoint_policy(config, service):
                endpoint.add_to_policy(statement)

    def _security_group(self, construct_id: str, name: str, purpose: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self,
            construct_id,
            vpc=self.vpc,
            security_group_name=name,
            description=f"{purpose} ({name})",
            allow_all_outbound=False,
        )


def _managed_prefix_list(scope: Construct, config: EnvironmentConfig, service: str) -> str:
    """The id of the AWS-managed prefix list of a gateway endpoint's service, looked up by its
    documented name (Amazon VPC User Guide, "AWS-managed prefix lists"); the ids differ per region,
    so the CDK CLI looks them up (cdk.json caches them for the offline account)."""
    name = f"com.amazonaws.{config.region}.{service}"
    return ec2.PrefixList.from_lookup(scope, f"{service.capitalize()}PrefixList", prefix_list_name=name).prefix_list_id


def endpoint_policy(config: EnvironmentConfig, service: str) -> list[iam.PolicyStatement]:
    """The endpoint's policy: the kit's actions on this account's resources only (``aws:ResourceAccount``;
    AWS PrivateLink Guide, "Control access to VPC endpoints using endpoint policies"), so nothing in
    the isolated subnets can reach another account's buckets, tables or secrets through it.

    S3 also carries the one AWS-owned bucket the functions reach through the gateway endpoint, with a
    pre-signed URL: a custom resource's answer to CloudFormation (AWS CloudFormation User Guide,
    "Setting up VPC endpoints for AWS CloudFormation": ``cloudformation-custom-resource-response-<region
    without dashes>``), limited to this account's stacks. (The function export reads the packages
    from the CDK asset bucket, which is this account's, not from Lambda's own bucket.)
    """
    anyone = [iam.AnyPrincipal()]
    actions = ENDPOINT_ACTIONS[service]
    statements = [
        iam.PolicyStatement(
            sid="ThisAccountsResources",
            principals=anyone,
            actions=[action for action in actions if action not in NO_RESOURCE_TYPE_ACTIONS],
            resources=["*"],
            conditions={"StringEquals": {"aws:ResourceAccount": Aws.ACCOUNT_ID}},
        )
    ]
    without_resource_type = [action for action in actions if action in NO_RESOURCE_TYPE_ACTIONS]
    if without_resource_type:
        statements.append(
            iam.PolicyStatement(
                sid="ActionsWithoutResourceTypes",
                principals=anyone,
                actions=without_resource_type,
                resources=["*"],
                conditions={"StringEquals": {"aws:RequestedRegion": config.region}},
            )
        )
    if service == "s3":
        stacks = f"arn:aws:cloudformation:{config.region}:{Aws.ACCOUNT_ID}:stack/*"
        responses = f"cloudformation-custom-resource-response-{config.region.replace('-', '')}"
        statements += [
            iam.PolicyStatement(
                sid="CloudFormationCustomResourceResponses",
                principals=anyone,
                actions=["s3:PutObject"],
                resources=[f"arn:aws:s3:::{responses}/{stacks}"],
            ),
        ]
    return statements
