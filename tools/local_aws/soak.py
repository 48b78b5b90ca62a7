"""Soak: N emulated days of normal operation on the deployment, then proof that nothing failed,
accumulated or leaked.

``python -m tools.local_aws soak --days N [--report PATH]`` (``make soak DAYS=N``) talks to the
running emulator that holds the deployment ``make deploy`` recorded (``cfn-outputs/``). It advances
the emulator's clock an hour at a time (the canary on its profile's schedule, the hourly backups, the
backup monitor, the restore tests on theirs and every alarm evaluation run on the way; the expected
counts are read from the deployed schedules), prints per emulated day
the wall time, the server's RSS and the size of the state directory, then checks the invariants
(``check_*``: each a pure function of what was read, so each is unit-tested on synthetic data) and
writes a JSON report. Exit 0 when all hold, 1 naming each broken one in a sentence, 2 when there is
no deployment or emulator to soak.

Budgets (``BUDGETS``, issue 19, 2 cores): after 7 emulated days the server's RSS is at most 600 MB
and the state directory at most 300 MB. A healthy deployment accumulates until retention (7 days)
starts to delete, then stays flat; so day d of a soak may grow from the soak's start value by d/7 of
the way to the ceiling (``budget``), and a leak shows on the first day, not only after a week.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
from botocore.config import Config

from lib import output_keys as keys
from lib.deploy_target import OutputsError, read_flat_outputs, read_target
from lib.schedules import occurrences

from . import control, server

REPORTS_DIR = server.REPO_ROOT / "soak-reports"
STEP_MINUTES = 60
BUDGET_DAYS = 7  # the budgets are for a week; retention (7 days) makes the state flat after it


@dataclass(frozen=True)
class Budgets:
    """Ceilings after ``BUDGET_DAYS`` emulated days; overridable with --max-rss-mb / --max-state-mb."""

    rss_mb: float = 600.0
    state_mb: float = 300.0


BUDGETS = Budgets()
# Canary runs counted by AWS/Lambda Invocations may differ from the schedule's count by a run at
# either end of the window (an invocation that straddles the start or the end).
CANARY_RUN_TOLERANCE = 2
# Recovery points: the newest job may still be running at the end, and a point is deleted in the
# same minute as the next is taken.
RECOVERY_POINT_MARGIN = 2
# How long after its DeleteAt a recovery point may still be listed.
EXPIRY_GRACE = timedelta(hours=1)
# A restore test is judged once its start window, the restore itself and its validation window passed.
RESTORE_ALLOWANCE = timedelta(hours=1)
DEAD_LETTER_MARKERS = ("dlq", "undelivered")
OK, ALARM = "OK", "ALARM"


class SoakError(Exception):
    """No deployment or emulator to soak (exit 2); the message is one sentence saying why."""


@dataclass(frozen=True)
class Check:
    """One invariant: whether it held, and one sentence saying what was seen."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Day:
    """What one emulated day cost."""

    day: int
    wall_seconds: float
    cpu_seconds: float | None  # the server and its function processes; None: not this repo's server
    rss_mb: float | None
    state_mb: float
    rss_budget_mb: float | None
    state_budget_mb: float


@dataclass(frozen=True)
class Transition:
    """One alarm state change (DescribeAlarmHistory's StateUpdate item)."""

    alarm: str
    when: datetime
    old: str
    new: str


# --- the invariants: pure functions of what the soak read --------------------------------------------


def budget(start: float, ceiling: float, day: int) -> float:
    """Day ``day``'s budget: from the soak's start value, ``day / BUDGET_DAYS`` of the way to the
    ceiling, never above it (a start already over the ceiling leaves no room)."""
    if start >= ceiling:
        return ceiling
    return start + (ceiling - start) * min(day, BUDGET_DAYS) / BUDGET_DAYS


