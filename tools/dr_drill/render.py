"""Reports as a picture: one self-contained HTML page per report with inline SVG charts (standard
library only, no script), so an SRE sees at a glance which store met its objectives.

Every chart is the same kind of picture: one row per store (or resource) with coloured bars on a
time axis, and vertical lines for the objective (RTO, RPO) or for events (a failover's request and
writer switch). The axis always reaches the objective's line, so a bar is shown at its true scale
against it - a restore of seconds against an RTO of hours is a sliver, and that is the point. Green
passed, red failed; the exact numbers are in the table below each chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .report import (
    AlarmTrack,
    AzLossReport,
    FailoverReport,
    Recovery,
    RestoreReport,
    StatusReport,
    format_duration,
)

PASS, PASS_LIGHT = "#2e7d32", "#a5d6a7"
FAIL, FAIL_LIGHT = "#c62828", "#ef9a9a"
INK, GRID, MUTED = "#263238", "#e0e0e0", "#78909c"
WIDTH, LABEL_WIDTH, NOTE_WIDTH = 960, 170, 250
PLOT_WIDTH = WIDTH - LABEL_WIDTH - NOTE_WIDTH
ROW_HEIGHT, BAR_HEIGHT, BOTTOM = 34, 18, 30
MIN_BAR_PIXELS = 3  # a bar of a second against an axis of hours must still be seen


@dataclass(frozen=True)
class Segment:
    start: float  # seconds on the chart's axis
    end: float
    colour: str
    title: str  # shown as a tooltip


@dataclass(frozen=True)
class Row:
    label: str
    segments: Sequence[Segment]
    note: str  # to the right of the plot
    passed: bool


@dataclass(frozen=True)
class Marker:
    at: float
    label: str


# Tick steps a person reads without arithmetic: seconds, minutes, hours, days.
TICK_STEPS = (
    *(0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30),
    *(minutes * 60 for minutes in (1, 2, 5, 10, 15, 30)),
    *(hours * 3600 for hours in (1, 2, 3, 6, 12, 24)),
)
TITLE_LINE, MARKER_LINE = 22, 16  # heights of the title and of each marker's label line


def _step(span: float) -> float:
    """The smallest round step giving at most five intervals over ``span`` seconds."""
    return next(
        (step for step in TICK_STEPS if span / step <= 5), TICK_STEPS[-1] * math.ceil(span / 5 / TICK_STEPS[-1])
    )


def chart(title: str, rows: Sequence[Row], markers: Sequence[Marker], axis_end: float) -> str:
    """An SVG chart: a row of bars per entry, vertical marker lines, an axis from 0 to ``axis_end`` s.

    Marker labels get a line each above the plot, so two events close in time never overprint;
    bars of one row are laid end to end, so a sliver of each phase stays visible.
    """
    axis_end = max(axis_end, 0.5)
    top = TITLE_LINE + MARKER_LINE * len(markers) + 8
    bottom = top + ROW_HEIGHT * max(len(rows), 1)
    height = bottom + BOTTOM

    def x(seconds: float) -> float:
        return LABEL_WIDTH + PLOT_WIDTH * max(0.0, min(seconds, axis_end)) / axis_end

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" font-family="sans-serif" '
        'font-size="13">',
        f'<text x="0" y="16" font-weight="bold" fill="{INK}">{escape(title)}</text>',
    ]
    step = _step(axis_end)
    for number in range(int(axis_end / step + 1e-9) + 1):
        at = x(number * step)
        parts.append(f'<line x1="{at:.1f}" y1="{top - 4}" x2="{at:.1f}" y2="{bottom}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{at:.1f}" y="{bottom + 16}" text-anchor="middle" fill="{MUTED}" font-size="11">'
            f"{escape(format_duration(number * step))}</text>"
        )
    for index, row in enumerate(rows):
        middle = top + ROW_HEIGHT * index + ROW_HEIGHT / 2
        parts.append(f'<text x="0" y="{middle + 4:.1f}" fill="{INK}">{escape(row.label)}</text>')
        pen = 0.0
        for segment in row.segments:
            left = max(x(segment.start), pen)
            width = max(x(segment.end) - left, MIN_BAR_PIXELS)
            pen = left + width
            parts.append(
                f'<rect x="{left:.1f}" y="{middle - BAR_HEIGHT / 2:.1f}" width="{width:.1f}" height="{BAR_HEIGHT}" '
                f'fill="{segment.colour}"><title>{escape(segment.title)}</title></rect>'
            )
        colour = PASS if row.passed else FAIL
        parts.append(
            f'<text x="{LABEL_WIDTH + PLOT_WIDTH + 10}" y="{middle + 4:.1f}" fill="{colour}">{escape(row.note)}</text>'
        )
    for index, marker in enumerate(markers):
        at, label_y = x(marker.at), TITLE_LINE + MARKER_LINE * (index + 1)
        anchor = "start" if at < LABEL_WIDTH + 60 else "end" if at > LABEL_WIDTH + PLOT_WIDTH - 60 else "middle"
        parts.append(
            f'<line x1="{at:.1f}" y1="{label_y + 3}" x2="{at:.1f}" y2="{bottom}" stroke="{INK}" '
            'stroke-width="2" stroke-dasharray="6 4"/>'
        )
        parts.append(
            f'<text x="{at:.1f}" y="{label_y}" text-anchor="{anchor}" fill="{INK}" font-size="12">'
            f"{escape(marker.label)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _shorten(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _restore_row(recovery: Recovery, report: RestoreReport) -> Row:
    """Coloured by the RTO and the validation; the data-loss chart shows the RPO."""
    passed = recovery.error is None and recovery.rto_met(report.objectives)
    dark, light = (PASS, PASS_LIGHT) if passed else (FAIL, FAIL_LIGHT)
    start = recovery.requested_s or 0.0
    segments = []
    if recovery.restored_s is not None:
        segments.append(
            Segment(start, recovery.restored_s, dark, f"request to restored copy: {recovery.restored_s - start:.1f} s")
        )
    if recovery.restored_s is not None and recovery.validated_s is not None:
        took = recovery.validated_s - recovery.restored_s
        segments.append(Segment(recovery.restored_s, recovery.validated_s, light, f"validation: {took:.1f} s"))
    if not segments:
        segments.append(Segment(start, start, FAIL, "not restored"))
    if recovery.error:
        note = _shorten(f"FAILED: {recovery.error}")
    else:
        restore = recovery.restore_s or 0.0
        note = f"{format_duration(restore)} " + ("within RTO" if recovery.rto_met(report.objectives) else "OVER RTO")
    return Row(recovery.store, segments, note, passed)


def _loss_row(recovery: Recovery, report: RestoreReport) -> Row:
    if recovery.data_loss_s is None:
        return Row(recovery.store, [], "no heartbeat found" if recovery.error else "not validated", False)
    met = recovery.rpo_met(report.objectives)
    colour = PASS if met else FAIL
    segment = Segment(0.0, max(recovery.data_loss_s, 0.0), colour, f"newest heartbeat {recovery.newest_heartbeat}")
    note = f"{format_duration(recovery.data_loss_s)} " + ("within RPO" if met else "OVER RPO")
    return Row(recovery.store, [segment], note, met)


def restore_charts(report: RestoreReport) -> list[str]:
    rto, rpo = report.objectives.rto_minutes * 60, report.objectives.rpo_minutes * 60
    ends = [r.validated_s or r.restored_s or 0.0 for r in report.recoveries]
    timeline = chart(
        "Restore time: request → restored (dark) → validated (light), against the RTO",
        [_restore_row(recovery, report) for recovery in report.recoveries],
        [Marker(rto, f"RTO {report.objectives.rto_minutes} min")],
        max([rto, *ends]) * 1.05,
    )
    measured = [recovery for recovery in report.recoveries if recovery.measures_data_loss]
    if not measured:
        return [timeline]
    losses = [recovery.data_loss_s or 0.0 for recovery in measured]
    loss = chart(
        "Data-loss window: the drill's start minus the newest heartbeat in the copy, against the RPO",
        [_loss_row(recovery, report) for recovery in measured],
        [Marker(rpo, f"RPO {report.objectives.rpo_minutes} min")],
        max([rpo, *losses]) * 1.05,
    )
    return [timeline, loss]


def failover_chart(report: FailoverReport) -> str:
    """One bar per run of probes with the same answer: green while the endpoint took writes."""
    probes = report.probes
    end = max([probe.at_s for probe in probes] + [report.returned_s or 0.0])
    segments = []
    first = 0
    for index, probe in enumerate(probes):
        following = probes[index + 1] if index + 1 < len(probes) else None
        if following is not None and following.ok == probe.ok:
            continue
        run_end = following.at_s if following is not None else probe.at_s
        count = index - first + 1
        what = "answered as writer" if probe.ok else f"did not answer as writer ({probes[first].error})"
        segments.append(Segment(probes[first].at_s, run_end, PASS if probe.ok else FAIL, f"{count} probes {what}"))
        first = index + 1
    markers = [Marker(0.0, "failover requested")]
    if report.switched_s is not None:
        markers.append(Marker(report.switched_s, "new writer reported"))
    note = f"unavailable {format_duration(report.unavailable_s)}"
    row = Row("writer endpoint", segments, note, report.outcome == "passed")
    title = "Writer endpoint during the failover: answering as writer (green) or not (red)"
    return chart(title, [row], markers, end * 1.05)


def status_chart(report: StatusReport) -> str:
    rpo = report.objectives.rpo_minutes * 60
    rows = []
    for resource in report.resources:
        label = resource.store or resource.resource_arn.rsplit(":", 1)[-1]
        if resource.age_s is None:
            rows.append(Row(label, [], "never backed up", False))
            continue
        met = resource.within_rpo(report.objectives)
        segment = Segment(0.0, resource.age_s, PASS if met else FAIL, resource.resource_arn)
        rows.append(Row(label, [segment], f"{format_duration(resource.age_s)} old", met))
    ages = [resource.age_s or 0.0 for resource in report.resources]
    return chart(
        "Age of the newest completed recovery point, against the RPO",
        rows,
        [Marker(rpo, f"RPO {report.objectives.rpo_minutes} min")],
        max([rpo, *ages]) * 1.05,
    )


STYLE = f"""
body {{ font-family: sans-serif; color: {INK}; margin: 2em; max-width: 1000px; }}
.passed {{ color: {PASS}; }} .failed, .interrupted {{ color: {FAIL}; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; }}
th, td {{ border-bottom: 1px solid {GRID}; padding: 4px 10px; text-align: left; vertical-align: top; }}
th {{ background: #f5f7f8; }} td.ok {{ color: {PASS}; }} td.bad {{ color: {FAIL}; font-weight: bold; }}
svg {{ display: block; margin: 1.5em 0; }} .muted {{ color: {MUTED}; font-size: 13px; }}
"""


def _page(title: str, outcome: str, header: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}: {outcome.upper()}</title><style>{STYLE}</style></head><body>",
            f'<h1>{escape(title)}: <span class="{outcome}">{outcome.upper()}</span></h1>',
            f'<p class="muted">{header}</p>',
            *body,
            "</body></html>",
            "",
        ]
    )


def _table(headings: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    """Rows of (text, css class) cells; text is escaped here."""
    head = "".join(f"<th>{escape(heading)}</th>" for heading in headings)
    body = "".join(
        "<tr>" + "".join(f'<td class="{css}">{escape(text)}</td>' for text, css in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict(ok: bool | None) -> tuple[str, str]:
    if ok is None:
        return "-", ""
    return ("met", "ok") if ok else ("MISSED", "bad")


def _header(report: RestoreReport | FailoverReport | StatusReport | AzLossReport) -> str:
    objectives = report.objectives
    return escape(
        f"Run {report.run_id} against {report.target}, suffix {report.suffix}; now {report.now.isoformat()} "
        f"(the target's clock). Objectives: RPO {objectives.rpo_minutes} min, RTO {objectives.rto_minutes} min."
    )


def restore_page(report: RestoreReport) -> str:
    rows = []
    for r in report.recoveries:
        loss = format_duration(r.data_loss_s) if r.data_loss_s is not None else "-"
        rows.append(
            [
                (r.store, ""),
                (f"{r.source} → {r.copy}", ""),
                (f"{r.method}: {r.origin}" + (f" ({r.origin_time.isoformat()})" if r.origin_time else ""), ""),
                (format_duration(r.restore_s) if r.restore_s is not None else "-", ""),
                _verdict(r.rto_met(report.objectives)),
                (r.newest_heartbeat.isoformat() if r.newest_heartbeat else "-", ""),
                (loss, ""),
                _verdict(r.rpo_met(report.objectives) if r.measures_data_loss else None),
                ("passed", "ok") if r.passed(report.objectives) else (f"FAILED {r.error or ''}".strip(), "bad"),
            ]
        )
    table = _table(
        [
            "store",
            "source → copy",
            "restored from",
            "restore time",
            "RTO",
            "newest heartbeat",
            "data loss",
            "RPO",
            "result",
        ],
        rows,
    )
    cleanup = report.cleanup
    items = [f"<li>deleted: {escape(name)}</li>" for name in cleanup.deleted]
    items += [
        f"<li>kept (--keep): {escape(i.kind)} {escape(i.name)}; delete with <code>{escape(i.delete_with)}</code></li>"
        for i in cleanup.kept
    ]
    items += [
        f'<li class="failed">LEFT BEHIND: {escape(i.kind)} {escape(i.name)} ({escape(i.reason or "")}); '
        f"delete with <code>{escape(i.delete_with)}</code></li>"
        for i in cleanup.left
    ]
    body = [
        *restore_charts(report),
        table,
        "<h2>Cleanup</h2>",
        f"<ul>{''.join(items) or '<li>nothing was created</li>'}</ul>",
    ]
    return _page("Restore drill", report.outcome, _header(report), body)


def failover_page(report: FailoverReport) -> str:
    table = _table(
        [
            "cluster",
            "endpoint",
            "writer before",
            "writer after",
            "request answered",
            "writer switch seen",
            "unavailable",
            "probes",
        ],
        [
            [
                (report.cluster, ""),
                (report.endpoint, ""),
                (report.old_writer, ""),
                (report.new_writer or "-", "" if report.new_writer else "bad"),
                (format_duration(report.returned_s) if report.returned_s is not None else "-", ""),
                (format_duration(report.switched_s) if report.switched_s is not None else "-", ""),
                (format_duration(report.unavailable_s), ""),
                (f"{len(report.probes)} ({sum(not p.ok for p in report.probes)} refused)", ""),
            ]
        ],
    )
    error = f'<p class="failed">{escape(report.error)}</p>' if report.error else ""
    return _page("Failover rehearsal", report.outcome, _header(report), [failover_chart(report), table, error])


def status_page(report: StatusReport) -> str:
    rows = []
    for resource in report.resources:
        drill = resource.last_drill
        last = "none" if drill is None else ("passed" if drill.get("passed") else f"FAILED {drill.get('error') or ''}")
        rows.append(
            [
                (resource.resource_arn, ""),
                (resource.newest_point.isoformat() if resource.newest_point else "never", ""),
                (format_duration(resource.age_s) if resource.age_s is not None else "-", ""),
                _verdict(resource.within_rpo(report.objectives)),
                (last, "" if drill is None else ("ok" if drill.get("passed") else "bad")),
            ]
        )
    table = _table(["resource", "newest completed recovery point", "age", "RPO", "last drill"], rows)
    when = f"Last drill: {report.last_drill_at}." if report.last_drill_at else "No drill report yet."
    body = [status_chart(report), table, f'<p class="muted">Vault {escape(report.vault)}. {escape(when)}</p>']
    return _page("Recovery status", report.outcome, _header(report), body)


STATE_COLOURS = {"OK": PASS, "ALARM": FAIL}


def _alarm_row(alarm: AlarmTrack, end: float) -> Row:
    """The alarm's state from each change to the next; before its first change in the drill, OK."""
    changes = [(0.0, "OK"), *alarm.changes]
    segments = [
        Segment(at, changes[index + 1][0] if index + 1 < len(changes) else end, STATE_COLOURS.get(state, MUTED), state)
        for index, (at, state) in enumerate(changes)
    ]
    role = "pages" if alarm.pages else "must not fire"
    return Row(_shorten(alarm.name, 24), segments, f"{role}; now {alarm.final_state}", alarm.final_state == "OK")


def az_loss_chart(report: AzLossReport) -> str:
    """The disruption, the failover window, each canary invocation (green or red) and each alarm's state."""
    end = max([i.at_s + i.duration_s for i in report.invocations] + [report.loss_end_s or 0.0, 1.0])
    rows = []
    if report.started_s is not None:
        lifted = report.loss_end_s if report.loss_end_s is not None else end
        what = f"{report.availability_zone} disrupted"
        rows.append(Row("AZ loss", [Segment(report.started_s, lifted, FAIL_LIGHT, what)], what, True))
    if report.failover and report.started_s is not None:
        answered = report.writer_answered_s
        took = "no writer" if answered is None else f"writer back after {format_duration(answered - report.started_s)}"
        window = Segment(report.started_s, answered if answered is not None else end, FAIL_LIGHT, took)
        rows.append(Row("writer failover", [window], took, answered is not None))
    invocations = [
        Segment(
            i.at_s,
            i.at_s + i.duration_s,
            PASS if i.ok else FAIL,
            f"{i.phase} {'ok' if i.ok else 'FAILED ' + (i.error or '')} {i.availability_zone or ''}".strip(),
        )
        for i in report.invocations
    ]
    failed = sum(not i.ok for i in report.invocations)
    rows.append(Row("canary", invocations, f"{failed} of {len(report.invocations)} failed", True))
    rows += [_alarm_row(alarm, end) for alarm in report.alarms]
    markers = []
    if report.started_s is not None:
        markers.append(Marker(report.started_s, "experiment running"))
    if report.loss_end_s is not None:
        markers.append(Marker(report.loss_end_s, "disruption lifted"))
    return chart("AZ loss: the disruption, the canary and the alarms", rows, markers, end * 1.05)


def az_loss_page(report: AzLossReport) -> str:
    clauses = _table(
        ["clause of the steady-state hypothesis", "kept", "what the drill saw"],
        [[(c.name, ""), ("kept", "ok") if c.held else ("BROKEN", "bad"), (c.detail, "")] for c in report.clauses],
    )
    invocations = _table(
        ["at", "phase", "placement", "result"],
        [
            [
                (format_duration(i.at_s), ""),
                (i.phase, ""),
                (f"{i.subnet_id} {i.availability_zone}" if i.subnet_id else "not reported (AWS)", ""),
                ("succeeded", "ok") if i.ok else (f"FAILED {i.error or ''}", "bad"),
            ]
            for i in report.invocations
        ],
    )
    experiments = "".join(f"<li>{escape(e)}: {escape(state)}</li>" for e, state in report.experiments.items())
    error = f'<p class="failed">{escape(report.error)}</p>' if report.error else ""
    body = [az_loss_chart(report), error, clauses, "<h2>Experiments</h2>", f"<ul>{experiments}</ul>", invocations]
    return _page(f"AZ-loss drill ({report.availability_zone})", report.outcome, _header(report), body)
