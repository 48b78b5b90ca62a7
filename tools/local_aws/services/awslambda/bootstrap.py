"""The child process of one Lambda execution environment: init once, then one invocation at a time.

Started by ``runtime`` as ``python bootstrap.py <control fd> <request fd> <emulator
pid>`` with the code root as working directory and the function's environment. It is run as a
script, not as ``-m tools.local_aws...``, so the function imports its own modules and nothing of
this repository: the script's directory is replaced by the code root on ``sys.path`` before the
handler is imported.

Only the standard library is used here. stdout and stderr are the function's log. The parent sends
each invocation on the request pipe (a JSON header line, then the event's bytes) and reads the
control pipe: a ``ready`` line once the handler's module is imported (the function's timeout starts
then, as Lambda's does after the init phase), then one JSON result line per invocation. After each
invocation a marker line on stdout tells the parent that the invocation's output is complete. The
process then waits for the next invocation: module state persists, as in a warm Lambda sandbox.

The network (the emulator's ``pipeline/network.py``) reaches in here twice. An API request the
emulator answers with the unreachable marker raises botocore's ConnectTimeoutError after the
client's connect timeout, and a connection to a database the parent does not admit raises
TimeoutError after the socket's: both waits pass at once on the environment's emulated time
(``Parent.wait``), so the function's timeout still applies without waiting real minutes.
"""

from __future__ import annotations

import datetime
import errno
import importlib
import importlib.abc
import importlib.machinery
import json
import logging
import math
import os
import resource
import signal
import socket
import sys
import threading
import time
import traceback
from contextlib import suppress
from types import ModuleType
from typing import Any, BinaryIO
from urllib.parse import urlsplit

# Lambda rejects larger responses (RequestResponse) with Function.ResponseSizeTooLarge.
MAX_RESPONSE_BYTES = 6291556
# The emulator's marker on the answer to a request whose endpoint is unreachable (pipeline/request.py).
UNREACHABLE_HEADER = "x-local-aws-unreachable"
# How long a blocking connect to an address that never answers takes on Linux (6 SYN retries).
TCP_CONNECT_TIMEOUT_SECONDS = 127.0
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class LambdaContext:
    """The context object Lambda's Python runtime passes to the handler."""

    def __init__(self, invocation: dict[str, Any], deadline: float):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = invocation["invoked_function_arn"]
        # A string, as in Lambda's runtime (it is read from the environment there too).
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = invocation["request_id"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


class LambdaLogHandler(logging.Handler):
    """Lambda's root log handler: one tab-separated line per record on stdout, the record's own
    newlines sent as carriage returns so that a multi-line record (a traceback) is one log event."""

    def __init__(self, request_id: str):
        super().__init__()
        self.request_id = request_id
        formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ\t%(message)s", "%Y-%m-%dT%H:%M:%S")
        formatter.converter = time.gmtime
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            timestamp, message = self.format(record).split("\t", 1)
            line = f"[{record.levelname}]\t{timestamp}\t{self.request_id}\t{message}"
            sys.stdout.write(line.replace("\n", "\r") + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def handler_error(error: BaseException, request_id: str) -> dict[str, Any]:
    """The payload Lambda returns for an exception raised by the function (this file's frames cut)."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename != __file__]
    stack = traceback.format_list(frames)
    log = f"[ERROR] {type(error).__name__}: {error}\nTraceback (most recent call last):\n{''.join(stack)}"
    sys.stdout.write(log.rstrip("\n").replace("\n", "\r") + "\n")
    return error_payload(type(error).__name__, str(error), request_id, stack)


def load_handler(name: str) -> Any:
    """``module.function`` from the code root; the module part may be a dotted or slashed path."""
    module_path, _, function_name = name.rpartition(".")
    if not module_path or not function_name:
        raise LoadError("Runtime.MalformedHandlerName", f"Bad handler '{name}': not enough values to unpack")
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise LoadError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}") from error
    except SyntaxError as error:
        raise LoadError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}") from error
    handler = getattr(module, function_name, None)
    if handler is None:
        raise LoadError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


class LoadError(Exception):
    """The handler cannot be loaded; reported with Lambda's runtime error type."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def read_invocation(requests: BinaryIO) -> dict[str, Any] | None:
    """The next invocation from the parent (its header with the event's bytes); None once the
    parent closed the pipe, which ends the environment."""
    header = requests.readline()
    if not header:
        return None
    invocation: dict[str, Any] = json.loads(header)
    invocation["event"] = requests.read(invocation["event_bytes"])
    return invocation


class Parent:
    """The pipes to the emulator's runtime, shared by the serving loop and the function's threads."""

    def __init__(self, control: BinaryIO, requests: BinaryIO, emulated: EmulatorClock):
        self.control = control
        self.requests = requests
        self.emulated = emulated
        self.deadline = math.inf  # the running invocation's end on the emulated time
        self._lock = threading.Lock()
        self._asking = threading.Lock()

    def send(self, line: bytes) -> None:
        with self._lock:
            self.control.write(line + b"\n")
            self.control.flush()

    def wait(self, seconds: float) -> None:
        """The function waits ``seconds`` at once: the emulated time moves on and the parent's
        deadline with it. Past the invocation's deadline the function never goes on: the parent
        ends the environment with Lambda's timeout."""
        past_deadline = time.time() + seconds >= self.deadline
        self.send(f"waited {seconds}".encode())
        if past_deadline:
            threading.Event().wait()
        self.emulated.offset_seconds += seconds

    def admitted(self, port: int) -> float | None:
        """Whether a connection to ``port`` on this host gets through the emulated network: None if
        not, else the seconds it waits first (a paused Aurora cluster resuming)."""
        with self._asking:
            self.send(f"connect {port}".encode())
            answer = self.requests.readline().split()
        if not answer or answer[0] != b"1":
            return None
        return float(answer[1]) if len(answer) > 1 else 0.0


def serve(parent: Parent) -> None:
    """Init (import the handler) with the first invocation, report ready, then run invocations until
    the parent closes the request pipe. A failed init reports its error and ends the process."""
    requests, emulated = parent.requests, parent.emulated
    invocation = read_invocation(requests)
    if invocation is None:
        return
    emulated.offset_seconds = invocation["clock_offset"]
    log_handler = LambdaLogHandler(invocation["request_id"])
    logging.getLogger().addHandler(log_handler)
    started = time.time()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except LoadError as error:
        sys.stdout.write(f"[ERROR] {error.error_type}: {error}\n")
        payload = error_payload(error.error_type, str(error), invocation["request_id"], [])
        report(parent, invocation, {"payload": payload})
        return
    except Exception as error:  # the module's own import-time code raised
        report(parent, invocation, {"payload": handler_error(error, invocation["request_id"])})
        return
    init = {"init_ms": (time.time() - started) * 1000}  # reported once: the REPORT of a cold start
    parent.send(b"ready")
    while invocation is not None:
        log_handler.request_id = invocation["request_id"]
        report(parent, invocation, {**init, **run(handler, invocation, parent)})
        init = {}
        invocation = read_invocation(requests)
        if invocation is not None:
            emulated.offset_seconds = invocation["clock_offset"]


def run(handler: Any, invocation: dict[str, Any], parent: Parent) -> dict[str, Any]:
    """Run the handler once; the result says what to answer. Only ``Exception`` is the function's
    error: ``SystemExit`` and the like end the process, as they end Lambda's runtime."""
    request_id = invocation["request_id"]
    os.environ["_X_AMZN_TRACE_ID"] = invocation["trace_header"]  # per invocation, as Lambda's runtime sets it
    deadline = parent.deadline = time.time() + float(invocation["timeout"])
    event = json.loads(invocation["event"] or b"{}")
    handler_started = time.time()
    try:
        value = handler(event, LambdaContext(invocation, deadline))
    except Exception as error:
        payload = handler_error(error, request_id)
        return {"payload": payload, "duration_ms": (time.time() - handler_started) * 1000}
    result: dict[str, Any] = {"duration_ms": (time.time() - handler_started) * 1000}
    try:
        encoded = json.dumps(value)
    except (TypeError, ValueError) as error:
        message = f"Unable to marshal response: {error}"
        return {**result, "payload": error_payload("Runtime.MarshalError", message, request_id, [])}
    if len(encoded.encode()) > MAX_RESPONSE_BYTES:
        message = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
        return {**result, "payload": error_payload("Function.ResponseSizeTooLarge", message, request_id, [])}
    return {**result, "payload_json": encoded}


def report(parent: Parent, invocation: dict[str, Any], result: dict[str, Any]) -> None:
    """End the invocation's output with its marker line, then send the result on one line."""
    with suppress(Exception):  # the function may have closed or replaced its streams
        sys.stdout.flush()
        sys.stderr.flush()
    with suppress(OSError):
        os.write(1, invocation["log_marker"].encode() + b"\n")
    result["max_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    parent.deadline = math.inf
    parent.send(json.dumps(result).encode())


def watch_emulator(emulator_pid: int) -> None:
    """End this process group if the emulator goes away (stopped mid-run, or a test session that
    ended): nobody would enforce the function's timeout any more."""
    while os.getppid() == emulator_pid:
        time.sleep(0.5)
    os.killpg(os.getpgrp(), signal.SIGKILL)


class EmulatorClock:
    """How far the emulator's clock is ahead of real time; the parent sends it with each
    invocation, since the clock moves while the environment waits."""

    offset_seconds = 0.0


def follow_emulator_clock() -> EmulatorClock:
    """Make the function read the emulator's time, which runs ahead of real time after a ``tick``.

    Without this a heartbeat the canary writes after a tick would carry the real time while every
    store's own timestamps carry the emulated one, and "now minus the newest heartbeat" would show
    hours of data loss that never happened. ``time.time``/``time_ns`` and ``datetime.now``/
    ``utcnow``/``today`` are shifted before the handler's modules are imported (so their
    ``from datetime import datetime`` takes the shifted class), by the offset of the running
    invocation. Monotonic clocks, and OpenSSL's certificate checks, keep real time.
    """
    emulated = EmulatorClock()
    real_time, real_time_ns = time.time, time.time_ns

    def shift() -> datetime.timedelta:
        return datetime.timedelta(seconds=emulated.offset_seconds)

    class EmulatedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> EmulatedDatetime:
            return super().now(tz) + shift()

        @classmethod
        def utcnow(cls) -> EmulatedDatetime:
            return super().utcnow() + shift()

        @classmethod
        def today(cls) -> EmulatedDatetime:
            return super().today() + shift()

    time.time = lambda: real_time() + emulated.offset_seconds
    time.time_ns = lambda: real_time_ns() + int(emulated.offset_seconds * 1e9)
    datetime.datetime = EmulatedDatetime  # type: ignore[misc]
    return emulated


def follow_emulator_network(parent: Parent) -> None:
    """Connections the emulated network does not let through time out as they would on AWS:
    an API request the emulator marks unreachable (botocore, patched when the function imports
    it), and a connection to another port of this host (a DB cluster's server) the parent does not
    admit. The emulator's own endpoint is not asked about: its requests pass the pipeline."""
    endpoint_port = urlsplit(os.environ.get("AWS_ENDPOINT_URL", "")).port
    connect = socket.socket.connect

    def connect_or_time_out(sock: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] in LOOPBACK and address[1] != endpoint_port:
            delay = parent.admitted(int(address[1]))
            timeout = sock.gettimeout()
            limit = TCP_CONNECT_TIMEOUT_SECONDS if timeout is None else timeout
            if delay is None or delay > limit:  # not let through, or resuming longer than the socket waits
                parent.wait(limit)
                if timeout is None:
                    raise TimeoutError(errno.ETIMEDOUT, os.strerror(errno.ETIMEDOUT))
                raise TimeoutError("timed out")
            if delay:
                parent.wait(delay)
        connect(sock, address)

    socket.socket.connect = connect_or_time_out  # type: ignore[method-assign,assignment]
    sys.meta_path.insert(0, BotocoreNetwork(parent))


class BotocoreNetwork(importlib.abc.MetaPathFinder):
    """Patches ``botocore.httpsession`` when the function imports it (importing botocore up front
    would add a tenth of a second to every cold start): a marked answer becomes the
    ConnectTimeoutError botocore raises when a connection attempt times out, after the client's
    connect timeout (botocore's retries then try again, each waiting as long)."""

    def __init__(self, parent: Parent):
        self.parent = parent

    def find_spec(
        self, name: str, path: Any, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "botocore.httpsession":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        loader: Any = spec.loader
        execute = loader.exec_module

        def execute_and_patch(module: ModuleType) -> None:
            execute(module)
            self.patch(module)

        loader.exec_module = execute_and_patch
        return spec

    def patch(self, httpsession: ModuleType) -> None:
        send = httpsession.URLLib3Session.send
        parent = self.parent

        def send_or_time_out(session: Any, request: Any) -> Any:
            response = send(session, request)
            if UNREACHABLE_HEADER not in response.headers:
                return response
            timeout = session._timeout
            parent.wait(float(getattr(timeout, "connect_timeout", timeout)))
            from botocore.exceptions import ConnectTimeoutError

            raise ConnectTimeoutError(endpoint_url=request.url)

        httpsession.URLLib3Session.send = send_or_time_out


def main() -> None:
    control_fd, request_fd, emulator_pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    emulated = follow_emulator_clock()
    for descriptor in (control_fd, request_fd):
        os.set_inheritable(descriptor, False)  # processes the function starts must not hold them open
    threading.Thread(target=watch_emulator, args=(emulator_pid,), name="emulator-watch", daemon=True).start()
    sys.path[0] = os.environ["LAMBDA_TASK_ROOT"]
    with os.fdopen(request_fd, "rb") as requests, os.fdopen(control_fd, "wb") as control:
        parent = Parent(control, requests, emulated)
        follow_emulator_network(parent)
        serve(parent)
    # The parent closed the request pipe (or init failed): the environment ends. Non-daemon threads
    # the function left running must not keep the process alive.
    os._exit(0)


if __name__ == "__main__":
    main()
