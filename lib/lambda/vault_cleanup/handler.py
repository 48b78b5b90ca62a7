"""CloudFormation custom resource that empties an AWS Backup vault before CloudFormation deletes it.

CloudFormation cannot delete a backup vault that still holds recovery points (aws/aws-cdk#33711),
and the hourly backup plan keeps adding them, so ``cdk destroy`` would fail on every stack that ran
for more than an hour. The custom resource depends on the vault, so CloudFormation deletes it -- and
runs this function with ``RequestType: Delete`` -- before it deletes the vault.

The vault is pinned at deploy time: the function's environment names it (``BACKUP_VAULT_NAME``), and
the function empties no other. Before anything else, every request is checked against it: one whose
``ResourceProperties.BackupVaultName`` names another vault, or none, is answered FAILED with one
sentence and no AWS call -- anyone allowed to invoke the function could send a fake Delete, and it
must neither delete a recovery point nor stop a job. AWS Backup's client works in the function's own
account and region, so the pinned name is the vault in this account and region.

Delete, for the pinned vault:

1. stop the vault's backup jobs that are still CREATED, PENDING or RUNNING, so no new recovery
   point lands after the vault was emptied (Aurora/RDS jobs cannot be stopped; they are waited for);
2. request deletion of every recovery point in the vault;
3. poll until the vault is empty, waiting for points that are still CREATING or DELETING, and
   answer SUCCESS -- or FAILED with the reason, when a point cannot be deleted or the function's
   time is nearly out. A vault that no longer exists answers SUCCESS.

Create and Update have nothing to do. The function answers CloudFormation itself (``dr_common.cfn``)
on every path, exceptions included, so a stack operation never waits for CloudFormation's timeout;
the physical id is the vault's name.

This module is the entry point; the decisions are in ``logic``, the AWS Backup calls in ``gateway``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import logic
from dr_common import cfn, observability
from dr_common.cfn import FAILED, SUCCESS, LambdaContext
from gateway import Gateway
from logic import Outcome

logger = observability.logger("vault-cleanup")
gateway: logic.Gateway = Gateway()  # one per execution environment; unit tests replace it with a fake
# The function's environment variable that names the one vault it may empty (set by the construct).
VAULT_VARIABLE = "BACKUP_VAULT_NAME"


@observability.tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> None:
    """Lambda entry point: work out the outcome, then always answer CloudFormation."""
    properties = event.get("ResourceProperties")
    logger.info(
        "Custom-resource request",
        request=event.get("RequestType"),
        resource=event.get("LogicalResourceId"),
        stack=event.get("StackId"),
        vault=properties.get("BackupVaultName") if isinstance(properties, Mapping) else None,
    )
    try:
        outcome = _outcome(event, context)
    except Exception as exc:  # any failure must still reach CloudFormation
        logger.exception("Request failed")
        outcome = Outcome(FAILED, f"{type(exc).__name__}: {exc}")
    logger.info("Answering", status=outcome.status, reason=outcome.reason)
    cfn.respond(event, context, outcome.status, outcome.reason, own_id=os.environ.get(VAULT_VARIABLE))


def _outcome(event: Mapping[str, Any], context: LambdaContext) -> Outcome:
    """A request for another vault: refused. Create/Update: nothing to do. Delete: empty the vault."""
    pinned = os.environ.get(VAULT_VARIABLE, "")
    refusal = logic.refusal(pinned, event.get("ResourceProperties"))
    if refusal is not None:
        return refusal
    if event["RequestType"] != "Delete":
        return Outcome(SUCCESS)
    return logic.empty_vault(gateway, pinned, logic.Clock(context))
