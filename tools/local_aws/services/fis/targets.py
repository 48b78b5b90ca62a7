"""Target resolution as FIS does it when an experiment starts (AWS FIS User Guide, "Targets for AWS
FIS", https://docs.aws.amazon.com/fis/latest/userguide/targets.html): the resources of the target's
type named by ``resourceArns`` or carrying every tag of ``resourceTags``, narrowed by ``filters``
(each ``path`` of the resource's description must have one of its ``values``; every filter must
match), then chosen by ``selectionMode``: ALL, COUNT(n) (n at random) or PERCENT(n) (that share
at random, rounded down).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ... import world


@dataclass(frozen=True)
class Candidate:
    """A resource a target can resolve to: its ARN, its tags and the fields filters can name."""

    arn: str
    tags: Mapping[str, str]
    fields: Mapping[str, str]


def resolve(target: Mapping[str, Any], account_id: str, region: str) -> list[str]:
    """The ARNs the target resolves to now (possibly none)."""
    every = candidates(target["resourceType"], account_id, region)
    found = [candidate for candidate in every if _matches(target, candidate)]
    return sorted(candidate.arn for candidate in _select(found, str(target.get("selectionMode", "ALL"))))


def candidates(resource_type: str, account_id: str, region: str) -> list[Candidate]:
    """Every resource of the type in the region."""
    if resource_type == "aws:ec2:subnet":
        return [Candidate(subnet.arn, subnet.tags, subnet.fields) for subnet in world.subnets(account_id, region)]
    if resource_type == "aws:rds:cluster":
        return [
            Candidate(
                cluster.db_cluster_arn,
                _tag_map(cluster.tags),
                {"DBClusterIdentifier": cluster.db_cluster_identifier, "Engine": cluster.engine},
            )
            for cluster in world.clusters(account_id, region)
        ]
    if resource_type == "aws:rds:db":
        return [
            Candidate(
                instance.db_instance_arn,
                _tag_map(instance.tags),
                {
                    "DBInstanceIdentifier": instance.db_instance_identifier,
                    "AvailabilityZone": str(instance.availability_zone),
                    "DBClusterIdentifier": str(getattr(instance, "db_cluster_identifier", "") or ""),
                },
            )
            for instance in world.db_instances(account_id, region)
        ]
    raise ValueError(f"no resolution for resource type {resource_type}")


def _tag_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or ()}


def _matches(target: Mapping[str, Any], candidate: Candidate) -> bool:
    arns = target.get("resourceArns")
    if arns and candidate.arn not in arns:
        return False
    wanted_tags = target.get("resourceTags") or {}
    if any(candidate.tags.get(key) != value for key, value in wanted_tags.items()):
        return False
    filters = target.get("filters") or ()
    return all(candidate.fields.get(condition["path"]) in condition["values"] for condition in filters)


def _select(found: list[Candidate], mode: str) -> list[Candidate]:
    chosen = re.fullmatch(r"(?:COUNT\((?P<count>\d+)\)|PERCENT\((?P<percent>\d+)\))", mode)
    if chosen is None:  # ALL
        return found
    count = int(chosen["count"]) if chosen["count"] else math.floor(len(found) * int(chosen["percent"]) / 100)
    return random.sample(found, min(count, len(found)))
