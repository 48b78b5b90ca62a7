"""IAM database authentication for the emulated Aurora clusters.

On RDS a database user granted ``rds_iam`` logs in with an IAM authentication token as its password
(``rds.generate_db_auth_token``: a SigV4-presigned ``connect`` request for the endpoint, port and
user, signed by the client, valid 15 minutes) and only over TLS; its password no longer works, and
RDS lets the token in only if the signer may ``rds-db:connect`` as that user of that cluster.

PostgreSQL cannot check such a token, but it can pass the password on to an LDAP server as a simple
bind (pg_hba's ``ldap`` method). So every server's pg_hba (``hba_lines``) sends members of
``rds_iam`` -- over TLS only -- to one small LDAP server of the emulator (``port``), which accepts
the bind (DN ``uid=<user>,ou=<cluster>``) only when ``refusal`` finds nothing wrong with the token:
its shape, that it names this cluster's endpoint, port and user, that it has not expired on the
emulator's clock, that its signature is right for a key the emulator issued, and that the signer
is allowed ``rds-db:connect`` on ``arn:aws:rds-db:<region>:<account>:dbuser:<cluster resource id>/<user>``
(``pipeline.policy.authorize``). Every other user keeps SCRAM, unchanged and untouched by this.
"""

from __future__ import annotations

import hmac
import logging
import socket
import socketserver
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ... import clock, world
from ...pipeline import caller, policy

logger = logging.getLogger(__name__)

ROLE = "rds_iam"  # RDS's role: its members log in with IAM tokens only
TOKEN_LIFETIME = timedelta(minutes=15)  # "Each token has a lifetime of 15 minutes" (Aurora User Guide)
SIGNING_SERVICE = "rds-db"
LDAP_HOST = "127.0.0.1"
# LDAP (RFC 4511) in BER: the two requests PostgreSQL's simple bind sends, and the result codes.
BIND_REQUEST, UNBIND_REQUEST, BIND_RESPONSE = 0x60, 0x42, 0x61
SUCCESS, INVALID_CREDENTIALS = 0, 49
MAX_MESSAGE = 64 * 1024
BIND_TIMEOUT_SECONDS = 5  # PostgreSQL sends its bind at once; a silent client holds up the next bind this long

_lock = threading.Lock()
_server: socketserver.TCPServer | None = None


def hba_lines(identifier: str, force_ssl: bool) -> list[str]:
    """pg_hba lines, ahead of the password lines: ``rds_iam`` members authenticate with a token
    through the emulator's LDAP server over TLS, and never without TLS (whatever ``force_ssl``)."""
    options = f'ldapserver={LDAP_HOST} ldapport={port()} ldapprefix="uid=" ldapsuffix=",ou={identifier}"'
    lines = [f"hostssl all +{ROLE} {address} ldap {options}" for address in ("127.0.0.1/32", "::1/128")]
    if not force_ssl:
        lines += [f"hostnossl all +{ROLE} {network} reject" for network in ("0.0.0.0/0", "::/0")]
    return lines


def port() -> int:
    """The emulator's LDAP server's port (started on first use, stopped with the process). One thread
    answers the binds one after another: each is one round trip, and a thread per bind would cost the
    emulator memory for nothing."""
    global _server
    with _lock:
        if _server is None:
            _server = socketserver.TCPServer((LDAP_HOST, 0), _Bind)
            threading.Thread(target=_server.serve_forever, name="rds-iam-auth", daemon=True).start()
        return int(_server.server_address[1])


