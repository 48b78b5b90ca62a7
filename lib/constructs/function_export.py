"""Keeps every Lambda function of the app recoverable without the repository (lib/lambda/function_export).

AWS Backup does not back up Lambda functions, but it backs up the data bucket every hour. So on every
deploy that changes a function, a custom resource gives the export function each function's
configuration (as CreateFunction takes it) and the place of its deployment package in the CDK asset
bucket; the function copies both into the bucket under ``lambda-exports/<FunctionName>/``
(``code.zip``, ``configuration.json``; the format is in the handler's docstring). Every recovery
point of the bucket then holds the functions as they were deployed.

Nothing here calls the Lambda API: the configuration comes from this app, and the package from the
asset bucket, both through the free S3 gateway endpoint. So the VPC needs no Lambda interface
endpoint (about $7.30 a month per AZ), and no download reaches an AWS-owned bucket (GetFunction's
``Code.Location``), which the S3 endpoint's policy would refuse. What the export does not see is a
change made outside CloudFormation (a console edit): the next deploy puts the template's back anyway.

IAM facts behind the policy (Service Authorization Reference for S3, KMS):

* ``s3:GetObject`` on exactly the asset objects of the exported functions (their S3 keys are
  content hashes, so a changed function is a new object and a new grant). The CDK bootstrap bucket
  encrypts with the AWS managed key ``aws/s3`` by default, whose key policy lets every principal of
  the account use it through S3: no KMS grant is needed for the read. (A bootstrap with its own KMS
  key would need ``kms:Decrypt`` on it.)
* The exports are read and written with ``s3:GetObject`` (GetObject, HeadObject) and ``s3:PutObject``
  on exactly the two objects of each exported function (``<bucket>/lambda-exports/<name>/code.zip``
  and ``.../configuration.json``), no wildcard; without ``s3:ListBucket`` S3 answers a missing key
  with 403, which the handler treats as "not exported yet".
* The bucket is SSE-KMS with a customer managed key: ``kms:GenerateDataKey`` (write) and
  ``kms:Decrypt`` (read) on that key, only when S3 asks for it (``kms:ViaService``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.execution_role import FunctionNetwork
from lib.constructs.kit_function import KitFunction, function_with_role

FUNCTION_TYPE = "function-export"
RESOURCE_TYPE = "Custom::FunctionExport"
EXPORT_PREFIX = "lambda-exports/"  # logic.EXPORT_PREFIX
EXPORT_OBJECTS = ("code.zip", "configuration.json")  # logic.CODE_OBJECT, logic.CONFIGURATION_OBJECT
FUNCTION_TIMEOUT = Duration.minutes(5)
# CloudFormation waits this long for the custom resource's answer; the handler always answers
# before its timeout, this only bounds the wait if the function is killed.
SERVICE_TIMEOUT = Duration.minutes(10)


class FunctionExport(Construct):
    """The export function and its on-deploy custom resource.

    ``functions`` are exported together with the export function itself. The bucket's key is read
    from ``bucket.encryption_key`` unless ``bucket_key`` is given.

    Exposes: function, role, policy, log_group, resource.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        functions: Sequence[KitFunction],
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
        function_name = config.name(FUNCTION_TYPE)
        # The export function's own package and name are known before it exists; its other settings
        # are read from it below (a policy that named the function itself would be a cycle).
        made = function_with_role(
            self,
            config=config,
            function_type=FUNCTION_TYPE,
            description="Exports each Lambda function's package and configuration into the backed-up data bucket",
            role_description="Execution role of the function that exports every Lambda function into the data bucket",
            statements=[
                iam.PolicyStatement(
                    sid="WriteExports",
                    actions=["s3:PutObject", "s3:GetObject"],
                    # the two objects of each function, not the whole prefix
                    resources=[
                        bucket.arn_for_objects(f"{EXPORT_PREFIX}{name}/{obj}")
                        for name in [*(fn.function_name for fn in functions), function_name]
                        for obj in EXPORT_OBJECTS
                    ],
                ),
                iam.PolicyStatement(
                    sid="EncryptExports",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[bucket_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}},
                ),
            ],
            log_key=log_key,
            network=network,
            timeout=FUNCTION_TIMEOUT,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=2,
            environment_key=log_key,
            environment={"BUCKET_NAME": bucket.bucket_name},
        )
        self.function, self.role, self.policy, self.log_group = made.function, made.role, made.policy, made.log_group
        recreations = [fn.recreation for fn in [*functions, self.function]]
        self.policy.add_statements(
            iam.PolicyStatement(
                sid="ReadPackages",
                actions=["s3:GetObject"],
                # the exact asset objects the functions were deployed from (content-addressed keys)
                resources=list(dict.fromkeys(recreation.package_arn for recreation in recreations)),
            )
        )
        self.resource = CustomResource(
            self,
            "Resource",
            resource_type=RESOURCE_TYPE,
            service_token=self.function.function_arn,
            service_timeout=SERVICE_TIMEOUT,
            properties={
                # A function whose code or configuration changes changes these properties:
                # CloudFormation sends an Update, and the export follows in the same deploy.
                "Functions": [
                    {
                        "Configuration": recreation.configuration,
                        "Package": {"Bucket": recreation.package_bucket, "Key": recreation.package_key},
                    }
                    for recreation in recreations
                ],
            },
        )
        # Created after the permissions it runs with; deleted (a no-op) before them.
        self.resource.node.add_dependency(self.policy)
