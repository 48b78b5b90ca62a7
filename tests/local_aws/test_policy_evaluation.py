"""The IAM policy evaluator (tools/local_aws/pipeline/policy.py): a table of policy x request cases,
each with the decision the AWS page it names documents. Same account only (the kit has one).

Pages:
- EVAL: IAM User Guide, "Policy evaluation logic",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html, and
  "Determining whether a request is allowed or denied within an account",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
- RESOURCE_POLICIES: IAM User Guide, "Identity-based policies and resource-based policies",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_identity-vs-resource.html
- ACTION / NOTACTION / RESOURCE / NOTRESOURCE / PRINCIPAL / NOTPRINCIPAL: IAM User Guide, "IAM JSON
  policy elements: Action" (.../reference_policies_elements_action.html), "NotAction"
  (..._notaction.html), "Resource" (..._resource.html: wildcards ``*`` and ``?`` within ARN segments),
  "NotResource" (..._notresource.html), "Principal" (..._principal.html), "NotPrincipal"
  (..._notprincipal.html), all under https://docs.aws.amazon.com/IAM/latest/UserGuide/
- OPERATORS: IAM User Guide, "IAM JSON policy elements: Condition operators",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  (a missing key: the condition is false, ...IfExists true; Null; ARN parts matched separately)
- MULTI: IAM User Guide, "Single-valued vs. multivalued context keys",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
- KMS: AWS KMS Developer Guide, "Default key policy" ("Allows access to the AWS account and enables
  IAM policies"), https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html, and
  "kms:ViaService", https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
- S3_TLS: Amazon S3 User Guide, "Bucket policy examples using condition keys" (s3:TlsVersion),
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html
- DENIED: IAM User Guide, "Troubleshoot access denied error messages",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html ("User: <arn> is
  not authorized to perform: <action> on resource: <arn> because no identity-based policy allows
  the <action> action" / "with an explicit deny in a resource-based policy")
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from tools.local_aws.pipeline import policy
from tools.local_aws.pipeline.request import Caller, Denial

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/health-check-role"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/health-check-role/health-check-dev"
FUNCTION = Caller(
    ACCOUNT,
    SESSION,
    role_arn=ROLE,
    session_name="health-check-dev",
    function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:health-check-dev",
)
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/app-table-dev"
BUCKET = "arn:aws:s3:::data-bucket-dev"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dead-letter-dev"


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOWED = None
NO_IDENTITY = "because no identity-based policy allows"
NO_RESOURCE = "because no resource-based policy allows"
IDENTITY_DENY = "with an explicit deny in an identity-based policy"
RESOURCE_DENY = "with an explicit deny in a resource-based policy"
ROOT_KEY_STATEMENT = allow("kms:*", Principal={"AWS": ROOT}, Sid="Enable IAM User Permissions")
TLS_DENIES = doc(
    deny("s3:*", [BUCKET, f"{BUCKET}/*"], Principal={"AWS": "*"}, Condition={"Bool": {"aws:SecureTransport": "false"}}),
    deny(
        "s3:*", [BUCKET, f"{BUCKET}/*"], Principal={"AWS": "*"}, Condition={"NumericLessThan": {"s3:TlsVersion": 1.2}}
    ),
)


@dataclass(frozen=True)
class Case:
    name: str
    page: str
    action: str
    resource: str
    identity: tuple[dict[str, Any], ...] = ()
    on_resource: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    expected: str | None = ALLOWED


CASES = [
    # --- the basic logic
    Case("no policy: implicit deny", "EVAL", "dynamodb:PutItem", TABLE, expected=NO_IDENTITY),
    Case("identity Allow", "EVAL", "dynamodb:PutItem", TABLE, (doc(allow("dynamodb:PutItem", TABLE)),)),
    Case(
        "Allow for another table",
        "EVAL",
        "dynamodb:PutItem",
        TABLE,
        (doc(allow("dynamodb:PutItem", TABLE + "-old")),),
        expected=NO_IDENTITY,
    ),
    Case(
        "Deny wins over Allow",
        "EVAL",
        "dynamodb:PutItem",
        TABLE,
        (doc(allow("dynamodb:PutItem", TABLE)), doc(deny("dynamodb:PutItem", TABLE))),
        expected=IDENTITY_DENY,
    ),
    Case(
        "managed + inline add up",
        "EVAL",
        "dynamodb:GetItem",
        TABLE,
        (doc(allow("dynamodb:PutItem", TABLE)), doc(allow("dynamodb:GetItem", TABLE))),
    ),
    # --- elements
    Case("action names ignore case", "ACTION", "dynamodb:PutItem", TABLE, (doc(allow("DynamoDB:putitem", TABLE)),)),
    Case("action wildcard *", "ACTION", "dynamodb:PutItem", TABLE, (doc(allow("dynamodb:Put*", TABLE)),)),
    Case("action wildcard ?", "ACTION", "dynamodb:GetItem", TABLE, (doc(allow("dynamodb:?etItem", TABLE)),)),
    Case(
        "NotAction allows every other action",
        "NOTACTION",
        "dynamodb:GetItem",
        TABLE,
        (doc({"Effect": "Allow", "NotAction": "dynamodb:PutItem", "Resource": TABLE}),),
    ),
    Case(
        "NotAction does not cover the named one",
        "NOTACTION",
        "dynamodb:PutItem",
        TABLE,
        (doc({"Effect": "Allow", "NotAction": "dynamodb:PutItem", "Resource": TABLE}),),
        expected=NO_IDENTITY,
    ),
    Case(
        "resource wildcard in a segment",
        "RESOURCE",
        "s3:GetObject",
        f"{BUCKET}/heartbeat/latest.json",
        (doc(allow("s3:GetObject", f"{BUCKET}/heartbeat/*")),),
    ),
    Case(
        "resource prefix scope holds",
        "RESOURCE",
        "s3:GetObject",
        f"{BUCKET}/other/latest.json",
        (doc(allow("s3:GetObject", f"{BUCKET}/heartbeat/*")),),
        expected=NO_IDENTITY,
    ),
    Case(
        "resource ? wildcard",
        "RESOURCE",
        "dynamodb:Query",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t1",
        (doc(allow("dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t?")),),
    ),
    Case(
        "resources are case sensitive",
        "RESOURCE",
        "dynamodb:Query",
        TABLE,
        (doc(allow("dynamodb:Query", TABLE.upper())),),
        expected=NO_IDENTITY,
    ),
    Case(
        "an action without resource type needs *",
        "RESOURCE",
        "backup:ListBackupJobs",
        "*",
        (doc(allow("backup:ListBackupJobs", f"arn:aws:backup:us-east-1:{ACCOUNT}:*")),),
        expected=NO_IDENTITY,
    ),
    Case(
        "NotResource Deny spares the named one",
        "NOTRESOURCE",
        "dynamodb:PutItem",
        TABLE,
        (doc(allow("dynamodb:PutItem", "*"), {"Effect": "Deny", "Action": "dynamodb:PutItem", "NotResource": TABLE}),),
    ),
    Case(
        "NotResource Deny covers the others",
        "NOTRESOURCE",
        "dynamodb:PutItem",
        TABLE + "-x",
        (doc(allow("dynamodb:PutItem", "*"), {"Effect": "Deny", "Action": "dynamodb:PutItem", "NotResource": TABLE}),),
        expected=IDENTITY_DENY,
    ),
    # --- resource-based policies, same account
    Case(
        "resource policy naming the role allows without identity policy",
        "RESOURCE_POLICIES",
        "sqs:SendMessage",
        QUEUE,
        on_resource=doc(allow("sqs:SendMessage", QUEUE, Principal={"AWS": ROLE})),
    ),
    Case(
        "resource policy naming the session allows",
        "RESOURCE_POLICIES",
        "sqs:SendMessage",
        QUEUE,
        on_resource=doc(allow("sqs:SendMessage", QUEUE, Principal={"AWS": SESSION})),
    ),
    Case(
        "resource policy naming the account delegates to identity policies",
        "RESOURCE_POLICIES",
        "sqs:SendMessage",
        QUEUE,
        on_resource=doc(allow("sqs:SendMessage", QUEUE, Principal={"AWS": ACCOUNT})),
        expected=NO_IDENTITY,
    ),
    Case(
        "resource policy for a service principal does not name the role",
        "PRINCIPAL",
        "sqs:SendMessage",
        QUEUE,
        on_resource=doc(allow("sqs:SendMessage", QUEUE, Principal={"Service": "events.amazonaws.com"})),
        expected=NO_IDENTITY,
    ),
    Case(
        "resource policy Deny wins over identity Allow",
        "EVAL",
        "s3:PutObject",
        f"{BUCKET}/heartbeat/latest.json",
        (doc(allow("s3:PutObject", f"{BUCKET}/*")),),
        doc(deny("s3:PutObject", f"{BUCKET}/*", Principal={"AWS": ROLE})),
        expected=RESOURCE_DENY,
    ),
    Case(
        "resource policy Deny for everyone",
        "EVAL",
        "s3:PutObject",
        f"{BUCKET}/k",
        (doc(allow("s3:PutObject", f"{BUCKET}/*")),),
        doc(deny("s3:PutObject", f"{BUCKET}/*", Principal="*")),
        expected=RESOURCE_DENY,
    ),
    Case(
        "NotPrincipal Deny spares the named role",
        "NOTPRINCIPAL",
        "s3:PutObject",
        f"{BUCKET}/k",
        (doc(allow("s3:PutObject", f"{BUCKET}/*")),),
        doc({"Effect": "Deny", "NotPrincipal": {"AWS": [ROLE, SESSION]}, "Action": "s3:*", "Resource": f"{BUCKET}/*"}),
    ),
    Case(
        "NotPrincipal Deny covers another role",
        "NOTPRINCIPAL",
        "s3:PutObject",
        f"{BUCKET}/k",
        (doc(allow("s3:PutObject", f"{BUCKET}/*")),),
        doc(
            {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"},
                "Action": "s3:*",
                "Resource": f"{BUCKET}/*",
            }
        ),
        expected=RESOURCE_DENY,
    ),
    Case(
        "CDK's TLS-only bucket policy lets a TLS 1.2+ request through",
        "S3_TLS",
        "s3:GetObject",
        f"{BUCKET}/k",
        (doc(allow("s3:GetObject", f"{BUCKET}/*")),),
        TLS_DENIES,
        {"s3:TlsVersion": "1.3"},
    ),
    Case(
        "CDK's TLS-only bucket policy denies TLS 1.1",
        "S3_TLS",
        "s3:GetObject",
        f"{BUCKET}/k",
        (doc(allow("s3:GetObject", f"{BUCKET}/*")),),
        TLS_DENIES,
        {"s3:TlsVersion": "1.1"},
        expected=RESOURCE_DENY,
    ),
    Case(
        "CDK's TLS-only bucket policy denies plain HTTP",
        "S3_TLS",
        "s3:GetObject",
        f"{BUCKET}/k",
        (doc(allow("s3:GetObject", f"{BUCKET}/*")),),
        TLS_DENIES,
        {"aws:SecureTransport": False, "s3:TlsVersion": "1.3"},
        expected=RESOURCE_DENY,
    ),
    # --- KMS key policies
    Case(
        "key policy root statement + identity Allow",
        "KMS",
        "kms:Decrypt",
        KEY,
        (doc(allow("kms:Decrypt", KEY)),),
        doc(ROOT_KEY_STATEMENT),
    ),
    Case(
        "key policy root statement, no identity Allow",
        "KMS",
        "kms:Decrypt",
        KEY,
        on_resource=doc(ROOT_KEY_STATEMENT),
        expected=NO_IDENTITY,
    ),
    Case(
        "without the root statement identity policies do not grant the key",
        "KMS",
        "kms:Decrypt",
        KEY,
        (doc(allow("kms:Decrypt", KEY)),),
        doc(allow("kms:*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"})),
        expected=NO_RESOURCE,
    ),
    Case(
        "key policy naming the role grants alone",
        "KMS",
        "kms:Decrypt",
        KEY,
        on_resource=doc(allow("kms:Decrypt", Principal={"AWS": ROLE})),
    ),
    Case(
        "kms:ViaService matches the service that calls",
        "KMS",
        "kms:GenerateDataKey",
        KEY,
        (
            doc(
                allow(
                    "kms:GenerateDataKey",
                    KEY,
                    Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
                )
            ),
        ),
        doc(ROOT_KEY_STATEMENT),
        {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
    ),
    Case(
        "kms:ViaService of another service",
        "KMS",
        "kms:GenerateDataKey",
        KEY,
        (
            doc(
                allow(
                    "kms:GenerateDataKey",
                    KEY,
                    Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
                )
            ),
        ),
        doc(ROOT_KEY_STATEMENT),
        {"kms:ViaService": "sqs.us-east-1.amazonaws.com"},
        expected=NO_IDENTITY,
    ),
    Case(
        "kms:ViaService absent: a direct call",
        "KMS",
        "kms:Decrypt",
        KEY,
        (doc(allow("kms:Decrypt", KEY, Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})),),
        doc(ROOT_KEY_STATEMENT),
        expected=NO_IDENTITY,
    ),
    Case(
        "kms:CallerAccount is the caller's",
        "KMS",
        "kms:Decrypt",
        KEY,
        on_resource=doc(
            allow("kms:Decrypt", Principal={"AWS": "*"}, Condition={"StringEquals": {"kms:CallerAccount": ACCOUNT}})
        ),
    ),
    # --- condition operators
    Case(
        "StringNotEquals on a missing key holds",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        (doc(allow("sqs:SendMessage", QUEUE, Condition={"StringNotEquals": {"aws:SourceAccount": "111111111111"}})),),
    ),
    Case(
        "StringLike with wildcards",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        (
            doc(
                allow(
                    "sqs:SendMessage",
                    QUEUE,
                    Condition={"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/health-*"}},
                )
            ),
        ),
    ),
    Case(
        "StringEqualsIgnoreCase",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        (
            doc(
                allow(
                    "sqs:SendMessage", QUEUE, Condition={"StringEqualsIgnoreCase": {"aws:RequestedRegion": "US-EAST-1"}}
                )
            ),
        ),
        context={"aws:RequestedRegion": "us-east-1"},
    ),
    Case(
        "aws:RequestedRegion of another region",
        "OPERATORS",
        "backup:ListBackupJobs",
        "*",
        (doc(allow("backup:ListBackupJobs", Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}})),),
        context={"aws:RequestedRegion": "eu-west-1"},
        expected=NO_IDENTITY,
    ),
    Case(
        "ArnLike aws:SourceArn",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        on_resource=doc(
            allow(
                "sqs:SendMessage",
                QUEUE,
                Principal={"AWS": ROLE},
                Condition={"ArnLike": {"aws:SourceArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/*"}},
            )
        ),
        context={"aws:SourceArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r1"},
    ),
    Case(
        "ArnLike: * stays within its ARN part",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        on_resource=doc(
            allow(
                "sqs:SendMessage",
                QUEUE,
                Principal={"AWS": ROLE},
                Condition={"ArnLike": {"aws:SourceArn": "arn:aws:events:*:rule/*"}},
            )
        ),
        context={"aws:SourceArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r1"},
        expected=NO_IDENTITY,
    ),
    Case(
        "ArnEquals on a missing key fails",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        on_resource=doc(
            allow(
                "sqs:SendMessage",
                QUEUE,
                Principal={"AWS": ROLE},
                Condition={"ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:1:rule/r"}},
            )
        ),
        expected=NO_IDENTITY,
    ),
    Case(
        "...IfExists on a missing key holds",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        on_resource=doc(
            allow(
                "sqs:SendMessage",
                QUEUE,
                Principal={"AWS": ROLE},
                Condition={"ArnEqualsIfExists": {"aws:SourceArn": "arn:aws:events:us-east-1:1:rule/r"}},
            )
        ),
    ),
    Case(
        "Null true: the key is absent",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        (doc(allow("sqs:SendMessage", QUEUE, Condition={"Null": {"aws:SourceArn": "true"}})),),
    ),
    Case(
        "Null false: the key must be present",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        (doc(allow("sqs:SendMessage", QUEUE, Condition={"Null": {"aws:SourceArn": "false"}})),),
        expected=NO_IDENTITY,
    ),
    Case(
        "NumericLessThan",
        "OPERATORS",
        "s3:ListBucket",
        BUCKET,
        (doc(allow("s3:ListBucket", BUCKET, Condition={"NumericLessThan": {"s3:max-keys": "10"}})),),
        context={"s3:max-keys": "5"},
    ),
    Case(
        "s3:prefix StringLike",
        "OPERATORS",
        "s3:ListBucket",
        BUCKET,
        (doc(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": "heartbeat/*"}})),),
        context={"s3:prefix": "lambda-exports/"},
        expected=NO_IDENTITY,
    ),
    Case(
        "Bool aws:SecureTransport is true for SDK calls",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        (doc(allow("sqs:SendMessage", QUEUE, Condition={"Bool": {"aws:SecureTransport": "true"}})),),
    ),
    Case(
        "operators AND, values OR",
        "OPERATORS",
        "sqs:SendMessage",
        QUEUE,
        (
            doc(
                allow(
                    "sqs:SendMessage",
                    QUEUE,
                    Condition={
                        "StringEquals": {
                            "aws:RequestedRegion": ["eu-west-1", "us-east-1"],
                            "aws:PrincipalAccount": ACCOUNT,
                        }
                    },
                )
            ),
        ),
        context={"aws:RequestedRegion": "us-east-1"},
    ),
    Case(
        "ForAnyValue: one value matches",
        "MULTI",
        "rds:DeleteDBClusterSnapshot",
        "*",
        (
            doc(
                allow(
                    "rds:DeleteDBClusterSnapshot",
                    Condition={"ForAnyValue:StringEquals": {"aws:CalledVia": ["backup.amazonaws.com"]}},
                )
            ),
        ),
        context={"aws:CalledVia": ["backup.amazonaws.com"]},
    ),
    Case(
        "ForAnyValue: a missing key fails",
        "MULTI",
        "rds:DeleteDBClusterSnapshot",
        "*",
        (
            doc(
                allow(
                    "rds:DeleteDBClusterSnapshot",
                    Condition={"ForAnyValue:StringEquals": {"aws:CalledVia": ["backup.amazonaws.com"]}},
                )
            ),
        ),
        expected=NO_IDENTITY,
    ),
    Case(
        "ForAllValues: a missing key holds",
        "MULTI",
        "rds:DeleteDBClusterSnapshot",
        "*",
        (
            doc(
                allow(
                    "rds:DeleteDBClusterSnapshot",
                    Condition={"ForAllValues:StringEquals": {"aws:CalledVia": ["backup.amazonaws.com"]}},
                )
            ),
        ),
    ),
    Case(
        "ForAllValues: every value must match",
        "MULTI",
        "rds:DeleteDBClusterSnapshot",
        "*",
        (
            doc(
                allow(
                    "rds:DeleteDBClusterSnapshot",
                    Condition={"ForAllValues:StringEquals": {"aws:CalledVia": ["backup.amazonaws.com"]}},
                )
            ),
        ),
        context={"aws:CalledVia": ["backup.amazonaws.com", "athena.amazonaws.com"]},
        expected=NO_IDENTITY,
    ),
]


@pytest.fixture
def policies(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Serve a case's identity and resource policies where the evaluator reads them (the world)."""

    def serve(identity: tuple[dict[str, Any], ...], on_resource: dict[str, Any] | None) -> None:
        monkeypatch.setattr(
            policy.world, "role_policies", lambda arn: [json.dumps(d) for d in identity] if arn == ROLE else None
        )
        monkeypatch.setattr(
            policy.world, "resource_policy", lambda arn, account: json.dumps(on_resource) if on_resource else None
        )

    return serve


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_decision_is_the_one_aws_documents(case, policies):
    policies(case.identity, case.on_resource)

    denial = policy.authorize(FUNCTION, case.action, case.resource, case.context)

    if case.expected is ALLOWED:
        assert denial is None, f"{case.page}: {denial}"
    else:
        assert denial is not None, f"{case.page}: allowed"
        assert denial.message.startswith(
            f"User: {SESSION} is not authorized to perform: {case.action} on resource: {case.resource} "
        )
        assert case.expected in denial.message, case.page


