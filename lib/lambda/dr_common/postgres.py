"""PostgreSQL over TLS, as both the canary and the restore validation reach Aurora.

TLS is mandatory (the cluster sets ``rds.force_ssl``), so the connection is always encrypted and a
server refusing TLS is an error. The server certificate, host name included, is verified only when
``DB_CA_BUNDLE`` names a PEM file packaged with the function (relative to the function's directory,
or absolute); a bundle that is named but absent fails rather than downgrades. The AWS RDS CA bundle
(``https://truststore.pki.rds.amazonaws.com/<region>/<region>-bundle.pem``) is not in the
repository: the build has no internet access to fetch it. Without it the traffic is encrypted but
the server is not authenticated -- safe from eavesdropping, not from an active man-in-the-middle
inside the VPC -- and a warning is logged once per container.
"""

from __future__ import annotations

import functools
import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pg8000.native

from dr_common.observability import current_logger
from dr_common.settings import ConfigurationError

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


def ca_bundle(environ: Mapping[str, str], function_dir: Path) -> Path | None:
    """The packaged CA bundle ``DB_CA_BUNDLE`` names, or None when it names none."""
    name = environ.get(CA_BUNDLE_VARIABLE)
    return function_dir / name if name else None


@functools.cache
def ssl_context(bundle: Path | None) -> ssl.SSLContext:
    """TLS 1.2+ context; cached, so the missing-bundle warning appears once per container."""
    if bundle is None:
        current_logger().warning(
            "RDS CA bundle is not packaged (DB_CA_BUNDLE unset): Aurora traffic is encrypted, "
            "but the server certificate is not verified"
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
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
    ca_bundle: Path | None,
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
