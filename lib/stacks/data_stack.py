"""Data layer: Aurora PostgreSQL (Multi-AZ, PITR), DynamoDB (PITR) and the versioned S3 data bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from aws_cdk import CfnResource, Duration, NestedStack, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from lib.config import WRITER_ID, EnvironmentConfig
from lib.constructs.log_group import encrypted_log_group

AURORA_ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_16_13
DATABASE_USERNAME = "dbadmin"
BACKUP_WINDOW = "03:00-04:00"
MAINTENANCE_WINDOW = "sun:04:30-sun:05:30"
SECRET_ROTATION_DAYS = 30
ENHANCED_MONITORING_INTERVAL = Duration.seconds(60)
NONCURRENT_VERSION_DAYS = 30
ACCESS_LOG_DAYS = 90
INCOMPLETE_UPLOAD_DAYS = 7


@dataclass(frozen=True)
class DataStackProps:
    config: EnvironmentConfig
    vpc: ec2.IVpc
    database_security_group: ec2.ISecurityGroup
    rotation_security_group: ec2.ISecurityGroup
    aurora_key: kms.IKey
    bucket_key: kms.IKey
    monitoring_key: kms.IKey


class DataStack(NestedStack):
    """Stateful stores; every one is encrypted and point-in-time recoverable. The RemovalPolicy is
    DESTROY in every profile: a protected profile keeps its data with deletion protection, which
    CloudFormation cannot override, instead of RETAIN, whose orphans would block the next deploy of
    the same fixed names.

    Exposes: cluster, subnet_group, secret, table, bucket, access_logs_bucket.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: DataStackProps) -> None:
        super().__init__(scope, construct_id, description="Data layer: Aurora PostgreSQL, DynamoDB, S3")
        self._config = props.config
        self.cluster = self._aurora_cluster(props)
        self.secret: secretsmanager.ISecret = self.cluster.secret  # type: ignore[assignment]
        rotation_function = self._config.name("secret-rotation")
        rotation_log_group = encrypted_log_group(
            self,
            "RotationLogGroup",
            config=self._config,
            name=f"/aws/lambda/{rotation_function}",
            key=props.monitoring_key,
        )
        schedule = self.secret.add_rotation_schedule(
            "RotationSchedule",
            automatically_after=Duration.days(SECRET_ROTATION_DAYS),
            hosted_rotation=secretsmanager.HostedRotation.postgre_sql_single_user(
                function_name=rotation_function,
                vpc=props.vpc,
                vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
                security_groups=[props.rotation_security_group],
            ),
        )
        # Secrets Manager rotates once as soon as the schedule exists: the writer must already
        # answer, or the first rotation fails and the next try is a rotation interval later.
        schedule.node.add_dependency(rotation_log_group, self.cluster.node.find_child(WRITER_ID))
        self.table = self._table()
        self.access_logs_bucket = self._access_logs_bucket()
        self.bucket = self._data_bucket(props.bucket_key)

    def _aurora_cluster(self, props: DataStackProps) -> rds.DatabaseCluster:
        config = self._config
        profile = config.profile
        engine = rds.DatabaseClusterEngine.aurora_postgres(version=AURORA_ENGINE_VERSION)
        cluster_id = config.name("aurora-cluster")
        log_group = encrypted_log_group(
            self,
            "PostgresLogGroup",
            config=config,
            name=f"/aws/rds/cluster/{cluster_id}/postgresql",
            key=props.monitoring_key,
        )
        # Restore testing restores Aurora copies into the same subnet group.
        self.subnet_group = rds.SubnetGroup(
            self,
            "SubnetGroup",
            subnet_group_name=config.name("aurora-subnet-group"),
            description=f"Isolated subnets of {cluster_id}",
            vpc=props.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            removal_policy=RemovalPolicy.DESTROY,
        )
        cluster = rds.DatabaseCluster(
            self,
            "AuroraCluster",
            engine=engine,
            cluster_identifier=cluster_id,
            default_database_name=config.database_name,
            credentials=rds.Credentials.from_generated_secret(
                DATABASE_USERNAME,
                secret_name=config.name("aurora-credentials"),
                encryption_key=props.aurora_key,
            ),
            # Writer and readers in different AZs: a zone failure promotes a reader (Multi-AZ).
            writer=rds.ClusterInstance.serverless_v2(
                WRITER_ID,
                instance_identifier=config.name("aurora-writer"),
                availability_zone=config.availability_zones[0],
                publicly_accessible=False,
            ),
            readers=[
                rds.ClusterInstance.serverless_v2(
                    construct_id,
                    instance_identifier=config.name(name),
                    availability_zone=zone,
                    publicly_accessible=False,
                    scale_with_writer=True,
                )
                for construct_id, name, zone in config.aurora_readers()
            ],
            serverless_v2_min_capacity=profile.aurora_min_capacity,
            serverless_v2_max_capacity=profile.aurora_max_capacity,
            serverless_v2_auto_pause_duration=(
                Duration.seconds(profile.aurora_seconds_until_auto_pause)
                if profile.aurora_seconds_until_auto_pause is not None
                else None
            ),
            vpc=props.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            subnet_group=self.subnet_group,
            security_groups=[props.database_security_group],
            parameter_group=rds.ParameterGroup(
                self,
                "ClusterParameters",
                engine=engine,
                name=config.name("aurora-cluster-params"),
                description=f"TLS-only connections for {cluster_id}",
                parameters={"rds.force_ssl": "1"},
                removal_policy=RemovalPolicy.DESTROY,
            ),
            storage_encrypted=True,
            storage_encryption_key=props.aurora_key,
            backup=rds.BackupProps(
                retention=Duration.days(config.objectives.retention_days), preferred_window=BACKUP_WINDOW
            ),
            preferred_maintenance_window=MAINTENANCE_WINDOW,
            iam_authentication=True,
            monitoring_interval=ENHANCED_MONITORING_INTERVAL,
            cloudwatch_logs_exports=["postgresql"],
            copy_tags_to_snapshot=True,
            deletion_protection=profile.deletion_protection,
            removal_policy=RemovalPolicy.DESTROY,
        )
        cluster.node.add_dependency(log_group)
        # RDS assumes the enhanced-monitoring role CDK makes for the cluster; only for this account's
        # DB instances (Amazon Aurora User Guide, "Setting up and enabling Enhanced Monitoring",
        # cross-service confused deputy prevention: aws:SourceArn is the DB instance's ARN).
        monitoring_role = cast(CfnResource, cluster.node.find_child("MonitoringRole").node.default_child)
        monitoring_role.add_property_override(
            "AssumeRolePolicyDocument.Statement.0.Condition",
            {
                "StringEquals": {"aws:SourceAccount": config.account},
                "ArnLike": {"aws:SourceArn": f"arn:aws:rds:{config.region}:{config.account}:db:*"},
            },
        )
        return cluster

    def _table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "Table",
            table_name=self._config.name("dynamodb-table"),
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True,
                recovery_period_in_days=self._config.objectives.retention_days,
            ),
            deletion_protection=self._config.profile.deletion_protection,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _access_logs_bucket(self) -> s3.Bucket:
        # S3 server access logs can only be delivered to SSE-S3 buckets, so this one cannot use the CMK.
        return s3.Bucket(
            self,
            "AccessLogsBucket",
            bucket_name=self._config.global_name("access-logs"),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(ACCESS_LOG_DAYS),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS),
                )
            ],
            auto_delete_objects=True,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _data_bucket(self, key: kms.IKey) -> s3.Bucket:
        return s3.Bucket(
            self,
            "DataBucket",
            bucket_name=self._config.global_name("data-bucket"),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="data-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS),
                )
            ],
            # A protected profile keeps the data like the table and the cluster: no function empties the
            # bucket on destroy (nor on a fake Delete event); `make unprotect` empties it deliberately.
            auto_delete_objects=not self._config.profile.deletion_protection,
            removal_policy=RemovalPolicy.DESTROY,
        )