def check_canary(invocations: float, errors: float, expected_runs: int) -> Check:
    """The canary ran on its schedule and every run succeeded (AWS/Lambda Errors 0)."""
    name = "canary succeeded on every run"
    if errors:
        return Check(name, False, f"The canary failed {errors:.0f} of its {invocations:.0f} runs during the soak.")
    if abs(invocations - expected_runs) > CANARY_RUN_TOLERANCE:
        return Check(
            name, False, f"The canary ran {invocations:.0f} times, not the {expected_runs} its schedule asks for."
        )
    return Check(name, True, f"{invocations:.0f} runs (schedule: {expected_runs}), no error.")


def alarm_states_visited(start_state: str, transitions: Iterable[Transition]) -> list[str]:
    """The states an alarm was in during the soak, in order: its state at the start, then each new one."""
    return [start_state, *(t.new for t in sorted(transitions, key=lambda t: t.when))]


def alarm_episodes(start_state: str, transitions: Iterable[Transition]) -> list[str]:
    """When each separate stay in ALARM during the soak began ("start" when it was in ALARM already)."""
    episodes, state = (["start"] if start_state == ALARM else []), start_state
    for transition in sorted(transitions, key=lambda t: t.when):
        if transition.new == ALARM and state != ALARM:
            episodes.append(f"{transition.when:%m-%d %H:%M}")
        state = transition.new
    return episodes


def flapped(start_state: str, transitions: Iterable[Transition]) -> bool:
    """An alarm flapped when it was in ALARM, left it, and went back to ALARM within the soak
    (ALARM -> OK -> ALARM, or through INSUFFICIENT_DATA): two separate episodes of paging."""
    return len(alarm_episodes(start_state, transitions)) >= 2


def _by_alarm(transitions: Iterable[Transition]) -> dict[str, list[Transition]]:
    grouped: dict[str, list[Transition]] = {}
    for transition in transitions:
        grouped.setdefault(transition.alarm, []).append(transition)
    return grouped


def breached(start_state: str, transitions: Iterable[Transition]) -> bool:
    """An alarm breached when it went to ALARM after having been OK during the soak. A new alarm's
    first evaluation (INSUFFICIENT_DATA -> ALARM: a fresh deployment has no recovery point yet, on
    purpose) and an alarm already in ALARM at the start that clears are not breaches."""
    visited = alarm_states_visited(start_state, transitions)
    return OK in visited and ALARM in visited[visited.index(OK) :]


def check_rpo_alarms(start_states: dict[str, str], end_states: dict[str, str], transitions: list[Transition]) -> Check:
    """Every RPO alarm (``rpo-*``) is OK at the end and never breached (``breached``) during the soak."""
    name = "every RPO alarm OK and never breached"
    rpo = sorted(alarm for alarm in end_states if alarm.startswith("rpo-"))
    if not rpo:
        return Check(name, False, "No RPO alarm (rpo-*) of the deployment was found.")
    changes = _by_alarm(transitions)
    start = {alarm: start_states.get(alarm, "INSUFFICIENT_DATA") for alarm in rpo}
    broken = [alarm for alarm in rpo if breached(start[alarm], changes.get(alarm, []))]
    not_ok = [f"{alarm} is {end_states[alarm]}" for alarm in rpo if end_states[alarm] != OK]
    if broken or not_ok:
        parts = [f"{', '.join(broken)} went from OK to ALARM during the soak"] if broken else []
        return Check(name, False, f"RPO alarms broken: {'; '.join(parts + not_ok)}.")
    cleared = [alarm for alarm in rpo if ALARM in alarm_states_visited(start[alarm], changes.get(alarm, []))]
    note = f" ({', '.join(cleared)} cleared from a fresh deployment's first ALARM)" if cleared else ""
    return Check(name, True, f"{len(rpo)} RPO alarms OK, none breached{note}.")


