"""PostgreSQL over TLS, as both the canary and the restore validation reach Aurora.

TLS is mandatory (the cluster sets ``rds.force_ssl``) and so is verifying the server: its
certificate, host name included, must chain to a CA of the PEM file ``DB_CA_BUNDLE`` names
(relative to the function's directory, or absolute). Every function package carries AWS's RDS CA
bundle for us-east-1 as ``dr_common/rds-ca-us-east-1-bundle.pem`` (where it comes from: the
docs/SECURITY.md, "TLS to Aurora"). An unset variable or a missing file fails before any connection: never
a downgrade to an unverified server.

The canary and the restore probe log in as database users of their own with IAM authentication
tokens (``iam_token``); only the database-users custom resource uses the master user's secret.
"""

from __future__ import annotations

import functools
import json
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg8000.native

from dr_common.settings import ConfigurationError, require

CA_BUNDLE_VARIABLE = "DB_CA_BUNDLE"


class InvalidSecret(ValueError):
    """The database secret is not JSON with ``username`` and ``password`` (its content never shown)."""


@dataclass(frozen=True)
class Credentials:
    """Database login; the password stays out of ``repr`` and therefore out of any log line."""

    username: str
    password: str = field(repr=False)

    @classmethod
    def from_secret(cls, secret_string: str) -> Credentials:
        try:
            secret = json.loads(secret_string)
            return cls(username=str(secret["username"]), password=str(secret["password"]))
        except (ValueError, KeyError, TypeError):
            raise InvalidSecret("the database secret is not JSON with 'username' and 'password'") from None

    def redact(self, text: str) -> str:
        """Drivers may echo connection details in errors; the password must never reach a log."""
        return text.replace(self.password, "***") if self.password else text


def ca_bundle(environ: Mapping[str, str], function_dir: Path) -> Path:
    """The packaged CA bundle ``DB_CA_BUNDLE`` names; ConfigurationError when it names none."""
    require(environ, CA_BUNDLE_VARIABLE)
    return function_dir / environ[CA_BUNDLE_VARIABLE]


@functools.cache
def ssl_context(bundle: Path) -> ssl.SSLContext:
    """TLS 1.2+ context that verifies the server certificate and host name against ``bundle``."""
    if not bundle.is_file():
        raise ConfigurationError(f"DB_CA_BUNDLE file {bundle} is not in the package")
    context = ssl.create_default_context(cafile=str(bundle))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect(
    host: str,
    port: int,
    database: str,
    credentials: Credentials,
    ca_bundle: Path,
    *,
    timeout: float,
    application_name: str,
) -> pg8000.native.Connection:
    """An open connection over TLS (``ssl_context(ca_bundle)``); ``timeout`` bounds connecting, the
    handshake and each statement."""
    context = ssl_context(ca_bundle)  # first: a named bundle that is absent fails before any connection
    return pg8000.native.Connection(
        user=credentials.username,
        password=credentials.password,
        host=host,
        port=port,
        sock=no_delay_socket(host, port, timeout),
        database=database,
        ssl_context=context,
        timeout=timeout,
        application_name=application_name,
    )


def iam_token(host: str, port: int, user: str) -> Credentials:
    """``user``'s login with an IAM authentication token for ``host:port`` (valid 15 minutes). botocore
    signs it locally with the function's credentials: no call to the RDS API, no endpoint needed."""
    import boto3  # the Lambda runtime's (not in the package): imported only where a token is made

    with _signer_lock:
        signer = _signer.get("rds") or _signer.setdefault("rds", boto3.client("rds"))
    return Credentials(username=user, password=str(signer.generate_db_auth_token(host, port, user)))


_signer_lock = threading.Lock()  # the canary's checks run in threads; creating clients is not thread-safe
_signer: dict[str, Any] = {}


def no_delay_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection with Nagle's algorithm off, as libpq opens it. pg8000 leaves it on, and each
    round trip of the TLS and SCRAM login then waits for the server's delayed ACK: about 50 ms per
    connection instead of under 10. The error on failure is pg8000's own."""
    try:
        connection = socket.create_connection((host, port), timeout)
    except OSError as error:
        raise pg8000.native.InterfaceError(
            f"Can't create a connection to host {host} and port {port} (timeout is {timeout}): {error}"
        ) from None
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection
