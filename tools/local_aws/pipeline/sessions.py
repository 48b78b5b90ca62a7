"""Role sessions in moto's STS: the pipeline's only access to moto (it belongs behind the facade).

A session started here is one moto knows, so GetCallerIdentity with its access key answers the
assumed-role ARN and moto files the key's requests under the role's account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RoleSession:
    """Temporary credentials of a role session, and who they belong to."""

    account_id: str
    arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    role_arn: str
    session_name: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime  # emulated time, naive UTC (moto's)


def assume_role(role_arn: str, session_name: str, region: str, duration_seconds: int) -> RoleSession:
    """sts:AssumeRole as the service does it for a function (the role need not exist, as in moto)."""
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    account_id = role_arn.split(":")[4]
    backend = sts_backends[account_id][get_partition(region)]
    assumed = backend.assume_role(
        region_name=region,
        role_session_name=session_name,
        role_arn=role_arn,
        policy="",
        duration=duration_seconds,
        external_id="",
    )
    return RoleSession(
        assumed.account_id,
        assumed.arn,
        role_arn,
        session_name,
        assumed.access_key_id,
        assumed.secret_access_key,
        assumed.session_token,
        assumed.expiration,
    )


def principal_of(access_key_id: str) -> tuple[str, str, str | None] | None:
    """(account, principal ARN, role ARN) of a key moto issued -- a role session's (AssumeRole
    through the API) or an IAM user's -- or None for a key moto does not know."""
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.sts.models import sts_backends

    account_id = get_account_id_from(access_key_id)
    for partition, iam in list(iam_backends[account_id].items()):  # the backends that exist (no new ones)
        if access_key_id not in iam.access_keys:
            continue
        assumed = sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key_id)
        if assumed is not None:
            return account_id, assumed.arn, assumed.role_arn
        user = iam.get_user_from_access_key_id(access_key_id)
        if user is not None:
            return account_id, user.arn, None
    return None


def default_account() -> str:
    """The account requests with keys moto does not know go to (moto's default)."""
    from moto.core import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)
