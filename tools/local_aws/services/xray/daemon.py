"""X-Ray for Lambda's active tracing: the trace header of each invocation, the daemon Lambda runs
beside a traced function, and the function's own segment.

Lambda Developer Guide, "Visualize Lambda function invocations using AWS X-Ray": with ``Active``
tracing Lambda samples invocations and records a segment for each sampled one; it runs the X-Ray
daemon, which relays what the X-Ray SDK in the function sends, with the function's execution role
(xray:PutTraceSegments). The runtime gives each invocation ``_X_AMZN_TRACE_ID``
(``Root=1-<epoch, 8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>``), and the environment
``AWS_XRAY_DAEMON_ADDRESS`` and ``AWS_XRAY_CONTEXT_MISSING=LOG_ERROR`` (Lambda Developer Guide,
"Defined runtime environment variables"). X-Ray Developer Guide, "Sending segment documents to the
X-Ray daemon": one UDP datagram is the header ``{"format":"json","version":1}``, a newline and one
segment (or subsegment) document.
X-Ray keeps a trace's subsegments inside their segments (BatchGetTraces); the emulator nests what one
invocation sent before it stores it (``assembled``), which also keeps one document per invocation
in memory instead of one per subsegment.

Each execution environment has a daemon of its own: a UDP socket on 127.0.0.1 (Lambda's is
169.254.79.129:2000, an address this host does not have). What it received is uploaded, with the
function's segment, when the invocation ends (``Daemon.flush``), so a trace is in X-Ray when Invoke
returns (AWS: within about a second). The upload is authorized as the daemon's PutTraceSegments call
with the environment's role; a refused upload drops the documents with a warning in the server log,
as the real daemon's failed upload loses them: the function never notices.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
from contextlib import suppress
from datetime import datetime
from typing import Any

from ... import world
from ...pipeline import policy
from ...pipeline.request import Caller

logger = logging.getLogger(__name__)

HEADER = b'{"format":"json","version":1}'
UPLOAD_ACTION = "xray:PutTraceSegments"
CONTEXT_MISSING = "LOG_ERROR"  # what Lambda sets: the SDK logs a missing context instead of raising
MAX_DATAGRAM_BYTES = 65_535


def trace_header(now: datetime, sampled: bool) -> str:
    """A new trace's header as Lambda gives it to one invocation: its root (the start time in epoch
    seconds and 96 random bits), the id the function's segment will have, the sampling decision."""
    root = f"1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled={int(sampled)}"


def header_fields(header: str) -> dict[str, str]:
    """``Root=...;Parent=...;Sampled=1`` as a dict."""
    return dict(field.split("=", 1) for field in header.split(";") if "=" in field)


def function_segment(
    header: str, function_arn: str, started: datetime, ended: datetime, failed: bool
) -> dict[str, Any]:
    """The ``AWS::Lambda::Function`` segment Lambda records for a sampled invocation, under the id
    the header named as the parent of what the function's SDK sends."""
    fields = header_fields(header)
    return {
        "name": function_arn.split(":")[6],
        "id": fields["Parent"],
        "trace_id": fields["Root"],
        "start_time": started.timestamp(),
        "end_time": ended.timestamp(),
        "origin": "AWS::Lambda::Function",
        "aws": {"function_arn": function_arn},
        **({"fault": True} if failed else {}),
    }


def document_of(datagram: bytes) -> str | None:
    """The segment document of one datagram, or None when it lacks the daemon's header."""
    header, newline, document = datagram.partition(b"\n")
    if not newline or json.loads(header or b"null") != json.loads(HEADER):
        return None
    return document.decode("utf-8", "replace")


def assembled(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents as X-Ray keeps a trace: each subsegment sent on its own nested in its parent
    (``parent_id``), where the parent is among them, without the fields only an independent
    subsegment carries (X-Ray Developer Guide, "Sending subsegments separately")."""
    by_id = {document.get("id"): document for document in documents}
    top, nested = [], []
    for document in documents:
        parent = by_id.get(document.get("parent_id")) if document.get("type") == "subsegment" else None
        if parent is None or parent is document:
            top.append(document)
        else:
            parent.setdefault("subsegments", []).append(document)
            nested.append(document)
    for document in nested:
        for field in ("type", "trace_id", "parent_id"):
            document.pop(field, None)
    return top


class Daemon:
    """One execution environment's daemon: receives the SDK's datagrams, uploads them as ``caller``."""

    def __init__(self, caller: Caller, region: str) -> None:
        self.caller = caller
        self.region = region
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.setblocking(False)
        self.address = "{}:{}".format(*self._socket.getsockname())

    def flush(self, segments: list[dict[str, Any]]) -> None:
        """Upload what the environment sent so far, with ``segments`` (Lambda's own)."""
        documents = list(segments)
        while True:
            try:
                datagram = self._socket.recv(MAX_DATAGRAM_BYTES)
            except (BlockingIOError, OSError):
                break
            try:
                document = json.loads(document_of(datagram) or "null")
            except ValueError:
                document = None
            if not isinstance(document, dict):
                logger.warning("X-Ray daemon: a datagram that is not the daemon header and a document, dropped")
                continue
            documents.append(document)
        if documents:
            self._upload([json.dumps(document) for document in assembled(documents)])

    def _upload(self, documents: list[str]) -> None:
        denied = policy.authorize(self.caller, UPLOAD_ACTION, "*", {"aws:RequestedRegion": self.region})
        if denied is not None:
            logger.warning("X-Ray daemon: %d trace documents dropped: %s", len(documents), denied.message)
            return
        refused = world.put_trace_segments(self.caller.account_id, self.region, documents)
        if refused:
            logger.warning("X-Ray daemon: X-Ray refused %d malformed trace documents", refused)

    def close(self) -> None:
        with suppress(OSError):
            self._socket.close()
