"""The loss of an Availability Zone on the deployed kit: the AZ-loss drill's steady-state hypothesis
holds, and an interrupted drill lifts the disruption.

On AWS the drill takes its template's ten minutes plus five to fifteen after (FIS bills per
action-minute), and on a deployment younger than its first hourly backup up to two hours more (the
RPO alarms are the experiments' stop conditions); locally it advances the emulator's clock and takes
seconds.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lib import output_keys as keys
from tools.dr_drill import cli

from .behaviour import Clock

pytestmark = [pytest.mark.long, pytest.mark.aws_minutes(40)]


def alarm_state(client: Callable[[str], Any], name: str) -> str:
    return str(client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def quiet(client: Callable[[str], Any], clock: Clock, names: list[str]) -> None:
    """Wait until none of ``names`` is in ALARM: an earlier test's outage must not be judged here."""
    clock.until(
        lambda: all(alarm_state(client, name) != "ALARM" for name in names),
        minutes=90,
        what=f"alarms {', '.join(names)} out of ALARM",
    )


def rpo_alarms(client: Callable[[str], Any]) -> list[str]:
    return [a["AlarmName"] for a in client("cloudwatch").describe_alarms(AlarmNamePrefix="rpo-")["MetricAlarms"]]


def watched_alarms(client: Callable[[str], Any], suffix: str) -> list[str]:
    """The alarms the drill refuses to start with in ALARM: the canary's and the templates' stop conditions."""
    return [f"health-check-errors-{suffix}", f"undelivered-alerts-{suffix}", *rpo_alarms(client)]


def backed_up(client: Callable[[str], Any], clock: Clock) -> None:
    """Wait until every RPO alarm is OK. On a fresh deployment the first hourly backup has not run
    yet: the backup monitor reports every resource as unprotected, and the RPO alarms -- the
    experiments' stop conditions -- would stop the drill as soon as they left INSUFFICIENT_DATA."""
    names = rpo_alarms(client)
    clock.until(
        lambda: all(alarm_state(client, name) == "OK" for name in names),
        minutes=130,
        what="a first backup of every protected resource (RPO alarms OK)",
    )


def fis_notices(inbox) -> set[str]:
    """The experiment ids the alerts topic announced (the FIS state-change rule's alerts)."""
    ids = set()
    for notification in inbox.notifications():
        try:
            body = json.loads(notification["Message"])
        except (ValueError, TypeError):
            continue
        if isinstance(body, dict) and "AWS FIS experiment" in str(body.get("alert")):
            ids.add(body["detail"]["experiment-id"])
    return ids


def test_the_az_loss_drill_keeps_the_steady_state(client, clock, suffix, tmp_path: Path, alert_inbox) -> None:
    backed_up(client, clock)
    quiet(client, clock, watched_alarms(client, suffix))
    alert_inbox.forget()
    out, err = io.StringIO(), io.StringIO()

    code = cli.main(["az-loss", "--minutes", "2", "--report-dir", str(tmp_path)], out=out, err=err)

    assert (code, err.getvalue()) == (0, ""), out.getvalue()
    report = json.loads((tmp_path / "latest-az-loss.json").read_text())
    assert report["outcome"] == "passed"
    assert len(report["hypothesis"]) == 6 and all(clause["held"] for clause in report["hypothesis"])
    assert [i["phase"] for i in report["invocations"]].count("loss") == 2
    assert all(state.startswith(("stopped", "completed")) for state in report["experiments"].values())
    if clock.is_emulated:  # the emulator logs where each execution environment ran
        assert all(i["availability_zone"] for i in report["invocations"])
    assert "<svg" in (tmp_path / "latest-az-loss.html").read_text()
    # Whoever is on call hears of each experiment the drill ran (the FIS state-change rule).
    clock.until(
        lambda: set(report["experiments"]) <= fis_notices(alert_inbox), minutes=5, what="the FIS notices on the topic"
    )


def test_an_interrupted_drill_stops_the_experiment_and_lifts_the_disruption(client, clock, outputs, suffix, tmp_path):
    """Ctrl-C while the zone is gone (the drill's wait raises KeyboardInterrupt, as the SIGINT handler
    does): the experiment is stopped, the subnets have their own network ACL back, exit 130."""
    backed_up(client, clock)
    quiet(client, clock, watched_alarms(client, suffix))
    waits = []

    def interrupt_once_running(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds / 60)
        if len(waits) > 2:
            raise KeyboardInterrupt

    subnets = list(json.loads(outputs[keys.ISOLATED_SUBNET_IDS_BY_AZ]).values())
    before = network_acls(client, subnets)
    out = io.StringIO()

    code = cli.main(
        ["az-loss", "--az", "us-east-1c", "--report-dir", str(tmp_path)], out=out, sleep=interrupt_once_running
    )

    assert code == 130, out.getvalue()
    report = json.loads((tmp_path / "latest-az-loss.json").read_text())
    assert report["outcome"] == "interrupted"
    assert report["experiments"] and all(s.startswith("stopped") for s in report["experiments"].values())
    assert network_acls(client, subnets) == before


def network_acls(client: Callable[[str], Any], subnets: list[str]) -> dict[str, str]:
    acls = client("ec2").describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": subnets}])
    return {
        association["SubnetId"]: acl["NetworkAclId"]
        for acl in acls["NetworkAcls"]
        for association in acl["Associations"]
        if association["SubnetId"] in subnets
    }
