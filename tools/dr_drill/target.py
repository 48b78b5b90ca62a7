"""Which deployment a drill acts on, and what it needs there: the outputs, boto3 clients and the time.

The target is the one ``make deploy`` recorded in ``cfn-outputs/``: ``flat-outputs.json`` (the stack's
outputs) and ``target.json`` (``local`` with the emulator's endpoint, or ``aws``). ``AWS_ENDPOINT_URL``
in the environment wins, as in the integration tests; without any endpoint the drill goes to real
AWS with the environment's credentials. Every mismatch (a suffix or target other than the recorded
one, an endpoint for an AWS deployment, an emulator that does not answer) stops the drill before it
changes anything, with one sentence saying what to do.

"Now" is the target's: the emulator's clock (tests advance it instead of sleeping) or the real time.
"""

from __future__ import annotations

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
# How long a drill waits between two looks at something unfinished: the emulator finishes jobs at
# once (a state may still flip on the next read), AWS takes minutes.
POLL_SECONDS = {LOCAL: 0.2, AWS: 15.0}
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
        try:
            answer = control.call(self.endpoint_url, "clock", timeout=CLOCK_TIMEOUT_SECONDS)
        except control.ControlError:
            raise SetupError(
                f"The local AWS emulator does not answer at {self.endpoint_url}; start it with `make deploy`."
            ) from None
        return datetime.fromisoformat(answer["now"])


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
