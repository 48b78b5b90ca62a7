"""The AZ-loss drill: take one Availability Zone away with AWS FIS and judge whether the kit kept its
steady state (``SteadyState``, written once below) while the zone was gone and after it came back.

The drill invokes the canary once (the steady state it starts from: it must succeed, and no alarm
may be in ALARM), starts the AZ's AZ-loss template (``AzLossTemplateIds``: FIS cannot override a
template's targets, so there is one per AZ) and waits until the experiment runs. When the Aurora
writer sits in that AZ it starts the writer-failover template as well: the disruption is a network
ACL on the AZ's subnets, and a network ACL does not make Aurora fail over -- the writer would stay
writer and unreachable for the whole experiment. It then probes the cluster endpoint until it
answers as the new writer (as ``failover`` does), invokes the canary every minute while the zone
is gone and for five minutes after (longer while an alarm that paged has not returned to OK),
and finally reads what the canary reported as committed back from Aurora, DynamoDB and S3 and the
alarms' history over the drill.

``--minutes N`` is the disruption window the drill judges: the template's own duration stays; with a
shorter window the drill stops the experiment (StopExperiment) after N minutes. Ctrl-C (or SIGTERM)
stops every experiment the drill started, which lifts the disruption, and ends the drill.

Where an invocation ran: locally the emulator logs the subnet and AZ of each execution environment
(``[local AWS] RequestId: ... placement subnet-... us-east-1a``). Lambda does not tell on AWS, so
there the drill bounds the share of failed invocations by the lost AZ's share of the function's
subnets plus a margin, and the report says so.

Time is the target's: on the emulator every wait advances its clock (``tick``), so a ten-minute
experiment takes seconds; on AWS the drill waits real time.
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lib import output_keys as keys
from lib.config import EnvironmentConfig
from tools.local_aws.services.fis.catalog import parse_duration

from . import database, failover
from .cleanup import shielded
from .errors import FAILURES, SetupError, describe
from .report import AFTER, BEFORE, LOSS, AlarmTrack, AzLossReport, Clause, Invocation, Stopwatch, format_duration
from .stores import HEARTBEAT_PARTITION
from .target import Target
from .waiting import Progress

TERMINAL = frozenset({"completed", "stopped", "failed", "cancelled"})
STARTING = frozenset({"pending", "initiating"})
PLACEMENT = re.compile(r"RequestId: (?P<request>\S+) placement (?P<subnet>\S+) (?P<az>\S+)")
REQUEST_ID = re.compile(r"RequestId: (?P<request>[0-9a-f-]{36})")
S3_HEARTBEAT_KEY = "heartbeat/latest.json"  # the canary's object (health_check handler)
ERROR_CHARS = 300  # of a failed invocation's message, in the report


@dataclass(frozen=True)
class SteadyState:
    """The steady-state hypothesis of the AZ-loss drill and the cadence it is measured at.

    While the AZ is gone an invocation of the canary may fail only if it ran in the lost AZ, or
    inside the failover window (from the experiment's start until the cluster endpoint answers as
    the new writer). After the experiment every invocation succeeds (for ``recovery_minutes`` at
    least). The cluster endpoint answers as writer within ``writer_within_s`` of the failover. Every
    heartbeat the canary reported as committed is in Aurora, DynamoDB and S3 afterwards. The
    ``paging_alarms`` page when the canary failed and are OK at the end; the templates' stop-condition
    alarms (RPO, undelivered alerts) never fire.
    """

    cadence_s: float = 60.0
    recovery_minutes: float = 5.0
    writer_within_s: float = 60.0
    # On AWS (placement unknown): failures may be at most the lost AZ's share of the subnets plus this.
    failure_share_margin: float = 0.10
    paging_alarms: tuple[str, ...] = ("health-check-errors",)
    # After the recovery minutes, how long the drill keeps invoking while a paged alarm is not yet OK.
    settle_minutes: float = 15.0
    probe_interval_s: float = 5.0
    start_within_s: float = 5 * 60.0  # FIS takes seconds to start an experiment on AWS


HYPOTHESIS = SteadyState()


@dataclass(frozen=True)
class AzLossPlan:
    availability_zone: str
    template_id: str
    failover_template_id: str | None  # only when the writer is in the lost AZ
    writer: failover.FailoverPlan
    writer_availability_zone: str
    minutes: float
    template_minutes: float
    function: str  # the canary's alias ARN
    log_group: str
    subnets: tuple[str, ...]  # the canary's subnets
    paging_alarms: tuple[str, ...]
    harm_alarms: tuple[str, ...]  # the templates' stop conditions

    @property
    def templates(self) -> list[str]:
        return [self.template_id, *([self.failover_template_id] if self.failover_template_id else [])]

    def describe(self, target: Target) -> list[str]:
        why = (
            f"the writer {self.writer.writer} is in {self.availability_zone}: a network ACL does not make Aurora "
            f"fail over, so the writer-failover template {self.failover_template_id} starts too"
            if self.failover_template_id
            else f"the writer is in {self.writer_availability_zone}: no failover"
        )
        return [
            f"Dry run against {target}: nothing is started, invoked or written.",
            f"1. invoke {self.function} once: it must succeed, and none of "
            f"{', '.join(self.paging_alarms + self.harm_alarms)} may be in ALARM",
            f"2. fis start_experiment experimentTemplateId={self.template_id} (the isolated subnets of "
            f"{self.availability_zone} lose all connectivity); {why}",
            f"3. invoke the canary every {HYPOTHESIS.cadence_s:g} s for {self.minutes:g} min"
            + (
                f", then stop the experiment (its template runs {self.template_minutes:g} min)"
                if self.minutes < self.template_minutes
                else ""
            )
            + f", and for {HYPOTHESIS.recovery_minutes:g} min after it",
            "4. read every committed heartbeat back from Aurora, DynamoDB and S3, and the alarms' history",
            "5. judge the steady-state hypothesis; write the report",
        ]


def _alarm_name(arn: str) -> str:
    return arn.split(":alarm:", 1)[-1]


def plan(target: Target, availability_zone: str | None, minutes: float | None) -> AzLossPlan:
    """Everything the drill needs, read and checked before anything is started (SetupError if not)."""
    try:
        templates = json.loads(target.output(keys.AZ_LOSS_TEMPLATE_IDS))
    except ValueError:
        raise SetupError(f"The output {keys.AZ_LOSS_TEMPLATE_IDS} is not JSON; run `make deploy` again.") from None
    if availability_zone is not None and availability_zone not in templates:
        raise SetupError(_unknown_zone(availability_zone, templates))
    writer = failover.plan(target)
    writer_az = str(
        target.client("rds").describe_db_instances(DBInstanceIdentifier=writer.writer)["DBInstances"][0][
            "AvailabilityZone"
        ]
    )
    zone = availability_zone or writer_az
    if zone not in templates:
        raise SetupError(_unknown_zone(zone, templates))
    template = target.client("fis").get_experiment_template(id=templates[zone])["experimentTemplate"]
    durations = [
        parse_duration(str(action.get("parameters", {}).get("duration", "")))
        for action in template.get("actions", {}).values()
    ]
    longest = max((duration for duration in durations if duration is not None), default=None)
    if longest is None:
        raise SetupError(f"The AZ-loss template {templates[zone]} has no action with a duration.")
    template_minutes = longest.total_seconds() / 60
    chosen = template_minutes if minutes is None else minutes
    if not 1 <= chosen <= template_minutes:
        raise SetupError(
            f"--minutes must be from 1 to the template's duration ({template_minutes:g} min), not {chosen:g}."
        )
    function = target.output(keys.FUNCTION_ALIAS_ARN)
    configuration = target.client("lambda").get_function_configuration(FunctionName=function)
    config = EnvironmentConfig(environment_suffix=target.suffix)
    harm = tuple(
        _alarm_name(str(condition["value"]))
        for condition in template.get("stopConditions", [])
        if condition.get("source") == "aws:cloudwatch:alarm"
    )
    chosen_plan = AzLossPlan(
        availability_zone=zone,
        template_id=templates[zone],
        failover_template_id=target.output(keys.WRITER_FAILOVER_TEMPLATE_ID) if zone == writer_az else None,
        writer=writer,
        writer_availability_zone=writer_az,
        minutes=chosen,
        template_minutes=template_minutes,
        function=function,
        log_group=str(
            (configuration.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{configuration['FunctionName']}"
        ),
        subnets=tuple((configuration.get("VpcConfig") or {}).get("SubnetIds") or ()),
        paging_alarms=tuple(config.name(alarm) for alarm in HYPOTHESIS.paging_alarms),
        harm_alarms=harm,
    )
    in_alarm = [name for name, state in _alarm_states(target, chosen_plan).items() if state == "ALARM"]
    if in_alarm:
        raise SetupError(
            f"Alarm {', '.join(in_alarm)} is in ALARM before any fault: FIS would stop the experiment at once "
            "and the drill could not tell what the loss did; let it return to OK first."
        )
    return chosen_plan


def _unknown_zone(zone: str, templates: dict[str, str]) -> str:
    return f"{zone} is not an AZ of this deployment; its AZ-loss templates cover {', '.join(sorted(templates))}."


def _alarm_states(target: Target, chosen: AzLossPlan) -> dict[str, str]:
    names = list(chosen.paging_alarms + chosen.harm_alarms)
    alarms = target.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"] if names else []
    return {str(alarm["AlarmName"]): str(alarm["StateValue"]) for alarm in alarms}


class _Run:
    """One drill in progress: the clients, the stopwatch and the report it fills."""

    def __init__(
        self,
        target: Target,
        chosen: AzLossPlan,
        report: AzLossReport,
        progress: Progress,
        sleep: Callable[[float], None],
    ):
        self.target, self.plan, self.report, self.progress, self.sleep = target, chosen, report, progress, sleep
        self.stopwatch = Stopwatch(progress.clock)
        self.fis = target.client("fis")
        self.started: list[str] = []  # experiment ids, the AZ loss first

    def wait_until(self, at_s: float) -> None:
        remaining = at_s - self.stopwatch()
        if remaining > 0:
            self.sleep(remaining)

    def state(self, experiment: str) -> dict[str, str]:
        return dict(self.fis.get_experiment(id=experiment)["experiment"]["state"])

    def invoke(self, phase: str) -> Invocation:
        at = self.stopwatch()
        try:
            answer = self.target.client("lambda").invoke(FunctionName=self.plan.function, LogType="Tail")
            raw = answer["Payload"].read()
        except FAILURES as error:
            invocation = Invocation(at, phase, False, round(self.stopwatch() - at, 3), error=describe(error))
        else:
            invocation = self._result(at, phase, answer, raw)
        self.report.invocations.append(invocation)
        where = f" in {invocation.availability_zone}" if invocation.availability_zone else ""
        outcome = "succeeded" if invocation.ok else f"FAILED ({(invocation.error or '')[:80]})"
        self.progress.say("canary", f"{phase}: {outcome}{where}")
        return invocation

    def _result(self, at: float, phase: str, answer: dict[str, Any], raw: bytes) -> Invocation:
        tail = base64.b64decode(answer.get("LogResult") or "").decode(errors="replace")
        request, subnet, zone = self._placement(tail, at)
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            payload = None
        document = payload if isinstance(payload, dict) else {}
        took = round(self.stopwatch() - at, 3)
        if answer.get("FunctionError") or document.get("healthy") is not True:
            error = str(document.get("errorMessage") or raw[:ERROR_CHARS].decode(errors="replace"))[:ERROR_CHARS]
            return Invocation(at, phase, False, took, request, subnet, zone, error=error)
        return Invocation(
            at, phase, True, took, request, subnet, zone, str(document["heartbeat_id"]), str(document["checked_at"])
        )

    def _placement(self, tail: str, at: float) -> tuple[str | None, str | None, str | None]:
        """(request id, subnet, AZ) from the log tail, or from the log group when a long log pushed the
        placement line out of the tail's 4 KB; all None on AWS, where Lambda does not log it."""
        found = PLACEMENT.search(tail)
        if found is None:
            request = REQUEST_ID.search(tail)
            if request is None:
                return None, None, None
            since = int((self.report.now + timedelta(seconds=at - 60)).timestamp() * 1000)
            events = self.target.client("logs").filter_log_events(
                logGroupName=self.plan.log_group, startTime=since, filterPattern=f'"{request["request"]} placement"'
            )["events"]
            found = next((m for e in events if (m := PLACEMENT.search(str(e["message"])))), None)
            if found is None:
                return request["request"], None, None
        return found["request"], found["subnet"], found["az"]

    def start(self) -> None:
        for template in self.plan.templates:
            experiment = self.fis.start_experiment(
                clientToken=str(uuid.uuid4()),
                experimentTemplateId=template,
                tags={"Name": f"az-loss-drill-{self.report.run_id}"},
            )["experiment"]
            self.started.append(str(experiment["id"]))
            self.progress.say("fis", f"started experiment {experiment['id']} from template {template}")
        self.sleep(0)  # locally the clock's next instant starts them; on AWS nothing
        give_up = self.stopwatch() + HYPOTHESIS.start_within_s
        while (state := self.state(self.started[0]))["status"] in STARTING:
            if self.stopwatch() > give_up:
                raise _Ended(f"experiment {self.started[0]} did not start within {HYPOTHESIS.start_within_s:g} s")
            self.sleep(HYPOTHESIS.probe_interval_s)
        if state["status"] != "running":
            raise _Ended(f"experiment {self.started[0]} ended before the disruption: {state['reason']}")
        self.report.started_s = self.stopwatch()
        self.progress.say("fis", f"{self.plan.availability_zone} is gone (experiment {self.started[0]} running)")

    def watch_failover(self, login: database.Login) -> None:
        """Probe the cluster endpoint until the cluster reports the new writer and it answers as writer."""
        started = self.report.started_s or 0.0
        while self.stopwatch() - started <= failover.GIVE_UP_SECONDS:
            if self.report.writer_switched_s is None:
                _, writer, _ = failover.members(self.target, self.plan.writer.cluster)
                if writer is not None and writer != self.plan.writer.writer:
                    self.report.writer_switched_s = self.stopwatch()
                    self.progress.say("failover", f"the cluster reports {writer} as writer")
            probe = failover.probe_writer(self.plan.writer, login, self.stopwatch())
            self.report.probes.append(probe)
            if self.report.writer_switched_s is not None and probe.ok:
                self.report.writer_answered_s = probe.at_s
                took = format_duration(probe.at_s - started)
                self.progress.say("failover", f"the cluster endpoint answers as writer {took} after the start")
                return
            self.sleep(HYPOTHESIS.probe_interval_s)

    def loss(self) -> None:
        """Invoke at the cadence while the zone is gone; stop the experiment at the window's end if
        the template runs longer, else wait for it to end."""
        started = self.report.started_s or 0.0
        count = math.ceil(self.plan.minutes * 60 / HYPOTHESIS.cadence_s)
        for index in range(count):
            self.wait_until(started + index * HYPOTHESIS.cadence_s)
            if self.state(self.started[0])["status"] in TERMINAL:
                break  # ended early (a stop condition): the judging names why
            self.invoke(LOSS)
        self.wait_until(started + self.plan.minutes * 60)
        if self.plan.minutes < self.plan.template_minutes:
            self.stop()
        while self.state(self.started[0])["status"] not in TERMINAL:
            self.sleep(HYPOTHESIS.probe_interval_s)
        self.report.loss_end_s = self.stopwatch()
        self.progress.say("fis", f"{self.plan.availability_zone} is back (the experiment ended)")

    def after(self) -> None:
        """Invoke for the recovery minutes, and on while an alarm that should page is not yet OK."""
        base = self.report.loss_end_s or self.stopwatch()
        recovery = math.ceil(HYPOTHESIS.recovery_minutes * 60 / HYPOTHESIS.cadence_s)
        settle = math.ceil(HYPOTHESIS.settle_minutes * 60 / HYPOTHESIS.cadence_s)
        index = 0
        while index < recovery or (index < recovery + settle and not self.paging_alarms_ok()):
            self.wait_until(base + index * HYPOTHESIS.cadence_s)
            self.invoke(AFTER)
            index += 1
        self.wait_until(base + index * HYPOTHESIS.cadence_s)  # the last period's alarm evaluation

    def paging_alarms_ok(self) -> bool:
        states = _alarm_states(self.target, self.plan)
        return all(states.get(name) == "OK" for name in self.plan.paging_alarms)

    def stop(self) -> None:
        """Stop every experiment the drill started that still runs (lifting its disruption); record how
        each ended."""
        for experiment in self.started:
            state = self.state(experiment)
            if state["status"] not in TERMINAL:
                self.fis.stop_experiment(id=experiment)
                self.progress.say("fis", f"stopped experiment {experiment}")
        for experiment in self.started:
            state = self.state(experiment)
            self.report.experiments[experiment] = f"{state['status']}: {state.get('reason', '')}".rstrip(": ")


