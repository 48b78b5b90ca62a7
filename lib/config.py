"""Environment configuration: the validated suffix, the deployment target and the naming rule.

Everything that varies between deployments is decided here, once, before any construct exists,
so a bad input stops the app with one sentence instead of a half-built tree or a jsii trace.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import aws_logs as logs

REGION = "us-east-1"
DEFAULT_SUFFIX = "dev"
DEFAULT_AVAILABILITY_ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
# Synth without credentials (unit tests, CI) uses this account; the CDK CLI sets CDK_DEFAULT_ACCOUNT
# from the caller's credentials, so a real deployment always gets the real account.
FALLBACK_ACCOUNT = "123456789012"

# The tightest names that carry the suffix: AWS Backup selection names allow 50 characters
# ("backup-selection-" + suffix) and S3 bucket names 63 ("access-logs-<12-digit account>-" + suffix).
MAX_SUFFIX_LENGTH = 24
# CDK context keys the app reads (`-c key=value`).
CONTEXT_KEYS = ("environmentSuffix", "alarmEmail")
_SUFFIX_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class ConfigError(ValueError):
    """Input the app cannot be built from; the message is one sentence meant for the user."""


@dataclass(frozen=True)
class RecoveryObjectives:
    """What the kit promises, in one place: the backup plan, the database and table retention, the
    RPO alarms, the DR gate and the backup monitor all read these numbers here.

    ``rpo_minutes``: the most data a recovery may lose (age of the newest completed recovery point).
    ``rto_minutes``: the longest a recovery may take. ``retention_days``: how far back one can go.
    """

    rpo_minutes: int = 60
    rto_minutes: int = 240
    retention_days: int = 7

    def __post_init__(self) -> None:
        # AWS Backup runs snapshot backups at most hourly, so the plan can only serve whole hours.
        if self.rpo_minutes < 60 or self.rpo_minutes % 60:
            raise ConfigError(f"An RPO of {self.rpo_minutes} minutes is not a whole number of hours (at least 60).")
        if self.rto_minutes <= 0 or self.retention_days < 1:
            raise ConfigError("The RTO must be positive and the retention at least one day.")


@dataclass(frozen=True)
class EnvironmentConfig:
    """What one deployment of the kit needs to know; passed to every layer."""

    environment_suffix: str
    account: str = FALLBACK_ACCOUNT
    region: str = REGION
    availability_zones: tuple[str, ...] = DEFAULT_AVAILABILITY_ZONES
    vpc_cidr: str = "10.0.0.0/16"
    database_name: str = "appdb"
    aurora_min_capacity: float = 0.5
    aurora_max_capacity: float = 4.0
    objectives: RecoveryObjectives = field(default_factory=RecoveryObjectives)
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    health_check_schedule_minutes: int = 5
    alarm_email: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def name(self, resource_type: str) -> str:
        """Physical name `{resource-type}-{environmentSuffix}` used for every resource."""
        return f"{resource_type}-{self.environment_suffix}"

    def global_name(self, resource_type: str) -> str:
        """Name for globally unique namespaces (S3): the account keeps it unique across accounts."""
        return f"{resource_type}-{self.account}-{self.environment_suffix}"


def validate_suffix(suffix: str) -> str:
    """Return the suffix if every resource name built from it is valid, else raise ConfigError."""
    if not suffix:
        raise ConfigError("environmentSuffix is empty; give one such as 'dev' or 'pr42'.")
    if len(suffix) > MAX_SUFFIX_LENGTH or not _SUFFIX_PATTERN.match(suffix):
        raise ConfigError(
            f"environmentSuffix {suffix!r} is not allowed: use 1-{MAX_SUFFIX_LENGTH} lower-case "
            "letters, digits and single hyphens, not starting or ending with a hyphen (e.g. 'pr42')."
        )
    return suffix


def _account(env: Mapping[str, str]) -> str:
    account = env.get("CDK_DEFAULT_ACCOUNT") or FALLBACK_ACCOUNT
    if not re.fullmatch(r"\d{12}", account):
        raise ConfigError(f"CDK_DEFAULT_ACCOUNT {account!r} is not a 12-digit AWS account id.")
    return account


def _region(env: Mapping[str, str]) -> str:
    region = env.get("CDK_DEFAULT_REGION") or REGION
    if region != REGION:
        raise ConfigError(f"This kit deploys to {REGION} only (single-region design); the target region is {region!r}.")
    return region


def load_config(context: Mapping[str, object], env: Mapping[str, str] = os.environ) -> EnvironmentConfig:
    """Build the configuration from CDK context (`-c key=value`) and environment variables.

    The suffix comes from `-c environmentSuffix=...`, else ENVIRONMENT_SUFFIX, else 'dev'.
    """
    raw_suffix = context.get("environmentSuffix")
    if raw_suffix is None:
        raw_suffix = env.get("ENVIRONMENT_SUFFIX", DEFAULT_SUFFIX)
    alarm_email = context.get("alarmEmail") or env.get("ALARM_EMAIL") or None
    if alarm_email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(alarm_email)):
        raise ConfigError(f"alarmEmail {alarm_email!r} is not an e-mail address.")
    suffix = validate_suffix(str(raw_suffix))
    return EnvironmentConfig(
        environment_suffix=suffix,
        account=_account(env),
        region=_region(env),
        alarm_email=str(alarm_email) if alarm_email else None,
        tags={"Project": "tap-dr", "EnvironmentSuffix": suffix},
    )


if __name__ == "__main__":
    # `python -m lib.config <suffix>`: the Makefile checks the suffix before it starts anything.
    try:
        validate_suffix(sys.argv[1] if len(sys.argv) > 1 else "")
    except ConfigError as error:
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(1)
