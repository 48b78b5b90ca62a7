"""CDK's built-in CloudFormation validation, with its engine built in a second process ahead of time.

CDK validates every template at synth with ``CloudFormationValidatePlugin`` (the @aws/cloudformation-validate
engine plus CDK's default rules). Building that engine costs about 1.8 s before it looks at a template,
the same work on every synth, and CDK only starts it after the construct tree is built. A child
process (`lib/build/validation_worker.py`, started first thing by bin/app.py and again, idempotently, by
build_app) builds the same plugin on the machine's other core while this process builds the tree,
then validates the templates CDK hands over and sends the report back (every later app in the
process, e.g. a test session's, reuses it).
Same plugin, same rules, same acknowledgements (the plugin keeps CDK's name, so
``CloudFormation-Validate::<rule>`` acknowledgements still apply), and with
``@aws-cdk/core:validateAgainstDefaultRules`` on in cdk.json an error still fails synth.

Nothing is skipped silently: if the child dies or answers something unreadable, synth fails saying so.
``CDK_VALIDATION=false`` turns the validation off exactly as it does for CDK's own plugin.
"""

from __future__ import annotations

import json
import sys
from typing import Any, cast

import aws_cdk as cdk
import jsii

from lib.build.validation_worker import WORKER, Worker, enabled


@jsii.implements(cdk.IPolicyValidationPlugin)
class PrewarmedCloudFormationValidation:
    """Stands in for CDK's CloudFormationValidatePlugin; the engine runs in the worker started early."""

    def __init__(self, worker: Worker = WORKER) -> None:
        self._worker = worker

    # jsii sees only class-level properties as the interface's members, hence properties, not attributes.
    @property
    def name(self) -> str:
        return cdk.CloudFormationValidatePlugin.PLUGIN_NAME

    @property
    def rule_ids(self) -> list[str] | None:
        return None

    @property
    def version(self) -> str | None:
        return None

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        report = self._worker.validate(
            [
                {
                    "stack_construct_path": stack.stack_construct_path,
                    "template_path": stack.template_path,
                    "account_id": stack.account_id,
                    "region": stack.region,
                }
                for stack in context.stack_templates
            ]
        )
        return cdk.PolicyValidationPluginReport(
            success=report["success"],
            violations=[
                cdk.PolicyViolation(
                    **{
                        **violation,
                        "violating_resources": [
                            cdk.PolicyViolatingResource(**resource) for resource in violation["violating_resources"]
                        ],
                    }
                )
                for violation in report["violations"]
            ],
        )


_PLUGIN = PrewarmedCloudFormationValidation()


def add_builtin_validation(app: cdk.App) -> None:
    """Register the validation on an app created with ``builtin_cloud_formation_validation=False``."""
    if enabled():
        cdk.Validations.of(app).add_plugins(_PLUGIN)


@jsii.implements(cdk.IPolicyValidationContext)
class _Templates:
    """The context CDK would pass its plugin: the stacks' templates (the plugin reads nothing else)."""

    def __init__(self, stacks: list[dict[str, str]]) -> None:
        self._stacks = stacks

    @property
    def stack_templates(self) -> list[cdk.PolicyValidationStack]:
        return [cdk.PolicyValidationStack(**stack) for stack in self._stacks]

    @property
    def template_paths(self) -> list[str]:
        return [stack["template_path"] for stack in self._stacks]


def _violation(violation: Any) -> dict[str, Any]:
    return {
        "rule_name": violation.rule_name,
        "description": violation.description,
        "severity": violation.severity,
        "fix": violation.fix,
        "rule_metadata": dict(violation.rule_metadata) if violation.rule_metadata else None,
        "violating_resources": [
            {
                "locations": list(resource.locations),
                "construct_path": resource.construct_path,
                "resource_logical_id": resource.resource_logical_id,
                "template_path": resource.template_path,
            }
            for resource in violation.violating_resources
        ],
    }


def _serve() -> None:
    """The child: build the engine now, then validate each batch of templates until the parent goes away."""
    plugin = cdk.CloudFormationValidatePlugin()
    for request in sys.stdin:
        stacks = [{key: value for key, value in stack.items() if value} for stack in json.loads(request)]
        report = plugin.validate(cast(cdk.IPolicyValidationContext, _Templates(stacks)))
        answer = {"success": report.success, "violations": [_violation(v) for v in report.violations]}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    _serve()
