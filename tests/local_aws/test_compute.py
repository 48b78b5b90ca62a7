"""Lambda: versions, aliases, async-invoke settings, VPC and logging configuration."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tools.local_aws.clock import CLOCK

from .helpers import VPC_ACCESS_POLICY, function, get_att, ref, role, subnet, template, vpc


def _function_stack(suffix: str) -> dict[str, Any]:
    """A VPC function with its log group, a published version, a ``live`` alias and a schedule."""
    resources = {
        "Vpc": vpc("10.6.0.0/16"),
        "Subnet": subnet("Vpc", "10.6.0.0/24"),
        "Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "fn", "VpcId": ref("Vpc")}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": f"/aws/lambda/fn-{suffix}"}},
        "Role": role(Policies=[VPC_ACCESS_POLICY]),
        "Function": function(
            "Role",
            FunctionName=f"fn-{suffix}",
            VpcConfig={"SubnetIds": [ref("Subnet")], "SecurityGroupIds": [get_att("Group", "GroupId")]},
            LoggingConfig={"LogGroup": ref("Logs"), "LogFormat": "JSON"},
            DeadLetterConfig={"TargetArn": get_att("DeadLetters", "Arn")},
            KmsKeyArn=get_att("Key", "Arn"),
        ),
        "DeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": []}}},
        "Version": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": ref("Function")}},
        "Alias": {
            "Type": "AWS::Lambda::Alias",
            "Properties": {
                "FunctionName": ref("Function"),
                "FunctionVersion": get_att("Version", "Version"),
                "Name": "live",
            },
        },
        "InvokeConfig": {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {"FunctionName": ref("Function"), "Qualifier": "$LATEST", "MaximumRetryAttempts": 0},
        },
        "Schedule": {
            "Type": "AWS::Events::Rule",
            "Properties": {"ScheduleExpression": "rate(5 minutes)", "Targets": [{"Arn": ref("Alias"), "Id": "live"}]},
        },
        "Invoke": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": ref("Alias"),
                "Principal": "events.amazonaws.com",
                "SourceArn": get_att("Schedule", "Arn"),
            },
        },
    }
    outputs = {
        "Vpc": ref("Vpc"),
        "VersionArn": ref("Version"),
        "AliasArn": ref("Alias"),
        "Rule": ref("Schedule"),
        "Logs": ref("Logs"),
        "DeadLetters": get_att("DeadLetters", "Arn"),
        "Key": get_att("Key", "Arn"),
    }
    return template(resources, outputs)


@pytest.fixture
def deployed(cfn, suffix):
    return cfn.deploy(_function_stack(suffix))


def test_n7_version_answers_ref_and_get_att(deployed, aws, suffix):
    versions = aws("lambda").list_versions_by_function(FunctionName=f"fn-{suffix}")["Versions"]

    assert deployed.status == "CREATE_COMPLETE"
    assert deployed.outputs["VersionArn"] == f"arn:aws:lambda:us-east-1:123456789012:function:fn-{suffix}:1"
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_n8_alias_points_at_the_version_and_is_the_schedule_target(deployed, aws, suffix):
    alias = aws("lambda").get_alias(FunctionName=f"fn-{suffix}", Name="live")
    targets = aws("events").list_targets_by_rule(Rule=deployed.outputs["Rule"])["Targets"]

    assert (alias["AliasArn"], alias["FunctionVersion"]) == (deployed.outputs["AliasArn"], "1")
    assert [t["Arn"] for t in targets] == [deployed.outputs["AliasArn"]]


def test_n8_alias_is_deleted_with_the_stack(cfn, deployed, aws, suffix):
    lambda_ = aws("lambda")

    assert cfn.delete(deployed).status == "DELETE_COMPLETE"

    assert f"fn-{suffix}" not in {f["FunctionName"] for f in lambda_.list_functions()["Functions"]}


def test_n11_event_invoke_config_is_stored(deployed, aws, suffix):
    config = aws("lambda").get_function_event_invoke_config(FunctionName=f"fn-{suffix}")

    assert config["MaximumRetryAttempts"] == 0


def test_f8_vpc_config_names_the_functions_vpc(deployed, aws, suffix):
    configuration = aws("lambda").get_function_configuration(FunctionName=f"fn-{suffix}")

    assert configuration["VpcConfig"]["VpcId"] == deployed.outputs["Vpc"]


def test_f9_logging_and_dead_letter_config_are_returned(deployed, aws, suffix):
    configuration = aws("lambda").get_function_configuration(FunctionName=f"fn-{suffix}")

    assert configuration["LoggingConfig"] == {"LogGroup": deployed.outputs["Logs"], "LogFormat": "JSON"}
    assert configuration["DeadLetterConfig"] == {"TargetArn": deployed.outputs["DeadLetters"]}


def test_f10_environment_encryption_key_is_kept(deployed, aws, suffix):
    configuration = aws("lambda").get_function_configuration(FunctionName=f"fn-{suffix}")

    assert configuration["KMSKeyArn"] == deployed.outputs["Key"]


def test_invoke_permission_on_the_alias_is_in_the_function_policy(deployed, aws, suffix):
    """Stock moto behaviour the app relies on (EventBridge may invoke the alias)."""
    policy = json.loads(aws("lambda").get_policy(FunctionName=f"fn-{suffix}")["Policy"])

    assert [s["Principal"] for s in policy["Statement"]] == [{"Service": "events.amazonaws.com"}]


def test_the_schedule_invokes_the_alias_through_its_permission(deployed, aws, suffix):
    """The rule's target is the alias; the Lambda::Permission on it lets EventBridge in (D22)."""
    CLOCK.advance(timedelta(minutes=1))  # the rule is seen; rate periods count from here
    CLOCK.advance(timedelta(minutes=5))

    streams = aws("logs").describe_log_streams(logGroupName=deployed.outputs["Logs"])["logStreams"]
    assert [stream["logStreamName"] for stream in streams if "[1]" in stream["logStreamName"]]
