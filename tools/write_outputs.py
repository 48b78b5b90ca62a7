"""Turn `cdk deploy --outputs-file` output into cfn-outputs/flat-outputs.json and record the target.

Usage: python -m tools.write_outputs <cdk-outputs.json> <local|aws> [endpoint-url]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lib.deploy_target import FLAT_OUTPUTS, TARGET_FILE, flatten


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[1] not in ("local", "aws"):
        print("usage: python -m tools.write_outputs <cdk-outputs.json> <local|aws> [endpoint-url]", file=sys.stderr)
        return 2
    source = Path(argv[0])
    if not source.is_file():
        print(f"Error: {source} does not exist; the deploy wrote no outputs.", file=sys.stderr)
        return 1
    flat = flatten(json.loads(source.read_text()))
    if not flat:
        print(f"Error: {source} holds no stack outputs; the deploy did not finish.", file=sys.stderr)
        return 1
    FLAT_OUTPUTS.parent.mkdir(parents=True, exist_ok=True)
    FLAT_OUTPUTS.write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n")
    target = {"target": argv[1], **({"endpoint_url": argv[2]} if len(argv) == 3 else {})}
    TARGET_FILE.write_text(json.dumps(target, indent=2) + "\n")
    print(f"{len(flat)} outputs -> {FLAT_OUTPUTS}; target {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
