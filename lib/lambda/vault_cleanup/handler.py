"""CloudFormation custom resource that empties an AWS Backup vault before CloudFormation deletes it.

CloudFormation cannot delete a backup vault that still holds recovery points (aws/aws-cdk#33711),
and the hourly backup plan keeps adding them, so ``cdk destroy`` would fail on every stack that ran
for more than an hour. The custom resource depends on the vault, so CloudFormation deletes it -- and
runs this function with ``RequestType: Delete`` -- before it deletes the vault.

Delete, for the vault named in ``ResourceProperties.BackupVaultName``:

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

from collections.abc import Mapping
from typing import Any

import logic
from dr_common import cfn, observability
from dr_common.cfn import FAILED, SUCCESS, LambdaContext
from gateway import Gateway
from logic import Outcome

logger = observability.logger("vault-cleanup")
gateway: logic.Gateway = Gateway()  # one per execution environment; unit tests replace it with a fake


@observability.tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> None:
    """Lambda entry point: work out the outcome, then always answer CloudFormation."""
    vault_name = event.get("ResourceProperties", {}).get("BackupVaultName")
    logger.info(
        "Custom-resource request",
        request=event.get("RequestType"),
        resource=event.get("LogicalResourceId"),
        stack=event.get("StackId"),
        vault=vault_name,
    )
    try:
        outcome = _outcome(event, context)
    except Exception as exc:  # any failure must still reach CloudFormation
        logger.exception("Request failed")
        outcome = Outcome(FAILED, f"{type(exc).__name__}: {exc}")
    logger.info("Answering", status=outcome.status, reason=outcome.reason)
    cfn.respond(event, context, outcome.status, outcome.reason, own_id=vault_name)


def _outcome(event: Mapping[str, Any], context: LambdaContext) -> Outcome:
    """Create/Update: nothing to do. Delete: empty the vault."""
    if event["RequestType"] != "Delete":
        return Outcome(SUCCESS)
    return logic.empty_vault(gateway, event["ResourceProperties"]["BackupVaultName"], logic.Clock(context))