class _Ended(Exception):
    """The experiment ended before the drill could measure anything."""


def execute(
    target: Target, chosen: AzLossPlan, run_id: str, *, progress: Progress, sleep: Callable[[float], None]
) -> AzLossReport:
    report = AzLossReport(
        run_id,
        str(target),
        target.suffix,
        target.now(),
        target.objectives,
        chosen.availability_zone,
        chosen.writer_availability_zone,
        len(chosen.subnets),
        chosen.minutes,
        failover=chosen.failover_template_id is not None,
    )
    run = _Run(target, chosen, report, progress, sleep)
    login = database.master_login(target)
    baseline = run.invoke(BEFORE)
    if not baseline.ok:
        raise SetupError(
            f"The canary fails before any fault ({baseline.error}); the drill needs a steady state to start from."
        )
    try:
        run.start()
        if report.failover:
            run.watch_failover(login)
        run.loss()
        run.after()
    except KeyboardInterrupt:
        report.interrupted = True
        progress.say("az-loss", "interrupted: stopping the experiments, which lifts the disruption")
    except (_Ended, *FAILURES) as error:
        report.error = describe(error)
        progress.say("az-loss", f"FAILED: {report.error}")
    finally:
        with shielded(progress):
            run.stop()
    if not report.interrupted:
        report.missing_heartbeats = missing_heartbeats(target, chosen, login, report.invocations)
        report.alarms = alarm_tracks(target, chosen, report.now)
        report.clauses = judge(report, HYPOTHESIS)
    return report


