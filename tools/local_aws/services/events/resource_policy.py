"""Does a resource policy let an AWS service in? What EventBridge needs before it delivers to a
function, topic or queue (and to a target's dead-letter queue).

A small evaluator of resource-based policies for a *service* principal: an explicit Deny wins, else
some Allow statement must match the principal, the action, the resource and every condition. The
request context holds the keys a service sends (``aws:SourceArn``, ``aws:SourceAccount``); a
condition on a key the request lacks is false (true for ``...IfExists``), as in IAM. Statements with
NotPrincipal / NotAction / NotResource, and condition operators other than the String and Arn
families, are not emulated: they match nothing, and are logged.
"""

from __future__ import annotations

import json
import logging
from fnmatch import fnmatchcase
from typing import Any

logger = logging.getLogger(__name__)

_OPERATORS = {"StringEquals", "StringLike", "ArnEquals", "ArnLike"}


def allows(
    policy: str | dict[str, Any] | None, service: str, action: str, resource: str | None, context: dict[str, str]
) -> bool:
    """True if ``policy`` lets ``service`` (e.g. ``events.amazonaws.com``) do ``action`` on
    ``resource`` (None: the policy belongs to that one resource, as a function's does)."""
    document = json.loads(policy) if isinstance(policy, str) else policy or {}
    statements = document.get("Statement", [])
    keys = {key.lower(): value for key, value in context.items()}
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        if not _matches(statement, service, action, resource, keys):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = True
    return allowed


def _matches(statement: dict[str, Any], service: str, action: str, resource: str | None, keys: dict[str, str]) -> bool:
    if {"NotPrincipal", "NotAction", "NotResource"} & statement.keys():
        logger.warning("resource policy statement %s is not emulated (Not* elements): it matches nothing", statement)
        return False
    return (
        _principal(statement.get("Principal"), service)
        and any(fnmatchcase(action.lower(), pattern.lower()) for pattern in _listed(statement.get("Action")))
        and (resource is None or any(fnmatchcase(resource, pattern) for pattern in _listed(statement.get("Resource"))))
        and all(_condition(operator, entries, keys) for operator, entries in (statement.get("Condition") or {}).items())
    )


def _principal(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return service in _listed(principal.get("Service")) or "*" in _listed(principal.get("AWS"))


def _condition(operator: str, entries: dict[str, Any], keys: dict[str, str]) -> bool:
    base = operator.removesuffix("IfExists")
    negated = base.replace("Not", "", 1) if "Not" in base else None
    if (negated or base) not in _OPERATORS:
        logger.warning("condition operator %s is not emulated: the statement matches nothing", operator)
        return False
    for key, expected in entries.items():
        value = keys.get(key.lower())
        if value is None:  # no value matches: a negated operator holds, IfExists holds
            if not (negated or operator.endswith("IfExists")):
                return False
            continue
        like = (negated or base).endswith("Like")
        found = any(fnmatchcase(value, pattern) if like else value == pattern for pattern in _listed(expected))
        if found == bool(negated):
            return False
    return True


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]
