"""Aspect that rewrites the wildcard actions AWS CDK's own constructs write into explicit lists.

The customer forbids wildcard permissions. Our code writes none, but some CDK constructs we must
use do: `auto_delete_objects` (bucket policy for its cleanup function), a CMK-encrypted secret
and an encrypted SNS topic (key-policy grants). Each wildcard below is replaced by the actions
the service or handler really calls; an Allow wildcard that is not in the table stops synth, so
a new construct cannot slip one in unnoticed.
"""

from __future__ import annotations

import jsii
from aws_cdk import IAspect, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

EXPANSIONS: dict[str, tuple[str, ...]] = {
    # KMS grants (Secrets Manager via-service grant, SNS publishers): symmetric data keys only.
    "kms:GenerateDataKey*": ("kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"),
    "kms:ReEncrypt*": ("kms:ReEncryptFrom", "kms:ReEncryptTo"),
    # The S3 auto-delete handler calls GetBucketTagging, GetBucketPolicy, PutBucketPolicy,
    # ListObjectVersions and DeleteObjects (versions included) - nothing else.
    "s3:GetBucket*": ("s3:GetBucketTagging", "s3:GetBucketPolicy"),
    "s3:List*": ("s3:ListBucket", "s3:ListBucketVersions"),
    "s3:DeleteObject*": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
}

# CloudFormation resource class -> (Python attribute, CloudFormation property) of its policy.
_POLICY_PROPERTIES: tuple[tuple[type, str, str], ...] = (
    (iam.CfnPolicy, "policy_document", "PolicyDocument"),
    (iam.CfnManagedPolicy, "policy_document", "PolicyDocument"),
    (s3.CfnBucketPolicy, "policy_document", "PolicyDocument"),
    (sqs.CfnQueuePolicy, "policy_document", "PolicyDocument"),
    (sns.CfnTopicPolicy, "policy_document", "PolicyDocument"),
    (kms.CfnKey, "key_policy", "KeyPolicy"),
)


class UnknownWildcardError(ValueError):
    """An Allow statement has a wildcard action this module does not know how to spell out."""


def expand(actions: list[str]) -> list[str] | None:
    """The explicit action list for `actions`, or None when there is no wildcard in it."""
    if not any("*" in action for action in actions):
        return None
    explicit: list[str] = []
    for action in actions:
        if "*" not in action:
            explicit.append(action)
        elif action in EXPANSIONS:
            explicit.extend(EXPANSIONS[action])
        else:
            raise UnknownWildcardError(
                f"Allow statement uses wildcard action {action!r}; add its explicit actions to EXPANSIONS."
            )
    return sorted(set(explicit))


@jsii.implements(IAspect)
class ExplicitActions:
    """Replace wildcard actions in every Allow statement of every policy document in scope."""

    def visit(self, node: IConstruct) -> None:
        for cfn_type, attribute, cfn_property in _POLICY_PROPERTIES:
            if isinstance(node, cfn_type):
                self._rewrite(node, getattr(node, attribute), cfn_property)

    @staticmethod
    def _rewrite(node: IConstruct, document: object, cfn_property: str) -> None:
        resolved = Stack.of(node).resolve(document) or {}
        for index, statement in enumerate(resolved.get("Statement", [])):
            if statement.get("Effect") != "Allow":
                continue  # a wildcard in a Deny widens the denial, not the permission
            actions = statement.get("Action", [])
            explicit = expand([actions] if isinstance(actions, str) else actions)
            if explicit is not None:
                node.add_property_override(f"{cfn_property}.Statement.{index}.Action", explicit)  # type: ignore[attr-defined]
