"""Draw a deployed CloudWatch dashboard as CloudWatch would, from its own DashboardBody and the metric
data the emulator holds: one HTML file with inline SVG, no script, no network.

``python -m tools.local_aws dashboard [--name NAME] [--hours 3] [--out FILE]`` (``make dashboard``).
The widgets keep the body's 24-column grid (``x``, ``y``, ``width``, ``height``). A metric widget
reads each row of its ``metrics`` (``[namespace, name, dimension, value, ..., {options}]``, ``"."``
repeating the field above) with GetMetricStatistics at the row's period and statistic, evaluates
math rows itself (``+ - * /``, numbers, the ids of other rows, ``FILL(id, value)``), and draws a
``timeSeries`` as lines on one time axis with the horizontal annotations, or a ``singleValue`` as the
newest value. An alarm widget shows each alarm's state (DescribeAlarms), a text widget its markdown
as text.
"""

from __future__ import annotations

import ast
import html
import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
STATE_COLOURS = {"OK": "#2ca02c", "ALARM": "#d62728", "INSUFFICIENT_DATA": "#7f7f7f"}
ROW_PX = 44  # height of one grid row
COLUMN_PX = 52  # about the width of one of the 24 grid columns on a 1400-pixel page
DEFAULT_PERIOD, DEFAULT_STAT = 300, "Average"
OPERATORS: Mapping[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
Series = dict[datetime, float]


class DashboardError(ValueError):
    """The dashboard cannot be drawn; the message says why in one sentence."""


@dataclass
class Line:
    label: str
    points: Series
    colour: str
    visible: bool = True


@dataclass
class Panel:
    """One widget, ready to draw."""

    kind: str
    title: str
    x: int
    y: int
    width: int
    height: int
    lines: list[Line] = field(default_factory=list)
    annotations: list[tuple[float, str, str]] = field(default_factory=list)  # value, label, colour
    alarms: list[tuple[str, str]] = field(default_factory=list)  # name, state
    text: str = ""
    single_value: bool = False


class Reader:
    """Reads what the widgets show, through ``client(service)``, over ``[start, end]``."""

    def __init__(self, client: Callable[[str], Any], start: datetime, end: datetime) -> None:
        self.client, self.start, self.end = client, start, end

    def panels(self, body: Mapping[str, Any]) -> list[Panel]:
        panels = []
        for number, widget in enumerate(body.get("widgets", []), start=1):
            properties = widget.get("properties", {})
            panel = Panel(
                kind=widget.get("type", "?"),
                title=str(properties.get("title") or f"Widget {number}"),
                x=int(widget.get("x", 0)),
                y=int(widget.get("y", 0)),
                width=int(widget.get("width", 6)),
                height=int(widget.get("height", 6)),
            )
            if panel.kind == "metric":
                panel.lines = self.lines(properties)
                panel.single_value = properties.get("view") == "singleValue"
                for number_, note in enumerate(properties.get("annotations", {}).get("horizontal", [])):
                    colour = note.get("color", PALETTE[number_ % len(PALETTE)])
                    panel.annotations.append((float(note["value"]), str(note.get("label", "")), colour))
            elif panel.kind == "alarm":
                panel.alarms = self.alarm_states(properties.get("alarms", []))
            elif panel.kind == "text":
                panel.text = str(properties.get("markdown", ""))
            panels.append(panel)
        return panels

    def lines(self, properties: Mapping[str, Any]) -> list[Line]:
        series: dict[str, Series] = {}
        lines: list[Line] = []
        expressions: list[tuple[str, Mapping[str, Any]]] = []
        previous: list[Any] = []
        for number, row in enumerate(properties.get("metrics", [])):
            options = next((item for item in row if isinstance(item, dict)), {})
            fields = [item for item in row if not isinstance(item, dict)]
            ident = str(options.get("id", f"m{number}"))
            if "expression" in options:
                expressions.append((ident, options))
                continue
            fields = [previous[i] if item == "." else item for i, item in enumerate(fields)]
            previous = fields
            namespace, name, *dimensions = fields
            series[ident] = self.statistics(
                namespace,
                name,
                dict(zip(dimensions[::2], dimensions[1::2], strict=True)),
                int(options.get("period", properties.get("period", DEFAULT_PERIOD))),
                str(options.get("stat", properties.get("stat", DEFAULT_STAT))),
            )
            label = str(options.get("label") or f"{name} {' '.join(map(str, dimensions[1::2]))}".strip())
            lines.append(Line(label, series[ident], "", options.get("visible", True)))
        for ident, math in expressions:  # after the rows they read
            points = evaluate(str(math["expression"]), series)
            series[ident] = points
            lines.append(Line(str(math.get("label", math["expression"])), points, "", math.get("visible", True)))
        shown = [line for line in lines if line.visible]
        for number, line in enumerate(shown):
            line.colour = PALETTE[number % len(PALETTE)]
        return shown

    def statistics(self, namespace: str, name: str, dimensions: Mapping[str, str], period: int, stat: str) -> Series:
        percentile = stat.startswith("p")  # p99: an extended statistic
        points = self.client("cloudwatch").get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
            StartTime=self.start,
            EndTime=self.end,
            Period=period,
            **({"ExtendedStatistics": [stat]} if percentile else {"Statistics": [stat]}),
        )["Datapoints"]
        values = (
            (point["Timestamp"], (point.get("ExtendedStatistics") or {}).get(stat, point.get(stat))) for point in points
        )
        return {moment: float(value) for moment, value in values if value is not None}

    def alarm_states(self, arns: list[str]) -> list[tuple[str, str]]:
        names = [arn.rsplit(":", 1)[-1] for arn in arns]
        states = {}
        for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
            answer = self.client("cloudwatch").describe_alarms(AlarmNames=names[start : start + 100])
            states.update({alarm["AlarmName"]: alarm["StateValue"] for alarm in answer["MetricAlarms"]})
        return [(name, states.get(name, "INSUFFICIENT_DATA")) for name in names]


