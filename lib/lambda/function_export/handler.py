"""Exports every Lambda function of the app into the data bucket, so a recovery point holds them.

AWS Backup cannot back up Lambda functions. The data bucket is versioned and backed up hourly, so
this function copies each function's deployment package and configuration into it; every recovery
point of the bucket then holds the functions as they were, and ``dr_drill restore --function NAME``
recreates one from there without the repository.

Format, per function, under ``lambda-exports/<FunctionName>/`` (overwritten in place: history lives
in object versions and recovery points):

* ``code.zip``: the deployment package, downloaded from GetFunction's ``Code.Location``, checked
  against the function's ``CodeSha256`` before it is written (S3 checks it again on upload), with
  the hash in its metadata (``code-sha256``);
* ``configuration.json``: GetFunction's ``Configuration`` limited to ``KEPT_CONFIGURATION`` (nested
  blocks to ``KEPT_NESTED``; a key GetFunction does not return is left out), plus ``CodeSha256`` and
  ``ExportedAt`` (ISO 8601, UTC). It is written after ``code.zip``, so its ``CodeSha256`` always
  names the package beside it.

A package whose ``CodeSha256`` equals the exported configuration's (and whose ``code.zip`` carries
that hash) is not downloaded again; an unchanged configuration is not rewritten either, so an
unchanged function costs one GetFunction, one GetObject and one HeadObject an hour.

Triggers:

* the hourly EventBridge schedule (``Scheduled Event``): exports all; if any function failed, the
  invocation raises after trying every function, so Lambda retries it and then dead-letters it into
  the undelivered-alerts queue, whose depth pages;
* the ``Custom::FunctionExport`` resource on every deploy that changes a function's code: Create and
  Update export all and answer SUCCESS, or FAILED naming the functions that could not be exported
  (an access denial -- IAM still propagating a role made in the same deploy -- is retried after 10,
  20 and 30 s first, while the function's time allows); Delete does nothing (the exports stay with
  the data; the bucket's auto-delete empties it on destroy). The answer (``dr_common.cfn``) is sent
  on every path, exceptions included; the physical id is ``<bucket>/lambda-exports/``.

Anything else is logged and ignored, never retried in a loop. The functions (``FUNCTION_NAMES``:
JSON list) and the bucket (``BUCKET_NAME``) come from the environment the stack sets.

This module is the entry point; the decisions are in ``logic``, the AWS calls in ``gateway``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import logic
from aws_lambda_powertools.utilities.typing import LambdaContext
from dr_common import InvalidEvent, cfn, observability
from dr_common.cfn import FAILED, SUCCESS
from dr_common.settings import ConfigurationError
from gateway import Gateway
from logic import ExportFailed, Settings

logger = observability.logger("function-export")
gateway: logic.Gateway = Gateway()  # one per execution environment; unit tests replace it with a fake


def on_schedule(settings: Settings) -> dict[str, Any]:
    summary = logic.summarize(logic.export_all(gateway, settings, datetime.now(UTC)))
    if summary["failed"]:
        raise ExportFailed(logic.failure_reason(summary))
    logger.info("Functions exported", **summary)
    return summary


def on_custom_resource(event: Mapping[str, Any], context: LambdaContext, settings: Settings | None) -> dict[str, Any]:
    """Answer CloudFormation on every path; returns what was answered."""
    status, reason, data = SUCCESS, "", {}
    try:
        if problem := logic.custom_resource_request_problem(event):
            status, reason = FAILED, problem
        elif event["RequestType"] == "Delete":
            reason = "Nothing to delete: the exports stay with the data"
        elif settings is None:
            status, reason = FAILED, "The function's environment (FUNCTION_NAMES, BUCKET_NAME) is invalid"
        else:
            results = logic.export_retrying_denials(
                gateway, settings, lambda: context.get_remaining_time_in_millis() / 1000
            )
            summary = logic.summarize(results)
            data = {"Exported": str(len(summary["exported"])), "Unchanged": str(len(summary["unchanged"]))}
            if summary["failed"]:
                status, reason = FAILED, logic.failure_reason(summary)
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
        kind = logic.classify(event)
    except InvalidEvent as problem:
        logger.warning("Ignored an invalid event", reason=str(problem))
        return {"ignored": str(problem)}
    settings = _settings()
    if kind == "custom-resource":
        return on_custom_resource(event, context, settings)
    if settings is None:
        raise ValueError("The function's environment (FUNCTION_NAMES, BUCKET_NAME) is invalid")
    return on_schedule(settings)
