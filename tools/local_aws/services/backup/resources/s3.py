"""S3 buckets in AWS Backup: what a backup copies (every object version and delete marker, the
bucket's settings) and how a restore writes the latest versions back.

A point's directory holds only its manifest, gzipped (``bucket.json.gz``: the settings and every
version in version order, each body named by its SHA-256); the bodies are in the shared store
(``storage.bodies``), so a version that did not change since the last backup costs a manifest entry,
not a copy, as AWS Backup's incremental S3 backups do."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

from .... import world
from ..storage import bodies
from .base import BackupFailure, ResourceKind, Snapshot, _required

MANIFEST = "bucket.json.gz"


class S3Buckets(ResourceKind):
    """Every version of every object (a manifest in version order, bodies in the shared store) and
    the bucket's versioning and default encryption."""

    resource_type = "S3"
    arn_pattern = re.compile(r"^arn:aws[\w-]*:s3:::(?P<name>[^/]+)$")

    def backup_permissions(self, name: str) -> list[tuple[str, str]]:
        bucket_arn = f"arn:{world.partition(self.region)}:s3:::{name}"
        return [
            ("s3:GetBucketVersioning", bucket_arn),
            ("s3:ListBucketVersions", bucket_arn),
            ("s3:GetObject", f"{bucket_arn}/*"),
            ("s3:GetObjectVersion", f"{bucket_arn}/*"),
        ]

    def backup_key(self, name: str) -> tuple[str, str] | None:
        bucket = world.bucket(self.account_id, self.region, name)
        default = ((bucket.encryption or {}).get("Rule") or {}) if bucket is not None else {}
        key = (default.get("ApplyServerSideEncryptionByDefault") or {}).get("KMSMasterKeyID")
        return ("s3", key) if key else None

    def back_up(self, name: str, directory: Path) -> Snapshot:
        bucket = world.bucket(self.account_id, self.region, name)
        if bucket is None:
            raise BackupFailure(f"Bucket {name} was not found.")
        store = bodies()
        versions: list[dict[str, Any]] = []
        size = 0
        for key_name, stack in bucket.keys.lists():
            for version in stack:
                entry: dict[str, Any] = {"Key": key_name, "VersionId": version.version_id}
                if isinstance(version, world.DeleteMarker):
                    versions.append({**entry, "DeleteMarker": True})
                    continue
                value = version.value
                size += len(value)
                versions.append(
                    {
                        **entry,
                        "Body": store.add(directory, value),
                        "Metadata": dict(version.metadata),
                        "StorageClass": version.storage_class,
                        "Encryption": version.encryption,
                        "KmsKeyId": version.kms_key_id,
                        "BucketKeyEnabled": version.bucket_key_enabled,
                    }
                )
        settings = {"Versioning": bucket.versioning_status, "Encryption": bucket.encryption, "Versions": versions}
        manifest = json.dumps(settings).encode()
        (directory / MANIFEST).write_bytes(gzip.compress(manifest))
        size += len(manifest)
        return Snapshot(size, {"DestinationBucketName": name, "NewBucket": "false"})

    def restore(self, directory: Path, metadata: dict[str, str]) -> str:
        settings = json.loads(gzip.decompress((directory / MANIFEST).read_bytes()))
        name = _required(metadata, "DestinationBucketName")
        if metadata.get("NewBucket", "false").lower() == "true":
            if world.bucket_exists(name):
                raise BackupFailure(f"Bucket {name} already exists; restore into it with NewBucket=false.")
            bucket = world.create_bucket(
                self.account_id,
                self.region,
                name,
                versioning=settings["Versioning"],
                encryption=settings["Encryption"],
            )
        else:
            existing = world.bucket(self.account_id, self.region, name)
            if existing is None:
                raise BackupFailure(f"Bucket {name} does not exist; create it or restore with NewBucket=true.")
            bucket = existing
        latest: dict[str, dict[str, Any]] = {}
        for version in settings["Versions"]:
            latest[version["Key"]] = version  # versions are listed oldest first
        for key_name, version in latest.items():
            if version.get("DeleteMarker") or bucket.keys.get(key_name) is not None:
                continue
            self._put(name, key_name, version, bodies().read(version["Body"]), metadata)
        return f"arn:{world.partition(self.region)}:s3:::{name}"

    def _put(self, bucket: str, key_name: str, version: dict[str, Any], body: bytes, metadata: dict[str, str]) -> None:
        """Write one object as AWS Backup does: S3 Standard, the original encryption unless the
        restore asks for SSE-S3 or SSE-KMS (``EncryptionType``, ``KMSKey``)."""
        encryption, kms_key = version["Encryption"], version["KmsKeyId"]
        requested = metadata.get("EncryptionType", "ORIGINAL").upper()
        if requested == "SSE-S3":
            encryption, kms_key = "AES256", None
        elif requested == "SSE-KMS":
            encryption, kms_key = "aws:kms", metadata.get("KMSKey") or kms_key
        key = world.put_object(
            self.account_id,
            self.region,
            bucket,
            key_name,
            body,
            storage="STANDARD",
            encryption=encryption,
            kms_key_id=kms_key,
            bucket_key_enabled=version["BucketKeyEnabled"],
            disable_notification=True,
        )
        key.set_metadata(dict(version["Metadata"]))