def evaluate(expression: str, series: Mapping[str, Series]) -> Series:
    """A metric math expression over the rows' series, point by point (a missing point stays missing
    unless ``FILL`` gives it a value)."""
    try:
        tree = ast.parse(expression, mode="eval").body
    except SyntaxError:
        raise DashboardError(f"the expression {expression!r} is not metric math this renderer reads") from None
    times = sorted({moment for points in series.values() for moment in points})

    def value(node: ast.AST, moment: datetime) -> float | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id in series:
            return series[node.id].get(moment)
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            left, right = value(node.left, moment), value(node.right, moment)
            if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
                return None
            return OPERATORS[type(node.op)](left, right)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "FILL":
            filled = value(node.args[0], moment)
            return filled if filled is not None else value(node.args[1], moment)
        raise DashboardError(
            f"the expression {expression!r} uses {ast.unparse(node)!r}, which this renderer cannot read"
        )

    points = {moment: value(tree, moment) for moment in times}
    return {moment: point for moment, point in points.items() if point is not None}


def render(name: str, panels: list[Panel], start: datetime, end: datetime) -> str:
    """The page: the dashboard's grid of widgets, each drawn in SVG or HTML, no script."""
    rows = max((panel.y + panel.height for panel in panels), default=1)
    cells = "\n".join(_panel(panel, start, end) for panel in panels)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(name)}</title>
