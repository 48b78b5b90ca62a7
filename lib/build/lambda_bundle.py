"""Package a Lambda function folder with its third-party dependencies, without Docker.

CDK's own Python bundling needs Docker, which the build machines do not have. Instead pip installs
the function's ``requirements.txt`` for the Lambda platform (the Python and architecture of
lib/lambda_runtime.py, wheels only) into a cache directory, and the function's source files and the
shared package every function imports (``lib/lambda/dr_common``, as ``dr_common/``) are laid over a
copy of it.

Two caches under ``build_root`` (``<repo>/.build/lambda``, git-ignored) keep synth fast and offline
after the first build:

* ``deps/<function>-<hash>``: the installed dependencies, keyed by the content of
  ``requirements.txt`` and the target platform. pip runs only when that key changes.
* ``assets/<function>-<hash>``: the assembled package, keyed by the dependency key and every
  source file, the shared package's included. Unchanged sources give the same directory, hence the
  same CDK asset hash and no function update on deploy.

A requirements file lists the whole closure of what the package needs beyond the runtime, pinned:
pip installs exactly that (``--no-deps``), so a dependency's own requirement on something the runtime
provides (aws-xray-sdk's on botocore) adds no copy of it.

Each cache entry is built in a temporary directory and renamed into place, so an interrupted build
never leaves a half-filled entry behind. Nested requirement files (``-r other.txt``) are not part
of the key; keep a function's requirements in its one file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lib.lambda_runtime import PIP_PLATFORM, RUNTIME_PYTHON_VERSION

DEFAULT_BUILD_ROOT = Path(__file__).resolve().parents[2] / ".build" / "lambda"
SHARED_PACKAGE = Path(__file__).resolve().parents[1] / "lambda" / "dr_common"
# AWS's RDS CA bundle for us-east-1 in the shared package: what DB_CA_BUNDLE names (README, "TLS to Aurora").
RDS_CA_BUNDLE = f"{SHARED_PACKAGE.name}/rds-ca-us-east-1-bundle.pem"
REQUIREMENTS_FILE = "requirements.txt"
PIP_TARGET_ARGS = (
    "--platform",
    PIP_PLATFORM,
    "--implementation",
    "cp",
    "--python-version",
    RUNTIME_PYTHON_VERSION,
    "--only-binary=:all:",
)
# Excluded from the package: bytecode of the build machine's Python and anything test-only.
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", ".pytest_cache"})
EXCLUDED_FILE_PATTERNS = ("*.pyc", "test_*.py", "*_test.py", "conftest.py")
PIP_ERROR_TAIL_LINES = 15


class LambdaBundleError(RuntimeError):
    """Installing a function's dependencies failed; the message says which function and why."""


def bundle_function(
    source_dir: Path, build_root: Path = DEFAULT_BUILD_ROOT, shared_package: Path = SHARED_PACKAGE
) -> Path:
    """Return a directory for ``lambda.Code.from_asset``: sources, the shared package and the
    installed dependencies of ``requirements.txt`` (every function has one: the shared package
    needs Powertools)."""
    source_dir, build_root, shared_package = source_dir.resolve(), build_root.resolve(), shared_package.resolve()
    deps_dir = _installed_dependencies(source_dir.name, source_dir / REQUIREMENTS_FILE, build_root / "deps")
    sources = sorted(
        [(source_dir, relative) for relative in _source_files(source_dir)]
        + [(shared_package.parent, relative) for relative in _source_files(shared_package, shared_package.parent)]
    )
    digest = hashlib.sha256(deps_dir.name.encode())
    for root, relative in sources:
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update((root / relative).read_bytes() + b"\0")
    asset_dir = build_root / "assets" / f"{source_dir.name}-{digest.hexdigest()[:16]}"
    if not asset_dir.is_dir():
        with _atomic_directory(asset_dir) as staging:
            shutil.copytree(
                deps_dir,
                staging,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
            for root, relative in sources:
                (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / relative, staging / relative)
    return asset_dir


def _installed_dependencies(function_name: str, requirements: Path, deps_root: Path) -> Path:
    """The cached pip install for these requirements; runs pip only on a cache miss."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update("\0".join(PIP_TARGET_ARGS).encode())
    deps_dir = deps_root / f"{function_name}-{digest.hexdigest()[:16]}"
    if not deps_dir.is_dir():
        with _atomic_directory(deps_dir) as staging:
            _pip_install(function_name, requirements, staging)
    return deps_dir


def _pip_install(function_name: str, requirements: Path, target: Path) -> None:
    """Install wheels for the Lambda runtime, whatever Python and OS the build runs on."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",  # bytecode of the build Python is useless to the runtime
        # Exactly the pinned closure: what the runtime provides (boto3, botocore) stays out of the package.
        "--no-deps",
        "--target",
        str(target),
        *PIP_TARGET_ARGS,
        "-r",
        str(requirements),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        output = (completed.stderr or completed.stdout).strip().splitlines()
        tail = "\n".join(output[-PIP_ERROR_TAIL_LINES:]) or "(pip printed nothing)"
        raise LambdaBundleError(
            f"Installing the dependencies of Lambda function '{function_name}' from "
            f"{requirements} failed (pip exit code {completed.returncode}):\n{tail}"
        )


def _source_files(source_dir: Path, relative_to: Path | None = None) -> Iterator[Path]:
    """Paths, relative to ``relative_to`` (default ``source_dir``), of the files that belong in the package."""
    for root, dirs, files in os.walk(source_dir):
        dirs[:] = [name for name in dirs if name not in EXCLUDED_DIRS]
        for name in files:
            path = Path(root, name)
            if not any(path.match(pattern) for pattern in EXCLUDED_FILE_PATTERNS):
                yield path.relative_to(relative_to or source_dir)


@contextlib.contextmanager
def _atomic_directory(final: Path) -> Iterator[Path]:
    """Build a directory under a temporary name; rename it to ``final`` only on success."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would be copied into the package; Lambda needs r-x
    try:
        yield staging
        try:
            staging.rename(final)
        except OSError:
            # A concurrent build finished the same entry first; its content is identical.
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
