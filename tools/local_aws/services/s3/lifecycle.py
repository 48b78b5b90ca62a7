"""S3 Lifecycle on the emulator's clock: every bucket's enabled rules are applied once a day, at
midnight UTC, as Amazon S3 applies them (Amazon S3 User Guide, "Lifecycle configuration elements",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html).

S3 counts a rule's days from the object's creation (Expiration Days), from the moment a version
became noncurrent -- when its successor was created -- (NoncurrentVersionExpiration NoncurrentDays),
or from the upload's initiation (AbortIncompleteMultipartUpload DaysAfterInitiation), and rounds the
result up to the next midnight UTC: an object created on 15 January at 10:30 with 3 days is due on
19 January at 00:00. The daily run at midnight acts on everything due by then:

- a noncurrent version past NoncurrentDays is deleted permanently, unless fewer than
  NewerNoncurrentVersions newer noncurrent versions of its key exist;
- a current version past Expiration Days expires: deleted in an unversioned bucket, behind a new
  delete marker in a versioned one ("Expiring objects",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html);
- an expired object delete marker (a delete marker that is its key's only version) is removed by a
  rule with ExpiredObjectDeleteMarker or Expiration Days ("Managing delete markers",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/ManagingDelMarkers.html);
- an incomplete multipart upload past DaysAfterInitiation is aborted.

A version S3 Object Lock protects stays. A rule's filter selects by prefix and tags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from ... import world
from ...clock import Due, midnights

logger = logging.getLogger(__name__)

LIFECYCLE_ORDER = 30  # at midnight: after the schedules (10) and backups (20-23), before alarms (90)
DAY = timedelta(days=1)


def due_date(since: datetime, days: int) -> datetime:
    """``since`` plus ``days``, rounded up to the next midnight UTC (``since`` naive UTC, as moto keeps it)."""
    moment = since.replace(tzinfo=UTC) + timedelta(days=days)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC) + DAY


def due_runs(start: datetime, end: datetime) -> Iterator[Due]:
    """Timer source: the daily lifecycle run at each midnight UTC in ``(start, end]``."""
    for midnight in midnights(start, end):
        yield Due(midnight, LIFECYCLE_ORDER, "S3 lifecycle", _run_at(midnight))


def _run_at(moment: datetime) -> Callable[[], None]:
    def run() -> None:
        apply_rules(moment)

    return run


def apply_rules(moment: datetime) -> None:
    """Apply every enabled rule of every bucket, as of ``moment``."""
    for bucket in world.all_buckets():
        for rule in list(bucket.rules):
            if rule.status == "Enabled":
                _apply(bucket, rule, moment)


def _apply(bucket: world.Bucket, rule: world.LifecycleRule, moment: datetime) -> None:
    for key in list(bucket.keys):
        if not _selects(bucket, rule, key):
            continue
        if rule.nve_noncurrent_days:
            _expire_noncurrent(bucket, rule, key, int(rule.nve_noncurrent_days), moment)
        versions = bucket.keys.getlist(key, [])
        if not versions:
            continue
        current = versions[-1]
        if isinstance(current, world.DeleteMarker):
            if len(versions) == 1 and (_is_true(rule.expired_object_delete_marker) or rule.expiration_days):
                world.delete_object(bucket, key, current.version_id)
        elif rule.expiration_days and due_date(current.last_modified, int(rule.expiration_days)) <= moment:
            world.delete_object(bucket, key)
    if rule.aimu_days:
        for upload in list(bucket.multiparts.values()):
            initiated = getattr(upload, "initiated", None)
            if (
                initiated is not None
                and upload.key_name.startswith(_prefix(rule))
                and due_date(initiated, int(rule.aimu_days)) <= moment
            ):
                world.abort_multipart_upload(bucket, upload.id)


def _expire_noncurrent(bucket: world.Bucket, rule: world.LifecycleRule, key: str, days: int, moment: datetime) -> None:
    """Delete the noncurrent versions of ``key`` past NoncurrentDays, keeping the newest
    NewerNoncurrentVersions of them."""
    versions = bucket.keys.getlist(key, [])  # oldest first; the last one is current
    keep = int(getattr(rule, "newer_noncurrent_versions", None) or 0)
    noncurrent = versions[:-1]
    for position, version in enumerate(noncurrent):
        newer = len(noncurrent) - position - 1
        became_noncurrent = versions[position + 1].last_modified
        if newer >= keep and due_date(became_noncurrent, days) <= moment:
            world.delete_object(bucket, key, version.version_id)


def _prefix(rule: world.LifecycleRule) -> str:
    """The rule's prefix: of its Filter (alone or in And), or the legacy rule-level Prefix."""
    selection = rule.filter
    if selection is None:
        return rule.prefix or ""
    if selection.and_filter is not None:
        return selection.and_filter.prefix or ""
    return selection.prefix or ""


def _tags(rule: world.LifecycleRule) -> dict[str, str]:
    selection = rule.filter
    if selection is None:
        return {}
    if selection.and_filter is not None:
        return dict(selection.and_filter.tags)
    return {selection.tag_key: selection.tag_value or ""} if selection.tag_key else {}


def _selects(bucket: world.Bucket, rule: world.LifecycleRule, key: str) -> bool:
    """Whether the rule's filter selects the key (tags are read from its newest object version)."""
    if not key.startswith(_prefix(rule)):
        return False
    wanted = _tags(rule)
    if not wanted:
        return True
    objects = [v for v in bucket.keys.getlist(key, []) if not isinstance(v, world.DeleteMarker)]
    return bool(objects) and wanted.items() <= world.object_tags(bucket, objects[-1]).items()


def _is_true(value: object) -> bool:
    return str(value).lower() == "true"
