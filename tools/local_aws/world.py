"""The world as moto keeps it: the one place where the emulator's engines read and change moto's
backends -- functions, log groups, topics, queues, alarms and metrics, event buses, tables, buckets,
clusters and their instances, backup vaults and plans, X-Ray traces -- and where moto's server app
is built.

The rule: outside this module and the patch modules (``patches/`` and ``services/*/patches.py``), no
module imports moto (``tests/local_aws/test_layout.py`` checks it), so a moto upgrade touches this
module and the patches only. Engines get moto's model objects back, under the names below, and read
their fields; they never index moto's backend dicts or call moto's constructors themselves.

Who acts: work an engine does for a principal -- AWS Backup copying or restoring a resource with the
job's IamRoleArn -- runs inside ``pipeline.caller.acting_as`` that principal, and
``pipeline.caller.current()`` answers it here. IAM's policy evaluation (``pipeline/policy.py``)
reads the policies it needs through ``role_policies`` and ``resource_policy``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from moto.awslambda.exceptions import LambdaClientError, UnknownFunctionException
from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import get_backend as _lambda_backend
from moto.awslambda.utils import make_function_arn
from moto.backup.exceptions import (
    AlreadyExistsException,
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from moto.backup.models import BackupBackend, Plan, Vault, backup_backends
from moto.cloudwatch.models import Alarm, MetricAggregatedDatum, MetricDataQuery, MetricDatum, cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError, ServiceException
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.ec2.models import ec2_backends
from moto.events.models import Rule, events_backends
from moto.fis.models import ExperimentTemplate
from moto.iam.models import ManagedPolicy, get_account_id_from, iam_backends
from moto.kms.models import Key as KmsKey
from moto.kms.models import kms_backends
from moto.logs.models import logs_backends
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.rds.models import DBCluster, DBInstanceClustered, rds_backends
from moto.s3.exceptions import AccessDeniedByLock
from moto.s3.models import FakeBucket, FakeDeleteMarker, FakeKey, FakeMultipart, LifecycleRule, s3_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import Topic, sns_backends
from moto.sqs.models import Queue, sqs_backends
from moto.sts.models import sts_backends
from moto.utilities.arns import Arn, parse_arn
from moto.utilities.utils import get_partition
from moto.xray.exceptions import BadSegmentException
from moto.xray.models import TraceSegment, xray_backends

__all__ = [
    "AWS_ERRORS",
    "Alarm",
    "Arn",
    "BackupAlreadyExists",
    "BackupBackend",
    "BackupInvalidParameterValue",
    "BackupInvalidRequest",
    "BackupNotFound",
    "Bucket",
    "DBCluster",
    "DBInstance",
    "DeleteMarker",
    "ExperimentTemplate",
    "FisError",
    "Function",
    "FunctionNotFound",
    "KmsKey",
    "LambdaError",
    "LifecycleRule",
    "MetricAggregatedDatum",
    "MetricDataQuery",
    "MetricDatum",
    "MultipartUpload",
    "ObjectVersion",
    "Plan",
    "Queue",
    "RequestHandler",
    "Rule",
    "Table",
    "Topic",
    "Vault",
]

# moto's models and errors, under the names the engines use.
Function = LambdaFunction
LambdaError = LambdaClientError  # an error Lambda's API answers with (its code and message)
FunctionNotFound = UnknownFunctionException
Bucket = FakeBucket
ObjectVersion = FakeKey
DeleteMarker = FakeDeleteMarker
MultipartUpload = FakeMultipart
DBInstance = DBInstanceClustered
BackupAlreadyExists = AlreadyExistsException
BackupInvalidParameterValue = InvalidParameterValueException
BackupInvalidRequest = InvalidRequestException
BackupNotFound = ResourceNotFoundException
AWS_ERRORS = (ServiceException, JsonRESTError)  # moto's two shapes of an AWS error, for ``except``
RequestHandler = MotoRequestHandler


# --- the server and moto's ids -------------------------------------------------------------


def moto_app() -> Any:
    """moto's WSGI application, as ``moto_server`` serves it (every service on one port)."""
    return DomainDispatcherApplication(create_backend_app)


