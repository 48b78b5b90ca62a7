"""Which deployment a drill acts on, and what it needs there: the outputs, boto3 clients and the time.

The target is the one ``make deploy`` recorded in ``cfn-outputs/``: ``flat-outputs.json`` (the stack's
outputs) and ``target.json`` (``local`` with the emulator's endpoint, or ``aws``). ``AWS_ENDPOINT_URL``
in the environment wins, as in the integration tests; without any endpoint the drill goes to real
AWS with the environment's credentials. Every mismatch (a suffix or target other than the recorded
one, an endpoint for an AWS deployment, an emulator that does not answer) stops the drill before it
changes anything, with one sentence saying what to do.

"Now" is the target's, and so is waiting: on the emulator, time is its clock -- a drill that waits
advances it (``tick``: the emulator's restore jobs run on that clock, nothing finishes while one only
sleeps), and durations are emulated time, so "restore time vs RTO" is the emulated restore's; on AWS
a drill sleeps and times real time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from lib import output_keys as keys
from lib.config import REGION, RecoveryObjectives
from lib.deploy_target import FLAT_OUTPUTS, TARGET_FILE, OutputsError, read_flat_outputs, read_target
from tools.local_aws import control

from .errors import SetupError

LOCAL, AWS = "local", "aws"
DEFAULT_OUTPUTS_DIR = FLAT_OUTPUTS.parent
# The emulator's dummy credentials, used when the environment has none (as `make deploy` does).
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# How long a drill waits between two looks at something unfinished, in the target's time: on the
# emulator each wait advances its clock a minute (its jobs take emulated minutes), AWS takes minutes.
POLL_SECONDS = {LOCAL: 60.0, AWS: 15.0}
CLOCK_TIMEOUT_SECONDS = 5
BOTO_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 5, "mode": "standard"})


@dataclass
class Target:
    """One deployment of the kit: where it is, its outputs and its recovery objectives."""

    kind: str
    endpoint_url: str | None
    outputs: Mapping[str, str]
    credentials: Mapping[str, str] = field(default_factory=dict)
    objectives: RecoveryObjectives = field(default_factory=RecoveryObjectives)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        return f"the local emulator at {self.endpoint_url}" if self.endpoint_url else f"AWS ({REGION})"

    @property
    def poll_seconds(self) -> float:
        return POLL_SECONDS[self.kind]

    def client(self, service: str) -> Any:
        """One boto3 client per service, for this target."""
        if service not in self._clients:
            extra: dict[str, Any] = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
            self._clients[service] = boto3.client(  # type: ignore[call-overload]
                service, region_name=REGION, config=BOTO_CONFIG, **extra, **self.credentials
            )
        return self._clients[service]

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise SetupError(f"The deployment outputs have no {key}; run `make deploy` again to refresh them.")
        return value

    @property
    def suffix(self) -> str:
        return self.output(keys.ENVIRONMENT_SUFFIX)

    @cached_property
    def account_id(self) -> str:
        """The account the resources live in, for the ARNs AWS Backup knows them by."""
        return str(self.client("sts").get_caller_identity()["Account"])

    def now(self) -> datetime:
        """The target's time: the emulator's clock, or the real time on AWS."""
        if self.endpoint_url is None:
            return datetime.now(UTC)
        return datetime.fromisoformat(_control(self.endpoint_url, "clock", timeout=CLOCK_TIMEOUT_SECONDS)["now"])

    def seconds(self) -> float:
        """A reading in seconds to take durations from: the emulator's clock (only ever grows), or the
        monotonic clock of this machine on AWS (a wall-clock jump cannot bend it)."""
        if self.endpoint_url is None:
            return time.monotonic()
        return self.now().timestamp()

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass on the target: advance the emulator's clock (what falls due on the way
        runs, restore jobs move on), or sleep on AWS."""
        if self.endpoint_url is None:
            time.sleep(seconds)
            return
        _control(self.endpoint_url, "tick", {"minutes": seconds / 60})


def _control(endpoint: str, action: str, body: dict[str, Any] | None = None, timeout: float = 600) -> dict[str, Any]:
    """One request to the emulator's control API; SetupError if it does not answer."""
    try:
        return control.call(endpoint, action, body, timeout=timeout)
    except control.ControlError:
        raise SetupError(
            f"The local AWS emulator does not answer at {endpoint}; start it with `make deploy`."
        ) from None


def load_target(
    outputs_dir: Path, env: Mapping[str, str], *, suffix: str | None = None, kind: str | None = None
) -> Target:
    """The recorded deployment, checked against what the operator asked for (``suffix``, ``kind``)."""
    try:
        outputs = read_flat_outputs(outputs_dir / FLAT_OUTPUTS.name)
        recorded = read_target(outputs_dir / TARGET_FILE.name)
    except OutputsError as error:
        raise SetupError(str(error)) from None
    except ValueError:
        raise SetupError(f"{outputs_dir / TARGET_FILE.name} is not valid JSON; run `make deploy` again.") from None
    override = env.get("AWS_ENDPOINT_URL") or None
    endpoint = override or recorded.get("endpoint_url") or None
    if recorded.get("target") == AWS and override:
        raise SetupError(
            f"The deployment was recorded on AWS but AWS_ENDPOINT_URL points at {override}; "
            "unset it to drill the AWS deployment."
        )
    if recorded.get("target") == LOCAL and not endpoint:
        raise SetupError(
            "The deployment was recorded on the local emulator without an endpoint; run `make deploy` again."
        )
    resolved = LOCAL if endpoint else AWS
    if kind and kind != resolved:
        raise SetupError(
            f"The recorded deployment is on {resolved}, not {kind}; "
            f"drill it there or deploy with `make deploy TARGET={kind}`."
        )
    credentials = LOCAL_CREDENTIALS if endpoint and not env.get("AWS_ACCESS_KEY_ID") else {}
    target = Target(resolved, endpoint, outputs, credentials)
    if suffix and suffix != target.suffix:
        raise SetupError(
            f"The recorded deployment has the suffix {target.suffix!r}, not {suffix!r}; "
            f"drill {target.suffix!r} or deploy with `make deploy SUFFIX={suffix}` first."
        )
    target.now()  # an emulator that does not answer is named before anything else is tried
    return target
