"""Lambda: CloudFormation support (versions that can be referenced, aliases, dropped properties)
and function code that really runs (D2)."""

from __future__ import annotations

import base64
import inspect
import json
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from fnmatch import fnmatchcase
from types import FrameType
from typing import Any, ClassVar
from urllib.parse import unquote

from moto.awslambda.exceptions import (
    InvalidParameterValueException,
    LambdaClientError,
    UnknownEventConfig,
    UnknownFunctionException,
)
from moto.awslambda.models import EventInvokeConfig, LambdaAlias, LambdaBackend, LambdaFunction, LambdaVersion
from moto.awslambda.responses import LambdaResponse
from moto.awslambda.utils import get_backend
from moto.ec2.models import ec2_backends
from moto.iam.exceptions import NotFoundException as IAMNotFoundException
from moto.iam.models import Role, iam_backends
from moto.sns.models import Subscription
from moto.utilities.utils import get_partition

from ... import clock
from ...patches._support import ModelLogic, Properties, after_create, fix, install, register_model
from . import runtime as lambda_runtime

logger = logging.getLogger(__name__)


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
            f"{properties['FunctionName']}:{properties['Qualifier']}",
            {key: properties[key] for key in config_keys if key in properties},
        )
        return cls(properties["FunctionName"], properties["Qualifier"])

    @property
    def physical_resource_id(self) -> str:
        return f"{self.function_name}:{self.qualifier}"

    def delete(self, account_id: str, region_name: str) -> None:
        with suppress(UnknownFunctionException):
            get_backend(account_id, region_name).delete_function_event_invoke_config(self.physical_resource_id)


@fix("N11")
def add_event_invoke_config_model() -> None:
    """``AWS::Lambda::EventInvokeConfig`` has no moto model; the async-invoke settings are now
    stored for the function and qualifier the template names (Q15 keeps them per qualifier)."""
    register_model(EventInvokeConfigModel, "awslambda")


def _name_and_qualifier(function_name: str, qualifier: str | None) -> tuple[str, str]:
    """The function's name and the qualifier a name, partial or full ARN (with or without
    ``:qualifier``) and the Qualifier parameter give; ``$LATEST`` when neither names one."""
    name = function_name.split(":function:")[-1]
    base, _, named = name.partition(":")
    return base, named or qualifier or "$LATEST"


@fix("Q15")
def keep_event_invoke_configs_per_qualifier() -> None:
    """moto keeps one list of async-invoke settings per function: it ignores the ``Qualifier``
    parameter and a qualified FunctionName, appends on every put and answers the first one put. So a
    config put on the ``live`` alias also configured ``$LATEST``, and the one put last never showed.

    Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s) now keep one config per function and
    qualifier (``$LATEST`` when none is named), as Lambda does: put replaces, update changes only the
    settings it names, get and delete answer ResourceNotFoundException for a qualifier without one.
    ``lambda_runtime`` reads the config of the qualifier that was invoked.
    """

    def configs(backend: LambdaBackend, function_name: str, qualifier: str | None) -> tuple[dict[str, Any], str, str]:
        """The function's configs by qualifier, the qualifier chosen and its qualified ARN."""
        base, chosen = _name_and_qualifier(function_name, qualifier)
        backend.get_function(base, None if chosen == "$LATEST" else chosen)  # 404 for an unknown qualifier
        latest = backend.get_function(base)
        if not hasattr(latest, lambda_runtime.EVENT_INVOKE_CONFIGS):
            setattr(latest, lambda_runtime.EVENT_INVOKE_CONFIGS, {})
        return getattr(latest, lambda_runtime.EVENT_INVOKE_CONFIGS), chosen, f"{latest.function_arn}:{chosen}"

    def put(backend: LambdaBackend, function_name: str, config: dict[str, Any], qualifier: str | None = None) -> Any:
        stored, chosen, arn = configs(backend, function_name, qualifier)
        stored[chosen] = EventInvokeConfig(arn, clock.now().isoformat(), config)
        return stored[chosen].response()

    def update(backend: LambdaBackend, function_name: str, config: dict[str, Any], qualifier: str | None = None) -> Any:
        stored, chosen, _ = configs(backend, function_name, qualifier)
        previous = stored[chosen].config if chosen in stored else {}
        return put(backend, function_name, {**previous, **config}, qualifier)

    def get(backend: LambdaBackend, function_name: str, qualifier: str | None = None) -> Any:
        stored, chosen, arn = configs(backend, function_name, qualifier)
        if chosen not in stored:
            raise UnknownEventConfig(arn)
        return stored[chosen].response()

    def delete(backend: LambdaBackend, function_name: str, qualifier: str | None = None) -> None:
        stored, chosen, arn = configs(backend, function_name, qualifier)
        if stored.pop(chosen, None) is None:
            raise UnknownEventConfig(arn)

    def list_configs(backend: LambdaBackend, function_name: str) -> dict[str, Any]:
        stored, _, _ = configs(backend, function_name, None)
        return {"FunctionEventInvokeConfigs": [config.response() for config in stored.values()]}

    def answer(method: Callable[..., Any], status: int = 200) -> Callable[[LambdaResponse], Any]:
        """A response method that passes the path's function name, the body and ``Qualifier`` on."""

        def respond(response: LambdaResponse) -> Any:
            function_name = unquote(response.path.split("/functions/")[1].split("/")[0])
            qualifier = response.querystring.get("Qualifier", [None])[0]
            body = [response.json_body] if method in (put, update) else []
            result = method(response.backend, function_name, *body, qualifier)
            return status, {"status": status}, json.dumps(result or {})

        return respond

    install(LambdaBackend, "put_function_event_invoke_config", put)
    install(LambdaBackend, "update_function_event_invoke_config", update)
    install(LambdaBackend, "get_function_event_invoke_config", get)
    install(LambdaBackend, "delete_function_event_invoke_config", delete)
    install(LambdaBackend, "list_function_event_invoke_configs", list_configs)
    install(LambdaResponse, "put_function_event_invoke_config", answer(put))
    install(LambdaResponse, "update_function_event_invoke_config", answer(update))
    install(LambdaResponse, "get_function_event_invoke_config", answer(get))
    install(LambdaResponse, "delete_function_event_invoke_config", answer(delete, 204))


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


