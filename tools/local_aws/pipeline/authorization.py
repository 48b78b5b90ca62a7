"""Step 3: is the caller allowed to do this? Today: yes, always (moto's own checks still apply).

[least-privilege] decides here, as IAM's policy evaluation logic does: the root caller is allowed;
otherwise the caller's identity policies (its role's inline and attached managed policies), the
resource's policy (bucket, key, queue, topic, function, secret) and a KMS key's policy are read
from the emulated IAM and services, an explicit Deny wins, and the action is
``<service prefix>:<request.operation>`` on the resource the request names (``request.parameters``
for REST APIs; the body for JSON and query APIs). A refusal is answered in the request's protocol
(``request.protocol``), as AWS words it, e.g. HTTP 400 ``AccessDeniedException``: "User:
arn:aws:sts::<account>:assumed-role/<role>/<session> is not authorized to perform: <action> on
resource: <arn> because no identity-based policy allows the <action> action" (403 ``AccessDenied``
for S3 and the query APIs). Database connections are not authorized here: PostgreSQL checks the
password itself.
"""

from __future__ import annotations

from .request import Denial, Request


def decide(request: Request) -> Denial | None:
    """None: every caller may do everything."""
    return None
