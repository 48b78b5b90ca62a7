"""Conformance: AWS FIS experiment templates and experiments on the emulator's clock.

Pages followed (AWS Fault Injection Service User Guide):
- "Experiment templates", https://docs.aws.amazon.com/fis/latest/userguide/experiment-templates.html
- "AWS FIS Actions reference", https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html
- "Actions for AWS FIS", https://docs.aws.amazon.com/fis/latest/userguide/action-sequence.html
- "Targets for AWS FIS", https://docs.aws.amazon.com/fis/latest/userguide/targets.html
- "Stop conditions for AWS FIS", https://docs.aws.amazon.com/fis/latest/userguide/stop-conditions.html
- "Managing your AWS FIS experiments" (experiment states),
  https://docs.aws.amazon.com/fis/latest/userguide/experiments.html
- "Monitor AWS FIS experiments using Amazon EventBridge",
  https://docs.aws.amazon.com/fis/latest/userguide/monitoring-eventbridge.html
- "Experiment logging for AWS FIS", https://docs.aws.amazon.com/fis/latest/userguide/monitoring-logging.html
and the CloudFormation User Guide, "AWS::FIS::ExperimentTemplate",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-fis-experimenttemplate.html.

Fixes: X1 (template checks), X2 (the CloudFormation type), X3 (experiments on the clock).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tools.local_aws.clock import CLOCK
from tools.local_aws.services.fis.catalog import parse_duration

from .helpers import template

ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/fis-experiments"
AZS = ("us-east-1a", "us-east-1b", "us-east-1c")
NO_STOP = [{"source": "none"}]


def _minutes(count: float) -> None:
    CLOCK.advance(timedelta(minutes=count))


@pytest.fixture
def network(aws: Callable[[str], Any], suffix: str) -> dict[str, Any]:
    """A VPC with one subnet per AZ, each tagged with its AZ and the test's suffix."""
    ec2 = aws("ec2")
    octet = int(suffix[:2], 16)
    vpc_id = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
    subnets = {}
    for index, zone in enumerate(AZS):
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.{octet}.{index}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        ec2.create_tags(Resources=[subnet_id], Tags=[{"Key": "drill", "Value": suffix}, {"Key": "zone", "Value": zone}])
        subnets[zone] = subnet_id
    return {"vpc": vpc_id, "subnets": subnets}


