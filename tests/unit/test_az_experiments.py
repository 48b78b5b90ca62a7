"""AWS FIS in the resilience layer (lib/constructs/az_experiments.py), read from the session's app."""

from __future__ import annotations

import json
from typing import Any

from lib import output_keys as keys
from lib.config import EnvironmentConfig
from lib.constructs.az_experiments import MAX_STOP_CONDITIONS
from tests.unit.templates import ACCOUNT, SUFFIX, Templates

AZS = ("us-east-1a", "us-east-1b", "us-east-1c")


def _templates(templates: Templates) -> dict[str, dict[str, Any]]:
    """Experiment templates by their Name tag (FIS templates have no name property)."""
    found = templates.resilience.find_resources("AWS::FIS::ExperimentTemplate")
    return {t["Properties"]["Tags"]["Name"]: t["Properties"] for t in found.values()}


def _resource(templates: Templates, logical_id: str) -> dict[str, Any]:
    return templates.resilience.to_json()["Resources"][logical_id]


def test_one_az_loss_template_per_az_and_a_writer_failover(templates: Templates) -> None:
    assert sorted(_templates(templates)) == sorted(
        [*(f"fis-az-loss-{az[-1]}-{SUFFIX}" for az in AZS), f"fis-aurora-failover-{SUFFIX}"]
    )


def test_an_az_loss_cuts_off_exactly_the_isolated_subnets_of_its_az(templates: Templates) -> None:
    duration = EnvironmentConfig(environment_suffix=SUFFIX).az_loss_duration
    subnet_parameters = set()
    for az in AZS:
        template = _templates(templates)[f"fis-az-loss-{az[-1]}-{SUFFIX}"]
        assert template["Description"].startswith(f"fis-az-loss-{az[-1]}-{SUFFIX}: the isolated subnets of {az}")
        (action,) = template["Actions"].values()
        assert action["ActionId"] == "aws:network:disrupt-connectivity"
        assert action["Parameters"] == {"duration": duration, "scope": "all"}
        (target_name,) = action["Targets"].values()
        target = template["Targets"][target_name]
        assert (target["ResourceType"], target["SelectionMode"]) == ("aws:ec2:subnet", "ALL")
        (arn,) = target["ResourceArns"]  # one isolated subnet per AZ
        parts = arn["Fn::Join"][1]
        assert parts[0] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/"
        subnet_parameters.add(parts[1]["Ref"])
        # the subnet is the isolated one of this AZ: its nested-stack parameter names it
        assert f"privateSubnet{AZS.index(az) + 1}" in parts[1]["Ref"]
    assert len(subnet_parameters) == 3


def test_writer_failover_targets_the_cluster(templates: Templates) -> None:
    template = _templates(templates)[f"fis-aurora-failover-{SUFFIX}"]
    (action,) = template["Actions"].values()
    assert action["ActionId"] == "aws:rds:failover-db-cluster"
    (target,) = template["Targets"].values()
    assert target["ResourceType"] == "aws:rds:cluster" and "AuroraCluster" in json.dumps(target["ResourceArns"])


def test_stop_conditions_are_the_alarms_of_harm_beyond_the_experiment(templates: Templates) -> None:
    alarms = templates.resilience.find_resources("AWS::CloudWatch::Alarm")
    names = {logical_id: alarm["Properties"]["AlarmName"] for logical_id, alarm in alarms.items()}
    expected = {
        f"undelivered-alerts-{SUFFIX}",
        *(f"rpo-{r}-{SUFFIX}" for r in ("aurora-cluster", "dynamodb-table", "data-bucket")),
    }
    for template in _templates(templates).values():
        conditions = template["StopConditions"]
        assert len(conditions) <= MAX_STOP_CONDITIONS
        assert {c["Source"] for c in conditions} == {"aws:cloudwatch:alarm"}
        assert {names[c["Value"]["Fn::GetAtt"][0]] for c in conditions} == expected


