"""The child process that runs CDK's CloudFormation validation (lib/cfn_validation.py), started early.

This module imports nothing from CDK, so bin/app.py can start the child before it imports aws_cdk
itself: the child's import and engine build (~3 s together) then overlap all of the parent's work.
The child's stderr goes to a temporary file, not the parent's, and the child is killed when the
parent exits, so a parent that stops early (bad input) returns at once and leaves nothing running.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    """CDK's own switch: ``CDK_VALIDATION=false`` disables the built-in validation."""
    return env.get("CDK_VALIDATION") != "false"


class Worker:
    """One validation child per process, shared by every app the process synthesizes."""

    def __init__(self, command: tuple[str, ...] = (sys.executable, "-m", "lib.cfn_validation")) -> None:
        self._command = command
        self._process: subprocess.Popen[str] | None = None
        self._errors: IO[bytes] | None = None

    def start(self) -> None:
        """Start the child unless it is running (idempotent, so every entry point may call it)."""
        if self._process is None or self._process.poll() is not None:
            self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (read back when the child fails)
            if self._process is None:
                atexit.register(self.stop)
            self._process = subprocess.Popen(
                self._command,
                cwd=REPO_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                text=True,
                start_new_session=True,  # its own process group: stop() also ends the child's jsii node process
            )

    def stop(self) -> None:
        """Kill the child: at exit it has nothing left to validate, or was never needed."""
        if self._process is not None and self._process.poll() is None:
            with suppress(ProcessLookupError):  # it may end between the poll and the kill
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def validate(self, stacks: list[dict[str, Any]]) -> dict[str, Any]:
        """The child's report on these templates; a child that dies or answers garbage is an error."""
        self.start()
        process, errors = self._process, self._errors
        assert process is not None and process.stdin is not None and process.stdout is not None and errors
        try:
            process.stdin.write(json.dumps(stacks) + "\n")
            process.stdin.flush()
            report: dict[str, Any] = json.loads(process.stdout.readline())
            return report
        except (OSError, ValueError):
            self.stop()
            status = process.wait()
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip()[-2000:]
            raise RuntimeError(
                f"The CloudFormation validation process ended (exit {status}) without a report: {tail or 'no output'}"
            ) from None


WORKER = Worker()


def start() -> None:
    """Start building the validation engine now, unless validation is switched off."""
    if enabled():
        WORKER.start()
