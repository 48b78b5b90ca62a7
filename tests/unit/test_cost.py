"""The cost model: what it derives from templates (small synthetic assemblies, no synth of their own),
its data files, its refusal of bad input, and one run over the real assembly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from lib.tap_stack import TapStack
from tools.cost.assembly import Assembly
from tools.cost.cli import PRICES, USAGE, main
from tools.cost.model import NAIVE, OURS, Estimate, Prices, Scenario, Usage, estimate

HOURS = 730
PRICE = Prices.load(PRICES)
USAGES = Usage.load(USAGE)
IDLE, TYPICAL = (next(s for s in USAGES.scenarios if s.name == name) for name in ("idle", "typical"))


def write_assembly(directory: Path, resources: dict[str, Any], nested: dict[str, dict[str, Any]] | None = None) -> Path:
    """A cloud assembly with one stack ``Test`` holding ``resources``; each ``nested`` template becomes a
    nested stack of it (its AWS::CloudFormation::Stack resource must be among ``resources``)."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "artifacts": {"Test": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "Test.json"}}}
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "Test.json").write_text(json.dumps({"Resources": resources}))
    for file, template in (nested or {}).items():
        (directory / file).write_text(json.dumps(template))
    return directory


def priced(directory: Path, scenario: Scenario = IDLE, design: str = OURS) -> Estimate:
    return estimate(Assembly(directory), PRICE, scenario, design)


def usd(result: Estimate, resource: str, item: str) -> float:
    return sum(line.usd for line in result.lines if line.resource == resource and line.item.startswith(item))


def cluster(min_acu: float, max_acu: float = 16, **scaling: Any) -> dict[str, Any]:
    config = {"MinCapacity": min_acu, "MaxCapacity": max_acu, **scaling}
    return {"Type": "AWS::RDS::DBCluster", "Properties": {"ServerlessV2ScalingConfiguration": config}}


def instance(tier: int, db_class: str = "db.serverless") -> dict[str, Any]:
    properties = {"DBClusterIdentifier": {"Ref": "Cluster"}, "DBInstanceClass": db_class, "PromotionTier": tier}
    return {"Type": "AWS::RDS::DBInstance", "Properties": properties}


def canary(schedule: str) -> dict[str, Any]:
    """A function whose environment holds the cluster's endpoint, and the rule that runs it."""
    environment = {"Variables": {"DB_HOST": {"Fn::GetAtt": ["Cluster", "Endpoint.Address"]}}}
    return {
        "Canary": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"FunctionName": "canary", "MemorySize": 256, "Environment": environment},
        },
        "Schedule": {
            "Type": "AWS::Events::Rule",
            "Properties": {"ScheduleExpression": schedule, "Targets": [{"Arn": {"Fn::GetAtt": ["Canary", "Arn"]}}]},
        },
    }


def test_every_price_names_its_unit_source_and_date() -> None:
    raw = json.loads(PRICES.read_text())
    assert raw["region"] == "us-east-1" and raw["as_of"] and raw["free_tiers"]
    for key, entry in raw["prices"].items():
        assert isinstance(entry["usd"], int | float) and entry["usd"] > 0, key
        assert entry["unit"] and entry["date"], key
        assert entry["source"].startswith("https://aws.amazon.com/"), key


def test_usage_states_both_scenarios_and_the_idle_budgets() -> None:
    assert {s.name for s in USAGES.scenarios} == {"idle", "typical"}
    assert all(s.description and s.hours == HOURS for s in USAGES.scenarios)
    assert [(b.profile, b.scenario, b.usd) for b in USAGES.budgets] == [("dev", "idle", 75.0), ("prod", "idle", 725.0)]


def test_a_price_that_could_not_be_checked_is_marked_unverified_next_to_its_number() -> None:
    """Issue 18: the restore testing charge per job cannot be confirmed offline."""
    assert not PRICE.entries["backup.restore_testing_job"]["verified"]
    assert PRICE.unit_price("backup.restore_testing_job") == "$1.50 (unverified)"
    assert PRICE.unit_price("kms.key_month") == "$1.00"


