"""Validates the copies AWS Backup restore testing makes, as the DR drill does, and reports back.

The restore testing plan (``lib/constructs/restore_testing.py``) restores the newest recovery point
of Aurora and of DynamoDB every day into a copy with a generated name (``awsbackup-restore-test-*``).
Three kinds of event reach ``handler``:

* AWS Backup's "Restore Job State Change" of this plan's jobs. A COMPLETED DynamoDB copy is checked
  at once: the newest heartbeat item (``pk = "heartbeat"``, highest ``sk``) is in the copy. A
  COMPLETED Aurora copy cannot be checked yet: "AWS Backup restores your Aurora cluster; it does not
  create or attach an Amazon RDS instance to your cluster" (AWS Backup developer guide, "Restoring an
  Amazon Aurora cluster"), and a cluster without an instance answers no SQL. So the handler gives it
  a ``db.serverless`` writer, as the drill does, tagged with the restore job id, and returns: the
  instance takes longer to create than an invocation may run. A FAILED (or ABORTED) restore job is a
  failed test.
* RDS's "RDS DB Instance Event" RDS-EVENT-0005 ("DB instance created") of such a writer: the copy
  now answers. ``SELECT max(checked_at) FROM dr_heartbeat`` over TLS on the copy's endpoint, as
  the probe's read-only database user with an IAM authentication token (the copy keeps the users
  and grants of the backup); then the writer is deleted and only then the result reported, because reporting a final
  result makes AWS Backup delete the cluster, which Aurora refuses while it "still contains DB
  instances in non-deleting state".
* A schedule (the safety net): an Aurora restore test of this plan whose writer was not available
  within ``INSTANCE_DEADLINE_MINUTES`` of the restore (the instance failed, an event was lost) gets
  its writer deleted and is reported FAILED; a writer left behind by a finished test is deleted.

Each result is reported with ``backup:PutRestoreValidationResult``; AWS Backup then deletes the copy.
Per resource type it publishes, as CloudWatch EMF: ``RestoreDurationMinutes`` (restore job creation
until the copy is usable -- for Aurora, until its writer is available: how long a real restore
takes, against the RTO) and ``RestoreValidationFailed`` (1/0); each also without the resource-type
dimension, which is what the alarms watch. Events of other plans, other sources or a broken shape
are logged and counted as ``InvalidEvents``, never raised (a raise would only retry).

Network: the function runs in the VPC's isolated subnets with the functions' security group, which
may reach the database group on 5432; the Aurora copy is restored into the database subnet group with
that group. AWS Backup and RDS answer through their interface endpoints, DynamoDB through its
gateway endpoint; the token is signed locally (no call).

TLS: as the canary (``dr_common.postgres``), the connection is always encrypted and the server
certificate verified against the packaged RDS CA bundle ``DB_CA_BUNDLE`` names.

This module is the entry point; the decisions are in ``logic``, the AWS calls and the query in ``gateway``.
"""

from __future__ import annotations

import os
from typing import Any

import logic
from aws_lambda_powertools.utilities.typing import LambdaContext
from dr_common import InvalidEvent, observability
from dr_common.observability import MetricUnit
from gateway import Gateway
from logic import Settings

logger = observability.logger("restore-validation")
gateway: logic.Gateway = Gateway()  # one per execution environment; unit tests replace it with a fake


@observability.tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """EventBridge target: a restore job state change, a copy's writer created, or the sweep schedule."""
    settings = Settings.from_environ(os.environ)
    try:
        kind = logic.kind(event)
        if kind == "sweep":
            return {"swept": logic.sweep(event, settings, gateway)}
        return (logic.on_restore_job if kind == "restore" else logic.on_writer_created)(event, settings, gateway)
    except InvalidEvent as problem:
        logger.warning("Ignored an event", reason=str(problem), event=event)
        logic.metric(settings, "InvalidEvents", 1, None, MetricUnit.Count)
        return {"ignored": str(problem)}
