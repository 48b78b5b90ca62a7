"""The ways a drill stops short, kept apart because each means something different to the caller."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError


class SetupError(Exception):
    """The drill cannot start (usage, deployment outputs, target, no recovery point): nothing has been
    changed. The message is one sentence for the operator; the exit code is 2."""


class StepFailed(Exception):
    """One recovery failed (its restore job failed, the copy does not answer or lacks the heartbeat);
    the other stores go on and the report says why. The exit code is 1."""


class Busy(Exception):
    """A resource cannot be deleted yet (a restore job is still creating it, a cluster still has an
    instance): the cleanup tries again after the poll interval. The message says what it waits for."""


# What an AWS call or a recovery step raises when it fails: reported per store, never a traceback.
FAILURES = (StepFailed, ClientError, BotoCoreError)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def describe(error: BaseException) -> str:
    """One line for a report: AWS errors as ``Code: message``, ours as their message."""
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"{error_code(error)}: {message}".rstrip(": ")
    return str(error) or type(error).__name__
