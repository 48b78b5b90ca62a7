"""FIS experiments on the emulator's clock: states, actions in ``startAfter`` order, stop conditions,
state-change events and experiment log records.

AWS FIS User Guide pages followed: "Managing your AWS FIS experiments" (experiment states), "Actions
for AWS FIS" (action order, durations), "Targets for AWS FIS" (resolution at the start, empty
targets), "Stop conditions for AWS FIS", "Monitor AWS FIS experiments using Amazon EventBridge" and
"Experiment logging for AWS FIS".

An experiment goes pending -> initiating when StartExperiment answers; at the next instant the clock
runs (``tick``, even of 0 minutes) it resolves its targets and goes running, and its first actions
start. An action with a ``duration`` runs for that long on the clock; the others act at once. When
every action has ended the experiment is completed. StopExperiment, or a stop-condition alarm in
ALARM at a whole minute (checked after the alarms are evaluated at that minute), takes it through
stopping to stopped; a failed action or a target that resolves to nothing (with
``emptyTargetResolutionMode`` fail) makes it failed. However it ends, what its actions did is
lifted (the network ACLs of a disruption put back) before it reaches its final state.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ... import world
from ...clock import CLOCK, Due
from ...pipeline import caller
from . import actions, targets
from .catalog import parse_duration

logger = logging.getLogger(__name__)

FIS_SERVICE = "fis.amazonaws.com"
EVENT_SOURCE = "aws.fis"
DETAIL_TYPE = "FIS Experiment State Change"
STEP_ORDER = 30  # an experiment's own steps (initiation, an action's end) at an instant
STOP_CONDITION_ORDER = 95  # after the alarms are evaluated at the same minute (90)
TERMINAL = frozenset({"completed", "stopped", "failed", "cancelled"})
ACTION_DONE = frozenset({"completed", "skipped"})
# The reasons AWS shows in its documented examples where it shows one; the others are the emulator's.
REASONS = {
    "pending": "Experiment is pending.",
    "initiating": "Experiment is initiating.",
    "running": "Experiment is running.",
    "completed": "Experiment completed.",
    "stopping": "Stopping Experiment.",
    "stopped": "Experiment stopped.",
}

_lock = threading.RLock()
_active: dict[str, Experiment] = {}  # experiments not in a final state, by id


@dataclass
class ActionRun:
    """One action of one experiment: the template's definition and how far it got."""

    name: str
    spec: dict[str, Any]
    status: str = "pending"
    reason: str = "Initial state"
    start_time: datetime | None = None
    end_time: datetime | None = None
    lift: actions.Lift | None = None

    def to_dict(self) -> dict[str, Any]:
        shown = {key: value for key, value in self.spec.items() if value}
        shown["state"] = {"status": self.status, "reason": self.reason}
        if self.start_time:
            shown["startTime"] = self.start_time.timestamp()
        if self.end_time:
            shown["endTime"] = self.end_time.timestamp()
        return shown


@dataclass(frozen=True)
class ResolvedTarget:
    """A resource a target resolved to, as ListExperimentResolvedTargets lists it."""

    target_name: str
    resource_arn: str
    resource_type: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "resourceType": self.resource_type,
            "targetName": self.target_name,
            "targetInformation": {"arn": self.resource_arn},
        }


@dataclass
class Experiment:
    """An experiment started from a template: a copy of the template's parts and its state."""

    account_id: str
    region: str
    id: str
    experiment_template_id: str
    role_arn: str
    targets: dict[str, dict[str, Any]]
    runs: dict[str, ActionRun]
    stop_conditions: list[dict[str, Any]]
    log_configuration: dict[str, Any] | None
    experiment_options: dict[str, Any]
    creation_time: datetime
    status: str = "pending"
    reason: str = REASONS["pending"]
    end_time: datetime | None = None
    resolved: dict[str, list[str]] = field(default_factory=dict)
    log_stream_ready: bool = False

    @property
    def arn(self) -> str:
        return f"arn:{world.partition(self.region)}:fis:{self.region}:{self.account_id}:experiment/{self.id}"

    def state(self) -> dict[str, str]:
        return {"status": self.status, "reason": self.reason}

    def to_summary_dict(self, tags: dict[str, str] | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "arn": self.arn,
            "experimentTemplateId": self.experiment_template_id,
            "state": self.state(),
            "creationTime": self.creation_time.timestamp(),
            "tags": tags or {},
            "experimentOptions": self.experiment_options,
        }

    def to_dict(self, tags: dict[str, str] | None = None) -> dict[str, Any]:
        shown: dict[str, Any] = {
            **self.to_summary_dict(tags),
            "roleArn": self.role_arn,
            "targets": self.targets,
            "actions": {name: run.to_dict() for name, run in self.runs.items()},
            "stopConditions": self.stop_conditions,
            "startTime": self.creation_time.timestamp(),
            "targetAccountConfigurationsCount": 0,
        }
        if self.log_configuration:
            shown["logConfiguration"] = self.log_configuration
        if self.end_time:
            shown["endTime"] = self.end_time.timestamp()
        return shown

    def resolved_targets(self) -> list[ResolvedTarget]:
        return [
            ResolvedTarget(name, arn, self.targets[name]["resourceType"])
            for name, arns in self.resolved.items()
            for arn in arns
        ]