def check_flapping(start_states: dict[str, str], transitions: list[Transition]) -> Check:
    """No alarm of the deployment flapped (``flapped``)."""
    name = "no alarm flapped"
    changes = _by_alarm(transitions)
    flapping = sorted(alarm for alarm, state in start_states.items() if flapped(state, changes.get(alarm, [])))
    if flapping:
        shown = []
        for alarm in flapping:
            episodes = alarm_episodes(start_states[alarm], changes[alarm])
            more = f", ... ({len(episodes)} in all)" if len(episodes) > 3 else ""
            shown.append(f"{alarm} went to ALARM at {', '.join(episodes[:3])}{more}")
        return Check(name, False, f"Alarms flapped (back to ALARM after leaving it): {'; '.join(shown)}.")
    return Check(name, True, f"{len(start_states)} alarms, {len(transitions)} state changes, none back to ALARM.")


@dataclass(frozen=True)
class BackupRule:
    schedule: str
    delete_after_days: int


@dataclass(frozen=True)
class RecoveryPoint:
    resource: str
    created: datetime
    delete_at: datetime | None


def check_recovery_points(
    resources: list[str],
    points: list[RecoveryPoint],
    rules: list[BackupRule],
    start: datetime,
    end: datetime,
) -> Check:
    """Per selected resource: the plan's points taken during the soak are what its schedule asks for,
    all of them together no more than its retention allows, and none outlived its DeleteAt."""
    name = "recovery points as the plan and retention allow"
    expected = sum(len(occurrences(rule.schedule, start, end, start)) for rule in rules)
    allowed = sum(
        len(occurrences(rule.schedule, end - timedelta(days=rule.delete_after_days), end, start)) for rule in rules
    )
    problems, counts = [], {}
    for resource in resources:
        mine = [point for point in points if point.resource == resource]
        taken = sum(1 for point in mine if point.created >= start)
        overdue = [p for p in mine if p.delete_at is not None and p.delete_at + EXPIRY_GRACE < end]
        counts[resource.split(":")[-1]] = len(mine)
        if taken < expected - RECOVERY_POINT_MARGIN:
            problems.append(f"{resource} got {taken} points during the soak, not {expected}")
        if len(mine) > allowed + RECOVERY_POINT_MARGIN:
            problems.append(f"{resource} has {len(mine)} points, more than the {allowed} its retention keeps")
        if overdue:
            problems.append(f"{resource} still has {len(overdue)} points past their DeleteAt")
    if problems:
        return Check(name, False, f"Recovery points wrong: {'; '.join(problems)}.")
    return Check(name, True, f"{expected} taken per resource during the soak, at most {allowed} kept: {counts}.")


@dataclass(frozen=True)
class RestoreJob:
    resource_type: str
    created: datetime
    status: str
    validation: str | None


def check_restore_tests(
    runs_due: list[datetime], start_window: timedelta, selections: int, jobs: list[RestoreJob]
) -> Check:
    """Each restore test run that fell due in the soak restored every selection and validated it
    (restore job COMPLETED, ValidationStatus SUCCESSFUL)."""
    name = "restore tests ran on schedule and passed"
    problems = []
    for run in runs_due:
        mine = [job for job in jobs if run <= job.created <= run + start_window]
        if len(mine) != selections:
            problems.append(f"the run of {run:%Y-%m-%d %H:%M} made {len(mine)} restore jobs, not {selections}")
        problems += [
            f"the {job.resource_type} test of {run:%Y-%m-%d %H:%M} ended {job.status}, "
            f"validation {job.validation or 'none'}"
            for job in mine
            if (job.status, job.validation) != ("COMPLETED", "SUCCESSFUL")
        ]
    if problems:
        return Check(name, False, f"Restore tests broken: {'; '.join(problems)}.")
    if not runs_due:
        return Check(name, True, "No restore test run fell due and finished within the soak.")
    return Check(name, True, f"{len(runs_due)} runs, {selections} resources each, all validated SUCCESSFUL.")