# Configuration blocks moto's Lambda does not model, returned as the template or request gave them.
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
    The settings of the template, of CreateFunction and of UpdateFunctionConfiguration are now kept
    and returned by GetFunction / GetFunctionConfiguration; the code runner (D2) logs to that group
    and dead-letters failed asynchronous events to that target."""
    original = LambdaFunction.get_configuration
    original_create = LambdaBackend.create_function
    original_update = LambdaFunction.update_configuration
    after_create(LambdaFunction, _remember_unmodelled_configuration)

    def get_configuration(function: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        return {**original(function, on_create), **getattr(function, "unmodelled_configuration", {})}

    def create_function(backend: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
        function = original_create(backend, spec)
        latest = backend.get_function(spec["FunctionName"])
        for stored in (latest,) if function is latest else (latest, function):
            _remember_unmodelled_configuration(stored, spec, backend.account_id, backend.region_name)
        return function

    def update_configuration(function: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        kept = getattr(function, "unmodelled_configuration", {})
        updates = {key: config_updates[key] for key in UNMODELLED_CONFIGURATION if key in config_updates}
        function.unmodelled_configuration = {**kept, **updates}  # type: ignore[attr-defined]
        return original_update(function, config_updates)

    install(LambdaFunction, "get_configuration", get_configuration)
    install(LambdaBackend, "create_function", create_function)
    install(LambdaFunction, "update_configuration", update_configuration)


def _set_kms_key(function: LambdaFunction, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    function.kms_key_arn = properties.get("KmsKeyArn")


@fix("F10")
def keep_lambda_kms_keys() -> None:
    """moto's ``AWS::Lambda::Function`` looks for ``KMSKeyArn`` (the API's spelling), so the
    template's ``KmsKeyArn`` (environment encryption key) was dropped. It is now kept."""
    after_create(LambdaFunction, _set_kms_key)


def _set_tracing_config(function: LambdaFunction, properties: dict[str, Any], account_id: str, region: str) -> None:
    function.tracing_config = properties.get("TracingConfig") or {"Mode": "PassThrough"}