def start(template: world.ExperimentTemplate, account_id: str, region: str) -> Experiment:
    """StartExperiment: the experiment, initiating; it runs from the clock's next instant on."""
    options = template.experiment_options or {}
    experiment = Experiment(
        account_id=account_id,
        region=region,
        id="EXP" + world.random_string(15),
        experiment_template_id=template.id,
        role_arn=template.role_arn,
        targets=json.loads(json.dumps(template.targets or {})),
        runs={name: ActionRun(name, json.loads(json.dumps(spec))) for name, spec in template.actions.items()},
        stop_conditions=json.loads(json.dumps(template.stop_conditions or [])),
        log_configuration=json.loads(json.dumps(template.log_configuration)) if template.log_configuration else None,
        experiment_options={
            "accountTargeting": options.get("accountTargeting", "single-account"),
            "emptyTargetResolutionMode": options.get("emptyTargetResolutionMode", "fail"),
            "actionsMode": "run-all",
        },
        creation_time=CLOCK.now(),
    )
    with _lock:
        _active[experiment.id] = experiment
        _change(experiment, "initiating")
    CLOCK.call_at(CLOCK.now(), STEP_ORDER, f"FIS experiment {experiment.id} initiates", lambda: _initiate(experiment))
    return experiment


def stop(experiment: Experiment, reason: str = REASONS["stopped"]) -> dict[str, Any]:
    """StopExperiment (and a stop condition): lift what the actions did, end as stopped. Answers
    the experiment as it was while stopping, as StopExperiment does; one that has already ended is
    left as it is."""
    with _lock:
        if experiment.status in TERMINAL:
            return experiment.to_dict()
        _change(experiment, "stopping")
        answer = experiment.to_dict()
        _end(experiment, "stopped", reason)
        return answer


def due_stop_conditions(start: datetime, end: datetime) -> Iterable[Due]:
    """Timer source: the stop conditions of the running experiments at each whole minute."""
    if not _active:
        return
    moment = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment <= end:
        yield Due(moment, STOP_CONDITION_ORDER, "check FIS stop conditions", check_stop_conditions)
        moment += timedelta(minutes=1)


def check_stop_conditions() -> None:
    """Stop every running experiment one of whose stop-condition alarms is in ALARM."""
    with _lock:
        for experiment in list(_active.values()):
            alarm = _alarm_in_alarm(experiment)
            if alarm is not None:
                stop(experiment, f"Experiment stopped by stop condition: alarm {alarm} is in ALARM.")


def _alarm_in_alarm(experiment: Experiment) -> str | None:
    wanted = {condition.get("value") for condition in experiment.stop_conditions if condition.get("source") != "none"}
    if not wanted:
        return None
    for _, _, alarm in world.alarms():
        if alarm.alarm_arn in wanted and alarm.state_value == "ALARM":
            return str(alarm.alarm_arn)
    return None


def _initiate(experiment: Experiment) -> None:
    with _lock:
        if experiment.status != "initiating":
            return  # stopped before it ran
        alarm = _alarm_in_alarm(experiment)
        if alarm is not None:
            stop(experiment, f"Experiment stopped by stop condition: alarm {alarm} is in ALARM.")
            return
        _log(experiment, "experiment-start", {"experiment_template_id": experiment.experiment_template_id})
        for name, target in experiment.targets.items():
            resolved = targets.resolve(target, experiment.account_id, experiment.region)
            _log(experiment, "target-resolution-end", {"target_name": name, "resolved_targets": resolved})
            if not resolved and experiment.experiment_options["emptyTargetResolutionMode"] == "fail":
                _end(experiment, "failed", f"Target resolution failed: target {name} resolved to no resources.")
                return
            experiment.resolved[name] = resolved
        _change(experiment, "running")
        _advance(experiment)


