"""The dev cluster pauses between canary runs, which is what the cost model counts on: idle past its
pause delay it reports 0 ACU (on the local target its PostgreSQL server is stopped), and the next
canary run resumes it and succeeds (Aurora User Guide, "Scaling to Zero ACUs with automatic pause and
resume for Aurora Serverless v2"). Runs on a pausing profile (dev)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lib import output_keys as keys

from .behaviour import invoke_canary

# Against AWS: the pause delay (5 minutes on dev), the capacity metric's delay, one canary run.
pytestmark = [pytest.mark.long, pytest.mark.aws_minutes(15)]


def test_the_idle_dev_cluster_pauses_at_zero_acu_and_the_next_canary_run_resumes_it(
    client, outputs, config, clock
) -> None:
    delay = config.profile.aurora_seconds_until_auto_pause
    assert delay is not None, f"profile {config.profile.name} never pauses its cluster: run this on dev"
    cluster = outputs[keys.AURORA_CLUSTER_IDENTIFIER]
    described = client("rds").describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
    assert described["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0

    def newest_capacity() -> float | None:
        now = clock.now()
        points = client("cloudwatch").get_metric_statistics(
            Namespace="AWS/RDS",
            MetricName="ServerlessDatabaseCapacity",
            Dimensions=[{"Name": "DBClusterIdentifier", "Value": cluster}],
            StartTime=now - timedelta(minutes=2),
            EndTime=now + timedelta(seconds=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        newest: dict[str, Any] | None = max(points, key=lambda point: point["Timestamp"], default=None)
        return None if newest is None else float(newest["Maximum"])

    summary, error = invoke_canary(client, outputs)  # the last connection before the idle time
    assert error is None, summary
    # A scheduled canary run on the way starts the idle time again: allow for one.
    clock.until(lambda: newest_capacity() == 0, minutes=2 * delay / 60 + 5, what="the cluster paused at 0 ACU")

    summary, error = invoke_canary(client, outputs)

    assert error is None, summary
    assert summary["healthy"] is True
    assert {result["dependency"]: result["success"] for result in summary["results"]}["Aurora"] is True
    clock.until(lambda: (newest_capacity() or 0) > 0, minutes=5, what="the cluster's capacity above 0 ACU again")
