"""Exports every Lambda function of the app into the data bucket, so a recovery point holds them.

AWS Backup cannot back up Lambda functions. The data bucket is versioned and backed up hourly, so
this function copies each function's deployment package and configuration into it; every recovery
point of the bucket then holds the functions as they were deployed, and ``dr_drill restore
--function NAME`` recreates one from there without the repository.

It runs as the ``Custom::FunctionExport`` resource, on every deploy that changes a function's code
or configuration: the request's ``Functions`` give each function's configuration (CreateFunction's
fields in GetFunction's spelling, resolved by CloudFormation) and its package in the CDK asset
bucket. No Lambda API call is made (see lib/constructs/function_export.py for why).

Format, per function, under ``lambda-exports/<FunctionName>/`` of the bucket the stack set
(``BUCKET_NAME``; never taken from the event), overwritten in place (history lives in object
versions and recovery points):

* ``code.zip``: the deployment package, copied from the asset bucket, with its CodeSha256 (the base64
  SHA-256 Lambda reports) in its metadata (``code-sha256``); S3 checks the bytes on upload;
* ``configuration.json``: the configuration's ``KEPT_CONFIGURATION`` fields, plus ``CodeSha256`` and
  ``ExportedAt`` (ISO 8601, UTC), written after ``code.zip``, so its ``CodeSha256`` always names the
  package beside it.

An unchanged package or configuration is not written again. Create and Update export all and answer
SUCCESS, or FAILED naming the functions that could not be exported (an access denial -- IAM still
propagating a role made in the same deploy -- is retried after 10, 20 and 30 s first, while the
function's time allows); Delete does nothing (the exports stay with the data; the bucket's
auto-delete empties it on destroy). The answer (``dr_common.cfn``) is sent on every path, exceptions
included; the physical id is ``<bucket>/lambda-exports/``. Any other event is logged and ignored.

This module is the entry point; the decisions are in ``logic``, the AWS calls in ``gateway``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import logic
from aws_lambda_powertools.utilities.typing import LambdaContext
from dr_common import InvalidEvent, cfn, observability
from dr_common.cfn import FAILED, SUCCESS
from dr_common.settings import ConfigurationError
from gateway import Gateway
from logic import Settings

logger = observability.logger("function-export")
gateway: logic.Gateway = Gateway()  # one per execution environment; unit tests replace it with a fake


def on_custom_resource(event: Mapping[str, Any], context: LambdaContext, settings: Settings | None) -> dict[str, Any]:
    """Answer CloudFormation on every path; returns what was answered."""
    status, reason, data = SUCCESS, "", {}
    try:
        if problem := logic.custom_resource_request_problem(event):
            status, reason = FAILED, problem
        elif event["RequestType"] == "Delete":
            reason = "Nothing to delete: the exports stay with the data"
        elif settings is None:
            status, reason = FAILED, "The function's environment (BUCKET_NAME) is invalid"
        else:
            results = logic.export_retrying_denials(
                gateway, settings, logic.functions_of(event), lambda: context.get_remaining_time_in_millis() / 1000
            )
            summary = logic.summarize(results)
            data = {"Exported": str(len(summary["exported"])), "Unchanged": str(len(summary["unchanged"]))}
            if summary["failed"]:
                status, reason = FAILED, logic.failure_reason(summary)
    except InvalidEvent as problem:
        status, reason = FAILED, f"The request is malformed: {problem}"
    except Exception as error:  # answer CloudFormation whatever happened
        logger.exception("The custom-resource request failed")
        status, reason = FAILED, logic.describe(error)
    own_id = f"{settings.bucket}/{logic.EXPORT_PREFIX}" if settings else None
    cfn.respond(event, context, status, reason, own_id=own_id, data=data)
    return {"Status": status, "Reason": reason, "Data": data}


def _settings() -> Settings | None:
    try:
        return Settings.from_environ(os.environ)
    except ConfigurationError as error:
        logger.error("Invalid environment", error=str(error))
        return None


@observability.tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        request = logic.check_request(event)
    except InvalidEvent as problem:
        logger.warning("Ignored an invalid event", reason=str(problem))
        return {"ignored": str(problem)}
    return on_custom_resource(request, context, _settings())
