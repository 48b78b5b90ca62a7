"""cdk-nag gates synth: the app passes only because every finding is fixed or acknowledged."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from lib.app import new_app
from lib.compliance import ACKNOWLEDGED, StaleAcknowledgementError, acknowledge_findings, add_compliance_checks
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
        acknowledge_findings(stack, "123456789012")


def test_every_acknowledgement_has_a_specific_reason() -> None:
    assert len({(f.path, f.rule) for f in ACKNOWLEDGED}) == len(ACKNOWLEDGED)
    for finding in ACKNOWLEDGED:
        assert len(finding.reason) > 60, finding
