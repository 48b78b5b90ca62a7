"""Runs Lambda function code in the emulator, without Docker: the one executor every invoke uses.

A function's code runs in an execution environment: a child process with its own process group,
the emulator's Python (which has boto3, as Lambda's runtime does), the function's deployed zip
(unpacked once per code hash under the state dir) and the environment Lambda gives a function,
pointed at the emulator (``AWS_ENDPOINT_URL``), with credentials of its own: the function's role
in a session named after the function (``pipeline.caller``). As in Lambda, an environment runs the
init phase once and is then kept warm for the function's next invocations, one at a time (a concurrent
invocation starts another environment); it is discarded after a timeout, a crash or a failed init,
when the function is updated or deleted, when it has been idle for IDLE_SECONDS, and when the
emulator exits. The child (``bootstrap.py``) reports on private pipes; its stdout and stderr
are the function's log, written to the function's log group (one stream per environment) with
Lambda's START/END/REPORT lines. The function's Timeout is enforced by killing the process group, so
whatever the code does -- crash, hang, flood its output, return garbage -- the emulator keeps serving.

Only ``python3.*`` zip functions run; other runtimes are refused by name.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization

from ... import clock, pipeline, world
from ...pipeline import caller, network, policy
from ...server import ENDPOINT_ENV, state_dir
from ..cloudwatch import metrics
from ..rds import auto_pause, postgres
from ..xray import daemon as xray

logger = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
CA_BUNDLE_VARIABLE = "DB_CA_BUNDLE"  # the RDS CA bundle a kit function packages (dr_common.postgres)
# Lambda's init phase (imports and module-level code) may take this long before the handler runs.
INIT_TIMEOUT_SECONDS = 10.0
# LogType=Tail returns the last 4 KB of the invocation's log.
LOG_TAIL_BYTES = 4096
# What one invocation may log before further output is dropped (the emulator's memory is shared).
MAX_LOG_BYTES = 4 * 1024 * 1024
# CloudWatch Logs' limits: bytes per event, events per PutLogEvents call.
MAX_LOG_EVENT_BYTES = 256 * 1024
MAX_EVENTS_PER_PUT = 10_000
# The child checks the 6 MB response limit; more than this on the control pipe is not read.
MAX_REPORT_BYTES = 8 * 1024 * 1024
# Seconds granted to the child to exit after reporting, and to its output to drain.
EXIT_GRACE_SECONDS = 2.0
# An environment no invocation used for this long (real time) is shut down: Lambda reclaims idle
# environments after minutes; this is long enough to keep a tick or a test run warm without
# holding a process per function nobody calls any more.
IDLE_SECONDS = 60.0
# Asynchronous invocation: a function error is retried this often, a minute and then two minutes
# after the failed attempt, and an event is kept this long, unless the EventInvokeConfig of the
# invoked qualifier says otherwise.
DEFAULT_RETRY_ATTEMPTS = 2
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=2))
DEFAULT_MAX_EVENT_AGE_SECONDS = 6 * 3600
RETRY_ORDER = 15  # a retry due at the same instant runs after scheduled rules (10), before backups (20)
# Lambda puts the first 1 KB of the error message on a dead-lettered event.
DLQ_ERROR_MESSAGE_CHARS = 1024
# Lambda sends to destinations and DLQs as itself with the function's role; a failed send counts here.
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
DEAD_LETTER_ERRORS = "DeadLetterErrors"
DESTINATION_FAILURES = "DestinationDeliveryFailures"
# The permission the function's role needs on each kind of destination or DLQ.
DELIVERY_ACTIONS = {"sqs": "sqs:SendMessage", "sns": "sns:Publish", "lambda": "lambda:InvokeFunction"}
# Attribute of a function's $LATEST where the Q15 fix keeps its EventInvokeConfigs, by qualifier.
EVENT_INVOKE_CONFIGS = "event_invoke_configs"


class InvalidRuntimeException(world.LambdaError):
    """A function the emulator cannot run. HTTP 400, not AWS's 502: the SDK retries a 502 for
    seconds before it reports it."""

    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidRuntimeException", message)


class InvalidRequestContentException(world.LambdaError):
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidRequestContentException", message)


class ServiceException(world.LambdaError):
    code = 500

    def __init__(self, message: str):
        super().__init__("ServiceException", message)


@dataclass(frozen=True)
class InvocationResult:
    """One synchronous invocation as the Invoke API reports it, plus where its log went."""

    payload: bytes
    function_error: str | None  # "Unhandled" when the handler raised, timed out or crashed
    log_tail: str
    executed_version: str
    request_id: str
    log_group: str = ""
    log_stream: str = ""
    subnet_id: str | None = None  # where the execution environment ran (a VPC function's)
    availability_zone: str | None = None


def runnable_function(account_id: str, region: str, function: str, qualifier: str | None = None) -> world.Function:
    """The function (version) ``function`` names; ResourceNotFoundException if there is none,
    InvalidRuntimeException if the emulator cannot run it."""
    account_id, region = _home_of(function, account_id, region)
    fn = world.function(account_id, region, function, qualifier)
    runtime = str(fn.run_time or "")
    if fn.package_type != "Zip" or not runtime.startswith("python3"):
        kind = f"runtime {runtime}" if runtime else f"package type {fn.package_type}"
        raise InvalidRuntimeException(
            f"The local AWS emulator runs python3.* zip functions only; function {fn.function_name} has {kind}"
        )
    return fn


def check_payload(payload: bytes) -> None:
    """An event must be JSON (an empty one is ``{}``); Lambda refuses anything else at Invoke."""
    try:
        json.loads(payload or b"{}")
    except ValueError as error:
        raise InvalidRequestContentException(f"Could not parse request body into json: {error}") from error


def invoke(
    account_id: str, region: str, function: str, payload: bytes, qualifier: str | None = None
) -> InvocationResult:
    """Run the function once and wait for it (InvocationType RequestResponse)."""
    fn = runnable_function(account_id, region, function, qualifier)
    return _run(fn, payload, _invoked_arn(fn, function, qualifier), str(uuid.uuid4()))


@dataclass
class _AsyncEvent:
    """An event in a function's asynchronous queue, with what its attempts so far have given."""

    fn: world.Function
    invoked_arn: str
    qualifier: str
    payload: bytes
    request_id: str
    received: datetime
    attempts: int = 0
    last: InvocationResult | None = None


