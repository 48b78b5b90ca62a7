"""Fixes to moto's CloudWatch Logs CloudFormation model."""

from __future__ import annotations

from typing import Any

from moto.logs.models import LogGroup

from ._support import after_create, fix


def _set_kms_key(group: LogGroup, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    group.kms_key_id = properties.get("KmsKeyId")


@fix("N9")
def keep_log_group_kms_keys() -> None:
    """moto's ``AWS::Logs::LogGroup`` looks for ``kmsKeyId`` (the API's spelling) in the template
    properties, so ``KmsKeyId`` was dropped and the group read back unencrypted. It is now kept."""
    after_create(LogGroup, _set_kms_key)
