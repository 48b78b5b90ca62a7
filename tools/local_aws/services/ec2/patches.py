"""Fixes to moto's EC2 CloudFormation models: deletes of VPC plumbing, SG rules, flow logs."""

from __future__ import annotations

from typing import Any, ClassVar

from moto.ec2.models import ec2_backends
from moto.ec2.models.flow_logs import FlowLogs
from moto.ec2.models.internet_gateways import InternetGateway
from moto.ec2.models.managed_prefixes import ManagedPrefixListBackend
from moto.ec2.models.route_tables import Route, RouteTable
from moto.ec2.models.security_groups import SecurityGroup, SecurityGroupIngress
from moto.ec2.models.subnets import Subnet, SubnetRouteTableAssociation
from moto.ec2.models.vpcs import VPC, VPCEndPoint
from moto.ec2.models.vpn_gateway import VPCGatewayAttachment

from ...patches._support import ModelLogic, Properties, after_create, fix, install, register_model
from ..cloudformation.patches import CUSTOM_RESOURCE_HANDLERS, CustomResourceHandler


def _backend(account_id: str, region_name: str) -> Any:
    return ec2_backends[account_id][region_name]


def _delete_route_table(table: RouteTable, account_id: str, region_name: str) -> None:
    """Fails with DependencyViolation while subnets are associated (the delete loop retries)."""
    backend = _backend(account_id, region_name)
    if table.id in backend.route_tables:
        backend.delete_route_table(table.id)


def _delete_route(route: Route, account_id: str, region_name: str) -> None:
    route.route_table._routes.pop(route.id, None)


def _delete_subnet_association(association: SubnetRouteTableAssociation, account_id: str, region_name: str) -> None:
    backend = _backend(account_id, region_name)
    table = backend.route_tables.get(association.route_table_id)
    if table is not None:
        for association_id, subnet_id in list(table._associations.items()):
            if subnet_id == association.subnet_id:
                del table._associations[association_id]
    backend.subnet_associations.pop(f"{association.route_table_id}:{association.subnet_id}", None)


def _delete_vpc_endpoint(endpoint: VPCEndPoint, account_id: str, region_name: str) -> None:
    """Remove the endpoint, its gateway routes and its interfaces, whatever is already gone.

    moto's ``delete_vpc_endpoints`` fails once a route table is gone and only marks the endpoint
    ``deleted``, so it stays listed.
    """
    backend = _backend(account_id, region_name)
    for table_id in endpoint.route_table_ids or []:
        table = backend.route_tables.get(table_id)
        if table is not None:
            for route_id, route in list(table._routes.items()):
                if route.gateway_id == endpoint.id:
                    del table._routes[route_id]
    for interface_id in endpoint.network_interface_ids:
        backend.enis.pop(interface_id, None)
    backend.vpc_end_points.pop(endpoint.id, None)


def _delete_internet_gateway(gateway: InternetGateway, account_id: str, region_name: str) -> None:
    """Fails with DependencyViolation while attached (the delete loop retries)."""
    backend = _backend(account_id, region_name)
    if gateway.id in backend.internet_gateways:
        backend.delete_internet_gateway(gateway.id)


def _delete_gateway_attachment(attachment: VPCGatewayAttachment, account_id: str, region_name: str) -> None:
    backend = _backend(account_id, region_name)
    gateway = backend.internet_gateways.get(attachment.gateway_id)
    if gateway is not None and gateway.vpc is not None and gateway.vpc.id == attachment.vpc_id:
        gateway.vpc = None
    vpn_gateway = backend.vpn_gateways.get(attachment.gateway_id)
    if vpn_gateway is not None and attachment.vpc_id in vpn_gateway.attachments:
        backend.detach_vpn_gateway(attachment.gateway_id, attachment.vpc_id)


@fix("R9")
def delete_vpc_plumbing() -> None:
    """RouteTable, Route, SubnetRouteTableAssociation, VPCEndpoint, InternetGateway and
    VPCGatewayAttachment have no delete in moto, so CloudFormation skips them as deleted.

    ``cdk destroy`` then leaves the VPC, its route tables, the attached internet gateway and the
    endpoints behind. Each gets an idempotent delete (moto deletes in arbitrary order and retries
    what fails).
    """
    install(RouteTable, "delete", _delete_route_table)
    install(Route, "delete", _delete_route)
    install(SubnetRouteTableAssociation, "delete", _delete_subnet_association)
    install(VPCEndPoint, "delete", _delete_vpc_endpoint)
    install(InternetGateway, "delete", _delete_internet_gateway)
    install(VPCGatewayAttachment, "delete", _delete_gateway_attachment)


def _associate_route_table(
    association: SubnetRouteTableAssociation, properties: dict[str, Any], account_id: str, region_name: str
) -> None:
    _backend(account_id, region_name).associate_route_table(association.route_table_id, subnet_id=association.subnet_id)


