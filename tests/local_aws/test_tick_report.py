"""``python -m tools.local_aws tick`` says what happened: each invocation with its result and duration,
alarm state changes, SNS publications, dead letters, and one summary line; bad minutes are refused."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest

from tools.local_aws.__main__ import main

from .helpers import TRUST_LAMBDA

FAILING = "def handler(event, context):\n    raise RuntimeError('store unreachable')\n"


def _tick(endpoint: str, *arguments: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(["tick", "--endpoint", endpoint, *arguments])
        except SystemExit as stop:  # argparse refusing an argument
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("minutes", ["-5", "0", "abc", "nan"])
def test_minutes_that_are_not_a_positive_number_are_refused_in_one_sentence(endpoint: str, minutes: str) -> None:
    code, out, err = _tick(endpoint, "--minutes", minutes)

    assert (code, out) == (2, "")
    assert f"'{minutes}' is not a number greater than 0 (e.g. 60 or 0.5)" in err
    assert "Traceback" not in err


def test_a_tick_reports_each_failed_run_the_alarm_it_raised_and_the_page(
    aws: Callable[[str], Any], endpoint: str, suffix: str
) -> None:
    """A scheduled function that fails every run, an alarm on its errors that pages a topic."""
    iam, name = aws("iam"), f"tick-failing-{suffix}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", FAILING)
    function = aws("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": buffer.getvalue()}
    )["FunctionArn"]
    aws("lambda").put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    rule = aws("events").put_rule(Name=name, ScheduleExpression="rate(5 minutes)")["RuleArn"]
    aws("lambda").add_permission(
        FunctionName=name,
        StatementId="schedule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule,
    )
    aws("events").put_targets(Rule=name, Targets=[{"Id": "function", "Arn": function}])
    topic = aws("sns").create_topic(Name=f"tick-pages-{suffix}")["TopicArn"]
    aws("cloudwatch").put_metric_alarm(
        AlarmName=f"{name}-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )

    code, out, _ = _tick(endpoint, "--minutes", "16", "--json")

    assert code == 0, out
    report = json.loads(out)
    runs = [run for run in report["invocations"] if run["function"] == name]
    assert len(runs) >= 3 and not any(run["ok"] for run in runs)
    assert all(run["duration_ms"] >= 0 for run in runs)
    (change,) = [c for c in report["alarm_changes"] if c["alarm"] == f"{name}-errors" and c["new"] == "ALARM"]
    assert "Threshold Crossed" in change["reason"]
    assert report["published"][f"tick-pages-{suffix}"] >= 1
    assert f"{name} 0 ok, {len(runs)} failed" in report["summary"]
    assert f"to ALARM: {name}-errors;" in report["summary"]

    code, out, _ = _tick(endpoint, "--minutes", "5", "--quiet")
    assert code == 0
    assert f"{name}: ERROR" not in out  # quiet: no invocation lines
    assert out.splitlines()[-2].startswith("5 min: ") and out.splitlines()[-1].startswith("now ")
