"""Fixes to moto's CloudFormation engine (template URLs, nested stacks, change sets, failures)."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode, urlparse

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.custom_model import CustomModel
from moto.cloudformation.exceptions import CloudFormationError, UnformattedGetAttTemplateException, ValidationError
from moto.core.responses import ActionResult, EmptyResult
from moto.moto_api._internal import mock_random
from moto.s3.models import s3_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.ssm.models import ssm_backends

from ...patches._support import fix, install
from ...server import ENDPOINT_ENV
from ..awslambda import runtime as lambda_runtime

logger = logging.getLogger(__name__)


@fix("R1")
def parse_local_template_urls() -> None:
    """moto reads a TemplateURL as path-style only if it contains "localhost".

    The CDK CLI sends ``http://127.0.0.1:<port>/<bucket>/<key>``, which moto takes as bucket "127"
    (NoSuchBucket). Any host not under amazonaws.com is now read path-style. moto imports the
    function by name into three modules, so all three names are replaced.
    """
    original = cfn_utils.get_stack_from_s3_url

    def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
        url = urlparse(template_url)
        if url.hostname and url.hostname.endswith("amazonaws.com"):
            return original(template_url, account_id, partition)
        bucket_name, key_name = url.path.lstrip("/").split("/", 1)
        key = s3_backends[account_id][partition].get_object(bucket_name, key_name)
        return key.value.decode("utf-8")  # type: ignore[union-attr]

    for module in (cfn_utils, cfn_models, cfn_responses):
        install(module, "get_stack_from_s3_url", get_stack_from_s3_url)


@fix("R2")
def answer_nested_stack_outputs() -> None:
    """``Fn::GetAtt [NestedStack, Outputs.X]`` fails: moto's Stack has no ``get_cfn_attribute``.

    The parent's ExecuteChangeSet then dies with an AttributeError halfway through (only the first
    nested stacks exist). The nested stack now answers ``Outputs.<key>`` from its output map.
    """

    def get_cfn_attribute(stack: cfn_models.Stack, attribute_name: str) -> Any:
        prefix = "Outputs."
        key = attribute_name[len(prefix) :]
        if not attribute_name.startswith(prefix) or key not in stack.output_map.outputs:
            raise UnformattedGetAttTemplateException()
        output = stack.output_map[key]
        if output is None:
            raise ValidationError(stack.name, f"Output {key} of stack {stack.name} has no value")
        return output.value

    install(cfn_models.Stack, "get_cfn_attribute", get_cfn_attribute)


def _register_exports(stack: cfn_models.Stack) -> None:
    """Replace the exports this stack registered in its backend by the ones it declares now."""
    backend = cfn_models.cloudformation_backends[stack.account_id][stack.region_name]
    for name, export in list(backend.exports.items()):
        if export.exporting_stack_id == stack.stack_id:
            del backend.exports[name]
    backend._validate_export_uniqueness(stack)
    for export in stack.exports:
        backend.exports[export.name] = export


@fix("R3")
def refresh_outputs_after_change_set() -> None:
    """Stacks deployed through a change set have no Outputs and take part in no exports.

    CreateChangeSet creates the stack with an empty template and without the region's exports;
    applying the change set only updates its resources, so ``template_dict`` and ``output_map`` stay
    empty (``cdk deploy --outputs-file`` writes ``{}``) and ``Fn::ImportValue`` finds nothing. The
    stack now sees the exports while its resources are made, and afterwards takes the change set's
    template, parameters, outputs and exports.
    """
    original_apply = cfn_models.ChangeSet.apply

    def apply(change_set: cfn_models.ChangeSet) -> None:
        stack = change_set.stack
        exports = cfn_models.cloudformation_backends[stack.account_id][stack.region_name].exports
        stack.cross_stack_resources = stack.resource_map.cross_stack_resources = exports
        original_apply(change_set)
        stack.template = change_set.template
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.parameters = change_set.parameters
        stack.output_map = stack._create_output_map()
        _register_exports(stack)

    install(cfn_models.ChangeSet, "apply", apply)


@dataclass(frozen=True)
class CustomResourceHandler:
    """What the emulator does instead of invoking a custom resource's provider Lambda."""

    on_create: Callable[[dict[str, Any], str, str], None] | None = None
    on_delete: Callable[[dict[str, Any], str, str], None] | None = None


