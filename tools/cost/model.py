"""Prices one assembly for one usage scenario, as built ("ours") or the naive way.

Every quantity that the templates decide comes from the templates: how many DB instances and of
which class, the Aurora capacity range and whether it can pause, how many interface endpoints in how
many AZs, keys, alarms and the metrics they read, dashboards, log groups and their retention, which
schedule invokes which function how often, which stores the backup plan selects and how long it
keeps how many recovery points, how many restore tests run. Only what the templates cannot know
(data volumes, request rates, log volumes) comes from the scenario in ``usage.json``.

The naive design is the same templates priced as if built the usual way: a NAT gateway per AZ
instead of the interface endpoints, and a provisioned ``db.r6g.large`` per DB instance instead of
Aurora Serverless v2.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from lib.schedules import ScheduleError

from .assembly import Assembly, BadInput, Resource, instants, runs_per_month

OURS, NAIVE = "ours", "naive"
NAIVE_DB_CLASS = "db.r6g.large"
SERVERLESS = "db.serverless"
KB_PER_GB = 1024 * 1024
AURORA_PAUSE_DELAY_DEFAULT = 300  # seconds, when MinCapacity is 0 and SecondsUntilAutoPause is absent
S3_BACKUP_MIN_OBJECT_KB = 128
ACCESS_LOG_BYTES_PER_REQUEST = 300
UNBOUNDED_RETENTION_DAYS = 365  # "never expire" / no lifecycle, priced as one year of data
NOMINAL_JOB_STATES = {"CREATED", "RUNNING", "COMPLETED"}  # the state changes of a job that goes well


@dataclass(frozen=True)
class Prices:
    """Unit prices by key; every entry names its unit, source page and date (``prices-us-east-1.json``)."""

    region: str
    as_of: str
    free_tiers: str
    entries: Mapping[str, Mapping[str, Any]]

    def __getitem__(self, key: str) -> float:
        return float(self.entries[key]["usd"])

    def unit_price(self, key: str) -> str:
        """The unit price as the output shows it next to a quantity: marked "unverified" when its
        entry says it could not be checked against its source page (``"verified": false``)."""
        mark = "" if self.entries[key].get("verified", True) else " (unverified)"
        return f"${self[key]:,.2f}{mark}"

    @classmethod
    def load(cls, path: Path) -> Prices:
        data = json.loads(path.read_text())
        return cls(data["region"], data["as_of"], data["free_tiers"], data["prices"])


@dataclass(frozen=True)
class Scenario:
    """What the templates cannot say: data, traffic and log volumes (``usage.json``)."""

    name: str
    hours: float
    description: str
    app_keeps_aurora_awake: bool
    aurora_writer_acu: float
    aurora_reader_acu: float
    aurora_storage_gb: float
    aurora_io_millions: float
    daily_change: float
    dynamodb_storage_gb: float
    dynamodb_write_millions: float
    dynamodb_read_millions: float
    s3_storage_gb: float
    s3_objects: float
    s3_put_thousands: float
    s3_get_thousands: float
    aws_api_gb: float
    lambda_ms_per_invocation: float
    lambda_log_kb_per_invocation: float
    flow_log_gb: float
    database_log_gb: float
    enhanced_monitoring_kb_per_sample: float
    kms_requests_per_key: float
    secrets_api_calls_thousands: float


@dataclass(frozen=True)
class Budget:
    profile: str
    scenario: str
    usd: float


@dataclass(frozen=True)
class Usage:
    scenarios: list[Scenario]
    budgets: list[Budget]

    @classmethod
    def load(cls, path: Path) -> Usage:
        data = json.loads(path.read_text())
        hours = float(data["hours_per_month"])
        scenarios = [Scenario(name=name, hours=hours, **body) for name, body in data["scenarios"].items()]
        budgets = [Budget(b["profile"], b["scenario"], float(b["usd"])) for b in data.get("budgets", [])]
        return cls(scenarios, budgets)


@dataclass(frozen=True)
class Line:
    """One priced item of one resource."""

    resource: str
    type: str
    item: str
    quantity: str
    usd: float
    driver: str


@dataclass
class Estimate:
    """The lines of one design under one scenario, what costs nothing, and what the model cannot price."""

    design: str
    scenario: Scenario
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    free: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    not_priced: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def drivers(self) -> list[tuple[str, float]]:
        """Cost per driver (Aurora capacity, interface endpoints, ...), largest first."""
        sums: dict[str, float] = defaultdict(float)
        for line in self.lines:
            sums[line.driver] += line.usd
        return sorted(sums.items(), key=lambda item: -item[1])


# Resource types that cost nothing by themselves, and why.
FREE: Mapping[str, str] = {
    "AWS::CDK::Metadata": "CDK metadata: not a billed resource",
    "AWS::CloudFormation::Stack": "nested stacks: no charge",
    "AWS::EC2::VPC": "VPC networking: no charge",
    "AWS::EC2::Subnet": "VPC networking: no charge",
    "AWS::EC2::RouteTable": "VPC networking: no charge",
    "AWS::EC2::Route": "VPC networking: no charge",
    "AWS::EC2::SubnetRouteTableAssociation": "VPC networking: no charge",
    "AWS::EC2::InternetGateway": "VPC networking: no charge",
    "AWS::EC2::VPCGatewayAttachment": "VPC networking: no charge",
    "AWS::EC2::SecurityGroup": "VPC networking: no charge",
    "AWS::EC2::SecurityGroupIngress": "VPC networking: no charge",
    "AWS::EC2::SecurityGroupEgress": "VPC networking: no charge",
    "AWS::EC2::FlowLog": "flow logs: priced as ingestion on their log group",
    "AWS::KMS::Alias": "KMS aliases: no charge",
    "AWS::Lambda::Alias": "Lambda aliases, versions, permissions, async settings: no charge",
    "AWS::Lambda::Version": "Lambda aliases, versions, permissions, async settings: no charge",
    "AWS::Lambda::Permission": "Lambda aliases, versions, permissions, async settings: no charge",
    "AWS::Lambda::EventInvokeConfig": "Lambda aliases, versions, permissions, async settings: no charge",
    "AWS::Events::Rule": "EventBridge rules on schedules and AWS service events: no charge (the work they "
    "trigger is priced on its target)",
    "AWS::RDS::DBSubnetGroup": "RDS subnet and parameter groups: no charge",
    "AWS::RDS::DBClusterParameterGroup": "RDS subnet and parameter groups: no charge",
    "AWS::RDS::DBParameterGroup": "RDS subnet and parameter groups: no charge",
    "AWS::S3::BucketPolicy": "resource policies: no charge",
    "AWS::SNS::TopicPolicy": "resource policies: no charge",
    "AWS::SQS::QueuePolicy": "resource policies: no charge",
    "AWS::SecretsManager::ResourcePolicy": "resource policies: no charge",
    "AWS::SecretsManager::SecretTargetAttachment": "secret attachments: no charge",
    "AWS::SecretsManager::RotationSchedule": "rotation: its function runs four steps per rotation (monthly "
    "or rarer), well under a cent",
    "AWS::SNS::Topic": "SNS: $0.50 per million publishes; the kit publishes a few thousand alerts a month at most",
    "AWS::SQS::Queue": "SQS: $0.40 per million requests; dead-letter queues stay empty when all is well",
    "AWS::Backup::BackupVault": "AWS Backup vaults, plans and selections: storage is priced on each protected resource",
    "AWS::Backup::BackupPlan": "AWS Backup vaults, plans and selections: storage is priced on each protected resource",
    "AWS::Backup::BackupSelection": "AWS Backup vaults, plans and selections: storage is priced on each "
    "protected resource",
    "AWS::Backup::RestoreTestingPlan": "restore testing plans: priced per job on their selections",
    "AWS::FIS::ExperimentTemplate": "AWS FIS experiment templates: billed per action-minute only while an "
    "experiment runs (docs/RUNBOOK.md, Availability Zone loss)",
}
FREE_PREFIXES: Mapping[str, str] = {
    "AWS::IAM::": "IAM: no charge",
    "Custom::": "custom resources: their provider function runs on deploy only",
}
NOT_PRICED = "not priced (free or usage-only)"


class _Pricer:
    """Prices every resource of one assembly for one scenario and design."""

    def __init__(self, assembly: Assembly, prices: Prices, scenario: Scenario, design: str) -> None:
        self.assembly, self.prices, self.usage, self.design = assembly, prices, scenario, design
        self.estimate = Estimate(design, scenario)
        self.protection = self._protection()
        self.schedules: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.runs = self._function_runs()
        self.log_gb = self._log_ingestion()

    def run(self) -> Estimate:
        handlers: Mapping[str, Callable[[Resource], None]] = {
            "AWS::EC2::VPC": self._vpc,
            "AWS::EC2::VPCEndpoint": self._endpoint,
            "AWS::EC2::NatGateway": self._nat_gateway,
            "AWS::EC2::EIP": self._public_ip,
            "AWS::KMS::Key": self._key,
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::CloudWatch::CompositeAlarm": self._composite_alarm,
            "AWS::CloudWatch::Dashboard": self._dashboard,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::Lambda::Function": self._function,
            "AWS::RDS::DBCluster": self._cluster,
            "AWS::RDS::DBInstance": self._instance,
            "AWS::DynamoDB::Table": self._table,
            "AWS::S3::Bucket": self._bucket,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::Backup::RestoreTestingSelection": self._restore_testing,
        }
        for resource in self.assembly.resources:
            handler = handlers.get(resource.type)
            if handler:
                handler(resource)
            else:
                self._free(resource)
        self._custom_metrics()
        return self.estimate

    # -- helpers -----------------------------------------------------------------------------------

    def _line(self, resource: Resource, item: str, quantity: str, usd: float, driver: str) -> None:
        self.estimate.lines.append(Line(resource.label, resource.type, item, quantity, usd, driver))

    def _note(self, text: str) -> None:
        if text not in self.estimate.notes:
            self.estimate.notes.append(text)

    def _free(self, resource: Resource, reason: str | None = None) -> None:
        reason = (
            reason
            or FREE.get(resource.type)
            or next((why for prefix, why in FREE_PREFIXES.items() if resource.type.startswith(prefix)), None)
        )
        if reason:
            self.estimate.free[reason].append(resource.label)
        else:
            self.estimate.not_priced.append(f"{resource.label} ({resource.type})")

    def _days(self) -> float:
        """Days in the scenario's month (730 hours: 30.4 days)."""
        return self.usage.hours / 24

    def _runs(self, expression: Any) -> float:
        """Runs a month of a schedule expression; one the model cannot read counts as never running."""
        if not isinstance(expression, str):
            return 0.0
        try:
            return runs_per_month(expression, self.usage.hours)
        except ScheduleError as error:
            self._note(f"schedule not understood, counted as never running: {error}")
            return 0.0

    def _functions(self, owner: Resource, value: Any) -> list[Resource]:
        """Functions that ``value`` points at, directly or through an alias or version."""
        found = []
        for target in self.assembly.references(owner, value):
            if target.type == "AWS::Lambda::Function":
                found.append(target)
            elif target.type in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
                found += self._functions(target, target.properties.get("FunctionName"))
        return found

    # -- derived volumes ---------------------------------------------------------------------------

    def _protection(self) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """Per protected resource: (runs a month, days kept) of every backup rule that selects it."""
        protected: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        for selection in self.assembly.of_type("AWS::Backup::BackupSelection"):
            body = selection.properties.get("BackupSelection") or {}
            for plan in self.assembly.references(selection, selection.properties.get("BackupPlanId")):
                for rule in (plan.properties.get("BackupPlan") or {}).get("BackupPlanRule") or []:
                    days = float((rule.get("Lifecycle") or {}).get("DeleteAfterDays") or UNBOUNDED_RETENTION_DAYS)
                    runs = self._runs(rule.get("ScheduleExpression", "cron(0 5 ? * * *)"))
                    for resource in self.assembly.references(selection, body.get("Resources")):
                        protected[resource.key].append((runs, days))
        return protected

    def _backup_jobs(self) -> float:
        return sum(runs for rules in self.protection.values() for runs, _ in rules)

    def _restore_jobs(self) -> float:
        return sum(
            self._restore_selection_jobs(s) for s in self.assembly.of_type("AWS::Backup::RestoreTestingSelection")
        )

    def _restore_selection_jobs(self, selection: Resource) -> float:
        name = selection.properties.get("RestoreTestingPlanName")
        plans = [
            p
            for p in self.assembly.of_type("AWS::Backup::RestoreTestingPlan")
            if p.properties.get("RestoreTestingPlanName") == name
        ]
        runs = sum(self._runs(p.properties.get("ScheduleExpression")) for p in plans)
        arns = selection.properties.get("ProtectedResourceArns") or ["*"]
        return runs * max(1, len(arns))

    def _rule_events(self, rule: Resource) -> float:
        """How often an EventBridge rule fires in a month: its schedule, or the AWS Backup jobs it matches."""
        if "ScheduleExpression" in rule.properties:
            return self._runs(rule.properties["ScheduleExpression"])
        pattern = rule.properties.get("EventPattern") or {}
        detail_types = set(pattern.get("detail-type") or [])
        detail = pattern.get("detail") or {}
        if "Backup Job State Change" in detail_types:
            states = NOMINAL_JOB_STATES & set(detail.get("state") or NOMINAL_JOB_STATES)
            return self._backup_jobs() * len(states)
        if "Restore Job State Change" in detail_types:
            states = NOMINAL_JOB_STATES & set(detail.get("status") or NOMINAL_JOB_STATES)
            return self._restore_jobs() * len(states)
        self._note(f"{rule.label}: reacts to events the model does not count; counted as never firing")
        return 0.0

    def _function_runs(self) -> dict[tuple[str, str], float]:
        """Per function: invocations a month; and (``self.schedules``) the schedules that invoke it."""
        counts: dict[tuple[str, str], float] = defaultdict(float)
        for rule in self.assembly.of_type("AWS::Events::Rule"):
            if rule.properties.get("State", "ENABLED") != "ENABLED":
                continue
            count = self._rule_events(rule)
            for target in rule.properties.get("Targets") or []:
                for function in self._functions(rule, target.get("Arn")):
                    counts[function.key] += count
                    if count and "ScheduleExpression" in rule.properties:
                        self.schedules[function.key].append(rule.properties["ScheduleExpression"])
        return counts

    def _log_ingestion(self) -> dict[tuple[str, str], float]:
        """GB a month that reaches each log group, by who writes into it."""
        groups = self.assembly.of_type("AWS::Logs::LogGroup")
        by_name = {g.properties.get("LogGroupName"): g for g in groups}
        ingest: dict[tuple[str, str], float] = defaultdict(float)
        for function in self.assembly.of_type("AWS::Lambda::Function"):
            invocations = self.runs.get(function.key, 0.0)
            config = function.properties.get("LoggingConfig") or {}
            targets = self.assembly.references(function, config.get("LogGroup"))
            named = by_name.get(f"/aws/lambda/{function.properties.get('FunctionName')}")
            for group in targets or ([named] if named else []):
                ingest[group.key] += invocations * self.usage.lambda_log_kb_per_invocation / KB_PER_GB
        for flow_log in self.assembly.of_type("AWS::EC2::FlowLog"):
            value = flow_log.properties.get("LogGroupName")
            for group in self.assembly.references(flow_log, value) or ([by_name[value]] if value in by_name else []):
                ingest[group.key] += self.usage.flow_log_gb
        for group in groups:
            if str(group.properties.get("LogGroupName", "")).startswith("/aws/rds/"):
                ingest[group.key] += self.usage.database_log_gb
        return ingest

    # -- networking --------------------------------------------------------------------------------

    def _vpc(self, vpc: Resource) -> None:
        if self.design != NAIVE:
            return self._free(vpc)
        subnets = [
            s
            for s in self.assembly.of_type("AWS::EC2::Subnet")
            if vpc in self.assembly.references(s, s.properties.get("VpcId"))
        ]
        zones = len({json.dumps(s.properties.get("AvailabilityZone"), sort_keys=True) for s in subnets}) or 1
        hours = self.usage.hours
        hourly = self.prices["vpc.nat_gateway_hour"] + self.prices["vpc.public_ipv4_hour"]
        self._line(
            vpc,
            "NAT gateway per AZ, with its public IPv4 (naive)",
            f"{zones} x {hours:.0f} h",
            zones * hours * hourly,
            "NAT gateways",
        )
        gb = self.usage.aws_api_gb
        self._line(
            vpc, "NAT data processing (naive)", f"{gb:g} GB", gb * self.prices["vpc.nat_gateway_gb"], "NAT gateways"
        )

    def _endpoint(self, endpoint: Resource) -> None:
        if endpoint.properties.get("VpcEndpointType", "Gateway") != "Interface":
            return self._free(endpoint, "gateway endpoints (S3, DynamoDB): no charge")
        if self.design == NAIVE:
            return self._free(endpoint, "interface endpoints: replaced by NAT gateways in the naive design")
        subnets = endpoint.properties.get("SubnetIds")
        zones = len(subnets) if isinstance(subnets, list) else 1
        hours = self.usage.hours
        endpoints = len(
            [
                e
                for e in self.assembly.of_type("AWS::EC2::VPCEndpoint")
                if e.properties.get("VpcEndpointType") == "Interface"
            ]
        )
        gb = self.usage.aws_api_gb / endpoints
        usd = (
            zones * hours * self.prices["privatelink.interface_endpoint_az_hour"]
            + gb * self.prices["privatelink.interface_endpoint_gb"]
        )
        self._line(
            endpoint,
            f"interface endpoint in {zones} AZ and its data",
            f"{zones} x {hours:.0f} h, {_num(gb)} GB",
            usd,
            "interface endpoints",
        )

    def _nat_gateway(self, nat: Resource) -> None:
        if self.design == NAIVE:
            return self._free(nat, "NAT gateways and their addresses: counted in the naive design's NAT per AZ")
        hours = self.usage.hours
        self._line(nat, "NAT gateway", f"{hours:.0f} h", hours * self.prices["vpc.nat_gateway_hour"], "NAT gateways")

    def _public_ip(self, address: Resource) -> None:
        if self.design == NAIVE:
            return self._free(address, "NAT gateways and their addresses: counted in the naive design's NAT per AZ")
        hours = self.usage.hours
        self._line(
            address,
            "public IPv4 address",
            f"{hours:.0f} h",
            hours * self.prices["vpc.public_ipv4_hour"],
            "NAT gateways",
        )

    # -- security and monitoring -------------------------------------------------------------------

    def _key(self, key: Resource) -> None:
        requests = self.usage.kms_requests_per_key
        usd = self.prices["kms.key_month"] + requests / 10_000 * self.prices["kms.requests_10k"]
        self._line(key, "customer managed key and its requests", f"1 key, {_num(requests)} requests", usd, "KMS keys")
        if key.properties.get("EnableKeyRotation"):
            self._note(
                "KMS keys with automatic rotation are priced at $1/month, their first year; each yearly "
                "rotation adds $1/month for the first two, so from the third year each costs $3/month."
            )

    def _alarm(self, alarm: Resource) -> None:
        metrics = alarm.properties.get("Metrics")
        if isinstance(metrics, list):
            stats = [m for m in metrics if "MetricStat" in m]
            count = len(stats) or 1
            periods = [m["MetricStat"].get("Period", 60) for m in stats]
        else:
            count, periods = 1, [alarm.properties.get("Period", 60)]
        high = any(isinstance(p, int | float) and p < 60 for p in periods)
        key = "cloudwatch.alarm_high_resolution_metric_month" if high else "cloudwatch.alarm_metric_month"
        kind = "high-resolution" if high else "standard"
        self._line(
            alarm, f"{kind} alarm", f"{count} metric{'s' if count > 1 else ''}", count * self.prices[key], "alarms"
        )

    def _composite_alarm(self, alarm: Resource) -> None:
        self._line(alarm, "composite alarm", "1 alarm", self.prices["cloudwatch.composite_alarm_month"], "alarms")

    def _dashboard(self, dashboard: Resource) -> None:
        self._line(dashboard, "dashboard", "1 dashboard", self.prices["cloudwatch.dashboard_month"], "dashboards")

    def _custom_metrics(self) -> None:
        """Custom metrics (not ``AWS/`` namespaces) that an alarm or a dashboard names; metrics the code
        emits but nothing reads cannot be seen in the templates."""
        seen: set[str] = set()
        for alarm in self.assembly.of_type("AWS::CloudWatch::Alarm"):
            for metric in [alarm.properties] + [
                (m.get("MetricStat") or {}).get("Metric") or {} for m in alarm.properties.get("Metrics") or []
            ]:
                dimensions = {(d.get("Name"), json.dumps(d.get("Value"))) for d in metric.get("Dimensions") or []}
                _add_metric(seen, metric.get("Namespace"), metric.get("MetricName"), dimensions)
        for dashboard in self.assembly.of_type("AWS::CloudWatch::Dashboard"):
            try:
                body = json.loads(_flatten(dashboard.properties.get("DashboardBody")))
            except ValueError:
                self._note(f"{dashboard.label}: body not readable; the metrics it shows are not counted")
                continue
            for row in _dashboard_metric_rows(body):
                dimensions = {(row[i], json.dumps(row[i + 1])) for i in range(2, len(row) - 1, 2)}
                _add_metric(seen, row[0], row[1] if len(row) > 1 else None, dimensions)
        if seen:
            count = len(seen)
            self.estimate.lines.append(
                Line(
                    "CloudWatch: custom metrics",
                    "(custom metrics)",
                    "custom metrics named by alarms and dashboards",
                    f"{count} metrics",
                    count * self.prices["cloudwatch.custom_metric_month"],
                    "custom metrics",
                )
            )
            self._note(
                "Custom metrics: only those an alarm or a dashboard names are visible in the templates; "
                "metrics the functions emit that nothing reads cost $0.30 each on top."
            )

    def _log_group(self, group: Resource) -> None:
        gb = self.log_gb.get(group.key, 0.0)
        if not gb:
            return self._free(group, "log groups nothing writes to in this scenario")
        days = float(group.properties.get("RetentionInDays") or UNBOUNDED_RETENTION_DAYS)
        self._logs(group, gb, days)

    def _logs(self, resource: Resource, gb: float, days: float) -> None:
        stored = gb * days / self._days()
        usd = gb * self.prices["cloudwatch.logs_ingest_gb"] + stored * self.prices["cloudwatch.logs_storage_gb_month"]
        self._line(
            resource, f"logs: ingested, kept {days:.0f} days", f"{_num(gb)} GB, {_num(stored)} GB-month", usd, "logs"
        )

    def _function(self, function: Resource) -> None:
        invocations = self.runs.get(function.key, 0.0)
        if not invocations:
            return self._free(function, "functions invoked only on deploy or by another function: not counted")
        memory_mb = float(function.properties.get("MemorySize", 128))
        arch = (function.properties.get("Architectures") or ["x86_64"])[0]
        seconds = self.usage.lambda_ms_per_invocation / 1000
        gb_seconds = invocations * seconds * memory_mb / 1024
        usd = (
            invocations / 1e6 * self.prices["lambda.requests_million"]
            + gb_seconds * self.prices[f"lambda.gb_second_{arch}"]
        )
        self._line(
            function,
            "Lambda requests and duration",
            f"{invocations:,.0f} x {seconds:g} s x {memory_mb:.0f} MB",
            usd,
            "Lambda",
        )
        if "LoggingConfig" not in function.properties and not any(
            g.properties.get("LogGroupName") == f"/aws/lambda/{function.properties.get('FunctionName')}"
            for g in self.assembly.of_type("AWS::Logs::LogGroup")
        ):
            self._logs(
                function, invocations * self.usage.lambda_log_kb_per_invocation / KB_PER_GB, UNBOUNDED_RETENTION_DAYS
            )

    def _secret(self, secret: Resource) -> None:
        calls = self.usage.secrets_api_calls_thousands
        usd = self.prices["secretsmanager.secret_month"] + calls / 10 * self.prices["secretsmanager.api_10k"]
        self._line(secret, "secret and its API calls", f"1 secret, {calls:g}k calls", usd, "Secrets Manager")

    # -- data stores -------------------------------------------------------------------------------

    def _cluster(self, cluster: Resource) -> None:
        props = cluster.properties
        optimized = props.get("StorageType") == "aurora-iopt1"
        gb = self.usage.aurora_storage_gb
        storage_key = "aurora.storage_gb_month_io_optimized" if optimized else "aurora.storage_gb_month"
        self._line(cluster, "Aurora storage", f"{gb:g} GB-month", gb * self.prices[storage_key], "Aurora storage, I/O")
        if not optimized:
            io = self.usage.aurora_io_millions
            self._line(
                cluster,
                "Aurora I/O",
                f"{io:g} M requests",
                io * self.prices["aurora.io_million"],
                "Aurora storage, I/O",
            )
        retention = float(props.get("BackupRetentionPeriod", 1))
        billed = gb * self.usage.daily_change * retention
        self._line(
            cluster,
            f"automated backups, {retention:.0f} days, beyond the free 100 %",
            f"{_num(billed)} GB-month",
            billed * self.prices["aurora.backup_gb_month"],
            "backup storage",
        )
        self._backups(cluster, gb, incremental=True, price="backup.aurora_snapshot_gb_month")

    def _instance(self, instance: Resource) -> None:
        hours = self.usage.hours
        db_class = instance.properties.get("DBInstanceClass")
        if self.design == NAIVE or db_class != SERVERLESS:
            chosen = NAIVE_DB_CLASS if self.design == NAIVE else db_class
            key = f"aurora.instance_hour.{chosen}"
            if key not in self.prices.entries:
                self.estimate.not_priced.append(f"{instance.label} ({instance.type} {chosen}: no price in the data)")
                return
            self._line(instance, f"provisioned {chosen}", f"{hours:.0f} h", hours * self.prices[key], "Aurora capacity")
        else:
            acu, awake = self._serverless_capacity(instance)
            optimized = any(c.properties.get("StorageType") == "aurora-iopt1" for c in self._cluster_of(instance))
            key = "aurora.serverless_v2_acu_hour_io_optimized" if optimized else "aurora.serverless_v2_acu_hour"
            self._line(
                instance,
                "Serverless v2 capacity",
                f"{acu:g} ACU x {awake:.0f} h",
                acu * awake * self.prices[key],
                "Aurora capacity",
            )
        interval = float(instance.properties.get("MonitoringInterval") or 0)
        if interval:
            gb = hours * 3600 / interval * self.usage.enhanced_monitoring_kb_per_sample / KB_PER_GB
            self._logs(instance, gb, 30)
            self._note(
                "Enhanced monitoring writes to the RDSOSMetrics log group (30 days by default), which is "
                "not in the templates: priced on each DB instance with a MonitoringInterval."
            )

    def _cluster_of(self, instance: Resource) -> list[Resource]:
        return [
            c
            for c in self.assembly.references(instance, instance.properties.get("DBClusterIdentifier"))
            if c.type == "AWS::RDS::DBCluster"
        ]

    def _serverless_capacity(self, instance: Resource) -> tuple[float, float]:
        """Average ACU while awake, and hours awake in the month.

        The writer and the readers in promotion tiers 0-1 pause and resume together and run at the same
        capacity; readers in tiers 2-15 scale and pause on their own.
        """
        clusters = self._cluster_of(instance)
        cluster = clusters[0] if clusters else None
        scaling = (cluster.properties.get("ServerlessV2ScalingConfiguration") if cluster else None) or {}
        low, high = float(scaling.get("MinCapacity", 0.5)), float(scaling.get("MaxCapacity", 1))
        members = self._instances(cluster) if cluster else [instance]
        writer = min(members, key=_tier)
        follows_writer = instance is writer or _tier(instance) <= 1
        wanted = self.usage.aurora_writer_acu if follows_writer else self.usage.aurora_reader_acu
        acu = min(max(wanted, low), high)
        hours = self.usage.hours
        name = cluster.name if cluster else instance.name
        if low > 0:
            self._note(
                f"{name}: MinCapacity {low:g} ACU, so its instances never pause: each costs at least "
                f"{low:g} ACU all month."
            )
            return acu, hours
        if not follows_writer:
            return (acu, hours) if self.usage.aurora_reader_acu > 0 else (0.0, 0.0)
        if self.usage.app_keeps_aurora_awake:
            return acu, hours
        assert cluster is not None  # MinCapacity 0 comes from a cluster
        delay = float(scaling.get("SecondsUntilAutoPause", AURORA_PAUSE_DELAY_DEFAULT))
        return acu, self._awake_hours(cluster, delay)

    def _instances(self, cluster: Resource) -> list[Resource]:
        return [i for i in self.assembly.of_type("AWS::RDS::DBInstance") if cluster in self._cluster_of(i)]

    def _awake_hours(self, cluster: Resource, delay: float) -> float:
        """Hours an auto-pausing cluster is awake because scheduled functions connect to it: after each
        run it stays up for the run plus the pause delay, or until the next run if that comes first."""
        targets = {cluster.key} | {i.key for i in self._instances(cluster)}
        wakers = [
            f
            for f in self.assembly.of_type("AWS::Lambda::Function")
            if any(
                r.key in targets and str(attribute).startswith(("Endpoint", "ReadEndpoint"))
                for r, attribute in self.assembly.attributes(f, f.properties.get("Environment"))
            )
        ]
        moments = sorted(
            {t for f in wakers for e in self.schedules.get(f.key, []) for t in instants(e, self.usage.hours)}
        )
        if not moments:
            self._note(f"{cluster.name}: MinCapacity 0 and no scheduled function connects to it: paused all month.")
            return 0.0
        end = moments[0] + timedelta(hours=self.usage.hours)
        busy = self.usage.lambda_ms_per_invocation / 1000 + delay
        awake = sum(
            min(busy, (later - earlier).total_seconds())
            for earlier, later in zip(moments, [*moments[1:], end], strict=True)
        )
        share = awake / (self.usage.hours * 3600)
        names = ", ".join(sorted({f.name for f in wakers}))
        gap = min(((b - a).total_seconds() for a, b in pairwise(moments)), default=0)
        why = (
            f"{names} connects every {gap / 60:g} min, sooner than the run plus the {delay:g} s pause delay, so "
            "it never pauses"
            if share >= 0.999
            else f"{names} wakes it; awake {share:.0%} of the month"
        )
        self._note(f"{cluster.name}: MinCapacity 0 (auto-pause after {delay:g} s idle), but {why}.")
        return awake / 3600

    def _table(self, table: Resource) -> None:
        props, usage = table.properties, self.usage
        hours = self.usage.hours
        if props.get("BillingMode") == "PAY_PER_REQUEST":
            self._line(
                table,
                "on-demand writes",
                f"{usage.dynamodb_write_millions:g} M WRU",
                usage.dynamodb_write_millions * self.prices["dynamodb.on_demand_write_million"],
                "DynamoDB",
            )
            self._line(
                table,
                "on-demand reads",
                f"{usage.dynamodb_read_millions:g} M RRU",
                usage.dynamodb_read_millions * self.prices["dynamodb.on_demand_read_million"],
                "DynamoDB",
            )
        else:
            throughput = props.get("ProvisionedThroughput") or {}
            wcu, rcu = float(throughput.get("WriteCapacityUnits", 0)), float(throughput.get("ReadCapacityUnits", 0))
            usd = hours * (
                wcu * self.prices["dynamodb.provisioned_wcu_hour"] + rcu * self.prices["dynamodb.provisioned_rcu_hour"]
            )
            self._line(table, "provisioned capacity", f"{wcu:g} WCU + {rcu:g} RCU x {hours:.0f} h", usd, "DynamoDB")
        gb = usage.dynamodb_storage_gb
        self._line(
            table, "table storage", f"{gb:g} GB-month", gb * self.prices["dynamodb.storage_gb_month"], "DynamoDB"
        )
        if (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
            self._line(
                table,
                "point-in-time recovery",
                f"{gb:g} GB-month",
                gb * self.prices["dynamodb.pitr_gb_month"],
                "backup storage",
            )
        self._backups(table, gb, incremental=False, price="backup.dynamodb_gb_month")

    def _bucket(self, bucket: Resource) -> None:
        usage = self.usage
        sources = [
            b
            for b in self.assembly.of_type("AWS::S3::Bucket")
            if bucket
            in self.assembly.references(
                b, (b.properties.get("LoggingConfiguration") or {}).get("DestinationBucketName")
            )
        ]
        if sources:
            requests = len(sources) * (usage.s3_put_thousands + usage.s3_get_thousands) * 1000
            days = min(_expiration_days(bucket), UNBOUNDED_RETENTION_DAYS)
            gb = requests * ACCESS_LOG_BYTES_PER_REQUEST / 1e9 * days / self._days()
            self._line(
                bucket,
                f"access logs of {len(sources)} bucket(s), kept {days:.0f} days",
                f"{_num(gb)} GB-month",
                gb * self.prices["s3.standard_gb_month"],
                "S3",
            )
            return
        gb = usage.s3_storage_gb
        self._line(bucket, "S3 Standard storage", f"{gb:g} GB-month", gb * self.prices["s3.standard_gb_month"], "S3")
        self._line(
            bucket,
            "S3 requests",
            f"{usage.s3_put_thousands:g}k PUT, {usage.s3_get_thousands:g}k GET",
            usage.s3_put_thousands * self.prices["s3.put_1k"] + usage.s3_get_thousands * self.prices["s3.get_1k"],
            "S3",
        )
        billed = max(gb, usage.s3_objects * S3_BACKUP_MIN_OBJECT_KB / KB_PER_GB)
        self._backups(bucket, billed, incremental=True, price="backup.s3_gb_month")

    def _backups(self, resource: Resource, gb: float, *, incremental: bool, price: str) -> None:
        """AWS Backup storage of a protected resource: incremental recovery points hold the data once plus
        each day's changes; full ones (DynamoDB) hold a whole copy each."""
        rules = self.protection.get(resource.key)
        if not rules:
            return
        days = max(d for _, d in rules)
        kept = sum(runs / self._days() * d for runs, d in rules)
        if incremental:
            stored = gb * (1 + self.usage.daily_change * days)
            item = f"AWS Backup: {kept:.0f} recovery points over {days:.0f} days, incremental"
        else:
            stored = gb * kept
            item = f"AWS Backup: {kept:.0f} recovery points, each a full copy"
        self._line(resource, item, f"{_num(stored)} GB-month", stored * self.prices[price], "backup storage")

    def _restore_testing(self, selection: Resource) -> None:
        jobs = self._restore_selection_jobs(selection)
        self._line(
            selection,
            "restore testing jobs",
            f"{jobs:.1f} jobs x {self.prices.unit_price('backup.restore_testing_job')}",
            jobs * self.prices["backup.restore_testing_job"],
            "restore testing",
        )
        if selection.properties.get("ProtectedResourceType") == "DynamoDB":
            gb = jobs * self.usage.dynamodb_storage_gb
            self._line(
                selection,
                "DynamoDB data restored",
                f"{_num(gb)} GB",
                gb * self.prices["backup.dynamodb_restore_gb"],
                "restore testing",
            )
        self._note(
            "Restore tests: the copies live for the validation window only; their storage and any "
            "instance they run are not priced."
        )


def _num(value: float) -> str:
    """A quantity for people: thousands separated, three significant digits below 100."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _tier(instance: Resource) -> int:
    return int(instance.properties.get("PromotionTier", 1))


def _expiration_days(bucket: Resource) -> float:
    rules = ((bucket.properties.get("LifecycleConfiguration") or {}).get("Rules")) or []
    days = [float(r["ExpirationInDays"]) for r in rules if r.get("Status") == "Enabled" and "ExpirationInDays" in r]
    return min(days, default=UNBOUNDED_RETENTION_DAYS)


def _add_metric(seen: set[str], namespace: Any, name: Any, dimensions: Iterable[tuple[Any, str]]) -> None:
    if isinstance(namespace, str) and namespace and not namespace.startswith("AWS/") and name:
        seen.add(json.dumps([namespace, name, sorted(dimensions)]))


def _flatten(value: Any) -> str:
    """A dashboard body as text: ``Fn::Join`` parts joined, references replaced by a placeholder."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_flatten(part) for part in parts)
    return "?"


def _dashboard_metric_rows(body: Any) -> list[list[Any]]:
    """The metric rows of every widget, with ``"."`` (same as the row above) filled in; expressions skipped."""
    rows: list[list[Any]] = []
    for widget in body.get("widgets", []) if isinstance(body, dict) else []:
        previous: list[Any] = []
        for row in (widget.get("properties") or {}).get("metrics") or []:
            values = [v for v in row if not isinstance(v, dict)]
            if not values:
                continue
            values = [previous[i] if v == "." and i < len(previous) else v for i, v in enumerate(values)]
            previous = values
            rows.append(values)
    return rows


def estimate(assembly: Assembly, prices: Prices, scenario: Scenario, design: str) -> Estimate:
    """Price ``assembly`` under ``scenario`` as built (``OURS``) or the naive way (``NAIVE``)."""
    try:
        return _Pricer(assembly, prices, scenario, design).run()
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise BadInput(f"{assembly.directory} has a template the cost model cannot read ({error!r})") from None
