"""List what the app left in the emulator after ``cdk destroy``; exit 1 if anything is left.

Everything in the emulator counts except the account's baseline: the CDK bootstrap stack
(CDKToolkit) and the resources it lists, the default VPC with its subnets, route tables,
internet gateway and security group, and AWS-managed KMS keys (``alias/aws/*``, which moto creates
on first use as AWS does). The emulator is expected to be fresh (started for this run), so no name
filter is needed and nothing the app created can hide behind one.

Reads through the AWS APIs (boto3), like the integration tests: a resource counts as left if the
service still lists it (a deleted backup plan or an endpoint in state ``deleted`` does not).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import EndpointConnectionError

from . import control
from .server import default_endpoint

BOOTSTRAP_STACK = "CDKToolkit"


@dataclass(frozen=True)
class Leftover:
    kind: str
    identifier: str


@dataclass(frozen=True)
class Baseline:
    """What exists before the app is deployed and may stay."""

    bootstrap_ids: frozenset[str]
    default_vpc_ids: frozenset[str]


class Inventory:
    """boto3 clients for one endpoint, and the account baseline read through them."""

    def __init__(self, endpoint_url: str):
        self._session = control.operator_session()
        self._endpoint_url = endpoint_url
        self.baseline = self._read_baseline()

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint_url)

    def _read_baseline(self) -> Baseline:
        cloudformation = self.client("cloudformation")
        try:
            summaries = cloudformation.list_stack_resources(StackName=BOOTSTRAP_STACK)["StackResourceSummaries"]
        except cloudformation.exceptions.ClientError:
            summaries = []
        vpcs = self.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        return Baseline(
            bootstrap_ids=frozenset(s["PhysicalResourceId"] for s in summaries if s.get("PhysicalResourceId")),
            default_vpc_ids=frozenset(vpc["VpcId"] for vpc in vpcs),
        )

    def not_in_default_vpc(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [item for item in items if item.get("VpcId") not in self.baseline.default_vpc_ids]


def _stacks(inv: Inventory) -> Iterator[Leftover]:
    for stack in inv.client("cloudformation").describe_stacks()["Stacks"]:
        if stack["StackName"] != BOOTSTRAP_STACK:
            yield Leftover("CloudFormation stack", f"{stack['StackName']} ({stack['StackStatus']})")


def _network(inv: Inventory) -> Iterator[Leftover]:
    ec2 = inv.client("ec2")
    for vpc in inv.not_in_default_vpc(ec2.describe_vpcs()["Vpcs"]):
        yield Leftover("VPC", vpc["VpcId"])
    for subnet in inv.not_in_default_vpc(ec2.describe_subnets()["Subnets"]):
        yield Leftover("subnet", subnet["SubnetId"])
    for table in inv.not_in_default_vpc(ec2.describe_route_tables()["RouteTables"]):
        yield Leftover("route table", table["RouteTableId"])
    for gateway in ec2.describe_internet_gateways()["InternetGateways"]:
        attached = {a["VpcId"] for a in gateway["Attachments"]}
        if not attached & inv.baseline.default_vpc_ids:
            yield Leftover("internet gateway", gateway["InternetGatewayId"])
    for endpoint in ec2.describe_vpc_endpoints()["VpcEndpoints"]:
        if endpoint["State"].lower() != "deleted":
            yield Leftover("VPC endpoint", f"{endpoint['VpcEndpointId']} ({endpoint['ServiceName']})")
    for group in inv.not_in_default_vpc(ec2.describe_security_groups()["SecurityGroups"]):
        yield Leftover("security group", f"{group['GroupId']} ({group['GroupName']})")
    for flow_log in ec2.describe_flow_logs()["FlowLogs"]:
        yield Leftover("flow log", flow_log["FlowLogId"])
    for interface in inv.not_in_default_vpc(ec2.describe_network_interfaces()["NetworkInterfaces"]):
        yield Leftover("network interface", interface["NetworkInterfaceId"])


def _keys(inv: Inventory) -> Iterator[Leftover]:
    kms = inv.client("kms")
    aliases = kms.list_aliases()["Aliases"]
    aws_managed = {a.get("TargetKeyId") for a in aliases if a["AliasName"].startswith("alias/aws/")}
    for alias in aliases:
        if not alias["AliasName"].startswith("alias/aws/"):
            yield Leftover("KMS alias", alias["AliasName"])
    for key in kms.list_keys()["Keys"]:
        if key["KeyId"] in aws_managed or key["KeyArn"] in inv.baseline.bootstrap_ids:
            continue
        state = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"]
        if state != "PendingDeletion":
            yield Leftover("KMS key", f"{key['KeyId']} ({state})")


def _databases(inv: Inventory) -> Iterator[Leftover]:
    rds = inv.client("rds")
    for cluster in rds.describe_db_clusters()["DBClusters"]:
        yield Leftover("Aurora cluster", cluster["DBClusterIdentifier"])
    for instance in rds.describe_db_instances()["DBInstances"]:
        yield Leftover("DB instance", instance["DBInstanceIdentifier"])
    for group in rds.describe_db_subnet_groups()["DBSubnetGroups"]:
        if group["DBSubnetGroupName"] != "default":
            yield Leftover("DB subnet group", group["DBSubnetGroupName"])
    for group in rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]:
        if not group["DBClusterParameterGroupName"].startswith("default."):
            yield Leftover("DB cluster parameter group", group["DBClusterParameterGroupName"])
    for snapshot in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]:
        yield Leftover("DB cluster snapshot", snapshot["DBClusterSnapshotIdentifier"])
    for secret in inv.client("secretsmanager").list_secrets()["SecretList"]:
        yield Leftover("secret", secret["Name"])
    for table in inv.client("dynamodb").list_tables()["TableNames"]:
        yield Leftover("DynamoDB table", table)


def _storage_and_compute(inv: Inventory) -> Iterator[Leftover]:
    for bucket in inv.client("s3").list_buckets()["Buckets"]:
        if bucket["Name"] not in inv.baseline.bootstrap_ids:
            yield Leftover("S3 bucket", bucket["Name"])
    for function in inv.client("lambda").list_functions()["Functions"]:
        yield Leftover("Lambda function", function["FunctionName"])
    for group in inv.client("logs").describe_log_groups()["logGroups"]:
        yield Leftover("log group", group["logGroupName"])
    for queue_url in inv.client("sqs").list_queues().get("QueueUrls", []):
        yield Leftover("SQS queue", queue_url)
    iam = inv.client("iam")
    for role in iam.list_roles()["Roles"]:
        if role["RoleName"] not in inv.baseline.bootstrap_ids:
            yield Leftover("IAM role", role["RoleName"])
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        yield Leftover("IAM managed policy", policy["PolicyName"])
    for parameter in inv.client("ssm").describe_parameters()["Parameters"]:
        if parameter["Name"] not in inv.baseline.bootstrap_ids:
            yield Leftover("SSM parameter", parameter["Name"])


def _operations(inv: Inventory) -> Iterator[Leftover]:
    backup = inv.client("backup")
    for vault in backup.list_backup_vaults()["BackupVaultList"]:
        yield Leftover("backup vault", vault["BackupVaultName"])
    for plan in backup.list_backup_plans()["BackupPlansList"]:
        yield Leftover("backup plan", f"{plan['BackupPlanId']} ({plan['BackupPlanName']})")
    for topic in inv.client("sns").list_topics()["Topics"]:
        yield Leftover("SNS topic", topic["TopicArn"])
    for rule in inv.client("events").list_rules()["Rules"]:
        yield Leftover("EventBridge rule", rule["Name"])
    cloudwatch = inv.client("cloudwatch")
    for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
        yield Leftover("CloudWatch alarm", alarm["AlarmName"])
    for dashboard in cloudwatch.list_dashboards()["DashboardEntries"]:
        yield Leftover("CloudWatch dashboard", dashboard["DashboardName"])


CHECKS: tuple[Callable[[Inventory], Iterator[Leftover]], ...] = (
    _stacks,
    _network,
    _keys,
    _databases,
    _storage_and_compute,
    _operations,
)


def find_leftovers(endpoint_url: str) -> list[Leftover]:
    """Every non-baseline resource the emulator at ``endpoint_url`` still lists."""
    inventory = Inventory(endpoint_url)
    return [leftover for check in CHECKS for leftover in check(inventory)]


def main(endpoint_url: str | None = None) -> int:
    """Print the leftovers; exit status 0 if none, 1 if some, 2 if the emulator cannot be reached."""
    endpoint_url = endpoint_url or default_endpoint()
    try:
        leftovers = find_leftovers(endpoint_url)
    except EndpointConnectionError:
        print(f"Cannot reach the emulator at {endpoint_url}; is it running?", file=sys.stderr)
        return 2
    if not leftovers:
        print(f"No app resources left at {endpoint_url} (bootstrap stack and account defaults excluded).")
        return 0
    print(f"{len(leftovers)} app resource(s) left at {endpoint_url}:")
    for leftover in leftovers:
        print(f"  {leftover.kind:28} {leftover.identifier}")
    return 1