def invoke_event(account_id: str, region: str, function: str, payload: bytes, qualifier: str | None = None) -> None:
    """Lambda's asynchronous contract: the first attempt now, in the caller's thread; a function
    error is retried on the emulator's clock (a minute, then two minutes after the failed attempt)
    up to MaximumRetryAttempts times, with the same request id, unless the event is older than
    MaximumEventAgeInSeconds by then. Both settings come from the EventInvokeConfig of the qualifier
    invoked (an unqualified invoke is $LATEST's). A success goes to the OnSuccess destination; an
    event whose retries are exhausted or whose age is exceeded goes to the OnFailure destination and
    the function's DeadLetterConfig target (each configured one), in Lambda's shapes.
    """
    fn = runnable_function(account_id, region, function, qualifier)
    invoked_arn = _invoked_arn(fn, function, qualifier)
    chosen = invoked_arn.split(":")[7] if invoked_arn.count(":") >= 7 else "$LATEST"
    _attempt(_AsyncEvent(fn, invoked_arn, chosen, payload, str(uuid.uuid4()), clock.now()))


def event_invoke_config(fn: world.Function, qualifier: str) -> dict[str, Any]:
    """The async-invoke settings of one qualifier of the function ({} for Lambda's defaults)."""
    latest = world.function(fn.account_id, fn.region, fn.function_name)
    stored = getattr(latest, EVENT_INVOKE_CONFIGS, {}).get(qualifier)
    return dict(stored.config) if stored else {}


def _attempt(event: _AsyncEvent) -> None:
    """One attempt of an asynchronous event; queues the next on the clock when a retry is due."""
    if event.attempts:
        try:  # the function may have been deleted since: its queued events go with it
            runnable_function(event.fn.account_id, event.fn.region, event.invoked_arn)
        except world.LambdaError:
            logger.warning("async invocation %s of %s dropped: no such function", event.request_id, event.invoked_arn)
            return
    config = event_invoke_config(event.fn, event.qualifier)
    max_age = timedelta(seconds=int(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_SECONDS)))
    if event.attempts and clock.now() - event.received > max_age:
        _discard(event, config, "EventAgeExceeded")
        return
    event.last = _run(event.fn, event.payload, event.invoked_arn, event.request_id)
    event.attempts += 1
    if event.last.function_error is None:
        target = ((config.get("DestinationConfig") or {}).get("OnSuccess") or {}).get("Destination")
        if target:
            _deliver(event.fn, target, _destination_record(event, "Success"), {}, DESTINATION_FAILURES)
        return
    if event.attempts > int(config.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)):
        _discard(event, config, "RetriesExhausted")
        return
    name = f"retry {event.attempts} of {event.invoked_arn} ({event.request_id})"
    clock.CLOCK.call_at(clock.now() + RETRY_DELAYS[event.attempts - 1], RETRY_ORDER, name, lambda: _attempt(event))


