"""The one way this app makes a Lambda function.

Every function of the kit runs ``handler.handler`` of its package under lib/lambda (``FUNCTION_PACKAGES``
by function type), packaged with its requirements (lib/build/lambda_bundle.py), on the runtime and
architecture of lib/lambda_runtime.py, with 256 MB, in the VPC's isolated subnets, with X-Ray active
tracing (its role may upload traces: ``TracingPolicy``), and logs to a log group made before it (a
group Lambda creates itself is unencrypted and kept for ever).

``KitFunction`` is the function, and it keeps what CreateFunction would need to make it again
(``recreation``: the configuration and the deployment package's place in the CDK asset bucket),
which the function export writes into the backed-up data bucket. ``function_with_role`` adds the
log group and a role of its own (``execution_role``) around it, as every function but the canary has
(the canary's role is the security layer's). Construct ids stay those the functions always had
(``LogGroup``, ``Role``, ``Policy``, ``Function`` under the owning construct): logical ids follow
them, and cdk-nag acknowledgements (lib/compliance.py) name them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.build.lambda_bundle import bundle_function
from lib.config import EnvironmentConfig
from lib.constructs.execution_role import FunctionNetwork, execution_role, trace_upload_statement
from lib.constructs.log_group import encrypted_log_group
from lib.lambda_runtime import ARCHITECTURE, RUNTIME
from lib.network_reachability import FUNCTION_PACKAGES

HANDLER = "handler.handler"
MEMORY_MB = 256
TRACING_MODE = "Active"
# A package without requirements is used as its folder is (bundle_function): leave the build's bytecode out.
EXCLUDED = ["__pycache__", "*.pyc"]


def function_log_group(
    scope: Construct, *, config: EnvironmentConfig, function_type: str, key: kms.IKey
) -> logs.LogGroup:
    """``/aws/lambda/{function_type}-{suffix}``, construct id ``LogGroup``: create it before the function."""
    name = f"/aws/lambda/{config.name(function_type)}"
    return encrypted_log_group(scope, "LogGroup", config=config, name=name, key=key)


class KitFunction(lambda_.Function):
    """``{function_type}-{suffix}`` running its package of ``FUNCTION_PACKAGES``.

    ``environment_key`` encrypts the environment variables; ``retry_attempts`` and ``dead_letter_queue``
    are the function's asynchronous-invocation settings: an invocation that failed every attempt goes
    to ``dead_letter_queue`` as its on-failure destination (``with_failure_destination``), so the
    queue gets Lambda's record of it (condition, error, event) instead of the bare event a
    DeadLetterConfig sends. Environment variables are given here, once:
    ``add_environment`` later would be missing from ``recreation``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        function_type: str,
        description: str,
        role: iam.IRole,
        log_group: logs.ILogGroup,
        network: FunctionNetwork,
        timeout: Duration,
        environment: Mapping[str, str] | None = None,
        environment_key: kms.IKey | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        retry_attempts: int | None = None,
        current_version_options: lambda_.VersionOptions | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            function_name=config.name(function_type),
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(bundle_function(FUNCTION_PACKAGES[function_type])), exclude=EXCLUDED),
            role=role,
            memory_size=MEMORY_MB,
            timeout=timeout,
            **network.placement(),
            log_group=log_group,
            retry_attempts=retry_attempts,
            environment_encryption=environment_key,
            environment=dict(environment) if environment else None,
            current_version_options=current_version_options,
        )
        # Active tracing on the CloudFormation resource, not with ``tracing=``: that would also write
        # CDK's own X-Ray statement into an inline default policy of the role. The upload permission
        # is this function's managed policy instead, whoever made the role.
        cfn_function = cast(lambda_.CfnFunction, self.node.default_child)
        cfn_function.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode=TRACING_MODE)
        iam.ManagedPolicy(
            self,
            "TracingPolicy",
            managed_policy_name=config.name(f"{function_type}-tracing"),
            description=f"Lets the X-Ray daemon of {config.name(function_type)} upload its traces",
            roles=[role],
            statements=[trace_upload_statement(config.region)],
        )
        configuration: dict[str, Any] = {
            "FunctionName": self.function_name,
            "Runtime": RUNTIME.name,
            "Role": role.role_arn,
            "Handler": HANDLER,
            "Timeout": timeout.to_seconds(),
            "MemorySize": MEMORY_MB,
            "Description": description,
            "Architectures": [ARCHITECTURE.name],
            "VpcConfig": {
                "SubnetIds": network.subnet_ids(),
                "SecurityGroupIds": [network.security_group.security_group_id],
            },
            "LoggingConfig": {"LogGroup": log_group.log_group_name},
            "TracingConfig": {"Mode": TRACING_MODE},
        }
        if environment:
            configuration["Environment"] = {"Variables": dict(environment)}
        if environment_key:
            configuration["KMSKeyArn"] = environment_key.key_arn
        if dead_letter_queue:
            with_failure_destination(self, dead_letter_queue, retry_attempts)
        code = cast(lambda_.CfnFunction.CodeProperty, cfn_function.code)
        if code.s3_bucket is None or code.s3_key is None:  # every kit function is an S3 asset
            raise ValueError(f"{self.node.path}: its code is not an S3 asset, so it cannot be exported")
        self.recreation = Recreation(
            configuration=configuration, package_bucket=code.s3_bucket, package_key=code.s3_key
        )


