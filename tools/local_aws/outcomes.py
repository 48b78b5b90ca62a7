"""What a ``tick`` made happen, read back through the AWS APIs as an operator would read it on AWS.

The clock's own list of what it ran (schedules, alarm evaluations) says nothing about results. So
``tick`` looks before and after: every function's invocations in the window (its log group, as
Lambda writes it: START, the function's lines, END and REPORT with the duration; an unhandled error
is a ``[ERROR]`` line, a timeout "Task timed out"), the AWS Backup jobs and
restore jobs created in it (restore tests are restore jobs a restore testing plan started), alarm
state changes (DescribeAlarmHistory), messages published to SNS topics (AWS/SNS), and messages that
landed in a queue (the dead-letter queues). One line sums it up, e.g. ``60 min: health-check-dev 12
ok; backup jobs 3 completed; alarms changed: none``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

START = re.compile(r"^START RequestId: (\S+)")
REPORT = re.compile(r"^REPORT RequestId: (\S+)\s+Duration: ([0-9.]+) ms")
# What Lambda's Python runtime writes for an invocation that failed: an unhandled exception, a timeout.
FAILURE = re.compile(r"^\[ERROR\] |Task timed out after|Status: (error|timeout)")


@dataclass(frozen=True)
class Invocation:
    when: str
    function: str
    ok: bool
    duration_ms: float


@dataclass(frozen=True)
class Job:
    when: str
    kind: str  # "backup", "restore", "restore test"
    state: str
    resource: str


@dataclass(frozen=True)
class AlarmChange:
    when: str
    alarm: str
    old: str
    new: str
    reason: str


@dataclass
class Outcomes:
    """Everything observed between ``start`` and ``end`` (the emulator's clock)."""

    start: datetime
    end: datetime
    invocations: list[Invocation] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    alarm_changes: list[AlarmChange] = field(default_factory=list)
    published: dict[str, int] = field(default_factory=dict)  # topic -> messages published
    dead_letters: dict[str, int] = field(default_factory=dict)  # queue -> messages that arrived

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60

    def summary(self) -> str:
        runs = []
        for function in sorted({i.function for i in self.invocations}):
            mine = [i for i in self.invocations if i.function == function]
            failed = sum(not i.ok for i in mine)
            runs.append(f"{function} {len(mine) - failed} ok" + (f", {failed} failed" if failed else ""))
        parts = ["; ".join(runs) if runs else "no function ran"]
        for kind in ("backup", "restore", "restore test"):
            states = Counter(job.state.lower() for job in self.jobs if job.kind == kind)
            if states:
                parts.append(f"{kind} jobs " + ", ".join(f"{n} {state}" for state, n in sorted(states.items())))
        if self.dead_letters:
            parts.append("dead letters: " + ", ".join(f"{q} +{n}" for q, n in sorted(self.dead_letters.items())))
        parts.append(f"alarms changed: {self._alarm_summary()}")
        return f"{round(self.minutes, 1):g} min: " + "; ".join(parts)

    def _alarm_summary(self) -> str:
        """How many changes, which alarms went into ALARM, and which are still there at the end."""
        if not self.alarm_changes:
            return "none"
        raised = sorted({c.alarm for c in self.alarm_changes if c.new == "ALARM"})
        last = {c.alarm: c.new for c in self.alarm_changes}
        still = sorted(alarm for alarm, state in last.items() if state == "ALARM")
        if not raised:
            return f"{len(self.alarm_changes)} (none to ALARM)"
        return f"{len(self.alarm_changes)} (to ALARM: {', '.join(raised)}; in ALARM now: {', '.join(still) or 'none'})"

    def lines(self, quiet: bool = False) -> list[str]:
        """The events in time order (only alarm changes when ``quiet``), then the summary."""
        events: list[tuple[str, str]] = [
            (c.when, f"alarm {c.alarm}: {c.old} -> {c.new} ({c.reason})") for c in self.alarm_changes
        ]
        if not quiet:
            events += [
                (i.when, f"{i.function}: {'ok' if i.ok else 'ERROR'} in {i.duration_ms:.0f} ms")
                for i in self.invocations
            ]
            events += [(j.when, f"{j.kind} job {j.state.lower()}: {j.resource}") for j in self.jobs]
            events += [(self.end.isoformat(), f"SNS {topic}: {n} published") for topic, n in self.published.items()]
            events += [(self.end.isoformat(), f"queue {q}: {n} new message(s)") for q, n in self.dead_letters.items()]
        return [f"{when[:19]}  {what}" for when, what in sorted(events)] + [self.summary()]

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document.update(start=self.start.isoformat(), end=self.end.isoformat(), summary=self.summary())
        return document


class Observer:
    """Reads the emulator's state as the operator, through ``client(service)``."""

    def __init__(self, client: Callable[[str], Any]) -> None:
        self.client = client

    def queue_depths(self) -> dict[str, int]:
        """Visible messages per queue, by name (taken before a tick and compared after)."""
        sqs = self.client("sqs")
        depths = {}
        for url in sqs.list_queues().get("QueueUrls", []):
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            depths[url.rsplit("/", 1)[-1]] = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        return depths

    def observe(self, start: datetime, end: datetime, depths_before: dict[str, int]) -> Outcomes:
        grown = {
            queue: depth - depths_before.get(queue, 0)
            for queue, depth in self.queue_depths().items()
            if depth > depths_before.get(queue, 0)
        }
        return Outcomes(
            start=start,
            end=end,
            invocations=sorted(self._invocations(start, end), key=lambda i: i.when),
            jobs=sorted(self._jobs(start, end), key=lambda j: j.when),
            alarm_changes=list(self._alarm_changes(start, end)),
            published={topic: n for topic, n in self._published(start, end) if n},
            dead_letters=grown,
        )

    def _invocations(self, start: datetime, end: datetime) -> Iterator[Invocation]:
        logs = self.client("logs")
        for function in self._functions():
            name = function["FunctionName"]
            group = (function.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}"
            streams: dict[str, list[dict[str, Any]]] = {}
            try:
                pages = logs.get_paginator("filter_log_events").paginate(
                    logGroupName=group, startTime=_millis(start), endTime=_millis(end)
                )
                for page in pages:
                    for event in page["events"]:
                        streams.setdefault(event["logStreamName"], []).append(event)
            except logs.exceptions.ResourceNotFoundException:
                continue  # never ran: nothing has written its group
            for events in streams.values():
                yield from _runs(name, sorted(events, key=lambda e: e["timestamp"]), start)

    def _functions(self) -> Iterator[dict[str, Any]]:
        for page in self.client("lambda").get_paginator("list_functions").paginate():
            yield from page["Functions"]

    def _jobs(self, start: datetime, end: datetime) -> Iterator[Job]:
        backup = self.client("backup")
        window = {"ByCreatedAfter": start, "ByCreatedBefore": end}
        for page in backup.get_paginator("list_backup_jobs").paginate(**window):
            for job in page["BackupJobs"]:
                yield Job(_iso(job["CreationDate"]), "backup", job["State"], _short(job.get("ResourceArn", "")))
        for page in backup.get_paginator("list_restore_jobs").paginate(**window):
            for job in page["RestoreJobs"]:
                kind = "restore test" if (job.get("CreatedBy") or {}).get("RestoreTestingPlanArn") else "restore"
                resource = _short(job.get("CreatedResourceArn") or job.get("ResourceType", ""))
                yield Job(_iso(job["CreationDate"]), kind, job["Status"], resource)

    def _alarm_changes(self, start: datetime, end: datetime) -> Iterator[AlarmChange]:
        paginator = self.client("cloudwatch").get_paginator("describe_alarm_history")
        pages = paginator.paginate(
            StartDate=start, EndDate=end, HistoryItemType="StateUpdate", ScanBy="TimestampAscending"
        )
        for page in pages:
            for item in page["AlarmHistoryItems"]:
                data = json.loads(item.get("HistoryData") or "{}")
                old, new = data.get("oldState", {}), data.get("newState", {})
                yield AlarmChange(
                    _iso(item["Timestamp"]),
                    item["AlarmName"],
                    old.get("stateValue", "?"),
                    new.get("stateValue", "?"),
                    new.get("stateReason", item.get("HistorySummary", "")),
                )

    def _published(self, start: datetime, end: datetime) -> Iterator[tuple[str, int]]:
        cloudwatch = self.client("cloudwatch")
        for page in self.client("sns").get_paginator("list_topics").paginate():
            for topic in page["Topics"]:
                name = topic["TopicArn"].rsplit(":", 1)[-1]
                points = cloudwatch.get_metric_statistics(
                    Namespace="AWS/SNS",
                    MetricName="NumberOfMessagesPublished",
                    Dimensions=[{"Name": "TopicName", "Value": name}],
                    StartTime=start,
                    EndTime=end,
                    Period=60,
                    Statistics=["Sum"],
                )["Datapoints"]
                yield name, int(sum(point["Sum"] for point in points))


def _runs(function: str, events: list[dict[str, Any]], start: datetime) -> Iterator[Invocation]:
    """The invocations of one log stream (an execution environment runs one at a time): each from
    its START to its REPORT, failed if a failure line came in between."""
    failed = False
    for event in events:
        message = event["message"]
        if START.match(message):
            failed = False
        elif report := REPORT.match(message):
            failed = failed or bool(FAILURE.search(message))
            when = datetime.fromtimestamp(event["timestamp"] / 1000, tz=start.tzinfo)
            yield Invocation(when.isoformat(), function, not failed, float(report.group(2)))
        elif FAILURE.search(message):
            failed = True


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(moment: datetime | str) -> str:
    return moment if isinstance(moment, str) else moment.isoformat()


def _short(arn: str) -> str:
    """The resource's name: the last part of its ARN (``table/orders`` -> ``orders``)."""
    return re.split(r"[:/]", arn)[-1] if arn else "?"
