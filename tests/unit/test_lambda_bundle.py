"""Unit tests of the Docker-free Lambda packaging (lib/build/lambda_bundle.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore
import pytest

from lib.build import lambda_bundle
from lib.build.lambda_bundle import RUNTIME_PYTHON_VERSION, LambdaBundleError, bundle_function

HEALTH_CHECK_DIR = Path(__file__).resolve().parents[2] / "lib" / "lambda" / "health_check"
RDS_CA_SOURCE = lambda_bundle.SHARED_PACKAGE / "rds-ca-us-east-1-bundle.pem"


class FakePip:
    """Replaces ``subprocess.run``: records pip calls and installs a one-file package.

    The package records the requirement it was installed for, to tell cache entries apart.
    """

    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode
        self.stderr = stderr

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "fakedep").mkdir()
        requirement = Path(command[-1]).read_text().strip()
        (target / "fakedep" / "__init__.py").write_text(f"REQUIREMENT = {requirement!r}\n")
        return subprocess.CompletedProcess(command, self.returncode, "", self.stderr)


def refuse_to_run(command: list[str], **kwargs: Any) -> None:
    raise AssertionError(f"pip must not run on a cache hit: {command}")


@pytest.fixture
def function_dir(tmp_path: Path) -> Path:
    """A function folder with a requirement, a sub-package and the files that must stay out."""
    source = tmp_path / "src" / "my_function"
    (source / "helpers").mkdir(parents=True)
    (source / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (source / "helpers" / "__init__.py").write_text("")
    (source / "requirements.txt").write_text("fakedep==1.0\n")
    for excluded in ("__pycache__/handler.cpython-311.pyc", "tests/test_handler.py", "conftest.py"):
        (source / excluded).parent.mkdir(exist_ok=True)
        (source / excluded).write_text("excluded\n")
    return source


def test_real_pip_run_bundles_exactly_the_pinned_closure(tmp_path: Path) -> None:
    """The handler and its pinned dependencies import from the bundle; botocore, which the runtime
    provides (and aws-xray-sdk requires), is not copied in (pip runs with --no-deps)."""
    bundle = bundle_function(HEALTH_CHECK_DIR, build_root=tmp_path / "build")

    assert (bundle / "handler.py").read_bytes() == (HEALTH_CHECK_DIR / "handler.py").read_bytes()
    assert not list(bundle.rglob("__pycache__")) and not list(bundle.rglob("*.pyc"))
    assert not (bundle / "botocore").exists() and not (bundle / "urllib3").exists()
    assert (bundle / lambda_bundle.RDS_CA_BUNDLE).read_bytes() == (RDS_CA_SOURCE).read_bytes()
    # -S: no site-packages; the dev venv's botocore stands in for the runtime's, after the bundle on
    # the path, so everything the bundle holds is imported from the bundle.
    runtime = Path(botocore.__file__).resolve().parents[1]
    modules = "dr_common.postgres, dr_common.observability, pg8000.native, scramp, dateutil, aws_xray_sdk.core, wrapt"
    imported = subprocess.run(
        [sys.executable, "-S", "-B", "-c", f"import {modules}; print(pg8000.__file__); print(aws_xray_sdk.__file__)"],
        cwd=bundle,
        env={**os.environ, "PYTHONPATH": str(runtime)},
        capture_output=True,
        text=True,
        check=True,
    )
    for module_file in imported.stdout.split():
        assert Path(module_file).resolve().is_relative_to(bundle.resolve())


def test_second_bundle_is_a_cache_hit_without_pip(
    function_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pip = FakePip()
    monkeypatch.setattr(lambda_bundle.subprocess, "run", pip)
    first = bundle_function(function_dir, build_root=tmp_path / "build")

    monkeypatch.setattr(lambda_bundle.subprocess, "run", refuse_to_run)
    second = bundle_function(function_dir, build_root=tmp_path / "build")

    assert second == first
    (command,) = pip.calls
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    for option in ("manylinux2014_x86_64", RUNTIME_PYTHON_VERSION, "--only-binary=:all:", "cp", "--no-deps"):
        assert option in command
    assert command[-2:] == ["-r", str(function_dir / "requirements.txt")]
    files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    own = [name for name in files if not name.startswith("dr_common/")]  # the shared package: its own test
    assert own == ["fakedep/__init__.py", "handler.py", "helpers/__init__.py", "requirements.txt"]


def test_source_change_reassembles_without_pip_and_requirements_change_reinstalls(
    function_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pip = FakePip()
    monkeypatch.setattr(lambda_bundle.subprocess, "run", pip)
    first = bundle_function(function_dir, build_root=tmp_path / "build")

    (function_dir / "handler.py").write_text("def handler(event, context):\n    return 2\n")
    second = bundle_function(function_dir, build_root=tmp_path / "build")
    assert second != first
    assert "return 2" in (second / "handler.py").read_text()
    assert "return 1" in (first / "handler.py").read_text()
    assert len(pip.calls) == 1

    (function_dir / "requirements.txt").write_text("fakedep==2.0\n")
    third = bundle_function(function_dir, build_root=tmp_path / "build")
    assert len(pip.calls) == 2
    assert "fakedep==2.0" in (third / "fakedep" / "__init__.py").read_text()
    assert "fakedep==1.0" in (second / "fakedep" / "__init__.py").read_text()


def test_pip_failure_names_the_function_and_leaves_no_cache(
    function_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    noise = [f"Looking in indexes: line {n}" for n in range(40)]
    error = "ERROR: No matching distribution found for fakedep==1.0"
    monkeypatch.setattr(lambda_bundle.subprocess, "run", FakePip(returncode=1, stderr="\n".join([*noise, error])))

    with pytest.raises(LambdaBundleError) as raised:
        bundle_function(function_dir, build_root=tmp_path / "build")

    message = str(raised.value)
    assert "Lambda function 'my_function'" in message
    assert "pip exit code 1" in message
    assert message.endswith(error)
    assert "line 0" not in message  # only the tail of pip's output
    assert list((tmp_path / "build" / "deps").iterdir()) == []  # no half-installed cache entry


def test_every_bundle_holds_the_shared_package_and_changes_with_it(
    function_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lambda_bundle.subprocess, "run", FakePip())
    shared = tmp_path / "shared" / "dr_common"
    shared.mkdir(parents=True)
    (shared / "__init__.py").write_text("VERSION = 1\n")

    first = bundle_function(function_dir, build_root=tmp_path / "build", shared_package=shared)
    (shared / "__init__.py").write_text("VERSION = 2\n")
    second = bundle_function(function_dir, build_root=tmp_path / "build", shared_package=shared)

    assert (first / "dr_common" / "__init__.py").read_text() == "VERSION = 1\n"
    assert (second / "dr_common" / "__init__.py").read_text() == "VERSION = 2\n"
    assert first != second  # a new asset hash, so a deploy updates every function


def test_default_build_root_is_git_ignored_build_folder() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert repo / ".build" / "lambda" == lambda_bundle.DEFAULT_BUILD_ROOT
    assert ".build/" in (repo / ".gitignore").read_text().splitlines()
