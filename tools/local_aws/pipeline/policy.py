"""IAM's policy evaluation for one principal, one action and one resource: the one evaluator every
enforcement point asks (the request pipeline's authorization step, and the services that act for a
caller: S3 or Secrets Manager using a KMS key, AWS Backup using the role it was given).

It follows the IAM User Guide, "Policy evaluation logic" (same account only,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

- an explicit Deny in any policy wins;
- otherwise an Allow in the role's identity policies (inline + attached managed) or in the
  resource's policy for this principal allows. A resource policy whose principal is the account
  (``arn:aws:iam::<account>:root``) grants nothing by itself: it delegates to identity policies;
- a KMS key is the exception: its key policy must allow, directly or through that account
  statement together with an identity policy ("Key policies in AWS KMS", AWS KMS Developer Guide).

Written here rather than taken from a library: moto's ``IAMPolicy`` knows no condition operator
but StringEquals, treats a failed condition as a Deny and has no ``?`` wildcard, and the only full
evaluator found (``@cloud-copilot/iam-simulate``) is AGPL. Documents are compiled once per text
(``_compiled``), so a changed role policy is simply a new text.

A condition key the evaluator does not know fails closed (an Allow does not apply, a Deny does) and
is logged as an error, so a gap shows instead of passing silently. ``SUPPORTED_KEYS`` lists them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import world
from .request import Caller, Denial

logger = logging.getLogger(__name__)

ContextValue = str | bool | list[str]

# Set in the server's environment (or ``start --iam off``) to switch enforcement off for debugging.
SWITCH = "LOCAL_AWS_IAM"

# Keys the request context carries whenever AWS would set them: absent here means absent on AWS.
# (``aws:SecureTransport`` and the principal's keys are filled in by ``authorize`` itself.) A key
# the context carries is evaluated whatever it is; an absent key outside this list fails closed.
SUPPORTED_KEYS = frozenset(
    {
        "aws:securetransport",
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:requestedregion",
        "aws:resourceaccount",
        "aws:sourcearn",
        "aws:sourceaccount",
        "aws:calledvia",
        "aws:calledviafirst",
        "aws:calledvialast",
        "aws:viaawsservice",
        "kms:viaservice",
        "kms:calleraccount",
        "kms:encryptioncontextkeys",
        "kms:grantisforawsresource",
        "iam:passedtoservice",
        "s3:tlsversion",
        "s3:prefix",
        "s3:delimiter",
        "s3:max-keys",
    }
)
# Key families supported by prefix (the request names the rest).
SUPPORTED_PREFIXES = ("kms:encryptioncontext:",)

_OPERATORS = frozenset(
    {
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "ArnEquals",
        "ArnNotEquals",
        "ArnLike",
        "ArnNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "Bool",
        "Null",
    }
)


def enforcing() -> bool:
    """Enforcement is on unless the server runs with ``LOCAL_AWS_IAM=off`` (debugging only)."""
    return os.environ.get(SWITCH, "on").lower() != "off"


def enforced(caller: Caller | None) -> bool:
    """Whether IAM evaluates ``caller``: the app's own principals -- a function's execution
    environment, a service acting with a role it was given (AWS Backup), a session of a role only
    AWS services may assume (a test acting as a function's role) -- and not the operator's: the root
    (the CLIs, tests, the drill), the role sessions the CDK CLI assumes (its bootstrap roles trust the
    account), keys of IAM users."""
    if caller is None or not enforcing():
        return False
    return bool(caller.function_arn or caller.service) or (
        caller.role_arn is not None and _assumed_by_services_only(caller.role_arn)
    )


def _assumed_by_services_only(role_arn: str) -> bool:
    """Whether the role's trust policy lets only AWS service principals assume it."""
    trust = world.role_trust_policy(role_arn)
    try:
        document = json.loads(trust) if trust else None
    except ValueError:
        return False
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    allowing = [
        statement.get("Principal")
        for statement in (statements if isinstance(statements, list) else [statements])
        if isinstance(statement, dict) and statement.get("Effect") == "Allow"
    ]
    return bool(allowing) and all(isinstance(p, dict) and set(p) == {"Service"} for p in allowing)


def authorize(
    caller: Caller | None,
    action: str,
    resource: str,
    context: Mapping[str, ContextValue] | None = None,
    governed_by: str | None = None,
) -> Denial | None:
    """None if ``caller`` may perform ``action`` (``s3:PutObject``) on ``resource`` (an ARN, or
    ``*`` for actions without a resource type) with the request ``context`` (condition keys such as
    ``aws:SourceArn``, ``kms:ViaService``); else the AccessDenied answer AWS gives (JSON protocol
    form: ``answer`` gives another protocol's). ``governed_by``: the ARN whose resource policy
    applies when it is not the resource's own (an AWS Backup vault's access policy governs its
    recovery points). Callers that are not enforced (``enforced``: the operator's) are always allowed."""
    if caller is None or not enforced(caller):
        return None
    keys = _context(caller, action, context or {})
    identity = [s for document in world.role_policies(caller.role_arn or "") or () for s in _compiled(document)]
    holder = governed_by or resource
    found = world.resource_policy(holder, caller.account_id) if holder != "*" else None
    on_resource = _compiled(found if isinstance(found, str) else json.dumps(found)) if found else ()
    who = f"User: {caller.principal_arn} is not authorized to perform: {action} on resource: {resource}"
    if any(s.deny and s.applies(action, resource, keys) for s in identity):
        return _denial(f"{who} with an explicit deny in an identity-based policy")
    if any(s.deny and s.applies(action, resource, keys) and s.names(caller) for s in on_resource):
        return _denial(f"{who} with an explicit deny in a resource-based policy")
    identity_allows = any(not s.deny and s.applies(action, resource, keys) for s in identity)
    granted = [s.names(caller) for s in on_resource if not s.deny and s.applies(action, resource, keys)]
    if action.lower().startswith("kms:"):
        if "principal" in granted or ("account" in granted and identity_allows):
            return None
        lacking = "identity" if "account" in granted else "resource"  # the key policy delegates, or not
        return _denial(f"{who} because no {lacking}-based policy allows the {action} action")
    if identity_allows or "principal" in granted:
        return None
    return _denial(f"{who} because no identity-based policy allows the {action} action")


def authorize_through_endpoint(
    document: str | Mapping[str, Any],
    caller: Caller | None,
    action: str,
    resource: str,
    context: Mapping[str, ContextValue] | None = None,
) -> Denial | None:
    """None if the VPC endpoint's policy ``document`` lets ``caller`` perform ``action`` on
    ``resource`` through it; else AWS's AccessDenied. An endpoint policy grants nothing, it only
    limits what passes the endpoint: an explicit Deny wins, and without an Allow that names the
    principal the request is refused "because no VPC endpoint policy allows" it (AWS PrivateLink
    Guide, "Control access to VPC endpoints using endpoint policies"; IAM User Guide, "Troubleshoot
    access denied error messages")."""
    if caller is None or not enforced(caller):
        return None
    keys = _context(caller, action, context or {})
    statements = _compiled(document if isinstance(document, str) else json.dumps(document))
    who = f"User: {caller.principal_arn} is not authorized to perform: {action} on resource: {resource}"
    applying = [s for s in statements if s.applies(action, resource, keys) and s.names(caller) == "principal"]
    if any(s.deny for s in applying):
        return _denial(f"{who} with an explicit deny in a VPC endpoint policy")
    if any(not s.deny for s in applying):
        return None
    return _denial(f"{who} because no VPC endpoint policy allows the {action} action")


def answer(denial: Denial, protocol: str | None, prefix: str) -> Denial:
    """The denial as the service answers it in its protocol: S3's REST-XML 403 ``AccessDenied``
    "Access Denied", the query APIs' 403 ``AccessDenied`` (SNS: ``AuthorizationError``, EC2:
    ``UnauthorizedOperation``), the JSON APIs' ``AccessDeniedException`` (403 for REST-JSON)."""
    if prefix == "s3":
        return Denial(403, "AccessDenied", "Access Denied")
    if prefix == "sns":
        return Denial(403, "AuthorizationError", denial.message)
    if protocol == "ec2":
        return Denial(403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
    if protocol == "query":
        return Denial(403, "AccessDenied", denial.message)
    if protocol == "rest-json":
        return Denial(403, "AccessDeniedException", denial.message)
    return denial


def _denial(message: str) -> Denial:
    logger.info("IAM: %s", message)
    return Denial(400, "AccessDeniedException", message)


def _context(caller: Caller, action: str, given: Mapping[str, ContextValue]) -> dict[str, list[str]]:
    """The request context, keys in lower case, every value a list of strings. SDK calls reach AWS
    over TLS, so every request is secure (the local endpoint's plain HTTP is a transport detail)."""
    keys: dict[str, ContextValue] = {
        "aws:SecureTransport": True,
        "aws:PrincipalAccount": caller.account_id,
        "aws:PrincipalArn": caller.role_arn or caller.principal_arn,
        "aws:PrincipalType": "AssumedRole" if caller.role_arn else "User",
    }
    if action.lower().startswith("kms:"):
        keys["kms:CallerAccount"] = caller.account_id
    keys.update(given)
    return {key.lower(): _strings(value) for key, value in keys.items()}


def _strings(value: Any) -> list[str]:
    """A policy or context value as strings (JSON true -> "true", 1.2 -> "1.2")."""
    values = value if isinstance(value, list) else [value]
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in values]


# --- compiled statements --------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    operator: str  # without ForAnyValue:/ForAllValues: and IfExists
    key: str  # lower case
    values: tuple[str, ...]
    quantifier: str | None  # "ForAnyValue" / "ForAllValues"
    if_exists: bool

    def holds(self, context: Mapping[str, list[str]]) -> bool | None:
        """True or False, as IAM decides it; None for a key or operator the evaluator does not know."""
        if self.operator not in _OPERATORS:
            _unknown(f"condition operator {self.operator}")
            return None
        present = context.get(self.key)
        if present is None and not (self.key in SUPPORTED_KEYS or self.key.startswith(SUPPORTED_PREFIXES)):
            _unknown(f"condition key {self.key}")
            return None
        if self.operator == "Null":
            return any(value.lower() == "true" for value in self.values) == (not present)
        negated = "Not" in self.operator
        if not present:  # the key is absent: "ForAllValues" holds for an empty set, negations hold
            return self.quantifier == "ForAllValues" or (self.quantifier is None and (self.if_exists or negated))
        results = [self._one(value) != negated for value in present]
        return all(results) if self.quantifier == "ForAllValues" else any(results)

    def _one(self, value: str) -> bool:
        """Whether ``value`` matches one of the policy's values (the operator without its Not)."""
        kind = self.operator.replace("Not", "")
        if kind.startswith("Arn"):
            return any(_arn_matches(pattern, value) for pattern in self.values)
        if kind == "StringLike":
            return any(_glob(pattern, False).fullmatch(value) for pattern in self.values)
        if kind == "StringEqualsIgnoreCase":
            return value.casefold() in {pattern.casefold() for pattern in self.values}
        if kind.startswith("Numeric"):
            return any(_compare(kind, value, pattern) for pattern in self.values)
        if kind == "Bool":
            return value.lower() in {pattern.lower() for pattern in self.values}
        return value in self.values  # StringEquals


def _compare(kind: str, value: str, pattern: str) -> bool:
    try:
        left, right = float(value), float(pattern)
    except ValueError:
        return False
    return {
        "NumericEquals": left == right,
        "NumericLessThan": left < right,
        "NumericLessThanEquals": left <= right,
        "NumericGreaterThan": left > right,
        "NumericGreaterThanEquals": left >= right,
    }[kind]


_reported: set[str] = set()


def _unknown(what: str) -> None:
    if what not in _reported:
        _reported.add(what)
        logger.error("IAM: %s is not supported by the local evaluator: the statement fails closed", what)


@dataclass(frozen=True)
class Statement:
    deny: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...] | None  # None: the statement has no Resource element
    not_resource: bool
    principals: frozenset[str] | None  # None: no Principal element (an identity policy)
    not_principal: bool
    conditions: tuple[Condition, ...]

    def applies(self, action: str, resource: str, context: Mapping[str, list[str]]) -> bool:
        """Whether the statement covers the request, conditions included (principals aside). A
        condition that cannot be decided fails closed: an Allow does not apply, a Deny does."""
        if any(_glob(pattern, True).fullmatch(action) for pattern in self.actions) == self.not_action:
            return False
        if self.resources is not None and (
            any(_arn_matches(pattern, resource) for pattern in self.resources) == self.not_resource
        ):
            return False
        for condition in self.conditions:
            holds = condition.holds(context)
            if holds is None:
                return self.deny
            if not holds:
                return False
        return True

    def names(self, caller: Caller) -> str | None:
        """How the statement's principal names the caller: ``principal`` (its role or session, or
        everyone), ``account`` (its account: delegation to identity policies), or None."""
        if self.principals is None:
            return None
        own = {caller.principal_arn, caller.role_arn or caller.principal_arn}
        account = f"arn:aws:iam::{caller.account_id}:root"
        if self.not_principal:
            return None if own & self.principals else "principal"
        if "*" in self.principals or own & self.principals:
            return "principal"
        return "account" if account in self.principals else None


