"""Measures the RPO of every protected resource, from AWS Backup itself.

An hourly plan only *claims* a 1-hour RPO. A resource that silently drops out of the selection, or
whose jobs keep failing, while the others complete, leaves the vault looking healthy while that
resource's real RPO grows to days. So every five minutes (an EventBridge schedule) this function asks
AWS Backup -- the source of truth; there is no second catalog to keep in sync -- for each protected
resource's newest *completed* recovery point and publishes, as CloudWatch Embedded Metric Format:

* ``RecoveryPointAgeMinutes`` per resource (dimension ``Resource``): minutes since that point was
  created, which is how much data a restore from it would lose now. A resource with no completed
  point has no age: it publishes nothing, is logged as "never", and its alarm (missing data =
  breaching) fires -- a breach, not silence. So does the alarm of every resource if this function
  stops running.
* ``WorstRecoveryPointAgeMinutes`` and ``ResourcesWithoutRecoveryPoint`` over all of them.

It also receives AWS Backup's "Backup Job State Change" events and counts ``FailedBackupJobs`` per
resource (FAILED, ABORTED, EXPIRED). Anything else -- a malformed event, another source, a resource
it does not protect -- is logged and counted as ``InvalidEvents`` and otherwise ignored, so a bad
event can never make the function fail again and again.

"Now" is the scheduled event's ``time`` (when EventBridge fired the schedule), so a run measures the
instant it stands for. The protected resources (``PROTECTED_RESOURCES``: JSON ``{label: ARN}``),
the vault the plan writes to, the RPO, the namespace and the environment suffix come from the
environment the stack sets. Only the plan's vault counts: a point elsewhere is not the kit's.

This module is the entry point; the decisions are in ``logic``, the AWS Backup calls in ``gateway``.
"""

from __future__ import annotations

import os
from typing import Any

import logic
from aws_lambda_powertools.utilities.typing import LambdaContext
from dr_common import InvalidEvent, observability
from gateway import Gateway
from logic import Settings

logger = observability.logger("backup-monitor")
gateway: logic.Gateway = Gateway()  # one per execution environment; unit tests replace it with a fake


@observability.tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_environ(os.environ)
    try:
        kind, parsed = logic.classify(event, settings)
    except InvalidEvent as problem:
        logger.warning("Ignored an invalid event", reason=str(problem), event=event)
        logic.metric(settings, "InvalidEvents", 1, {})
        return {"ignored": str(problem)}
    if kind == "job":
        return logic.count_job(parsed, settings)
    summary = logic.publish_ages(logic.measure(gateway, settings, logic.scheduled_time(parsed)), settings)
    logger.info("Recovery point ages", **summary)
    return summary