def _arn(subnet_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{subnet_id}"


def _acl(aws: Callable[[str], Any], subnet_id: str) -> dict[str, Any]:
    """The network ACL the subnet is associated with."""
    filters = [{"Name": "association.subnet-id", "Values": [subnet_id]}]
    (acl,) = aws("ec2").describe_network_acls(Filters=filters)["NetworkAcls"]
    return dict(acl)


def _disrupt(target: dict[str, Any], duration: str = "PT10M", **action: Any) -> dict[str, Any]:
    return {
        "targets": {"Subnets": {"resourceType": "aws:ec2:subnet", **target}},
        "actions": {
            "disrupt": {
                "actionId": "aws:network:disrupt-connectivity",
                "parameters": {"duration": duration, "scope": "all"},
                "targets": {"Subnets": "Subnets"},
                **action,
            }
        },
    }


def _create(aws: Callable[[str], Any], **parts: Any) -> str:
    arguments = {"description": "test", "roleArn": ROLE, "stopConditions": NO_STOP, **parts}
    return str(aws("fis").create_experiment_template(**arguments)["experimentTemplate"]["id"])


def _start(aws: Callable[[str], Any], template_id: str) -> str:
    """Start the experiment and let the clock run its initiation."""
    experiment_id = str(aws("fis").start_experiment(experimentTemplateId=template_id)["experiment"]["id"])
    _minutes(0)
    return experiment_id


def _experiment(aws: Callable[[str], Any], experiment_id: str) -> dict[str, Any]:
    return dict(aws("fis").get_experiment(id=experiment_id)["experiment"])


def _refusal(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]


# --- durations and the disruption ----------------------------------------------------------


def test_durations_are_iso_8601():
    """Actions reference: duration "in ISO 8601 format. For example, PT1M represents one minute"."""
    assert parse_duration("PT10M") == timedelta(minutes=10)
    assert parse_duration("PT1H30M") == timedelta(hours=1, minutes=30)
    assert parse_duration("PT90S") == timedelta(seconds=90)
    assert parse_duration("P1D") == timedelta(days=1)
    for bad in ("10M", "PT", "P", "PT10", "PT1.5M", "ten minutes"):
        assert parse_duration(bad) is None, bad


def test_x3_disrupt_connectivity_swaps_the_network_acl_of_the_zone_for_its_duration(aws, network):
    """Actions reference, aws:network:disrupt-connectivity (scope all) on the subnets a filter on
    AvailabilityZone picks (Targets, "Resource filters"): their network ACL is replaced by a deny-all
    one tagged managedByFIS=true for the action's duration, then the original association is back
    and the FIS network ACL is gone. Experiment states: initiating, running, completed."""
    subnets = network["subnets"]
    original = {zone: _acl(aws, subnet)["NetworkAclId"] for zone, subnet in subnets.items()}
    template_id = _create(
        aws,
        **_disrupt(
            {
                "resourceArns": [_arn(subnet) for subnet in subnets.values()],
                "filters": [{"path": "AvailabilityZone", "values": ["us-east-1b"]}],
                "selectionMode": "ALL",
            },
            duration="PT1H30M",
        ),
    )
    answered = aws("fis").start_experiment(experimentTemplateId=template_id)["experiment"]
    assert answered["state"]["status"] == "initiating"

    _minutes(0)
    running = _experiment(aws, answered["id"])
    disrupted = _acl(aws, subnets["us-east-1b"])
    assert running["state"]["status"] == "running"
    assert running["actions"]["disrupt"]["state"]["status"] == "running"
    assert disrupted["NetworkAclId"] != original["us-east-1b"]
    assert {"Key": "managedByFIS", "Value": "true"} in disrupted["Tags"]
    assert {(entry["RuleAction"], entry["Egress"]) for entry in disrupted["Entries"]} == {
        ("deny", True),
        ("deny", False),
    }
    for zone in ("us-east-1a", "us-east-1c"):
        assert _acl(aws, subnets[zone])["NetworkAclId"] == original[zone]

    _minutes(89)
    assert _experiment(aws, answered["id"])["state"]["status"] == "running"
    assert _acl(aws, subnets["us-east-1b"])["NetworkAclId"] == disrupted["NetworkAclId"]

    _minutes(1)
    completed = _experiment(aws, answered["id"])
    assert completed["state"] == {"status": "completed", "reason": "Experiment completed."}
    assert completed["actions"]["disrupt"]["state"]["status"] == "completed"
    assert _acl(aws, subnets["us-east-1b"])["NetworkAclId"] == original["us-east-1b"]
    remaining = aws("ec2").describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [network["vpc"]]}])
    assert disrupted["NetworkAclId"] not in {acl["NetworkAclId"] for acl in remaining["NetworkAcls"]}


def test_x3_wait_then_disrupt_in_start_after_order(aws, network):
    """Actions for AWS FIS, "Action timing": an action with startAfter starts when the actions it
    names have completed; aws:fis:wait only takes its duration (PT90S)."""
    subnet = network["subnets"]["us-east-1a"]
    original = _acl(aws, subnet)["NetworkAclId"]
    parts = _disrupt({"resourceArns": [_arn(subnet)], "selectionMode": "ALL"}, duration="PT2M", startAfter=["pause"])
    parts["actions"]["pause"] = {"actionId": "aws:fis:wait", "parameters": {"duration": "PT90S"}}
    experiment_id = _start(aws, _create(aws, **parts))

    _minutes(1)
    actions = _experiment(aws, experiment_id)["actions"]
    assert (actions["pause"]["state"]["status"], actions["disrupt"]["state"]["status"]) == ("running", "pending")
    assert _acl(aws, subnet)["NetworkAclId"] == original

    _minutes(1)  # the wait ended at 1.5 minutes
    assert _experiment(aws, experiment_id)["actions"]["disrupt"]["state"]["status"] == "running"
    assert _acl(aws, subnet)["NetworkAclId"] != original

    _minutes(2)
    assert _experiment(aws, experiment_id)["state"]["status"] == "completed"
    assert _acl(aws, subnet)["NetworkAclId"] == original


