"""Custom resources run their provider's Python code (R4): Create/Update/Delete requests, the
answer at the ResponseURL, Data for Fn::GetAtt, failures with the provider's reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.emulator import ACCOUNT, BACKUP_ROLE, REGION

from .helpers import CloudFormation, Stack, backup_job_done, get_att, grants, kit_function_code, ref, role, template

REPO_ROOT = Path(__file__).resolve().parents[2]

# A provider that logs each request and answers with urllib, as lib/lambda/vault_cleanup does.
PROVIDER = """
import json
import urllib.request


def handler(event, context):
    properties = event["ResourceProperties"]
    print("REQUEST " + json.dumps(event))
    if properties.get("Mode") == "silent":
        return
    failed = properties.get("Mode") == "fail"
    body = {
        "Status": "FAILED" if failed else "SUCCESS",
        "Reason": "the provider says no" if failed else "",
        "PhysicalResourceId": event.get("PhysicalResourceId") or "thing-" + properties["Name"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {"Greeting": "hello " + properties["Name"], "Size": properties["Size"]},
    }
    if event["RequestType"] == "Update" and properties["Name"] != event["OldResourceProperties"]["Name"]:
        body["PhysicalResourceId"] = "thing-" + properties["Name"]
    data = json.dumps(body).encode()
    request = urllib.request.Request(event["ResponseURL"], data=data, method="PUT", headers={"Content-Type": ""})
    urllib.request.urlopen(request, timeout=10).close()
"""


def _provider(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.12",
            "Handler": "index.handler",
            "Code": {"ZipFile": PROVIDER},
            "Role": get_att("ProviderRole", "Arn"),
            **properties,
        },
    }


def _stack(resource_type: str = "Custom::Thing", **properties: Any) -> dict[str, Any]:
    resources = {
        "ProviderRole": role(),
        "Provider": _provider(),
        "Thing": {
            "Type": resource_type,
            "Properties": {"ServiceToken": get_att("Provider", "Arn"), "Name": "one", "Size": 3, **properties},
        },
    }
    outputs = {"Greeting": get_att("Thing", "Greeting"), "Id": ref("Thing"), "Provider": ref("Provider")}
    return template(resources, outputs)


def _messages(aws: Callable[[str], Any], function_name: str) -> list[str]:
    """Everything the function logged, in time order."""
    logs = aws("logs")
    group = f"/aws/lambda/{function_name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    events = [
        event
        for stream in streams
        for event in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    ]
    return [event["message"] for event in sorted(events, key=lambda event: event["timestamp"])]


def _requests(aws: Callable[[str], Any], function_name: str) -> list[dict[str, Any]]:
    """The requests the provider logged, in order."""
    messages = _messages(aws, function_name)
    return [json.loads(m.removeprefix("REQUEST ")) for m in messages if m.startswith("REQUEST ")]


def _update(cfn: CloudFormation, stack: Stack, body: dict[str, Any]) -> Stack:
    created = cfn.client.create_change_set(
        StackName=stack.name,
        ChangeSetName="update",
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(body),
        Capabilities=["CAPABILITY_IAM"],
    )
    cfn.client.execute_change_set(ChangeSetName=created["Id"])
    return cfn.describe(stack.id)


def test_r4_create_runs_the_provider_and_its_data_answers_get_att(cfn, aws, endpoint):
    stack = cfn.deploy(_stack())

    assert stack.status == "CREATE_COMPLETE"
    assert stack.outputs["Greeting"] == "hello one"
    assert stack.outputs["Id"] == "thing-one"
    [request] = _requests(aws, stack.outputs["Provider"])
    assert request["RequestType"] == "Create"
    assert request["ResourceType"] == "Custom::Thing"
    assert request["LogicalResourceId"] == "Thing"
    assert request["StackId"] == stack.id
    assert request["ResponseURL"].startswith(f"{endpoint}/")
    assert request["ResourceProperties"]["Size"] == "3"  # CloudFormation passes scalars as strings
    assert request["ResourceProperties"]["ServiceToken"].endswith(f":function:{stack.outputs['Provider']}")
    assert "PhysicalResourceId" not in request


def test_r4_update_sends_old_properties_and_a_new_id_deletes_the_old_resource(cfn, aws):
    stack = cfn.deploy(_stack())

    updated = _update(cfn, stack, _stack(Name="two"))

    assert updated.status == "UPDATE_COMPLETE"
    assert (updated.outputs["Greeting"], updated.outputs["Id"]) == ("hello two", "thing-two")
    _, update, delete = _requests(aws, stack.outputs["Provider"])
    assert update["RequestType"] == "Update"
    assert update["PhysicalResourceId"] == "thing-one"
    assert (update["ResourceProperties"]["Name"], update["OldResourceProperties"]["Name"]) == ("two", "one")
    assert (delete["RequestType"], delete["PhysicalResourceId"]) == ("Delete", "thing-one")


def test_r4_delete_runs_the_provider_before_the_provider_is_deleted(cfn, aws):
    stack = cfn.deploy(_stack(resource_type="AWS::CloudFormation::CustomResource"))

    assert cfn.delete(stack).status == "DELETE_COMPLETE"

    _, delete = _requests(aws, stack.outputs["Provider"])
    assert (delete["RequestType"], delete["PhysicalResourceId"]) == ("Delete", "thing-one")
    assert delete["ResourceType"] == "AWS::CloudFormation::CustomResource"


def test_r4_a_failed_answer_fails_the_stack_with_the_providers_reason(cfn):
    stack = cfn.deploy(_stack(Mode="fail"))

    assert stack.status == "ROLLBACK_COMPLETE"
    reasons = " ".join(cfn.events(stack))
    assert "Received response status [FAILED] from custom resource. Message returned: the provider says no" in reasons


def test_r4_no_answer_fails_the_resource_when_the_run_ends(cfn):
    stack = cfn.deploy(_stack(Mode="silent"))

    assert stack.status == "ROLLBACK_COMPLETE"
    reasons = " ".join(cfn.events(stack))
    assert "CloudFormation did not receive a response from your Custom Resource" in reasons
    assert "returned without answering the ResponseURL" in reasons


def test_r4_a_provider_that_is_not_python_fails_naming_its_runtime(cfn):
    body = _stack()
    body["Resources"]["Provider"]["Properties"].update(Runtime="nodejs20.x", Code={"ZipFile": "exports.handler = 1"})

    stack = cfn.deploy(body)

    assert stack.status == "ROLLBACK_COMPLETE"
    assert "nodejs20.x" in " ".join(cfn.events(stack))


def test_r4_providers_may_answer_with_the_cfnresponse_module(cfn):
    """Inline (ZipFile) providers get AWS's cfnresponse module, as in CloudFormation."""
    source = (
        "import cfnresponse\n\n"
        "def handler(event, context):\n"
        "    cfnresponse.send(event, context, cfnresponse.SUCCESS, {'Answer': '42'}, 'answered')\n"
    )
    body = _stack()
    body["Resources"]["Provider"]["Properties"]["Code"] = {"ZipFile": source}

    stack = cfn.deploy(body)

    assert (stack.status, stack.outputs["Id"]) == ("CREATE_COMPLETE", "answered")


def _cleanup_provider(aws: Callable[[str], Any], suffix: str) -> dict[str, Any]:
    """The app's vault cleanup, pinned to the template's ``Vault`` as the construct pins it."""
    return _provider(
        Handler="handler.handler",
        Timeout=60,
        Code=kit_function_code(aws, "vault-cleanup", f"assets-{suffix}"),
        Environment={"Variables": {"BACKUP_VAULT_NAME": ref("Vault")}},
    )


def _another_vault_with_a_point_and_a_running_job(aws: Callable[[str], Any], suffix: str) -> tuple[str, str, str]:
    """A vault that is not the cleanup's, with a completed recovery point and an unfinished backup job:
    (vault, recovery point ARN, job id)."""
    other, table = f"other-vault-{suffix}", f"other-table-{suffix}"
    backup = aws("backup")
    backup.create_backup_vault(BackupVaultName=other)
    aws("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    job = {
        "BackupVaultName": other,
        "ResourceArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}",
        "IamRoleArn": BACKUP_ROLE,
    }
    done = backup_job_done(aws, backup.start_backup_job(**job)["BackupJobId"])
    return other, done["RecoveryPointArn"], backup.start_backup_job(**job)["BackupJobId"]


def _assert_untouched(aws: Callable[[str], Any], vault: str, point: str, job: str) -> None:
    """The vault still holds its point and its job was not stopped (it completes)."""
    points = aws("backup").list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]
    assert [listed["RecoveryPointArn"] for listed in points] == [point]
    assert aws("backup").describe_backup_job(BackupJobId=job)["State"] in ("CREATED", "PENDING", "RUNNING")
    assert backup_job_done(aws, job)["State"] == "COMPLETED"