def refusal(user: str, cluster_identifier: str, token: str) -> str | None:
    """None if ``token`` lets ``user`` into the cluster, else why not (logged, never told the client:
    PostgreSQL answers only "LDAP authentication failed", as RDS answers "PAM authentication failed")."""
    parts = urlsplit(f"https://{token}")
    params = parse_qsl(parts.query, keep_blank_values=True)
    given = dict(params)
    scope = given.get("X-Amz-Credential", "").split("/")
    if (
        given.get("Action") != "connect"
        or given.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256"
        or given.get("X-Amz-SignedHeaders") != "host"
        or len(scope) != 5
        or scope[3:] != [SIGNING_SERVICE, "aws4_request"]
        or not given.get("X-Amz-Signature")
    ):
        return "the password is not an IAM authentication token"
    if given.get("DBUser") != user:
        return f"the token is for user {given.get('DBUser')!r}, not {user!r}"
    access_key, region = scope[0], scope[2]
    who = caller.caller_of(access_key)
    cluster = world.cluster(who.account_id, region, cluster_identifier)
    if cluster is None or not cluster.iam_database_authentication_enabled:
        return f"IAM database authentication is not enabled on cluster {cluster_identifier}"
    if (parts.hostname, parts.port) != (cluster.endpoint, cluster.port):
        return f"the token is for {parts.hostname}:{parts.port}, not this cluster's endpoint"
    try:
        signed = datetime.strptime(given.get("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        lifetime = min(timedelta(seconds=int(given.get("X-Amz-Expires", ""))), TOKEN_LIFETIME)
    except ValueError:
        return "the token's X-Amz-Date or X-Amz-Expires is malformed"
    if clock.now() > signed + lifetime:
        return f"the token expired at {(signed + lifetime).isoformat()}"
    secret = world.signing_secret(access_key)
    if secret is None or given.get("X-Amz-Security-Token") != secret[1]:
        return f"the token is signed with {access_key}, which is no key the emulator issued"
    if not hmac.compare_digest(_signature(parts.netloc, params, secret, region), given["X-Amz-Signature"]):
        return "the token's signature does not match"
    arn = f"arn:aws:rds-db:{region}:{who.account_id}:dbuser:{cluster.db_cluster_resource_id}/{user}"
    denial = policy.authorize(who, "rds-db:connect", arn)
    return denial.message if denial is not None else None


def _signature(netloc: str, params: list[tuple[str, str]], secret: tuple[str, str | None], region: str) -> str:
    """The SigV4 query signature of the token's request, recomputed with the key's secret."""
    given = dict(params)
    unsigned = urlencode([(k, v) for k, v in params if k != "X-Amz-Signature"], quote_via=quote, safe="-_.~")
    request = AWSRequest(method="GET", url=urlunsplit(("https", netloc, "/", unsigned, "")))
    request.context["timestamp"] = given["X-Amz-Date"]
    signer = SigV4QueryAuth(
        Credentials(given["X-Amz-Credential"].split("/")[0], secret[0], secret[1]), SIGNING_SERVICE, region
    )
    return str(signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request))


class _Bind(socketserver.BaseRequestHandler):
    """One LDAP connection of PostgreSQL's simple bind: BindRequest, answered; then UnbindRequest."""

    def handle(self) -> None:
        connection: socket.socket = self.request
        connection.settimeout(BIND_TIMEOUT_SECONDS)
        try:
            while (message := _read_message(connection)) is not None:
                message_id, operation, body = message
                if operation != BIND_REQUEST:
                    return  # an UnbindRequest, or anything else: the exchange is over
                connection.sendall(_bind_response(message_id, _authenticate(body)))
        except (OSError, ValueError) as error:
            logger.info("IAM database authentication: LDAP exchange ended: %s", error)


def _authenticate(bind: bytes) -> int:
    """The result code of a BindRequest (version, name ``uid=<user>,ou=<cluster>``, simple password)."""
    _, rest = _element(bind)  # version
    name, rest = _element(rest)
    password, _ = _element(rest)
    user, _, cluster_identifier = name.decode().removeprefix("uid=").rpartition(",ou=")
    reason = refusal(user, cluster_identifier, password.decode())
    if reason is not None:
        logger.info("IAM database authentication refused for %s on %s: %s", user, cluster_identifier, reason)
        return INVALID_CREDENTIALS
    return SUCCESS


def _read_message(connection: socket.socket) -> tuple[int, int, bytes] | None:
    """(message id, protocol operation tag, its contents) of the next LDAPMessage, None at EOF."""
    head = _receive(connection, 2)
    if not head:
        return None
    length = head[1]
    if length & 0x80:
        length = int.from_bytes(_receive(connection, length & 0x7F), "big")
    if head[0] != 0x30 or length > MAX_MESSAGE:
        raise ValueError("not an LDAP message")
    message_id, rest = _element(_receive(connection, length))
    tag, operation = rest[0], _element(rest)[0]
    return int.from_bytes(message_id, "big"), tag, operation


def _element(data: bytes) -> tuple[bytes, bytes]:
    """(contents, what follows) of the BER element at the start of ``data``."""
    length, start = data[1], 2
    if length & 0x80:
        start = 2 + (length & 0x7F)
        length = int.from_bytes(data[2:start], "big")
    if len(data) < start + length:
        raise ValueError("truncated BER element")
    return data[start : start + length], data[start + length :]


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            if data:
                raise ValueError("connection closed inside an LDAP message")
            return b""
        data += chunk
    return data


def _bind_response(message_id: int, code: int) -> bytes:
    """LDAPMessage { messageID, BindResponse { resultCode, matchedDN "", diagnosticMessage "" } }."""
    identifier = message_id.to_bytes(max(1, (message_id.bit_length() + 8) // 8), "big")
    result = bytes([0x0A, 1, code, 0x04, 0, 0x04, 0])
    body = bytes([0x02, len(identifier)]) + identifier + bytes([BIND_RESPONSE, len(result)]) + result
    return bytes([0x30, len(body)]) + body
