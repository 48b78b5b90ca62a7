"""Where `make deploy` put the stack: the flat outputs file and the endpoint it used.

`make deploy` writes both files; the integration tests read them, so a bare
`pytest tests/integration` reaches the same target without extra variables.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUTS_DIR = REPO_ROOT / "cfn-outputs"
FLAT_OUTPUTS = OUTPUTS_DIR / "flat-outputs.json"
TARGET_FILE = OUTPUTS_DIR / "target.json"


class OutputsError(RuntimeError):
    """The deployed outputs are missing or unusable; the message says how to produce them."""


def flatten(cdk_outputs: dict[str, dict[str, str]]) -> dict[str, str]:
    """`cdk deploy --outputs-file` writes {stack: {key: value}}; merge it into {key: value}."""
    flat: dict[str, str] = {}
    for stack_outputs in cdk_outputs.values():
        flat.update(stack_outputs)
    return flat


def read_flat_outputs(path: Path = FLAT_OUTPUTS) -> dict[str, str]:
    hint = "run `make deploy` (local emulator) or `make deploy TARGET=aws` first"
    if not path.is_file():
        raise OutputsError(f"{path} does not exist; {hint}.")
    try:
        outputs = json.loads(path.read_text() or "{}")
    except json.JSONDecodeError as error:
        raise OutputsError(f"{path} is not valid JSON ({error.msg}); {hint}.") from None
    if not isinstance(outputs, dict) or not outputs:
        raise OutputsError(f"{path} holds no outputs; {hint}.")
    return outputs


def read_target(path: Path = TARGET_FILE) -> dict[str, str]:
    """{"target": "local"|"aws", "endpoint_url": ...}; empty when no deploy recorded one."""
    return json.loads(path.read_text()) if path.is_file() else {}
