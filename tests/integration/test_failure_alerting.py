"""Break a store and watch the alarm: an unreachable Aurora fails the canary, pages, and recovers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lib import output_keys as keys

from .behaviour import invoke_canary


@contextmanager
def aurora_stopped(client, outputs, clock) -> Iterator[None]:
    """The Aurora cluster stopped (connections refused) inside the block, started again after it."""
    rds = client("rds")
    cluster = outputs[keys.AURORA_CLUSTER_IDENTIFIER]

    def status() -> str:
        return rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["Status"]

    rds.stop_db_cluster(DBClusterIdentifier=cluster)
    try:
        clock.until(lambda: status() == "stopped", minutes=30, what="the cluster stopping")
        yield
    finally:
        rds.start_db_cluster(DBClusterIdentifier=cluster)
        clock.until(lambda: status() == "available", minutes=30, what="the cluster starting again")


def test_unreachable_aurora_fails_the_canary_pages_and_recovers(client, outputs, suffix, clock, alert_inbox) -> None:
    alarm = f"health-check-errors-{suffix}"

    def alarm_state() -> str:
        return client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]

    with aurora_stopped(client, outputs, clock):
        payload, error = invoke_canary(client, outputs)
        assert error == "Unhandled"
        assert payload["errorType"] == "HealthCheckFailed"
        assert payload["errorMessage"].startswith("1 of 3 dependencies failed: Aurora:")
        notice = clock.until(lambda: alert_inbox.alarm(alarm, "ALARM"), minutes=10, what=f"{alarm} paging ALARM")
        assert notice["Trigger"]["MetricName"] == "Errors"
        assert alarm_state() == "ALARM"

    summary, error = invoke_canary(client, outputs)
    assert error is None, summary
    clock.until(lambda: alert_inbox.alarm(alarm, "OK"), minutes=15, what=f"{alarm} paging OK")
    assert alarm_state() == "OK"
