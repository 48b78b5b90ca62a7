"""Which AWS APIs each of the kit's functions calls, and the synth-time check that its VPC reaches them.

Every function of the kit runs in the isolated subnets: no NAT, no internet. A function reaches an
AWS API only through a VPC endpoint -- a gateway endpoint (S3, DynamoDB) or an interface endpoint
with private DNS. The classic first-night failure of this design is a function whose code calls a
service its VPC has no endpoint for: it times out on connect in production and nowhere else.

So the endpoints follow from the code. ``FUNCTION_PACKAGES`` names each function's handler package;
``services_called`` reads the package's source and collects the services of its boto3 clients
(``boto3.client("rds")``, ``client("backup")``, ``clients("lambda")``, ``resource("s3")``: any
call of a callable named ``client``/``resource`` (with or without a leading underscore or a trailing
``s``) whose first argument is a string literal naming a boto3 service). The network layer creates an
interface endpoint for every service in ``interface_services()``, and ``ReachabilityCheck`` -- a
validation on the TapStack, like the DR gate -- fails synth with one sentence per function and
service that the function's VPC cannot reach, and for any function of the app missing from the table.

Not calls to AWS APIs, so not in the table: a function's logs and EMF metrics (the Lambda service
ships them, not the function's ENI), and the custom resources' answers to CloudFormation, which go to
a pre-signed S3 URL (``cloudformation-custom-resource-response-<region>...s3.amazonaws.com``): that
is S3 in this region, routed through the S3 gateway endpoint. The same holds for the pre-signed
package URL Lambda's GetFunction returns, which the function export downloads.

X-Ray trace data is not in the table either, and gets no interface endpoint: the function's SDK sends
it over UDP to the daemon Lambda runs for the function (``AWS_XRAY_DAEMON_ADDRESS``), and the daemon
uploads it. Whether that upload leaves through the function's VPC is not settled by AWS's pages (Lambda
Developer Guide, "Visualize Lambda function invocations using AWS X-Ray" and "Giving Lambda functions
access to resources in an Amazon VPC" say nothing of it). Tracing data lost for want of a route is
silent and harmless to the function, while an ``xray`` endpoint would cost $7.30 per AZ and month in
every environment; if traces stay missing on AWS, add ``xray`` to the network layer's endpoints.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import aws_cdk as cdk
import boto3
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct, IValidation

from lib.dr_gate import referenced

LAMBDA_DIR = Path(__file__).resolve().parent / "lambda"
# Function type (the function's name without "-<suffix>") -> its handler package.
FUNCTION_PACKAGES: Mapping[str, Path] = {
    "health-check": LAMBDA_DIR / "health_check",
    "backup-monitor": LAMBDA_DIR / "backup_monitor",
    "vault-cleanup": LAMBDA_DIR / "vault_cleanup",
    "function-export": LAMBDA_DIR / "function_export",
    "restore-validation": LAMBDA_DIR / "restore_validation",
    "database-users": LAMBDA_DIR / "database_users",
}
# Services a gateway endpoint serves (free, on the route tables); every other one needs an interface endpoint.
GATEWAY_SERVICES = frozenset({"s3", "dynamodb"})
_ENDPOINT_SERVICE = re.compile(r"^com\.amazonaws\.[a-z0-9-]+\.(.+)$")
_CLIENT_FACTORIES = frozenset({"client", "clients", "_client", "_clients", "resource", "resources", "_resource"})


@functools.cache
def _boto3_services() -> frozenset[str]:
    return frozenset(boto3.session.Session().get_available_services())


def services_called(package: Path) -> frozenset[str]:
    """The AWS services whose boto3 clients the package's Python source creates (tests excluded)."""
    found: set[str] = set()
    for source in sorted(package.rglob("*.py")):
        if source.name.startswith("test_") or "tests" in source.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Call) and _factory_name(node.func) in _CLIENT_FACTORIES and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and first.value in _boto3_services():
                    found.add(str(first.value))
    return frozenset(found)


def _factory_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