def test_the_denial_is_aws_s_message_for_the_json_protocols(policies):
    """DENIED: the full sentence, error code AccessDeniedException."""
    policies((), None)

    denial = policy.authorize(FUNCTION, "dynamodb:PutItem", TABLE)

    assert denial == Denial(
        400,
        "AccessDeniedException",
        f"User: {SESSION} is not authorized to perform: dynamodb:PutItem on resource: {TABLE} "
        "because no identity-based policy allows the dynamodb:PutItem action",
    )


@pytest.mark.parametrize(
    ("protocol", "prefix", "expected"),
    [
        ("json", "dynamodb", (400, "AccessDeniedException", "User: ")),
        ("rest-json", "lambda", (403, "AccessDeniedException", "User: ")),
        ("rest-xml", "s3", (403, "AccessDenied", "Access Denied")),
        ("query", "rds", (403, "AccessDenied", "User: ")),
        ("query", "sns", (403, "AuthorizationError", "User: ")),
        ("ec2", "ec2", (403, "UnauthorizedOperation", "You are not authorized to perform this operation.")),
    ],
)
def test_each_protocol_answers_as_its_service_does(protocol, prefix, expected):
    """Amazon S3 API Reference, "Error responses" (AccessDenied, 403, "Access Denied"),
    https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html; Amazon RDS API Reference,
    "Common Errors" (AccessDenied, 403), https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html;
    Amazon SNS API Reference, Publish errors (AuthorizationError, 403),
    https://docs.aws.amazon.com/sns/latest/api/API_Publish.html; Amazon EC2 API Reference, "Error
    codes" (UnauthorizedOperation), https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html;
    AWS Lambda API Reference, "Common Errors" (AccessDeniedException, 403)."""
    generic = Denial(400, "AccessDeniedException", "User: x is not authorized to perform: a on resource: r")

    answer = policy.answer(generic, protocol, prefix)

    assert (answer.status, answer.code) == expected[:2]
    assert answer.message.startswith(expected[2])