def test_r4_the_apps_vault_cleanup_provider_answers_create_and_delete(cfn, aws, suffix):
    resources = {
        "Vault": {"Type": "AWS::Backup::BackupVault", "Properties": {"BackupVaultName": f"vault-{suffix}"}},
        "ProviderRole": role(
            **grants(
                "backup:ListBackupJobs",
                "backup:StopBackupJob",
                "backup:ListRecoveryPointsByBackupVault",
                "backup:ListBackupVaults",
            )
        ),
        "Provider": _cleanup_provider(aws, suffix),
        "Cleanup": {
            "Type": "Custom::BackupVaultCleanup",
            "Properties": {"ServiceToken": get_att("Provider", "Arn"), "BackupVaultName": ref("Vault")},
        },
    }

    stack = cfn.deploy(template(resources, {"Id": ref("Cleanup"), "Provider": ref("Provider")}))
    other, point, job = _another_vault_with_a_point_and_a_running_job(aws, suffix)

    assert stack.status == "CREATE_COMPLETE"
    assert stack.outputs["Id"] == f"vault-{suffix}"
    assert cfn.delete(stack).status == "DELETE_COMPLETE"
    _assert_untouched(aws, other, point, job)  # the cleanup stops only its own vault's jobs
    # The function logs JSON lines (Powertools); Lambda's own START/END lines are text.
    logged = [json.loads(m) for m in _messages(aws, stack.outputs["Provider"]) if m.startswith("{")]
    assert {"message": "Custom-resource request", "request": "Delete", "resource": "Cleanup"}.items() <= next(
        line for line in logged if line.get("request") == "Delete"
    ).items()
    assert any(line["message"] == "The vault is empty" and line.get("vault") == f"vault-{suffix}" for line in logged)
    assert sum(line["message"] == "Answering" and line.get("status") == "SUCCESS" for line in logged) == 2


