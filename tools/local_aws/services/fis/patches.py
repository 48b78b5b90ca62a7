"""AWS FIS fixes: moto 5.2.5 stores experiment templates and experiments but checks nothing, has no
CloudFormation type, and runs nothing (an experiment's state only moves through moto's state
manager, whatever its actions say). The engine is ``experiments.py`` (with ``targets.py`` and
``actions.py``); ``templates.py`` holds the checks.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any, ClassVar, cast

from moto.fis.exceptions import ResourceNotFoundException
from moto.fis.models import ExperimentTemplate, FISBackend, fis_backends

from ...clock import CLOCK
from ...patches._support import ModelLogic, Properties, fix, install, register_model
from . import experiments
from .templates import validate


@fix("X1")
def validate_experiment_templates() -> None:
    """CreateExperimentTemplate and UpdateExperimentTemplate stored anything: unknown actions,
    targets of the wrong type, bad durations, alarms that do not exist, no roleArn.

    Both now refuse what FIS refuses with a ValidationException (``templates.validate``); an update
    is checked as the template it would make.
    """
    create = FISBackend.create_experiment_template
    update = FISBackend.update_experiment_template

    def create_experiment_template(backend: FISBackend, **arguments: Any) -> dict[str, Any]:
        validate(
            backend.account_id,
            backend.region_name,
            role_arn=arguments.get("role_arn"),
            actions=arguments.get("actions"),
            targets=arguments.get("targets"),
            stop_conditions=arguments.get("stop_conditions"),
        )
        return create(backend, **arguments)  # type: ignore[no-any-return]

    def update_experiment_template(backend: FISBackend, id: str, **arguments: Any) -> dict[str, Any]:
        current = backend.experiment_templates.get(id)
        if current is not None:
            validate(
                backend.account_id,
                backend.region_name,
                role_arn=_given(arguments, "role_arn", current.role_arn),
                actions=_given(arguments, "actions", current.actions),
                targets=_given(arguments, "targets", current.targets),
                stop_conditions=_given(arguments, "stop_conditions", current.stop_conditions),
            )
        return update(backend, id, **arguments)  # type: ignore[no-any-return]

    install(FISBackend, "create_experiment_template", create_experiment_template)
    install(FISBackend, "update_experiment_template", update_experiment_template)


def _given(arguments: dict[str, Any], name: str, current: Any) -> Any:
    return current if arguments.get(name) is None else arguments[name]


class ExperimentTemplateModel(ModelLogic):
    """``AWS::FIS::ExperimentTemplate``: CreateExperimentTemplate from the template's properties;
    ``Ref`` and ``Fn::GetAtt Id`` give the template's id."""

    cfn_type = "AWS::FIS::ExperimentTemplate"
    cfn_attributes: ClassVar[dict[str, str]] = {"Id": "template.id"}

    def __init__(self, template: ExperimentTemplate):
        self.template = template

    @classmethod
    def create(cls, resource_name: str, p: Properties, account_id: str, region_name: str) -> ExperimentTemplateModel:
        backend = fis_backends[account_id][region_name]
        created = backend.create_experiment_template(client_token=None, tags=p.get("Tags"), **_api_arguments(p))
        return cls(backend.experiment_templates[created["id"]])

    @property
    def physical_resource_id(self) -> str:
        return str(self.template.id)

    def delete(self, account_id: str, region_name: str) -> None:
        with suppress(ResourceNotFoundException):
            fis_backends[account_id][region_name].delete_experiment_template(self.template.id)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        """An update is UpdateExperimentTemplate on the same template (its id stays)."""
        template = original_resource.template
        backend = fis_backends[account_id][region_name]
        backend.update_experiment_template(template.id, **_api_arguments(cloudformation_json.get("Properties", {})))
        return original_resource


