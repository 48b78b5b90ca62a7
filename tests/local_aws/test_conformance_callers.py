"""Conformance: who is calling. A function calls with its execution role's temporary credentials, in
a session named after the function; AWS Backup works with the role its job was given.

AWS Lambda Developer Guide, "Defining Lambda function permissions with an execution role",
https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html: "When you invoke your
function, Lambda automatically provides your function with temporary credentials by assuming this
role"; AWS Lambda Developer Guide, "Working with Lambda environment variables", defined runtime
environment variables, https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime:
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN are "the access keys obtained from the
function's execution role". AWS STS API Reference, "GetCallerIdentity",
https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html: with role
credentials the Arn is ``arn:aws:sts::<account>:assumed-role/<role-name>/<role-session-name>`` and
the UserId ``<role id>:<role-session-name>``; Lambda names the session after the function (what
tests/integration/test_caller_identity.py checks on AWS). AWS Backup Developer Guide, "IAM service
roles", https://docs.aws.amazon.com/aws-backup/latest/devguide/iam-service-roles.html: "AWS Backup
uses this role to create, tag, and delete resources in your account".
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator import ACCOUNT, backup_service_role
from tools.local_aws import clock
from tools.local_aws.pipeline import caller, network
from tools.local_aws.pipeline.request import Caller, Denial, Request

from .helpers import (
    TRUST_LAMBDA,
    VPC_ACCESS_POLICY,
    backup_job_done,
    get_att,
    interface_endpoint,
    ref,
    role,
    template,
)

WHO_AM_I = """
import os
import boto3

def handler(event, context):
    identity = boto3.client("sts").get_caller_identity()
    return {
        "Arn": identity["Arn"],
        "UserId": identity["UserId"],
        "Account": identity["Account"],
        "AccessKeyId": os.environ["AWS_ACCESS_KEY_ID"],
        "HasSecretAndToken": bool(os.environ["AWS_SECRET_ACCESS_KEY"] and os.environ["AWS_SESSION_TOKEN"]),
    }
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def execution_role(aws: Callable[[str], Any]) -> dict[str, Any]:
    iam = aws("iam")
    name = f"caller-tests-{uuid.uuid4().hex[:6]}"
    created: dict[str, Any] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName=VPC_ACCESS_POLICY["PolicyName"],
        PolicyDocument=json.dumps(VPC_ACCESS_POLICY["PolicyDocument"]),
    )
    return created


def _function(aws: Callable[[str], Any], role_arn: str, suffix: str, **config: Any) -> str:
    name = f"who-am-i-{suffix}-{uuid.uuid4().hex[:4]}"
    aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="index.handler",
        Code={"ZipFile": _zip(WHO_AM_I)},
        Timeout=10,
        **config,
    )
    return name


def _who_am_i(aws: Callable[[str], Any], name: str) -> dict[str, Any]:
    response = aws("lambda").invoke(FunctionName=name, LogType="Tail")
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, (body, base64.b64decode(response["LogResult"]).decode())
    return body


def test_get_caller_identity_inside_a_function_is_its_role_session_named_after_the_function(
    aws, execution_role, suffix
):
    name = _function(aws, execution_role["Arn"], suffix)

    identity = _who_am_i(aws, name)

    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{execution_role['RoleName']}/{name}"
    assert identity["UserId"] == f"{execution_role['RoleId']}:{name}"
    assert identity["Account"] == ACCOUNT
    assert identity["AccessKeyId"].startswith("ASIA") and identity["HasSecretAndToken"]


def test_a_vpc_functions_credentials_identify_the_function_its_subnets_and_security_groups(aws, execution_role, suffix):
    ec2 = aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.43.1.0/24")["Subnet"]["SubnetId"]
    group_id = ec2.create_security_group(GroupName=f"who-{suffix}", Description="fn", VpcId=vpc_id)["GroupId"]
    interface_endpoint(aws, "sts", subnet_id, group_id)  # a VPC function reaches STS through one
    name = _function(
        aws, execution_role["Arn"], suffix, VpcConfig={"SubnetIds": [subnet_id], "SecurityGroupIds": [group_id]}
    )

    key = _who_am_i(aws, name)["AccessKeyId"]

    assert caller.caller_of(key).function_name == name
    assert caller.caller_of(key) == Caller(
        ACCOUNT,
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{execution_role['RoleName']}/{name}",
        role_arn=execution_role["Arn"],
        session_name=name,
        function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
        subnet_ids=(subnet_id,),
        security_group_ids=(group_id,),
        subnet_id=subnet_id,
    )


