#!/usr/bin/env python3
"""CDK entry point: context -> validated configuration -> TapStack.

A bad input (suffix, account, region) ends the app with one sentence on stderr and exit code 1,
before any construct exists, so nothing is synthesized or deployed half-way.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from lib.build import validation_worker  # noqa: E402  (no CDK import: starts before aws_cdk loads)

validation_worker.start()  # CloudFormation validation's engine builds on the other core meanwhile

from lib.app import build_app, new_app  # noqa: E402
from lib.config import ConfigError  # noqa: E402


def main() -> int:
    # cdk.json's context (feature flags, pinned AZs) also applies when this file is run directly;
    # context the CLI passes takes precedence over it.
    app = new_app()
    try:
        build_app(app)
    except ConfigError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