def partition(region: str) -> str:
    return str(get_partition(region))


def arn_parts(arn: str) -> Arn:
    """An ARN's service, region, account and resource id."""
    return parse_arn(arn)


def new_id() -> str:
    """A UUID from moto's random source (seeded by moto's reset API, as moto's own ids)."""
    return str(mock_random.uuid4())


def random_string(length: int) -> str:
    return str(mock_random.get_random_string(length=length, lower_case=True))


def random_hex(length: int) -> str:
    return str(mock_random.get_random_hex(length))


# --- X-Ray -----------------------------------------------------------------------------------


# What moto's X-Ray reads of a segment document: ids, the trace's time span, the summary's flags. The
# document itself is kept as sent (BatchGetTraces returns it); moto's own PutTraceSegments would also
# keep every field parsed, nested dicts ten times the document's size, for each trace of the history.
SEGMENT_FIELDS = (
    *("id", "name", "trace_id", "parent_id", "start_time", "end_time", "in_progress"),
    *("error", "fault", "throttle"),
)


def put_trace_segments(account_id: str, region: str, documents: list[str]) -> int:
    """Store segment documents as PutTraceSegments does; returns how many X-Ray refused (malformed)."""
    collection = xray_backends[account_id][region]._segment_collection
    refused = 0
    for document in documents:
        try:
            parsed = json.loads(document)
            fields = {key: parsed[key] for key in SEGMENT_FIELDS if key in parsed}
            collection.put_segment(TraceSegment.from_dict(fields, raw=document))
        except (ValueError, TypeError, BadSegmentException):
            refused += 1
    return refused


# --- Lambda and CloudWatch Logs ------------------------------------------------------------


def function(account_id: str, region: str, name: str, qualifier: str | None = None) -> Function:
    """The function, version or alias ``name`` (a name or an ARN) names; FunctionNotFound if none."""
    return _lambda_backend(account_id, region).get_function(name, qualifier)


def function_arn(region: str, account_id: str, name: str) -> str:
    return str(make_function_arn(region, account_id, name))


def function_policy(account_id: str, region: str, arn: str) -> dict[str, Any]:
    """The resource policy of the function (version, alias) ``arn`` names."""
    return {"Statement": function(account_id, region, arn).policy.statements}


def ensure_log_stream(account_id: str, region: str, group: str, stream: str) -> None:
    """Create the log group and the stream unless they exist (as Lambda does for its logs)."""
    logs = logs_backends[account_id][region]
    logs.ensure_log_group(group)
    logs.ensure_log_stream(group, stream)


def log_groups() -> Iterator[tuple[str, str, Any]]:
    """(account, region, log group) of every log group; a group's ``streams`` hold its events."""
    for account_id, regions in list(logs_backends.items()):
        for region, backend in list(regions.items()):
            for group in list(backend.groups.values()):
                yield account_id, region, group


def drop_log_events(group: Any, before_ms: int) -> None:
    """Delete the group's events with a timestamp (milliseconds) before ``before_ms``; the streams'
    stored bytes (moto counts message lengths) shrink with them."""
    for stream in list(group.streams.values()):
        kept = [event for event in stream.events if event.timestamp >= before_ms]
        if len(kept) < len(stream.events):
            stream.stored_bytes -= sum(len(event.message) for event in stream.events if event.timestamp < before_ms)
            stream.events = kept


def create_log_stream(account_id: str, region: str, group: str, stream: str) -> None:
    """A new stream in an existing group (an AWS error if the group does not exist)."""
    logs_backends[account_id][region].create_log_stream(group, stream)


