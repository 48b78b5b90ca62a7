"""KMS keys, IAM roles and managed policies, encrypted log groups."""

from __future__ import annotations

import json
from typing import Any

from .helpers import get_att, ref, role, template

KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}
    ],
}


def _key(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::KMS::Key",
        "Properties": {"Description": "test key", "EnableKeyRotation": True, "KeyPolicy": KEY_POLICY, **properties},
    }


def test_q1_key_from_a_template_is_usable_through_the_kms_api(cfn, aws):
    kms = aws("kms")
    stack = cfn.deploy(template({"Key": _key()}, {"KeyId": ref("Key")}))
    key_id = stack.outputs["KeyId"]

    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "test key"
    assert json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]) == KEY_POLICY
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_f5_tagged_key_keeps_its_tags(cfn, aws):
    tags = [{"Key": "Project", "Value": "tap-dr"}]
    stack = cfn.deploy(template({"Key": _key(Tags=tags)}, {"KeyId": ref("Key")}))

    listed = aws("kms").list_resource_tags(KeyId=stack.outputs["KeyId"])["Tags"]

    assert listed == [{"TagKey": "Project", "TagValue": "tap-dr"}]


def test_f7_role_managed_policies_are_attached_and_detached_on_delete(cfn, aws, suffix):
    iam = aws("iam")
    backup_policy = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
    stack = cfn.deploy(template({"Role": role(f"backup-{suffix}", ManagedPolicyArns=[backup_policy])}))

    attached = iam.list_attached_role_policies(RoleName=f"backup-{suffix}")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [backup_policy]

    assert cfn.delete(stack).status == "DELETE_COMPLETE"
    assert f"backup-{suffix}" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}


def test_n12_customer_managed_policies_are_deleted_with_the_stack(cfn, aws, suffix):
    iam = aws("iam")
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    policy = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {"ManagedPolicyName": f"access-{suffix}", "PolicyDocument": document, "Roles": [ref("Role")]},
    }
    stack = cfn.deploy(template({"Role": role(f"user-{suffix}"), "Policy": policy}))
    attached = iam.list_attached_role_policies(RoleName=f"user-{suffix}")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == [f"access-{suffix}"]

    assert cfn.delete(stack).status == "DELETE_COMPLETE"

    assert f"access-{suffix}" not in {p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]}


def test_n9_log_group_keeps_its_kms_key(cfn, aws, suffix):
    group = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": f"/test/{suffix}", "RetentionInDays": 30, "KmsKeyId": get_att("Key", "Arn")},
    }
    stack = cfn.deploy(template({"Key": _key(), "Group": group}, {"KeyArn": get_att("Key", "Arn")}))

    described = aws("logs").describe_log_groups(logGroupNamePrefix=f"/test/{suffix}")["logGroups"][0]

    assert (described["kmsKeyId"], described["retentionInDays"]) == (stack.outputs["KeyArn"], 30)
