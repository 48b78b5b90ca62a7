"""The deployed health-check function."""

from __future__ import annotations

import pytest

from lib import database_users
from lib import output_keys as keys
from lib.lambda_runtime import RUNTIME_PYTHON_VERSION

pytestmark = pytest.mark.aws_minutes(0.5)


def test_function_runtime_vpc_and_environment(client, outputs, suffix) -> None:
    config = client("lambda").get_function_configuration(FunctionName=outputs[keys.FUNCTION_NAME])
    assert config["FunctionName"] == f"health-check-{suffix}"
    assert config["Runtime"] == f"python{RUNTIME_PYTHON_VERSION}"
    assert config["Handler"] == "handler.handler"
    assert config["Role"] == outputs[keys.FUNCTION_ROLE_ARN]
    assert sorted(config["VpcConfig"]["SubnetIds"]) == sorted(outputs[keys.PRIVATE_SUBNET_IDS].split(","))
    assert config["VpcConfig"]["SecurityGroupIds"] == [outputs[keys.FUNCTION_SECURITY_GROUP_ID]]
    variables = config["Environment"]["Variables"]
    assert variables["DB_HOST"] == outputs[keys.AURORA_WRITER_ENDPOINT]
    assert variables["DB_USER"] == database_users.CANARY and "DB_SECRET_ARN" not in variables  # IAM token login
    assert variables["TABLE_NAME"] == outputs[keys.TABLE_NAME]
    assert variables["BUCKET_NAME"] == outputs[keys.BUCKET_NAME]
    assert "password" not in str(variables).lower()
    assert config["KMSKeyArn"] == outputs[keys.AURORA_KEY_ARN]  # connection settings encrypted at rest


def test_live_alias_points_at_a_published_version(client, outputs) -> None:
    function_name, alias_name = outputs[keys.FUNCTION_ALIAS_ARN].split(":")[-2:]
    alias = client("lambda").get_alias(FunctionName=function_name, Name=alias_name)
    assert alias["FunctionVersion"] != "$LATEST"


def test_dead_letter_queue_is_cmk_encrypted(client, outputs, suffix) -> None:
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=f"health-check-dlq-{suffix}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["KmsMasterKeyId"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == outputs[keys.LOGS_KEY_ARN]