def test_a_fake_delete_naming_another_vault_deletes_nothing_and_stops_nothing(cfn, aws, suffix):
    """Anyone allowed to invoke the cleanup can send it a Delete event of their own making: the function
    is pinned to its stack's vault, so one naming another vault is answered FAILED and that vault keeps
    its recovery point and its running backup job -- though the role may delete and stop."""
    resources = {
        "Vault": {"Type": "AWS::Backup::BackupVault", "Properties": {"BackupVaultName": f"vault-{suffix}"}},
        "ProviderRole": role(
            **grants(
                "backup:ListBackupJobs",
                "backup:StopBackupJob",
                "backup:ListRecoveryPointsByBackupVault",
                "backup:DeleteRecoveryPoint",
                "backup:ListBackupVaults",
                "dynamodb:DeleteBackup",
            )
        ),
        "Provider": _cleanup_provider(aws, suffix),
        "Cleanup": {
            "Type": "Custom::BackupVaultCleanup",
            "Properties": {"ServiceToken": get_att("Provider", "Arn"), "BackupVaultName": ref("Vault")},
        },
    }
    stack = cfn.deploy(template(resources, {"Provider": ref("Provider")}))
    assert stack.status == "CREATE_COMPLETE"
    other, point, job = _another_vault_with_a_point_and_a_running_job(aws, suffix)
    aws("s3").create_bucket(Bucket=f"answers-{suffix}")
    answer_url = aws("s3").generate_presigned_url(
        "put_object", Params={"Bucket": f"answers-{suffix}", "Key": "answer"}, ExpiresIn=3600
    )
    fake = {
        "RequestType": "Delete",
        "ResponseURL": answer_url,
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/fake/guid",
        "RequestId": "fake-1",
        "LogicalResourceId": "Cleanup",
        "PhysicalResourceId": other,
        "ResourceType": "Custom::BackupVaultCleanup",
        "ResourceProperties": {"ServiceToken": "fake", "BackupVaultName": other},
    }

    aws("lambda").invoke(FunctionName=stack.outputs["Provider"], Payload=json.dumps(fake).encode())

    answer = json.loads(aws("s3").get_object(Bucket=f"answers-{suffix}", Key="answer")["Body"].read())
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith(f"Refused: this function empties backup vault vault-{suffix} only")
    _assert_untouched(aws, other, point, job)