def missing_heartbeats(
    target: Target, chosen: AzLossPlan, login: database.Login, invocations: Sequence[Invocation]
) -> dict[str, list[str]]:
    """Per store, the heartbeats the canary reported as committed that the store does not hold."""
    committed = {str(uuid.UUID(i.heartbeat_id)): str(i.checked_at) for i in invocations if i.ok and i.heartbeat_id}
    if not committed:
        return {}
    listed = ", ".join(f"'{heartbeat}'" for heartbeat in committed)  # UUIDs, parsed above
    rows = database.run(
        chosen.writer.host,
        chosen.writer.port,
        login,
        f"SELECT id::text FROM dr_heartbeat WHERE id IN ({listed})",
        database.QUERY_TIMEOUT_SECONDS,
    )
    in_aurora = {str(row[0]) for row in rows}
    dynamodb, table = target.client("dynamodb"), target.output(keys.TABLE_NAME)
    in_dynamodb = set()
    for checked_at in committed.values():
        key = {"pk": {"S": HEARTBEAT_PARTITION}, "sk": {"S": checked_at}}
        item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
        in_dynamodb.add(item.get("heartbeat_id", {}).get("S"))
    in_s3 = _s3_heartbeats(target, min(committed.values()))
    found = {"aurora": in_aurora, "dynamodb": in_dynamodb, "s3": in_s3}
    return {store: sorted(set(committed) - ids) for store, ids in found.items() if set(committed) - ids}