def test_experiments_log_to_an_encrypted_group_with_schema_2(templates: Templates) -> None:
    for template in _templates(templates).values():
        logging = template["LogConfiguration"]
        assert logging["LogSchemaVersion"] == 2
        group = _resource(templates, logging["CloudWatchLogsConfiguration"]["LogGroupArn"]["Fn::GetAtt"][0])
        assert group["Properties"]["LogGroupName"] == f"fis-experiments-{SUFFIX}"
        assert "MonitoringKey" in json.dumps(group["Properties"]["KmsKeyId"])
        assert template["ExperimentOptions"] == {
            "AccountTargeting": "single-account",
            "EmptyTargetResolutionMode": "fail",
        }


def test_the_role_trusts_fis_for_this_accounts_experiments_only(templates: Templates) -> None:
    roles = templates.resilience.find_resources(
        "AWS::IAM::Role", {"Properties": {"RoleName": f"fis-experiments-{SUFFIX}"}}
    )
    ((role_id, role),) = roles.items()
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "fis.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:fis:us-east-1:{ACCOUNT}:experiment/*"}
    for template in _templates(templates).values():
        assert template["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_the_role_may_only_disrupt_this_vpc_and_fail_over_this_cluster(templates: Templates) -> None:
    policies = templates.resilience.find_resources(
        "AWS::IAM::ManagedPolicy", {"Properties": {"ManagedPolicyName": f"fis-experiments-policy-{SUFFIX}"}}
    )
    ((_, policy),) = policies.items()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    for statement in statements.values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any("*" in action for action in actions)
    assert statements["CreateDisruptionAcl"]["Condition"] == {"StringEquals": {"aws:RequestTag/managedByFIS": "true"}}
    assert statements["TagDisruptionAclAtCreation"]["Condition"]["StringEquals"]["ec2:CreateAction"] == (
        "CreateNetworkAcl"
    )
    fill = statements["FillAndDeleteDisruptionAcl"]
    assert fill["Condition"]["StringEquals"] == {"ec2:ResourceTag/managedByFIS": "true"}
    swap = statements["SwapAclsOfTheIsolatedSubnets"]
    assert swap["Action"] == "ec2:ReplaceNetworkAclAssociation"
    assert len(swap["Resource"]) == 4  # the three isolated subnets and FIS's ACLs
    assert "ec2:Vpc" in swap["Condition"]["ArnEquals"] and "ec2:Vpc" in fill["Condition"]["ArnEquals"]
    failover = statements["FailOverTheCluster"]
    assert sorted(failover["Action"]) == ["rds:DescribeDBClusters", "rds:FailoverDBCluster"]
    assert "*" not in json.dumps(failover["Resource"])
    assert statements["DescribeNetwork"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    assert statements["DeliverExperimentLogs"]["Action"] == "logs:CreateLogDelivery"


def test_experiment_state_changes_reach_the_alerts_topic_with_a_dead_letter_queue(templates: Templates) -> None:
    rules = templates.resilience.find_resources(
        "AWS::Events::Rule", {"Properties": {"Name": f"fis-experiment-state-{SUFFIX}"}}
    )
    ((_, rule),) = rules.items()
    pattern = rule["Properties"]["EventPattern"]
    assert (pattern["source"], pattern["detail-type"]) == (["aws.fis"], ["FIS Experiment State Change"])
    # This environment's four templates only: another team's experiment is not this on-call's page.
    templates_named = pattern["detail"]["experiment-template-id"]
    assert len(templates_named) == 4
    assert {reference["Fn::GetAtt"][1] for reference in templates_named} == {"Id"}
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"]["Ref"].startswith("AlertsTopic")
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("UndeliveredAlerts")
    assert "InputTransformer" in target


def test_the_drill_finds_the_templates_and_subnets_in_the_outputs(templates: Templates) -> None:
    outputs = templates.parent.to_json()["Outputs"]
    for key in (keys.AZ_LOSS_TEMPLATE_IDS, keys.ISOLATED_SUBNET_IDS_BY_AZ):
        rendered = json.dumps(outputs[key]["Value"])
        assert all(az in rendered for az in AZS), key
    assert "Fn::GetAtt" in json.dumps(outputs[keys.WRITER_FAILOVER_TEMPLATE_ID]["Value"])
