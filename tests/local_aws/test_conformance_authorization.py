"""Conformance: a function's requests are authorized as IAM does it, through the request pipeline,
and a refusal is the error AWS answers in each protocol.

IAM User Guide, "Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html (an explicit
Deny wins; within one account an Allow in an identity-based or a resource-based policy allows);
IAM User Guide, "Troubleshoot access denied error messages",
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html ("User: <principal>
is not authorized to perform: <action> on resource: <arn> because no identity-based policy allows
the <action> action"); AWS KMS Developer Guide, "Default key policy",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html ("Unlike other AWS
resource policies, an AWS KMS key policy does not automatically give permission to the account or
any of its identities"); Amazon S3 API Reference, "Error responses",
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (AccessDenied, 403, "Access
Denied"); Amazon RDS API Reference, "Common Errors",
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html (AccessDenied, 403).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator import ACCOUNT
from tools.local_aws.pipeline import policy

from .helpers import TRUST_LAMBDA, as_role

# The function calls one API with its role's credentials and answers with the outcome.
CALLER = """
import boto3
from botocore.exceptions import ClientError


def handler(event, context):
    client = boto3.client(event["service"])
    try:
        getattr(client, event["operation"])(**event["params"])
    except ClientError as error:
        return {
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"].get("Message", ""),
        }
    return {"status": 200}
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


class Function:
    """A function with a role of its own that makes one call per invocation."""

    def __init__(self, aws: Callable[[str], Any], suffix: str):
        self.aws = aws
        self.role_name = f"authz-{suffix}"
        iam = aws("iam")
        self.role_arn = iam.create_role(RoleName=self.role_name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))[
            "Role"
        ]["Arn"]
        self.name = f"authz-{suffix}"
        aws("lambda").create_function(
            FunctionName=self.name,
            Runtime="python3.12",
            Role=self.role_arn,
            Handler="index.handler",
            Code={"ZipFile": _zip(CALLER)},
            Timeout=30,
        )
        self.session = f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role_name}/{self.name}"

    def allow(self, actions: list[str], resource: str | list[str], effect: str = "Allow", name: str = "grant") -> None:
        """An inline policy through IAM's API (as an operator would change the role)."""
        statement = {"Effect": effect, "Action": actions, "Resource": resource}
        self.aws("iam").put_role_policy(
            RoleName=self.role_name,
            PolicyName=name,
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        event = {"service": service, "operation": operation, "params": params}
        response = self.aws("lambda").invoke(FunctionName=self.name, Payload=json.dumps(event))
        answer: dict[str, Any] = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, answer
        return answer


@pytest.fixture
def fn(aws, suffix) -> Function:
    return Function(aws, suffix)


def _not_authorized(fn: Function, action: str, resource: str, why: str) -> str:
    return f"User: {fn.session} is not authorized to perform: {action} on resource: {resource} {why}"


def _table(aws, suffix: str) -> str:
    name = f"authz-table-{suffix}"
    table = aws("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return str(table["TableDescription"]["TableArn"])


def test_a_json_api_refuses_an_action_the_role_lacks_with_aws_s_message_and_allows_it_once_granted(aws, fn, suffix):
    table_arn = _table(aws, suffix)
    item = {"pk": {"S": "heartbeat"}}

    refused = fn.call("dynamodb", "put_item", TableName=table_arn.rsplit("/", 1)[1], Item=item)
    fn.allow(["dynamodb:PutItem"], table_arn)
    granted = fn.call("dynamodb", "put_item", TableName=table_arn.rsplit("/", 1)[1], Item=item)
    fn.allow(["dynamodb:PutItem"], table_arn, effect="Deny", name="deny")
    denied = fn.call("dynamodb", "put_item", TableName=table_arn.rsplit("/", 1)[1], Item=item)

    assert refused == {
        "status": 400,
        "code": "AccessDeniedException",
        "message": _not_authorized(
            fn, "dynamodb:PutItem", table_arn, "because no identity-based policy allows the dynamodb:PutItem action"
        ),
    }
    assert granted == {"status": 200}
    assert denied["message"] == _not_authorized(
        fn, "dynamodb:PutItem", table_arn, "with an explicit deny in an identity-based policy"
    )


def test_s3_refuses_with_403_access_denied_and_a_grant_on_the_exact_object_allows(aws, fn, suffix):
    bucket = f"authz-{suffix}"
    aws("s3").create_bucket(Bucket=bucket)

    refused = fn.call("s3", "put_object", Bucket=bucket, Key="heartbeat/latest.json", Body="{}")
    fn.allow(["s3:PutObject", "s3:GetObject"], f"arn:aws:s3:::{bucket}/heartbeat/latest.json")
    granted = fn.call("s3", "put_object", Bucket=bucket, Key="heartbeat/latest.json", Body="{}")
    elsewhere = fn.call("s3", "put_object", Bucket=bucket, Key="heartbeat/other.json", Body="{}")

    assert refused == {"status": 403, "code": "AccessDenied", "message": "Access Denied"}
    assert granted == {"status": 200}
    assert elsewhere["code"] == "AccessDenied"


def test_an_explicit_deny_in_a_bucket_policy_wins_over_the_roles_allow(aws, fn, suffix):
    bucket = f"authz-{suffix}"
    aws("s3").create_bucket(Bucket=bucket)
    fn.allow(["s3:PutObject"], f"arn:aws:s3:::{bucket}/*")
    before = fn.call("s3", "put_object", Bucket=bucket, Key="k", Body="x")
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": fn.role_arn},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    aws("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))

    after = fn.call("s3", "put_object", Bucket=bucket, Key="k", Body="x")

    assert before == {"status": 200}
    assert after == {"status": 403, "code": "AccessDenied", "message": "Access Denied"}