def put_log_events(account_id: str, region: str, group: str, stream: str, events: list[dict[str, Any]]) -> None:
    """PutLogEvents, through the backend method the fixes extend (EMF metrics)."""
    logs_backends[account_id][region].put_log_events(group, stream, events)


# --- KMS: the keys services encrypt with for a caller ---------------------------------------


def kms_key(account_id: str, region: str, key_id: str) -> KmsKey | None:
    """The key a key id, key ARN, alias name or alias ARN names (its ``arn``, ``policy`` and
    ``key_manager``: ``AWS`` for an AWS managed key); None if there is none."""
    if key_id.startswith("arn:"):
        account_id, region = key_id.split(":")[4], key_id.split(":")[3]
    backend = kms_backends[account_id][region]
    try:
        return backend.keys.get(backend.any_id_to_key_id(key_id))  # type: ignore[no-any-return]
    except (KeyError, TypeError, AttributeError):
        return None


# --- SNS and SQS ---------------------------------------------------------------------------


def topic(account_id: str, region: str, arn: str) -> Topic | None:
    return sns_backends[account_id][region].topics.get(arn)


def topic_policy(account_id: str, region: str, arn: str) -> str | None:
    """The topic's access policy; an AWS error if there is no such topic."""
    return sns_backends[account_id][region].get_topic(arn).policy  # type: ignore[no-any-return]


def publish(
    account_id: str,
    region: str,
    topic_arn: str,
    message: str,
    message_attributes: dict[str, Any] | None = None,
) -> None:
    """SNS Publish to the topic ``topic_arn`` (an AWS error if there is none)."""
    sns_backends[account_id][region].publish(message, arn=topic_arn, message_attributes=message_attributes)


def queue_policy(account_id: str, region: str, name: str) -> str | None:
    """The queue's access policy; an AWS error if there is no such queue."""
    return sqs_backends[account_id][region].get_queue(name).policy  # type: ignore[no-any-return]


def send_message(
    account_id: str,
    region: str,
    queue: str,
    body: str,
    *,
    message_attributes: dict[str, Any] | None = None,
    group_id: str | None = None,
) -> None:
    """SQS SendMessage to the queue named ``queue`` (an AWS error if there is none)."""
    sqs_backends[account_id][region].send_message(queue, body, message_attributes=message_attributes, group_id=group_id)


def queues() -> Iterator[tuple[str, str, Queue]]:
    """(account, region, queue) of every queue."""
    for account_id, regions in list(sqs_backends.items()):
        for region, backend in list(regions.items()):
            for queue in list(backend.queues.values()):
                yield account_id, region, queue


# --- CloudWatch ----------------------------------------------------------------------------


def alarms() -> Iterator[tuple[str, str, Alarm]]:
    """(account, region, alarm) of every alarm."""
    for account_id, regions in list(cloudwatch_backends.items()):
        for region, backend in list(regions.items()):
            for alarm in list(backend.alarms.values()):
                yield account_id, region, alarm


def put_metric_data(account_id: str, region: str, namespace: str, data: list[dict[str, Any]]) -> None:
    """PutMetricData: ``data`` in the API's MetricData shape."""
    cloudwatch_backends[account_id][region].put_metric_data(namespace, data)


def metric_regions() -> Iterator[tuple[str, str]]:
    """(account, region) of every CloudWatch backend that exists."""
    for account_id, regions in list(cloudwatch_backends.items()):
        for region in list(regions):
            yield account_id, region


def metric_data(account_id: str, region: str) -> list[Any]:
    """Every data point of the region in the order it arrived: moto's own list. It grows with each
    PutMetricData; only metric retention (``metrics.apply_retention``) and moto's reset shrink it."""
    return cloudwatch_backends[account_id][region].metric_data  # type: ignore[no-any-return]


