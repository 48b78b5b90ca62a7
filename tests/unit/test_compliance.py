"""cdk-nag gates synth: the app passes only because every finding is fixed or acknowledged."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from lib.app import new_app
from lib.compliance import StaleAcknowledgementError, acknowledge_findings, acknowledged, add_compliance_checks
from lib.config import DEV, PROD, EnvironmentConfig
from lib.tap_stack import TapStack


def test_the_app_synthesizes_with_both_rule_packs(tap_stack: TapStack) -> None:
    # The session fixture ran app.synth() with the packs; a finding without acknowledgement raises there.
    assert tap_stack.node.metadata is not None
    assert cdk.Stage.of(tap_stack).synth().get_stack_by_name(tap_stack.stack_name)


def test_an_unacknowledged_finding_fails_synth() -> None:
    app = new_app()
    stack = cdk.Stack(app, "Bare")
    s3.Bucket(stack, "Bucket")  # no logging, no TLS enforcement, no replication
    add_compliance_checks(app)
    with pytest.raises(Exception, match=r"ValidationFailed(.|\n)*AwsSolutions-S10"):
        app.synth()


def test_a_stale_acknowledgement_fails_loudly() -> None:
    stack = cdk.Stack(cdk.App(), "Empty")
    with pytest.raises(StaleAcknowledgementError, match="Network/Vpc/Resource"):
        acknowledge_findings(stack, EnvironmentConfig(environment_suffix="unittest"))


@pytest.mark.parametrize("profile", [DEV, PROD], ids=lambda profile: profile.name)
def test_every_acknowledgement_has_a_specific_reason(profile) -> None:
    findings = acknowledged(EnvironmentConfig(environment_suffix="unittest", profile=profile))
    assert len({(f.path, f.rule) for f in findings}) == len(findings)
    for finding in findings:
        assert len(finding.reason) > 60, finding


def test_only_an_unprotected_profile_acknowledges_deletion_protection_off() -> None:
    def rules(profile) -> set[str]:
        return {f.rule for f in acknowledged(EnvironmentConfig(environment_suffix="unittest", profile=profile))}

    assert "AwsSolutions-RDS10" in rules(DEV)
    assert "AwsSolutions-RDS10" not in rules(PROD)
