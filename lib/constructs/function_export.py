"""Keeps every Lambda function of the app recoverable without the repository (lib/lambda/function_export).

AWS Backup does not back up Lambda functions, but it backs up the data bucket every hour. So a
function exports each function's deployment package and configuration into the bucket, under
``lambda-exports/<FunctionName>/`` (``code.zip``, ``configuration.json``; the format is in the
handler's docstring): hourly, just before the backup plan runs, and on every deploy that changes a
function's code, through a custom resource whose properties carry each function's code hash. Every
recovery point of the bucket then holds the functions as they were.

The function runs in the isolated subnets: the Lambda API through its interface endpoint, the
package download (GetFunction's ``Code.Location``, a pre-signed S3 URL in this region), the bucket
and the answer to CloudFormation through the S3 gateway endpoint.

IAM facts behind the policy (Service Authorization Reference for Lambda, S3, KMS):

* ``lambda:GetFunction`` takes the ``function`` resource type: granted on the exported functions'
  ARNs only. GetFunction's ``Code.Location`` is a pre-signed URL: downloading it needs no permission.
* The objects are read and written with ``s3:GetObject`` (GetObject, HeadObject) and ``s3:PutObject``
  on exactly the two objects of each exported function (``<bucket>/lambda-exports/<name>/code.zip``
  and ``.../configuration.json``), no wildcard; without ``s3:ListBucket`` S3 answers a missing key
  with 403, which the handler treats as "not exported yet".
* The bucket is SSE-KMS with a customer managed key: ``kms:GenerateDataKey`` (write) and
  ``kms:Decrypt`` (read) on that key, only when S3 asks for it (``kms:ViaService``).
* Lambda shows a function's environment variables encrypted with a customer managed key only to a
  caller that may decrypt them: ``kms:Decrypt`` on those functions' keys, only through Lambda.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from aws_cdk import CustomResource, Duration, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.build.lambda_bundle import bundle_function
from lib.config import EnvironmentConfig
from lib.constructs.execution_role import FunctionNetwork, execution_role
from lib.constructs.log_group import encrypted_log_group
from lib.network_reachability import FUNCTION_PACKAGES

SOURCE = FUNCTION_PACKAGES["function-export"]
RESOURCE_TYPE = "Custom::FunctionExport"
EXPORT_PREFIX = "lambda-exports/"  # handler.EXPORT_PREFIX
EXPORT_OBJECTS = ("code.zip", "configuration.json")  # handler.CODE_OBJECT, handler.CONFIGURATION_OBJECT
# Minute 50 of every hour: ten minutes before the hourly backup plan (minute 0) starts, so each
# hourly recovery point of the bucket holds an export made shortly before it.
EXPORT_MINUTE = "50"
FUNCTION_TIMEOUT = Duration.minutes(5)
# CloudFormation waits this long for the custom resource's answer; the handler always answers
# before its timeout, this only bounds the wait if the function is killed.
SERVICE_TIMEOUT = Duration.minutes(10)


class FunctionExport(Construct):
    """The export function, its hourly schedule and its on-deploy custom resource.

    ``functions`` are exported together with the export function itself. The bucket's key is read
    from ``bucket.encryption_key`` unless ``bucket_key`` is given.

    Exposes: function, role, policy, log_group, schedule, resource.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        functions: Sequence[lambda_.IFunction],
        bucket: s3.IBucket,
        log_key: kms.IKey,
        dead_letter_queue: sqs.IQueue,
        network: FunctionNetwork,
        bucket_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        bucket_key = bucket_key or bucket.encryption_key
        if bucket_key is None:
            raise ValueError("FunctionExport needs the data bucket's KMS key (bucket_key or bucket.encryption_key)")
        function_name = config.name("function-export")
        exported_names = [*(fn.function_name for fn in functions), function_name]
        region = config.region

        self.log_group = encrypted_log_group(
            self, "LogGroup", config=config, name=f"/aws/lambda/{function_name}", key=log_key
        )
        self.role, self.policy = execution_role(
            self,
            config=config,
            name="function-export",
            description="Execution role of the function that exports every Lambda function into the data bucket",
            log_group=self.log_group,
            dead_letter_queue=dead_letter_queue,
            statements=[
                iam.PolicyStatement(
                    sid="WriteExports",
                    actions=["s3:PutObject", "s3:GetObject"],
                    # the two objects of each function, not the whole prefix
                    resources=[
                        bucket.arn_for_objects(f"{EXPORT_PREFIX}{name}/{obj}")
                        for name in exported_names
                        for obj in EXPORT_OBJECTS
                    ],
                ),
                iam.PolicyStatement(
                    sid="ReadExportedFunctions",
                    actions=["lambda:GetFunction"],
                    # Its own ARN as a literal: the function waits for this policy (a reference would be a cycle).
                    resources=[
                        *(fn.function_arn for fn in functions),
                        f"arn:aws:lambda:{region}:{config.account}:function:{function_name}",
                    ],
                ),
                iam.PolicyStatement(
                    sid="EncryptExports",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[bucket_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                ),
            ],
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description="Exports each Lambda function's package and configuration into the backed-up data bucket",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(bundle_function(SOURCE))),
            role=self.role,
            memory_size=256,
            timeout=FUNCTION_TIMEOUT,
            **network.placement(),
            log_group=self.log_group,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=2,
            environment_encryption=log_key,
            environment={
                "BUCKET_NAME": bucket.bucket_name,
                # Its own name as a literal: a reference to itself would be a circular dependency.
                "FUNCTION_NAMES": Stack.of(self).to_json_string(exported_names),
            },
        )
        self.function.node.add_dependency(
            self.policy
        )  # Lambda creates a VPC function only once its role may manage ENIs
        exported = [*functions, self.function]
        keys = environment_keys(exported)
        if keys:
            self.policy.add_statements(
                iam.PolicyStatement(
                    sid="ReadEncryptedEnvironments",
                    actions=["kms:Decrypt"],
                    resources=keys,
                    conditions={"StringEquals": {"kms:ViaService": f"lambda.{region}.amazonaws.com"}},
                )
            )
        self.schedule = events.Rule(
            self,
            "Schedule",
            rule_name=config.name("function-export-schedule"),
            description="Exports every Lambda function into the data bucket before the hourly backup",
            schedule=events.Schedule.cron(minute=EXPORT_MINUTE),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=Duration.hours(1),
                )
            ],
        )
        self.resource = CustomResource(
            self,
            "Resource",
            resource_type=RESOURCE_TYPE,
            service_token=self.function.function_arn,
            service_timeout=SERVICE_TIMEOUT,
            properties={
                "Bucket": bucket.bucket_name,
                "Prefix": EXPORT_PREFIX,
                # A function whose code changes changes its fingerprint: CloudFormation sends an
                # Update, and the new package is exported in the same deploy.
                "Functions": [
                    {"FunctionName": name, "CodeFingerprint": code_fingerprint(fn)}
                    for name, fn in zip(exported_names, exported, strict=True)
                ],
            },
        )
        # Created after the permissions it runs with; deleted (a no-op) before them.
        self.resource.node.add_dependency(self.policy)