def aggregated_datum(
    template: Any, timestamp: datetime, minimum: float, maximum: float, count: float, total: float
) -> MetricAggregatedDatum:
    """A statistic set (as PutMetricData's StatisticValues) of ``template``'s metric and unit."""
    return MetricAggregatedDatum(
        namespace=template.namespace,
        name=template.name,
        min_stat=minimum,
        max_stat=maximum,
        sample_count=count,
        sum_stat=total,
        dimensions=[{"Name": d.name, "Value": d.value} for d in template.dimensions],
        timestamp=timestamp,
        unit=template.unit,
    )


def aws_metric_data(account_id: str, region: str) -> list[Any]:
    """The metrics moto computes on request (``AWS/S3`` bucket sizes)."""
    return cloudwatch_backends[account_id][region].aws_metric_data  # type: ignore[no-any-return]


# --- EventBridge ---------------------------------------------------------------------------


def rules() -> Iterator[tuple[str, str, Rule]]:
    """(account, region, rule) of every rule on every event bus."""
    for account_id, regions in list(events_backends.items()):
        for region, backend in list(regions.items()):
            for bus in list(backend.event_buses.values()):
                for rule in list(bus.rules.values()):
                    yield account_id, region, rule


def put_events(account_id: str, region: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PutEvents: one answer per entry (with ``ErrorCode`` where it was refused)."""
    return events_backends[account_id][region].put_events(entries)  # type: ignore[no-any-return]


# --- DynamoDB ------------------------------------------------------------------------------


def table(account_id: str, region: str, name: str) -> Table | None:
    return dynamodb_backends[account_id][region].tables.get(name)


def create_table(account_id: str, region: str, name: str, **settings: Any) -> Table:
    """CreateTable with moto's keyword arguments (schema, attr, billing_mode, ...)."""
    return dynamodb_backends[account_id][region].create_table(name, **settings)


def delete_table(account_id: str, region: str, name: str) -> None:
    dynamodb_backends[account_id][region].delete_table(name)


def dynamodb_json(attributes: dict[str, Any]) -> str:
    """An item's attributes as DynamoDB JSON on one line."""
    return str(dynamo_json_dump(attributes))


# --- S3 ------------------------------------------------------------------------------------


def bucket(account_id: str, region: str, name: str) -> Bucket | None:
    return s3_backends[account_id][partition(region)].buckets.get(name)


def bucket_exists(name: str) -> bool:
    """Whether any account has a bucket of this name (bucket names are global)."""
    return name in s3_backends.bucket_accounts


def bucket_account(name: str) -> str | None:
    """The account that owns the bucket of this name; None if there is none."""
    found = s3_backends.bucket_accounts.get(name)
    return str(found[1]) if found is not None else None


def create_bucket(
    account_id: str,
    region: str,
    name: str,
    *,
    versioning: str | None = None,
    encryption: dict[str, Any] | None = None,
) -> Bucket:
    """CreateBucket, then PutBucketVersioning and PutBucketEncryption where given."""
    backend = s3_backends[account_id][partition(region)]
    created = backend.create_bucket(name, region)
    if versioning:
        backend.put_bucket_versioning(name, versioning)
    if encryption:
        backend.put_bucket_encryption(name, encryption)
    return created  # type: ignore[no-any-return]


def put_object(
    account_id: str,
    region: str,
    bucket_name: str,
    key: str,
    body: bytes,
    **options: Any,
) -> ObjectVersion:
    """PutObject with moto's keyword arguments (storage, encryption, kms_key_id, ...)."""
    return s3_backends[account_id][partition(region)].put_object(bucket_name, key, body, **options)  # type: ignore[no-any-return]


def all_buckets() -> Iterator[Bucket]:
    """Every bucket of every account."""
    for partitions in list(s3_backends.values()):
        for backend in list(partitions.values()):
            yield from list(backend.buckets.values())


def _s3_backend_of(bucket: Bucket) -> Any:
    return s3_backends[bucket.account_id][partition(bucket.region_name)]


def object_tags(bucket: Bucket, version: ObjectVersion) -> dict[str, str]:
    """The tags of one object version (GetObjectTagging)."""
    return dict(_s3_backend_of(bucket).tagger.get_tag_dict_for_resource(version.arn))


def delete_object(bucket: Bucket, key: str, version_id: str | None = None) -> bool:
    """DeleteObject: of one version (permanently) or, without ``version_id``, of the current one (a
    delete marker in a versioned bucket); False where S3 Object Lock keeps the version."""
    try:
        _s3_backend_of(bucket).delete_object(bucket.name, key, version_id=version_id)
    except AccessDeniedByLock:
        return False
    return True


def abort_multipart_upload(bucket: Bucket, upload_id: str) -> None:
    _s3_backend_of(bucket).abort_multipart_upload(bucket.name, upload_id)


# --- EC2: subnets and network ACLs ---------------------------------------------------------


@dataclass(frozen=True)
class Subnet:
    """A subnet as DescribeSubnets describes it (the fields FIS target filters name), with its tags."""

    arn: str
    fields: dict[str, str]  # SubnetId, VpcId, AvailabilityZone, AvailabilityZoneId, CidrBlock, State
    tags: dict[str, str]

    @property
    def id(self) -> str:
        return self.fields["SubnetId"]

    @property
    def vpc_id(self) -> str:
        return self.fields["VpcId"]


def subnets(account_id: str, region: str) -> list[Subnet]:
    """Every subnet of the region."""
    backend = ec2_backends[account_id][region]
    return [
        Subnet(
            f"arn:{partition(region)}:ec2:{region}:{account_id}:subnet/{subnet.id}",
            {
                "SubnetId": subnet.id,
                "VpcId": subnet.vpc_id,
                "AvailabilityZone": subnet.availability_zone,
                "AvailabilityZoneId": subnet.availability_zone_id,
                "CidrBlock": subnet.cidr_block,
                "State": subnet.state,
            },
            dict(backend.tags.get(subnet.id, {})),
        )
        for subnet in backend.describe_subnets()
    ]


def network_acl_association(account_id: str, region: str, subnet_id: str) -> tuple[str, str]:
    """(association id, network ACL id) of the subnet's network ACL association."""
    for acl in list(ec2_backends[account_id][region].network_acls.values()):
        for association in acl.associations:
            if association.subnet_id == subnet_id:
                return association.id, acl.id
    raise LookupError(f"subnet {subnet_id} has no network ACL association")


def create_deny_all_network_acl(account_id: str, region: str, vpc_id: str, tags: dict[str, str]) -> str:
    """CreateNetworkAcl in the VPC with ``tags``: a custom network ACL, which denies all traffic both
    ways (its entries are the two rule-32767 denies DescribeNetworkAcls shows for one)."""
    backend = ec2_backends[account_id][region]
    acl = backend.create_network_acl(vpc_id, tags=[{"Key": key, "Value": value} for key, value in tags.items()])
    for egress in (False, True):
        backend.create_network_acl_entry(acl.id, 32767, "-1", "deny", egress, "0.0.0.0/0", None, None, None, None, None)
    return str(acl.id)


def replace_network_acl_association(account_id: str, region: str, association_id: str, acl_id: str) -> str:
    """ReplaceNetworkAclAssociation; the new association's id."""
    return str(ec2_backends[account_id][region].replace_network_acl_association(association_id, acl_id).id)


def delete_network_acl(account_id: str, region: str, acl_id: str) -> None:
    ec2_backends[account_id][region].delete_network_acl(acl_id)


def network_acl_tags(account_id: str, region: str, acl_id: str) -> dict[str, str]:
    return dict(ec2_backends[account_id][region].tags.get(acl_id, {}))


# --- RDS -----------------------------------------------------------------------------------


def cluster(account_id: str, region: str, name: str) -> DBCluster | None:
    return rds_backends[account_id][region].clusters.get(name)


def create_cluster(account_id: str, region: str, arguments: dict[str, Any]) -> DBCluster:
    """CreateDBCluster with moto's arguments (the fixes start the cluster's PostgreSQL server)."""
    return rds_backends[account_id][region].create_db_cluster(arguments)  # type: ignore[no-any-return]


def delete_cluster(account_id: str, region: str, name: str) -> None:
    """DeleteDBCluster (an AWS error where RDS refuses, e.g. while the cluster has an instance)."""
    rds_backends[account_id][region].delete_db_cluster(name)


def db_instance(account_id: str, region: str, identifier: str) -> Any:
    """The DB instance of that identifier, or None."""
    return rds_backends[account_id][region].databases.get(identifier)


def cluster_instances(account_id: str, region: str, cluster_name: str) -> list[DBInstance]:
    """The DB instances of the Aurora cluster."""
    return [
        instance
        for instance in list(rds_backends[account_id][region].databases.values())
        if isinstance(instance, DBInstanceClustered) and instance.db_cluster_identifier == cluster_name
    ]


def all_clusters() -> Iterator[tuple[str, str, DBCluster]]:
    """(account, region, cluster) of every DB cluster."""
    for account_id, regions in list(rds_backends.items()):
        for region, backend in list(regions.items()):
            for cluster in list(backend.clusters.values()):
                yield account_id, region, cluster


def clusters(account_id: str, region: str) -> list[DBCluster]:
    """Every DB cluster of the region."""
    return list(rds_backends[account_id][region].clusters.values())


def db_instances(account_id: str, region: str) -> list[Any]:
    """Every DB instance of the region."""
    return list(rds_backends[account_id][region].databases.values())


def failover_cluster(account_id: str, region: str, name: str) -> None:
    """FailoverDBCluster (with the fixes: the writer moves, the cluster's server restarts); an AWS
    error where RDS refuses."""
    rds_backends[account_id][region].failover_db_cluster(name)


def reboot_db_instance(account_id: str, region: str, identifier: str) -> None:
    """RebootDBInstance (with the fixes: a cluster member restarts the cluster's server)."""
    rds_backends[account_id][region].reboot_db_instance(identifier)


def drop_db_instance(account_id: str, region: str, identifier: str) -> None:
    """Remove the instance from the region's store (its deletion has ended)."""
    rds_backends[account_id][region].databases.pop(identifier, None)


# --- AWS FIS ------------------------------------------------------------------------------


class FisError(JsonRESTError):
    """An error FIS answers with (rest-json ``__type`` and ``message``), its HTTP status by code."""

    STATUS: ClassVar[dict[str, int]] = {"ValidationException": 400, "ResourceNotFoundException": 404}

    def __init__(self, error_type: str, message: str):
        super().__init__(error_type, message)
        self.code = self.STATUS[error_type]


# --- AWS Backup ----------------------------------------------------------------------------


def backup_backends_all() -> Iterator[BackupBackend]:
    """The Backup backend of every account and region (the engines keep their state on it)."""
    for regions in list(backup_backends.values()):
        yield from list(regions.values())


# --- EC2: the network a VPC function calls from (pipeline/network.py) ---------------------------


def subnet(account_id: str, region: str, subnet_id: str) -> Any:
    """The subnet (``availability_zone``, ``cidr_block``, ``vpc_id``), or None."""
    try:
        return ec2_backends[account_id][region].get_subnet(subnet_id)
    except ServiceException:
        return None


def vpc(account_id: str, region: str, vpc_id: str) -> Any:
    """The VPC (``enable_dns_support``, ``enable_dns_hostnames``), or None."""
    try:
        return ec2_backends[account_id][region].get_vpc(vpc_id)
    except ServiceException:
        return None


def network_acl_of(account_id: str, region: str, subnet_id: str) -> Any:
    """The network ACL the subnet is associated with (every subnet has exactly one), or None."""
    for acl in list(ec2_backends[account_id][region].network_acls.values()):
        if any(association.subnet_id == subnet_id for association in list(acl._associations.values())):
            return acl
    return None


def route_table_of(account_id: str, region: str, subnet_id: str, vpc_id: str) -> Any:
    """The route table the subnet uses: its explicit association, else the VPC's main table."""
    tables = list(ec2_backends[account_id][region].route_tables.values())
    for table in tables:
        if subnet_id in table._associations.values():
            return table
    return next((t for t in tables if t.vpc_id == vpc_id and t.main_association_id is not None), None)


def vpc_endpoints(account_id: str, region: str, vpc_id: str) -> list[Any]:
    """The VPC's endpoints (``vpc_endpoint_type``, ``service_name``, ``state``, ``route_table_ids``,
    ``network_interface_ids``, ``security_group_ids``, ``private_dns_enabled``)."""
    endpoints = ec2_backends[account_id][region].vpc_end_points.values()
    return [endpoint for endpoint in list(endpoints) if endpoint.vpc_id == vpc_id]


def network_interface(account_id: str, region: str, interface_id: str) -> Any:
    """The network interface (``subnet``), or None."""
    return ec2_backends[account_id][region].enis.get(interface_id)


def security_group(account_id: str, region: str, group_id: str) -> Any:
    """The security group (``ingress_rules``, ``egress_rules``), or None."""
    return ec2_backends[account_id][region].get_security_group_from_id(group_id)


def db_subnet_group_subnets(account_id: str, region: str, name: str) -> list[Any]:
    """The EC2 subnets of the DB subnet group ``name`` (none if there is no such group)."""
    group = rds_backends[account_id][region].subnet_groups.get(name)
    return list(group._subnets) if group is not None else []


# --- STS: role sessions (who calls; pipeline/caller.py) ---------------------------------------


@dataclass(frozen=True)
class RoleSession:
    """Temporary credentials of a role session, and who they belong to."""

    account_id: str
    arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    role_arn: str
    session_name: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime  # emulated time, naive UTC (moto's)


def assume_role(role_arn: str, session_name: str, region: str, duration_seconds: int) -> RoleSession:
    """sts:AssumeRole as the service does it for a function (the role need not exist, as in moto)."""
    account_id = role_arn.split(":")[4]
    backend = sts_backends[account_id][get_partition(region)]
    assumed = backend.assume_role(
        region_name=region,
        role_session_name=session_name,
        role_arn=role_arn,
        policy="",
        duration=duration_seconds,
        external_id="",
    )
    return RoleSession(
        assumed.account_id,
        assumed.arn,
        role_arn,
        session_name,
        assumed.access_key_id,
        assumed.secret_access_key,
        assumed.session_token,
        assumed.expiration,
    )


def principal_of(access_key_id: str) -> tuple[str, str, str | None] | None:
    """(account, principal ARN, role ARN) of a key moto issued -- a role session's (AssumeRole
    through the API) or an IAM user's -- or None for a key moto does not know."""
    account_id = get_account_id_from(access_key_id)
    for partition, iam in list(iam_backends[account_id].items()):  # the backends that exist (no new ones)
        if access_key_id not in iam.access_keys:
            continue
        assumed = sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key_id)
        if assumed is not None:
            return account_id, assumed.arn, assumed.role_arn
        user = iam.get_user_from_access_key_id(access_key_id)
        if user is not None:
            return account_id, user.arn, None
    return None


