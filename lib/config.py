"""Environment configuration: the validated suffix, the profile, the deployment target and the naming rule.

Everything that varies between deployments is decided here, once, before any construct exists,
so a bad input stops the app with one sentence instead of a half-built tree or a jsii trace.

This module is also what the stacks share with the tools (the drill, the emulator's soak, the
protection check): objectives, region, naming and the few names the layers agree on. It imports no
CDK, so a tool that reads it starts in milliseconds and never starts jsii (unit-tested).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

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
CONTEXT_KEYS = ("environmentSuffix", "alarmEmail", "profile")
_SUFFIX_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MIN_INTERFACE_ENDPOINT_AZS = 2
# Aurora's range for SecondsUntilAutoPause (RDS API Reference, "ServerlessV2ScalingConfiguration").
AUTO_PAUSE_SECONDS = (300, 86_400)
# An hourly canary runs at this minute: just before the hourly backups (minute 0), so every hourly
# recovery point holds a heartbeat minutes old.
HOURLY_CANARY_MINUTE = 55

# Names the layers and the tools agree on.
HEARTBEAT_OBJECT_KEY = "heartbeat/latest.json"  # the one object the canary writes (its S3_HEARTBEAT_KEY)
HEALTH_CHECK_NAMESPACE = "DisasterRecovery/HealthCheck"  # the canary's CloudWatch metrics
WRITER_ID = "Writer"  # construct id of the Aurora writer instance (the cluster offers no typed handle on it)
# The prod locks' names, which tools/protection.py reads back to find and lift them: the break-glass
# role's type, the key policy statements that deny destroying a key, and the vault access policy's.
BREAK_GLASS_ROLE_TYPE = "role-breakglass"
KEY_DENY_SIDS = ("OnlyBreakGlassDisablesOrDeletesTheKey", "OnlyBreakGlassOrCloudFormationChangesTheKeyPolicy")
GUARDED_BY_CLEANUP_SID = "OnlyTheVaultCleanupDeletesRecoveryPoints"
GUARDED_BY_BREAK_GLASS_SID = "OnlyBreakGlassDeletesRecoveryPoints"


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
class Profile:
    """What differs between a test environment and production: size, retention and protection.

    Resource shapes, names and the recovery objectives are the same in every profile; the layers read
    these numbers and flags here instead of asking which profile they are in.

    ``aurora_seconds_until_auto_pause``: with a minimum capacity of 0 ACU, how long Aurora waits
    without connections before it pauses (None: never pauses). ``aurora_readers``: readers, placed in
    the availability zones after the writer's. ``deletion_protection``: on the Aurora cluster, the
    DynamoDB table and the stack itself (termination protection). ``vault_lock_min_retention_days``:
    the backup vault's lock in governance mode (None: no lock); it may not exceed the plan's retention,
    or AWS Backup would fail every job. ``log_retention``: how long CloudWatch Logs keeps every log
    group, by its ``aws_logs.RetentionDays`` name (this module imports no CDK).
    ``canary_interval_minutes``: how often the data-plane canary runs (a divisor of 60); in a pausing
    profile the pause delay must be shorter, so Aurora pauses between runs instead of never.
    ``restore_test_schedule``: when AWS Backup restore testing runs (a cron expression, UTC).
    ``interface_endpoint_azs``: how many AZs (the first ones) hold an ENI of each interface endpoint.
    """

    name: str
    aurora_min_capacity: float
    aurora_max_capacity: float
    aurora_seconds_until_auto_pause: int | None
    aurora_readers: int
    deletion_protection: bool
    vault_lock_min_retention_days: int | None
    log_retention: str
    alarm_email_required: bool
    interface_endpoint_azs: int
    canary_interval_minutes: int
    restore_test_schedule: str

    def __post_init__(self) -> None:
        self._check_canary_and_pause()
        if self.interface_endpoint_azs < MIN_INTERFACE_ENDPOINT_AZS:
            raise ConfigError(
                f"Profile {self.name!r} puts interface endpoints in {self.interface_endpoint_azs} AZ(s): at least "
                f"{MIN_INTERFACE_ENDPOINT_AZS} are needed, or losing one AZ cuts every function off the AWS APIs "
                "it calls through them."
            )

    def _check_canary_and_pause(self) -> None:
        interval, pause = self.canary_interval_minutes, self.aurora_seconds_until_auto_pause
        if interval < 1 or 60 % interval:
            raise ConfigError(
                f"Profile {self.name!r} runs the canary every {interval} minutes: use a divisor of 60 (5, 30, 60), "
                "so that its runs keep their place before each hourly backup."
            )
        if self.aurora_min_capacity > 0:
            if pause is not None:
                raise ConfigError(
                    f"Profile {self.name!r} sets an auto-pause delay with a minimum capacity of "
                    f"{self.aurora_min_capacity} ACU: Aurora pauses only at 0 ACU, so drop the delay or the floor."
                )
            return
        if pause is None or not AUTO_PAUSE_SECONDS[0] <= pause <= AUTO_PAUSE_SECONDS[1]:
            raise ConfigError(
                f"Profile {self.name!r} scales Aurora to 0 ACU, so it needs an auto-pause delay of "
                f"{AUTO_PAUSE_SECONDS[0]} to {AUTO_PAUSE_SECONDS[1]} seconds, not {pause}."
            )
        if pause >= interval * 60:
            raise ConfigError(
                f"Profile {self.name!r} pauses Aurora after {pause} s, not shorter than the canary's "
                f"{interval}-minute interval, so the canary would keep it awake and it would never pause."
            )

    @property
    def canary_schedule(self) -> str:
        """The canary's EventBridge schedule: hourly at ``HOURLY_CANARY_MINUTE``, else a rate."""
        if self.canary_interval_minutes == 60:
            return f"cron({HOURLY_CANARY_MINUTE} * * * ? *)"
        return f"rate({self.canary_interval_minutes} minutes)"


