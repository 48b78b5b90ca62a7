"""Step 3: is the caller allowed to do this? IAM's answer for the app's principals.

Only the app's own principals are evaluated (``policy.enforced``: a function's execution
environment, a service acting with its role); the operator's requests (the CDK CLI, the tests, the
drill, with the root's keys or the CDK bootstrap roles' sessions) and unsigned ones are not. For
such a caller the request becomes an IAM action, ``<prefix>:<operation>`` (the
signing name's IAM prefix: ``monitoring`` -> ``cloudwatch``), and the resource(s) the Service
Authorization Reference gives that action, built from the request's parameters (REST path, query
or form, JSON body): ``ACTIONS``. ``policy.authorize`` decides on each (identity policies, the
resource's policy, conditions; an explicit Deny wins). A refusal is answered in the request's
protocol, as AWS words it (``policy.answer``). An operation that is not in ``ACTIONS`` is refused
by name, so that the list grows on purpose and never lets an unmapped call through.

A request a VPC function's environment makes through a VPC endpoint (``network.endpoint``) must
also pass the endpoint's policy (``policy.authorize_through_endpoint``). Each resource's account is
the request's ``aws:ResourceAccount``: the ARN's account, a bucket's owner, the caller's own account
for actions without a resource type.

Database connections are not authorized here: PostgreSQL checks the password itself.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import world
from . import network, policy
from .request import Denial, Request

logger = logging.getLogger(__name__)

# Signing names whose IAM prefix differs (Service Authorization Reference).
PREFIXES = {"monitoring": "cloudwatch"}
# Actions that need no permission at all (STS API Reference, GetCallerIdentity).
UNAUTHORIZED_ACTIONS = frozenset({"sts:GetCallerIdentity"})
# The TLS version SDK requests negotiate with AWS endpoints (for ``s3:TlsVersion``).
TLS_VERSION = "1.3"


@dataclass(frozen=True)
class Target:
    """Where an operation acts: ARN templates (``{Param}`` from the request, ``{partition}``,
    ``{region}``, ``{account}``; a field the request lacks reads ``*``: every one) or functions of
    the parameters (None: not this request); ``*`` for actions without a resource type. Every
    resource must be allowed (as for RDS CreateDBInstance's db and cluster)."""

    resources: tuple[str | Callable[[Mapping[str, Any], Scope], str | None], ...] = ("*",)
    # Further actions the request needs when it carries this parameter (tags on create).
    also: tuple[tuple[str, str], ...] = ()
    # The resource whose resource policy applies, if not the resource's own (a template, as above):
    # a recovery point is governed by its vault's access policy.
    governed_by: str | None = None


@dataclass(frozen=True)
class Scope:
    partition: str
    region: str
    account: str


def _secret(params: Mapping[str, Any], scope: Scope) -> str:
    """A secret named by name or (partial) ARN: its full ARN (with the random suffix)."""
    found = world.secret_arn(scope.account, scope.region, str(params.get("SecretId", "")))
    return found or _filled("arn:{partition}:secretsmanager:{region}:{account}:secret:{SecretId}", params, scope)


def _key(params: Mapping[str, Any], scope: Scope) -> str:
    """A key named by id, ARN or alias: the key's ARN (key policies belong to keys)."""
    found = world.kms_key_arn(scope.account, scope.region, str(params.get("KeyId", "")))
    return found or _filled("arn:{partition}:kms:{region}:{account}:key/{KeyId}", params, scope)


def _queue(params: Mapping[str, Any], scope: Scope) -> str:
    name = str(params.get("QueueUrl", "*")).rstrip("/").rsplit("/", 1)[-1]
    return f"arn:{scope.partition}:sqs:{scope.region}:{scope.account}:{name}"


def _cluster_if_named(params: Mapping[str, Any], scope: Scope) -> str | None:
    """The cluster an instance is created in, if any."""
    return _filled(_CLUSTER, params, scope) if "DBClusterIdentifier" in params else None


_TABLE = "arn:{partition}:dynamodb:{region}:{account}:table/{TableName}"
_OBJECT = "arn:{partition}:s3:::{Bucket}/{Key}"
_BUCKET = "arn:{partition}:s3:::{Bucket}"
_VAULT = "arn:{partition}:backup:{region}:{account}:backup-vault:{backupVaultName}"
_CLUSTER = "arn:{partition}:rds:{region}:{account}:cluster:{DBClusterIdentifier}"
_DB = "arn:{partition}:rds:{region}:{account}:db:{DBInstanceIdentifier}"
_FUNCTION = "arn:{partition}:lambda:{region}:{account}:function:{FunctionName}"
_LOG_STREAM = "arn:{partition}:logs:{region}:{account}:log-group:{logGroupName}:log-stream:{logStreamName}"

# Every operation the kit's principals call (its functions' handlers, its custom resources), by
# the IAM action it needs: "<prefix>:<Operation>" -> (action, where). Service Authorization
# Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
ACTIONS: dict[str, tuple[str, Target]] = {
    # Amazon DynamoDB (health check, restore validation)
    "dynamodb:GetItem": ("dynamodb:GetItem", Target((_TABLE,))),
    "dynamodb:PutItem": ("dynamodb:PutItem", Target((_TABLE,))),
    "dynamodb:Query": ("dynamodb:Query", Target((_TABLE,))),
    "dynamodb:DescribeTable": ("dynamodb:DescribeTable", Target((_TABLE,))),
    # Amazon S3 (health check, function export); HeadObject is authorized as s3:GetObject
    "s3:GetObject": ("s3:GetObject", Target((_OBJECT,))),
    "s3:HeadObject": ("s3:GetObject", Target((_OBJECT,))),
    "s3:PutObject": ("s3:PutObject", Target((_OBJECT,))),
    "s3:DeleteObject": ("s3:DeleteObject", Target((_OBJECT,))),
    "s3:ListObjectsV2": ("s3:ListBucket", Target((_BUCKET,))),
    "s3:ListObjects": ("s3:ListBucket", Target((_BUCKET,))),
    # AWS Secrets Manager (health check, restore validation)
    "secretsmanager:GetSecretValue": ("secretsmanager:GetSecretValue", Target((_secret,))),
    # AWS Lambda (function export)
    "lambda:GetFunction": ("lambda:GetFunction", Target((_FUNCTION,))),
    # AWS Backup (backup monitor, vault cleanup, restore validation): most have no resource type. The
    # vault's access policy governs the vault and its recovery points (AWS Backup Developer Guide,
    # "Vault access policies")
    "backup:ListRecoveryPointsByBackupVault": ("backup:ListRecoveryPointsByBackupVault", Target((_VAULT,))),
    "backup:DeleteRecoveryPoint": (
        "backup:DeleteRecoveryPoint",
        Target(("{recoveryPointArn}",), governed_by=_VAULT),
    ),
    "backup:UpdateRecoveryPointLifecycle": (
        "backup:UpdateRecoveryPointLifecycle",
        Target(("{recoveryPointArn}",), governed_by=_VAULT),
    ),
    **{
        f"backup:{operation}": (f"backup:{operation}", Target((_VAULT,)))
        for operation in (
            "GetBackupVaultAccessPolicy",
            "PutBackupVaultAccessPolicy",
            "DeleteBackupVaultAccessPolicy",
            "PutBackupVaultLockConfiguration",
            "DeleteBackupVaultLockConfiguration",
        )
    },
    "backup:ListBackupJobs": ("backup:ListBackupJobs", Target()),
    "backup:ListBackupVaults": ("backup:ListBackupVaults", Target()),
    "backup:StopBackupJob": ("backup:StopBackupJob", Target()),
    "backup:DescribeRestoreJob": ("backup:DescribeRestoreJob", Target()),
    "backup:ListRestoreJobs": ("backup:ListRestoreJobs", Target()),
    "backup:PutRestoreValidationResult": ("backup:PutRestoreValidationResult", Target()),
    # Amazon RDS (restore validation); a describe without an identifier covers every one
    "rds:DescribeDBClusters": ("rds:DescribeDBClusters", Target((_CLUSTER,))),
    "rds:ModifyDBCluster": ("rds:ModifyDBCluster", Target((_CLUSTER,))),
    "rds:FailoverDBCluster": ("rds:FailoverDBCluster", Target((_CLUSTER,))),
    "rds:DescribeDBInstances": ("rds:DescribeDBInstances", Target((_DB,))),
    "rds:CreateDBInstance": (
        "rds:CreateDBInstance",
        Target((_DB, _cluster_if_named), also=(("Tags.Tag.1.Key", "rds:AddTagsToResource"),)),
    ),
    "rds:DeleteDBInstance": ("rds:DeleteDBInstance", Target((_DB,))),
    # Messaging, keys, logs and metrics a principal may call directly
    "sqs:SendMessage": ("sqs:SendMessage", Target((_queue,))),
    "sns:Publish": ("sns:Publish", Target(("{TopicArn}",))),
    "kms:Decrypt": ("kms:Decrypt", Target((_key,))),
    "kms:GenerateDataKey": ("kms:GenerateDataKey", Target((_key,))),
    "logs:CreateLogStream": (
        "logs:CreateLogStream",
        Target(("arn:{partition}:logs:{region}:{account}:log-group:{logGroupName}",)),
    ),
    "logs:PutLogEvents": ("logs:PutLogEvents", Target((_LOG_STREAM,))),
    "cloudwatch:PutMetricData": ("cloudwatch:PutMetricData", Target()),
    # Listing calls without resource types (the emulator's network tests probe endpoints with them)
    "s3:ListBuckets": ("s3:ListAllMyBuckets", Target()),
    "dynamodb:ListTables": ("dynamodb:ListTables", Target()),
    "secretsmanager:ListSecrets": ("secretsmanager:ListSecrets", Target()),
}


def decide(request: Request) -> Denial | None:
    """None if the request's caller may make it (or is not evaluated); else AWS's AccessDenied."""
    caller = request.caller
    if not policy.enforced(caller) or request.service is None or request.operation is None:
        return None
    prefix = PREFIXES.get(request.service, request.service)
    name = f"{prefix}:{request.operation}"
    if name in UNAUTHORIZED_ACTIONS:
        return None
    mapped = ACTIONS.get(name)
    assert caller is not None
    region = request.region or "us-east-1"
    if mapped is None:
        message = (
            f"The local target does not know which IAM action and resource {name} needs, so it refuses it; "
            "add the operation to ACTIONS in tools/local_aws/pipeline/authorization.py"
        )
        logger.error("IAM: %s (caller %s)", message, caller.principal_arn)  # S3 answers only "Access Denied"
        return policy.answer(Denial(400, "AccessDeniedException", message), request.protocol, prefix)
    action, target = mapped
    params = _parameters(request)
    scope = Scope(world.partition(region), region, caller.account_id)
    context = _context(request, prefix, params)
    needed = [(action, resource) for resource in _resources(target, params, scope)]
    needed += [(extra, needed[0][1]) for parameter, extra in target.also if parameter in params]
    governed_by = _filled(target.governed_by, params, scope) if target.governed_by else None
    through = network.endpoint(request)
    for needed_action, resource in needed:
        keys = {**context, "aws:ResourceAccount": _resource_account(resource, caller.account_id)}
        denial = policy.authorize(caller, needed_action, resource, keys, governed_by)
        if denial is None and through is not None:
            denial = policy.authorize_through_endpoint(through.policy_document, caller, needed_action, resource, keys)
        if denial is not None:
            return policy.answer(denial, request.protocol, prefix)
    return None


def _resource_account(resource: str, caller_account: str) -> str:
    """The account that owns ``resource``: its ARN's account, a bucket's owner (S3 ARNs name none),
    the caller's account for ``*`` (an action without a resource type acts in the caller's account)."""
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return caller_account
    if parts[2] == "s3" and not parts[4]:
        return world.bucket_account(parts[5].split("/", 1)[0]) or ""
    return parts[4] or caller_account


def _parameters(request: Request) -> dict[str, Any]:
    """The request's named parameters: JSON body, query string or form, REST path (which wins)."""
    params: dict[str, Any] = {}
    if request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            params.update(body)
    params.update(request.query)
    params.update(request.parameters)
    return params


def _resources(target: Target, params: Mapping[str, Any], scope: Scope) -> list[str]:
    found = [
        resource(params, scope) if callable(resource) else _filled(resource, params, scope)
        for resource in target.resources
    ]
    return [resource for resource in found if resource is not None]


def _filled(template: str, params: Mapping[str, Any], scope: Scope) -> str:
    """``template`` with the request's parameters; a parameter given as an ARN (APIs take a name
    or an ARN) is the resource itself."""
    values = {key: str(value) for key, value in params.items() if isinstance(value, str | int)}
    for name in re.findall(r"\{(\w+)\}", template):
        if values.get(name, "").startswith("arn:"):
            return values[name]
    return template.format_map(
        _Missing({**values, "partition": scope.partition, "region": scope.region, "account": scope.account})
    )


class _Missing(dict[str, str]):
    """A template field the request does not carry reads ``*``."""

    def __missing__(self, key: str) -> str:
        return "*"


def _context(request: Request, prefix: str, params: Mapping[str, Any]) -> dict[str, policy.ContextValue]:
    """The condition keys the request carries (``policy.authorize`` adds the principal's)."""
    context: dict[str, policy.ContextValue] = {}
    if request.region:
        context["aws:RequestedRegion"] = request.region
    if prefix == "s3":
        context["s3:TlsVersion"] = TLS_VERSION
        for key in ("prefix", "delimiter", "max-keys"):
            if key in request.query:
                context[f"s3:{key}"] = request.query[key]
    return context
