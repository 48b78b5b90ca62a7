"""Step 1: who is calling. The request's access key becomes a ``Caller``; work the emulator does on
someone's behalf (AWS Backup with the role it was given) runs ``acting_as`` that caller.

Callers, as on AWS:
- a Lambda execution environment: its own role session, started when the environment starts
  (``start_function_session``), named after the function, with the function's subnets and
  security groups and the subnet the environment was placed in: its access key tells the
  environment apart from the function's other environments;
- a role session or IAM user moto issued (sts:AssumeRole, iam:CreateAccessKey through the API);
- AWS Backup's jobs and restores: the role given to StartBackupJob / StartRestoreJob or the plan's
  selection, acting for ``backup.amazonaws.com`` (``service_caller``);
- any other key (the local dummy ``testing`` of the CDK CLI and the tests): the account's root.
A request without a signature has no caller (None).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from .. import clock, world
from .request import Caller, Request

# Lambda does not document how long an environment's credentials last; this is STS's longest role
# session. An environment whose credentials would expire during an invocation is replaced.
FUNCTION_SESSION_SECONDS = 12 * 3600

_registry_lock = threading.Lock()
_function_callers: dict[str, Caller] = {}  # access key id -> the execution environment's caller
_acting: ContextVar[Caller | None] = ContextVar("local_aws_caller", default=None)


def identify(request: Request) -> Request:
    """The request with its caller."""
    return replace(request, caller=caller_of(request.access_key) if request.access_key else None)


def caller_of(access_key_id: str) -> Caller:
    with _registry_lock:
        known = _function_callers.get(access_key_id)
    if known is not None:
        return known
    principal = world.principal_of(access_key_id)
    if principal is None:
        return Caller.root(world.default_account())
    account_id, principal_arn, role_arn = principal
    session_name = principal_arn.rsplit("/", 1)[-1] if role_arn else None
    return Caller(account_id, principal_arn, role_arn=role_arn, session_name=session_name)


def current() -> Caller | None:
    """The caller of the request or the work this thread (or task) is doing now."""
    return _acting.get()


@contextmanager
def acting_as(caller: Caller | None) -> Iterator[None]:
    """Everything inside the block is done for ``caller`` (``current()`` answers it)."""
    token = _acting.set(caller)
    try:
        yield
    finally:
        _acting.reset(token)


def service_caller(role_arn: str, service: str) -> Caller:
    """An AWS service acting with a role it was given. The session name such a service uses is not
    documented, so the role itself is the principal (IAM evaluates the role's policies)."""
    return Caller(role_arn.split(":")[4], role_arn, role_arn=role_arn, service=service)


@dataclass(frozen=True)
class FunctionSession:
    """An execution environment's credentials and the caller they identify."""

    caller: Caller
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime

    def environment(self) -> dict[str, str]:
        """The variables Lambda gives the function's code."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def expires_within(self, seconds: float) -> bool:
        return clock.now() + timedelta(seconds=seconds) >= self.expiration


def start_function_session(
    function_arn: str,
    role_arn: str,
    region: str,
    subnet_ids: tuple[str, ...] = (),
    security_group_ids: tuple[str, ...] = (),
    subnet_id: str | None = None,
) -> FunctionSession:
    """The function's role assumed for one execution environment placed in ``subnet_id`` (None
    outside a VPC), the session named after the function, as Lambda does: GetCallerIdentity with
    these credentials answers ``arn:aws:sts::<account>:assumed-role/<role>/<function>``."""
    function_name = function_arn.split(":")[6]
    session = world.assume_role(role_arn, function_name, region, FUNCTION_SESSION_SECONDS)
    caller = Caller(
        session.account_id,
        session.arn,
        role_arn=role_arn,
        session_name=function_name,
        function_arn=function_arn,
        subnet_ids=subnet_ids,
        security_group_ids=security_group_ids,
        subnet_id=subnet_id,
    )
    with _registry_lock:
        _function_callers[session.access_key_id] = caller
    expiration = session.expiration.replace(tzinfo=UTC)
    return FunctionSession(caller, session.access_key_id, session.secret_access_key, session.session_token, expiration)