def _s3_heartbeats(target: Target, since: str) -> set[str]:
    """The heartbeat ids in the versions of the canary's object written since ``since`` (it is
    overwritten on every run; the bucket is versioned)."""
    s3, bucket = target.client("s3"), target.output(keys.BUCKET_NAME)
    oldest = datetime.fromisoformat(since) - timedelta(minutes=1)
    found = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=S3_HEARTBEAT_KEY):
        for version in page.get("Versions", []):
            if version["Key"] != S3_HEARTBEAT_KEY or version["LastModified"] < oldest:
                continue
            body = s3.get_object(Bucket=bucket, Key=S3_HEARTBEAT_KEY, VersionId=version["VersionId"])["Body"].read()
            try:
                found.add(str(json.loads(body).get("heartbeat_id")))
            except (ValueError, AttributeError):
                continue
    return found


def alarm_tracks(target: Target, chosen: AzLossPlan, since: datetime) -> list[AlarmTrack]:
    """Each watched alarm's state changes since the drill started (DescribeAlarmHistory) and its state now."""
    cloudwatch, now = target.client("cloudwatch"), target.now()
    states = _alarm_states(target, chosen)
    tracks = []
    for name in chosen.paging_alarms + chosen.harm_alarms:
        items = cloudwatch.describe_alarm_history(
            AlarmName=name, HistoryItemType="StateUpdate", StartDate=since, EndDate=now, MaxRecords=100
        )["AlarmHistoryItems"]
        changes = sorted(
            (
                round((item["Timestamp"].astimezone(UTC) - since).total_seconds(), 3),
                str(json.loads(item["HistoryData"])["newState"]["stateValue"]),
            )
            for item in items
        )
        tracks.append(AlarmTrack(name, name in chosen.paging_alarms, tuple(changes), states.get(name, "missing")))
    return tracks