def test_an_environment_keeps_its_credentials_while_warm_and_a_new_one_gets_its_own(aws, execution_role, suffix):
    """Each environment has its own credentials; one whose credentials would expire is replaced."""
    name = _function(aws, execution_role["Arn"], suffix)
    first = _who_am_i(aws, name)
    warm = _who_am_i(aws, name)

    clock.CLOCK.jump(timedelta(seconds=caller.FUNCTION_SESSION_SECONDS))
    renewed = _who_am_i(aws, name)

    assert warm["AccessKeyId"] == first["AccessKeyId"]
    assert renewed["AccessKeyId"] != first["AccessKeyId"]
    assert renewed["Arn"] == first["Arn"]


# A custom resource provider that answers with whom it called STS as.
PROVIDER = """
import json
import urllib.request
import boto3


def handler(event, context):
    body = {
        "Status": "SUCCESS",
        "PhysicalResourceId": "who-am-i",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {"Arn": boto3.client("sts").get_caller_identity()["Arn"]},
    }
    request = urllib.request.Request(
        event["ResponseURL"], data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": ""}
    )
    urllib.request.urlopen(request, timeout=10).close()
"""


def test_a_custom_resource_runs_as_its_provider_function(cfn):
    provider = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.12",
            "Handler": "index.handler",
            "Code": {"ZipFile": PROVIDER},
            "Role": get_att("ProviderRole", "Arn"),
            "Timeout": 10,
        },
    }
    resources = {
        "ProviderRole": role(),
        "Provider": provider,
        "WhoAmI": {"Type": "Custom::WhoAmI", "Properties": {"ServiceToken": get_att("Provider", "Arn")}},
    }
    outputs = {"Arn": get_att("WhoAmI", "Arn"), "Role": ref("ProviderRole"), "Function": ref("Provider")}

    stack = cfn.deploy(template(resources, outputs))

    assert stack.status == "CREATE_COMPLETE", cfn.events(stack)
    role_name, function_name = stack.outputs["Role"], stack.outputs["Function"]
    assert stack.outputs["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{function_name}"


def test_the_local_dummy_credentials_are_the_accounts_root():
    assert caller.caller_of("testing") == Caller.root(ACCOUNT)
    assert caller.caller_of("testing").is_root


def test_aws_backup_connects_to_an_aurora_cluster_as_the_jobs_role(aws, monkeypatch, suffix):
    """The pg_dump of a backup job passes the pipeline's network step as AWS Backup with the job's
    role; a connection the step refuses fails the job with the reason."""
    role_arn = backup_service_role(aws, f"backup-role-{suffix}")
    rds, backup = aws("rds"), aws("backup")
    vault = f"vault-{suffix}"
    backup.create_backup_vault(BackupVaultName=vault)
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=f"callers-{suffix}",
        Engine="aurora-postgresql",
        MasterUsername="master",
        MasterUserPassword="correct-horse-battery",
        DatabaseName="orders",
    )["DBCluster"]
    connections: list[Request] = []
    refuse = False

    def decide(request: Request) -> Denial | None:
        if request.service != "rds-db":
            return None
        connections.append(request)
        return Denial(400, "ConnectTimeout", "the cluster is unreachable") if refuse else None

    monkeypatch.setattr(network, "decide", decide)
    job = {"BackupVaultName": vault, "ResourceArn": cluster["DBClusterArn"], "IamRoleArn": role_arn}
    try:
        completed = backup_job_done(aws, backup.start_backup_job(**job)["BackupJobId"])
        refuse = True
        failed = backup_job_done(aws, backup.start_backup_job(**job)["BackupJobId"])

        assert completed["State"] == "COMPLETED"
        assert failed["State"] == "FAILED"
        assert f"pg_dump could not connect to callers-{suffix}: the cluster is unreachable" in failed["StatusMessage"]
        assert [(c.operation, c.resource) for c in connections] == [("connect", f"callers-{suffix}")] * 2
        assert {c.caller for c in connections} == {caller.service_caller(role_arn, "backup.amazonaws.com")}
    finally:
        for point in backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]:
            backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point["RecoveryPointArn"])
        backup.delete_backup_vault(BackupVaultName=vault)
        with contextlib.suppress(ClientError):
            rds.delete_db_cluster(DBClusterIdentifier=f"callers-{suffix}", SkipFinalSnapshot=True)
