"""Suffix validation, target checks and naming: the app's only user inputs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lib.config import (
    DEV,
    MAX_SUFFIX_LENGTH,
    PROD,
    ConfigError,
    EnvironmentConfig,
    RecoveryObjectives,
    load_config,
    validate_suffix,
)

# The tightest names that carry the suffix, with their service limits.
TIGHTEST_NAMES = {
    "backup-selection": 50,  # AWS Backup selection names
    "backup-vault": 50,  # AWS Backup vault names
    "lambda-execution-role": 64,  # IAM role names
    "backup-job-completed": 64,  # EventBridge rule names
    "aurora-cluster-params": 255,
    "aurora-cluster": 63,  # RDS cluster identifiers
    "aurora-reader-2": 63,  # RDS instance identifiers (prod's second reader)
}
BUCKET_NAME_LIMIT = 63


@pytest.mark.parametrize("suffix", ["dev", "pr42", "a", "team-a-1", "x" * MAX_SUFFIX_LENGTH])
def test_valid_suffixes_are_accepted(suffix: str) -> None:
    assert validate_suffix(suffix) == suffix


@pytest.mark.parametrize(
    "suffix",
    ["", "Dev", "pr 42", "pr_42", "-pr42", "pr42-", "pr--42", "pr.42", "x" * (MAX_SUFFIX_LENGTH + 1), "prä"],
)
def test_invalid_suffixes_are_rejected_with_one_sentence(suffix: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate_suffix(suffix)
    message = str(error.value)
    assert "environmentSuffix" in message
    assert "\n" not in message


def test_longest_suffix_keeps_every_name_within_its_limit() -> None:
    config = EnvironmentConfig(environment_suffix="x" * MAX_SUFFIX_LENGTH)
    for resource_type, limit in TIGHTEST_NAMES.items():
        assert len(config.name(resource_type)) <= limit, resource_type
    for bucket in ("data-bucket", "access-logs"):
        assert len(config.global_name(bucket)) <= BUCKET_NAME_LIMIT, bucket


def test_names_follow_resource_type_dash_suffix() -> None:
    config = EnvironmentConfig(environment_suffix="pr7", account="111122223333")
    assert config.name("backup-vault") == "backup-vault-pr7"
    assert config.global_name("data-bucket") == "data-bucket-111122223333-pr7"


def test_context_wins_over_environment_variable() -> None:
    config = load_config({"environmentSuffix": "ctx"}, env={"ENVIRONMENT_SUFFIX": "envvar"})
    assert config.environment_suffix == "ctx"


def test_environment_variable_then_default() -> None:
    assert load_config({}, env={"ENVIRONMENT_SUFFIX": "envvar"}).environment_suffix == "envvar"
    assert load_config({}, env={}).environment_suffix == "dev"


def test_account_comes_from_the_cli_and_must_be_an_account_id() -> None:
    assert load_config({}, env={"CDK_DEFAULT_ACCOUNT": "111122223333"}).account == "111122223333"
    with pytest.raises(ConfigError, match="12-digit"):
        load_config({}, env={"CDK_DEFAULT_ACCOUNT": "not-an-account"})


def test_only_us_east_1_is_allowed() -> None:
    assert load_config({}, env={"CDK_DEFAULT_REGION": "us-east-1"}).region == "us-east-1"
    with pytest.raises(ConfigError, match="us-east-1 only"):
        load_config({}, env={"CDK_DEFAULT_REGION": "eu-west-1"})


def test_profile_comes_from_context_and_defaults_to_dev() -> None:
    assert load_config({}, env={}).profile is DEV
    assert load_config({"profile": "prod", "alarmEmail": "oncall@example.com"}, env={}).profile is PROD


def test_an_unknown_profile_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"profile": "staging"}, env={})
    assert str(error.value) == "profile 'staging' is unknown: use one of dev, prod (e.g. -c profile=dev)."


def test_prod_needs_an_alert_email_and_says_how_to_pass_it() -> None:
    with pytest.raises(ConfigError, match=r"needs an alert e-mail: pass -c alarmEmail=you@example.com"):
        load_config({"profile": "prod"}, env={})
    assert load_config({"profile": "prod"}, env={"ALARM_EMAIL": "oncall@example.com"}).alarm_email


def test_a_vault_lock_longer_than_the_retention_is_refused() -> None:
    # AWS Backup fails every job whose lifecycle is shorter than the vault lock's minimum retention.
    with pytest.raises(ConfigError, match="locks the backup vault for 8 days, longer than the 7-day retention"):
        EnvironmentConfig("pr1", profile=replace(PROD, vault_lock_min_retention_days=8))


def test_alarm_email_is_validated() -> None:
    assert load_config({"alarmEmail": "oncall@example.com"}, env={}).alarm_email == "oncall@example.com"
    with pytest.raises(ConfigError, match="e-mail"):
        load_config({"alarmEmail": "not-an-address"}, env={})


def test_suffix_is_tagged_on_everything() -> None:
    assert load_config({"environmentSuffix": "pr1"}, env={}).tags["EnvironmentSuffix"] == "pr1"


@pytest.mark.parametrize("rpo", [0, 30, 90])
def test_an_rpo_aws_backup_cannot_serve_is_refused(rpo: int) -> None:
    with pytest.raises(ConfigError, match=f"RPO of {rpo} minutes is not a whole number of hours"):
        RecoveryObjectives(rpo_minutes=rpo)


def test_objectives_are_one_hour_four_hours_seven_days_by_default() -> None:
    objectives = load_config({}, {}).objectives
    assert (objectives.rpo_minutes, objectives.rto_minutes, objectives.retention_days) == (60, 240, 7)


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        (
            {"aurora_seconds_until_auto_pause": 3600},
            "pauses Aurora after 3600 s, not shorter than the canary's 60-minute",
        ),
        ({"aurora_seconds_until_auto_pause": None}, "needs an auto-pause delay of 300 to 86400 seconds, not None"),
        ({"aurora_seconds_until_auto_pause": 120}, "needs an auto-pause delay of 300 to 86400 seconds, not 120"),
        ({"canary_interval_minutes": 45}, "runs the canary every 45 minutes: use a divisor of 60"),
        ({"aurora_min_capacity": 0.5}, "sets an auto-pause delay with a minimum capacity of 0.5 ACU"),
    ],
)
def test_a_canary_and_pause_delay_that_would_keep_aurora_awake_or_cannot_be_set_are_refused(
    change: dict[str, object], sentence: str
) -> None:
    with pytest.raises(ConfigError, match=sentence):
        replace(DEV, **change)  # type: ignore[arg-type]


def test_the_hourly_canary_runs_before_the_hourly_backup_and_a_faster_one_on_a_rate() -> None:
    assert DEV.canary_schedule == "cron(55 * * * ? *)"
    assert PROD.canary_schedule == "rate(5 minutes)"
    assert DEV.aurora_seconds_until_auto_pause is not None
    assert DEV.aurora_seconds_until_auto_pause < DEV.canary_interval_minutes * 60
