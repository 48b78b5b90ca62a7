"""``python -m tools.local_aws dashboard`` draws a dashboard from its own DashboardBody and the
emulator's metric data, and a real headless browser (Debian's Chromium) shows it: not blank, every
widget titled, the line of a graph with data drawn in its colour.

The widget JSON follows the CloudWatch API Reference, "Dashboard Body Structure and Syntax",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
(metric rows ``[namespace, name, dim, value, {options}]``, ``"."`` for a repeated field, math rows
``{"expression": ..., "id": ...}``, ``view`` ``timeSeries`` / ``singleValue``, alarm and text widgets).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tools.local_aws.clock import CLOCK
from tools.local_aws.dashboard import PALETTE, DashboardError, draw, evaluate

FIRST_LINE = tuple(int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5))


def _body(alarm_arn: str) -> dict[str, Any]:
    # fmt: off
    return {
        "widgets": [
            {
                "type": "alarm",
                "x": 0,
                "y": 0,
                "width": 24,
                "height": 2,
                "properties": {"title": "Alarms", "alarms": [alarm_arn]},
            },
            {
                "type": "metric",
                "x": 0,
                "y": 2,
                "width": 16,
                "height": 6,
                "properties": {
                    "view": "timeSeries",
                    "title": "Recovery point age",
                    "metrics": [
                        ["Test/Render", "Age", "Resource", "table", {"label": "table", "stat": "Maximum"}],
                        [".", ".", ".", "bucket", {"label": "bucket (no data)", "stat": "Maximum"}],
                    ],
                    "annotations": {"horizontal": [{"value": 60, "label": "RPO", "color": "#d62728"}]},
                },
            },
            {
                "type": "metric",
                "x": 16,
                "y": 2,
                "width": 8,
                "height": 6,
                "properties": {
                    "view": "singleValue",
                    "title": "Headroom",
                    "metrics": [
                        [{"label": "headroom", "expression": "60 - worst"}],
                        [
                            "Test/Render",
                            "Age",
                            "Resource",
                            "table",
                            {"id": "worst", "visible": False, "stat": "Maximum"},
                        ],
                    ],
                },
            },
            {
                "type": "text",
                "x": 0,
                "y": 8,
                "width": 24,
                "height": 2,
                "properties": {"markdown": "Runbook: docs/RUNBOOK.md"},
            },
        ]
    }
    # fmt: on


def _pixels(png: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), rows unfiltered."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, b"", b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind, data = png[position + 4 : position + 8], png[position + 8 : position + 8 + length]
        header = data if kind == b"IHDR" else header
        chunks += data if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    size = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(chunks), width * size, [], bytearray(width * size)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                nearest = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[i] = (line[i] + nearest[2]) & 255
        rows.append(bytes(line))
        previous = line
    return [tuple(row[i : i + 3]) for row in rows for i in range(0, stride, size)]  # type: ignore[misc]


def test_a_dashboard_is_drawn_and_a_browser_shows_every_widget_and_the_line(
    aws: Callable[[str], Any], suffix: str, tmp_path: Path
) -> None:
    cloudwatch, name = aws("cloudwatch"), f"render-{suffix}"
    alarm = f"render-alarm-{suffix}"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm, Namespace="Test/Render", MetricName="Age", Statistic="Maximum", Period=60,
        EvaluationPeriods=1, Threshold=60, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    alarm_arn = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["AlarmArn"]
    cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps(_body(alarm_arn)))
    now = CLOCK.now()
    for minutes_ago, age in ((50, 10.0), (30, 30.0), (10, 50.0)):
        cloudwatch.put_metric_data(
            Namespace="Test/Render",
            MetricData=[{"MetricName": "Age", "Dimensions": [{"Name": "Resource", "Value": "table"}],
                         "Timestamp": now - timedelta(minutes=minutes_ago), "Value": age}],
        )  # fmt: skip

    page = draw(aws, name, now, 1, tmp_path / "dashboard.html")

    text = page.read_text()
    assert "<script" not in text and "http" not in text.replace("http-equiv", "")  # nothing to run or fetch
    titles = re.findall(r"<h2>(.*?)</h2>", text)
    assert titles == ["Alarms", "Recovery point age", "Headroom", "Widget 4"]  # untitled widgets are numbered
    assert "<polyline" in text  # the table's three points, as one line; the bucket's series is empty
    assert ">10<" in text  # the single value: 60 - the newest age (50)
    assert f"{alarm}: " in text and "Runbook: docs/RUNBOOK.md" in text

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Chromium is missing: `make install` installs Debian's chromium package"
    shot = tmp_path / "dashboard.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={shot}",
         "--window-size=1200,800", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    pixels = _pixels(shot.read_bytes())
    assert len(set(pixels)) > 20, "the screenshot is blank"
    assert sum(1 for pixel in pixels if pixel == FIRST_LINE) > 50, "the graph's line is not drawn"


def test_metric_math_follows_fill_and_a_missing_point_stays_missing() -> None:
    t0, t1 = CLOCK.now(), CLOCK.now() + timedelta(minutes=1)
    series = {"a": {t0: 1.0, t1: 2.0}, "b": {t1: 5.0}}

    assert evaluate("a + b", series) == {t1: 7.0}
    assert evaluate("FILL(b, 0) + a * 2", series) == {t0: 2.0, t1: 9.0}
    with pytest.raises(DashboardError, match="uses 'SUM\\(METRICS\\(\\)\\)'"):
        evaluate("SUM(METRICS())", series)


def test_an_unknown_dashboard_is_refused_in_one_sentence(aws: Callable[[str], Any], tmp_path: Path) -> None:
    with pytest.raises(DashboardError, match="there is no dashboard 'nope'; deploy first"):
        draw(aws, "nope", CLOCK.now(), 3, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()