# --- target resolution ---------------------------------------------------------------------


def _resolved(aws: Callable[[str], Any], experiment_id: str) -> list[str]:
    answer = aws("fis").list_experiment_resolved_targets(experimentId=experiment_id)["resolvedTargets"]
    return sorted(target["targetInformation"]["arn"] for target in answer)


def test_x3_targets_by_tags_with_count_and_percent(aws, network, suffix):
    """Targets: resourceTags selects the resources carrying every tag; COUNT(n) picks n of them at
    random, PERCENT(n) that share (one of three subnets for 50 %)."""
    every = {_arn(subnet) for subnet in network["subnets"].values()}
    for mode in ("ALL", "COUNT(2)", "PERCENT(50)"):
        target = {"resourceTags": {"drill": suffix}, "selectionMode": mode}
        experiment_id = _start(aws, _create(aws, **_disrupt(target, duration="PT1M")))
        resolved = _resolved(aws, experiment_id)
        assert set(resolved) <= every
        assert len(resolved) == {"ALL": 3, "COUNT(2)": 2, "PERCENT(50)": 1}[mode], mode
        _minutes(1)


def test_x3_empty_target_fails_or_is_skipped_as_the_template_says(aws, suffix):
    """Experiment templates, "Experiment options": emptyTargetResolutionMode fail makes an experiment
    whose target resolves to nothing fail; skip skips the actions on it and completes."""
    target = {"resourceTags": {"drill": f"nothing-{suffix}"}, "selectionMode": "ALL"}
    failing = _start(aws, _create(aws, **_disrupt(target)))
    failed = _experiment(aws, failing)
    assert failed["state"]["status"] == "failed"
    assert "Subnets" in failed["state"]["reason"]
    assert failed["actions"]["disrupt"]["state"]["status"] == "cancelled"

    skipping = _create(aws, experimentOptions={"emptyTargetResolutionMode": "skip"}, **_disrupt(target))
    skipped = _experiment(aws, _start(aws, skipping))
    assert skipped["state"]["status"] == "completed"
    assert skipped["actions"]["disrupt"]["state"]["status"] == "skipped"


# --- stopping ------------------------------------------------------------------------------


def test_x3_stop_experiment_lifts_the_disruption_at_once(aws, network):
    """StopExperiment (API reference; AWS CLI example: state stopping, "Stopping Experiment."): the
    experiment ends stopped and the subnet has its own network ACL back."""
    subnet = network["subnets"]["us-east-1c"]
    original = _acl(aws, subnet)["NetworkAclId"]
    experiment_id = _start(aws, _create(aws, **_disrupt({"resourceArns": [_arn(subnet)], "selectionMode": "ALL"})))
    assert _acl(aws, subnet)["NetworkAclId"] != original

    answer = aws("fis").stop_experiment(id=experiment_id)["experiment"]

    assert answer["state"] == {"status": "stopping", "reason": "Stopping Experiment."}
    assert _acl(aws, subnet)["NetworkAclId"] == original
    stopped = _experiment(aws, experiment_id)
    assert stopped["state"]["status"] == "stopped"
    assert stopped["actions"]["disrupt"]["state"]["status"] == "stopped"