def _discard(event: _AsyncEvent, config: dict[str, Any], condition: str) -> None:
    """The event leaves the queue unprocessed: to the on-failure destination and the DLQ, if any."""
    target = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if target:
        _deliver(event.fn, target, _destination_record(event, condition), {}, DESTINATION_FAILURES)
    dead_letter_target = (event.fn.get_configuration().get("DeadLetterConfig") or {}).get("TargetArn")
    if dead_letter_target:
        error = _json_or_text(event.last.payload if event.last else b"").get("errorMessage", "")
        attributes = {
            "RequestID": ("String", event.request_id),
            "ErrorCode": ("Number", "200"),
            "ErrorMessage": ("String", str(error)[:DLQ_ERROR_MESSAGE_CHARS] or condition),
        }
        _deliver(event.fn, dead_letter_target, event.payload.decode("utf-8", "replace"), attributes, DEAD_LETTER_ERRORS)
    if not (target or dead_letter_target):
        logger.warning(
            "async invocation %s of %s discarded (%s after %d attempts); no destination",
            event.request_id,
            event.invoked_arn,
            condition,
            event.attempts,
        )


_inline = threading.local()


@contextmanager
def inline_async() -> Iterator[None]:
    """Asynchronous invocations started inside this block run in the calling thread, so they have
    finished when it ends: what the emulator's clock needs when a rule it fires publishes to SNS."""
    previous = getattr(_inline, "active", False)
    _inline.active = True
    try:
        yield
    finally:
        _inline.active = previous


def start_event(account_id: str, region: str, function: str, payload: bytes, qualifier: str | None = None) -> None:
    """Invoke asynchronously: in a daemon thread (the caller does not wait, as with Lambda's 202),
    or right away inside ``inline_async``. Failures are logged, never raised to the caller."""
    arguments = (account_id, region, function, payload, qualifier)
    if getattr(_inline, "active", False):
        _invoke_event_logged(*arguments)
        return
    threading.Thread(target=_invoke_event_logged, args=arguments, name=f"lambda-event-{function}", daemon=True).start()


def _invoke_event_logged(account_id: str, region: str, function: str, payload: bytes, qualifier: str | None) -> None:
    try:
        invoke_event(account_id, region, function, payload, qualifier)
    except Exception:
        logger.exception("asynchronous invocation of %s failed", function)


def _home_of(function: str, account_id: str, region: str) -> tuple[str, str]:
    """A function ARN names its own account and region."""
    parts = function.split(":")
    if function.startswith("arn:") and len(parts) >= 7:
        return parts[4], parts[3]
    return account_id, region


def _invoked_arn(fn: world.Function, function: str, qualifier: str | None) -> str:
    """The ARN the caller invoked: unqualified, or with the version or alias it named."""
    name_part = function.split(":function:")[-1] if function.startswith("arn:") else function
    named = name_part.split(":")[1] if ":" in name_part else None
    chosen = named or qualifier
    base = world.function_arn(fn.region, fn.account_id, fn.function_name)
    return f"{base}:{chosen}" if chosen else base


def _json_or_text(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _destination_record(event: _AsyncEvent, condition: str) -> str:
    """The invocation record Lambda sends to an async destination."""
    qualified = event.invoked_arn if event.invoked_arn.count(":") >= 7 else f"{event.invoked_arn}:$LATEST"
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _iso_now(),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": qualified,
            "condition": condition,
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": json.loads(event.payload or b"{}"),
    }
    if event.last is not None:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": event.last.executed_version}
        if event.last.function_error:
            response["functionError"] = event.last.function_error
        try:
            response_payload = json.loads(event.last.payload) if event.last.payload else None
        except ValueError:
            response_payload = event.last.payload.decode("utf-8", "replace")
        record["responseContext"] = response
        record["responsePayload"] = response_payload
    return json.dumps(record)


def _deliver(
    fn: world.Function, target_arn: str, body: str, attributes: dict[str, tuple[str, str]], failure_metric: str
) -> None:
    """Send an async invocation's record or event to an SQS queue, SNS topic or Lambda function, as
    Lambda does: with the function's execution role (Lambda Developer Guide, "Configuring
    destinations for asynchronous invocation", "Dead-letter queues"). A delivery that fails (the role
    may not send, or use the queue's key) loses the event and counts ``failure_metric``
    (``DeadLetterErrors``, ``DestinationDeliveryFailures``) in AWS/Lambda."""
    role = caller.service_caller(fn.role, LAMBDA_PRINCIPAL)
    try:
        with caller.acting_as(role):
            denied = policy.authorize(role, DELIVERY_ACTIONS.get(target_arn.split(":")[2], "*"), target_arn)
            if denied is not None:
                raise world.LambdaError("AccessDeniedException", denied.message)
            _send(target_arn, body, attributes)
    except world.AWS_ERRORS as error:
        logger.warning("function %s: delivery to %s failed, the event is lost: %s", fn.function_name, target_arn, error)
        dimensions = {"FunctionName": fn.function_name}
        metrics.put(fn.account_id, fn.region, "AWS/Lambda", failure_metric, 1, dimensions, "Count")


