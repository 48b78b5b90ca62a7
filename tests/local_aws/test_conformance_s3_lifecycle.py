"""S3 Lifecycle applied once a day on the emulator's clock (D60).

Amazon S3 User Guide, "Lifecycle configuration elements",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html: S3 adds a rule's
days to the object's creation time (for NoncurrentDays: to the time the version became noncurrent,
when its successor was created) and rounds the result up to the next midnight UTC; a run at each
midnight acts on what is due. Without D60 nothing is ever deleted and these tests fail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.local_aws import world
from tools.local_aws.clock import CLOCK, Fired

from .helpers import template


def pass_midnight() -> list[Fired]:
    """Run the clock over the next midnight UTC (jumping to a minute before it): the daily run."""
    now = CLOCK.now()
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    CLOCK.jump(midnight - timedelta(minutes=1) - now)
    fired = CLOCK.advance(timedelta(minutes=2))
    runs = [f for f in fired if f.name == "S3 lifecycle"]
    assert [(f.when, f.error) for f in runs] == [(midnight, None)]
    return fired


def versioned_bucket(aws: Callable[[str], Any], name: str, rule: dict[str, Any]) -> None:
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket=name, LifecycleConfiguration={"Rules": [{"ID": "rule", "Status": "Enabled", **rule}]}
    )


def version_ids(aws: Callable[[str], Any], bucket: str) -> list[str]:
    listed = aws("s3").list_object_versions(Bucket=bucket)
    return sorted(v["VersionId"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []))


def test_d60_a_noncurrent_version_past_noncurrent_days_is_deleted_at_midnight_and_a_newer_one_stays(aws, suffix):
    """A version noncurrent since day 0 with NoncurrentDays 1 is due at the midnight after day 1
    (day 0 + 1 day, rounded up to the next midnight UTC): it survives the first midnight and is
    gone after the second; the version that became noncurrent after the first midnight stays."""
    s3, bucket = aws("s3"), f"lifecycle-{suffix}"
    versioned_bucket(aws, bucket, {"Filter": {"Prefix": ""}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}})
    first = s3.put_object(Bucket=bucket, Key="heartbeat.json", Body=b"1")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="heartbeat.json", Body=b"2")["VersionId"]  # first: noncurrent

    pass_midnight()
    after_one_midnight = version_ids(aws, bucket)
    third = s3.put_object(Bucket=bucket, Key="heartbeat.json", Body=b"3")["VersionId"]  # second: noncurrent
    pass_midnight()

    assert after_one_midnight == sorted([first, second])
    assert version_ids(aws, bucket) == sorted([second, third])
    assert s3.get_object(Bucket=bucket, Key="heartbeat.json")["Body"].read() == b"3"


def test_d60_newer_noncurrent_versions_are_kept_however_old(aws, suffix):
    """NewerNoncurrentVersions 1: of the noncurrent versions past NoncurrentDays, the newest one is
    kept (Amazon S3 API Reference, "NoncurrentVersionExpiration",
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_NoncurrentVersionExpiration.html)."""
    s3, bucket = aws("s3"), f"lifecycle-newer-{suffix}"
    rule = {
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1},
    }
    versioned_bucket(aws, bucket, rule)
    ids = [s3.put_object(Bucket=bucket, Key="k", Body=str(n).encode())["VersionId"] for n in range(3)]

    pass_midnight()
    pass_midnight()

    assert version_ids(aws, bucket) == sorted(ids[1:])


def test_d60_expiration_days_puts_a_delete_marker_on_current_versions_the_filter_selects(aws, suffix):
    """In a versioning-enabled bucket, an expired current version gets a delete marker and becomes
    noncurrent (Amazon S3 User Guide, "Expiring objects",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html);
    the rule's prefix leaves other keys alone."""
    s3, bucket = aws("s3"), f"lifecycle-expire-{suffix}"
    versioned_bucket(aws, bucket, {"Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}})
    s3.put_object(Bucket=bucket, Key="tmp/scratch", Body=b"x")
    s3.put_object(Bucket=bucket, Key="keep/report", Body=b"y")

    pass_midnight()
    pass_midnight()

    listed = s3.list_object_versions(Bucket=bucket)
    assert [(m["Key"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [("tmp/scratch", True)]
    assert sorted(v["Key"] for v in listed["Versions"]) == ["keep/report", "tmp/scratch"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep/report"]


def test_d60_an_expired_object_delete_marker_is_removed(aws, suffix):
    """A delete marker that is its key's only version is removed by ExpiredObjectDeleteMarker (Amazon
    S3 User Guide, "Managing delete markers",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/ManagingDelMarkers.html); one that still
    hides a version stays."""
    s3, bucket = aws("s3"), f"lifecycle-markers-{suffix}"
    versioned_bucket(aws, bucket, {"Filter": {"Prefix": ""}, "Expiration": {"ExpiredObjectDeleteMarker": True}})
    alone = s3.put_object(Bucket=bucket, Key="alone", Body=b"a")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="alone")
    s3.delete_object(Bucket=bucket, Key="alone", VersionId=alone)  # only the delete marker is left
    s3.put_object(Bucket=bucket, Key="hidden", Body=b"h")
    hiding = s3.delete_object(Bucket=bucket, Key="hidden")["VersionId"]

    pass_midnight()

    markers = s3.list_object_versions(Bucket=bucket)["DeleteMarkers"]
    assert [(m["Key"], m["VersionId"]) for m in markers] == [("hidden", hiding)]


def test_d60_an_incomplete_multipart_upload_is_aborted_after_days_after_initiation(aws, suffix):
    """AbortIncompleteMultipartUpload DaysAfterInitiation 1: an upload initiated on day 0 is aborted
    at the midnight after day 1, not before (Amazon S3 User Guide, "Configuring a bucket lifecycle
    configuration to delete incomplete multipart uploads",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpu-abort-incomplete-mpu-lifecycle-config.html)."""
    s3, bucket = aws("s3"), f"lifecycle-uploads-{suffix}"
    versioned_bucket(
        aws, bucket, {"Filter": {"Prefix": ""}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
    )
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.bin")["UploadId"]

    pass_midnight()
    after_one_midnight = [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    pass_midnight()

    assert after_one_midnight == [upload]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_d60_a_disabled_rule_does_nothing(aws, suffix):
    s3, bucket = aws("s3"), f"lifecycle-disabled-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rule = {
        "ID": "off",
        "Status": "Disabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    ids = [s3.put_object(Bucket=bucket, Key="k", Body=str(n).encode())["VersionId"] for n in range(2)]

    pass_midnight()
    pass_midnight()

    assert version_ids(aws, bucket) == sorted(ids)


def test_d60_the_kits_noncurrent_rule_deployed_through_cloudformation_applies(aws, cfn, suffix):
    """The data bucket's rule as CDK writes it (``AWS::S3::Bucket`` LifecycleConfiguration, an
    ``Id`` and NoncurrentVersionExpiration without a filter) is applied like one put through the API."""
    s3, bucket = aws("s3"), f"lifecycle-stack-{suffix}"
    rule = {
        "Id": "expire-noncurrent-versions",
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
    }
    properties = {
        "BucketName": bucket,
        "VersioningConfiguration": {"Status": "Enabled"},
        "LifecycleConfiguration": {"Rules": [rule]},
    }
    stack = cfn.deploy(template({"Bucket": {"Type": "AWS::S3::Bucket", "Properties": properties}}))
    assert stack.status == "CREATE_COMPLETE"
    ids = [s3.put_object(Bucket=bucket, Key="k", Body=str(n).encode())["VersionId"] for n in range(2)]

    pass_midnight()
    pass_midnight()

    assert version_ids(aws, bucket) == [ids[1]]


def test_d54_a_put_costs_no_more_with_each_version_the_key_already_has(aws, suffix, monkeypatch):
    """The heartbeat key keeps 30 days of noncurrent versions (8,640 at one per 5 minutes); S3 keeps
    every version of a versioned bucket's key until a lifecycle rule or a delete removes it (Amazon S3
    User Guide, "How S3 Versioning works", https://docs.aws.amazon.com/AmazonS3/latest/userguide/versioning-workflows.html).
    Storing the next version must not compare it with each earlier one: moto looked every old version
    up in the new list (300 versions: about 45,000 comparisons for one put). Fails without D54."""
    s3, bucket = aws("s3"), f"versions-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for beat in range(300):
        s3.put_object(Bucket=bucket, Key="heartbeat.json", Body=str(beat).encode())
    compared: list[int] = []

    def counting_eq(self: Any, other: Any) -> bool:
        compared.append(1)
        return self is other

    monkeypatch.setattr(world.ObjectVersion, "__eq__", counting_eq)
    s3.put_object(Bucket=bucket, Key="heartbeat.json", Body=b"next")

    assert len(compared) < 300
    assert len(aws("s3").list_object_versions(Bucket=bucket, Prefix="heartbeat.json")["Versions"]) == 301
