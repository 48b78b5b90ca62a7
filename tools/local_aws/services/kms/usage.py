"""A customer managed KMS key used by a service for its caller: the one question S3, Secrets Manager,
SQS and SNS ask before they encrypt (``kms:GenerateDataKey``) or decrypt (``kms:Decrypt``) a
caller's data, and what the README's "Derived checks" table lists.

As AWS does it (KMS Developer Guide, "kms:ViaService", "kms:CallerAccount"; "Key policies in AWS
KMS"): the service calls KMS with the caller's identity, so the caller's identity policies and the
key policy decide together (``pipeline.policy.authorize``), with ``kms:ViaService`` =
``<service>.<region>.amazonaws.com`` and ``kms:CallerAccount`` in the request context. A service
acting as itself (``Caller.service_principal``: CloudWatch publishing an alarm to an encrypted topic,
EventBridge delivering to one) has no identity policy: only a key policy statement naming its service
principal lets it in, with ``aws:SourceAccount`` and the alarm's or rule's ``aws:SourceArn`` in the
request context. An AWS managed key (``aws/s3``, ``aws/sqs``, ...) lets every principal of the
account use it through its service, so it is not checked.
"""

from __future__ import annotations

from ... import world
from ...pipeline import caller, policy
from ...pipeline.request import Denial
from ..events import resource_policy


def denial(action: str, key_id: str | None, service: str, account_id: str, region: str) -> Denial | None:
    """None if the current caller may have ``service`` (signing name, e.g. ``s3``) perform ``action``
    (``kms:Decrypt``) with the key ``key_id`` (id, ARN or alias) of ``account_id``/``region``; else
    KMS's AccessDeniedException, which each service reports in its own way."""
    who = caller.current()
    if key_id is None or who is None or who.is_root:
        return None
    key = world.kms_key(account_id, region, key_id)
    if key is None or key.key_manager == "AWS":
        return None
    if who.service is not None and who.is_service_principal:
        context = {"aws:SourceAccount": who.account_id, **({"aws:SourceArn": who.source_arn} if who.source_arn else {})}
        if resource_policy.allows(key.policy, who.service, action, key.arn, context):
            return None
        return Denial(
            400,
            "AccessDeniedException",
            f"{who.service} is not authorized to perform: {action} on resource: {key.arn} "
            f"because no resource-based policy allows the {action} action",
        )
    context = {"kms:ViaService": f"{service}.{region}.amazonaws.com", "kms:CallerAccount": who.account_id}
    return policy.authorize(who, action, key.arn, context)