def judge(report: AzLossReport, hypothesis: SteadyState = HYPOTHESIS) -> list[Clause]:
    """The hypothesis's clauses over what the drill recorded (a pure function of the report)."""
    return [
        _failures_during_loss(report, hypothesis),
        _success_after(report, hypothesis),
        _writer_answers(report, hypothesis),
        _no_heartbeat_lost(report),
        _paging_alarms(report),
        _harm_alarms(report),
    ]


def _failover_window(report: AzLossReport) -> tuple[float, float] | None:
    if not report.failover or report.started_s is None:
        return None
    end = report.writer_answered_s if report.writer_answered_s is not None else report.loss_end_s
    return report.started_s, end if end is not None else float("inf")


def _failures_during_loss(report: AzLossReport, hypothesis: SteadyState) -> Clause:
    name = "during the loss, only invocations in the lost AZ or the failover window fail"
    during = [i for i in report.invocations if i.phase == LOSS]
    window = _failover_window(report)
    unexplained = [i for i in during if not i.ok and not (window is not None and window[0] <= i.at_s <= window[1])]
    if not during:
        return Clause(name, False, "no invocation ran during the loss")
    if all(i.availability_zone is not None for i in unexplained):
        elsewhere = [i for i in unexplained if i.availability_zone != report.availability_zone]
        failed = sum(not i.ok for i in during)
        if elsewhere:
            where = ", ".join(f"{format_duration(i.at_s)} in {i.availability_zone}" for i in elsewhere)
            return Clause(name, False, f"{len(elsewhere)} failed outside {report.availability_zone}: {where}")
        explained = f"{failed} of {len(during)} failed, each in {report.availability_zone} or the failover window"
        return Clause(name, True, explained)
    share = 1 / max(report.subnet_count, 1) + hypothesis.failure_share_margin
    measured = len(unexplained) / len(during)
    detail = (
        f"placement unknown (Lambda does not report the AZ): {len(unexplained)} of {len(during)} failed outside the "
        f"failover window ({measured:.0%}), bound {share:.0%} (the lost AZ's share of {report.subnet_count} subnets "
        f"+ {hypothesis.failure_share_margin:.0%})"
    )
    return Clause(name, measured <= share, detail)


