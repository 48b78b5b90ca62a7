"""Who may import whom: constructs never import stacks; tools never import stacks, constructs or the
CDK. A tool that pulled in a stack for one constant started jsii (0.7 s and Node's banners) just to
print its --help; what stacks and tools share lives in the CDK-free ``lib.config``."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The one tool that builds the app on purpose: it benchmarks synth.
BUILDS_THE_APP = {"tools/bench.py"}
# What a tool may not import (the CDK app and everything that loads aws_cdk).
CDK_MODULES = ("aws_cdk", "constructs", "cdk_nag", "jsii", "lib.stacks", "lib.constructs", "lib.app", "lib.tap_stack")


def imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def offending(paths: Iterator[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(REPO_ROOT)} imports {module}"
        for path in paths
        for module in imports(path)
        if any(module == name or module.startswith(f"{name}.") for name in forbidden)
    ]


def test_constructs_never_import_stacks() -> None:
    assert offending((REPO_ROOT / "lib" / "constructs").rglob("*.py"), ("lib.stacks",)) == []


def test_only_the_app_and_the_parent_stack_import_the_layers() -> None:
    importers = [
        path
        for path in (REPO_ROOT / "lib").rglob("*.py")
        if path.relative_to(REPO_ROOT).as_posix() not in {"lib/tap_stack.py", "lib/app.py"}
        and not path.is_relative_to(REPO_ROOT / "lib" / "stacks")
    ]

    assert offending(iter(importers), ("lib.stacks",)) == []


def test_tools_never_import_the_cdk_app() -> None:
    tools = (
        path
        for path in (REPO_ROOT / "tools").rglob("*.py")
        if path.relative_to(REPO_ROOT).as_posix() not in BUILDS_THE_APP
    )

    assert offending(tools, CDK_MODULES) == []


@pytest.mark.parametrize("tool", ["tools.dr_drill", "tools.protection", "tools.local_aws"])
def test_a_tools_help_starts_without_the_cdk(tool: str) -> None:
    started = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", tool, "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    timings = (line for line in started.stderr.splitlines() if line.startswith("import time:"))
    loaded = {line.rsplit("|", 1)[-1].strip() for line in timings}
    assert started.returncode == 0, started.stderr[-500:]
    assert not {module for module in loaded if module.split(".")[0] in {"aws_cdk", "jsii", "constructs"}}
