"""CDK's built-in template validation still gates synth when its engine runs in the prewarmed child."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest

from lib import cfn_validation
from lib.app import CDK_JSON, new_app
from lib.build.validation_worker import Worker, enabled


def _app_with_a_broken_topic(outdir: str) -> cdk.App:
    app = new_app(outdir=outdir)
    stack = cdk.Stack(app, "Broken", env=cdk.Environment(account="123456789012", region="us-east-1"))
    cdk.CfnResource(stack, "Topic", type="AWS::SNS::Topic", properties={"TopicName": "t" * 300})
    return app


def test_default_rule_findings_are_errors() -> None:
    assert json.loads(CDK_JSON.read_text())["context"]["@aws-cdk/core:validateAgainstDefaultRules"] is True


def test_a_template_error_fails_synth_naming_rule_and_construct(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        _app_with_a_broken_topic(str(tmp_path)).synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    [plugin] = report["pluginReports"]
    assert (plugin["pluginName"], plugin["conclusion"]) == ("CloudFormation Validate", "failure")
    [violation] = plugin["violations"]
    assert violation["ruleName"] == "F3033" and "exceeds maximum 256" in violation["description"]
    assert violation["violatingConstructs"][0]["constructPath"] == "Broken/Topic"
    assert "ValidationFailed" in str(failure.value)


def test_a_lost_validation_process_fails_synth_instead_of_passing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A child that takes the templates and dies without answering, as a crashed engine would.
    crash = "import sys; sys.stdin.readline(); sys.exit('engine crashed')"
    dies = cfn_validation.PrewarmedCloudFormationValidation(Worker((sys.executable, "-c", crash)))
    monkeypatch.setattr(cfn_validation, "_PLUGIN", dies)
    app = new_app(outdir=str(tmp_path))
    cdk.Stack(app, "Fine").add_metadata("note", "nothing wrong here")
    with pytest.raises(RuntimeError, match=r"validation process ended \(exit 1\) without a report: engine crashed"):
        app.synth()


def test_cdk_validation_false_is_honoured() -> None:
    assert enabled({"CDK_VALIDATION": "false"}) is False
    assert enabled({}) is True