def test_x3_an_alarm_in_alarm_stops_the_experiment_within_the_minute(aws, network, suffix):
    """Stop conditions for AWS FIS: "If a stop condition is triggered during an experiment, AWS FIS
    stops the experiment"; the reason names the alarm, and the disruption is lifted."""
    cloudwatch = aws("cloudwatch")
    metric = f"harm-{suffix}"
    cloudwatch.put_metric_alarm(
        AlarmName=metric,
        Namespace="Test/FIS",
        MetricName=metric,
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    alarm_arn = cloudwatch.describe_alarms(AlarmNames=[metric])["MetricAlarms"][0]["AlarmArn"]
    subnet = network["subnets"]["us-east-1a"]
    original = _acl(aws, subnet)["NetworkAclId"]
    parts = _disrupt({"resourceArns": [_arn(subnet)], "selectionMode": "ALL"}, duration="PT30M")
    experiment_id = _start(
        aws, _create(aws, stopConditions=[{"source": "aws:cloudwatch:alarm", "value": alarm_arn}], **parts)
    )
    _minutes(2)
    assert _experiment(aws, experiment_id)["state"]["status"] == "running"

    cloudwatch.put_metric_data(
        Namespace="Test/FIS", MetricData=[{"MetricName": metric, "Value": 1, "Timestamp": CLOCK.now()}]
    )
    _minutes(2)

    stopped = _experiment(aws, experiment_id)
    assert stopped["state"]["status"] == "stopped"
    assert alarm_arn in stopped["state"]["reason"]
    assert _acl(aws, subnet)["NetworkAclId"] == original


# --- Aurora --------------------------------------------------------------------------------


@pytest.fixture
def aurora(aws: Callable[[str], Any], suffix: str) -> Any:
    """An Aurora PostgreSQL cluster with a writer and a reader, created through the RDS API."""
    rds = aws("rds")
    identifier = f"fis-{suffix}"
    rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-postgresql",
        MasterUsername="master",
        MasterUserPassword="fis-password-1",
        DatabaseName="orders",
    )
    for member in ("writer", "reader"):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{identifier}-{member}",
            DBClusterIdentifier=identifier,
            Engine="aurora-postgresql",
            DBInstanceClass="db.serverless",
        )
    _minutes(15)
    yield identifier
    for member in ("writer", "reader"):
        rds.delete_db_instance(DBInstanceIdentifier=f"{identifier}-{member}")
    _minutes(15)
    rds.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)


def _writer(aws: Callable[[str], Any], identifier: str) -> str:
    members = aws("rds").describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]["DBClusterMembers"]
    return next(member["DBInstanceIdentifier"] for member in members if member["IsClusterWriter"])


def test_x3_failover_db_cluster_moves_the_writer(aws, aurora):
    """Actions reference, aws:rds:failover-db-cluster (target aws:rds:cluster): "Runs the Amazon
    Aurora DB cluster API action FailoverDBCluster on the target Aurora DB cluster"."""
    cluster_arn = aws("rds").describe_db_clusters(DBClusterIdentifier=aurora)["DBClusters"][0]["DBClusterArn"]
    before = _writer(aws, aurora)
    template_id = _create(
        aws,
        targets={
            "Clusters": {"resourceType": "aws:rds:cluster", "resourceArns": [cluster_arn], "selectionMode": "ALL"}
        },
        actions={"failover": {"actionId": "aws:rds:failover-db-cluster", "targets": {"Clusters": "Clusters"}}},
    )

    experiment = _experiment(aws, _start(aws, template_id))

    assert experiment["state"]["status"] == "completed"
    assert experiment["actions"]["failover"]["state"]["status"] == "completed"
    assert _writer(aws, aurora) != before


def test_x3_reboot_db_instances_reboots_the_filtered_instance(aws, aurora):
    """Actions reference, aws:rds:reboot-db-instances (target aws:rds:db): RebootDBInstance on each
    target; Targets, "Resource filters": a filter on DBInstanceIdentifier keeps the reader only."""
    arns = [
        instance["DBInstanceArn"]
        for instance in aws("rds").describe_db_instances()["DBInstances"]
        if instance.get("DBClusterIdentifier") == aurora
    ]
    template_id = _create(
        aws,
        targets={
            "DBInstances": {
                "resourceType": "aws:rds:db",
                "resourceArns": arns,
                "filters": [{"path": "DBInstanceIdentifier", "values": [f"{aurora}-reader"]}],
                "selectionMode": "ALL",
            }
        },
        actions={"reboot": {"actionId": "aws:rds:reboot-db-instances", "targets": {"DBInstances": "DBInstances"}}},
    )
    experiment_id = _start(aws, template_id)
    assert _experiment(aws, experiment_id)["state"]["status"] == "completed"
    assert _resolved(aws, experiment_id) == [arn for arn in arns if arn.endswith(f":db:{aurora}-reader")]


