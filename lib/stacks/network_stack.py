"""Network layer: one VPC over three AZs, no internet path for workloads, endpoints, security groups."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import NestedStack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.network_reachability import interface_services

POSTGRES_PORT = 5432
HTTPS_PORT = 443
# Construct ids of interface endpoints whose id predates the table: a new logical id would replace a
# deployed endpoint, and the replacement's private DNS name would clash with the old one's.
_ENDPOINT_IDS = {"secretsmanager": "SecretsManagerEndpoint"}


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
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
        )

        self.function_security_group = self._security_group(
            "FunctionSecurityGroup", config.name("lambda-sg"), "Health-check and application functions"
        )
        self.database_security_group = self._security_group(
            "DatabaseSecurityGroup", config.name("database-sg"), "Aurora PostgreSQL cluster"
        )
        self.endpoint_security_group = self._security_group(
            "EndpointSecurityGroup", config.name("endpoint-sg"), "Interface VPC endpoints"
        )
        # Functions reach the database on 5432 and AWS APIs on 443. Isolated subnets have no route to
        # the internet, so HTTPS egress can only reach the S3/DynamoDB gateway endpoints (public
        # prefix lists whose ids differ per region) and the interface endpoints.
        self.function_security_group.connections.allow_to(
            self.database_security_group, ec2.Port.tcp(POSTGRES_PORT), "Functions to Aurora"
        )
        self.function_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT), "HTTPS to VPC endpoints only (no internet route)"
        )
        self.endpoint_security_group.add_ingress_rule(
            self.function_security_group, ec2.Port.tcp(HTTPS_PORT), "Functions to interface endpoints"
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

    def _security_group(self, construct_id: str, name: str, purpose: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self,
            construct_id,
            vpc=self.vpc,
            security_group_name=name,
            description=f"{purpose} ({name})",
            allow_all_outbound=False,
        )
