"""Small templates and a CloudFormation deploy helper for the emulator tests."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from lib.build.lambda_bundle import bundle_function
from lib.network_reachability import FUNCTION_PACKAGES
from tests.emulator import REGION


@dataclass
class Stack:
    """A stack as DescribeStacks returns it, plus its outputs as a dict."""

    description: dict[str, Any]
    outputs: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in self.description.get("Outputs", [])}

    @property
    def id(self) -> str:
        return self.description["StackId"]

    @property
    def name(self) -> str:
        return self.description["StackName"]

    @property
    def status(self) -> str:
        return self.description["StackStatus"]


class CloudFormation:
    """Deploys and deletes templates the way the CDK CLI does (change set, then execute)."""

    def __init__(self, aws: Callable[[str], Any], suffix: str):
        self.client = aws("cloudformation")
        self.suffix = suffix
        self.deployed: list[str] = []

    def deploy(self, template: dict[str, Any] | None = None, **change_set: Any) -> Stack:
        """Create a stack through a change set from ``template`` (or e.g. ``TemplateURL=...``)."""
        arguments = {
            "StackName": f"test-{self.suffix}-{len(self.deployed)}",
            "ChangeSetName": "create",
            "ChangeSetType": "CREATE",
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            **({"TemplateBody": json.dumps(template)} if template is not None else {}),
            **change_set,
        }
        created = self.client.create_change_set(**arguments)
        self.deployed.append(created["StackId"])
        self.client.execute_change_set(ChangeSetName=created["Id"])
        return self.describe(created["StackId"])

    def describe(self, stack_id: str) -> Stack:
        return Stack(self.client.describe_stacks(StackName=stack_id)["Stacks"][0])

    def delete(self, stack: Stack) -> Stack:
        """Delete the stack and return its final state (deleted stacks stay readable by id)."""
        self.client.delete_stack(StackName=stack.id)
        return self.describe(stack.id)

    def events(self, stack: Stack) -> list[str]:
        return [
            f"{e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
            for e in self.client.describe_stack_events(StackName=stack.id)["StackEvents"]
        ]


def template(resources: dict[str, Any], outputs: dict[str, Any] | None = None, **sections: Any) -> dict[str, Any]:
    """A template from its Resources and Outputs (values given as intrinsic-function dicts)."""
    body: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources, **sections}
    if outputs:
        body["Outputs"] = {key: {"Value": value} for key, value in outputs.items()}
    return body


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


TRUST_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


# The inline policy a VPC function's role needs before the function can be created (fix Q8).
VPC_ACCESS_POLICY = {
    "PolicyName": "vpc-access",
    "PolicyDocument": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface"],
                "Resource": "*",
            }
        ],
    },
}


def role(name: str | None = None, **properties: Any) -> dict[str, Any]:
    """An IAM role Lambda can assume."""
    named = {"RoleName": name} if name else {}
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST_LAMBDA, **named, **properties}}


def grants(*actions: str, resource: Any = "*") -> dict[str, Any]:
    """Role properties with an inline policy that allows ``actions`` on ``resource`` (the local
    target enforces IAM for a function's role, as AWS does)."""
    statement = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    return {
        "Policies": [{"PolicyName": "grants", "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}]
    }


def function(role_id: str, **properties: Any) -> dict[str, Any]:
    """A small Python Lambda function (inline code) run by the role ``role_id``."""
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.12",
            "Handler": "index.handler",
            "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
            "Role": get_att(role_id, "Arn"),
            **properties,
        },
    }


def vpc(cidr: str = "10.0.0.0/16", **properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": cidr, **properties}}


def subnet(vpc_id: str, cidr: str, zone: str = "us-east-1a", **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::EC2::Subnet",
        "Properties": {"VpcId": ref(vpc_id), "CidrBlock": cidr, "AvailabilityZone": zone, **properties},
    }


def interface_endpoint(aws: Callable[[str], Any], service: str, subnet_id: str, group_id: str) -> str:
    """An interface endpoint for ``service`` with private DNS, its ENI in ``subnet_id``, and the
    security group ``group_id`` admitting itself on 443: what a VPC function in that group needs to
    call the service (the VPC gets DNS hostnames, which private DNS needs)."""
    ec2 = aws("ec2")
    vpc_id = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    permission = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": group_id}]}
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc_id,
        VpcEndpointType="Interface",
        ServiceName=f"com.amazonaws.us-east-1.{service}",
        SubnetIds=[subnet_id],
        SecurityGroupIds=[group_id],
        PrivateDnsEnabled=True,
    )
    return str(endpoint["VpcEndpoint"]["VpcEndpointId"])


def until(condition: Callable[[], Any], *, minutes: int, what: str) -> Any:
    """Advance the emulator's clock a minute at a time until ``condition()`` is truthy (its value)."""
    from datetime import timedelta

    from tools.local_aws.clock import CLOCK

    for _ in range(minutes + 1):
        result = condition()
        if result:
            return result
        CLOCK.advance(timedelta(minutes=1))
    raise AssertionError(f"{what}: not within {minutes} emulated minutes")


def deliver_backup_events() -> None:
    """Let AWS Backup's next five-minute delivery of events and metrics pass."""
    from tools.local_aws.clock import CLOCK
    from tools.local_aws.services.backup import jobs as backup_engine

    CLOCK.advance(backup_engine.DELIVERY_INTERVAL)


def backup_job_done(aws: Callable[[str], Any], job_id: str, minutes: int = 60) -> dict[str, Any]:
    """A backup job's description once it has ended (AWS Backup jobs take minutes, on the clock),
    after its events and metrics have been delivered."""
    backup = aws("backup")

    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = backup.describe_backup_job(BackupJobId=job_id)
        return None if job["State"] in ("CREATED", "PENDING", "RUNNING") else job

    job = dict(until(ended, minutes=minutes, what=f"backup job {job_id}"))
    deliver_backup_events()
    return job


def restore_job_done(aws: Callable[[str], Any], job_id: str, minutes: int = 60) -> dict[str, Any]:
    """A restore job's description once it has ended, after its events have been delivered."""
    backup = aws("backup")

    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = backup.describe_restore_job(RestoreJobId=job_id)
        return None if job["Status"] in ("PENDING", "RUNNING") else job

    job = dict(until(ended, minutes=minutes, what=f"restore job {job_id}"))
    deliver_backup_events()
    return job


def allow_events(aws: Callable[[str], Any], arn: str) -> None:
    """Let EventBridge (any rule of this account) send to the queue or publish to the topic ``arn``,
    as a target or dead-letter queue needs: the resource policy CDK writes for a rule's target."""
    service, action = ("sqs", "sqs:SendMessage") if ":sqs:" in arn else ("sns", "sns:Publish")
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": action,
        "Resource": arn,
        "Condition": {"StringEquals": {"aws:SourceAccount": arn.split(":")[4]}},
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    if service == "sqs":
        url = aws("sqs").get_queue_url(QueueName=arn.split(":")[5])["QueueUrl"]
        aws("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    else:
        aws("sns").set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=policy)


def events_queue(aws: Callable[[str], Any], name: str) -> tuple[str, str]:
    """A queue EventBridge may send to (as a rule's target or DLQ): its URL and ARN."""
    url = aws("sqs").create_queue(QueueName=name)["QueueUrl"]
    arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    allow_events(aws, arn)
    return str(url), str(arn)


RAISES = 'def handler(event, context):\n    raise ValueError("boom")\n'


def failing_function(aws: Callable[[str], Any], role_arn: str, name: str, **config: Any) -> str:
    """A Python function ``name`` that always raises, run by ``role_arn`` (``config``: more of
    CreateFunction's parameters, e.g. DeadLetterConfig)."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", RAISES)
    aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
        **config,
    )
    return name


def kit_function_code(aws: Callable[[str], Any], function_type: str, bucket: str) -> dict[str, str]:
    """The kit's package of ``function_type`` (lib/lambda, with the shared package and its pinned
    dependencies) zipped into ``bucket``, as CDK's asset upload does: a template's ``Code``."""
    package = bundle_function(FUNCTION_PACKAGES[function_type])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(package.rglob("*")):
            archive.write(path, path.relative_to(package).as_posix())
    aws("s3").create_bucket(Bucket=bucket)
    aws("s3").put_object(Bucket=bucket, Key=f"{function_type}.zip", Body=buffer.getvalue())
    return {"S3Bucket": bucket, "S3Key": f"{function_type}.zip"}


def as_role(
    aws: Callable[[str], Any], role_arn: str, endpoint: str, session_name: str = "tests"
) -> Callable[[str], Any]:
    """Clients that call as a session of ``role_arn`` (for a role only services may assume, the app's,
    IAM is enforced; for one the account trusts, the operator's, it is not)."""
    credentials = aws("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )
    return lambda service: session.client(service, endpoint_url=endpoint)


def queue_subscribed_to(aws: Callable[[str], Any], topic_arn: str, name: str) -> str:
    """A queue ``name`` subscribed to ``topic_arn``, its policy letting SNS send for that topic only (as
    AWS requires): the queue's URL."""
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}
    )
    aws("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return str(url)