def signing_secret(access_key_id: str) -> tuple[str, str | None] | None:
    """(secret access key, session token or None) of a key moto issued -- what a SigV4 signature made
    with it is checked against -- or None for a key moto does not know."""
    account_id = get_account_id_from(access_key_id)
    for partition, iam in list(iam_backends[account_id].items()):
        key = iam.access_keys.get(access_key_id)
        if key is None:
            continue
        assumed = sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key_id)
        if assumed is not None:
            return assumed.secret_access_key, assumed.session_token
        return key.secret_access_key, None
    return None


def default_account() -> str:
    """The account requests with keys moto does not know go to (moto's default)."""
    return str(DEFAULT_ACCOUNT_ID)


# --- IAM policy evaluation: the policies it reads (pipeline/policy.py) ------------------------


def role_policies(role_arn: str) -> list[str] | None:
    """The identity policies of the role ``role_arn`` as JSON documents: its inline policies and the
    default version of each attached managed policy (customer or AWS managed); None if there is no
    such role."""
    account_id = role_arn.split(":")[4]
    for iam in list(iam_backends[account_id].values()):
        for role in list(iam.roles.values()):
            if role.arn == role_arn:
                managed = [_default_document(policy) for policy in list(role.managed_policies.values())]
                return [_json_text(document) for document in [*role.policies.values(), *managed]]
    return None


