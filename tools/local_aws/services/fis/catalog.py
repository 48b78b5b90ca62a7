"""The FIS actions the emulator runs, the resource types their targets name, and ISO 8601 durations.

From the AWS FIS User Guide, "AWS FIS Actions reference"
(https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html): each action names the
key its target goes under (``Subnets``, ``Clusters``, ``DBInstances``), the resource type of that
target and its parameters; a duration is an ISO 8601 duration from one minute to 12 hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(hours=12)


@dataclass(frozen=True)
class ActionType:
    """One FIS action: its target (key and resource type, None for an action without one), the
    parameters it takes and which of them it needs."""

    action_id: str
    target_key: str | None
    resource_type: str | None
    parameters: frozenset[str]
    required: frozenset[str] = frozenset()


ACTIONS = {
    action.action_id: action
    for action in (
        ActionType(
            "aws:network:disrupt-connectivity",
            "Subnets",
            "aws:ec2:subnet",
            frozenset({"duration", "scope"}),
            frozenset({"duration"}),
        ),
        ActionType("aws:rds:failover-db-cluster", "Clusters", "aws:rds:cluster", frozenset()),
        ActionType("aws:rds:reboot-db-instances", "DBInstances", "aws:rds:db", frozenset({"forceFailover"})),
        ActionType("aws:fis:wait", None, None, frozenset({"duration"}), frozenset({"duration"})),
    )
}

# The scopes of aws:network:disrupt-connectivity on AWS; the emulator runs ``all`` only.
DISRUPT_SCOPES = frozenset({"all", "availability-zone", "dynamodb", "prefix-list", "s3", "s3-express"})
SUPPORTED_SCOPES = frozenset({"all"})

_DURATION = re.compile(r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?")


def parse_duration(text: str) -> timedelta | None:
    """``PT10M``, ``PT1H30M``, ``PT90S``, ``P1D`` -> a timedelta; None if it is not an ISO 8601
    duration of days, hours, minutes and seconds."""
    matched = _DURATION.fullmatch(text)
    if matched is None or not any(matched.groupdict().values()) or text.endswith("T"):
        return None
    parts = {name: int(value) for name, value in matched.groupdict().items() if value}
    return timedelta(**parts)
