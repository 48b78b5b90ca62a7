"""bin/app.py as the CDK CLI runs it: bad input (suffix, profile, prod without an alert e-mail) stops it with
one sentence and writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib.app import cdk_json_context
from lib.config import main as config_main
from lib.deploy_target import REPO_ROOT


def run_app(tmp_path: Path, context: dict[str, object]) -> subprocess.CompletedProcess[str]:
    env = {
        **{key: value for key, value in os.environ.items() if key != "ALARM_EMAIL"},
        "CDK_CONTEXT_JSON": json.dumps({**cdk_json_context(), **context}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "bin" / "app.py")], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("context", "sentence"),
    [
        (
            {"environmentSuffix": "Bad_Suffix"},
            "Error: environmentSuffix 'Bad_Suffix' is not allowed: use 1-24 lower-case letters, digits and single "
            "hyphens, not starting or ending with a hyphen (e.g. 'pr42').",
        ),
        (
            {"environmentSuffix": "x" * 25},
            f"Error: environmentSuffix '{'x' * 25}' is not allowed: use 1-24 lower-case letters, digits and single "
            "hyphens, not starting or ending with a hyphen (e.g. 'pr42').",
        ),
        (
            {"profile": "staging"},
            "Error: profile 'staging' is unknown: use one of dev, prod (e.g. -c profile=dev).",
        ),
        (
            {"profile": "prod"},
            "Error: profile 'prod' pages someone, so it needs an alert e-mail: pass -c alarmEmail=you@example.com "
            "(make: ALARM_EMAIL=you@example.com).",
        ),
    ],
    ids=["bad-suffix", "suffix-overflow", "unknown-profile", "prod-without-email"],
)
def test_bad_input_exits_non_zero_with_one_clear_sentence(
    tmp_path: Path, context: dict[str, object], sentence: str
) -> None:
    result = run_app(tmp_path, context)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [sentence]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cdk.out").exists() or not list((tmp_path / "cdk.out").glob("*.template.json"))


def test_make_deploy_input_check_refuses_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    """`make deploy` runs `python -m lib.config <suffix> <profile>` before it starts the emulator or the CLI."""
    for args, start in (
        (["Pr 42"], "Error: environmentSuffix 'Pr 42' is not allowed"),
        (["pr42", "staging"], "Error: profile 'staging' is unknown"),
        (["pr42", "prod"], "Error: profile 'prod' pages someone"),
    ):
        assert config_main(args, env={}) == 1, args
        assert capsys.readouterr().err.strip().startswith(start)
    assert config_main(["pr42"], env={}) == 0
    assert config_main(["pr42", "prod"], env={"ALARM_EMAIL": "oncall@example.com"}) == 0
    # The module entry point Make calls exits with that status.
    env = {key: value for key, value in os.environ.items() if key != "ALARM_EMAIL"}
    refused = subprocess.run(
        [sys.executable, "-m", "lib.config", "pr42", "prod"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("Error: profile 'prod' pages someone")
