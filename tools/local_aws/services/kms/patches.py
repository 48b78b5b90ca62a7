"""Fixes to moto's KMS: its CloudFormation model, and the AWS managed keys behind ``alias/aws/*``."""

from __future__ import annotations

import json
from typing import Any

from moto.kms.models import Key, KmsBackend

from ...patches._support import after_create, before_create, fix, install


def _serialise_key_policy(key: Key, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    if not isinstance(key.policy, str):
        key.policy = json.dumps(key.policy)


@fix("Q1")
def store_key_policies_as_json() -> None:
    """moto stores a CloudFormation key's ``KeyPolicy`` as a dict; the KMS API expects a string.

    DescribeKey, GetKeyPolicy and GetKeyRotationStatus on such a key fail with HTTP 500
    (``json.loads`` of a dict). The policy is now stored as the JSON document.
    """
    after_create(Key, _serialise_key_policy)


def _api_tags(properties: dict[str, Any], account_id: str, region_name: str) -> dict[str, Any]:
    tags = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in properties.get("Tags", [])]
    return {**properties, "Tags": tags}


@fix("F5")
def accept_key_tags() -> None:
    """moto's ``AWS::KMS::Key`` hands the template's tags (``Key``/``Value``) to KMS's tagger, which
    expects the API's ``TagKey``/``TagValue``: any tagged key fails with ``KeyError: 'TagKey'``.
    The tags are now converted (ListResourceTags returns them)."""
    before_create(Key, _api_tags)


def aws_managed_key_policy(account_id: str, service: str, region: str) -> str:
    """The key policy AWS gives an AWS managed key: every principal of the account may use it, but only
    through its service (and describe it directly)."""
    statements = [
        {
            "Sid": f"Allow access through {service} for all principals in the account that are authorized to use it",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": f"{service}.{region}.amazonaws.com"}
            },
        },
        {
            "Sid": "Allow direct access to key metadata to the account",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
            "Resource": "*",
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Id": f"auto-{service}", "Statement": statements})


@fix("Q30")
def aws_managed_keys_for_reserved_aliases() -> None:
    """moto creates the key behind a reserved alias (``alias/aws/s3``, the key SSE-KMS uses when a
    bucket names none, as the CDK bootstrap's asset bucket does) as a customer managed key with the
    default key policy, so only principals with an identity grant for ``kms:Decrypt`` could read such
    objects. On AWS it is an AWS managed key (``KeyManager`` ``AWS``) whose key policy lets every
    principal of the account use it through its service (AWS KMS Developer Guide, "AWS managed
    keys"): the emulator's key checks (``services/kms/usage.py``) pass it, as AWS does."""
    original = KmsBackend._generate_default_keys

    def generate_default_keys(self: KmsBackend, alias_name: str) -> str | None:
        key_id = original(self, alias_name)
        if key_id is not None:
            key = self.keys[key_id]
            service = alias_name.removeprefix("alias/aws/")
            key.key_manager = "AWS"
            key.description = f"Default key that protects my {service} resources when no other key is defined"
            key.policy = aws_managed_key_policy(self.account_id, service, self.region_name)
        return key_id

    install(KmsBackend, "_generate_default_keys", generate_default_keys)
