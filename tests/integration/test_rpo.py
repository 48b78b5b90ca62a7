"""The RPO is measured per resource: a resource whose backups stop breaches its RPO and pages, while
the others stay green, and the hourly job that cannot start expires and pages; a fresh backup clears it.
(Against AWS this test takes about three and a half hours of real time.)"""

from __future__ import annotations

import pytest

from lib import output_keys as keys

from .behaviour import aurora_stopped, back_up, selected_resources

# Against AWS: the RPO (60 min) runs out, the alarm's window passes, an hourly job expires, Aurora stops
# and starts.
pytestmark = [pytest.mark.long, pytest.mark.aws_minutes(210)]

LABELS = {"rds": "aurora-cluster", "dynamodb": "dynamodb-table", "s3": "data-bucket"}
# The alarm pages 75 to 81 minutes after the last good backup (RPO 60 + four 5-minute reports above
# it + the evaluation minute; tests/local_aws/test_kit_alarm_timing.py); the wait starts 6 to 26 minutes
# after that backup, so this leaves margin for backup jobs that take time.
BREACH_MINUTES = 100
# After the RPO alarm: the first hourly job after the stop expires at most an hour (its start window)
# after its hour, which is at most 60 minutes after the stop; the alarm sees it within the hour's period.
EXPIRY_MINUTES = 120
CLEAR_MINUTES = 20


def test_a_resource_whose_backups_stop_breaches_its_rpo_pages_and_clears(
    client, outputs, suffix, clock, alert_inbox
) -> None:
    cloudwatch = client("cloudwatch")
    arns = {LABELS[arn.split(":")[2]]: arn for arn in selected_resources(client, outputs[keys.BACKUP_PLAN_ID])}
    alarms = {label: f"rpo-{label}-{suffix}" for label in arns}

    def states() -> dict[str, str]:
        found = cloudwatch.describe_alarms(AlarmNames=list(alarms.values()))["MetricAlarms"]
        by_name = {alarm["AlarmName"]: alarm["StateValue"] for alarm in found}
        return {label: by_name[name] for label, name in alarms.items()}

    for arn in arns.values():
        assert back_up(client, outputs, clock, arn)["State"] == "COMPLETED"
    clock.advance(6)  # the monitor measures the fresh points and the alarms evaluate them
    clock.until(lambda: set(states().values()) == {"OK"}, minutes=CLEAR_MINUTES, what="every RPO alarm OK")
    alert_inbox.forget()  # a fresh deployment pages each RPO alarm once, before its first recovery point

    aurora = alarms["aurora-cluster"]
    with aurora_stopped(client, outputs, clock):  # its hourly jobs cannot start (EXPIRED); the others go on
        notice = clock.until(
            lambda: alert_inbox.alarm(aurora, "ALARM"), minutes=BREACH_MINUTES, step=5, what=f"{aurora} paging"
        )
        assert notice["Trigger"]["MetricName"] == "RecoveryPointAgeMinutes"
        assert states() == {"aurora-cluster": "ALARM", "dynamodb-table": "OK", "data-bucket": "OK"}
        # The hourly job that could not start expires at the end of its start window, and that pages too.
        jobs = f"backup-job-failures-{suffix}"
        clock.until(lambda: alert_inbox.alarm(jobs, "ALARM"), minutes=EXPIRY_MINUTES, step=5, what=f"{jobs} paging")

    assert back_up(client, outputs, clock, arns["aurora-cluster"])["State"] == "COMPLETED"
    clock.until(lambda: alert_inbox.alarm(aurora, "OK"), minutes=CLEAR_MINUTES, what=f"{aurora} clearing")
    assert set(states().values()) == {"OK"}