def _cfn_function(function: lambda_.IFunction) -> lambda_.CfnFunction:
    cfn = function.node.default_child
    if not isinstance(cfn, lambda_.CfnFunction):
        raise TypeError(f"{function.node.path} is not a function defined in this app; it cannot be exported")
    return cfn


def code_fingerprint(function: lambda_.IFunction) -> str:
    """A value that changes whenever the function's deployment package changes: the asset hash in
    its S3 key (CDK names assets by content), the S3 object version, the image URI, or a hash of
    inline code."""
    code = _cfn_function(function).code
    if isinstance(code, lambda_.CfnFunction.CodeProperty):
        parts = [code.s3_key, code.s3_object_version, code.image_uri]
        if code.zip_file is not None:
            parts.append(hashlib.sha256(code.zip_file.encode()).hexdigest())
        fingerprint = "/".join(part for part in parts if part)
        if fingerprint and not Token.is_unresolved(fingerprint):
            return fingerprint
    raise ValueError(f"{function.node.path}: its code has no literal content hash to watch for changes")


def environment_keys(functions: Sequence[lambda_.IFunction]) -> list[str]:
    """ARNs of the customer managed keys the functions' environment variables are encrypted with."""
    arns = (_cfn_function(function).kms_key_arn for function in functions)
    return list(dict.fromkeys(arn for arn in arns if arn))  # one key object gives one token string
