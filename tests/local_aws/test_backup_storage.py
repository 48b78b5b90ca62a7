"""How AWS Backup's S3 recovery points are stored on disk (D10, D13): each object body once, by
content, whatever number of points hold it; a point's directory holds its manifest only.

AWS Backup Developer Guide, "Backup plans",
https://docs.aws.amazon.com/aws-backup/latest/devguide/about-backup-plans.html: periodic backups are
stored incrementally -- the first is a full copy, each later one only the changes -- and S3 is among
the incremental resource types ("Amazon S3 backups",
https://docs.aws.amazon.com/aws-backup/latest/devguide/s3-backups.html). Retention deletes a point
when the clock passes its DeleteAt ("Backup plans"); what only that point held goes with it.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from tools.local_aws.clock import CLOCK
from tools.local_aws.services.backup.storage import payload_root

from . import test_backup_engine
from .helpers import restore_job_done
from .test_backup_engine import ROLE, back_up, bucket_arn

vault = test_backup_engine.vault  # the fixture: a vault, emptied and deleted afterwards
BODY_SIZE = 64 * 1024


def point_directory(arn: str) -> Path:
    """An S3 recovery point's directory: named by the id that ends its ARN."""
    return payload_root() / arn.rsplit(":", 1)[1]


def bodies() -> dict[str, int]:
    """Every file of the shared body store, with its size."""
    root = payload_root() / "bodies"
    return {str(path): path.stat().st_size for path in root.rglob("*") if path.is_file()} if root.exists() else {}


def files_in(directory: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in directory.iterdir()}


def manifest(arn: str) -> dict[str, Any]:
    return dict(json.loads(gzip.decompress((point_directory(arn) / "bucket.json.gz").read_bytes())))


def filled_bucket(aws: Callable[[str], Any], name: str) -> dict[str, bytes]:
    """A versioned bucket with three objects of 64 KiB, one of them in two versions; version id -> body."""
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    versions = {}
    for key in ("a", "b", "c", "a"):
        body = os.urandom(BODY_SIZE)
        versions[s3.put_object(Bucket=name, Key=key, Body=body)["VersionId"]] = body
    return versions


def test_d10_an_unchanged_bucket_backed_up_again_and_again_grows_the_disk_by_manifests_only(aws, vault, suffix):
    bucket = f"stored-once-{suffix}"
    versions = filled_bucket(aws, bucket)
    before = bodies()

    first = back_up(aws, vault, bucket_arn(bucket))["RecoveryPointArn"]
    after_first = bodies()
    later = [back_up(aws, vault, bucket_arn(bucket))["RecoveryPointArn"] for _ in range(8)]

    new_bodies = {path: size for path, size in after_first.items() if path not in before}
    assert sorted(new_bodies.values()) == [BODY_SIZE] * len(versions)  # the first point stores each body once
    assert bodies() == after_first  # the eight later points store none
    for arn in [first, *later]:
        [(name, size)] = files_in(point_directory(arn)).items()
        assert name == "bucket.json.gz" and size < BODY_SIZE // 16
        assert sorted(v["VersionId"] for v in manifest(arn)["Versions"]) == sorted(versions)


def test_d11_an_old_point_restores_every_object_as_it_was_from_the_shared_store(aws, vault, suffix):
    s3, backup = aws("s3"), aws("backup")
    bucket, target = f"changing-{suffix}", f"restored-old-{suffix}"
    versions = filled_bucket(aws, bucket)
    oldest = back_up(aws, vault, bucket_arn(bucket))["RecoveryPointArn"]
    as_backed_up = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in ("a", "b", "c")}
    for _ in range(3):  # the bucket changes between later backups
        s3.put_object(Bucket=bucket, Key="a", Body=os.urandom(BODY_SIZE))
        back_up(aws, vault, bucket_arn(bucket))

    restore = backup.start_restore_job(
        RecoveryPointArn=oldest,
        IamRoleArn=ROLE,
        Metadata={"DestinationBucketName": target, "NewBucket": "true"},
    )
    job = restore_job_done(aws, restore["RestoreJobId"])

    assert job["Status"] == "COMPLETED"
    assert {key: s3.get_object(Bucket=target, Key=key)["Body"].read() for key in ("a", "b", "c")} == as_backed_up
    store = payload_root() / "bodies"
    for version in manifest(oldest)["Versions"]:  # every version the point holds is still readable
        body = (store / version["Body"][:2] / version["Body"]).read_bytes()
        assert body == versions[version["VersionId"]]


def test_d13_expiry_removes_the_point_and_the_bodies_only_it_held(aws, vault, suffix):
    s3, backup = aws("s3"), aws("backup")
    bucket = f"expiring-{suffix}"
    versions = filled_bucket(aws, bucket)
    before = bodies()
    expiring = back_up(aws, vault, bucket_arn(bucket), Lifecycle={"DeleteAfterDays": 1})["RecoveryPointArn"]
    [gone_version] = [v for v in versions if s3.head_object(Bucket=bucket, Key="b")["VersionId"] == v]
    s3.delete_object(Bucket=bucket, Key="b", VersionId=gone_version)  # only the expiring point holds it
    kept = back_up(aws, vault, bucket_arn(bucket))["RecoveryPointArn"]
    held_by_both = {path for path in bodies() if path not in before}

    CLOCK.jump(timedelta(days=1))
    CLOCK.advance(timedelta(minutes=1))  # retention runs for the DeleteAt the jump passed

    listed = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in listed] == [kept]
    assert not point_directory(expiring).exists()
    remaining = {path for path in bodies() if path not in before}
    assert len(held_by_both) == len(versions) and len(remaining) == len(versions) - 1
    assert sorted(Path(path).name for path in remaining) == sorted(v["Body"] for v in manifest(kept)["Versions"])

    backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=kept)
    assert {path for path in bodies() if path not in before} == set()
    assert not point_directory(kept).exists()