@fix("F12")
def keep_lambda_tracing_config() -> None:
    """moto's ``AWS::Lambda::Function`` drops ``TracingConfig`` and UpdateFunctionConfiguration ignores
    it, so a function with active X-Ray tracing read back as ``PassThrough`` and was never traced. The
    template's and the update's mode are now kept; the code runner (D2) traces ``Active`` functions
    (services/xray/daemon.py)."""
    original_update = LambdaFunction.update_configuration
    after_create(LambdaFunction, _set_tracing_config)

    def update_configuration(function: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "TracingConfig" in config_updates:
            function.tracing_config = config_updates["TracingConfig"] or {"Mode": "PassThrough"}
        return original_update(function, config_updates)

    install(LambdaFunction, "update_configuration", update_configuration)


def _invoke(
    account_id: str,
    region_name: str,
    function: str,
    qualifier: str | None,
    body: str | bytes | None,
    request_headers: Any,
    response_headers: dict[str, Any],
) -> bytes:
    """The Invoke API on top of the code runner: Event answers at once and runs in the background,
    DryRun only checks, RequestResponse runs and reports the function error, version and log tail
    (moto's response drops the log unless LogType is Tail)."""
    invocation_type = request_headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    payload = body.encode() if isinstance(body, str) else body or b""
    lambda_runtime.runnable_function(account_id, region_name, function, qualifier)  # 404 or refusal first
    lambda_runtime.check_payload(payload)
    if invocation_type == "Event":
        lambda_runtime.start_event(account_id, region_name, function, payload, qualifier)
        return b""
    if invocation_type == "DryRun":
        return b""
    result = lambda_runtime.invoke(account_id, region_name, function, payload, qualifier)
    response_headers["x-amz-executed-version"] = result.executed_version
    response_headers["x-amz-log-result"] = base64.b64encode(result.log_tail.encode()).decode()
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    return result.payload


def _delivery(
    account_id: str,
    region_name: str,
    function: str,
    qualifier: str | None,
    body: str | bytes | None,
    request_headers: Any,
    response_headers: dict[str, Any],
) -> bytes:
    """An invocation moto makes itself (SQS event-source mappings, S3 and EventBridge notifications,
    secret rotation): a function that cannot run is a failed delivery, as in AWS, never an error of
    the API call that triggered it."""
    try:
        payload = _invoke(account_id, region_name, function, qualifier, body, request_headers, response_headers)
    except LambdaClientError as error:
        logger.warning("delivery to Lambda function %s failed: %s", function, error.message)
        response_headers["x-amz-function-error"] = "Unhandled"
        payload = json.dumps({"errorType": error.error_type, "errorMessage": error.message}).encode()
    response_headers["Content-Length"] = str(len(payload))
    return payload


def _sns_delivery(caller: FrameType | None) -> dict[str, Any]:
    """Topic, subscription, message id and attributes of the SNS delivery that called
    ``send_sns_message``: moto passes only the message and subject, so they are read from the
    calling ``Subscription.publish`` frame (empty if moto calls it from elsewhere)."""
    local = caller.f_locals if caller is not None else {}
    subscription = local.get("self")
    if not isinstance(subscription, Subscription):
        return {}
    return {
        "TopicArn": subscription.topic.arn,
        "SubscriptionArn": subscription.arn,
        "MessageId": local.get("message_id"),
        "MessageAttributes": local.get("message_attributes") or {},
    }


def _sns_event(message: str, subject: str | None, delivery: dict[str, Any]) -> dict[str, Any]:
    """The event SNS gives a subscribed function."""
    topic_arn = delivery.get("TopicArn", "arn:aws:sns:EXAMPLE")
    timestamp = clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": delivery.get("SubscriptionArn", f"{topic_arn}:subscription"),
                "Sns": {
                    "Type": "Notification",
                    "MessageId": delivery.get("MessageId") or str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": timestamp,
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "EXAMPLE",
                    "UnsubscribeUrl": "EXAMPLE",
                    "MessageAttributes": delivery.get("MessageAttributes", {}),
                },
            }
        ]
    }