# Custom resource type -> emulated effect; other service modules add entries. These are the
# providers the emulator cannot run (CDK's Node.js ones); every other custom resource runs the
# Python function its ServiceToken names.
CUSTOM_RESOURCE_HANDLERS: dict[str, CustomResourceHandler] = {}

# CloudFormation's default (and longest) wait for a custom resource's answer, in seconds.
DEFAULT_SERVICE_TIMEOUT_SECONDS = 3600.0
# How long an answer may come after the provider's own timeout: process start and the round trip.
PROVIDER_RUN_MARGIN_SECONDS = 30.0


class CustomResourceFailed(Exception):
    """A custom resource's provider answered FAILED, did not answer, or cannot run in the emulator."""


@dataclass
class _PendingRequest:
    """A request sent to a provider, waiting for the answer PUT to its ResponseURL."""

    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] | None = None


# RequestId -> the request waiting for its answer; the ResponseURL route fills it in.
_PENDING: dict[str, _PendingRequest] = {}


def _is_custom_resource(resource_type: str) -> bool:
    return resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource"


def _as_strings(value: Any) -> Any:
    """Properties as a provider receives them: CloudFormation passes scalars as strings."""
    if isinstance(value, dict):
        return {key: _as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_strings(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _provider(resource: Any, token: Any, account_id: str, region_name: str) -> LambdaFunction:
    """The Lambda function a ServiceToken names, if the emulator can run it."""
    where = f"{resource.resource_type} {resource.logical_id}"
    if not isinstance(token, str) or ":sns:" in token:
        raise CustomResourceFailed(
            f"{where}: ServiceToken {token} is not a Lambda function (SNS-backed custom resources are not emulated)"
        )
    try:
        return lambda_runtime.runnable_function(account_id, region_name, token)
    except LambdaClientError as error:
        raise CustomResourceFailed(f"{where}: ServiceToken {token}: {error.message}") from error


def _send_request(
    resource: Any, request_type: str, properties: dict[str, Any], account_id: str, region_name: str, **fields: Any
) -> dict[str, Any]:
    """Invoke the provider with CloudFormation's request and wait for the answer it PUTs to the
    ResponseURL (served by the emulator): at most ServiceTimeout, and no longer than the provider's
    own run can last. Returns a SUCCESS answer; anything else raises CustomResourceFailed."""
    token = properties.get("ServiceToken")
    function = _provider(resource, token, account_id, region_name)
    request_id = str(uuid.uuid4())
    query = urlencode({"stack": resource.stack_id, "request": request_id})
    request = {
        "RequestType": request_type,
        "ServiceToken": token,
        "ResponseURL": f"{os.environ.get(ENDPOINT_ENV, '')}/cloudformation_{region_name}/cfnresponse?{query}",
        "StackId": resource.stack_id,
        "RequestId": request_id,
        "LogicalResourceId": resource.logical_id,
        "ResourceType": resource.resource_type,
        "ResourceProperties": _as_strings(properties),
        **fields,
    }
    pending = _PENDING[request_id] = _PendingRequest()
    runs: list[lambda_runtime.InvocationResult | Exception] = []

    def run() -> None:
        try:
            runs.append(lambda_runtime.invoke(account_id, region_name, str(token), json.dumps(request).encode()))
        except Exception as error:
            runs.append(error)
        finally:
            pending.done.set()

    service_timeout = float(properties.get("ServiceTimeout") or DEFAULT_SERVICE_TIMEOUT_SECONDS)
    wait = min(service_timeout, float(function.timeout) + PROVIDER_RUN_MARGIN_SECONDS)
    worker = threading.Thread(target=run, name=f"custom-resource-{resource.logical_id}", daemon=True)
    try:
        worker.start()
        pending.done.wait(wait)
        if pending.answer is not None:  # let the run end, its log written, before the stack goes on
            worker.join(float(function.timeout) + PROVIDER_RUN_MARGIN_SECONDS)
    finally:
        _PENDING.pop(request_id, None)
    if pending.answer is None:
        raise CustomResourceFailed(_no_answer_reason(runs, wait))
    return _checked_answer(pending.answer, request_id)


def _no_answer_reason(runs: list[lambda_runtime.InvocationResult | Exception], waited: float) -> str:
    """Why no answer came, with what the provider's run tells about it."""
    lead = "CloudFormation did not receive a response from your Custom Resource"
    if not runs:
        return f"{lead} within {waited:g} seconds."
    run = runs[0]
    if isinstance(run, Exception):
        return f"{lead}: the provider could not be invoked: {run}"
    where = f"log group {run.log_group}, log stream {run.log_stream}"
    if run.function_error:
        error = json.loads(run.payload or b"{}")
        return f"{lead}: the function failed ({error.get('errorType')}: {error.get('errorMessage')}); see {where}."
    return f"{lead}: the function returned without answering the ResponseURL; see {where}."


def _checked_answer(answer: dict[str, Any], request_id: str) -> dict[str, Any]:
    status = answer.get("Status")
    if status == "FAILED":
        raise CustomResourceFailed(
            f"Received response status [FAILED] from custom resource. Message returned: "
            f"{answer.get('Reason', '')} (RequestId: {request_id})"
        )
    if status != "SUCCESS":
        raise CustomResourceFailed(f"Invalid response object: Status must be SUCCESS or FAILED, not {status!r}")
    if not answer.get("PhysicalResourceId"):
        raise CustomResourceFailed("Invalid PhysicalResourceId")
    if not isinstance(answer.get("Data") or {}, dict):
        raise CustomResourceFailed("Invalid response object: Data must be a JSON object")
    return answer


def _physical_id(resource: Any) -> str:
    """The id the provider answered; moto's generated name for types the emulator stands in for."""
    return str(getattr(resource, "physical_id", resource.resource_name))


def _store_answer(resource: Any, answer: dict[str, Any]) -> None:
    resource.physical_id = str(answer["PhysicalResourceId"])
    resource.set_data(answer.get("Data") or {})


@fix("Q18")
def delete_resources_in_reverse_dependency_order() -> None:
    """moto deletes a stack's resources walking a set, so the order changes from run to run, and
    retries what failed. CloudFormation deletes a resource only after everything that depends on it
    (the reverse of the creation order). With moto's order the parent stack deleted the network
    layer's nested stack before the resilience layer's, now and then: the vault cleanup, a VPC
    function, could then not run ("InvalidSubnetID.NotFound") and the destroy failed. Resources are
    now deleted in the reverse of ``creation_order``; a failure still gets a second pass (moto's
    retry), after the others.
    """

    def delete_in_reverse_dependency_order(resource_map: parsing.ResourceMap) -> None:
        templates = resource_map._resource_json_map
        remaining = [
            name for name in reversed(creation_order(templates)) if templates[name].get("DeletionPolicy") != "Retain"
        ]
        failure: Exception | None = None
        while remaining:
            failed = []
            for logical_id in remaining:
                resource = resource_map._parsed_resources.get(logical_id)
                if resource is None or isinstance(resource, str):
                    continue
                try:
                    resource_map._delete_resource(resource, templates[logical_id])
                except Exception as error:  # moto retries what failed after the others
                    failed.append(logical_id)
                    failure = error
                else:
                    resource_map._parsed_resources.pop(logical_id)
            if len(failed) == len(remaining) and failure is not None:
                raise failure
            remaining = failed

    install(parsing.ResourceMap, "delete", delete_in_reverse_dependency_order)


@fix("R4")
def run_custom_resource_providers() -> None:
    """moto runs a ``Custom::`` resource's provider Lambda in Docker and waits for its answer.

    Without Docker the resource never completes: its nested stack stays CREATE_IN_PROGRESS (the
    parent still says CREATE_COMPLETE) and the provider's log group leaks. Now CloudFormation's
    Create, Update and Delete requests run the provider's code (``lambda_runtime``) and wait for
    the answer at the ResponseURL, served by the emulator: SUCCESS stores PhysicalResourceId and
    Data (for ``Fn::GetAtt``); FAILED, or no answer when the run ends or ServiceTimeout passes,
    fails the resource with the reason. Custom resources are deleted before the rest of their
    stack, so the provider still exists, and
    ``AWS::CloudFormation::CustomResource`` is one too. Types in ``CUSTOM_RESOURCE_HANDLERS`` (Node.js
    providers, which the emulator cannot run) get their emulated effect instead; any other provider
    that is not a python function fails the resource, naming its runtime.
    """
    original_class_from_type = parsing.resource_class_from_type
    original_delete = parsing.ResourceMap.delete
    original_diff = parsing.ResourceMap.build_resource_diff

    def create_from_cloudformation_json(
        cls: type[CustomModel],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CustomModel:
        resource: Any = cls(region_name, str(mock_random.uuid4()), kwargs["LogicalId"], resource_name)
        resource.resource_type = kwargs["ResourceType"]
        resource.properties = cloudformation_json["Properties"]
        resource.stack_id = kwargs["StackId"]
        handler = CUSTOM_RESOURCE_HANDLERS.get(resource.resource_type)
        if handler is None:
            _store_answer(resource, _send_request(resource, "Create", resource.properties, account_id, region_name))
        else:
            resource.set_data({})
            if handler.on_create:
                handler.on_create(resource.properties, account_id, region_name)
        backend = cfn_models.cloudformation_backends[account_id][region_name]
        backend.get_stack(kwargs["StackId"]).add_custom_resource(resource)
        return resource

    def update_from_cloudformation_json(
        cls: type[CustomModel],
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CustomModel:
        """An Update request; a new PhysicalResourceId makes CloudFormation delete the old one."""
        resource = original_resource
        old_properties, old_id = resource.properties, _physical_id(resource)
        properties = cloudformation_json["Properties"]
        if resource.resource_type in CUSTOM_RESOURCE_HANDLERS:
            resource.properties = properties
            return resource
        answer = _send_request(
            resource,
            "Update",
            properties,
            account_id,
            region_name,
            PhysicalResourceId=old_id,
            OldResourceProperties=_as_strings(old_properties),
        )
        resource.properties = properties  # only now: a failed update leaves the resource as it was
        _store_answer(resource, answer)
        if resource.physical_id != old_id:
            try:
                _send_request(resource, "Delete", old_properties, account_id, region_name, PhysicalResourceId=old_id)
            except CustomResourceFailed:  # CloudFormation's clean-up ignores failures too
                logger.warning("deleting the replaced %s %s failed", resource.resource_type, old_id, exc_info=True)
        return resource

    def delete(resource: Any, account_id: str, region_name: str) -> None:
        handler = CUSTOM_RESOURCE_HANDLERS.get(resource.resource_type)
        if handler is None:
            physical_id = _physical_id(resource)
            _send_request(
                resource, "Delete", resource.properties, account_id, region_name, PhysicalResourceId=physical_id
            )
        elif handler.on_delete:
            handler.on_delete(resource.properties, account_id, region_name)

    def resource_class_from_type(resource_type: str) -> Any:
        if resource_type == "AWS::CloudFormation::CustomResource":
            return CustomModel
        return original_class_from_type(resource_type)

    def delete_custom_resources_first(resource_map: parsing.ResourceMap) -> None:
        templates = resource_map._resource_json_map
        for logical_id, resource in reversed(list(resource_map._parsed_resources.items())):
            template = templates.get(logical_id, {})
            if isinstance(resource, CustomModel) and template.get("DeletionPolicy") != "Retain":
                resource_map._delete_resource(resource, template)
                del resource_map._parsed_resources[logical_id]
        original_delete(resource_map)

    def build_resource_diff(
        resource_map: parsing.ResourceMap, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resources an update removes: custom resources first, for the same reason."""
        diff = original_diff(resource_map, other_template, parameters)
        types = {name: spec.get("Type", "") for name, spec in resource_map._resource_json_map.items()}
        diff["Remove"].sort(key=lambda name: not _is_custom_resource(types.get(name, "")))
        return diff

    def process_cfn_response(response: cfn_responses.CloudFormationResponse) -> tuple[int, dict[str, Any], str]:
        """The ResponseURL: hand the provider's answer to the request waiting for it."""
        pending = _PENDING.get(response.querystring.get("request", [""])[0])
        if pending is None:
            return 404, {}, "No custom resource request is waiting for this response."
        try:
            answer = json.loads(response.body or "")
        except ValueError:
            answer = None
        if pending.answer is None:  # the first answer counts
            pending.answer = answer if isinstance(answer, dict) else {"Status": "not a JSON object"}
        pending.done.set()
        return 200, {}, ""

    install(CustomModel, "create_from_cloudformation_json", classmethod(create_from_cloudformation_json))
    install(CustomModel, "update_from_cloudformation_json", classmethod(update_from_cloudformation_json))
    install(CustomModel, "delete", delete)
    install(CustomModel, "physical_resource_id", property(_physical_id))
    install(parsing, "resource_class_from_type", resource_class_from_type)
    install(parsing.ResourceMap, "delete", delete_custom_resources_first)
    install(parsing.ResourceMap, "build_resource_diff", build_resource_diff)
    install(cfn_responses.CloudFormationResponse, "process_cfn_response", process_cfn_response)


def _failure_reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _roll_back(stack: cfn_models.Stack, error: Exception) -> None:
    """Delete what a failed creation made, as CloudFormation's default rollback does."""
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack._add_stack_event(stack.status, resource_status_reason=_failure_reason(error))
    try:
        stack.resource_map.delete()
    except Exception as error:
        stack.status = "ROLLBACK_FAILED"
        stack._add_stack_event("ROLLBACK_FAILED", resource_status_reason=_failure_reason(error))
        return
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")


@fix("V1")
def report_failed_stack_creation() -> None:
    """A failing ExecuteChangeSet returns HTTP 500 and leaves the stack looking healthy.

    The SDK retries, the retry finds nothing left to do and the CLI prints success over a
    half-created app; what was created stays behind. Now a stack whose creation fails is rolled
    back (ROLLBACK_IN_PROGRESS with the error, its resources deleted, ROLLBACK_COMPLETE, which the
    CLI reports and replaces on the next deploy); ExecuteChangeSet returns 200 as in AWS. A failed
    nested stack is rolled back, removed like a deleted stack and its error passed to the parent.
    A failed update is reported (UPDATE_ROLLBACK_FAILED), not rolled back.
    """
    original_create_resources = cfn_models.Stack.create_resources
    original_create_nested = cfn_models.Stack.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    original_execute = cfn_models.CloudFormationBackend.execute_change_set

    def create_resources(stack: cfn_models.Stack) -> None:
        try:
            original_create_resources(stack)
        except Exception as error:
            _roll_back(stack, error)
            raise

    def create_nested_stack(
        cls: type[cfn_models.Stack],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> cfn_models.Stack:
        try:
            return original_create_nested(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        except Exception:
            backend = cfn_models.cloudformation_backends[account_id][region_name]
            for stack in list(backend.stacks.values()):
                if stack.name == resource_name and stack.status == "ROLLBACK_COMPLETE":
                    backend.deleted_stacks[stack.stack_id] = backend.stacks.pop(stack.stack_id)
            raise

    def execute_change_set(
        backend: cfn_models.CloudFormationBackend,
        change_set_name: str,
        stack_name: str | None = None,
    ) -> None:
        change_set = cast(cfn_models.ChangeSet, backend.describe_change_set(change_set_name))  # raises if unknown
        try:
            original_execute(backend, change_set_name, stack_name)
        except Exception as error:
            logger.exception("executing change set %s failed", change_set_name)
            change_set.execution_status = "EXECUTE_FAILED"
            stack = backend.stacks[change_set.stack_id]
            if change_set.change_set_type == "CREATE":
                _roll_back(stack, error)
            else:
                stack.status = "UPDATE_ROLLBACK_FAILED"
                stack._add_stack_event(stack.status, resource_status_reason=_failure_reason(error))

    install(cfn_models.Stack, "create_resources", create_resources)
    install(cfn_models.Stack, "create_from_cloudformation_json", classmethod(create_nested_stack))
    install(cfn_models.CloudFormationBackend, "execute_change_set", execute_change_set)


def _live_stack(backend: cfn_models.CloudFormationBackend, name_or_stack_id: str) -> cfn_models.Stack | None:
    """The stack (not yet deleted) that DeleteStack's StackName names: by name or by id."""
    return next((s for s in backend.stacks.values() if name_or_stack_id in (s.stack_id, s.name)), None)


@fix("V2")
def report_failed_stack_deletion() -> None:
    """DeleteStack loses errors: the stack is removed before its resources are deleted.

    A resource that cannot be deleted (e.g. DependencyViolation) makes DeleteStack fail, but the
    stack is already gone, so the parent's retry finds nothing and ``cdk destroy`` reports success
    while resources remain. Now the stack is removed only after all its resources are deleted;
    otherwise it stays, DELETE_FAILED with the reason. Nested stacks pass the error to the parent
    (whose delete loop retries them); the DeleteStack API returns 200 as in AWS and the CLI reads
    DELETE_FAILED from the stack status.
    """

    def delete_stack(backend: cfn_models.CloudFormationBackend, name_or_stack_id: str) -> None:
        stack = _live_stack(backend, name_or_stack_id)
        if stack is None:
            return
        try:
            stack.delete()
        except Exception as error:
            stack.status = "DELETE_FAILED"
            stack._add_stack_event("DELETE_FAILED", resource_status_reason=_failure_reason(error))
            raise
        for export in stack.exports:
            backend.exports.pop(export.name, None)
        backend.stacks.pop(stack.stack_id)
        backend.deleted_stacks[stack.stack_id] = stack

    def delete_stack_response(response: cfn_responses.CloudFormationResponse) -> EmptyResult:
        try:
            response.cloudformation_backend.delete_stack(response._get_param("StackName"))
        except Exception:
            logger.exception("deleting stack %s failed", response._get_param("StackName"))
        return EmptyResult()

    install(cfn_models.CloudFormationBackend, "delete_stack", delete_stack)
    install(cfn_responses.CloudFormationResponse, "delete_stack", delete_stack_response)


def _update_termination_protection(response: cfn_responses.CloudFormationResponse) -> ActionResult:
    (stack,) = response.cloudformation_backend.describe_stacks(response._get_param("StackName"))
    stack.enable_termination_protection = bool(response._get_bool_param("EnableTerminationProtection"))
    return ActionResult({"StackId": stack.stack_id})


@fix("R14")
def protect_stacks_from_termination() -> None:
    """moto has no UpdateTerminationProtection (HTTP 500), which the CDK CLI calls to deploy a stack
    with ``terminationProtection``, and DeleteStack ignores the flag.

    UpdateTerminationProtection now sets it (DescribeStacks reports it), and DeleteStack of a
    protected stack fails with AWS's ValidationError "Stack [name] cannot be deleted while
    TerminationProtection is enabled", before anything is deleted.
    """
    delete_stack = cfn_responses.CloudFormationResponse.delete_stack

    def delete_unless_protected(response: cfn_responses.CloudFormationResponse) -> ActionResult:
        stack = _live_stack(response.cloudformation_backend, response._get_param("StackName"))
        if stack is not None and stack.enable_termination_protection:
            raise ValidationError(
                message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled"
            )
        return delete_stack(response)

    install(cfn_responses.CloudFormationResponse, "update_termination_protection", _update_termination_protection)
    install(cfn_responses.CloudFormationResponse, "delete_stack", delete_unless_protected)


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFoundException"  # the model's shape id; sent as ChangeSetNotFound, HTTP 404


def _change_sets(backend: cfn_models.CloudFormationBackend, name: str, stack: str | None) -> list[str]:
    """ARNs of the change sets ``name`` (an ARN, or a name within ``stack``) refers to."""
    return [
        arn
        for arn, change_set in backend.change_sets.items()
        if name == arn
        or (name == change_set.change_set_name and stack in (None, change_set.stack_name, change_set.stack_id))
    ]


@fix("R12")
def find_change_sets_like_cloudformation() -> None:
    """moto looks change sets up by name across all stacks, fails DeleteChangeSet of a missing one
    with HTTP 500 (UnboundLocalError) and answers DescribeChangeSet of a missing one with
    ValidationError.

    Before every update the CDK CLI deletes ``cdk-deploy-change-set`` "if it exists" and waits for
    ChangeSetNotFound, so a deploy with changes hung for 40 s of SDK retries and then failed. Change
    sets are now found by ARN, or by name within the given stack; deleting a missing one succeeds and
    describing one raises ChangeSetNotFound, as in CloudFormation.
    """

    def delete_change_set(response: cfn_responses.CloudFormationResponse) -> EmptyResult:
        backend = response.cloudformation_backend
        for arn in _change_sets(backend, response._get_param("ChangeSetName"), response._get_param("StackName")):
            del backend.change_sets[arn]
        return EmptyResult()

    def describe_change_set(response: cfn_responses.CloudFormationResponse) -> ActionResult:
        backend = response.cloudformation_backend
        name = response._get_param("ChangeSetName")
        found = _change_sets(backend, name, response._get_param("StackName"))
        if not found:
            raise ChangeSetNotFound(f"ChangeSet [{name}] does not exist")
        return ActionResult(backend.change_sets[found[-1]])

    install(cfn_responses.CloudFormationResponse, "delete_change_set", delete_change_set)
    install(cfn_responses.CloudFormationResponse, "describe_change_set", describe_change_set)


def _previous_ssm_inputs(stack: cfn_models.Stack, template: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters with SSM-typed ones given back as their previous input (the parameter name)."""
    kept = dict(parameters)
    for key, spec in (cfn_models.Stack.parse_template(template).get("Parameters") or {}).items():
        resolved = stack.stack_parameters.get(key)
        if spec.get("Type", "").startswith("AWS::SSM::Parameter::") and kept.get(key) == resolved:
            previous = stack.resource_map.input_parameters.get(key)
            if previous is None:
                del kept[key]  # the template's default, the parameter name, applies again
            else:
                kept[key] = previous
    return kept


@fix("R13")
def keep_ssm_parameter_names_on_update() -> None:
    """On an update with UsePreviousValue, moto passes an SSM-typed parameter's resolved value where
    the SSM parameter's name belongs.

    CDK's ``BootstrapVersion`` (``AWS::SSM::Parameter::Value<String>``) then resolves ``"33"`` as a
    parameter name and every deploy with changes fails (``'NoneType' object has no attribute
    'value'``). The previous input (or the template default) is now passed on.
    """
    original = cfn_models.CloudFormationBackend.create_change_set

    def create_change_set(
        backend: cfn_models.CloudFormationBackend,
        stack_name: str,
        change_set_name: str,
        template: str,
        parameters: dict[str, str],
        description: str,
        change_set_type: str,
        **kwargs: Any,
    ) -> tuple[str, str]:
        if change_set_type == "UPDATE":
            parameters = _previous_ssm_inputs(backend.get_stack(stack_name), template, parameters)
        return original(
            backend, stack_name, change_set_name, template, parameters, description, change_set_type, **kwargs
        )

    install(cfn_models.CloudFormationBackend, "create_change_set", create_change_set)


# Resource types deployed without any emulation, each with the reason it is acceptable.
ACCEPTED_WITHOUT_MODEL = {
    "AWS::CDK::Metadata": "CDK's analytics metadata; no AWS resource behind it",
}


@fix("V3")
def reject_unsupported_resource_types() -> None:
    """moto skips resource types it has no model for with only a Python warning.

    The stack still reaches CREATE_COMPLETE, so a deploy "succeeds" without alarms, policies or
    backups. Now an unsupported type fails the stack with a message naming it; the few types that
    need no emulation (``ACCEPTED_WITHOUT_MODEL``) are skipped on purpose.
    """
    original = parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        resource_class = original(resource_type)
        if (
            resource_class is None
            and resource_type not in parsing.NULL_MODELS
            and resource_type not in ACCEPTED_WITHOUT_MODEL
        ):
            raise ValidationError(
                message=f"Resource type {resource_type} is not supported by the local AWS emulator "
                "(tools/local_aws): add a model for it or accept it in ACCEPTED_WITHOUT_MODEL"
            )
        return resource_class

    install(parsing, "resource_class_from_type", resource_class_from_type)


DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:(secretsmanager|ssm):([^}]+)\}\}")


def _resolve_secret_reference(reference: str, account_id: str, region_name: str) -> str:
    """Value of ``secret-id:SecretString:json-key:version-stage:version-id`` (trailing parts optional)."""
    parts = reference.split(":")
    # A secret ARN (arn:aws:secretsmanager:region:account:secret:name) holds 6 colons itself.
    id_length = 7 if parts[0] == "arn" else 1
    secret_id = ":".join(parts[:id_length])
    _, json_key, version_stage, version_id = (parts[id_length:] + [""] * 4)[:4]
    backend = secretsmanager_backends[account_id][region_name]
    stage_or_id: dict[str, Any] = {"version_id": version_id or None, "version_stage": version_stage or None}
    value = backend.get_secret_value(secret_id, **stage_or_id)["SecretString"]
    return json.loads(value)[json_key] if json_key else value


def _resolve_ssm_reference(reference: str, account_id: str, region_name: str) -> str:
    parameter = ssm_backends[account_id][region_name].get_parameter(reference)
    if parameter is None:
        raise ValidationError(message=f"SSM parameter {reference} referenced by a template does not exist")
    return parameter.value


def _resolve_dynamic_references(value: Any, account_id: str, region_name: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_dynamic_references(v, account_id, region_name) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_dynamic_references(v, account_id, region_name) for v in value]
    if not isinstance(value, str) or "{{resolve:" not in value:
        return value
    resolvers = {"secretsmanager": _resolve_secret_reference, "ssm": _resolve_ssm_reference}
    return DYNAMIC_REFERENCE.sub(
        lambda match: resolvers[match.group(1)](match.group(2), account_id, region_name), value
    )


@fix("Q6")
def resolve_dynamic_references() -> None:
    """moto passes ``{{resolve:secretsmanager:...}}`` and ``{{resolve:ssm:...}}`` on literally.

    The Aurora cluster's master user name and password would be the reference strings. Dynamic
    references in resource properties are now resolved after the intrinsic functions.
    """
    original = parsing.parse_resource

    def parse_resource(resource_json: dict[str, Any], resources_map: parsing.ResourceMap) -> Any:
        parsed = original(resource_json, resources_map)
        if parsed is None:
            return None
        resource_class, cleaned_json, resource_type = parsed
        resolved = _resolve_dynamic_references(cleaned_json, resources_map._account_id, resources_map._region_name)
        return resource_class, resolved, resource_type

    install(parsing, "parse_resource", parse_resource)


SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def _referenced(value: Any) -> set[str]:
    """Names a resource's JSON refers to: Ref, Fn::GetAtt (both forms) and Fn::Sub's ${Name} / ${Name.Attr}
    (minus the variables Fn::Sub defines itself). Parameters and pseudo parameters are among them."""
    if isinstance(value, list):
        return set().union(*(_referenced(inner) for inner in value))
    if not isinstance(value, dict):
        return set()
    if "Ref" in value:
        return {str(value["Ref"])}
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return {str(target[0]) if isinstance(target, list) else str(target).split(".")[0]}
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
        named = {match.split(".")[0] for match in SUB_VARIABLE.findall(text)} - set(variables)
        return named | _referenced(variables)
    return set().union(*(_referenced(inner) for inner in value.values()))


def creation_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids in an order CloudFormation may create them: each after every resource it depends on
    (DependsOn, Ref, Fn::GetAtt, Fn::Sub), and otherwise the later in the template first -- a
    depth-first walk from the template's end. CDK writes a construct's helpers (roles, policies)
    before the resources that use them, so a dependency nobody declared is not met by luck."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in seen:  # created, or on the current path (a cycle is CloudFormation's error)
            return
        seen.add(logical_id)
        resource = resources[logical_id]
        depends_on = resource.get("DependsOn", [])
        needed = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        needed |= _referenced(resource)
        for dependency in reversed(resources):
            if dependency in needed:
                visit(dependency)
        order.append(logical_id)

    for logical_id in reversed(resources):
        visit(logical_id)
    return order


@fix("Q9")
def create_resources_in_dependency_order_only() -> None:
    """moto creates a stack's resources in template order: CreateStack moves only DependsOn targets
    forward, and a change set (how the CDK CLI deploys) ignores DependsOn altogether.

    CloudFormation creates resources without a dependency between them in parallel, in no order it
    guarantees: a missing DependsOn (a VPC function created before the policy that lets its role
    manage ENIs) fails on AWS now and then. Template order hid it, because CDK writes the policy
    first. Resources are now created in ``creation_order`` (DependsOn honoured; otherwise the later
    in the template first), by CreateStack and by the resources a change set adds, so such a stack
    fails here every time.
    """
    original_diff = parsing.ResourceMap.build_resource_diff

    def build_resource_diff(
        resource_map: parsing.ResourceMap, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        diff = original_diff(resource_map, other_template, parameters)
        added = set(diff["Add"])
        diff["Add"] = [name for name in creation_order(other_template["Resources"]) if name in added]
        return diff

    install(
        parsing.ResourceMap,
        "_ResourceMap__get_resources_in_dependency_order",
        lambda resource_map: creation_order(resource_map._resource_json_map),
    )
    install(parsing.ResourceMap, "build_resource_diff", build_resource_diff)
