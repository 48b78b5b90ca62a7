"""Data-plane canary for the disaster-recovery data stores.

An EventBridge schedule invokes this function every five minutes. Each run writes one heartbeat --
the same id and timestamp everywhere -- into Aurora PostgreSQL, DynamoDB and S3 and reads it back.
That serves two purposes:

* Health. Per dependency it emits ``Success`` (1/0) and ``Latency`` (ms) as one CloudWatch Embedded
  Metric Format (EMF) line on stdout (``dr_common.observability``). If any dependency failed the
  invocation raises after all metrics are printed, so the function's ``Errors`` metric (and its
  alarm) counts it.
* Recovery-point evidence. After a restore, the newest heartbeat in the restored copy tells how much
  data was lost: ``SELECT max(checked_at) FROM dr_heartbeat``, the highest ``sk`` under
  ``pk = "heartbeat"`` in the table, the content of ``heartbeat/latest.json`` in the bucket.

The three checks run in parallel: a dependency that hangs until its timeout must neither delay nor
starve the others (a run killed by the function timeout emits no metrics at all).

Endpoint and credentials: host, port and database come from ``DB_HOST``/``DB_PORT``/``DB_NAME``, the
values the stack wires (after a restore, the restored cluster's endpoint); the canary logs in as its
own database user ``DB_USER`` (INSERT and SELECT on the heartbeat table only) with an IAM
authentication token, never with the master user's secret.

TLS to Aurora: ``dr_common.postgres`` (always encrypted, the server verified against the packaged
RDS CA bundle ``DB_CA_BUNDLE`` names).

This module is the entry point; the checks are in ``logic``, the AWS calls and the SQL in ``gateway``.
"""

from __future__ import annotations

import os
from typing import Any

import logic
from dr_common import observability
from gateway import Gateway
from logic import Settings

logger = observability.logger("health-check")
gateway: logic.Gateway = Gateway()  # one per execution environment; unit tests replace it with a fake


@observability.tracer.capture_lambda_handler(capture_response=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point; the scheduled event carries nothing the canary needs, so it is ignored."""
    return logic.run(Settings.from_environ(os.environ), gateway)
