"""Aurora: CloudFormation models for DB clusters, instances and parameter groups, and a real
PostgreSQL server behind every PostgreSQL cluster (reboot, failover, stop/start, point-in-time restore)."""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from moto.core.responses import ActionResult
from moto.core.utils import camelcase_to_underscores
from moto.rds.exceptions import InvalidDBClusterStateFault, RDSClientError
from moto.rds.models import (
    DBCluster,
    DBClusterParameterGroup,
    DBInstance,
    DBInstanceClustered,
    DBSubnetGroup,
    RDSBackend,
    rds_backends,
)
from moto.rds.responses import RDSResponse

from ...clock import CLOCK
from ...patches._support import ModelLogic, Properties, before_create, fix, install, register_model
from ..backup.resources import AuroraClusters
from . import aurora_instances, auto_pause, postgres


def _backend(account_id: str, region_name: str) -> Any:
    return rds_backends[account_id][region_name]


def _name(resource_name: str, properties: dict[str, Any], name_property: str) -> str:
    """The RDS name: the template's (lower-cased, as RDS stores it) or one derived from moto's.

    moto's generated name is ``<stack>-<logical id>-<suffix>``; a nested stack's name alone can
    exceed RDS's 63 characters, so (like CloudFormation) only logical id and suffix are used.
    """
    if name_property in properties:
        return resource_name.lower()
    return "-".join(resource_name.split("-")[-2:]).lower()[:63].rstrip("-")


