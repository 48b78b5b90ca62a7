"""Fixes to moto's KMS CloudFormation model."""

from __future__ import annotations

import json
from typing import Any

from moto.kms.models import Key

from ...patches._support import after_create, before_create, fix


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
