"""The CloudFormation engine: template URLs, nested stacks, change sets, custom resources, failures."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError
from moto.sns.models import Topic

from .helpers import get_att, ref, template, vpc

QUEUE = {"Type": "AWS::SQS::Queue", "Properties": {}}


def test_r1_template_url_on_the_local_endpoint_is_read_path_style(cfn, aws, endpoint, suffix):
    """The CDK CLI passes TemplateURL http://127.0.0.1:<port>/<bucket>/<key>."""
    bucket = f"templates-{suffix}"
    aws("s3").create_bucket(Bucket=bucket)
    body = template({"Queue": QUEUE}, {"QueueArn": get_att("Queue", "Arn")})
    aws("s3").put_object(Bucket=bucket, Key="stack.json", Body=json.dumps(body))

    stack = cfn.deploy(TemplateURL=f"{endpoint}/{bucket}/stack.json")

    assert stack.status == "CREATE_COMPLETE"
    assert stack.outputs["QueueArn"].startswith("arn:aws:sqs:us-east-1:123456789012:")


def test_r2_parent_reads_nested_stack_outputs(cfn, aws, suffix):
    bucket = f"nested-{suffix}"
    aws("s3").create_bucket(Bucket=bucket)
    child = template(
        {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "QueueName"}}}},
        {"QueueArn": get_att("Queue", "Arn")},
        Parameters={"QueueName": {"Type": "String"}},
    )
    aws("s3").put_object(Bucket=bucket, Key="child.json", Body=json.dumps(child))
    nested = {
        "Type": "AWS::CloudFormation::Stack",
        "Properties": {
            "TemplateURL": f"https://s3.us-east-1.amazonaws.com/{bucket}/child.json",
            "Parameters": {"QueueName": f"nested-{suffix}"},
        },
    }

    stack = cfn.deploy(template({"Child": nested}, {"ChildQueueArn": get_att("Child", "Outputs.QueueArn")}))

    assert stack.status == "CREATE_COMPLETE"
    assert stack.outputs["ChildQueueArn"] == f"arn:aws:sqs:us-east-1:123456789012:nested-{suffix}"


def test_r3_change_set_stacks_have_outputs_and_exports(cfn, aws, suffix):
    exported = template(
        {"Queue": QUEUE},
        Outputs={"Url": {"Value": ref("Queue"), "Export": {"Name": f"queue-url-{suffix}"}}},
    )
    importer = template(
        {
            "Parameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": f"/imported/{suffix}",
                    "Type": "String",
                    "Value": {"Fn::ImportValue": f"queue-url-{suffix}"},
                },
            }
        },
        {"Imported": ref("Parameter")},
    )

    stack = cfn.deploy(exported)
    consumer = cfn.deploy(importer)

    assert "/123456789012/" in stack.outputs["Url"]
    exports = {e["Name"]: e["Value"] for e in cfn.client.list_exports()["Exports"]}
    assert exports[f"queue-url-{suffix}"] == stack.outputs["Url"]
    imported = aws("ssm").get_parameter(Name=consumer.outputs["Imported"])["Parameter"]["Value"]
    assert imported == stack.outputs["Url"]


def test_v1_failed_creation_is_reported_and_rolled_back(cfn, aws, suffix):
    resources = {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"rollback-{suffix}"}},
        "Subnet": {
            "Type": "AWS::EC2::Subnet",
            "DependsOn": "Queue",
            "Properties": {"VpcId": "vpc-0000000000000000", "CidrBlock": "10.0.0.0/24"},
        },
    }

    stack = cfn.deploy(template(resources))

    assert stack.status == "ROLLBACK_COMPLETE"
    assert any("InvalidVpcID.NotFound" in event for event in cfn.events(stack))
    assert aws("sqs").list_queues(QueueNamePrefix=f"rollback-{suffix}").get("QueueUrls", []) == []


def test_v2_failed_deletion_keeps_the_stack_as_delete_failed(cfn, aws):
    stack = cfn.deploy(template({"Vpc": vpc("10.9.0.0/16")}, {"VpcId": ref("Vpc")}))
    blocking = aws("ec2").create_subnet(VpcId=stack.outputs["VpcId"], CidrBlock="10.9.1.0/24")["Subnet"]

    failed = cfn.delete(stack)

    assert failed.status == "DELETE_FAILED"
    assert any("DependencyViolation" in event for event in cfn.events(stack))
    assert cfn.client.describe_stacks(StackName=stack.name)["Stacks"]
    aws("ec2").delete_subnet(SubnetId=blocking["SubnetId"])
    assert cfn.delete(stack).status == "DELETE_COMPLETE"


def test_v3_unsupported_resource_types_fail_the_stack(cfn):
    stack = cfn.deploy(template({"Queue": QUEUE, "Thing": {"Type": "AWS::Made::Up", "Properties": {}}}))

    assert stack.status == "ROLLBACK_COMPLETE"
    assert any("AWS::Made::Up is not supported" in event for event in cfn.events(stack))