def _success_after(report: AzLossReport, hypothesis: SteadyState) -> Clause:
    name = f"after the experiment, 100 % succeed (at least {hypothesis.recovery_minutes:g} min)"
    after = [i for i in report.invocations if i.phase == AFTER]
    covered = len(after) * hypothesis.cadence_s / 60  # one invocation per cadence
    failed = [i for i in after if not i.ok]
    if failed:
        return Clause(name, False, f"{len(failed)} of {len(after)} failed, first at {format_duration(failed[0].at_s)}")
    if covered < hypothesis.recovery_minutes:
        return Clause(name, False, f"only {len(after)} invocations ({covered:g} min) after the experiment")
    return Clause(name, True, f"{len(after)} of {len(after)} succeeded")


def _writer_answers(report: AzLossReport, hypothesis: SteadyState) -> Clause:
    name = f"the cluster endpoint answers as writer within {hypothesis.writer_within_s:g} s of the failover"
    if not report.failover:
        return Clause(name, True, f"no failover: the writer was in {report.writer_availability_zone}")
    if report.writer_answered_s is None or report.started_s is None:
        return Clause(name, False, "the cluster endpoint never answered as the new writer")
    took = report.writer_answered_s - report.started_s
    return Clause(name, took <= hypothesis.writer_within_s, f"answered as writer after {format_duration(took)}")