def _send(target_arn: str, body: str, attributes: dict[str, tuple[str, str]]) -> None:
    parts = target_arn.split(":")
    service, region, account_id = parts[2], parts[3], parts[4]
    if service == "sqs":
        sqs_attributes = {name: {"DataType": kind, "StringValue": value} for name, (kind, value) in attributes.items()}
        world.send_message(account_id, region, parts[5], body, message_attributes=sqs_attributes)
    elif service == "sns":
        sns_attributes = {name: {"Type": kind, "Value": value} for name, (kind, value) in attributes.items()}
        world.publish(account_id, region, target_arn, body, message_attributes=sns_attributes)
    elif service == "lambda":
        invoke_event(account_id, region, target_arn, body.encode())
    else:
        logger.warning("destination %s is not emulated (SQS, SNS and Lambda are)", target_arn)


_unpack_lock = threading.Lock()


def _code_root(fn: world.Function) -> Path:
    """The function's code unpacked (once per code hash and CA bundle name) under the state dir: the
    task root, with the emulator's database CA added to the bundle ``DB_CA_BUNDLE`` names."""
    code = getattr(fn, "code_bytes", b"") or b""
    bundle = str((fn.environment_vars or {}).get(CA_BUNDLE_VARIABLE) or "")
    root = state_dir() / "lambda-code" / hashlib.sha256(code + b"\0" + bundle.encode()).hexdigest()
    if root.is_dir():
        return root
    with _unpack_lock:
        if root.is_dir():
            return root
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=root.parent))
        try:
            if code:
                with zipfile.ZipFile(io.BytesIO(code)) as archive:
                    archive.extractall(staging)
            if bundle:
                _trust_database_ca(staging, bundle)
            staging.rename(root)
        except zipfile.BadZipFile as error:
            message = f"The code of function {fn.function_name} is not a zip file: {error}"
            raise world.LambdaError("InvalidZipFileException", message) from error
        except OSError:
            if not root.is_dir():  # else another emulator process unpacked the same code first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return root


def _trust_database_ca(root: Path, bundle: str) -> None:
    """Stand in for RDS's PKI: the emulator's PostgreSQL servers present certificates of its own CA
    (``postgres.emulator_ca``), so that CA joins the RDS CA bundle the package carries. A package
    without the named file is left as it is: the function fails as it would on AWS."""
    path = (root / bundle).resolve()
    if path.is_relative_to(root.resolve()) and path.is_file():
        ca, _ = postgres.emulator_ca()
        with path.open("ab") as pem:
            pem.write(b"\n" + ca.public_bytes(serialization.Encoding.PEM))


def _log_group(fn: world.Function) -> str:
    """LoggingConfig.LogGroup when the function has one, else Lambda's default group."""
    configured = (fn.get_configuration().get("LoggingConfig") or {}).get("LogGroup")
    return str(configured or f"/aws/lambda/{fn.function_name}")


