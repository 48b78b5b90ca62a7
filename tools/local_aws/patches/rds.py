"""Aurora support for moto's CloudFormation: DB clusters, their instances and parameter groups."""

from __future__ import annotations

from typing import Any, ClassVar

from moto.core.utils import camelcase_to_underscores
from moto.rds.models import DBCluster, DBClusterParameterGroup, DBInstance, DBSubnetGroup, rds_backends

from ._support import ModelLogic, Properties, before_create, fix, install, register_model


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
