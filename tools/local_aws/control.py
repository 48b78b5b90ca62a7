"""The emulator's own control API, beside moto's: read and advance the clock.

``GET  /_local_aws/clock``  -> ``{"now": ISO time, "offsetSeconds": n}``
``POST /_local_aws/tick``   with ``{"minutes": n}`` -> the new time and what ran on the way
``POST /_local_aws/jump``   with ``{"minutes": n}`` -> the new time; nothing due in between runs

The CLI (``python -m tools.local_aws tick``) and the integration tests use it; tests that run the
server in-process call ``clock.CLOCK.advance`` directly.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from .clock import CLOCK, Fired

PREFIX = "/_local_aws/"
Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ControlError(Exception):
    """The control API refused a request or could not be reached; the message says why."""


def wrap(app: Wsgi) -> Wsgi:
    """``app`` with the control API in front of it."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return app(environ, start_response)
        status, body = _handle(environ["REQUEST_METHOD"], path[len(PREFIX) :], environ)
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    return application


def _handle(method: str, action: str, environ: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if (method, action) == ("GET", "clock"):
        return "200 OK", _clock()
    if method == "POST" and action in ("tick", "jump"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            delta = timedelta(minutes=float(json.loads(environ["wsgi.input"].read(length) or b"{}")["minutes"]))
            if action == "tick":
                fired = CLOCK.advance(delta)
            else:
                CLOCK.jump(delta)
                fired = []
        except (ValueError, KeyError, TypeError) as error:
            message = str(error) if isinstance(error, ValueError) else 'the body must be {"minutes": <number>}'
            return "400 Bad Request", {"message": message}
        return "200 OK", {**_clock(), "fired": [_fired(item) for item in fired]}
    return "404 Not Found", {
        "message": f"no control action {method} {PREFIX}{action}; use GET clock, POST tick or POST jump"
    }


def _clock() -> dict[str, Any]:
    return {"now": CLOCK.now().isoformat(), "offsetSeconds": CLOCK.offset.total_seconds()}


def _fired(item: Fired) -> dict[str, Any]:
    return {"when": item.when.isoformat(), "name": item.name, "error": item.error}


def call(endpoint: str, action: str, body: dict[str, Any] | None = None, timeout: float = 600) -> dict[str, Any]:
    """Client side: one control request to the emulator at ``endpoint``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{endpoint.rstrip('/')}{PREFIX}{action}", data=data, method="POST" if data else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as error:
        try:
            message = json.load(error).get("message", str(error))
        except ValueError:  # something other than the emulator answered
            message = f"{endpoint} answered {error.code} {error.reason}; is it the local AWS emulator?"
        raise ControlError(message) from error
    except OSError as error:
        raise ControlError(f"the local AWS emulator does not answer at {endpoint} ({error})") from error
    except ValueError as error:  # a 200 that is not JSON: something else listens there
        raise ControlError(f"{endpoint} answered, but not as the local AWS emulator does") from error


def operator_session() -> Any:
    """A boto3 session with the operator's credentials: the environment's, else the local dummy ones
    (the tools that read the deployment as its operator: leftovers, settle)."""
    import boto3  # not at import time: the server imports this module before it serves

    return boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