def _api_arguments(p: Properties) -> dict[str, Any]:
    """The resource's properties (PascalCase) as the API's arguments (camelCase shapes)."""
    logs = p.get("LogConfiguration")
    options = p.get("ExperimentOptions")
    return {
        "description": p.get("Description", ""),
        "role_arn": p.get("RoleArn"),
        "stop_conditions": [
            _compact(source=condition.get("Source"), value=condition.get("Value"))
            for condition in p.get("StopConditions", [])
        ],
        "targets": {
            name: _compact(
                resourceType=t.get("ResourceType"),
                resourceArns=t.get("ResourceArns"),
                resourceTags=t.get("ResourceTags"),
                filters=[{"path": f["Path"], "values": f["Values"]} for f in t.get("Filters", [])],
                selectionMode=t.get("SelectionMode"),
                parameters=t.get("Parameters"),
            )
            for name, t in p.get("Targets", {}).items()
        },
        "actions": {
            name: _compact(
                actionId=a.get("ActionId"),
                description=a.get("Description"),
                parameters=a.get("Parameters"),
                targets=a.get("Targets"),
                startAfter=a.get("StartAfter"),
            )
            for name, a in p.get("Actions", {}).items()
        },
        "log_configuration": _compact(
            cloudWatchLogsConfiguration=_compact(
                logGroupArn=(logs.get("CloudWatchLogsConfiguration") or {}).get("LogGroupArn")
            ),
            logSchemaVersion=int(logs["LogSchemaVersion"]) if "LogSchemaVersion" in logs else None,
        )
        if logs
        else None,
        "experiment_options": _compact(
            accountTargeting=options.get("AccountTargeting"),
            emptyTargetResolutionMode=options.get("EmptyTargetResolutionMode"),
        )
        if options
        else None,
    }


def _compact(**fields: Any) -> dict[str, Any]:
    """The fields that have a value."""
    return {key: value for key, value in fields.items() if value not in (None, [], {})}


@fix("X2")
def add_experiment_template_model() -> None:
    """``AWS::FIS::ExperimentTemplate`` is not supported: the deploy of a stack with one fails.

    The template is now created, updated in place and deleted with the stack, through the API's
    checks (X1).
    """
    register_model(ExperimentTemplateModel, "fis")


@fix("X3")
def run_experiments_on_the_clock() -> None:
    """StartExperiment did nothing to the targets, and the experiment's state moved through moto's
    state manager on every read, whatever its actions and stop conditions said.

    An experiment now runs on the emulator's clock (``experiments``): targets resolved when it
    starts, actions in startAfter order for their durations (network ACLs swapped for a subnet
    disruption, Aurora failed over or rebooted), stop conditions checked every minute,
    StopExperiment, the disruption lifted however it ends, state-change events to the default bus
    and log records to the template's log group.
    """

    def start_experiment(
        backend: FISBackend,
        client_token: str | None,
        experiment_template_id: str,
        experiment_options: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        stored = _stored(backend)
        known = backend._client_token_to_experiment_id.get(client_token) if client_token else None
        if known in stored:
            return _answer(backend, stored[known])
        template = backend.experiment_templates.get(experiment_template_id)
        if template is None:
            raise ResourceNotFoundException(f"Experiment template {experiment_template_id} does not exist")
        experiment = experiments.start(template, backend.account_id, backend.region_name)
        stored[experiment.id] = experiment
        if client_token:
            backend._client_token_to_experiment_id[client_token] = experiment.id
        if tags:
            backend.tag_resource(experiment.arn, tags)
        return _answer(backend, experiment)

    def get_experiment(backend: FISBackend, id: str) -> dict[str, Any]:
        return _answer(backend, _experiment(backend, id))

    def stop_experiment(backend: FISBackend, id: str) -> dict[str, Any]:
        experiment = _experiment(backend, id)
        return {**experiments.stop(experiment), "tags": backend.list_tags_for_resource(experiment.arn)}

    install(FISBackend, "start_experiment", start_experiment)
    install(FISBackend, "get_experiment", get_experiment)
    install(FISBackend, "stop_experiment", stop_experiment)
    CLOCK.register(experiments.due_stop_conditions)


def _stored(backend: FISBackend) -> dict[str, experiments.Experiment]:
    """moto's store of experiments, which holds the engine's (moto's List operations read it)."""
    return cast(dict[str, experiments.Experiment], backend.experiments)


def _experiment(backend: FISBackend, id: str) -> experiments.Experiment:
    if id not in _stored(backend):
        raise ResourceNotFoundException(f"Experiment {id} does not exist")
    return _stored(backend)[id]


def _answer(backend: FISBackend, experiment: experiments.Experiment) -> dict[str, Any]:
    return experiment.to_dict(tags=backend.list_tags_for_resource(experiment.arn))