def check_dead_letter_queues(start_depths: dict[str, int], end_depths: dict[str, int]) -> Check:
    """No message arrived in a dead-letter queue of the kit during the soak (none waits that did not
    wait before it)."""
    name = "no message waits in a DLQ"
    if not end_depths:
        return Check(name, False, "No dead-letter queue of the deployment was found.")
    grown = [
        f"{queue} holds {depth}" + (f" (had {start_depths[queue]})" if start_depths.get(queue) else "")
        for queue, depth in sorted(end_depths.items())
        if depth > start_depths.get(queue, 0)
    ]
    if grown:
        return Check(name, False, f"Messages were dead-lettered during the soak: {'; '.join(grown)}.")
    before = {queue: depth for queue, depth in start_depths.items() if depth}
    note = f"; waiting since before the soak: {before}" if before else ""
    return Check(name, True, f"{len(end_depths)} dead-letter queues, nothing new{note}.")


def check_budgets(days: list[Day]) -> Check:
    """The server's RSS and the state directory stayed inside each day's budget."""
    name = "memory and state directory inside their budgets"
    problems = []
    for day in days:
        if day.rss_mb is None or day.rss_budget_mb is None:
            problems.append(f"day {day.day}: the server's RSS could not be read (is it this repository's server?)")
        elif day.rss_mb > day.rss_budget_mb:
            problems.append(f"day {day.day}: server RSS {day.rss_mb:.0f} MB over {day.rss_budget_mb:.0f} MB")
        if day.state_mb > day.state_budget_mb:
            problems.append(f"day {day.day}: state directory {day.state_mb:.0f} MB over {day.state_budget_mb:.0f} MB")
    if problems:
        return Check(name, False, f"Budgets exceeded: {'; '.join(problems)}.")
    last = days[-1]
    return Check(name, True, f"after day {last.day}: RSS {last.rss_mb:.0f} MB, state {last.state_mb:.0f} MB.")


# --- reading the deployment -------------------------------------------------------------------------


