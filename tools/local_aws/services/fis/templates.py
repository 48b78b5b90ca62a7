"""What FIS checks in an experiment template before it stores it (CreateExperimentTemplate,
UpdateExperimentTemplate and so CloudFormation): a ValidationException names the first problem.

The checks follow the AWS FIS User Guide: "Experiment templates", "Targets for AWS FIS" (resource
type, resourceArns or resourceTags, filters, selection mode), "Actions for AWS FIS" (actionId,
parameters, targets, startAfter), "AWS FIS Actions reference" and "Stop conditions for AWS FIS".
AWS does not publish its messages; the wording is the emulator's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ... import world
from .catalog import ACTIONS, DISRUPT_SCOPES, MAX_DURATION, MIN_DURATION, SUPPORTED_SCOPES, parse_duration

_SELECTION = re.compile(r"ALL|COUNT\((?P<count>\d+)\)|PERCENT\((?P<percent>\d+)\)")
# (service, resource kind) of an ARN -> the FIS resource type.
_ARN_TYPES = {("ec2", "subnet"): "aws:ec2:subnet", ("rds", "cluster"): "aws:rds:cluster", ("rds", "db"): "aws:rds:db"}
RESOURCE_TYPES = frozenset(action.resource_type for action in ACTIONS.values() if action.resource_type)


def invalid(message: str) -> world.FisError:
    return world.FisError("ValidationException", message)


def validate(
    account_id: str,
    region: str,
    *,
    role_arn: str | None,
    actions: Mapping[str, Any] | None,
    targets: Mapping[str, Any] | None,
    stop_conditions: list[dict[str, Any]] | None,
) -> None:
    """Raise a ValidationException (``world.FisError``) for the first thing FIS would refuse."""
    if not role_arn:
        raise invalid("The experiment template must have a roleArn.")
    if not actions:
        raise invalid("The experiment template must have at least one action.")
    targets = targets or {}
    for name, target in targets.items():
        _check_target(name, target)
    for name, action in actions.items():
        _check_action(name, action, actions, targets)
    _check_stop_conditions(account_id, region, stop_conditions or [])


def _check_target(name: str, target: Mapping[str, Any]) -> None:
    resource_type = target.get("resourceType")
    if resource_type not in RESOURCE_TYPES:
        raise invalid(f"Target {name}: resource type {resource_type} is not supported.")
    if bool(target.get("resourceArns")) == bool(target.get("resourceTags")):
        raise invalid(f"Target {name}: specify either resourceArns or resourceTags, not both and not neither.")
    if _SELECTION.fullmatch(str(target.get("selectionMode", ""))) is None:
        raise invalid(
            f"Target {name}: selectionMode {target.get('selectionMode')} must be ALL, COUNT(n) or PERCENT(n)."
        )
    for arn in target.get("resourceArns") or ():
        if resource_type != _resource_type_of(arn):
            raise invalid(f"Target {name}: {arn} is not a resource of type {resource_type}.")
    for condition in target.get("filters") or ():
        if not condition.get("path") or not condition.get("values"):
            raise invalid(f"Target {name}: every filter needs a path and values.")


def _resource_type_of(arn: str) -> str | None:
    """The FIS resource type of an ARN: ``arn:aws:ec2:...:subnet/...`` -> ``aws:ec2:subnet``."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return None
    service, resource = parts[2], parts[5]
    kind = resource.split("/", 1)[0] if "/" in resource else resource
    return _ARN_TYPES.get((service, kind))


def _check_action(name: str, action: Mapping[str, Any], actions: Mapping[str, Any], targets: Mapping[str, Any]) -> None:
    action_id = action.get("actionId")
    kind = ACTIONS.get(str(action_id))
    if kind is None:
        raise invalid(f"Action {name}: {action_id} is not an AWS FIS action the emulator knows.")
    parameters = action.get("parameters") or {}
    unknown = sorted(set(parameters) - kind.parameters)
    if unknown:
        raise invalid(f"Action {name}: {action_id} has no parameter {unknown[0]}.")
    missing = sorted(kind.required - set(parameters))
    if missing:
        raise invalid(f"Action {name}: {action_id} needs the parameter {missing[0]}.")
    if "duration" in parameters:
        duration = parse_duration(str(parameters["duration"]))
        if duration is None or not MIN_DURATION <= duration <= MAX_DURATION:
            raise invalid(
                f"Action {name}: duration {parameters['duration']} must be an ISO 8601 duration "
                "from one minute (PT1M) to 12 hours (PT12H)."
            )
    scope = parameters.get("scope", "all")
    if kind.action_id == "aws:network:disrupt-connectivity" and scope not in SUPPORTED_SCOPES:
        if scope in DISRUPT_SCOPES:
            raise invalid(f"Action {name}: scope {scope} is not emulated locally; only scope all is.")
        raise invalid(f"Action {name}: scope {scope} must be one of {', '.join(sorted(DISRUPT_SCOPES))}.")
    _check_action_targets(name, action, kind.target_key, kind.resource_type, targets)
    for earlier in action.get("startAfter") or ():
        if earlier not in actions or earlier == name:
            raise invalid(f"Action {name}: startAfter names {earlier}, which is not another action of the template.")


def _check_action_targets(
    name: str,
    action: Mapping[str, Any],
    target_key: str | None,
    resource_type: str | None,
    targets: Mapping[str, Any],
) -> None:
    given = action.get("targets") or {}
    expected = {target_key} if target_key else set()
    if set(given) != expected:
        wanted = f"one target under {target_key}" if target_key else "no target"
        raise invalid(f"Action {name}: {action.get('actionId')} takes {wanted}.")
    for target_name in given.values():
        if target_name not in targets:
            raise invalid(f"Action {name}: target {target_name} is not defined in the template.")
        if targets[target_name].get("resourceType") != resource_type:
            raise invalid(
                f"Action {name}: target {target_name} is of type {targets[target_name].get('resourceType')}, "
                f"{action.get('actionId')} needs {resource_type}."
            )


def _check_stop_conditions(account_id: str, region: str, conditions: list[dict[str, Any]]) -> None:
    if not conditions:
        raise invalid("The experiment template must have at least one stop condition (source none for none).")
    sources = [condition.get("source") for condition in conditions]
    if "none" in sources and len(sources) > 1:
        raise invalid("A stop condition of source none cannot be combined with others.")
    known = {alarm.alarm_arn for _, _, alarm in world.alarms()}
    for condition in conditions:
        source = condition.get("source")
        if source == "none":
            continue
        if source != "aws:cloudwatch:alarm":
            raise invalid(f"Stop condition source {source} must be aws:cloudwatch:alarm or none.")
        if condition.get("value") not in known:
            raise invalid(f"Stop condition alarm {condition.get('value')} does not exist.")