@fix("D2")
def run_lambda_code() -> None:
    """moto runs function code only in Docker: without it every Invoke answers "error running
    docker", SNS and event-source deliveries never reach the code and nothing is logged.

    Invoke (and every moto path that invokes) now runs the deployed code through
    ``lambda_runtime`` (python runtimes, in child processes, Timeout enforced, output in the
    function's log group): RequestResponse returns the payload with X-Amz-Function-Error,
    X-Amz-Executed-Version and the log tail; Event returns 202 at once and runs with Lambda's
    retries, destinations and DLQ; DryRun returns 204; the Qualifier (version or alias), which moto
    ignored, is honoured. A lambda subscription of an SNS topic is invoked asynchronously with SNS's
    event. Other runtimes are refused (InvalidRuntimeException); in moto's own deliveries (event
    sources, notifications) that is a failed delivery, not an error of the triggering call.
    Execution environments stay warm between invocations, as in Lambda; updating or deleting a
    function ends its environments.
    """

    def backend_invoke(
        backend: LambdaBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        account_id, region_name = backend.account_id, backend.region_name
        return _delivery(account_id, region_name, function_name, qualifier, body, headers, response_headers)

    def function_invoke(function: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        account_id, region_name = function.account_id, function.region
        return _delivery(account_id, region_name, function.function_arn, None, body, request_headers, response_headers)

    def send_sns_message(
        backend: LambdaBackend,
        function_name: str,
        message: str,
        subject: str | None = None,
        qualifier: str | None = None,
    ) -> None:
        event = _sns_event(message, subject, _sns_delivery(inspect.currentframe().f_back))  # type: ignore[union-attr]
        payload = json.dumps(event).encode()
        lambda_runtime.start_event(backend.account_id, backend.region_name, function_name, payload, qualifier)

    def response_invoke(response: LambdaResponse) -> tuple[int, dict[str, str], str | bytes | None]:
        """moto's Invoke response, with the ``Qualifier`` query parameter it misses (it reads
        ``qualifier``, so an alias or version was ignored)."""
        function_name = unquote(response.path.rsplit("/", 2)[-2])
        qualifier = response.querystring.get("Qualifier", [None])[0]
        headers: dict[str, str] = {}
        backend = response.backend
        payload = _invoke(
            backend.account_id, backend.region_name, function_name, qualifier, response.body, response.headers, headers
        )
        headers["content-type"] = "application/json"
        status = {"Event": 202, "DryRun": 204}.get(response.headers.get("X-Amz-Invocation-Type") or "", 200)
        headers["status"] = str(status)  # moto's server takes the status from here
        if response.headers.get("X-Amz-Log-Type") != "Tail":
            headers.pop("x-amz-log-result", None)
        return status, headers, payload

    def retiring(method: Any, function_of: Callable[..., tuple[str, str, str]]) -> Callable[..., Any]:
        """``method``, after which the function's warm environments are not used again."""

        def changed(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            lambda_runtime.retire(*function_of(*args))
            return result

        return changed

    def of_function(function: LambdaFunction, *_: Any) -> tuple[str, str, str]:
        return function.account_id, function.region, function.function_name

    def of_name(backend: LambdaBackend, function_name: str, *_: Any) -> tuple[str, str, str]:
        name = function_name.split(":function:")[-1].split(":")[0]
        return backend.account_id, backend.region_name, name

    install(LambdaResponse, "invoke", response_invoke)
    install(LambdaBackend, "invoke", backend_invoke)
    install(LambdaFunction, "update_configuration", retiring(LambdaFunction.update_configuration, of_function))
    install(LambdaFunction, "update_function_code", retiring(LambdaFunction.update_function_code, of_function))
    install(LambdaBackend, "delete_function", retiring(LambdaBackend.delete_function, of_name))
    install(LambdaFunction, "invoke", function_invoke)
    install(LambdaBackend, "send_sns_message", send_sns_message)
    # What the clock runs (an alarm paging a topic with a lambda subscriber, say) finishes its
    # asynchronous Lambda runs before the clock moves on, so a tick's effects are complete.
    clock.CLOCK.run_actions_within(lambda_runtime.inline_async)


@fix("D30")
def serve_function_code_locations() -> None:
    """moto's GetFunction answers ``Code.Location`` as
    ``https://awslambda-<region>-tasks.s3.<region>.amazonaws.com/<key>``, which nothing serves: code
    that downloads a function's package (the function export) fails.

    ``Code.Location`` is now a URL of the emulator itself (``code_location``) that answers the version's
    deployment package, unsigned, as AWS's pre-signed URL does: one more URL path of moto's Lambda
    backend, so it works in ``serve`` and in the tests' in-process server alike. Image functions
    keep moto's answer.
    """
    import moto.awslambda.urls as lambda_urls

    from . import code_location as lambda_code

    original = LambdaFunction.get_code

    def get_code(function: LambdaFunction) -> dict[str, Any]:
        response = original(function)
        url = lambda_code.location(function)
        code = response.get("Code")
        if url and isinstance(code, dict) and code.get("RepositoryType") == "S3":
            code["Location"] = url
        return response

    install(LambdaFunction, "get_code", get_code)
    install(lambda_urls, "url_paths", {**lambda_urls.url_paths, lambda_code.ROUTE: lambda_code.serve})


# What Lambda does with the execution role of a VPC function to manage its network interfaces, and
# checks when the function is created or given a VPC (Lambda Developer Guide, "Giving Lambda
# functions access to resources in an Amazon VPC"), with the resource each call is on:
# DescribeNetworkInterfaces "only works if it's allowed on all resources".
VPC_ENI_ACTIONS = {
    "ec2:CreateNetworkInterface": "arn:aws:ec2:{region}:{account}:network-interface/*",
    "ec2:DescribeNetworkInterfaces": "*",
    "ec2:DeleteNetworkInterface": "arn:aws:ec2:{region}:{account}:network-interface/*",
}


def _identity_statements(role: Role) -> list[dict[str, Any]]:
    """The statements of the role's inline and attached managed policies, as they are at this moment."""
    documents = [*role.policies.values()]
    for policy in role.managed_policies.values():
        documents += [version.document for version in policy.versions if version.is_default]
    statements = []
    for document in documents:
        parsed = json.loads(document) if isinstance(document, str) else document
        found = parsed.get("Statement", [])
        statements += found if isinstance(found, list) else [found]
    return statements


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _covers(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Whether a statement names the action (IAM actions ignore case) and the resource, wildcards included."""
    actions = _as_list(statement.get("Action", statement.get("NotAction")))
    resources = _as_list(statement.get("Resource", statement.get("NotResource")))
    action_named = any(fnmatchcase(action.lower(), pattern.lower()) for pattern in actions)
    resource_named = any(fnmatchcase(resource, pattern) for pattern in resources)
    return action_named != ("NotAction" in statement) and resource_named != ("NotResource" in statement)


def role_allows(role: Role, action: str, resource: str) -> bool:
    """IAM's decision for one call of a role, from its identity policies only: an explicit Deny wins,
    otherwise an Allow is needed. Conditions are not evaluated (a conditional statement counts as
    unconditional); permission boundaries, SCPs and session policies are not modelled."""
    statements = [s for s in _identity_statements(role) if _covers(s, action, resource)]
    return not any(s["Effect"] == "Deny" for s in statements) and any(s["Effect"] == "Allow" for s in statements)


def _check_vpc_permissions(account_id: str, region_name: str, role_arn: str, vpc_config: Any) -> None:
    """Refuse, as Lambda does, a VPC configuration whose execution role cannot manage its ENIs now."""
    if not (vpc_config or {}).get("SubnetIds"):
        return
    try:
        role = iam_backends[account_id][get_partition(region_name)].get_role_by_arn(role_arn)
    except IAMNotFoundException:
        return  # moto refuses it itself: "The role defined for the function cannot be assumed by Lambda."
    for action, resource in VPC_ENI_ACTIONS.items():
        if not role_allows(role, action, resource.format(region=region_name, account=account_id)):
            raise InvalidParameterValueException(
                f"The provided execution role does not have permissions to call {action.split(':')[1]} on EC2"
            )


@fix("Q8")
def check_vpc_function_role_permissions() -> None:
    """moto creates a VPC function whatever its execution role may do.

    Lambda creates the function's network interfaces with that role and refuses CreateFunction (and
    an UpdateFunctionConfiguration that gives a VpcConfig or a new role to a VPC function) when the role lacks
    ec2:CreateNetworkInterface, ec2:DescribeNetworkInterfaces or ec2:DeleteNetworkInterface:
    InvalidParameterValueException "The provided execution role does not have permissions to call
    CreateNetworkInterface on EC2". So does the emulator now, from the role's inline and attached
    managed policies as they are at that moment: a stack that creates the function before the policy
    that grants these (no DependsOn) fails as it can on AWS."""
    original_create = LambdaBackend.create_function
    original_update = LambdaFunction.update_configuration

    def create_function(backend: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
        _check_vpc_permissions(backend.account_id, backend.region_name, spec.get("Role", ""), spec.get("VpcConfig"))
        return original_create(backend, spec)

    def update_configuration(function: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "VpcConfig" in config_updates or "Role" in config_updates:
            role = config_updates.get("Role", function.role)
            vpc_config = config_updates.get("VpcConfig", function._vpc_config)
            _check_vpc_permissions(function.account_id, function.region, role, vpc_config)
        return original_update(function, config_updates)

    install(LambdaBackend, "create_function", create_function)
    install(LambdaFunction, "update_configuration", update_configuration)