def test_interface_endpoint_is_priced_per_az_hour_and_gateway_endpoints_are_free(tmp_path: Path) -> None:
    subnets = [{"Ref": f"Subnet{n}"} for n in range(3)]
    result = priced(
        write_assembly(
            tmp_path,
            {
                "Secrets": {
                    "Type": "AWS::EC2::VPCEndpoint",
                    "Properties": {"VpcEndpointType": "Interface", "SubnetIds": subnets},
                },
                "S3": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway"}},
            },
        )
    )
    expected = 3 * HOURS * 0.01 + IDLE.aws_api_gb * 0.01
    assert usd(result, "Test: Secrets", "interface endpoint in 3 AZ") == pytest.approx(expected)
    assert result.free["gateway endpoints (S3, DynamoDB): no charge"] == ["Test: S3"]


def test_naive_design_has_a_nat_gateway_per_az_instead_of_the_endpoints(tmp_path: Path) -> None:
    resources: dict[str, Any] = {"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {}}}
    for n, zone in enumerate(["us-east-1a", "us-east-1b", "us-east-1c"] * 2):  # public + isolated per AZ
        resources[f"Subnet{n}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "AvailabilityZone": zone},
        }
    resources["Endpoint"] = {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {"VpcEndpointType": "Interface", "SubnetIds": [{"Ref": "Subnet3"}]},
    }
    naive = priced(write_assembly(tmp_path, resources), TYPICAL, NAIVE)
    nat = [line for line in naive.lines if line.driver == "NAT gateways"]
    assert nat[0].quantity == "3 x 730 h"
    assert sum(line.usd for line in nat) == pytest.approx(3 * HOURS * (0.045 + 0.005) + TYPICAL.aws_api_gb * 0.045)
    assert not [line for line in naive.lines if line.driver == "interface endpoints"]


def test_aurora_capacity_follows_min_capacity_and_the_scenario_within_the_range(tmp_path: Path) -> None:
    resources = {"Cluster": cluster(0.5, 4), "Writer": instance(0), "Reader": instance(1)}
    directory = write_assembly(tmp_path, {**resources, "Small": instance(2, "db.t4g.medium")})
    idle, typical = priced(directory, IDLE), priced(directory, TYPICAL)
    for name in ("Writer", "Reader"):
        assert usd(idle, f"Test: {name}", "Serverless v2") == pytest.approx(0.5 * HOURS * 0.12)
        acu = min(max(TYPICAL.aurora_writer_acu, 0.5), 4)
        assert usd(typical, f"Test: {name}", "Serverless v2") == pytest.approx(acu * HOURS * 0.12)
    assert any("MinCapacity 0.5 ACU, so its instances never pause" in note for note in idle.notes)
    assert usd(idle, "Test: Small", "provisioned db.t4g.medium") == pytest.approx(HOURS * 0.073)
    naive = priced(directory, IDLE, NAIVE)
    assert usd(naive, "Test: Writer", "provisioned db.r6g.large") == pytest.approx(HOURS * 0.26)


def test_prod_like_cluster_with_three_instances_costs_more_than_dev_like(tmp_path: Path) -> None:
    dev = write_assembly(tmp_path / "dev", {"Cluster": cluster(0), "Writer": instance(0), "Reader": instance(1)})
    prod = write_assembly(
        tmp_path / "prod",
        {"Cluster": cluster(2), "Writer": instance(0), "ReaderB": instance(1), "ReaderC": instance(1)},
    )
    for scenario in (IDLE, TYPICAL):
        assert priced(prod, scenario).total > priced(dev, scenario).total
    capacity = [line for line in priced(prod, IDLE).lines if line.driver == "Aurora capacity"]
    assert len(capacity) == 3
    assert sum(line.usd for line in capacity) == pytest.approx(3 * 2 * HOURS * 0.12)


@pytest.mark.parametrize(
    ("schedule", "scaling", "awake_hours", "said"),
    [
        ("rate(5 minutes)", {}, HOURS, "connects every 5 min, sooner than the run plus the 300 s pause delay"),
        ("rate(1 hour)", {}, 730 * (1 + 300) / 3600, "wakes it; awake 8% of the month"),
        ("rate(1 hour)", {"SecondsUntilAutoPause": 3600}, HOURS, "never pauses"),
    ],
)
def test_an_auto_pausing_cluster_is_awake_as_long_as_the_canary_keeps_it(
    tmp_path: Path, schedule: str, scaling: dict[str, Any], awake_hours: float, said: str
) -> None:
    resources = {
        "Cluster": cluster(0, **scaling),
        "Writer": instance(0),
        "Reader": instance(1),
        "Other": instance(2),
        **canary(schedule),
    }
    result = priced(write_assembly(tmp_path, resources))
    for name in ("Writer", "Reader"):  # tiers 0-1 pause and resume with the writer
        assert usd(result, f"Test: {name}", "Serverless v2") == pytest.approx(0.5 * awake_hours * 0.12, rel=1e-3)
    assert usd(result, "Test: Other", "Serverless v2") == 0  # tier 2 pauses on its own: nobody reads from it
    assert any(said in note for note in result.notes), result.notes


def test_a_function_that_only_names_the_cluster_does_not_keep_it_awake(tmp_path: Path) -> None:
    resources = {"Cluster": cluster(0), "Writer": instance(0), **canary("rate(5 minutes)")}
    resources["Canary"]["Properties"]["Environment"] = {"Variables": {"ARN": {"Ref": "Cluster"}}}
    result = priced(write_assembly(tmp_path, resources))
    assert usd(result, "Test: Writer", "Serverless v2") == 0
    assert any("paused all month" in note for note in result.notes)


def test_references_are_followed_across_nested_stacks(tmp_path: Path) -> None:
    """The canary in one nested stack reads the cluster endpoint another nested stack outputs."""
    data = {
        "Resources": {"Cluster": cluster(0), "Writer": instance(0)},
        "Outputs": {"Host": {"Value": {"Fn::GetAtt": ["Cluster", "Endpoint.Address"]}}},
    }
    compute_resources = canary("rate(5 minutes)")
    compute_resources["Canary"]["Properties"]["Environment"] = {"Variables": {"DB_HOST": {"Ref": "HostParam"}}}
    compute = {"Parameters": {"HostParam": {"Type": "String"}}, "Resources": compute_resources}

    def stack(file: str, name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {"Parameters": parameters},
            "Metadata": {"aws:asset:path": file, "aws:cdk:path": f"Test/{name}.NestedStack/{name}.NestedStackResource"},
        }

    parent = {
        "Data": stack("data.json", "Data", {}),
        "Compute": stack("compute.json", "Compute", {"HostParam": {"Fn::GetAtt": ["Data", "Outputs.Host"]}}),
    }
    result = priced(write_assembly(tmp_path, parent, {"data.json": data, "compute.json": compute}))
    assert usd(result, "Data: Writer", "Serverless v2") == pytest.approx(0.5 * HOURS * 0.12)
    assert any("canary connects every 5 min" in note for note in result.notes)


def test_hourly_full_dynamodb_backups_are_counted_per_recovery_point(tmp_path: Path) -> None:
    rule = {"ScheduleExpression": "cron(0 * * * ? *)", "Lifecycle": {"DeleteAfterDays": 7}}
    result = priced(
        write_assembly(
            tmp_path,
            {
                "Table": {
                    "Type": "AWS::DynamoDB::Table",
                    "Properties": {"BillingMode": "PAY_PER_REQUEST", "TableName": "t"},
                },
                "Plan": {"Type": "AWS::Backup::BackupPlan", "Properties": {"BackupPlan": {"BackupPlanRule": [rule]}}},
                "Selection": {
                    "Type": "AWS::Backup::BackupSelection",
                    "Properties": {
                        "BackupPlanId": {"Fn::GetAtt": ["Plan", "BackupPlanId"]},
                        "BackupSelection": {"Resources": [{"Fn::GetAtt": ["Table", "Arn"]}]},
                    },
                },
            },
        ),
        TYPICAL,
    )
    line = next(line for line in result.lines if line.item.startswith("AWS Backup"))
    assert line.item == "AWS Backup: 168 recovery points, each a full copy"
    assert line.usd == pytest.approx(168 * TYPICAL.dynamodb_storage_gb * 0.10)


def test_alarms_pay_per_metric_and_custom_metrics_are_counted_once(tmp_path: Path) -> None:
    def stat(name: str) -> dict[str, Any]:
        return {
            "Id": name.lower(),
            "MetricStat": {"Metric": {"Namespace": "AWS/DynamoDB", "MetricName": name}, "Period": 300, "Stat": "Sum"},
        }

    body = {
        "Fn::Join": [
            "",
            [
                '{"widgets":[{"properties":{"alarms":["',
                {"Fn::GetAtt": ["Age", "Arn"]},
                '"],"metrics":[["Kit","Age","Resource","db"],[".",".",".","table"],[{"expression":"1"}]]}}]}',
            ],
        ]
    }
    result = priced(
        write_assembly(
            tmp_path,
            {
                "Math": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": "math",
                        "Metrics": [
                            {"Id": "sum", "Expression": "reads + writes"},
                            stat("ReadThrottleEvents"),
                            stat("WriteThrottleEvents"),
                        ],
                    },
                },
                "Age": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": "age",
                        "Namespace": "Kit",
                        "MetricName": "Age",
                        "Period": 10,
                        "Dimensions": [{"Name": "Resource", "Value": "db"}],
                    },
                },
                "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": body}},
            },
        )
    )
    assert usd(result, "Test: math", "standard alarm") == pytest.approx(0.20)
    assert usd(result, "Test: age", "high-resolution alarm") == pytest.approx(0.30)
    custom = next(line for line in result.lines if line.driver == "custom metrics")
    assert custom.quantity == "2 metrics"  # Kit/Age for db (alarm and dashboard) and for table