def role_trust_policy(role_arn: str) -> str | None:
    """The trust policy of the role ``role_arn`` as JSON text; None if there is no such role."""
    account_id = role_arn.split(":")[4]
    for iam in list(iam_backends[account_id].values()):
        for role in list(iam.roles.values()):
            if role.arn == role_arn:
                return _json_text(role.assume_role_policy_document)
    return None


def _default_document(policy: ManagedPolicy) -> Any:
    return next(version.document for version in policy.versions if version.is_default)


def _json_text(document: Any) -> str:
    """moto keeps a document as the text it was given, or as a dict (CloudFormation's inline policies)."""
    return document if isinstance(document, str) else json.dumps(document)


def resource_policy(arn: str, account_id: str) -> str | dict[str, Any] | None:
    """The resource-based policy of the resource ``arn`` names where its service has one (S3 bucket
    -- also for an object ARN --, KMS key, secret, SNS topic, SQS queue, Lambda function, AWS Backup
    vault: its access policy); None if it
    has none or does not exist. ``account_id``: the caller's (S3 ARNs name no account)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, region, resource = parts[2], parts[3], parts[5]
    account_id = parts[4] or account_id
    if service == "s3":
        found = s3_backends[account_id][partition("us-east-1")].buckets.get(resource.split("/", 1)[0])
        return found.policy.decode() if found is not None and found.policy else None
    if service == "kms" and resource.startswith("key/"):
        key = kms_backends[account_id][region].keys.get(resource.removeprefix("key/"))
        return key.policy if key is not None else None
    if service == "secretsmanager":
        secret = secretsmanager_backends[account_id][region].secrets.get(arn)
        return getattr(secret, "policy", None)  # a replica has none of its own
    if service == "sns":
        found_topic = topic(account_id, region, arn)
        return found_topic.policy if found_topic is not None else None
    if service == "sqs":
        queue = sqs_backends[account_id][region].queues.get(resource)
        return queue.policy if queue is not None else None
    if service == "lambda":
        try:
            return function_policy(account_id, region, arn)
        except (LambdaClientError, *AWS_ERRORS):
            return None
    if service == "backup" and resource.startswith("backup-vault:"):
        vault = backup_backends[account_id][region].vaults.get(resource.removeprefix("backup-vault:"))
        return getattr(vault, "access_policy", None)  # set by PutBackupVaultAccessPolicy (Q19)
    return None


def secret_arn(account_id: str, region: str, secret_id: str) -> str | None:
    """The ARN of the secret ``secret_id`` (a name or an ARN) names; None if there is none."""
    secret = secretsmanager_backends[account_id][region].secrets.get(secret_id)
    return str(secret.arn) if secret is not None else None


def kms_key_arn(account_id: str, region: str, key_id: str) -> str | None:
    """The ARN of the KMS key ``key_id`` (id, ARN, alias name or alias ARN) names; None if none."""
    backend = kms_backends[account_id][region]
    try:
        return str(backend.keys[backend.any_id_to_key_id(key_id)].arn)
    except KeyError:
        return None