# --- events and logs -----------------------------------------------------------------------


def test_x3_state_changes_reach_the_default_bus_and_the_log_group(aws, network, suffix):
    """Monitor AWS FIS experiments using Amazon EventBridge: each state change is an event of source
    aws.fis, detail-type "FIS Experiment State Change", with experiment-id, experiment-template-id,
    new-state and old-state. Experiment logging: records go to the template's log group."""
    sqs, events, logs = aws("sqs"), aws("events"), aws("logs")
    queue_url = sqs.create_queue(QueueName=f"fis-events-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            }
        ]
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    rule = f"fis-{suffix}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.fis"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
    group = f"/fis/experiments-{suffix}"
    logs.create_log_group(logGroupName=group)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
    subnet = network["subnets"]["us-east-1a"]
    template_id = _create(
        aws,
        logConfiguration={"cloudWatchLogsConfiguration": {"logGroupArn": group_arn}, "logSchemaVersion": 2},
        **_disrupt({"resourceArns": [_arn(subnet)], "selectionMode": "ALL"}, duration="PT1M"),
    )
    experiment_id = _start(aws, template_id)
    _minutes(1)

    bodies = [
        json.loads(message["Body"])
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    ]
    mine = [body for body in bodies if body["detail"]["experiment-id"] == experiment_id]
    assert {(body["source"], body["detail-type"]) for body in mine} == {("aws.fis", "FIS Experiment State Change")}
    assert [(body["detail"]["old-state"]["status"], body["detail"]["new-state"]["status"]) for body in mine] == [
        ("pending", "initiating"),
        ("initiating", "running"),
        ("running", "completed"),
    ]
    assert mine[0]["detail"]["experiment-template-id"] == template_id
    assert mine[0]["resources"] == [f"arn:aws:fis:{REGION}:{ACCOUNT}:experiment/{experiment_id}"]
    records = [
        json.loads(event["message"])
        for event in logs.get_log_events(logGroupName=group, logStreamName=experiment_id)["events"]
    ]
    assert [record["log_type"] for record in records] == [
        "experiment-start",
        "target-resolution-end",
        "action-start",
        "action-end",
        "experiment-end",
    ]
    assert {record["version"] for record in records} == {"2"}


# --- errors --------------------------------------------------------------------------------


def test_x1_bad_templates_are_refused_with_a_validation_exception(aws, network):
    """Experiment templates / Actions reference / Stop conditions: FIS refuses an unknown action,
    a target of another type than the action takes, a duration that is not ISO 8601 or outside one
    minute to 12 hours, a stop condition alarm that does not exist, and a template without roleArn
    (ValidationException)."""
    subnet_target = {"resourceArns": [_arn(network["subnets"]["us-east-1a"])], "selectionMode": "ALL"}
    unknown = {"actions": {"a": {"actionId": "aws:ec2:melt-instances"}}}
    mismatch = _disrupt(subnet_target)
    mismatch["targets"]["Subnets"]["resourceType"] = "aws:rds:cluster"
    mismatch["targets"]["Subnets"]["resourceArns"] = [f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:c"]
    missing_alarm = {
        "stopConditions": [
            {
                "source": "aws:cloudwatch:alarm",
                "value": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:none-{uuid.uuid4()}",
            }
        ],
        **_disrupt(subnet_target),
    }
    for parts, words in (
        (unknown, "aws:ec2:melt-instances"),
        (mismatch, "aws:ec2:subnet"),
        (_disrupt(subnet_target, duration="10 minutes"), "duration"),
        (_disrupt(subnet_target, duration="PT30S"), "duration"),
        (_disrupt(subnet_target, duration="PT13H"), "duration"),
        (missing_alarm, "does not exist"),
    ):
        code, message = _refusal(lambda parts=parts: _create(aws, **parts))
        assert code == "ValidationException", parts
        assert words in message, message

    unchecked = boto3.client(
        "fis",
        endpoint_url=aws("fis").meta.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False),
    )
    code, message = _refusal(
        lambda: unchecked.create_experiment_template(
            description="no role", stopConditions=NO_STOP, **_disrupt(subnet_target)
        )
    )
    assert (code, "roleArn" in message) == ("ValidationException", True)


