"""bin/app.py as the CDK CLI runs it: a bad suffix stops it with one sentence and writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.unit.conftest import REPO_ROOT, cdk_json_context


def run_app(tmp_path: Path, context: dict[str, object]) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**cdk_json_context(), **context}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "bin" / "app.py")], env=env, capture_output=True, text=True, timeout=120
    )


def test_bad_suffix_exits_non_zero_with_one_clear_sentence(tmp_path: Path) -> None:
    result = run_app(tmp_path, {"environmentSuffix": "Bad_Suffix"})
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: environmentSuffix 'Bad_Suffix' is not allowed: use 1-24 lower-case letters, digits and single "
        "hyphens, not starting or ending with a hyphen (e.g. 'pr42')."
    ]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cdk.out").exists() or not list((tmp_path / "cdk.out").glob("*.template.json"))


def test_make_deploy_suffix_check_refuses_before_anything_starts() -> None:
    """`make deploy` runs `python -m lib.config <suffix>` before it starts the emulator or the CLI."""
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    bad = subprocess.run(
        [sys.executable, "-m", "lib.config", "Pr 42"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("Error: environmentSuffix 'Pr 42' is not allowed")
    good = subprocess.run(
        [sys.executable, "-m", "lib.config", "pr42"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert good.returncode == 0