def _iso_now() -> str:
    return clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Log:
    """One invocation's log events, time-stamped by the emulator's clock as lines arrive."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._size = 0
        self._dropped = 0
        self._last = 0

    def add(self, message: str, always: bool = False) -> None:
        """Record a line; function output beyond MAX_LOG_BYTES is counted, not kept."""
        if not message:
            return  # CloudWatch Logs has no empty events
        with self._lock:
            if not always and self._size + len(message) > MAX_LOG_BYTES:
                self._dropped += len(message)
                return
            if always and self._dropped:
                self._append(f"[local AWS] {self._dropped} bytes of function output were not kept")
                self._dropped = 0
            self._append(message)

    def _append(self, message: str) -> None:
        # A batch of log events must be in time order; the clock never goes back, the wall clock may.
        self._last = max(self._last, int(clock.now().timestamp() * 1000))
        self.events.append({"timestamp": self._last, "message": message})
        self._size += len(message)

    def tail(self) -> str:
        text = "\n".join(event["message"] for event in self.events) + "\n"
        return text.encode()[-LOG_TAIL_BYTES:].decode("utf-8", "ignore")


def _log_message(line: bytes) -> str:
    text = line[:MAX_LOG_EVENT_BYTES].decode("utf-8", "replace").rstrip("\r")
    return text.replace("\r", "\n")


@dataclass
class _Outcome:
    """What the supervised child did in one invocation."""

    report: dict[str, Any] | None  # the child's result, if it sent one
    timed_out: bool
    init_timed_out: bool
    exit: str  # how the process ended, in Lambda's words ("exit status 1", "signal: killed")
    elapsed_ms: float


# What tells environments apart: account, region, name, version, timeout and the whole environment
# (code root, variables, memory, handler, log group). An update makes a new key: no old environment
# is ever reused for it.
_Key = tuple[str, str, str, str, float, tuple[tuple[str, str], ...]]


class _Environment:
    """A function's execution environment: one child process (its own process group) that runs the
    init phase once and then one invocation at a time, warm in between as in Lambda: module state,
    ``/tmp`` (TMPDIR) and the log stream persist. A timeout, a crash or a failed init discards it,
    as Lambda discards its sandbox."""

    def __init__(self, key: _Key, environment: dict[str, str], session: caller.FunctionSession):
        self.key = key
        self.function = key[:3]
        self.session = session  # its own credentials: the function's role, as Lambda gives them
        # Its own log stream (named by the day it starts) and /tmp.
        version = environment["AWS_LAMBDA_FUNCTION_VERSION"]
        self.log_stream = f"{clock.now():%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"
        self.directory = Path(tempfile.mkdtemp(prefix="local-aws-lambda-"))
        self.daemon = xray.Daemon(session.caller, environment["AWS_REGION"])  # Lambda runs one beside the function
        environment = {
            **environment,
            **session.environment(),
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_XRAY_DAEMON_ADDRESS": self.daemon.address,
            "TMPDIR": str(self.directory),
        }
        self.initialized = False
        self.retired = False  # the function was updated or deleted: not used again
        self.closed = False
        self.last_used = time.monotonic()
        self._lock = threading.Lock()
        self._sink = _Log()  # the running invocation's log; between invocations, output held for the next
        self._marker: bytes | None = None
        self._output_done = threading.Event()
        control, child_control = os.pipe()
        child_requests, requests = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(BOOTSTRAP), str(child_control), str(child_requests), str(os.getpid())],
                cwd=environment["LAMBDA_TASK_ROOT"],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(child_control, child_requests),
                start_new_session=True,
            )
        except BaseException:
            os.close(control)
            os.close(requests)
            self.daemon.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        finally:
            os.close(child_control)
            os.close(child_requests)
        self.control = control
        self.requests = os.fdopen(requests, "wb")
        assert self.process.stdout is not None
        self.reader = threading.Thread(target=self._read_output, args=(self.process.stdout,), daemon=True)
        self.reader.start()

    def invoke(self, invocation: dict[str, Any], payload: bytes, timeout: float, log: _Log) -> _Outcome:
        """Run one invocation, its output into ``log``. After a timeout, a crash or a failed init
        the environment (its whole process group) is shut down before this returns."""
        marker = uuid.uuid4().hex.encode()
        with self._lock:  # what the function printed since its last invocation shows in this one
            for event in self._sink.events:
                log.add(event["message"])
            self._sink, self._marker = log, marker
            self._output_done.clear()
        header = {**invocation, "log_marker": marker.decode(), "event_bytes": len(payload)}
        with suppress(OSError):  # a child that is gone shows as the end of its control pipe
            self.requests.write(json.dumps(header).encode() + b"\n" + payload)
            self.requests.flush()
        report, timed_out, elapsed_ms = self._supervise(timeout)
        # A report after init (a failed init ends the process), then its output up to the marker
        # (not the end of the output): the environment lives on.
        if report is not None and self.initialized and self._output_done.wait(EXIT_GRACE_SECONDS) and not self._marker:
            return _Outcome(report, False, False, "", elapsed_ms)
        status = None if timed_out else _exit_status(self.process.pid, EXIT_GRACE_SECONDS)
        self.shut_down()
        if status is None:
            status = _describe_exit(self.process.returncode)
        return _Outcome(report, timed_out, timed_out and not self.initialized, status, elapsed_ms)

    def _supervise(self, timeout: float) -> tuple[dict[str, Any] | None, bool, float]:
        """Read the control pipe until the child reports or its time is up: the report, whether the
        time ran out, and the milliseconds the invocation ran (after init, on a cold start).

        Before its report the child may send ``waited <seconds>`` (it waited that long at once on
        its emulated time: the connect timeout of an unreachable endpoint; the deadline comes that
        much closer) and ``connect <port>`` (it opens a connection to a port on this host: the
        answer, ``1`` admitted or ``0`` not, goes back on the request pipe)."""
        started = time.monotonic()
        deadline = started + (timeout if self.initialized else INIT_TIMEOUT_SECONDS)
        waited = 0.0
        data = bytearray()
        poller = select.poll()  # not select.select: the emulator may hold more than 1024 descriptors
        poller.register(self.control, select.POLLIN)
        while True:
            while b"\n" in data:
                line, _, rest = bytes(data).partition(b"\n")
                if line.startswith(b"waited "):
                    waited += float(line.split()[1])
                    deadline -= float(line.split()[1])
                elif line.startswith(b"connect "):
                    self._answer_connect(int(line.split()[1]))
                elif line == b"ready" and not self.initialized:
                    self.initialized = True
                    started = time.monotonic()
                    deadline, waited = started + timeout, 0.0
                else:
                    elapsed_ms = (time.monotonic() - started + waited) * 1000
                    try:
                        report = json.loads(line)
                    except ValueError:
                        report = None
                    return (report if isinstance(report, dict) else None), False, elapsed_ms
                data[:] = rest
            remaining = deadline - time.monotonic()
            if remaining <= 0:  # the whole time it had, however much of it passed emulated
                return None, True, (deadline - started + waited) * 1000
            if not poller.poll(math.ceil(remaining * 1000)):
                continue
            chunk = os.read(self.control, 1 << 16)
            if not chunk or len(data) > MAX_REPORT_BYTES:
                return None, False, (time.monotonic() - started + waited) * 1000
            data += chunk

    def _answer_connect(self, port: int) -> None:
        """Whether the environment's connection to ``port`` on this host gets through: a DB
        cluster's server passes the pipeline's network and fault steps (``admit_connection``). An
        admitted one may resume a paused cluster: the answer then carries the seconds the connection
        waits for it (``1 <seconds>``), which the environment waits on its own emulated time."""
        cluster = postgres.cluster_on_port(port)
        answer = b"1"
        if cluster is not None:
            with caller.acting_as(self.session.caller):
                admitted = pipeline.admit_connection(cluster, port) is None
            answer = f"1 {auto_pause.connecting(cluster)}".encode() if admitted else b"0"
        with suppress(OSError):
            self.requests.write(answer + b"\n")
            self.requests.flush()

    def _read_output(self, stream: IO[bytes]) -> None:
        """Turn the child's output into log events, one per line (carriage returns mark the line
        breaks of one multi-line record, as in Lambda's runtime); runs in its own thread until EOF."""
        pending = b""
        descriptor = stream.fileno()
        while True:
            try:
                chunk = os.read(descriptor, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            if len(pending) > MAX_LOG_EVENT_BYTES:
                lines.append(pending)
                pending = b""
            for line in lines:
                self._output(line)
        self._output(pending)
        stream.close()
        self._output_done.set()

    def _output(self, line: bytes) -> None:
        """One line of output; the invocation's marker (after its last output) completes its log."""
        with self._lock:
            if self._marker is not None and line.endswith(self._marker):
                self._sink.add(_log_message(line[: -len(self._marker)]))
                self._sink, self._marker = _Log(), None
                self._output_done.set()
            else:
                self._sink.add(_log_message(line))

    def is_alive(self) -> bool:
        return not self.closed and _exit_status(self.process.pid, 0) is None

    def shut_down(self) -> None:
        """End the process group (its leader is not reaped before, so the id is still ours) and
        remove the environment's files; idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        with suppress(OSError):
            self.requests.close()
        os.close(self.control)
        self.daemon.close()
        self.reader.join(EXIT_GRACE_SECONDS)  # a grandchild that escaped the process group may hold it open
        shutil.rmtree(self.directory, ignore_errors=True)


class _Pool:
    """The warm environments. An invocation takes an idle environment of its key or starts one, and
    gives it back afterwards: one invocation at a time per environment, so a concurrent one starts
    another. One unused for IDLE_SECONDS is shut down, as Lambda reclaims idle environments."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[_Key, list[_Environment]] = {}
        self._all: set[_Environment] = set()
        self._reaper: threading.Thread | None = None

    def acquire(
        self, key: _Key, environment: dict[str, str], session: Callable[[], caller.FunctionSession]
    ) -> _Environment:
        """An idle environment of ``key``, or a new one with credentials of its own (``session``).
        One whose credentials would expire before the invocation's timeout is replaced."""
        while (candidate := self._take(key)) is not None:
            if candidate.is_alive() and not candidate.session.expires_within(key[4]):
                return candidate
            # Ended by itself while idle (a thread of the function exited it), or its credentials expire.
            self._forget(candidate)
        with self._lock:
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="lambda-idle-reaper", daemon=True)
                self._reaper.start()
        started = _Environment(key, environment, session())
        with self._lock:
            self._all.add(started)
        return started

    def release(self, environment: _Environment) -> None:
        with self._lock:
            if not environment.closed and not environment.retired:
                environment.last_used = time.monotonic()
                self._idle.setdefault(environment.key, []).append(environment)
                return
        self._forget(environment)

    def retire(self, chosen: Callable[[_Environment], bool]) -> None:
        """The chosen environments are not used again: idle ones end now, busy ones after their
        invocation."""
        with self._lock:
            for candidate in self._all:
                candidate.retired = candidate.retired or chosen(candidate)
        self.shut_down_idle(chosen)

    def shut_down_idle(self, chosen: Callable[[_Environment], bool]) -> None:
        with self._lock:
            ending = [candidate for idle in self._idle.values() for candidate in idle if chosen(candidate)]
            for candidate in ending:
                self._remove(candidate)
        for candidate in ending:
            candidate.shut_down()

    def _take(self, key: _Key) -> _Environment | None:
        with self._lock:
            idle = self._idle.get(key)
            if not idle:
                return None
            candidate = idle.pop()
            if not idle:
                del self._idle[key]
            return candidate

    def _forget(self, environment: _Environment) -> None:
        with self._lock:
            self._remove(environment)
        environment.shut_down()

    def _remove(self, environment: _Environment) -> None:
        """Out of the pool (the caller holds the lock)."""
        self._all.discard(environment)
        idle = self._idle.get(environment.key, [])
        if environment in idle:
            idle.remove(environment)
            if not idle:
                del self._idle[environment.key]

    def _reap(self) -> None:
        while True:
            time.sleep(IDLE_SECONDS / 4)
            shut_down_idle(IDLE_SECONDS)