# dev: costs little when idle and destroys completely. The canary runs hourly (at minute 55, before the
# hourly backup) and Aurora pauses to 0 ACU five minutes after it. Restore tests run twice a month (the
# 1st and 15th, 05:00 UTC): weekly ones would put dev idle $3.29 over its $75 budget (README, "Cost");
# the drill still runs on demand. Interface endpoints sit in two AZs, still enough to survive losing one.
DEV = Profile(
    name="dev",
    aurora_min_capacity=0,
    aurora_max_capacity=4,
    aurora_seconds_until_auto_pause=300,
    aurora_readers=1,
    deletion_protection=False,
    vault_lock_min_retention_days=None,
    log_retention="ONE_WEEK",
    alarm_email_required=False,
    interface_endpoint_azs=2,
    canary_interval_minutes=60,
    restore_test_schedule="cron(0 5 1,15 * ? *)",
)
# prod: a warm floor, a reader in each of the other two AZs, data that an operator must unprotect
# before it can be deleted, a year of logs and someone to page; a canary every 5 minutes, daily
# restore tests (05:00 UTC, between the hourly backups' busy minutes), endpoints in all three AZs.
PROD = Profile(
    name="prod",
    aurora_min_capacity=2,
    aurora_max_capacity=16,
    aurora_seconds_until_auto_pause=None,
    aurora_readers=2,
    deletion_protection=True,
    vault_lock_min_retention_days=7,
    log_retention="ONE_YEAR",
    alarm_email_required=True,
    interface_endpoint_azs=3,
    canary_interval_minutes=5,
    restore_test_schedule="cron(0 5 ? * * *)",
)
PROFILES: Mapping[str, Profile] = {profile.name: profile for profile in (DEV, PROD)}
DEFAULT_PROFILE = DEV.name


