"""Conformance: an AWS Backup vault's access policy is the resource policy of the vault and of its
recovery points (Q19). The policy is the kit's own (dev: only the vault cleanup deletes), so these
tests also show the kit's vault refusing every other principal.

AWS Backup Developer Guide, "Vault access policies",
https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault-access-policy.html ("Deny access
to delete recovery points in a backup vault": a Deny of backup:DeleteRecoveryPoint,
backup:UpdateRecoveryPointLifecycle and backup:PutBackupVaultAccessPolicy to every principal but the
ones a condition names); AWS Backup API Reference, PutBackupVaultAccessPolicy,
GetBackupVaultAccessPolicy, DeleteBackupVaultAccessPolicy; IAM User Guide, "Policy evaluation logic"
(an explicit Deny in a resource-based policy wins over the identity policy's Allow). Run without the
fix: ``LOCAL_AWS_WITHOUT=Q19 pytest tests/local_aws/test_conformance_vault_access_policy.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lib.config import EnvironmentConfig
from lib.constructs.backup_plan import access_policy
from tests.emulator import ACCOUNT, BACKUP_ROLE, REGION

from .helpers import TRUST_LAMBDA, as_role, backup_job_done, get_att, template

Aws = Callable[[str], Any]
# What the vault cleanup's role could be granted, granted to both roles: only the vault policy tells them apart.
RECOVERY_POINT_ACTIONS = [
    "backup:DeleteRecoveryPoint",
    "backup:ListRecoveryPointsByBackupVault",
    "backup:PutBackupVaultAccessPolicy",
    "backup:DeleteBackupVaultAccessPolicy",
]


def _role(aws: Aws, name: str) -> str:
    iam = aws("iam")
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"])
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": RECOVERY_POINT_ACTIONS, "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="backup", PolicyDocument=json.dumps(document))
    return arn


def _kits_policy(cleanup_role: str, suffix: str) -> dict[str, Any]:
    """The vault access policy the kit deploys in dev (lib/constructs/backup_plan.access_policy): only
    the vault cleanup's role deletes recovery points."""
    config = EnvironmentConfig(environment_suffix=suffix, account=ACCOUNT, region=REGION)
    statements = [statement.to_statement_json() for statement in access_policy(config, cleanup_role)]
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture
def protected_vault(aws: Aws, cfn: Any, suffix: str) -> tuple[str, str, str, str]:
    """A vault whose template's AccessPolicy is the kit's, with one recovery point of a table; (vault,
    recovery point ARN, the vault cleanup's role, another role with the same permissions)."""
    allowed, other = _role(aws, f"vault-cleanup-role-{suffix}"), _role(aws, f"vap-other-{suffix}")
    vault = f"vap-vault-{suffix}"
    cfn.deploy(
        template(
            {
                "Vault": {
                    "Type": "AWS::Backup::BackupVault",
                    "Properties": {"BackupVaultName": vault, "AccessPolicy": _kits_policy(allowed, suffix)},
                }
            },
            {"Arn": get_att("Vault", "BackupVaultArn")},
        )
    )
    table = f"vap-table-{suffix}"
    aws("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    started = aws("backup").start_backup_job(
        BackupVaultName=vault, ResourceArn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}", IamRoleArn=BACKUP_ROLE
    )
    job = backup_job_done(aws, started["BackupJobId"])
    assert job["State"] == "COMPLETED"
    return vault, job["RecoveryPointArn"], allowed, other


def _points(aws: Aws, vault: str) -> list[str]:
    return [
        p["RecoveryPointArn"]
        for p in aws("backup").list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]
    ]


def test_the_templates_access_policy_reads_back(aws, protected_vault):
    vault, _, allowed, _ = protected_vault
    suffix = vault.removeprefix("vap-vault-")

    answer = aws("backup").get_backup_vault_access_policy(BackupVaultName=vault)

    assert answer["BackupVaultArn"] == f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{vault}"
    assert json.loads(answer["Policy"]) == _kits_policy(allowed, suffix)


def test_a_principal_other_than_the_cleanup_cannot_delete_a_recovery_point(aws, endpoint, protected_vault):
    vault, point, allowed, other = protected_vault

    with pytest.raises(ClientError) as denied:
        as_role(aws, other, endpoint)("backup").delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point)

    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "with an explicit deny in a resource-based policy" in denied.value.response["Error"]["Message"]
    assert _points(aws, vault) == [point]
    as_role(aws, allowed, endpoint)("backup").delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point)
    assert _points(aws, vault) == []


def test_the_denied_principal_cannot_lift_the_policy_and_once_it_is_gone_nothing_denies(aws, endpoint, protected_vault):
    vault, point, _, other = protected_vault
    as_other = as_role(aws, other, endpoint)("backup")

    with pytest.raises(ClientError) as denied:
        as_other.delete_backup_vault_access_policy(BackupVaultName=vault)
    aws("backup").delete_backup_vault_access_policy(BackupVaultName=vault)  # the operator is not evaluated

    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws("backup").get_backup_vault_access_policy(BackupVaultName=vault)
    as_other.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=point)
    assert _points(aws, vault) == []