def test_an_unknown_condition_key_fails_closed_and_says_so(policies, caplog):
    """The evaluator cannot know ``aws:ResourceTag``: an Allow on it does not apply, a Deny on it does,
    and the server log names the key (so that the gap is found, not passed over)."""
    tagged = {"StringEquals": {"aws:ResourceTag/team": "dr"}}
    policies((doc(allow("dynamodb:PutItem", TABLE, Condition=tagged)),), None)
    with caplog.at_level(logging.ERROR, logger=policy.__name__):
        allowed_by_it = policy.authorize(FUNCTION, "dynamodb:PutItem", TABLE)
    policies((doc(allow("dynamodb:PutItem", TABLE), deny("dynamodb:PutItem", TABLE, Condition=tagged)),), None)
    denied_by_it = policy.authorize(FUNCTION, "dynamodb:PutItem", TABLE)

    assert allowed_by_it is not None and NO_IDENTITY in allowed_by_it.message
    assert denied_by_it is not None and IDENTITY_DENY in denied_by_it.message
    assert "aws:resourcetag/team is not supported" in caplog.text


def test_the_operator_is_not_evaluated_and_the_switch_turns_enforcement_off(policies, monkeypatch):
    """The issue's rule: calls with the operator's credentials (the root; a role session the CDK
    CLI assumes) keep working; ``LOCAL_AWS_IAM=off`` turns enforcement off for debugging."""
    policies((), None)
    cli_session = Caller(
        ACCOUNT,
        f"arn:aws:sts::{ACCOUNT}:assumed-role/cdk-deploy/cli",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/cdk-deploy",
    )
    backup = Caller(ACCOUNT, ROLE, role_arn=ROLE, service="backup.amazonaws.com")

    assert policy.authorize(Caller.root(ACCOUNT), "dynamodb:PutItem", TABLE) is None
    assert policy.authorize(None, "dynamodb:PutItem", TABLE) is None
    assert policy.authorize(cli_session, "dynamodb:PutItem", TABLE) is None
    assert policy.authorize(backup, "dynamodb:PutItem", TABLE) is not None
    assert policy.authorize(FUNCTION, "dynamodb:PutItem", TABLE) is not None
    monkeypatch.setenv(policy.SWITCH, "off")
    assert policy.authorize(FUNCTION, "dynamodb:PutItem", TABLE) is None
