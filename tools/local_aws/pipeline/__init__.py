"""The one request pipeline in front of moto: every API request passes the same steps, in order.

    identify the caller (caller.py) -> network (network.py) -> authorization (authorization.py)
    -> faults (faults.py) -> moto

Each step gets the request (``request.Request``, frozen) and passes it on or answers it with an
AWS error (``request.Denial``), and then no later step and not moto see it. Database connections
the emulator opens for a caller pass the network and fault steps (``admit_connection``).
The control API (``control.wrap``) sits in front of all of it: it is not AWS's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from . import authorization, caller, faults, network
from .request import UNREACHABLE_HEADER, Denial, Request, parse

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# The deciding steps, in order (modules, so a test or a later issue replaces a step's ``decide``).
STEPS: tuple[ModuleType, ...] = (network, authorization, faults)
# A connection is not authorized by IAM (the database checks its password).
CONNECTION_STEPS: tuple[ModuleType, ...] = (network, faults)


def wrap(app: Wsgi) -> Wsgi:
    """``app`` (moto) behind the pipeline. moto's work for a request runs ``acting_as`` its caller."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = caller.identify(parse(environ))
        denial = decide(request)
        if denial is not None:
            return respond(denial, request, start_response)
        with caller.acting_as(request.caller):
            return app(environ, start_response)

    return application


def decide(request: Request, steps: tuple[ModuleType, ...] = STEPS) -> Denial | None:
    """The first step's denial, or None when every step passes the request on."""
    for step in steps:
        denial: Denial | None = step.decide(request)
        if denial is not None:
            return denial
    return None


def admit_connection(cluster: str, port: int) -> Denial | None:
    """Whether the current caller (``caller.current()``) may connect to the DB cluster's port now:
    the network and fault decisions for a connection the emulator opens on its behalf."""
    return decide(Request.connection(cluster, port, caller.current()), CONNECTION_STEPS)


def respond(denial: Denial, request: Request, start_response: Callable[..., Any]) -> list[bytes]:
    """The denial as the service would answer it, in the request's protocol."""
    request_id = str(uuid.uuid4())
    content_type, body = _error_body(denial, request, request_id)
    status = f"{denial.status} {_REASONS.get(denial.status, 'Error')}"
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", denial.code),
    ]
    if request.protocol == "smithy-rpc-v2-cbor":
        headers.append(("smithy-protocol", "rpc-v2-cbor"))
    if denial.unreachable:
        headers.append((UNREACHABLE_HEADER, "connect-timeout"))
    start_response(status, headers)
    return [body]


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _error_body(denial: Denial, request: Request, request_id: str) -> tuple[str, bytes]:
    code, message = _xml(denial.code), _xml(denial.message)
    if request.protocol == "query":
        xml = (
            f"<ErrorResponse><Error><Type>{'Sender' if denial.status < 500 else 'Receiver'}</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return "text/xml", xml.encode()
    if request.protocol == "ec2":
        xml = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        return "text/xml", xml.encode()
    if request.protocol == "rest-xml":
        xml = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        return "application/xml", xml.encode()
    fields = {"__type": denial.code, "message": denial.message}
    if request.protocol == "smithy-rpc-v2-cbor":
        return "application/cbor", _cbor_text_map(fields)
    content_type = "application/x-amz-json-1.1" if request.protocol == "json" else "application/json"
    return content_type, json.dumps(fields).encode()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cbor_text_map(fields: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949: major type 5 of major type 3 items)."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 1 << 8:
            return bytes([major << 5 | 24, length])
        if length < 1 << 16:
            return bytes([major << 5 | 25]) + length.to_bytes(2, "big")
        return bytes([major << 5 | 26]) + length.to_bytes(4, "big")

    encoded = head(5, len(fields))
    for key, value in fields.items():
        for text in (key.encode(), value.encode()):
            encoded += head(3, len(text)) + text
    return encoded