@functools.lru_cache(maxsize=1024)
def _compiled(document: str) -> tuple[Statement, ...]:
    """A policy document's statements, compiled once per text."""
    parsed = json.loads(document)
    found = parsed.get("Statement", [])
    return tuple(_statement(statement) for statement in (found if isinstance(found, list) else [found]))


def _statement(statement: dict[str, Any]) -> Statement:
    resources = statement.get("Resource", statement.get("NotResource"))
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    conditions = []
    for operator, entries in (statement.get("Condition") or {}).items():
        quantifier, _, base = operator.rpartition(":")
        for key, values in entries.items():
            conditions.append(
                Condition(
                    base.removesuffix("IfExists"),
                    key.lower(),
                    tuple(_strings(values)),
                    quantifier or None,
                    base.endswith("IfExists"),
                )
            )
    return Statement(
        deny=statement.get("Effect") == "Deny",
        actions=tuple(_strings(statement.get("Action", statement.get("NotAction", [])))),
        not_action="NotAction" in statement,
        resources=tuple(_strings(resources)) if resources is not None else None,
        not_resource="NotResource" in statement,
        principals=_principals(principal) if principal is not None else None,
        not_principal="NotPrincipal" in statement,
        conditions=tuple(conditions),
    )


def _principals(principal: Any) -> frozenset[str]:
    """The ARNs a Principal element names (an account id as its root ARN; services by name)."""
    if principal == "*":
        return frozenset({"*"})
    names = set()
    for kind, values in principal.items():
        for value in _strings(values):
            names.add(f"arn:aws:iam::{value}:root" if kind == "AWS" and value.isdigit() else value)
    return frozenset(names)


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _arn_matches(pattern: str, arn: str) -> bool:
    """ARN matching: each of the six colon-separated parts on its own, wildcards within a part (the
    resource part may hold colons); ``*`` alone matches anything."""
    if pattern == "*":
        return True
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != len(given):
        return False
    return all(_glob(part, False).fullmatch(value) for part, value in zip(wanted, given, strict=True))
