"""tools/protection.py against the emulator: a prod-like deployment blocks a destroy with one sentence
until `unprotect` lifts its four locks; then the stack deletes completely (R14, F11, Q7 and moto's own
deletion protection of clusters and tables)."""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError

from tools import protection

from .helpers import template


def _protected(suffix: str) -> dict:
    """The four things a prod deployment locks, under the kit's names."""
    return template(
        {
            "Cluster": {
                "Type": "AWS::RDS::DBCluster",
                "Properties": {
                    "DBClusterIdentifier": f"aurora-cluster-{suffix}",
                    "Engine": "aurora-postgresql",
                    "EngineVersion": "16.13",
                    "MasterUsername": "dbadmin",
                    "MasterUserPassword": "correct-horse-battery",
                    "DeletionProtection": True,
                },
            },
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": f"dynamodb-table-{suffix}",
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "DeletionProtectionEnabled": True,
                },
            },
            "Vault": {
                "Type": "AWS::Backup::BackupVault",
                "Properties": {
                    "BackupVaultName": f"backup-vault-{suffix}",
                    "LockConfiguration": {"MinRetentionDays": 7},
                },
            },
        }
    )


def run(aws, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = protection.main(list(args), aws=aws, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_a_protected_deployment_blocks_destroy_until_unprotected(cfn, aws, suffix):
    stack = cfn.deploy(_protected(suffix), StackName=f"TapStack{suffix}")
    cfn.client.update_termination_protection(StackName=stack.name, EnableTerminationProtection=True)

    code, _, err = run(aws, "check", "--suffix", suffix)

    assert code == 1
    assert err.strip().splitlines() == [
        f"Error: Destroy blocked: TapStack{suffix} protects its data (termination protection on stack "
        f"TapStack{suffix}, deletion protection on aurora-cluster-{suffix}, deletion protection on "
        f"dynamodb-table-{suffix}, the governance-mode lock on backup-vault-{suffix}); if you really mean to "
        f"delete it, run `make unprotect SUFFIX={suffix}` first, then `make destroy SUFFIX={suffix}` again."
    ]
    with pytest.raises(ClientError, match="cannot be deleted while TerminationProtection is enabled"):
        cfn.client.delete_stack(StackName=stack.name)

    code, out, _ = run(aws, "unprotect", "--suffix", suffix)

    assert code == 0
    assert out.count("Turned off") == 4
    assert run(aws, "check", "--suffix", suffix)[0] == 0
    assert cfn.delete(stack).status == "DELETE_COMPLETE"
    clusters = {c["DBClusterIdentifier"] for c in aws("rds").describe_db_clusters()["DBClusters"]}
    assert f"aurora-cluster-{suffix}" not in clusters


def test_deletion_protection_alone_fails_the_stack_delete_as_in_aws(cfn, aws, suffix):
    """Without termination protection CloudFormation starts deleting and stops at the protected data."""
    stack = cfn.deploy(_protected(suffix), StackName=f"TapStack{suffix}")

    failed = cfn.delete(stack)

    assert failed.status == "DELETE_FAILED"
    assert any("protect" in event.lower() for event in cfn.events(failed))
    assert run(aws, "unprotect", "--suffix", suffix)[0] == 0
    assert cfn.delete(stack).status == "DELETE_COMPLETE"


def test_nothing_deployed_is_nothing_protected(aws, suffix):
    code, out, _ = run(aws, "check", "--suffix", f"gone-{suffix}")
    assert code == 0
    assert "nothing protected" in out


def test_a_bad_suffix_is_one_sentence(aws):
    code, _, err = run(aws, "check", "--suffix", "Bad_Suffix")
    assert code == 1
    assert err.startswith("Error: environmentSuffix 'Bad_Suffix' is not allowed")
