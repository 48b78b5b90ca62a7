"""Step 2: can the caller reach the service or the database from where it is? The one owner of the
emulated network: where a function's execution environment runs (``place``) and what it reaches
from there (``decide``), read from the VPC as moto's EC2 keeps it.

Only an execution environment of a VPC function is subject to it (``caller.subnet_id``: the subnet
it was placed in). A caller outside any VPC (the root caller of the CDK CLI and the tests, a
function without VpcConfig) and an AWS service working on its own infrastructure (``caller.service``,
e.g. AWS Backup's snapshot of a cluster) reach everything.

- An API request reaches the service (its signing name is the endpoint's service name,
  ``com.amazonaws.<region>.<service>``) through a gateway endpoint whose route tables include the
  subnet's route table (S3, DynamoDB) while one of the caller's groups lets 443 out to the
  endpoint's prefix list (or to 0.0.0.0/0), an interface endpoint with private DNS on and an ENI in
  a subnet it can reach whose security groups admit the caller's on 443, or a route to a NAT
  gateway. ``endpoint`` names the endpoint a request goes through, whose policy the authorization
  step evaluates (AWS PrivateLink Guide, "Control access to VPC endpoints using endpoint policies").
- A database connection (``Request.connection``) reaches the cluster's writer only if the path to
  the writer's subnet (the DB subnet group's subnet in the writer's AZ) is open and the cluster's
  security groups admit one of the caller's on the cluster's port.
- A path between two subnets is open when each subnet's network ACL lets the request out (egress,
  TCP to the port) and in (ingress), and the answer back (to the client's ephemeral port), rules in
  rule-number order, first match wins. Traffic inside one subnet passes no network ACL. Addresses
  are modelled by subnet: a rule matches a peer when its CIDR contains the peer subnet's CIDR; an
  AWS service's public address (gateway endpoint, NAT) only matches a ``/0`` rule. Security groups
  are stateful: the target's ingress and the caller's egress are checked, not the answer.

An unreachable service does not answer: the denial is ``unreachable``, the pipeline answers it with
a marker header, and the function's bootstrap turns it into the SDK's connect timeout after the
connect timeout has passed on the environment's emulated time (``services/awslambda/bootstrap.py``).
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
from collections.abc import Iterable
from typing import Any

from .. import world
from .request import Caller, Denial, Request

HTTPS_PORT = 443
# The client's side of the answer: Lambda's ENIs use ephemeral ports 1024-65535; the emulator checks
# the answer to this one port (the start of Linux's ephemeral range).
EPHEMERAL_PORT = 32768
# What a request to an unreachable endpoint answers when no bootstrap turns it into a timeout
# (a test calling with an environment's key): never retried by the SDK.
UNREACHABLE_STATUS = 400
UNREACHABLE_CODE = "LocalAws.EndpointUnreachable"

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_placement_lock = threading.Lock()
_next_subnet: dict[str, itertools.count[int]] = {}  # function ARN -> counter of environments placed


def place(function_arn: str, subnet_ids: tuple[str, ...]) -> str | None:
    """The subnet a new execution environment of the function runs in: its VpcConfig subnets in
    turn (AWS spreads a function's environments over the subnets it is given, without documenting
    how), None for a function outside a VPC."""
    if not subnet_ids:
        return None
    with _placement_lock:
        counter = _next_subnet.setdefault(function_arn, itertools.count())
        return subnet_ids[next(counter) % len(subnet_ids)]


def availability_zone(caller: Caller) -> str | None:
    """The AZ of the subnet the caller's environment runs in."""
    if caller.subnet_id is None or caller.function_arn is None:
        return None
    subnet = world.subnet(caller.account_id, _region(caller), caller.subnet_id)
    return str(subnet.availability_zone) if subnet is not None else None


def decide(request: Request) -> Denial | None:
    """None when the caller reaches what it asks for; an ``unreachable`` denial otherwise."""
    who = request.caller
    if who is None or who.service is not None or who.subnet_id is None or who.function_arn is None:
        return None
    subnet = world.subnet(who.account_id, _region(who), who.subnet_id)
    if request.service == "rds-db":
        reached = subnet is not None and _reaches_database(who, subnet, str(request.resource))
        target = f"DB cluster {request.resource} port {request.port}"
    else:
        reached = subnet is not None and _reaches_service(who, subnet, str(request.service))
        target = f"{request.service} in {_region(who)}"
    if reached:
        return None
    where = f"{who.subnet_id} ({subnet.availability_zone})" if subnet is not None else str(who.subnet_id)
    message = f"Connect timeout: {target} is not reachable from {where} of {who.function_name}"
    return Denial(UNREACHABLE_STATUS, UNREACHABLE_CODE, message, unreachable=True)