def directory_megabytes(path: Path) -> float:
    """Bytes of the files under ``path`` (links not followed), in MB; files removed meanwhile skipped."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total / 2**20


def own_server(endpoint: str) -> server.ServerRecord | None:
    """This repository's background server if it is the one at ``endpoint`` (else its process is
    not ours to measure)."""
    record = server.running_server()
    wanted = urlsplit(endpoint)
    if record is None or (record.host, record.port) != (wanted.hostname, wanted.port):
        return None
    return record


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Deployment:
    """The deployed kit, read through boto3 against the emulator."""

    def __init__(self, endpoint: str, outputs: dict[str, str]):
        self.endpoint = endpoint
        self.outputs = outputs
        self.suffix = outputs[keys.ENVIRONMENT_SUFFIX]
        config = Config(retries={"max_attempts": 3})
        credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        if os.environ.get("AWS_ACCESS_KEY_ID"):
            credentials = {}
        self._clients: dict[str, Any] = {}
        region = outputs[keys.ALERTS_TOPIC_ARN].split(":")[3]  # the deployment's region, from one of its ARNs
        self._make: Callable[[str], Any] = lambda service: boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=endpoint, region_name=region, config=config, **credentials
        )

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._make(service)
        return self._clients[service]

    def now(self) -> datetime:
        return datetime.fromisoformat(control.call(self.endpoint, "clock")["now"])

    def _pages(self, service: str, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
        for page in self.client(service).get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])

    def alarm_states(self) -> dict[str, str]:
        return {
            alarm["AlarmName"]: alarm["StateValue"]
            for alarm in self._pages("cloudwatch", "describe_alarms", "MetricAlarms")
            if alarm["AlarmName"].endswith(f"-{self.suffix}")
        }

    def transitions(self, start: datetime, end: datetime) -> list[Transition]:
        result = []
        for item in self._pages(
            "cloudwatch",
            "describe_alarm_history",
            "AlarmHistoryItems",
            HistoryItemType="StateUpdate",
            StartDate=start,
            EndDate=end,
            ScanBy="TimestampAscending",
        ):
            if not item["AlarmName"].endswith(f"-{self.suffix}"):
                continue
            data = json.loads(item["HistoryData"])
            result.append(
                Transition(
                    item["AlarmName"],
                    _aware(item["Timestamp"]),
                    data["oldState"]["stateValue"],
                    data["newState"]["stateValue"],
                )
            )
        return result

    def canary(self, start: datetime, end: datetime) -> tuple[float, float, int]:
        """Invocations and errors of the canary through the alias its schedule invokes (AWS/Lambda,
        dimensions FunctionName and Resource ``function:alias``) during the soak, and the runs the
        schedule asks for."""
        function = self.outputs[keys.FUNCTION_NAME]
        alias = self.outputs[keys.FUNCTION_ALIAS_ARN].rsplit(":", 1)[-1]
        dimensions = [{"Name": "FunctionName", "Value": function}, {"Name": "Resource", "Value": f"{function}:{alias}"}]
        totals = []
        for metric in ("Invocations", "Errors"):
            points = self.client("cloudwatch").get_metric_statistics(
                Namespace="AWS/Lambda",
                MetricName=metric,
                Dimensions=dimensions,
                StartTime=start,
                EndTime=end,
                Period=3600,
                Statistics=["Sum"],
            )["Datapoints"]
            totals.append(sum(point["Sum"] for point in points))
        rule = self.client("events").describe_rule(Name=f"health-check-schedule-{self.suffix}")
        return totals[0], totals[1], len(occurrences(rule["ScheduleExpression"], start, end, start))

    def backup_plan(self) -> tuple[list[str], list[BackupRule]]:
        backup, plan_id = self.client("backup"), self.outputs[keys.BACKUP_PLAN_ID]
        resources = sorted(
            {
                arn
                for selection in backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
                for arn in backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=selection["SelectionId"])[
                    "BackupSelection"
                ]["Resources"]
            }
        )
        rules = [
            BackupRule(rule["ScheduleExpression"], int(rule.get("Lifecycle", {}).get("DeleteAfterDays") or 0))
            for rule in backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]["Rules"]
        ]
        return resources, rules

    def recovery_points(self) -> list[RecoveryPoint]:
        plan_id = self.outputs[keys.BACKUP_PLAN_ID]
        return [
            RecoveryPoint(
                point["ResourceArn"],
                _aware(point["CreationDate"]),
                _aware(point["CalculatedLifecycle"]["DeleteAt"])
                if point.get("CalculatedLifecycle", {}).get("DeleteAt")
                else None,
            )
            for point in self._pages(
                "backup",
                "list_recovery_points_by_backup_vault",
                "RecoveryPoints",
                BackupVaultName=self.outputs[keys.BACKUP_VAULT_NAME],
            )
            if (point.get("CreatedBy") or {}).get("BackupPlanId") == plan_id
        ]

    def restore_tests(self, start: datetime, end: datetime) -> tuple[list[datetime], timedelta, int, list[RestoreJob]]:
        """The restore testing plan's runs that fell due and finished in the soak, its start window,
        how many selections it has, and the restore jobs it created during the soak."""
        backup = self.client("backup")
        plan_name = f"restore_testing_plan_{self.suffix.replace('-', '_')}"
        plan = backup.get_restore_testing_plan(RestoreTestingPlanName=plan_name)["RestoreTestingPlan"]
        selections = backup.list_restore_testing_selections(RestoreTestingPlanName=plan_name)[
            "RestoreTestingSelections"
        ]
        start_window = timedelta(hours=int(plan.get("StartWindowHours") or 1))
        validation = timedelta(hours=max((int(s.get("ValidationWindowHours") or 0) for s in selections), default=0))
        settle = start_window + RESTORE_ALLOWANCE + validation
        runs = [run for run in occurrences(plan["ScheduleExpression"], start, end, start) if run + settle <= end]
        jobs = []
        for summary in self._pages("backup", "list_restore_jobs", "RestoreJobs"):
            if (summary.get("CreatedBy") or {}).get("RestoreTestingPlanArn") != plan["RestoreTestingPlanArn"]:
                continue
            if _aware(summary["CreationDate"]) < start:
                continue
            job = backup.describe_restore_job(RestoreJobId=summary["RestoreJobId"])
            jobs.append(
                RestoreJob(job["ResourceType"], _aware(job["CreationDate"]), job["Status"], job.get("ValidationStatus"))
            )
        return runs, start_window, len(selections), jobs

    def dead_letter_depths(self) -> dict[str, int]:
        sqs = self.client("sqs")
        depths = {}
        for url in self._pages("sqs", "list_queues", "QueueUrls"):
            queue = url.rsplit("/", 1)[-1]
            if self.suffix not in queue or not any(marker in queue for marker in DEAD_LETTER_MARKERS):
                continue
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            depths[queue] = sum(int(value) for value in attributes.values())
        return depths


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Soak:
    days: int
    budgets: Budgets
    deployment: Deployment
    state_dir: Path
    out: Callable[[str], None] = print
    fired_errors: list[dict[str, Any]] = field(default_factory=list)

    def run(self) -> dict[str, Any]:
        d = self.deployment
        start = d.now()
        start_alarms, start_dlq = d.alarm_states(), d.dead_letter_depths()
        record = own_server(d.endpoint)
        rss0 = None if record is None else record.rss_megabytes()
        state0 = directory_megabytes(self.state_dir)
        self.out(f"Soak of {self.days} emulated days from {start:%Y-%m-%d %H:%M} UTC on {d.suffix} ({d.endpoint})")
        self.out(f"start: server RSS {_mb(rss0)}, state directory {state0:.0f} MB ({self.state_dir})")
        days = []
        for day in range(1, self.days + 1):
            began, cpu_began = time.perf_counter(), None if record is None else record.cpu_seconds()
            for _ in range(24 * 60 // STEP_MINUTES):
                answer = control.call(d.endpoint, "tick", {"minutes": STEP_MINUTES})
                self.fired_errors += [item for item in answer["fired"] if item["error"]]
            wall = time.perf_counter() - began
            cpu = None if record is None or cpu_began is None else record.cpu_seconds() - cpu_began
            rss = None if record is None else record.rss_megabytes()
            state = directory_megabytes(self.state_dir)
            row = Day(
                day,
                round(wall, 2),
                None if cpu is None else round(cpu, 2),
                None if rss is None else round(rss, 1),
                round(state, 1),
                None if rss0 is None else round(budget(rss0, self.budgets.rss_mb, day), 1),
                round(budget(state0, self.budgets.state_mb, day), 1),
            )
            days.append(row)
            self.out(
                f"day {day}/{self.days}: {wall:6.1f} s wall, {_seconds(cpu)} CPU, "
                f"server RSS {_mb(rss)} (budget {_mb(row.rss_budget_mb)}), "
                f"state {state:.0f} MB (budget {row.state_budget_mb:.0f} MB)"
            )
        end = d.now()
        transitions = d.transitions(start, end)
        resources, rules = d.backup_plan()
        checks = [
            check_canary(*d.canary(start, end)),
            check_rpo_alarms(start_alarms, d.alarm_states(), transitions),
            check_recovery_points(resources, d.recovery_points(), rules, start, end),
            check_restore_tests(*d.restore_tests(start, end)),
            check_dead_letter_queues(start_dlq, d.dead_letter_depths()),
            check_flapping(start_alarms, transitions),
            check_budgets(days),
        ]
        walls = [row.wall_seconds for row in days]
        return {
            "days": self.days,
            "suffix": d.suffix,
            "endpoint": d.endpoint,
            "emulated_start": start.isoformat(),
            "emulated_end": end.isoformat(),
            "budgets_after_7_days": asdict(self.budgets),
            "start": {"rss_mb": rss0, "state_mb": round(state0, 1)},
            "per_day": [asdict(row) for row in days],
            "last_day_over_first": walls[-1] / walls[0] if walls[0] else None,
            "last_day_over_first_cpu": _ratio([row.cpu_seconds for row in days]),
            "invariants": [asdict(check) for check in checks],
            "alarm_state_changes": [
                {"alarm": t.alarm, "when": t.when.isoformat(), "old": t.old, "new": t.new} for t in transitions
            ],
            "fired_errors": self.fired_errors,
        }


def _ratio(values: list[float | None]) -> float | None:
    first, last = values[0], values[-1]
    return None if first is None or last is None or not first else round(last / first, 3)


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} s"


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def connect(endpoint: str | None) -> Deployment:
    """The recorded deployment on a reachable emulator, else SoakError."""
    try:
        outputs = read_flat_outputs()
    except OutputsError as error:
        raise SoakError(f"No deployment to soak: {error}") from None
    target = read_target()
    if target.get("target", "local") != "local":
        raise SoakError("The soak needs the local emulator's clock; the recorded deployment is on AWS.")
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL") or target.get("endpoint_url")
    if not endpoint:
        raise SoakError("No emulator endpoint: none was recorded by `make deploy` and AWS_ENDPOINT_URL is not set.")
    deployment = Deployment(endpoint, outputs)
    try:
        deployment.now()
        deployment.client("cloudformation").describe_stacks(StackName=f"TapStack{deployment.suffix}")
    except control.ControlError as error:
        raise SoakError(f"No emulator to soak: {error}.") from None
    except botocore.exceptions.ClientError as error:
        raise SoakError(
            f"The emulator at {endpoint} does not hold TapStack{deployment.suffix} "
            f"({error.response['Error'].get('Message', 'not found')}); run `make deploy`."
        ) from None
    return deployment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=_positive, default=7, help="emulated days (default %(default)s)")
    parser.add_argument("--report", type=Path, help="JSON report (default soak-reports/soak-<time>.json)")
    parser.add_argument("--endpoint", help="emulator URL (default: the one `make deploy` recorded)")
    ceiling = "after 7 days, in MB (default %(default)s)"
    parser.add_argument("--max-rss-mb", type=float, default=BUDGETS.rss_mb, help=f"server RSS {ceiling}")
    parser.add_argument("--max-state-mb", type=float, default=BUDGETS.state_mb, help=f"state directory {ceiling}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(args: argparse.Namespace) -> int:
    try:
        deployment = connect(args.endpoint)
        soak = Soak(args.days, Budgets(args.max_rss_mb, args.max_state_mb), deployment, server.state_dir())
        report = soak.run()
    except SoakError as error:
        print(error, file=sys.stderr)
        return 2
    except control.ControlError as error:
        print(f"The emulator stopped answering during the soak: {error}.", file=sys.stderr)
        return 2
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(f"The soak could not read the deployment: {error}.", file=sys.stderr)
        return 2
    path = args.report or REPORTS_DIR / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    broken = [check for check in report["invariants"] if not check["passed"]]
    walls = [row["wall_seconds"] for row in report["per_day"]]
    print(
        f"{len(walls)} emulated days in {sum(walls):.0f} s (median {sorted(walls)[len(walls) // 2]:.1f} s a day"
        + (f", last/first {report['last_day_over_first']:.2f}" if report["last_day_over_first"] else "")
        + (f", CPU last/first {report['last_day_over_first_cpu']:.2f}" if report["last_day_over_first_cpu"] else "")
        + f"); {len(report['fired_errors'])} scheduled tasks failed on the way."
    )
    for check in report["invariants"]:
        print(f"{'ok  ' if check['passed'] else 'FAIL'} {check['name']}: {check['detail']}")
    print(f"Report: {path}")
    return 1 if broken else 0