def _api_arguments(properties: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation properties as moto's RDS keyword arguments (same names, snake_case).

    A ``Ref`` to a DB subnet group yields moto's object unless N13 applies; its name is used.
    """
    arguments = {camelcase_to_underscores(key): value for key, value in properties.items()}
    subnet_group = arguments.get("db_subnet_group_name")
    if subnet_group is not None and not isinstance(subnet_group, str):
        arguments["db_subnet_group_name"] = subnet_group.name
    return arguments


class DBClusterModel(ModelLogic):
    """``AWS::RDS::DBCluster`` (Aurora), created through moto's CreateDBCluster."""

    cfn_type: ClassVar[str] = "AWS::RDS::DBCluster"
    cfn_name_property: ClassVar[str] = "DBClusterIdentifier"

    cfn_attributes: ClassVar[dict[str, str]] = {
        "Endpoint.Address": "cluster.endpoint",
        "Endpoint.Port": "port",
        "ReadEndpoint.Address": "cluster.reader_endpoint",
        "Arn": "cluster.db_cluster_arn",
        "DBClusterArn": "cluster.db_cluster_arn",
        "DBClusterResourceId": "cluster.db_cluster_resource_id",
    }

    def __init__(self, cluster: DBCluster):
        self.cluster = cluster

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> DBClusterModel:
        arguments = _api_arguments(properties)
        arguments["db_cluster_identifier"] = _name(resource_name, properties, "DBClusterIdentifier")
        cluster = _backend(account_id, region_name).create_db_cluster(arguments)
        cluster.status = "available"  # CloudFormation completes only once the cluster is available
        return cls(cluster)

    @property
    def physical_resource_id(self) -> str:
        return self.cluster.db_cluster_identifier

    @property
    def port(self) -> str:
        return str(self.cluster.port)

    def delete(self, account_id: str, region_name: str) -> None:
        """Fails while instances remain (the delete loop retries); removes automated snapshots."""
        backend = _backend(account_id, region_name)
        identifier = self.cluster.db_cluster_identifier
        if identifier not in backend.clusters:
            return
        backend.delete_db_cluster(identifier)
        _remove_automated_snapshots(backend, identifier)


def _remove_automated_snapshots(backend: RDSBackend, identifier: str) -> None:
    """Automated snapshots go with their cluster (moto keeps them)."""
    for snapshot_id, snapshot in list(backend.cluster_snapshots.items()):
        if snapshot.db_cluster_identifier == identifier and snapshot.snapshot_type == "automated":
            del backend.cluster_snapshots[snapshot_id]


@fix("R5")
def add_db_cluster_model() -> None:
    """``AWS::RDS::DBCluster`` has no moto model.

    ``Fn::GetAtt`` of its endpoint fails the whole deploy (``NoneType has no has_cfn_attr``). The
    cluster is now created through moto's RDS API with all template properties; Ref is the
    identifier, GetAtt gives endpoints, port, ARN and resource id. Delete fails while instances
    remain, which moto's delete loop retries.
    """
    register_model(DBClusterModel, "rds")


@fix("R6")
def create_aurora_instances_in_their_cluster() -> None:
    """moto builds an ``AWS::RDS::DBInstance`` as a standalone instance, ignoring
    ``DBClusterIdentifier``; with an Aurora engine it fails (``KeyError: 'aurora-postgresql'``).

    An instance with a cluster is now created as a cluster member (class, engine, promotion tier,
    public access, ...), so it shows up in the cluster as writer or reader.
    """
    original = DBInstance.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type[DBInstance],
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DBInstance:
        properties = cloudformation_json["Properties"]
        if "DBClusterIdentifier" not in properties:
            return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        arguments = _api_arguments(properties)
        arguments["db_cluster_identifier"] = properties["DBClusterIdentifier"].lower()
        arguments["db_instance_identifier"] = _name(resource_name, properties, "DBInstanceIdentifier")
        return _backend(account_id, region_name).create_db_instance(arguments)

    install(DBInstance, "create_from_cloudformation_json", classmethod(create_from_cloudformation_json))


class DBClusterParameterGroupModel(ModelLogic):
    """``AWS::RDS::DBClusterParameterGroup``: family, description and parameters."""

    cfn_type: ClassVar[str] = "AWS::RDS::DBClusterParameterGroup"
    cfn_name_property: ClassVar[str] = "DBClusterParameterGroupName"

    def __init__(self, group: DBClusterParameterGroup):
        self.group = group

    @classmethod
    def create(
        cls, resource_name: str, properties: Properties, account_id: str, region_name: str
    ) -> DBClusterParameterGroupModel:
        group = _backend(account_id, region_name).create_db_cluster_parameter_group(
            db_cluster_parameter_group_name=_name(resource_name, properties, "DBClusterParameterGroupName"),
            db_parameter_group_family=properties["Family"],
            description=properties["Description"],
            tags=properties.get("Tags"),
        )
        group.update_cluster_parameters(
            {"ParameterName": name, "ParameterValue": str(value), "ApplyMethod": "pending-reboot"}
            for name, value in properties.get("Parameters", {}).items()
        )
        return cls(group)

    @property
    def physical_resource_id(self) -> str:
        return self.group.name

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        if self.group.name in backend.db_cluster_parameter_groups:
            backend.delete_db_cluster_parameter_group(self.group.name)


@fix("N3")
def add_db_cluster_parameter_group_model() -> None:
    """``AWS::RDS::DBClusterParameterGroup`` has no moto model (the class exists but declares no
    CloudFormation type), so the cluster's custom parameters were never stored."""
    register_model(DBClusterParameterGroupModel, "rds")


def _subnet_group_object(properties: dict[str, Any], account_id: str, region_name: str) -> dict[str, Any]:
    """moto's standalone-instance create reads ``DBSubnetGroupName`` as the group object."""
    name = properties.get("DBSubnetGroupName")
    if not isinstance(name, str):
        return properties
    return {**properties, "DBSubnetGroupName": _backend(account_id, region_name).subnet_groups[name.lower()]}


@fix("N13")
def name_db_subnet_groups() -> None:
    """A ``Ref`` to ``AWS::RDS::DBSubnetGroup`` yields moto's Python object, not the group's name: an
    Output of it reads ``<moto.rds.models.DBSubnetGroup object ...>`` and ListStackResources shows no
    physical id. The group now answers with its name; moto's standalone-instance create, which
    relied on getting the object, looks it up by name instead."""
    install(DBSubnetGroup, "physical_resource_id", property(lambda group: group.name))
    before_create(DBInstance, _subnet_group_object)


# Engines whose clusters get a real PostgreSQL server (D3).
POSTGRES_ENGINES = frozenset({"aurora-postgresql", "postgres"})


@dataclass(frozen=True)
class _Restore:
    """The point-in-time restore a cluster being created is the target of (D5)."""

    source: str
    when: datetime


_restoring: ContextVar[_Restore | None] = ContextVar("restoring", default=None)


def _server(cluster: DBCluster) -> postgres.DatabaseServer | None:
    try:
        return postgres.server_for(cluster.db_cluster_identifier)
    except KeyError:
        return None


def _forces_ssl(cluster: DBCluster) -> bool:
    """Aurora's ``rds.force_ssl`` from the cluster's parameter group; TLS is forced unless it is 0."""
    group = cluster.backend.db_cluster_parameter_groups.get(cluster.parameter_group)
    parameter = group.parameters.get("rds.force_ssl", {}) if group is not None else {}
    return str(parameter.get("ParameterValue", "1")) != "0"


def _master_password(cluster: DBCluster) -> str:
    """MasterUserPassword (CloudFormation passes it with dynamic references resolved), or the
    password in the secret RDS manages (ManageMasterUserPassword)."""
    if cluster.manage_master_user_password:
        return str(json.loads(str(cluster.master_user_secret.secret.secret_string))["password"])
    return str(cluster._master_user_password)  # moto's public getter refuses to return it


def _start_server(cluster: DBCluster) -> postgres.DatabaseServer:
    """The new cluster's server: a fresh one, or the restored copy when the cluster is the target
    of a point-in-time restore."""
    identifier = cluster.db_cluster_identifier
    restore = _restoring.get()
    if restore is None:
        return postgres.start_server(
            identifier,
            str(cluster.master_username),
            _master_password(cluster),
            cluster.database_name or "postgres",
            force_ssl=_forces_ssl(cluster),
        )
    server = postgres.restore_to_time(restore.source, identifier, restore.when)
    if server.force_ssl != _forces_ssl(cluster):  # the copy may have another parameter group
        server.force_ssl = _forces_ssl(cluster)
        server.restart()
    return server


@fix("D3")
def run_a_postgresql_server_per_cluster() -> None:
    """No database runs behind a DB cluster: its endpoint is a made-up ``*.rds.amazonaws.com`` name
    and nothing answers SQL.

    Every PostgreSQL cluster (CreateDBCluster, ``AWS::RDS::DBCluster``, restores) now gets a real
    PostgreSQL server (``postgres``): TLS only unless the parameter group sets
    ``rds.force_ssl`` to 0, the master user and password, the database. Endpoint and reader
    endpoint are 127.0.0.1 and the port is the server's, so GetAtt, the attached secret and
    DescribeDBClusters lead to it (the port the cluster was created with stays ``declared_port``:
    the one its security groups admit). DeleteDBCluster stops the server, removes its files and the
    automated snapshots (moto kept them, so they outlived every destroy); an
    identifier in use gives DBClusterAlreadyExistsFault (moto replaced the cluster silently).
    """
    create_db_cluster = RDSBackend.create_db_cluster
    delete_db_cluster = RDSBackend.delete_db_cluster
    endpoint: Any = DBCluster.endpoint
    reader_endpoint: Any = DBCluster.reader_endpoint

    def create_with_server(backend: RDSBackend, kwargs: dict[str, Any]) -> DBCluster:
        if kwargs["db_cluster_identifier"] in backend.clusters:
            raise RDSClientError("DBClusterAlreadyExistsFault", "DB cluster already exists")
        cluster = create_db_cluster(backend, kwargs)
        if cluster.engine not in POSTGRES_ENGINES:
            return cluster
        try:
            server = _start_server(cluster)
        except postgres.DatabaseError as error:  # no cluster without its server
            del backend.clusters[kwargs["db_cluster_identifier"]]
            _remove_automated_snapshots(backend, cluster.db_cluster_identifier)
            raise RDSClientError("InternalFailure", str(error)) from error
        cluster.declared_port = cluster.port  # type: ignore[attr-defined]  # what SG rules name (network.py)
        cluster.port = server.port
        cluster.earliest_restorable_time = CLOCK.now_naive()  # the base backup is taken
        return cluster

    def delete_with_server(backend: RDSBackend, cluster_identifier: str, snapshot_name: str | None = None) -> DBCluster:
        cluster = delete_db_cluster(backend, cluster_identifier, snapshot_name)
        # DeleteDBCluster deletes the automated backups (DeleteAutomatedBackups defaults to true).
        _remove_automated_snapshots(backend, cluster_identifier)
        if _server(cluster) is not None:
            postgres.delete_server(cluster.db_cluster_identifier)
            auto_pause.forget(cluster.db_cluster_identifier)
        return cluster

    def address(original: Any) -> property:
        return property(lambda cluster: postgres.HOST if _server(cluster) is not None else original.fget(cluster))

    install(RDSBackend, "create_db_cluster", create_with_server)
    install(RDSBackend, "delete_db_cluster", delete_with_server)
    install(DBCluster, "endpoint", address(endpoint))
    install(DBCluster, "reader_endpoint", address(reader_endpoint))


def _refuse_if_stopped(cluster: DBCluster) -> None:
    if cluster.status == "stopped":
        raise InvalidDBClusterStateFault(
            f"DbCluster {cluster.db_cluster_identifier} is in stopped state but expected it to be one of available."
        )


def _restart(cluster: DBCluster) -> None:
    """Restart the cluster's server (dropping every connection) with the current parameters."""
    server = _server(cluster)
    if server is not None:
        server.force_ssl = _forces_ssl(cluster)
        server.restart()


@fix("D4")
def act_on_the_server_on_reboot_failover_stop_start() -> None:
    """Reboots, failovers, stops and starts changed nothing a client could notice, and moto has no
    RebootDBCluster at all.

    RebootDBCluster (added), RebootDBInstance of a cluster member and FailoverDBCluster restart the
    cluster's server: every connection drops, as in AWS (the failover also moves the writer role to
    another instance, as moto already did). StopDBCluster stops the server (connections are refused
    while the cluster is ``stopped``), StartDBCluster starts it. An unknown cluster gives
    DBClusterNotFoundFault; a stopped one InvalidDBClusterStateFault.
    """
    reboot_db_instance = RDSBackend.reboot_db_instance
    failover_db_cluster = RDSBackend.failover_db_cluster
    stop_db_cluster = RDSBackend.stop_db_cluster
    start_db_cluster = RDSBackend.start_db_cluster

    def reboot_db_cluster(backend: RDSBackend, db_cluster_identifier: str) -> DBCluster:
        cluster = backend.describe_db_clusters(db_cluster_identifier)[0]
        _refuse_if_stopped(cluster)
        _restart(cluster)
        return cluster

    def reboot_db_cluster_action(response: RDSResponse) -> ActionResult:
        return ActionResult({"DBCluster": reboot_db_cluster(response.backend, response.params["DBClusterIdentifier"])})

    def reboot_member(backend: RDSBackend, db_instance_identifier: str) -> DBInstance:
        instance = reboot_db_instance(backend, db_instance_identifier)
        if isinstance(instance, DBInstanceClustered):
            cluster = backend.describe_db_clusters(instance.db_cluster_identifier)[0]
            _refuse_if_stopped(cluster)
            _restart(cluster)
        return instance

    def failover(
        backend: RDSBackend, db_cluster_identifier: str, target_db_instance_identifier: str | None = None
    ) -> DBCluster:
        _refuse_if_stopped(backend.describe_db_clusters(db_cluster_identifier)[0])
        cluster = failover_db_cluster(backend, db_cluster_identifier, target_db_instance_identifier)
        _restart(cluster)
        return cluster

    def stop(backend: RDSBackend, cluster_identifier: str) -> DBCluster:
        previous = stop_db_cluster(backend, cluster_identifier)
        server = _server(backend.clusters[cluster_identifier])
        if server is not None:
            server.stop()
            auto_pause.forget(cluster_identifier)  # a paused cluster's port no longer answers either
        return previous

    def start(backend: RDSBackend, cluster_identifier: str) -> DBCluster:
        started = start_db_cluster(backend, cluster_identifier)
        cluster = backend.clusters[cluster_identifier]
        server = _server(cluster)
        if server is not None:
            server.force_ssl = _forces_ssl(cluster)
            server.start()
        return started

    install(RDSResponse, "reboot_db_cluster", reboot_db_cluster_action)
    install(RDSBackend, "reboot_db_instance", reboot_member)
    install(RDSBackend, "failover_db_cluster", failover)
    install(RDSBackend, "stop_db_cluster", stop)
    install(RDSBackend, "start_db_cluster", start)


def _restore_instant(source: DBCluster, restore_to_time: datetime | None, use_latest: bool) -> datetime:
    """The emulated instant to restore to, checked against the source's restorable window:
    from its first backup, at most BackupRetentionPeriod days back, up to now."""
    now = CLOCK.now_naive()
    if restore_to_time is None and not use_latest:
        raise RDSClientError("InvalidParameterCombination", "Specify either RestoreToTime or UseLatestRestorableTime.")
    if restore_to_time is None:
        return now
    when = restore_to_time.astimezone(UTC).replace(tzinfo=None) if restore_to_time.tzinfo else restore_to_time
    earliest = max(source.earliest_restorable_time, now - timedelta(days=source.backup_retention_period))
    if not earliest <= when <= now:
        raise RDSClientError(
            "InvalidRestoreFault",
            f"The restore time {when.isoformat()}Z is outside the restorable window of "
            f"{source.db_cluster_identifier} ({earliest.isoformat()}Z to {now.isoformat()}Z).",
        )
    return when


@fix("D5")
def restore_data_to_a_point_in_time() -> None:
    """RestoreDBClusterToPointInTime copied the source cluster's settings, not its data (there was
    none), and accepted any RestoreToTime.

    The new cluster's server now holds the source's data as of RestoreToTime (or the latest
    restorable time): the source's base backup replayed from its WAL archive up to that instant
    (real PostgreSQL point-in-time recovery), with the source's credentials. A time outside the
    source's restorable window (from its creation, at most BackupRetentionPeriod days back, up to
    now) gives InvalidRestoreFault.
    """
    restore_db_cluster_to_point_in_time = RDSBackend.restore_db_cluster_to_point_in_time

    def restore(
        backend: RDSBackend,
        db_cluster_identifier: str,
        source_db_cluster_identifier: str,
        restore_type: str = "full-copy",
        restore_to_time: datetime | None = None,
        use_latest_restorable_time: bool = False,
        **overrides: Any,
    ) -> DBCluster:
        source = backend.describe_db_clusters(source_db_cluster_identifier)[0]
        when = _restore_instant(source, restore_to_time, use_latest_restorable_time)
        token = _restoring.set(_Restore(source.db_cluster_identifier, when) if _server(source) is not None else None)
        try:
            return restore_db_cluster_to_point_in_time(
                backend,
                db_cluster_identifier,
                source_db_cluster_identifier,
                restore_type,
                restore_to_time,
                use_latest_restorable_time,
                **overrides,
            )
        finally:
            _restoring.reset(token)

    install(RDSBackend, "restore_db_cluster_to_point_in_time", restore)


def _instance(backend: RDSBackend, identifier: str | None) -> DBInstanceClustered | None:
    """The Aurora cluster member of that name, or None (unknown, or a standalone instance)."""
    instance = backend.databases.get(identifier or "")
    return instance if isinstance(instance, DBInstanceClustered) else None


@fix("D50")
def aurora_instances_take_minutes_and_send_events() -> None:
    """CreateDBInstance into a cluster and DeleteDBInstance of a member took effect at once, and RDS
    sent no event: moto's instance is ``available`` when the call answers and gone when deleted.

    Through the API they now take emulated time (``aurora_instances``): ``creating``
    for 10 minutes, then ``available`` with RDS-EVENT-0005 "DB instance created"; ``deleting`` for
    5 minutes, then gone with RDS-EVENT-0003 "DB instance deleted" -- "RDS DB Instance Event"s on the
    default bus, as RDS sends them. Deleting an instance that is already ``deleting`` gives
    InvalidDBInstanceState. DeleteDBCluster still refuses a cluster with an instance that is not
    ``deleting`` (InvalidDBClusterStateFault), and takes the ``deleting`` ones with it.
    CloudFormation's instances stay instant (the deploy waits for them anyway).
    """
    create_db_instance = RDSResponse.create_db_instance
    delete_db_instance = RDSResponse.delete_db_instance
    delete_db_cluster = RDSBackend.delete_db_cluster
    drop_db_instance = RDSBackend.delete_db_instance

    def create(response: RDSResponse) -> ActionResult:
        result = create_db_instance(response)
        instance = _instance(response.backend, response.params.get("DBInstanceIdentifier"))
        if instance is not None:
            aurora_instances.begin_create(instance)
        return result

    def delete(response: RDSResponse) -> ActionResult:
        identifier = response.params.get("DBInstanceIdentifier")
        instance = _instance(response.backend, identifier)
        if instance is None:
            return delete_db_instance(response)
        if instance.status == "deleting":
            raise RDSClientError("InvalidDBInstanceState", f"Instance {identifier} is already being deleted.")
        if instance.deletion_protection:
            raise RDSClientError(
                "InvalidParameterCombination",
                "Cannot delete protected DB Instance, please disable deletion protection and try again.",
            )
        aurora_instances.begin_delete(instance)
        return ActionResult({"DBInstance": instance})

    def delete_cluster(backend: RDSBackend, cluster_identifier: str, snapshot_name: str | None = None) -> DBCluster:
        cluster = backend.clusters.get(cluster_identifier)
        members = cluster.members if cluster is not None else []
        if members and all(member.status == "deleting" for member in members):
            for member in members:
                aurora_instances.forget(backend.account_id, backend.region_name, member.db_instance_identifier)
                drop_db_instance(backend, member.db_instance_identifier)
        deleted = delete_db_cluster(backend, cluster_identifier, snapshot_name)
        aurora_instances.release(backend.account_id, backend.region_name, cluster_identifier)
        return deleted

    install(RDSResponse, "create_db_instance", create)
    install(RDSResponse, "delete_db_instance", delete)
    install(RDSBackend, "delete_db_cluster", delete_cluster)
    CLOCK.register(aurora_instances.due_instance_changes)


@fix("D51")
def aws_backup_restores_aurora_clusters_without_an_instance() -> None:
    """A cluster AWS Backup restored answered SQL at once, although "AWS Backup restores your Aurora
    cluster; it does not create or attach an Amazon RDS instance to your cluster".

    Its PostgreSQL server now runs only while one of its instances is available: the restored
    cluster refuses connections until CreateDBInstance's instance is (D50: 10 emulated minutes),
    and again once its last instance is deleting.
    """
    restore = AuroraClusters.restore

    def restore_without_instance(kind: AuroraClusters, directory: Path, metadata: dict[str, str]) -> str:
        arn = restore(kind, directory, metadata)
        aurora_instances.hold_until_instance(kind.account_id, kind.region, kind.name_in(arn) or "")
        return arn

    install(AuroraClusters, "restore", restore_without_instance)


@fix("D63")
def aurora_pauses_when_idle() -> None:
    """A cluster with a minimum capacity of 0 ACU never paused: its server ran and answered at once
    however long nobody connected, so the cost model's "dev pauses" was never tested.

    Such a cluster now pauses after ``SecondsUntilAutoPause`` emulated seconds without connections
    (``auto_pause``): its server stops, ``AWS/RDS ServerlessDatabaseCapacity`` reads 0, and the next
    connection of a function resumes it after Aurora's resume time on the function's emulated time
    (another client's resumes it at once); AWS Backup copies a paused cluster without resuming it.
    """
    if auto_pause.on_launch not in postgres.LAUNCH_HOOKS:
        postgres.LAUNCH_HOOKS.append(auto_pause.on_launch)
    CLOCK.register(auto_pause.due_pauses)