_POOL = _Pool()
# No function process outlives the emulator (each also ends itself when the emulator is gone).
atexit.register(_POOL.retire, lambda candidate: True)


def shut_down_idle(seconds: float) -> None:
    """Shut down the environments no invocation used for ``seconds`` (real time)."""
    oldest = time.monotonic() - seconds
    _POOL.shut_down_idle(lambda candidate: candidate.last_used < oldest)


def retire(account_id: str, region: str, function_name: str) -> None:
    """The function was updated or deleted: its environments are not used again."""
    _POOL.retire(lambda candidate: candidate.function == (account_id, region, function_name))


def _exit_status(pid: int, wait: float) -> str | None:
    """How the child ended, read without reaping it (so its process group id stays reserved for
    the kill that follows); None if it still runs after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        if info is not None and info.si_pid == pid:
            if info.si_code == os.CLD_EXITED:
                return f"exit status {info.si_status}"
            return _describe_exit(-info.si_status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _describe_exit(returncode: int) -> str:
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.Signals(-returncode).name.removeprefix("SIG").lower()
    except ValueError:
        name = str(-returncode)
    return f"signal: {'killed' if name == 'kill' else name}"


def _environment(fn: world.Function, root: Path, log_group: str) -> dict[str, str]:
    """Lambda's environment for the function, its AWS clients pointed at the emulator. Nothing of
    the emulator's own environment leaks in (no developer credentials or AWS config files)."""
    endpoint = os.environ.get(ENDPOINT_ENV)
    if not endpoint:
        raise ServiceException(f"{ENDPOINT_ENV} is not set: function code would not reach the emulator")
    return {
        **{str(key): str(value) for key, value in (fn.environment_vars or {}).items()},
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_XRAY_CONTEXT_MISSING": xray.CONTEXT_MISSING,
        "LAMBDA_TASK_ROOT": str(root),
        "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
        "_HANDLER": str(fn.handler or ""),
    }