def test_x1_scopes_other_than_all_are_refused_by_name(aws, network):
    """Actions reference, aws:network:disrupt-connectivity: scope is one of all, availability-zone,
    dynamodb, prefix-list, s3, s3-express. The emulator runs all only and says so."""
    parts = _disrupt({"resourceArns": [_arn(network["subnets"]["us-east-1a"])], "selectionMode": "ALL"})
    parts["actions"]["disrupt"]["parameters"]["scope"] = "s3"
    code, message = _refusal(lambda: _create(aws, **parts))
    assert (code, "scope s3" in message) == ("ValidationException", True)


def test_unknown_experiment_and_template_are_not_found(aws):
    """API reference, GetExperiment / StopExperiment / StartExperiment: ResourceNotFoundException."""
    fis = aws("fis")
    for call in (
        lambda: fis.get_experiment(id="EXPnotthere"),
        lambda: fis.stop_experiment(id="EXPnotthere"),
        lambda: fis.start_experiment(experimentTemplateId="EXTnotthere"),
    ):
        assert _refusal(call)[0] == "ResourceNotFoundException"


# --- CloudFormation ------------------------------------------------------------------------


def test_x2_experiment_template_from_cloudformation(aws, cfn, network):
    """CloudFormation User Guide, AWS::FIS::ExperimentTemplate: Ref and Fn::GetAtt Id return the
    template's id; the template has the resource's actions and targets; deleting the stack deletes it."""
    subnet_arn = _arn(network["subnets"]["us-east-1a"])
    resource = {
        "Type": "AWS::FIS::ExperimentTemplate",
        "Properties": {
            "Description": "AZ loss",
            "RoleArn": ROLE,
            "StopConditions": [{"Source": "none"}],
            "Targets": {
                "Subnets": {"ResourceType": "aws:ec2:subnet", "ResourceArns": [subnet_arn], "SelectionMode": "ALL"}
            },
            "Actions": {
                "disrupt": {
                    "ActionId": "aws:network:disrupt-connectivity",
                    "Parameters": {"duration": "PT10M", "scope": "all"},
                    "Targets": {"Subnets": "Subnets"},
                }
            },
            "ExperimentOptions": {"AccountTargeting": "single-account", "EmptyTargetResolutionMode": "skip"},
            "Tags": {"Name": "az-loss"},
        },
    }
    stack = cfn.deploy(
        template({"Loss": resource}, outputs={"Ref": {"Ref": "Loss"}, "Id": {"Fn::GetAtt": ["Loss", "Id"]}})
    )

    assert stack.status == "CREATE_COMPLETE"
    assert stack.outputs["Ref"] == stack.outputs["Id"]
    stored = aws("fis").get_experiment_template(id=stack.outputs["Id"])["experimentTemplate"]
    assert stored["targets"]["Subnets"]["resourceArns"] == [subnet_arn]
    assert stored["actions"]["disrupt"]["parameters"] == {"duration": "PT10M", "scope": "all"}
    assert stored["experimentOptions"]["emptyTargetResolutionMode"] == "skip"
    assert stored["tags"] == {"Name": "az-loss"}

    cfn.delete(stack)
    assert _refusal(lambda: aws("fis").get_experiment_template(id=stack.outputs["Id"]))[0] == (
        "ResourceNotFoundException"
    )