def test_q6_dynamic_references_are_resolved(cfn, aws, suffix):
    secret_arn = aws("secretsmanager").create_secret(
        Name=f"dynamic-{suffix}", SecretString=json.dumps({"password": "from-secret"})
    )["ARN"]
    aws("ssm").put_parameter(Name=f"/dynamic/{suffix}", Value="from-ssm", Type="String")
    references = {
        "FromSecret": f"{{{{resolve:secretsmanager:{secret_arn}:SecretString:password::}}}}",
        "FromSsm": f"prefix-{{{{resolve:ssm:/dynamic/{suffix}}}}}",
    }
    resources = {
        name: {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": f"/{name}/{suffix}", "Type": "String", "Value": value},
        }
        for name, value in references.items()
    }

    stack = cfn.deploy(template(resources, {name: ref(name) for name in references}))

    stored = {name: aws("ssm").get_parameter(Name=stack.outputs[name])["Parameter"]["Value"] for name in references}
    assert stored == {"FromSecret": "from-secret", "FromSsm": "prefix-from-ssm"}


def test_r12_change_sets_are_found_by_name_within_their_stack(cfn, suffix):
    first, second = cfn.deploy(template({"Queue": QUEUE})), cfn.deploy(template({"Queue": QUEUE}))
    for stack in (first, second):
        cfn.client.create_change_set(
            StackName=stack.name, ChangeSetName="pending", ChangeSetType="UPDATE", TemplateBody=json.dumps(template({}))
        )

    cfn.client.delete_change_set(StackName=first.id, ChangeSetName="pending")
    cfn.client.delete_change_set(StackName=first.id, ChangeSetName="pending")  # gone already: no error

    with pytest.raises(ClientError) as missing:
        cfn.client.describe_change_set(StackName=first.id, ChangeSetName="pending")
    assert missing.value.response["Error"]["Code"] == "ChangeSetNotFound"
    assert cfn.client.describe_change_set(StackName=second.id, ChangeSetName="pending")["StackId"] == second.id


def test_r13_update_keeps_ssm_typed_parameters(cfn, aws, suffix):
    aws("ssm").put_parameter(Name=f"/bootstrap/{suffix}", Value="33", Type="String")
    parameters = {"Version": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": f"/bootstrap/{suffix}"}}
    stack = cfn.deploy(template({"Queue": QUEUE}, {"Version": ref("Version")}, Parameters=parameters))
    updated = template({"Queue": QUEUE, "Second": QUEUE}, {"Version": ref("Version")}, Parameters=parameters)

    change_set = cfn.client.create_change_set(
        StackName=stack.name,
        ChangeSetName="update",
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(updated),
        Parameters=[{"ParameterKey": "Version", "UsePreviousValue": True}],
    )
    cfn.client.execute_change_set(ChangeSetName=change_set["Id"])

    after = cfn.describe(stack.id)
    assert (after.status, after.outputs["Version"]) == ("UPDATE_COMPLETE", "33")
    listed = cfn.client.list_stack_resources(StackName=stack.id)["StackResourceSummaries"]
    assert {r["LogicalResourceId"] for r in listed} == {"Queue", "Second"}


def test_r14_termination_protection_refuses_delete_stack_until_lifted(cfn, aws, suffix):
    stack = cfn.deploy(template({"Queue": QUEUE}))
    cfn.client.update_termination_protection(StackName=stack.name, EnableTerminationProtection=True)
    assert cfn.describe(stack.id).description["EnableTerminationProtection"] is True

    with pytest.raises(ClientError) as refused:
        cfn.client.delete_stack(StackName=stack.name)

    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refused.value.response["Error"]["Message"] == (
        f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled"
    )
    assert cfn.describe(stack.id).status == "CREATE_COMPLETE"  # nothing was deleted
    cfn.client.update_termination_protection(StackName=stack.id, EnableTerminationProtection=False)
    assert cfn.delete(stack).status == "DELETE_COMPLETE"


def test_q18_a_resource_is_deleted_after_everything_that_depends_on_it(cfn, monkeypatch):
    """AWS CloudFormation User Guide, "DependsOn attribute": a resource that depends on another is
    created after it and deleted before it,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html.
    moto walked a set (another order each run): the network layer's nested stack went before the
    resilience layer's, whose VPC function then could not run. Fails without Q18 (a chain of ten in
    set order is the exact reverse once in 3.6 million runs)."""
    deleted: list[int] = []
    original = Topic.delete

    def recording(topic: Topic, account_id: str, region_name: str) -> None:
        deleted.append(int(re.search(r"Topic(\d)", topic.name).group(1)))  # type: ignore[union-attr]
        original(topic, account_id, region_name)

    monkeypatch.setattr(Topic, "delete", recording)
    chain = {
        f"Topic{i}": {"Type": "AWS::SNS::Topic", "Properties": {}, **({"DependsOn": f"Topic{i - 1}"} if i else {})}
        for i in range(10)
    }
    stack = cfn.deploy(template(chain))

    assert cfn.delete(stack).status == "DELETE_COMPLETE"
    assert deleted == list(reversed(range(10)))