def test_unknown_resource_types_are_listed_as_not_priced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = write_assembly(tmp_path, {"Thing": {"Type": "AWS::Quantum::Computer", "Properties": {}}})
    assert priced(directory).not_priced == ["Test: Thing (AWS::Quantum::Computer)"]
    assert main([f"dev={directory}"]) == 0
    assert "not priced (free or usage-only); the model does not know them: Test: Thing (AWS::Quantum::Computer)" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("setup", "said"),
    [
        (lambda path: path / "missing", "is not a directory"),
        (lambda path: path, "is not a CDK cloud assembly"),
        (
            lambda path: write_assembly(path, {}) and (path / "Test.json").write_text("{oops") and path,
            "cannot be read as JSON",
        ),
    ],
)
def test_bad_input_is_one_sentence_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: Any, said: str
) -> None:
    assert main([str(setup(tmp_path))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("Error: ") and said in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_the_real_assembly(tap_stack: TapStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The session's app was synthesized once; ``Stage.synth()`` hands back that assembly without
    synthesizing again."""
    directory = cdk.Stage.of(tap_stack).synth().directory
    assert main([f"dev={directory}", "--markdown", "--json", str(tmp_path / "cost.json")]) == 0
    printed = capsys.readouterr().out
    assert "| dev | idle |" in printed and "budget ≤ $75" in printed
    assert "jobs x $1.50 (unverified) |" in printed
    (profile,) = json.loads((tmp_path / "cost.json").read_text())["profiles"]
    idle = profile["scenarios"]["idle"]
    assert idle[OURS]["not_priced"] == []
    assert idle[OURS]["drivers"]["interface endpoints"] > 0
    assert len([line for line in idle[OURS]["lines"] if line["item"] == "Serverless v2 capacity"]) == 2
    assert idle[NAIVE]["total"] > idle[OURS]["total"]
