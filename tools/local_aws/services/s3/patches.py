"""Fixes to moto's S3: bucket deletion with objects, bucket policies, dropped bucket properties,
lifecycle rules applied on the clock, versions stored in linear time."""

from __future__ import annotations

import inspect
import json
from typing import Any, ClassVar

from moto.s3.exceptions import BucketNotEmpty, S3ClientError
from moto.s3.models import FakeBucket, FakeKey, FakeMultipart, S3Backend, s3_backends
from moto.s3.responses import S3Response
from moto.s3.utils import _VersionedKeyStore
from moto.utilities.utils import get_partition

from ...clock import CLOCK
from ...patches._support import ModelLogic, Properties, after_create, fix, install, register_model
from ..cloudformation.patches import CUSTOM_RESOURCE_HANDLERS, CustomResourceHandler
from ..kms import usage as key_usage
from . import lifecycle


def _backend(account_id: str, region_name: str) -> Any:
    return s3_backends[account_id][get_partition(region_name)]


@fix("R10")
def refuse_to_delete_non_empty_buckets() -> None:
    """moto's bucket delete returns quietly when the bucket holds objects; CloudFormation then
    treats it as deleted and the bucket survives ``cdk destroy``.

    The CloudFormation delete now raises BucketNotEmpty, so the delete loop retries it after the
    auto-delete custom resource has emptied the bucket (or the stack ends DELETE_FAILED, as in AWS).
    """

    def delete_from_cloudformation_json(
        cls: type[FakeBucket],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = _backend(account_id, region_name)
        if resource_name in backend.buckets and backend.delete_bucket(resource_name) is None:
            raise BucketNotEmpty(resource_name)

    install(FakeBucket, "delete_from_cloudformation_json", classmethod(delete_from_cloudformation_json))


def _empty_bucket(properties: dict[str, Any], account_id: str, region_name: str) -> None:
    """Delete every object version and delete marker, as CDK's auto-delete provider does."""
    backend = _backend(account_id, region_name)
    bucket = backend.buckets.get(properties["BucketName"])
    if bucket is None:
        return
    for key_name in list(bucket.keys):
        for version in list(bucket.keys.getlist(key_name)):
            backend.delete_object(bucket.name, key_name, version_id=version.version_id, bypass=True)


@fix("R15")
def empty_buckets_on_auto_delete() -> None:
    """``Custom::S3AutoDeleteObjects`` empties its bucket in a Lambda, which cannot run here.

    Deleting the custom resource now empties the bucket (all versions), so the bucket itself can
    then be deleted.
    """
    CUSTOM_RESOURCE_HANDLERS["Custom::S3AutoDeleteObjects"] = CustomResourceHandler(on_delete=_empty_bucket)


class BucketPolicyModel(ModelLogic):
    """``AWS::S3::BucketPolicy``: the policy document of an existing bucket."""

    cfn_type: ClassVar[str] = "AWS::S3::BucketPolicy"

    def __init__(self, bucket_name: str):
        self.bucket_name = bucket_name

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> BucketPolicyModel:
        policy = json.dumps(properties["PolicyDocument"]).encode()
        _backend(account_id, region_name).put_bucket_policy(properties["Bucket"], policy)
        return cls(properties["Bucket"])

    @property
    def physical_resource_id(self) -> str:
        return self.bucket_name

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        if self.bucket_name in backend.buckets:
            backend.delete_bucket_policy(self.bucket_name)


@fix("Q4")
def store_bucket_policies() -> None:
    """``AWS::S3::BucketPolicy`` is not supported, so no bucket policy exists after a deploy.

    The policy is now stored. moto enforces bucket policies on object requests but cannot evaluate
    conditions, so it applies CDK's "deny s3:* unless aws:SecureTransport" statement to every
    request and asset publishing fails with 403. Statements with a ``Condition`` are therefore left
    out of moto's evaluation (they stay in the stored policy): the local endpoint stands in for the
    TLS endpoint, and the other conditions CDK writes only narrow down Allow statements.
    """
    register_model(BucketPolicyModel, "s3")

    def get_permission(bucket: FakeBucket, action: str, resource: str) -> Any:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if bucket.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(bucket.policy)
        statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
        unconditional = [statement for statement in statements if "Condition" not in statement]
        if not unconditional:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": unconditional})).is_action_permitted(action, resource)

    install(FakeBucket, "get_permission", get_permission)


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the shape of the S3 API (what moto stores)."""
    api_rule: dict[str, Any] = {"ID": rule.get("Id"), "Status": rule["Status"]}
    api_rule["Filter"] = {"Prefix": rule.get("Prefix", "")}
    expiration = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = rule["ExpirationInDays"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = rule["ExpiredObjectDeleteMarker"]
    if expiration:
        api_rule["Expiration"] = expiration
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent is None and "NoncurrentVersionExpirationInDays" in rule:
        noncurrent = {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
    if noncurrent is not None:
        api_rule["NoncurrentVersionExpiration"] = noncurrent
    if "Transitions" in rule:
        api_rule["Transition"] = [
            {"Days": t.get("TransitionInDays"), "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
        ]
    if "NoncurrentVersionTransitions" in rule:
        api_rule["NoncurrentVersionTransition"] = [
            {"NoncurrentDays": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
            for t in rule["NoncurrentVersionTransitions"]
        ]
    if "AbortIncompleteMultipartUpload" in rule:
        api_rule["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return api_rule


def _configure_bucket(bucket: FakeBucket, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    backend = _backend(account_id, region_name)
    if "VersioningConfiguration" in properties:
        backend.put_bucket_versioning(bucket.name, properties["VersioningConfiguration"]["Status"])
    if "LifecycleConfiguration" in properties:
        rules = [_lifecycle_rule(rule) for rule in properties["LifecycleConfiguration"]["Rules"]]
        backend.put_bucket_lifecycle_configuration(bucket.name, rules)
    if "PublicAccessBlockConfiguration" in properties:
        backend.put_public_access_block(bucket.name, properties["PublicAccessBlockConfiguration"])
    if "LoggingConfiguration" in properties:
        logging = properties["LoggingConfiguration"]
        bucket.logging = {
            "TargetBucket": logging["DestinationBucketName"],
            "TargetPrefix": logging.get("LogFilePrefix", ""),
        }
    encryption_rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    if encryption_rules and "BucketKeyEnabled" in encryption_rules[0] and bucket.encryption:
        bucket.encryption["Rule"]["BucketKeyEnabled"] = encryption_rules[0]["BucketKeyEnabled"]


@fix("F3")
def apply_bucket_configuration() -> None:
    """moto's ``AWS::S3::Bucket`` reads only BucketEncryption and Tags.

    Versioning, lifecycle rules, the public access block, access logging and BucketKeyEnabled were
    dropped, so the bucket read back unversioned and unprotected. They are now applied. (The
    logging target's permissions are not checked.)
    """
    after_create(FakeBucket, _configure_bucket)


@fix("D60")
def apply_lifecycle_rules_on_the_clock() -> None:
    """moto stores a bucket's lifecycle rules but never applies them: noncurrent versions, expired
    objects and incomplete multipart uploads stay forever, in the server's memory.

    The rules now run once a day, at midnight UTC on the emulator's clock, as S3 applies them
    (``lifecycle``): noncurrent versions past NoncurrentDays (keeping NewerNoncurrentVersions, which
    moto's rule drops and is now kept), current versions past Expiration Days, expired object delete
    markers and multipart uploads past DaysAfterInitiation (an upload now records when it was
    initiated) are deleted.
    """
    set_lifecycle = FakeBucket.set_lifecycle
    create_upload = FakeMultipart.__init__

    def set_lifecycle_keeping_newer_versions(bucket: FakeBucket, rules: list[dict[str, Any]]) -> None:
        set_lifecycle(bucket, rules)
        for stored, rule in zip(bucket.rules, rules, strict=True):
            expiration = rule.get("NoncurrentVersionExpiration") or {}
            stored.__dict__["newer_noncurrent_versions"] = expiration.get("NewerNoncurrentVersions")

    def create_upload_with_its_date(upload: FakeMultipart, *args: Any, **kwargs: Any) -> None:
        create_upload(upload, *args, **kwargs)
        upload.__dict__["initiated"] = CLOCK.now_naive()

    install(FakeBucket, "set_lifecycle", set_lifecycle_keeping_newer_versions)
    install(FakeMultipart, "__init__", create_upload_with_its_date)
    CLOCK.register(lifecycle.due_runs)


@fix("D54")
def put_versions_in_linear_time() -> None:
    """moto replaces a key's version list on every PutObject and, to dispose of the versions it
    drops, looks each old version up in the new list: quadratic in the key's versions. A key written
    every 5 minutes with 30 days of noncurrent versions (the canary's heartbeat) made each emulated
    day cost more than the one before. The versions kept are now found by identity in a set.
    """

    def setlist(store: _VersionedKeyStore, key: Any, versions: Any) -> None:
        if isinstance(versions, tuple):
            versions = list(versions)
        elif not isinstance(versions, list):
            versions = [versions]
        kept = {id(version) for version in versions}
        for existing in store.getlist(key, []):
            if id(existing) not in kept and hasattr(existing, "dispose"):
                existing.dispose()
        dict.__setitem__(store, key, versions)

    install(_VersionedKeyStore, "setlist", setlist)


class KmsAccessDenied(S3ClientError):
    """S3's answer when the caller may not use the object's KMS key: 403 AccessDenied with KMS's
    message (S3 User Guide, "Troubleshoot Access Denied (403 Forbidden) errors in Amazon S3")."""

    code = "AccessDenied"


SSE_KMS = ("aws:kms", "aws:kms:dsse")


def _object_key(bucket: FakeBucket, encryption: str | None, kms_key_id: str | None) -> str | None:
    """The KMS key an object written with these settings (or the bucket's default encryption) is
    encrypted with; None when it is not SSE-KMS. SSE-KMS without a key id is the AWS managed
    ``aws/s3`` key."""
    default = ((bucket.encryption or {}).get("Rule") or {}).get("ApplyServerSideEncryptionByDefault") or {}
    if (encryption or default.get("SSEAlgorithm")) not in SSE_KMS:
        return None
    return kms_key_id or default.get("KMSMasterKeyID") or "alias/aws/s3"


def _use_key(bucket: FakeBucket, action: str, key_id: str | None) -> None:
    """Raise S3's AccessDenied if the caller may not have S3 perform ``action`` with the key."""
    denied = key_usage.denial(action, key_id, "s3", bucket.account_id, bucket.region_name)
    if denied is not None:
        raise KmsAccessDenied(denied.message)


@fix("S1")
def s3_uses_kms_keys_as_the_caller() -> None:
    """moto encrypts nothing, so an SSE-KMS object could be written and read by a caller that may
    not use its key, which fails on AWS (S3 User Guide, "Using server-side encryption with AWS KMS
    keys (SSE-KMS)": PutObject needs kms:GenerateDataKey, GetObject kms:Decrypt, a multipart upload
    both; "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys": S3 still checks the caller's
    permission with a bucket key).

    S3 now asks, as the caller and through S3 (``kms.usage``): kms:GenerateDataKey for PutObject,
    the destination of CopyObject and CreateMultipartUpload (and CompleteMultipartUpload), kms:Decrypt
    for GetObject, the source of CopyObject and CompleteMultipartUpload; a refusal is a 403
    AccessDenied with KMS's message.
    """
    put_object = S3Backend.put_object
    put_signature = inspect.signature(put_object)
    create_upload = S3Backend.create_multipart_upload
    complete_upload = S3Backend.complete_multipart_upload
    copy_object = S3Backend.copy_object
    get_object = S3Response.get_object

    def put_object_as_caller(backend: S3Backend, *args: Any, **kwargs: Any) -> Any:
        named = put_signature.bind(backend, *args, **kwargs).arguments
        bucket = backend.get_bucket(named["bucket_name"])
        key_id = _object_key(bucket, named.get("encryption"), named.get("kms_key_id"))
        _use_key(bucket, "kms:GenerateDataKey", key_id)
        return put_object(backend, *args, **kwargs)

    def create_upload_as_caller(backend: S3Backend, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        named = inspect.signature(create_upload).bind(backend, bucket_name, key_name, *args, **kwargs).arguments
        bucket = backend.get_bucket(bucket_name)
        _use_key(bucket, "kms:GenerateDataKey", _object_key(bucket, named["sse_encryption"], named["kms_key_id"]))
        return create_upload(backend, bucket_name, key_name, *args, **kwargs)

    def complete_upload_as_caller(backend: S3Backend, bucket_name: str, multipart_id: str, body: Any) -> Any:
        bucket = backend.get_bucket(bucket_name)
        upload = bucket.multiparts.get(multipart_id)
        if upload is not None:
            _use_key(bucket, "kms:Decrypt", _object_key(bucket, upload.sse_encryption, upload.kms_key_id))
        return complete_upload(backend, bucket_name, multipart_id, body)

    def copy_object_as_caller(backend: S3Backend, src_key: FakeKey, *args: Any, **kwargs: Any) -> Any:
        if src_key.encryption in SSE_KMS:
            source = backend.get_bucket(str(src_key.bucket_name))
            _use_key(source, "kms:Decrypt", src_key.kms_key_id or "alias/aws/s3")
        return copy_object(backend, src_key, *args, **kwargs)

    def get_object_as_caller(response: S3Response) -> Any:
        key, _ = response._get_key()
        if key.encryption in SSE_KMS:
            bucket = response.backend.get_bucket(response.bucket_name)
            _use_key(bucket, "kms:Decrypt", key.kms_key_id or "alias/aws/s3")
        return get_object(response)

    install(S3Backend, "put_object", put_object_as_caller)
    install(S3Backend, "create_multipart_upload", create_upload_as_caller)
    install(S3Backend, "complete_multipart_upload", complete_upload_as_caller)
    install(S3Backend, "copy_object", copy_object_as_caller)
    install(S3Response, "get_object", get_object_as_caller)