def _region(caller: Caller) -> str:
    return str(caller.function_arn).split(":")[3]


def endpoint(request: Request) -> Any | None:
    """The VPC endpoint an API request of a VPC function's environment goes through; None for a
    caller outside a VPC, a database connection, or a request that reaches no endpoint."""
    who = request.caller
    if who is None or who.service is not None or who.subnet_id is None or who.function_arn is None:
        return None
    subnet = world.subnet(who.account_id, _region(who), who.subnet_id)
    if subnet is None or request.service in (None, "rds-db"):
        return None
    return _endpoint_reached(who, subnet, str(request.service))


def _reaches_service(who: Caller, subnet: Any, service: str) -> bool:
    if _endpoint_reached(who, subnet, service) is not None:
        return True
    table = world.route_table_of(who.account_id, _region(who), subnet.id, subnet.vpc_id)
    return _has_nat_route(table) and _path(who, subnet, None, HTTPS_PORT)


def _endpoint_reached(who: Caller, subnet: Any, service: str) -> Any | None:
    """The first available endpoint of the service the caller's environment reaches from ``subnet``."""
    region = _region(who)
    name = f"com.amazonaws.{region}.{service}"
    table = world.route_table_of(who.account_id, region, subnet.id, subnet.vpc_id)
    vpc = world.vpc(who.account_id, region, subnet.vpc_id)
    for endpoint in world.vpc_endpoints(who.account_id, region, subnet.vpc_id):
        if endpoint.state != "available" or endpoint.service_name != name:
            continue
        kind = str(endpoint.vpc_endpoint_type or "Gateway").lower()
        if kind == "gateway":
            routed = table is not None and table.id in (endpoint.route_table_ids or ())
            let_out = _egress_to_prefix_list(who, endpoint.destination_prefix_list_id, HTTPS_PORT)
            if routed and let_out and _path(who, subnet, None, HTTPS_PORT):
                return endpoint
        elif kind == "interface" and _private_dns(endpoint, vpc):
            for interface_id in endpoint.network_interface_ids:
                interface = world.network_interface(who.account_id, region, interface_id)
                if interface is not None and _path(who, subnet, interface.subnet, HTTPS_PORT):
                    groups = tuple(endpoint.security_group_ids or ())
                    if _groups_admit(who, subnet, groups, interface.subnet, HTTPS_PORT):
                        return endpoint
    return None


def _egress_to_prefix_list(who: Caller, prefix_list_id: str | None, port: int) -> bool:
    """One of the caller's groups lets TCP ``port`` out to the prefix list (a gateway endpoint's
    service addresses) or to every address (a ``/0`` rule)."""
    rules = _rules(who.account_id, _region(who), who.security_group_ids, egress=True)
    return any(
        _protocol_matches(rule.ip_protocol, rule.from_port, rule.to_port, port)
        and (
            (prefix_list_id is not None and getattr(rule, "prefix_list_id", None) == prefix_list_id)
            or _contains((rule.ip_range or {}).get("CidrIp"), None)
        )
        for rule in rules
    )


def _private_dns(endpoint: Any, vpc: Any) -> bool:
    """The service's default name resolves to the endpoint only with private DNS on, which needs
    the VPC's DNS support and DNS hostnames."""
    enabled = str(endpoint.private_dns_enabled).lower() == "true"
    return enabled and vpc is not None and bool(vpc.enable_dns_support) and bool(vpc.enable_dns_hostnames)


def _has_nat_route(table: Any) -> bool:
    if table is None:
        return False
    return any(
        route.destination_cidr_block == "0.0.0.0/0" and route.nat_gateway is not None for route in list(table.routes)
    )