@functools.cache
def calls(packages: tuple[tuple[str, Path], ...] = tuple(FUNCTION_PACKAGES.items())) -> Mapping[str, frozenset[str]]:
    """Function type -> the services its code calls (the table the endpoints and the check read)."""
    return {function: services_called(package) for function, package in packages}


def interface_services(table: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """Every service some function calls that no gateway endpoint serves, sorted."""
    table = calls() if table is None else table
    return sorted({service for services in table.values() for service in services} - GATEWAY_SERVICES)


def _service_of(service_name: object) -> str | None:
    """The AWS service of a resolved endpoint service name ``com.amazonaws.<region>.<service>``; CDK's
    gateway endpoints write the region as ``{"Ref": "AWS::Region"}`` inside an ``Fn::Join``."""
    if isinstance(service_name, Mapping) and "Fn::Join" in service_name:
        separator, parts = service_name["Fn::Join"]
        service_name = separator.join(part if isinstance(part, str) else "region" for part in parts)
    match = _ENDPOINT_SERVICE.match(service_name) if isinstance(service_name, str) else None
    return match.group(1) if match else None


@jsii.implements(IValidation)
class ReachabilityCheck:
    """Validation of ``root``'s tree: every ``AWS::Lambda::Function`` is in ``packages``, and each
    service its code calls has a gateway or interface endpoint (private DNS on) in its VPC.

    CDK's own Node.js providers are not ``lambda.CfnFunction`` constructs, so they are not checked
    (they run outside the VPC; lib/compliance.py says why)."""

    def __init__(self, root: IConstruct, suffix: str, packages: Mapping[str, Path] = FUNCTION_PACKAGES) -> None:
        self._root = root
        self._suffix = suffix
        self._calls = calls(tuple(packages.items()))

    def validate(self) -> list[str]:
        reachable = self._endpoint_services()
        errors = []
        for function in self._root.node.find_all():
            if not isinstance(function, lambda_.CfnFunction):
                continue
            name = str(cdk.Stack.of(function).resolve(function.function_name))
            kind = name.removesuffix(f"-{self._suffix}")
            if kind not in self._calls:
                errors.append(
                    f"Function {name} is not in lib/network_reachability.py's FUNCTION_PACKAGES: add its handler "
                    "package so the endpoints its code needs are created and checked"
                )
                continue
            vpcs = self._vpcs_of(function)
            if not vpcs:
                continue  # outside any VPC: cdk-nag's LambdaInsideVPC rule reports it
            for service in sorted(self._calls[kind]):
                if not all(service in reachable.get(vpc, set()) for vpc in vpcs):
                    errors.append(
                        f"Function {name} calls {service}, which its VPC cannot reach: it has no gateway or "
                        f"interface endpoint for {service} (interface endpoints follow "
                        "lib/network_reachability.py's table: check GATEWAY_SERVICES and the network layer)"
                    )
        return errors

    def _vpcs_of(self, function: lambda_.CfnFunction) -> set[str]:
        """Construct paths of the VPCs of the function's subnets."""
        config = function.vpc_config
        subnet_ids = getattr(config, "subnet_ids", None) if config is not None else None
        if not subnet_ids:
            return set()
        subnets = [s for s in referenced(subnet_ids, function) if isinstance(s, ec2.CfnSubnet)]
        return {vpc.node.path for subnet in subnets for vpc in referenced(subnet.vpc_id, subnet)}

    def _endpoint_services(self) -> dict[str, set[str]]:
        """VPC construct path -> the services its gateway endpoints and private-DNS interface endpoints serve."""
        served: dict[str, set[str]] = {}
        for endpoint in self._root.node.find_all():
            if not isinstance(endpoint, ec2.CfnVPCEndpoint):
                continue
            stack = cdk.Stack.of(endpoint)
            kind = stack.resolve(endpoint.vpc_endpoint_type) or "Gateway"
            if kind == "Interface" and stack.resolve(endpoint.private_dns_enabled) is not True:
                continue  # without private DNS the SDK's default endpoint name does not resolve to it
            service = _service_of(stack.resolve(endpoint.service_name))
            for vpc in referenced(endpoint.vpc_id, endpoint):
                served.setdefault(vpc.node.path, set()).update([service] if service else [])
        return served
