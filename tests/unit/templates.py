"""The synthesized app the unit tests read: the app as `cdk synth` builds it, and its templates per layer."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

from aws_cdk.assertions import Template

from lib.app import build_app, new_app
from lib.tap_stack import TapStack

SUFFIX = "unittest"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Templates:
    parent: Template
    network: Template
    security: Template
    data: Template
    compute: Template
    resilience: Template

    def all(self) -> dict[str, Template]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def synthesized(**context: str) -> TapStack:
    """The app as `cdk synth -c ...` builds it, cdk-nag packs included (synth fails on unacknowledged findings).

    Each app writes its own assembly directory, never CDK_OUTDIR's, which may hold another app's.
    """
    app = new_app({"environmentSuffix": SUFFIX, **context}, outdir=tempfile.mkdtemp(prefix="cdk-unittest-"))
    stack = build_app(app, env={"CDK_DEFAULT_ACCOUNT": ACCOUNT})
    app.synth()  # runs the validation plugins: raises on any unacknowledged finding
    return stack


def templates_of(stack: TapStack) -> Templates:
    return Templates(
        parent=Template.from_stack(stack),
        network=Template.from_stack(stack.network),
        security=Template.from_stack(stack.security),
        data=Template.from_stack(stack.data),
        compute=Template.from_stack(stack.compute),
        resilience=Template.from_stack(stack.resilience),
    )


def only(template: Template, resource_type: str) -> dict:
    """The single resource of a type (fails if there is not exactly one)."""
    found = template.find_resources(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.values()))
