"""Fixes that let the real CDK CLI deploy and destroy our app against a moto server.

``apply_all()`` must run in the server process before the first request. Each fix is a small named
function in the module of the service it changes. Codes: R = required for deploy/destroy,
V = failure visibility, Q = fidelity, N = resource types moto lacks, F = properties moto drops,
D = data plane (what runs: functions, databases, backups, events, alarms, the clock), X = AWS FIS,
S = a service acting for its caller (the KMS key use and permissions AWS derives from a request).
``python -m tools.local_aws fixes`` lists them with what each one repairs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from ._support import REGISTRY, Fix

# Import order is apply order: the CloudFormation engine first, then one package per service
# (``services/<service>/patches.py``). Where two fixes wrap the same attribute, ``wraps.WRAP_ORDER``
# states which wraps which and ``install`` refuses any other order.
MODULES = (
    "services.cloudformation.patches",
    "services.ec2.patches",
    "services.s3.patches",
    "services.kms.patches",
    "services.rds.patches",
    "services.secretsmanager.patches",
    "services.backup.patches",
    "services.awslambda.patches",
    "services.iam.patches",
    "services.logs.patches",
    "services.cloudwatch.patches",
    "services.sns.patches",
    "services.sqs.patches",
    "services.dynamodb.patches",
    "services.events.patches",
    "services.fis.patches",
    # Last: it replaces moto's clock in every moto module imported by then (and in later ones).
    "patches.clock",
)

PACKAGE = __name__.rpartition(".")[0]  # tools.local_aws

_applied: set[str] = set()


def all_fixes() -> list[Fix]:
    """Every registered fix, in apply order (importing the modules registers them)."""
    for module in MODULES:
        importlib.import_module(f"{PACKAGE}.{module}")
    return list(REGISTRY)


def apply_all(skip: Iterable[str] = ()) -> list[Fix]:
    """Apply every fix not applied yet, except those whose code is in ``skip``; idempotent.

    ``skip`` exists to show what each fix is for (run the tests or a deploy without it).
    Returns the fixes applied by this call.
    """
    skipped = {code.strip().upper() for code in skip if code.strip()}
    known = {candidate.code for candidate in all_fixes()}
    unknown = skipped - known
    if unknown:
        raise ValueError(f"unknown fix code(s): {', '.join(sorted(unknown))}")
    applied = []
    for candidate in all_fixes():
        if candidate.code in skipped or candidate.name in _applied:
            continue
        candidate.run()
        _applied.add(candidate.name)
        applied.append(candidate)
    return applied
