"""What each FIS action does to its targets, and how what it did is undone (AWS FIS User Guide,
"AWS FIS Actions reference", https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html).

``inject`` runs an action on its resolved targets and returns the function that lifts it (or None
when there is nothing to lift: a failover or a reboot is done once it is done).

- ``aws:network:disrupt-connectivity`` (scope all): as FIS does it, a network ACL in each target
  subnet's VPC, tagged ``managedByFIS=true``, that denies all traffic, replaces the subnets' network
  ACL associations; lifting puts the original associations back and deletes it. The network step of
  the pipeline reads the network ACLs, so calls from those subnets fail while it is in place.
- ``aws:rds:failover-db-cluster``: FailoverDBCluster on each target cluster.
- ``aws:rds:reboot-db-instances``: RebootDBInstance on each target instance.
- ``aws:fis:wait``: nothing; it only takes its duration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ... import world

MANAGED_TAG = {"managedByFIS": "true"}


class ActionFailed(Exception):
    """The action could not act on a target; the message says why (it becomes the action's reason)."""


Lift = Callable[[], None]


def inject(
    action_id: str, parameters: Mapping[str, str], targets: Mapping[str, list[str]], account_id: str, region: str
) -> Lift | None:
    """Run the action on its targets (resolved ARNs by target key); the function that undoes it."""
    arns = [arn for resolved in targets.values() for arn in resolved]
    try:
        if action_id == "aws:network:disrupt-connectivity":
            return _disrupt(arns, account_id, region)
        if action_id == "aws:rds:failover-db-cluster":
            for arn in arns:
                world.failover_cluster(account_id, region, _name(arn))
        elif action_id == "aws:rds:reboot-db-instances":
            for arn in arns:
                world.reboot_db_instance(account_id, region, _name(arn))
    except world.AWS_ERRORS as error:
        raise ActionFailed(f"{action_id} failed: {_message(error)}") from error
    return None


def _name(arn: str) -> str:
    """``arn:aws:rds:...:cluster:name`` -> ``name``."""
    return arn.rsplit(":", 1)[1]


def _message(error: Exception) -> str:
    return str(getattr(error, "message", None) or getattr(error, "description", None) or error)


def _disrupt(subnet_arns: list[str], account_id: str, region: str) -> Lift:
    by_id = {subnet.arn: subnet for subnet in world.subnets(account_id, region)}
    chosen = [by_id[arn] for arn in subnet_arns if arn in by_id]
    acls: dict[str, str] = {}  # VPC id -> the deny-all network ACL in it
    restore: list[tuple[str, str]] = []  # (association made by the action, network ACL it replaced)
    for subnet in chosen:
        if subnet.vpc_id not in acls:
            acls[subnet.vpc_id] = world.create_deny_all_network_acl(account_id, region, subnet.vpc_id, MANAGED_TAG)
        association, original = world.network_acl_association(account_id, region, subnet.id)
        restore.append(
            (world.replace_network_acl_association(account_id, region, association, acls[subnet.vpc_id]), original)
        )

    def lift() -> None:
        while restore:
            association, original = restore.pop()
            world.replace_network_acl_association(account_id, region, association, original)
        while acls:
            world.delete_network_acl(account_id, region, acls.popitem()[1])

    return lift