def test_a_query_api_refuses_with_403_access_denied(fn):
    cluster_arn = f"arn:aws:rds:us-east-1:{ACCOUNT}:cluster:authz-nothing"

    refused = fn.call("rds", "describe_db_clusters", DBClusterIdentifier="authz-nothing")

    assert refused == {
        "status": 403,
        "code": "AccessDenied",
        "message": _not_authorized(
            fn,
            "rds:DescribeDBClusters",
            cluster_arn,
            "because no identity-based policy allows the rds:DescribeDBClusters action",
        ),
    }


def test_a_queue_policy_naming_the_role_allows_without_an_identity_policy(aws, fn, suffix):
    """Same account: an Allow in the resource-based policy for the principal is enough."""
    queue_url = aws("sqs").create_queue(QueueName=f"authz-{suffix}")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:authz-{suffix}"

    refused = fn.call("sqs", "send_message", QueueUrl=queue_url, MessageBody="x")
    allow = {"Effect": "Allow", "Principal": {"AWS": fn.role_arn}, "Action": "sqs:SendMessage", "Resource": queue_arn}
    aws("sqs").set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [allow]})}
    )
    granted = fn.call("sqs", "send_message", QueueUrl=queue_url, MessageBody="x")

    assert refused["code"] == "AccessDeniedException" and "sqs:SendMessage" in refused["message"]
    assert granted == {"status": 200}


def test_a_kms_key_without_the_root_statement_is_not_granted_by_identity_policies(aws, fn):
    """The key policy names only another principal: the role's own Allow does not reach the key."""
    other = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/key-admin"},
        "Action": "kms:*",
        "Resource": "*",
    }
    kms = aws("kms")
    closed = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]}))["KeyMetadata"]["Arn"]
    delegating = kms.create_key()["KeyMetadata"]["Arn"]  # the default key policy: the root statement
    fn.allow(["kms:GenerateDataKey"], [closed, delegating])

    refused = fn.call("kms", "generate_data_key", KeyId=closed, KeySpec="AES_256")
    granted = fn.call("kms", "generate_data_key", KeyId=delegating, KeySpec="AES_256")

    assert refused == {
        "status": 400,
        "code": "AccessDeniedException",
        "message": _not_authorized(
            fn, "kms:GenerateDataKey", closed, "because no resource-based policy allows the kms:GenerateDataKey action"
        ),
    }
    assert granted == {"status": 200}


def test_an_operation_the_map_does_not_know_is_refused_by_name(fn, suffix):
    refused = fn.call("dynamodb", "delete_table", TableName=f"authz-table-{suffix}")

    assert refused["code"] == "AccessDeniedException"
    assert "dynamodb:DeleteTable" in refused["message"] and "ACTIONS" in refused["message"]


def test_the_operator_is_not_evaluated_and_the_switch_turns_enforcement_off(aws, fn, suffix, monkeypatch):
    """The operator's keys (the root: CLI, tests, drill) are not evaluated; LOCAL_AWS_IAM=off in the
    server's environment turns enforcement off for debugging (never in CI)."""
    table_arn = _table(aws, suffix)
    name = table_arn.rsplit("/", 1)[1]
    aws("dynamodb").put_item(TableName=name, Item={"pk": {"S": "operator"}})

    monkeypatch.setenv(policy.SWITCH, "off")
    unenforced = fn.call("dynamodb", "put_item", TableName=name, Item={"pk": {"S": "function"}})

    assert unenforced == {"status": 200}


def test_a_function_keeps_reaching_what_needs_no_permission(fn):
    """AWS STS API Reference, GetCallerIdentity: "No permissions are required to perform this operation."
    https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html"""
    assert fn.call("sts", "get_caller_identity") == {"status": 200}


def test_a_session_of_a_role_only_services_assume_is_the_apps_and_one_the_account_trusts_the_operators(
    aws, endpoint, suffix
):
    """Which role sessions are the app's (evaluated) and which the operator's (not): a role only AWS
    services may assume (a function's, AWS Backup's) is the app's; a role the account trusts (the
    CDK CLI's bootstrap roles, whose trust policy may hold statements CloudFormation left out with
    AWS::NoValue) is the operator's. IAM User Guide, "Role trust policies",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles.html#iam-term-trust-policy."""
    iam, table = aws("iam"), _table(aws, suffix).rsplit("/", 1)[1]
    operator_trust = {
        "Version": "2012-10-17",
        "Statement": [
            None,  # what CloudFormation leaves of a statement behind Fn::If and AWS::NoValue
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"},
        ],
    }
    answers = {}
    for kind, trust in (("app", TRUST_LAMBDA), ("operator", operator_trust)):
        arn = iam.create_role(RoleName=f"{kind}-{suffix}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        try:
            as_role(aws, arn, endpoint, kind)("dynamodb").put_item(TableName=table, Item={"pk": {"S": kind}})
            answers[kind] = "allowed"
        except ClientError as error:
            answers[kind] = error.response["Error"]["Code"]

    assert answers == {"app": "AccessDeniedException", "operator": "allowed"}
