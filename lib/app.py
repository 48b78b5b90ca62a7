"""Builds the whole CDK app: validated configuration, the TapStack, its compliance checks and DR gate.

Shared by bin/app.py (the CLI entry point) and the unit tests, so both synthesize the same thing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import aws_cdk as cdk

from lib.compliance import acknowledge_findings, add_compliance_checks
from lib.config import CONTEXT_KEYS, load_config
from lib.dr_gate import DisasterRecoveryGate
from lib.tap_stack import TapStack, TapStackProps


def build_app(app: cdk.App, env: Mapping[str, str] = os.environ) -> TapStack:
    """Attach the TapStack for the configured environment to `app`; raises ConfigError on bad input."""
    config = load_config({key: app.node.try_get_context(key) for key in CONTEXT_KEYS}, env)
    stack = TapStack(app, config.stack_name, props=TapStackProps(config=config))
    add_compliance_checks(app)
    stack.node.add_validation(DisasterRecoveryGate(stack, config.objectives))
    acknowledge_findings(stack, config)
    return stack
