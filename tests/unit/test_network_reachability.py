"""The endpoint table read from the functions' code, and the synth-time check that each VPC reaches what its
functions call (lib/network_reachability.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_

from lib.app import new_app
from lib.config import DEV, ConfigError, EnvironmentConfig, Profile
from lib.network_reachability import FUNCTION_PACKAGES, ReachabilityCheck, calls, interface_services, services_called
from lib.tap_stack import TapStack
from tests.unit.templates import ACCOUNT, SUFFIX

FAKE_SUFFIX = "t"


def _package(tmp_path: Path, source: str) -> Path:
    package = tmp_path / "notifier"
    package.mkdir()
    (package / "handler.py").write_text(source)
    return package


def _stack(*, interface: str | None = None, private_dns: bool = True) -> Stack:
    """A VPC with the S3 and DynamoDB gateway endpoints (and ``interface``'s endpoint) and one function
    ``notifier-t`` in its isolated subnets."""
    stack = Stack(new_app(), "Reach", env=Environment(account=ACCOUNT, region="us-east-1"))
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        restrict_default_security_group=False,
        subnet_configuration=[ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
        gateway_endpoints={
            "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
            "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
        },
    )
    if interface:
        vpc.add_interface_endpoint(
            "Endpoint", service=ec2.InterfaceVpcEndpointAwsService(interface), private_dns_enabled=private_dns
        )
    lambda_.Function(
        stack,
        "Notifier",
        function_name=f"notifier-{FAKE_SUFFIX}",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="handler.handler",
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
    )
    return stack


def test_a_function_calling_a_service_without_an_endpoint_fails_naming_both(tmp_path: Path) -> None:
    package = _package(tmp_path, 'import boto3\n\nSNS = boto3.client("sns")\nS3 = boto3.resource("s3")\n')

    errors = ReachabilityCheck(_stack(), FAKE_SUFFIX, {"notifier": package}).validate()

    assert len(errors) == 1  # s3 has its gateway endpoint
    assert errors[0].startswith(f"Function notifier-{FAKE_SUFFIX} calls sns, which its VPC cannot reach")


def test_an_interface_endpoint_with_private_dns_makes_the_service_reachable(tmp_path: Path) -> None:
    package = _package(tmp_path, 'def clients(service):\n    ...\n\n\nclients("sns").publish()\n')

    assert ReachabilityCheck(_stack(interface="sns"), FAKE_SUFFIX, {"notifier": package}).validate() == []
    # Without private DNS the SDK's default host name does not resolve to the endpoint.
    (error,) = ReachabilityCheck(
        _stack(interface="sns", private_dns=False), FAKE_SUFFIX, {"notifier": package}
    ).validate()
    assert "calls sns" in error


def test_a_function_missing_from_the_table_fails(tmp_path: Path) -> None:
    (error,) = ReachabilityCheck(_stack(), FAKE_SUFFIX, {}).validate()
    assert error.startswith(
        f"Function notifier-{FAKE_SUFFIX} is not in lib/network_reachability.py's FUNCTION_PACKAGES"
    )


def test_the_scan_finds_each_way_the_kit_makes_clients() -> None:
    """``boto3.client("backup")``, a helper ``_client("secretsmanager")`` and ``clients("rds")``; a
    ``boto3.client(service)`` with a variable is the helper's body, not a service."""
    assert calls() == {
        # The canary and the probe sign IAM database tokens locally: no Secrets Manager any more.
        "health-check": {"dynamodb", "s3"},
        "backup-monitor": {"backup"},
        "vault-cleanup": {"backup"},
        "function-export": {"s3"},
        "restore-validation": {"backup", "rds", "dynamodb"},
        "database-users": {"secretsmanager"},  # the master secret: this custom resource only
    }
    assert interface_services() == ["backup", "rds", "secretsmanager"]
    assert services_called(FUNCTION_PACKAGES["restore-validation"]) == calls()["restore-validation"]


def test_the_real_app_passes(tap_stack: TapStack) -> None:
    assert ReachabilityCheck(tap_stack, SUFFIX).validate() == []


def test_the_real_apps_vpc_is_followed_across_nested_stacks(tap_stack: TapStack, tmp_path: Path) -> None:
    """The canary (compute layer) in the network layer's VPC: were its code to call SNS, which has no
    endpoint there, the check would name it; everything it really calls stays reachable."""
    package = _package(tmp_path, 'import boto3\n\nboto3.client("sns")\nboto3.client("secretsmanager")\n')

    errors = ReachabilityCheck(tap_stack, SUFFIX, {**FUNCTION_PACKAGES, "health-check": package}).validate()

    assert [e.split(", which")[0] for e in errors] == [f"Function health-check-{SUFFIX} calls sns"]


@pytest.mark.parametrize("azs", [0, 1])
def test_interface_endpoints_in_fewer_than_two_azs_are_refused(azs: int) -> None:
    with pytest.raises(ConfigError, match="at least 2 are needed"):
        Profile(**{**DEV.__dict__, "interface_endpoint_azs": azs})


def test_interface_endpoints_in_more_azs_than_the_vpc_spans_are_refused() -> None:
    profile = Profile(**{**DEV.__dict__, "interface_endpoint_azs": 3})
    with pytest.raises(ConfigError, match="spans only 2"):
        EnvironmentConfig(environment_suffix="x", availability_zones=("us-east-1a", "us-east-1b"), profile=profile)