@dataclass(frozen=True)
class EnvironmentConfig:
    """What one deployment of the kit needs to know; passed to every layer."""

    environment_suffix: str
    account: str = FALLBACK_ACCOUNT
    region: str = REGION
    availability_zones: tuple[str, ...] = DEFAULT_AVAILABILITY_ZONES
    vpc_cidr: str = "10.0.0.0/16"
    database_name: str = "appdb"
    profile: Profile = DEV
    objectives: RecoveryObjectives = field(default_factory=RecoveryObjectives)
    # How long an AZ-loss experiment cuts the AZ's isolated subnets off (ISO-8601, as FIS takes it).
    az_loss_duration: str = "PT10M"
    alarm_email: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.profile.interface_endpoint_azs > len(self.availability_zones):
            raise ConfigError(
                f"Profile {self.profile.name!r} puts interface endpoints in {self.profile.interface_endpoint_azs} "
                f"AZs, but the VPC spans only {len(self.availability_zones)}."
            )
        lock_days = self.profile.vault_lock_min_retention_days
        if lock_days is not None and lock_days > self.objectives.retention_days:
            raise ConfigError(
                f"Profile {self.profile.name!r} locks the backup vault for {lock_days} days, longer than the "
                f"{self.objectives.retention_days}-day retention, so AWS Backup would fail every backup job."
            )

    @property
    def stack_name(self) -> str:
        """The parent stack's name; what `cdk destroy` and the protection check look up."""
        return f"TapStack{self.environment_suffix}"

    def name(self, resource_type: str) -> str:
        """Physical name `{resource-type}-{environmentSuffix}` used for every resource."""
        return f"{resource_type}-{self.environment_suffix}"

    def aurora_readers(self) -> list[tuple[str, str, str]]:
        """(construct id, resource type, AZ) of each reader: the first is `Reader` / `aurora-reader`, the
        next `Reader2` / `aurora-reader-2`, each in the next AZ after the writer's."""
        zones = self.availability_zones[1 : 1 + self.profile.aurora_readers]
        return [
            ("Reader" if n == 1 else f"Reader{n}", "aurora-reader" if n == 1 else f"aurora-reader-{n}", zone)
            for n, zone in enumerate(zones, start=1)
        ]

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


def select_profile(name: str) -> Profile:
    """The profile called `name`, else ConfigError naming the allowed values."""
    if name not in PROFILES:
        raise ConfigError(f"profile {name!r} is unknown: use one of {', '.join(PROFILES)} (e.g. -c profile=dev).")
    return PROFILES[name]


def _alarm_email(value: object, profile: Profile) -> str | None:
    if not value:
        if profile.alarm_email_required:
            raise ConfigError(
                f"profile {profile.name!r} pages someone, so it needs an alert e-mail: pass "
                "-c alarmEmail=you@example.com (make: ALARM_EMAIL=you@example.com)."
            )
        return None
    if not _EMAIL_PATTERN.fullmatch(str(value)):
        raise ConfigError(f"alarmEmail {value!r} is not an e-mail address.")
    return str(value)


def load_config(context: Mapping[str, object], env: Mapping[str, str] = os.environ) -> EnvironmentConfig:
    """Build the configuration from CDK context (`-c key=value`) and environment variables.

    The suffix comes from `-c environmentSuffix=...`, else ENVIRONMENT_SUFFIX, else 'dev'; the profile
    from `-c profile=...`, else 'dev'; the alert e-mail from `-c alarmEmail=...`, else ALARM_EMAIL.
    """
    raw_suffix = context.get("environmentSuffix")
    if raw_suffix is None:
        raw_suffix = env.get("ENVIRONMENT_SUFFIX", DEFAULT_SUFFIX)
    suffix = validate_suffix(str(raw_suffix))
    profile = select_profile(str(context.get("profile") or DEFAULT_PROFILE))
    return EnvironmentConfig(
        environment_suffix=suffix,
        account=_account(env),
        region=_region(env),
        profile=profile,
        alarm_email=_alarm_email(context.get("alarmEmail") or env.get("ALARM_EMAIL"), profile),
        tags={"Project": "tap-dr", "EnvironmentSuffix": suffix, "Profile": profile.name},
    )


def main(argv: list[str], env: Mapping[str, str] = os.environ) -> int:
    """`python -m lib.config <suffix> [profile]`: the Makefile checks its inputs before it starts anything.

    The app's checks of what the user typed (suffix, profile, the alert e-mail from ALARM_EMAIL), one
    sentence on error; the account and region are the CLI's business and are checked by the app.
    """
    context = {"environmentSuffix": argv[0] if argv else "", "profile": argv[1] if len(argv) > 1 else None}
    try:
        load_config(context, {"ALARM_EMAIL": env.get("ALARM_EMAIL", "")})
    except ConfigError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
