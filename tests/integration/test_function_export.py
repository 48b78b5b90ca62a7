"""Lambda functions are recoverable without the repository: the deploy exported each function's
package and configuration into the backed-up data bucket, and the drill recreates one from there."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

import pytest

from lib import output_keys as keys
from lib.deploy_target import REPO_ROOT

# Against AWS: the drill recreates one function and deletes it.
pytestmark = pytest.mark.aws_minutes(2)


def test_the_canary_is_exported_with_the_package_it_runs(client, outputs) -> None:
    name = outputs[keys.FUNCTION_NAME]
    s3 = client("s3")
    prefix = f"lambda-exports/{name}/"
    configuration = json.loads(
        s3.get_object(Bucket=outputs[keys.BUCKET_NAME], Key=f"{prefix}configuration.json")["Body"].read()
    )
    package = s3.get_object(Bucket=outputs[keys.BUCKET_NAME], Key=f"{prefix}code.zip")["Body"].read()

    deployed = client("lambda").get_function(FunctionName=name)["Configuration"]
    assert configuration["CodeSha256"] == deployed["CodeSha256"]
    assert base64.b64encode(hashlib.sha256(package).digest()).decode() == deployed["CodeSha256"]
    assert (configuration["Handler"], configuration["Runtime"]) == (deployed["Handler"], deployed["Runtime"])


def test_the_drill_recreates_a_function_from_its_export_and_removes_the_copy(client, outputs, suffix, tmp_path) -> None:
    name = outputs[keys.FUNCTION_NAME]
    copy = f"health-check-restored-{suffix}"
    drill = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.dr_drill",
            "restore",
            "--function",
            name,
            "--as",
            copy,
            "--report-dir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert drill.returncode == 0, drill.stdout + drill.stderr
    report = json.loads((tmp_path / "latest-restore.json").read_text())
    assert report["outcome"] == "passed"
    functions = client("lambda").list_functions()["Functions"]
    assert copy not in {function["FunctionName"] for function in functions}  # removed after the drill
