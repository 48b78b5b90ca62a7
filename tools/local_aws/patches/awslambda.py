"""Lambda support for moto's CloudFormation: versions that can be referenced, aliases."""

from __future__ import annotations

from contextlib import suppress
from typing import Any, ClassVar

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaAlias, LambdaFunction, LambdaVersion
from moto.awslambda.utils import get_backend
from moto.ec2.models import ec2_backends

from ._support import ModelLogic, Properties, after_create, fix, install, register_model


def _remember_version_arn(
    version: LambdaVersion, properties: dict[str, Any], account_id: str, region_name: str
) -> None:
    backend = get_backend(account_id, region_name)
    function = backend.get_function(properties["FunctionName"], str(version.version))
    version.arn = function.function_arn  # type: ignore[attr-defined]


def _version_attribute(version: LambdaVersion, attribute_name: str) -> str:
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    if attribute_name != "Version":
        raise UnformattedGetAttTemplateException()
    return str(version.version)


@fix("N7")
def make_lambda_versions_referable() -> None:
    """moto's ``AWS::Lambda::Version`` publishes the version but supports neither ``Ref`` (the
    version ARN) nor ``Fn::GetAtt Version``, which CDK's alias and ``current_version`` use.

    The version now answers both. Versions are deleted with their function.
    """
    after_create(LambdaVersion, _remember_version_arn)
    install(LambdaVersion, "physical_resource_id", property(lambda version: version.arn))
    install(LambdaVersion, "has_cfn_attr", classmethod(lambda cls, attr: attr == "Version"))
    install(LambdaVersion, "get_cfn_attribute", _version_attribute)


class LambdaAliasModel(ModelLogic):
    """``AWS::Lambda::Alias``: a name pointing at a published version."""

    cfn_type: ClassVar[str] = "AWS::Lambda::Alias"

    cfn_attributes: ClassVar[dict[str, str]] = {"AliasArn": "alias.arn"}

    def __init__(self, alias: LambdaAlias, function_name: str):
        self.alias = alias
        self.function_name = function_name

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> LambdaAliasModel:
        alias = get_backend(account_id, region_name).create_alias(
            name=properties["Name"],
            function_name=properties["FunctionName"],
            function_version=str(properties["FunctionVersion"]),
            description=properties.get("Description", ""),
            routing_config=properties.get("RoutingConfig"),
        )
        return cls(alias, properties["FunctionName"])

    @property
    def physical_resource_id(self) -> str:
        return self.alias.arn

    def delete(self, account_id: str, region_name: str) -> None:
        with suppress(UnknownFunctionException):  # else deleted with its function
            get_backend(account_id, region_name).delete_alias(self.alias.name, self.function_name)


@fix("N8")
def add_lambda_alias_model() -> None:
    """``AWS::Lambda::Alias`` has no moto model; the alias (name, version) is now created and
    deleted (ProvisionedConcurrencyConfig is not emulated)."""
    register_model(LambdaAliasModel, "awslambda")


class EventInvokeConfigModel(ModelLogic):
    """``AWS::Lambda::EventInvokeConfig``: retries, event age and destinations of async invokes."""

    cfn_type: ClassVar[str] = "AWS::Lambda::EventInvokeConfig"

    def __init__(self, function_name: str, qualifier: str):
        self.function_name = function_name
        self.qualifier = qualifier

    @classmethod
    def create(
        cls, resource_name: str, properties: Properties, account_id: str, region_name: str
    ) -> EventInvokeConfigModel:
        config_keys = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
        get_backend(account_id, region_name).put_function_event_invoke_config(
            properties["FunctionName"], {key: properties[key] for key in config_keys if key in properties}
        )
        return cls(properties["FunctionName"], properties["Qualifier"])

    @property
    def physical_resource_id(self) -> str:
        return f"{self.function_name}:{self.qualifier}"

    def delete(self, account_id: str, region_name: str) -> None:
        with suppress(UnknownFunctionException):
            get_backend(account_id, region_name).delete_function_event_invoke_config(self.function_name)


@fix("N11")
def add_event_invoke_config_model() -> None:
    """``AWS::Lambda::EventInvokeConfig`` has no moto model; the function's async-invoke settings
    are now stored (moto keeps one per function, whatever the qualifier)."""
    register_model(EventInvokeConfigModel, "awslambda")


def _vpc_config(function: LambdaFunction) -> dict[str, Any] | None:
    config = function._vpc_config
    if not config:
        return None
    subnets = [ec2_backends[function.account_id][function.region].get_subnet(s) for s in config["SubnetIds"]]
    return {**config, "VpcId": subnets[0].vpc_id} if subnets else dict(config)


@fix("F8")
def report_lambda_vpc_ids() -> None:
    """moto's Lambda reports ``VpcConfig.VpcId`` as the placeholder ``vpc-123abc`` for every function
    with security groups; it now reports the VPC of the function's subnets."""
    install(LambdaFunction, "vpc_config", property(_vpc_config))


# Configuration blocks moto's Lambda does not model, returned as the template gave them.
UNMODELLED_CONFIGURATION = ("LoggingConfig", "DeadLetterConfig")


def _remember_unmodelled_configuration(
    function: LambdaFunction, properties: dict[str, Any], account_id: str, region_name: str
) -> None:
    function.unmodelled_configuration = {  # type: ignore[attr-defined]
        key: properties[key] for key in UNMODELLED_CONFIGURATION if key in properties
    }


@fix("F9")
def report_lambda_logging_and_dead_letter_config() -> None:
    """moto's Lambda drops ``LoggingConfig`` (the function's log group and format) and
    ``DeadLetterConfig``: a function seemed to log to ``/aws/lambda/<name>`` and to have no DLQ.
    The template's settings are now kept and returned by GetFunction / GetFunctionConfiguration
    (nothing is logged or dead-lettered: the code never runs)."""
    original = LambdaFunction.get_configuration
    after_create(LambdaFunction, _remember_unmodelled_configuration)

    def get_configuration(function: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        return {**original(function, on_create), **getattr(function, "unmodelled_configuration", {})}

    install(LambdaFunction, "get_configuration", get_configuration)


def _set_kms_key(function: LambdaFunction, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    function.kms_key_arn = properties.get("KmsKeyArn")


@fix("F10")
def keep_lambda_kms_keys() -> None:
    """moto's ``AWS::Lambda::Function`` looks for ``KMSKeyArn`` (the API's spelling), so the
    template's ``KmsKeyArn`` (environment encryption key) was dropped. It is now kept."""
    after_create(LambdaFunction, _set_kms_key)