def _no_heartbeat_lost(report: AzLossReport) -> Clause:
    committed = sum(1 for i in report.invocations if i.ok and i.heartbeat_id)
    name = "no heartbeat lost: every committed heartbeat is in Aurora, DynamoDB and S3"
    if report.missing_heartbeats:
        lost = "; ".join(f"{store}: {', '.join(ids)}" for store, ids in sorted(report.missing_heartbeats.items()))
        return Clause(name, False, f"missing of {committed} committed: {lost}")
    return Clause(name, committed > 0, f"{committed} committed heartbeats found in every store")


def _paging_alarms(report: AzLossReport) -> Clause:
    name = "the alarms that should page did page, and returned to OK"
    failed = any(not i.ok for i in report.invocations)
    problems = []
    for alarm in (a for a in report.alarms if a.pages):
        if failed and not alarm.fired:
            problems.append(f"{alarm.name} did not page although the canary failed")
        if alarm.final_state != "OK":
            problems.append(f"{alarm.name} is {alarm.final_state} at the end")
    if problems:
        return Clause(name, False, "; ".join(problems))
    paged = [a.name for a in report.alarms if a.pages and a.fired]
    return Clause(name, True, f"paged and back to OK: {', '.join(paged)}" if paged else "nothing failed, nothing paged")


def _harm_alarms(report: AzLossReport) -> Clause:
    name = "no RPO (or undelivered-alerts) alarm breached"
    fired = [a.name for a in report.alarms if not a.pages and a.fired]
    stopped = [state for state in report.experiments.values() if "stop condition" in state]
    if fired or stopped:
        return Clause(name, False, "; ".join([*(f"{alarm} went to ALARM" for alarm in fired), *stopped]))
    watched = [a.name for a in report.alarms if not a.pages]
    return Clause(name, True, f"none of {len(watched)} fired: {', '.join(watched)}")


def summary(report: AzLossReport) -> list[str]:
    failed = sum(not i.ok for i in report.invocations)
    lines = [
        f"az-loss  {report.outcome.upper()}  {report.availability_zone} lost for {report.minutes:g} min"
        + (" with the writer failover" if report.failover else "")
        + f"; {len(report.invocations)} canary invocations, {failed} failed"
        + (f": {report.error}" if report.error else "")
    ]
    lines += [f"  {'ok    ' if clause.held else 'FAILED'}  {clause.name}: {clause.detail}" for clause in report.clauses]
    return lines