def with_failure_destination(
    target: lambda_.Function | lambda_.Alias, queue: sqs.IQueue, retry_attempts: int | None = None
) -> None:
    """``queue`` as the on-failure destination of ``target``'s asynchronous invocations (a function's
    $LATEST or an alias), set on its EventInvokeConfig: through CDK's ``on_failure`` the destination
    would also grant the role (the kit's roles carry ``failure_queue_statements`` instead)."""
    config = target.node.try_find_child("EventInvokeConfig")
    if config is None:
        config = lambda_.EventInvokeConfig(target, "EventInvokeConfig", function=target, retry_attempts=retry_attempts)
    cfn = cast(lambda_.CfnEventInvokeConfig, config.node.default_child)
    cfn.destination_config = lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
        on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=queue.queue_arn)
    )


@dataclass(frozen=True)
class Recreation:
    """What makes the function again: CreateFunction's configuration (GetFunction's field names, the
    values as tokens CloudFormation resolves) and its package, the CDK asset object it was deployed from."""

    configuration: Mapping[str, Any]
    package_bucket: str
    package_key: str

    @property
    def package_arn(self) -> str:
        return f"arn:aws:s3:::{self.package_bucket}/{self.package_key}"


@dataclass(frozen=True)
class FunctionWithRole:
    """A function with its own execution role, customer-managed policy and log group."""

    function: KitFunction
    role: iam.Role
    policy: iam.ManagedPolicy
    log_group: logs.LogGroup


def function_with_role(
    scope: Construct,
    *,
    config: EnvironmentConfig,
    function_type: str,
    description: str,
    role_description: str,
    statements: Sequence[iam.PolicyStatement],
    log_key: kms.IKey,
    network: FunctionNetwork,
    timeout: Duration,
    environment: Mapping[str, str] | None = None,
    environment_key: kms.IKey | None = None,
    dead_letter_queue: sqs.IQueue | None = None,
    retry_attempts: int | None = None,
) -> FunctionWithRole:
    """``LogGroup``, ``Role``, ``Policy`` (``statements`` plus what every function needs) and ``Function``
    under ``scope``. The function is created after its policy: Lambda creates a VPC function only once
    its role may manage network interfaces."""
    log_group = function_log_group(scope, config=config, function_type=function_type, key=log_key)
    role, policy = execution_role(
        scope,
        config=config,
        name=function_type,
        description=role_description,
        log_group=log_group,
        statements=statements,
        dead_letter_queue=dead_letter_queue,
    )
    function = KitFunction(
        scope,
        "Function",
        config=config,
        function_type=function_type,
        description=description,
        role=role,
        log_group=log_group,
        network=network,
        timeout=timeout,
        environment=environment,
        environment_key=environment_key,
        dead_letter_queue=dead_letter_queue,
        retry_attempts=retry_attempts,
    )
    function.node.add_dependency(policy)
    return FunctionWithRole(function, role, policy, log_group)
