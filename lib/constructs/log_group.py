"""The one way this app makes a log group: encrypted with the monitoring CMK, with the profile's retention, destroyed.

Creating a group before the service that writes to it (Lambda, RDS, VPC flow logs) matters: a
service-created group is unencrypted, kept forever and left behind by `cdk destroy`.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from lib.config import ConfigError, EnvironmentConfig


def encrypted_log_group(
    scope: Construct, construct_id: str, *, config: EnvironmentConfig, name: str, key: kms.IKey
) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        encryption_key=key,
        retention=retention(config.profile.log_retention),
        removal_policy=RemovalPolicy.DESTROY,
    )


def retention(name: str) -> logs.RetentionDays:
    """The profile's retention (a ``RetentionDays`` name, as the CDK-free config holds it)."""
    try:
        return logs.RetentionDays[name]
    except KeyError:
        raise ConfigError(
            f"Log retention {name!r} is not a CloudWatch Logs retention: use an aws_logs.RetentionDays name "
            "such as ONE_WEEK or ONE_YEAR."
        ) from None