def _reaches_database(who: Caller, subnet: Any, cluster_name: str) -> bool:
    region = _region(who)
    cluster = world.cluster(who.account_id, region, cluster_name)
    if cluster is None:
        return True  # nothing listens there: PostgreSQL's own error follows
    subnets = world.db_subnet_group_subnets(who.account_id, region, cluster.db_subnet_group_name)
    if not subnets:
        return True  # a cluster outside any VPC the emulator knows (created without a subnet group)
    instances = world.cluster_instances(who.account_id, region, cluster_name)
    writer = next((instance for instance in instances if instance.is_cluster_writer), None)
    if writer is not None:
        subnets = [candidate for candidate in subnets if candidate.availability_zone == writer.availability_zone]
    port = int(getattr(cluster, "declared_port", None) or cluster.port)
    groups = tuple(cluster.vpc_security_group_ids or ())
    return any(
        target.vpc_id == subnet.vpc_id
        and _path(who, subnet, target, port)
        and _groups_admit(who, subnet, groups, target, port)
        for target in subnets
    )


def _path(who: Caller, source: Any, target: Any | None, port: int) -> bool:
    """Whether the network ACLs let a TCP connection from ``source`` to ``port`` in ``target``
    (None: an AWS service's public address) through, and its answer back."""
    if target is not None and target.id == source.id:
        return True
    here = _network(source)
    there = _network(target) if target is not None else None
    account_id, region = who.account_id, _region(who)
    source_acl = world.network_acl_of(account_id, region, source.id)
    if not (_acl_admits(source_acl, True, port, there) and _acl_admits(source_acl, False, EPHEMERAL_PORT, there)):
        return False
    if target is None:
        return True
    target_acl = world.network_acl_of(account_id, region, target.id)
    return _acl_admits(target_acl, False, port, here) and _acl_admits(target_acl, True, EPHEMERAL_PORT, here)


def _acl_admits(acl: Any, egress: bool, port: int, peer: _Network | None) -> bool:
    """The first rule (lowest rule number) of that direction that matches TCP ``port`` and ``peer``
    decides; none matching denies (the ``*`` rule)."""
    if acl is None:
        return False
    entries = [entry for entry in list(acl.network_acl_entries) if str(entry.egress).lower() == str(egress).lower()]
    for entry in sorted(entries, key=lambda entry: int(entry.rule_number)):
        if _protocol_matches(entry.protocol, entry.port_range_from, entry.port_range_to, port) and _contains(
            entry.cidr_block, peer
        ):
            return str(entry.rule_action).lower() == "allow"
    return False


def _groups_admit(who: Caller, subnet: Any, target_groups: tuple[str, ...], target: Any, port: int) -> bool:
    """One of the target's groups admits one of the caller's (or its subnet) on ``port``, and one
    of the caller's groups lets it out to a target group (or the target's subnet)."""
    region = _region(who)
    callers = set(who.security_group_ids)
    ingress = _rules(who.account_id, region, target_groups, egress=False)
    egress = _rules(who.account_id, region, who.security_group_ids, egress=True)
    admitted = any(_rule_matches(rule, port, callers, _network(subnet)) for rule in ingress)
    return admitted and any(_rule_matches(rule, port, set(target_groups), _network(target)) for rule in egress)


def _rules(account_id: str, region: str, group_ids: Iterable[str], *, egress: bool) -> list[Any]:
    groups = [world.security_group(account_id, region, group_id) for group_id in group_ids]
    rules = [(group.egress_rules if egress else group.ingress_rules) for group in groups if group is not None]
    return [rule for group_rules in rules for rule in group_rules]


def _rule_matches(rule: Any, port: int, peer_groups: set[str], peer: _Network) -> bool:
    if not _protocol_matches(rule.ip_protocol, rule.from_port, rule.to_port, port):
        return False
    if (rule.source_group or {}).get("GroupId") in peer_groups:
        return True
    return _contains((rule.ip_range or {}).get("CidrIp"), peer)


def _protocol_matches(protocol: Any, first: Any, last: Any, port: int) -> bool:
    """TCP ``port`` matches an all-protocols rule, or a TCP rule whose range holds it."""
    name = str(protocol).lower()
    if name in ("-1", "all"):
        return True
    if name not in ("6", "tcp"):
        return False
    return first is None or int(first) <= port <= int(last if last is not None else first)


def _contains(cidr: str | None, peer: _Network | None) -> bool:
    if not cidr:
        return False
    network = ipaddress.ip_network(cidr, strict=False)
    if peer is None:
        return network.prefixlen == 0
    return peer.version == network.version and peer.subnet_of(network)  # type: ignore[arg-type]


def _network(subnet: Any) -> _Network:
    return ipaddress.ip_network(subnet.cidr_block, strict=False)
