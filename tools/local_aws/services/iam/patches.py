"""Fixes to moto's IAM CloudFormation model: managed policies of roles."""

from __future__ import annotations

from typing import Any

from moto.iam import models as iam_models
from moto.iam.models import ManagedPolicy, Role, iam_backends
from moto.utilities.utils import get_partition

from ...patches._support import after_create, fix, install


def _backend(account_id: str, region_name: str) -> Any:
    return iam_backends[account_id][get_partition(region_name)]


def _attach_managed_policies(role: Role, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    for policy_arn in properties.get("ManagedPolicyArns", []):
        _backend(account_id, region_name).attach_role_policy(policy_arn, role.name)


@fix("F7")
def attach_role_managed_policies() -> None:
    """moto's ``AWS::IAM::Role`` ignores ``ManagedPolicyArns``: roles read back without their AWS
    managed policies (e.g. the Backup service role's). They are now attached on create, and detached
    on delete as CloudFormation does (moto refuses to delete a role with attached policies). moto
    knows AWS's managed policies only when asked to load them (about 1,600, 0.2 s), so it now does.
    """
    install(iam_models, "load_iam_aws_managed_policies", lambda: True)
    original_delete = Role.delete_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    after_create(Role, _attach_managed_policies)

    def delete_from_cloudformation_json(
        cls: type[Role], resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        backend = _backend(account_id, region_name)
        for role in list(backend.roles.values()):
            if role.name == resource_name:
                for policy_arn in list(role.managed_policies):
                    backend.detach_role_policy(policy_arn, resource_name)
        original_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    install(Role, "delete_from_cloudformation_json", classmethod(delete_from_cloudformation_json))


def _delete_managed_policy(policy: ManagedPolicy, account_id: str, region_name: str) -> None:
    """Detach the policy from every role, user and group, then delete it (as CloudFormation does)."""
    backend = _backend(account_id, region_name)
    if policy.arn not in backend.managed_policies:
        return
    for entity in [*backend.roles.values(), *backend.users.values(), *backend.groups.values()]:
        if policy.arn in entity.managed_policies:
            policy.detach_from(entity)
    backend.delete_policy(policy.arn)


@fix("N12")
def delete_customer_managed_policies() -> None:
    """moto's ``AWS::IAM::ManagedPolicy`` has no delete: every customer managed policy of the app
    survived ``cdk destroy``. It is now detached and deleted."""
    install(ManagedPolicy, "delete", _delete_managed_policy)