def _session(fn: world.Function) -> caller.FunctionSession:
    """Credentials for a new execution environment: the function's role in a session named after
    the function, with the subnets and security groups it runs in and the subnet it is placed in."""
    vpc = fn.get_configuration().get("VpcConfig") or {}
    subnet_ids = tuple(vpc.get("SubnetIds") or ())
    return caller.start_function_session(
        fn.function_arn,
        fn.role,
        fn.region,
        subnet_ids,
        tuple(vpc.get("SecurityGroupIds") or ()),
        network.place(fn.function_arn, subnet_ids),
    )


def _run(fn: world.Function, payload: bytes, invoked_arn: str, request_id: str) -> InvocationResult:
    """One run of the function's code in a warm or a new environment, logged to its log group and
    counted in its metrics."""
    check_payload(payload)
    version = str(fn.version)
    log_group = _log_group(fn)
    timeout = float(fn.timeout or 3)
    environment = _environment(fn, _code_root(fn), log_group)
    key = (fn.account_id, fn.region, fn.function_name, version, timeout, tuple(sorted(environment.items())))
    sandbox = _POOL.acquire(key, environment, lambda: _session(fn))
    log = _Log()
    log.add(f"START RequestId: {request_id} Version: {version}", always=True)
    subnet_id = sandbox.session.caller.subnet_id
    zone = network.availability_zone(sandbox.session.caller)
    if subnet_id:
        log.add(f"[local AWS] RequestId: {request_id} placement {subnet_id} {zone}", always=True)
    # Active tracing samples every invocation (AWS: the first each second and 5 % of the others).
    sampled = (fn.tracing_config or {}).get("Mode") == "Active"
    started = clock.now()
    trace_header = xray.trace_header(started, sampled)
    invocation = {
        "request_id": request_id,
        "invoked_function_arn": invoked_arn,
        "timeout": timeout,
        "clock_offset": clock.CLOCK.offset.total_seconds(),  # the function reads the emulator's time
        "trace_header": trace_header,
    }
    try:
        outcome = sandbox.invoke(invocation, payload or b"{}", timeout, log)
        failed = outcome.timed_out or "payload_json" not in (outcome.report or {})
        own = [xray.function_segment(trace_header, fn.function_arn, started, clock.now(), failed)] if sampled else []
        sandbox.daemon.flush(own)  # what the function sent, with Lambda's own segment
    finally:
        _POOL.release(sandbox)
    payload_out, function_error = _result_payload(outcome, request_id, timeout, log)
    log.add(f"END RequestId: {request_id}", always=True)
    log.add(_report_line(fn, request_id, outcome), always=True)
    _write_log(fn, log_group, sandbox.log_stream, log)
    _record_metrics(fn, invoked_arn, _duration_ms(outcome), function_error is not None)
    return InvocationResult(
        payload_out, function_error, log.tail(), version, request_id, log_group, sandbox.log_stream, subnet_id, zone
    )


