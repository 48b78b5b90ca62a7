"""The resource kinds AWS Backup protects in the emulator, one module each (DynamoDB tables, S3
buckets, Aurora clusters): what a backup copies into a recovery point's directory and what a restore
creates from it. ``kind_of`` tells the kind of a resource ARN."""

from __future__ import annotations

from .... import world
from .aurora import AuroraClusters
from .base import BackupFailure, ResourceKind, Snapshot
from .dynamodb import DynamoDBTables
from .s3 import S3Buckets

__all__ = [
    "KINDS",
    "AuroraClusters",
    "BackupFailure",
    "DynamoDBTables",
    "ResourceKind",
    "S3Buckets",
    "Snapshot",
    "kind_of",
]

KINDS: tuple[type[ResourceKind], ...] = (DynamoDBTables, S3Buckets, AuroraClusters)


def kind_of(arn: str) -> type[ResourceKind]:
    """The resource type of an ARN; InvalidParameterValueException for any other resource."""
    for kind in KINDS:
        if kind.name_in(arn) is not None:
            return kind
    raise world.BackupInvalidParameterValue(
        msg=f"Invalid resource ARN {arn}: the emulator backs up DynamoDB tables, S3 buckets and Aurora DB clusters."
    )