def _advance(experiment: Experiment) -> None:
    """Start every action whose ``startAfter`` actions are done; complete the experiment when all are."""
    while experiment.status == "running":
        ready = [
            run
            for run in experiment.runs.values()
            if run.status == "pending"
            and all(experiment.runs[earlier].status in ACTION_DONE for earlier in run.spec.get("startAfter") or ())
        ]
        if not ready:
            break
        for run in ready:
            _start_action(experiment, run)
    if experiment.status == "running" and all(run.status in ACTION_DONE for run in experiment.runs.values()):
        _end(experiment, "completed", REASONS["completed"])


def _start_action(experiment: Experiment, run: ActionRun) -> None:
    now = CLOCK.now()
    resolved = {key: experiment.resolved[name] for key, name in (run.spec.get("targets") or {}).items()}
    if resolved and not any(resolved.values()):
        run.status, run.reason, run.start_time, run.end_time = "skipped", "No resources were resolved.", now, now
        return
    run.status, run.reason, run.start_time = "running", "Action is running.", now
    _log(experiment, "action-start", {"action_name": run.name, "action_id": run.spec["actionId"]})
    try:
        with caller.acting_as(caller.service_caller(experiment.role_arn, FIS_SERVICE)):
            parameters = run.spec.get("parameters") or {}
            run.lift = actions.inject(
                run.spec["actionId"], parameters, resolved, experiment.account_id, experiment.region
            )
    except actions.ActionFailed as error:
        run.status, run.reason, run.end_time = "failed", str(error), CLOCK.now()
        _log(experiment, "action-error", {"action_name": run.name, "error": str(error)})
        _end(experiment, "failed", f"Action {run.name} failed.")
        return
    duration = parse_duration(str((run.spec.get("parameters") or {}).get("duration", "")))
    if duration is None:
        _finish_action(experiment, run)
        return

    def finish() -> None:
        with _lock:
            if run.status == "running" and experiment.status == "running":
                _finish_action(experiment, run)
                _advance(experiment)

    CLOCK.call_at(now + duration, STEP_ORDER, f"FIS action {run.name} of {experiment.id} ends", finish)


def _finish_action(experiment: Experiment, run: ActionRun) -> None:
    _lift(run)
    run.status, run.reason, run.end_time = "completed", "Action completed.", CLOCK.now()
    _log(experiment, "action-end", {"action_name": run.name, "action_state": run.status})


def _lift(run: ActionRun) -> None:
    if run.lift is not None:
        lift, run.lift = run.lift, None
        lift()


def _end(experiment: Experiment, status: str, reason: str) -> None:
    """Lift every action still running and put the experiment in its final state."""
    now = CLOCK.now()
    for run in experiment.runs.values():
        if run.status == "running":
            _lift(run)
            run.status, run.reason, run.end_time = "stopped", "Action was stopped.", now
        elif run.status == "pending":
            run.status, run.reason = "cancelled", "Action was cancelled."
    experiment.end_time = now
    _change(experiment, status, reason)
    _log(experiment, "experiment-end", {"experiment_state": experiment.state()})
    _active.pop(experiment.id, None)


def _change(experiment: Experiment, status: str, reason: str | None = None) -> None:
    """Move to ``status`` and send the state-change event to the default bus."""
    old = experiment.state()
    experiment.status, experiment.reason = status, reason or REASONS[status]
    entry = {
        "Source": EVENT_SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(
            {
                "experiment-id": experiment.id,
                "experiment-template-id": experiment.experiment_template_id,
                "new-state": experiment.state(),
                "old-state": old,
            }
        ),
        "Resources": [experiment.arn],
        "Time": CLOCK.now().timestamp(),
    }
    answers = world.put_events(experiment.account_id, experiment.region, [entry])
    if any("ErrorCode" in answer for answer in answers):
        logger.warning("EventBridge refused the FIS event of %s: %s", experiment.id, answers)


def _log(experiment: Experiment, log_type: str, details: dict[str, Any]) -> None:
    """One experiment log record (schema version 2) to the template's log group, if it has one; a
    missing group is skipped, as FIS cannot deliver to it either."""
    arn = ((experiment.log_configuration or {}).get("cloudWatchLogsConfiguration") or {}).get("logGroupArn")
    if not arn:
        return
    group = arn.split(":log-group:", 1)[1].removesuffix(":*")
    now = CLOCK.now()
    record = {
        "id": experiment.id,
        "log_type": log_type,
        "event_timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "version": "2",
        "details": details,
    }
    try:
        if not experiment.log_stream_ready:
            world.create_log_stream(experiment.account_id, experiment.region, group, experiment.id)
            experiment.log_stream_ready = True
        event = {"timestamp": int(now.timestamp() * 1000), "message": json.dumps(record)}
        world.put_log_events(experiment.account_id, experiment.region, group, experiment.id, [event])
    except world.AWS_ERRORS as error:
        logger.warning("FIS could not log to %s: %s", group, error)