def _record_metrics(fn: world.Function, invoked_arn: str, duration_ms: float, failed: bool) -> None:
    """AWS/Lambda Invocations, Errors and Duration, per function and per alias or version invoked."""
    qualifier = invoked_arn.split(":")[7] if invoked_arn.count(":") >= 7 else None
    resource = f"{fn.function_name}:{qualifier}" if qualifier else None
    try:
        metrics.record_invocation(fn.account_id, fn.region, fn.function_name, resource, duration_ms, failed)
    except Exception:
        logger.exception("recording the metrics of %s failed", fn.function_name)


def _result_payload(outcome: _Outcome, request_id: str, timeout: float, log: _Log) -> tuple[bytes, str | None]:
    """The response payload and FunctionError Lambda gives for what the child did."""
    report = outcome.report or {}
    if outcome.timed_out:
        limit = INIT_TIMEOUT_SECONDS if outcome.init_timed_out else timeout
        what = f"{'Init phase' if outcome.init_timed_out else 'Task'} timed out after {limit:.2f} seconds"
        log.add(f"{_iso_now()} {request_id} {what}", always=True)
        error = {"errorType": "Sandbox.Timedout", "errorMessage": f"RequestId: {request_id} Error: {what}"}
        return json.dumps(error).encode(), "Unhandled"
    if "payload_json" in report:
        return str(report["payload_json"]).encode(), None
    if "payload" in report:
        return json.dumps(report["payload"]).encode(), "Unhandled"
    message = f"RequestId: {request_id} Error: Runtime exited with error: {outcome.exit}"
    log.add(f"{message}\nRuntime.ExitError", always=True)
    return json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode(), "Unhandled"


def _duration_ms(outcome: _Outcome) -> float:
    """The handler's run as the child measured it, else the time since the child was ready."""
    return float((outcome.report or {}).get("duration_ms", outcome.elapsed_ms))


def _report_line(fn: world.Function, request_id: str, outcome: _Outcome) -> str:
    report = outcome.report or {}
    duration = _duration_ms(outcome)
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration:.2f} ms",
        f"Billed Duration: {math.ceil(duration)} ms",
        f"Memory Size: {fn.memory_size} MB",
    ]
    if "max_memory_mb" in report:
        fields.append(f"Max Memory Used: {report['max_memory_mb']} MB")
    if "init_ms" in report:
        fields.append(f"Init Duration: {float(report['init_ms']):.2f} ms")
    if outcome.timed_out:
        fields.append("Status: timeout")
    return "\t".join(fields)


def _write_log(fn: world.Function, log_group: str, log_stream: str, log: _Log) -> None:
    """Put the events through the logs backend's put_log_events (which other fixes extend, e.g.
    to extract EMF metrics), creating the group as Lambda does. A failure here is logged only:
    the invocation itself happened."""
    try:
        world.ensure_log_stream(fn.account_id, fn.region, log_group, log_stream)
        for start in range(0, len(log.events), MAX_EVENTS_PER_PUT):
            world.put_log_events(
                fn.account_id, fn.region, log_group, log_stream, log.events[start : start + MAX_EVENTS_PER_PUT]
            )
    except Exception:
        logger.exception("writing the log of %s to %s failed", fn.function_name, log_group)
