"""Builds the whole CDK app: validated configuration, the TapStack, its compliance checks, DR gate and
reachability check.

Shared by bin/app.py (the CLI entry point) and the unit tests, so both synthesize the same thing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk

from lib.build import validation_worker
from lib.cfn_validation import add_builtin_validation
from lib.compliance import acknowledge_findings, add_compliance_checks
from lib.config import CONTEXT_KEYS, load_config
from lib.dr_gate import DisasterRecoveryGate
from lib.network_reachability import ReachabilityCheck
from lib.tap_stack import TapStack, TapStackProps

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_json_context() -> dict[str, object]:
    """cdk.json's context: the feature flags and pinned AZs the CLI passes to every synth."""
    context: dict[str, object] = json.loads(CDK_JSON.read_text())["context"]
    return context


def new_app(context: Mapping[str, object] | None = None, outdir: str | None = None) -> cdk.App:
    """An app with cdk.json's context (feature flags, pinned AZs) under `context`, as the CLI would build it.

    CDK's built-in template validation runs as always, but through `lib.cfn_validation`, which builds
    the validation engine in a second process while the construct tree is built.
    """
    app = cdk.App(
        context={**cdk_json_context(), **(context or {})}, outdir=outdir, builtin_cloud_formation_validation=False
    )
    add_builtin_validation(app)
    return app


def build_app(app: cdk.App, env: Mapping[str, str] = os.environ) -> TapStack:
    """Attach the TapStack for the configured environment to `app`; raises ConfigError on bad input."""
    config = load_config({key: app.node.try_get_context(key) for key in CONTEXT_KEYS}, env)
    validation_worker.start()  # started already when bin/app.py runs; tests and tools start it here
    stack = TapStack(app, config.stack_name, props=TapStackProps(config=config))
    add_compliance_checks(app)
    stack.node.add_validation(DisasterRecoveryGate(stack, config.objectives))
    stack.node.add_validation(ReachabilityCheck(stack, config.environment_suffix))
    acknowledge_findings(stack, config)
    return stack
