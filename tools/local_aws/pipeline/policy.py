"""IAM's policy evaluation for one principal, one action and one resource: the one evaluator every
enforcement point asks (the request pipeline's authorization step, and the services that act for a
caller: S3 or Secrets Manager using a KMS key, AWS Backup using the role it was given).

[least-privilege] fills it in as AWS documents the evaluation logic ("Policy evaluation logic",
IAM User Guide): identity policies of the caller's role, the resource's own policy, KMS key
policies, conditions; an explicit Deny wins.
"""

from __future__ import annotations

from collections.abc import Mapping

from .request import Caller, Denial

ContextValue = str | bool | list[str]


def authorize(
    caller: Caller | None, action: str, resource: str, context: Mapping[str, ContextValue] | None = None
) -> Denial | None:
    """None if ``caller`` may perform ``action`` (``s3:PutObject``) on ``resource`` (an ARN, or
    ``*`` for actions without a resource type) with the request ``context`` (condition keys such as
    ``aws:SecureTransport``, ``kms:ViaService``); else the AccessDenied answer AWS gives. Callers
    that are not enforced (no caller, the account's root: the operator) are always allowed."""
    return None