@fix("F1")
def associate_route_tables() -> None:
    """A SubnetRouteTableAssociation from CloudFormation does not associate anything in moto.

    DescribeRouteTables lists no subnet associations, so every subnet seems to use the main route
    table (no internet route, no endpoint routes). The association is now made in the route table.
    """
    after_create(SubnetRouteTableAssociation, _associate_route_table)


def _rule_arguments(properties: dict[str, Any], peer_group_key: str) -> dict[str, Any]:
    """Keyword arguments of moto's authorize/revoke calls for one CloudFormation SG rule (a peer
    CIDR, security group or prefix list)."""
    ip_ranges = []
    if "CidrIp" in properties:
        ip_range = {"CidrIp": properties["CidrIp"]}
        if "Description" in properties:
            ip_range["Description"] = properties["Description"]
        ip_ranges.append(ip_range)
    peer = properties.get(peer_group_key)
    prefix_list = properties.get("DestinationPrefixListId") or properties.get("SourcePrefixListId")
    return {
        "ip_protocol": str(properties["IpProtocol"]),
        "from_port": properties.get("FromPort"),
        "to_port": properties.get("ToPort"),
        "ip_ranges": ip_ranges,
        "source_groups": [{"GroupId": peer}] if peer else [],
        "prefix_list_ids": [{"PrefixListId": prefix_list}] if prefix_list else [],
    }


def _group(account_id: str, region_name: str, group_id: str) -> SecurityGroup | None:
    return _backend(account_id, region_name).get_security_group_from_id(group_id)


def _revoke_all_rules(group: SecurityGroup, *, egress: bool) -> None:
    backend = group.ec2_backend
    rules = group.egress_rules if egress else group.ingress_rules
    revoke = backend.revoke_security_group_egress if egress else backend.revoke_security_group_ingress
    if rules:
        revoke(group.id, None, None, None, [], security_rule_ids=[rule.id for rule in rules])


class SecurityGroupEgressModel(ModelLogic):
    """``AWS::EC2::SecurityGroupEgress``: one egress rule on an existing security group."""

    cfn_type: ClassVar[str] = "AWS::EC2::SecurityGroupEgress"

    def __init__(self, group_id: str, properties: dict[str, Any]):
        self.group_id = group_id
        self.properties = properties

    @classmethod
    def create(
        cls, resource_name: str, properties: Properties, account_id: str, region_name: str
    ) -> SecurityGroupEgressModel:
        group = _group(account_id, region_name, properties["GroupId"])
        if group is not None:
            _revoke_default_egress(group)
        _backend(account_id, region_name).authorize_security_group_egress(
            properties["GroupId"], **_rule_arguments(properties, "DestinationSecurityGroupId")
        )
        return cls(properties["GroupId"], properties)

    @property
    def physical_resource_id(self) -> str:
        return f"{self.group_id}-egress"

    def delete(self, account_id: str, region_name: str) -> None:
        if _group(account_id, region_name, self.group_id) is not None:
            _backend(account_id, region_name).revoke_security_group_egress(
                self.group_id, **_rule_arguments(self.properties, "DestinationSecurityGroupId")
            )


def _revoke_default_egress(group: SecurityGroup) -> None:
    """CloudFormation strips a group's default allow-all egress rule once another egress rule is
    added to it (what CDK relies on when it drops its "disallow all" placeholder for a standalone
    rule), so an explicit egress rule never sits beside an open one."""
    default = [
        rule.id
        for rule in group.egress_rules
        if str(rule.ip_protocol) == "-1" and (rule.ip_range or {}).get("CidrIp") == "0.0.0.0/0"
    ]
    if default:
        group.ec2_backend.revoke_security_group_egress(group.id, None, None, None, [], security_rule_ids=default)


def _delete_ingress(ingress: SecurityGroupIngress, account_id: str, region_name: str) -> None:
    group_id = ingress.security_group.id
    if _group(account_id, region_name, group_id) is not None:
        _backend(account_id, region_name).revoke_security_group_ingress(
            group_id, **_rule_arguments(ingress.properties, "SourceSecurityGroupId")
        )


@fix("Q5")
def add_security_group_rule_resources() -> None:
    """``AWS::EC2::SecurityGroupEgress`` is not supported and a standalone ingress rule is never
    revoked.

    CDK writes rules between security groups of different layers (and rules to a prefix list) as
    standalone resources, so Lambda-to-database egress was missing. The egress rule is now
    authorized (destination group in ``source_groups``, a prefix list in ``prefix_list_ids``, as moto
    stores them), the group's default allow-all egress rule is revoked as CloudFormation does once a
    group gets an egress rule, and both rule types are revoked on delete.
    """
    register_model(SecurityGroupEgressModel, "ec2")
    install(SecurityGroupIngress, "delete", _delete_ingress)


