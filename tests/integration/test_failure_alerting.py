"""Break a store and watch the alarm: an unreachable Aurora fails the canary, pages, and recovers."""

from __future__ import annotations

from .behaviour import aurora_stopped, invoke_canary


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
