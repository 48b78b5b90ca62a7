"""Security layer: rotating, destroyable CMKs with explicit policies; workload roles; flow logs."""

from __future__ import annotations

from lib.constructs.customer_key import ACCOUNT_KEY_ACTIONS
from lib.constructs.execution_role import LAMBDA_ENI_ACTIONS
from tests.unit.templates import SUFFIX, Templates, only

KEY_PURPOSES = ("aurora", "s3", "backup", "monitoring")


def test_four_customer_managed_keys_rotate_and_destroy(templates: Templates) -> None:
    keys = templates.security.find_resources("AWS::KMS::Key")
    assert len(keys) == len(KEY_PURPOSES)
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["Properties"]["PendingWindowInDays"] == 7
        assert key["DeletionPolicy"] == "Delete" and key["UpdateReplacePolicy"] == "Delete"


def test_aliases_name_purpose_and_suffix(templates: Templates) -> None:
    aliases = sorted(
        a["Properties"]["AliasName"] for a in templates.security.find_resources("AWS::KMS::Alias").values()
    )
    assert aliases == sorted(f"alias/{p}-key-{SUFFIX}" for p in KEY_PURPOSES)


def test_key_policies_delegate_to_the_account_without_kms_star(templates: Templates) -> None:
    for key in templates.security.find_resources("AWS::KMS::Key").values():
        statements = key["Properties"]["KeyPolicy"]["Statement"]
        account = next(s for s in statements if s.get("Sid") == "AccountAdministersAndDelegatesToIam")
        assert sorted(account["Action"]) == sorted(ACCOUNT_KEY_ACTIONS)
        assert "kms:PutKeyPolicy" in account["Action"] and "kms:ScheduleKeyDeletion" in account["Action"]
        assert all("*" not in action for s in statements for action in _list(s["Action"]))


def test_monitoring_key_lets_logs_and_alert_publishers_use_it(templates: Templates) -> None:
    key = next(
        k
        for k in templates.security.find_resources("AWS::KMS::Key").values()
        if "monitoring" in k["Properties"]["Description"]
    )
    principals = {
        p for s in key["Properties"]["KeyPolicy"]["Statement"] for p in _list(s["Principal"].get("Service", []))
    }
    assert {"logs.us-east-1.amazonaws.com", "events.amazonaws.com", "cloudwatch.amazonaws.com"} <= principals


def test_function_role_trusts_lambda_and_only_manages_enis(templates: Templates) -> None:
    roles = templates.security.find_resources(
        "AWS::IAM::Role", {"Properties": {"RoleName": f"lambda-execution-role-{SUFFIX}"}}
    )
    role = next(iter(roles.values()))["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "ManagedPolicyArns" not in role
    eni = [
        s
        for p in templates.security.find_resources("AWS::IAM::ManagedPolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ManageVpcNetworkInterfaces"
    ]
    assert len(eni) == 1 and eni[0]["Resource"] == "*"
    assert sorted(eni[0]["Action"]) == sorted(LAMBDA_ENI_ACTIONS)


def _managed_policy_names(templates: Templates, role_name: str) -> list[str]:
    roles = templates.security.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": role_name}})
    role = next(iter(roles.values()))["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "backup.amazonaws.com"}
    return sorted(str(arn["Fn::Join"][1][-1]).rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"])


def test_backup_role_uses_the_aws_backup_service_policies_but_not_s3_backups_on_every_bucket(
    templates: Templates,
) -> None:
    """AWSBackupServiceRolePolicyForS3Backup grants arn:aws:s3:::*; the role gets its S3 backup
    permissions on the data bucket alone (test_resilience_stack.py). An S3 restore creates a new
    bucket named at restore time, so the S3 restore policy cannot be narrowed to the data bucket."""
    assert _managed_policy_names(templates, f"backup-service-role-{SUFFIX}") == [
        "AWSBackupServiceRolePolicyForBackup",
        "AWSBackupServiceRolePolicyForRestores",
        "AWSBackupServiceRolePolicyForS3Restore",
    ]


def test_restore_testing_has_a_role_of_its_own_that_only_restores(templates: Templates) -> None:
    assert _managed_policy_names(templates, f"restore-testing-role-{SUFFIX}") == [
        "AWSBackupServiceRolePolicyForRestores"
    ]


def test_vpc_flow_logs_go_to_an_encrypted_log_group_with_retention(templates: Templates) -> None:
    flow_log = only(templates.security, "AWS::EC2::FlowLog")["Properties"]
    assert flow_log["TrafficType"] == "ALL"
    assert flow_log["LogDestinationType"] == "cloud-watch-logs"
    group = only(templates.security, "AWS::Logs::LogGroup")
    assert group["Properties"]["LogGroupName"] == f"/aws/vpc/flow-logs-{SUFFIX}"
    assert group["Properties"]["RetentionInDays"] == 7  # the dev profile: one week
    assert "KmsKeyId" in group["Properties"]
    assert group["DeletionPolicy"] == "Delete"


def _list(value: object) -> list:
    return value if isinstance(value, list) else [value]