def _apply_inline_egress(group: SecurityGroup, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    if "SecurityGroupEgress" not in properties:
        return
    _revoke_all_rules(group, egress=True)
    for rule in properties["SecurityGroupEgress"]:
        _backend(account_id, region_name).authorize_security_group_egress(
            group.id, **_rule_arguments(rule, "DestinationSecurityGroupId")
        )


@fix("F2")
def apply_inline_egress_rules() -> None:
    """moto ignores a security group's inline ``SecurityGroupEgress`` and keeps allow-all egress.

    CDK's ``allow_all_outbound=False`` writes a single "disallow all" placeholder rule, so every
    group looked wide open. The inline rules now replace the default egress rule.
    """
    after_create(SecurityGroup, _apply_inline_egress)


def _delete_flow_log(flow_log: FlowLogs, account_id: str, region_name: str) -> None:
    backend = _backend(account_id, region_name)
    if flow_log.id in backend.flow_logs:
        backend.delete_flow_logs([flow_log.id])


@fix("N1")
def delete_flow_logs() -> None:
    """``AWS::EC2::FlowLog`` has no delete in moto: every VPC flow log survives ``cdk destroy``."""
    install(FlowLogs, "delete", _delete_flow_log)


def _restrict_default_security_group(properties: dict[str, Any], account_id: str, region_name: str) -> None:
    group = _group(account_id, region_name, properties["DefaultSecurityGroupId"])
    if group is not None:
        _revoke_all_rules(group, egress=False)
        _revoke_all_rules(group, egress=True)


@fix("N2")
def emulate_restrict_default_security_group() -> None:
    """CDK's ``Custom::VpcRestrictDefaultSG`` (a Lambda) removes all rules of the VPC's default
    security group; without Docker it cannot run.

    Its effect on create is now emulated: the default group ends up with no rules, as in AWS.
    On delete nothing is restored (the VPC is being deleted with it).
    """
    CUSTOM_RESOURCE_HANDLERS["Custom::VpcRestrictDefaultSG"] = CustomResourceHandler(
        on_create=_restrict_default_security_group
    )


def _flag(value: Any) -> bool:
    """A template boolean, which may arrive as ``true`` or as the string ``"true"``."""
    return str(value).lower() == "true"


def _apply_vpc_dns_attributes(vpc: VPC, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    for key, attribute in (("EnableDnsSupport", "enable_dns_support"), ("EnableDnsHostnames", "enable_dns_hostnames")):
        if key in properties:
            _backend(account_id, region_name).modify_vpc_attribute(vpc.id, attribute, _flag(properties[key]))


def _apply_map_public_ip(subnet: Subnet, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    if "MapPublicIpOnLaunch" in properties:
        _backend(account_id, region_name).modify_subnet_attribute(
            subnet.id, "map_public_ip_on_launch", _flag(properties["MapPublicIpOnLaunch"])
        )


@fix("F6")
def apply_vpc_and_subnet_attributes() -> None:
    """moto's ``AWS::EC2::VPC`` ignores EnableDnsSupport/EnableDnsHostnames and ``AWS::EC2::Subnet``
    ignores MapPublicIpOnLaunch: DNS hostnames read false and public subnets assign no public IPs.
    They are now applied through moto's ModifyVpcAttribute / ModifySubnetAttribute."""
    after_create(VPC, _apply_vpc_dns_attributes)
    after_create(Subnet, _apply_map_public_ip)


# AWS's ids of the AWS-managed prefix lists (Amazon VPC User Guide, "AWS-managed prefix lists"), as
# DescribeManagedPrefixLists answers them in this region (AWS CLI Command Reference,
# "describe-prefix-lists" example: com.amazonaws.us-east-1.s3 is pl-63a5400a).
AWS_PREFIX_LIST_IDS = {
    "us-east-1": {"com.amazonaws.us-east-1.s3": "pl-63a5400a", "com.amazonaws.us-east-1.dynamodb": "pl-02cd2c6b"},
}


def _create_default_prefix_lists(original: Any) -> Any:
    def create_default_pls(self: Any) -> None:
        original(self)
        known = AWS_PREFIX_LIST_IDS.get(self.region_name, {})
        for prefix_list in list(self.managed_prefix_lists.values()):
            wanted = known.get(prefix_list.prefix_list_name)
            if wanted and prefix_list.id != wanted:
                del self.managed_prefix_lists[prefix_list.id]
                prefix_list.id = wanted
                prefix_list.prefix_list_arn = prefix_list.arn(self.region_name, prefix_list.owner_id)
                self.managed_prefix_lists[wanted] = prefix_list

    return create_default_pls


@fix("Q27")
def aws_managed_prefix_list_ids() -> None:
    """moto gives the AWS-managed prefix lists (S3, DynamoDB) random ids.

    A template names them by id: the CDK CLI looks the id up by the list's name and the app's
    cdk.json caches AWS's ids for the offline account, so a function's security-group egress to the
    S3 and DynamoDB gateway endpoints named ids moto never had. In us-east-1 they now have AWS's ids
    (other regions keep moto's random ones).
    """
    install(
        ManagedPrefixListBackend,
        "create_default_pls",
        _create_default_prefix_lists(ManagedPrefixListBackend.create_default_pls),
    )