<style>
body {{ font-family: sans-serif; margin: 16px; background: #f2f3f3; color: #16191f; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} .window {{ color: #545b64; margin-bottom: 12px; font-size: 13px; }}
.grid {{ display: grid; grid-template-columns: repeat(24, 1fr); gap: 8px;
  grid-template-rows: repeat({rows}, {ROW_PX}px); }}
.widget {{ background: #fff; border: 1px solid #d5dbdb; padding: 8px; overflow: hidden; }}
.widget h2 {{ font-size: 14px; margin: 0 0 6px; }}
.legend {{ font-size: 11px; }} .legend span {{ margin-right: 10px; white-space: nowrap; }}
.single {{ font-size: 40px; font-weight: bold; }} .nodata {{ color: #7f7f7f; font-size: 13px; }}
.alarm {{ display: inline-block; margin: 2px 8px 2px 0; font-size: 12px; }}
.dot {{ display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 4px; }}
</style></head><body>
<h1>{html.escape(name)}</h1>
<div class="window">{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC (the emulator's clock)</div>
<div class="grid">
{cells}
</div></body></html>
"""


def _panel(panel: Panel, start: datetime, end: datetime) -> str:
    place = f"grid-column: {panel.x + 1} / span {panel.width}; grid-row: {panel.y + 1} / span {panel.height};"
    if panel.kind == "alarm":
        content = "".join(
            f'<span class="alarm"><span class="dot" style="background:{STATE_COLOURS.get(state, "#7f7f7f")}">'
            f"</span>{html.escape(name)}: {state}</span>"
            for name, state in panel.alarms
        )
    elif panel.kind == "text":
        content = "".join(f"<p>{html.escape(line)}</p>" for line in panel.text.splitlines() if line.strip())
    elif panel.single_value:
        content = "".join(_single(line) for line in panel.lines) or '<div class="nodata">No data</div>'
    else:
        content = _graph(panel, start, end, panel.width * COLUMN_PX, panel.height * ROW_PX - 60)
    return f'<div class="widget" style="{place}"><h2>{html.escape(panel.title)}</h2>{content}</div>'


def _single(line: Line) -> str:
    if not line.points:
        return f'<div>{html.escape(line.label)}</div><div class="nodata">No data</div>'
    newest = line.points[max(line.points)]
    return f'<div>{html.escape(line.label)}</div><div class="single" style="color:{line.colour}">{newest:.4g}</div>'


def _graph(panel: Panel, start: datetime, end: datetime, width: int, height: int) -> str:
    """Lines on one time axis, scaled to the data and the annotations, in a viewBox of about the
    widget's size (so text keeps its shape)."""
    span = max((end - start).total_seconds(), 1)
    values = [v for line in panel.lines for v in line.points.values()] + [a[0] for a in panel.annotations]
    if not any(line.points for line in panel.lines):
        body = f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#7f7f7f">No data</text>'
    else:
        low, high = min([0.0, *values]), max([1.0, *values])
        scale = (high - low) or 1.0

        def xy(moment: datetime, v: float) -> str:
            x = (moment - start).total_seconds() / span * (width - 50) + 45
            return f"{x:.1f},{height - 15 - (v - low) / scale * (height - 25):.1f}"

        parts = [
            f'<text x="0" y="12" font-size="10">{high:.4g}</text>',
            f'<text x="0" y="{height - 15}" font-size="10">{low:.4g}</text>',
            f'<line x1="45" y1="{height - 15}" x2="{width}" y2="{height - 15}" stroke="#d5dbdb"/>',
        ]
        for value_, label, colour in panel.annotations:
            y = xy(start, value_).split(",")[1]
            parts.append(f'<line x1="45" y1="{y}" x2="{width}" y2="{y}" stroke="{colour}" stroke-dasharray="4 3"/>')
            parts.append(
                f'<text x="{width - 4}" y="{float(y) - 3}" font-size="10" text-anchor="end">{html.escape(label)}</text>'
            )
        for line in panel.lines:
            points = " ".join(xy(moment, v) for moment, v in sorted(line.points.items()))
            if len(line.points) == 1:
                parts.append(
                    f'<circle cx="{points.split(",")[0]}" cy="{points.split(",")[1]}" r="3" fill="{line.colour}"/>'
                )
            elif points:
                parts.append(f'<polyline fill="none" stroke="{line.colour}" stroke-width="2" points="{points}"/>')
        body = "".join(parts)
    legend = "".join(
        f'<span><span class="dot" style="background:{line.colour}"></span>{html.escape(line.label)}</span>'
        for line in panel.lines
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" height="{height}">{body}</svg>'
        f'<div class="legend">{legend}</div>'
    )


def draw(client: Callable[[str], Any], name: str, end: datetime, hours: float, out: Path) -> Path:
    """Read the dashboard ``name`` and its data for the ``hours`` before ``end``; write the page."""
    cloudwatch = client("cloudwatch")
    try:
        body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    except cloudwatch.exceptions.ResourceNotFound:
        raise DashboardError(
            f"there is no dashboard {name!r}; deploy first (make deploy) or name one with --name"
        ) from None
    start = end - timedelta(hours=hours)
    panels = Reader(client, start, end).panels(body)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(name, panels, start, end))
    return out
