"""Run the patched moto server in the foreground, or start/stop/inspect it in the background.

The background server's state lives in ``.local-aws/`` at the repository root (git-ignored), or in
``$LOCAL_AWS_STATE_DIR``: ``server.pid`` (JSON: pid, host, port) and ``server.log`` (its output).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5055
# Set in the server process to its own URL: what runs inside the emulator (function code, custom
# resource response URLs) calls the emulator back at this address.
ENDPOINT_ENV = "LOCAL_AWS_ENDPOINT_URL"


def state_dir() -> Path:
    return Path(os.environ.get("LOCAL_AWS_STATE_DIR", REPO_ROOT / ".local-aws"))


def pid_file() -> Path:
    return state_dir() / "server.pid"


def log_file() -> Path:
    return state_dir() / "server.log"


class LauncherError(Exception):
    """A problem the user can act on; the CLI prints it as one sentence and exits 1."""


def endpoint_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def serve(host: str, port: int, without: Iterable[str] = ()) -> None:
    """Apply the fixes, then serve moto in this process until SIGINT/SIGTERM (as ``moto_server``)."""
    from werkzeug.serving import run_simple

    from . import world
    from .patches import apply_all

    applied = apply_all(without)
    off = os.environ.get("LOCAL_AWS_IAM", "on").lower() == "off"
    iam = "IAM NOT enforced (LOCAL_AWS_IAM=off)" if off else "IAM enforced"
    print(f"local AWS: {len(applied)} fixes applied, {iam}, serving {endpoint_url(host, port)}", flush=True)
    os.environ.setdefault("MOTO_PORT", str(port))
    os.environ[ENDPOINT_ENV] = endpoint_url(host, port)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_at_once)
    run_simple(host, port, application(), threaded=True, request_handler=world.RequestHandler)


def application() -> Callable[..., Iterable[bytes]]:
    """The emulator's WSGI app: the control API, then the request pipeline, then moto."""
    from . import control, pipeline, world

    return control.wrap(pipeline.wrap(world.moto_app()))


def _exit_at_once(*_: object) -> None:
    """SIGINT/SIGTERM: run the exit handlers (they stop the databases and the function processes),
    then end without the interpreter's finalization, which spends a second freeing moto's state."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def port_is_free(host: str, port: int) -> bool:
    """Whether the server could bind the port (with SO_REUSEADDR, as werkzeug binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def answers(url: str) -> bool:
    """True once something speaks HTTP at ``url`` (any status counts)."""
    try:
        urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name: [0] is field 3 (state) of proc(5)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start_time(pid: int) -> int | None:
    """When the process started (clock ticks after boot), or None if it does not run (zombies
    included). With the pid it identifies a process: a recycled pid has another start time."""
    fields = _stat(pid)
    if fields is None:
        return None
    state, start_time = fields[0], fields[19]
    return None if state in ("Z", "X") else int(start_time)


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by ``root`` and every process under it, reaped ones
    included: a process's own time plus its waited-for children's (proc(5): utime, stime, cutime,
    cstime). Unlike wall time it does not grow when other work shares the machine."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields is not None:
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = sum(int(value) for value in fields[11:15])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ServerRecord:
    """The background server this repository started, as written in the pid file."""

    pid: int
    started: int
    host: str
    port: int

    @property
    def url(self) -> str:
        return endpoint_url(self.host, self.port)

    def is_alive(self) -> bool:
        return process_start_time(self.pid) == self.started

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)

    def rss_megabytes(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def read_record() -> ServerRecord | None:
    try:
        return ServerRecord(**json.loads(pid_file().read_text()))
    except (OSError, ValueError, TypeError):
        return None


def running_server() -> ServerRecord | None:
    """The live server from the pid file; a stale pid file is removed."""
    record = read_record()
    if record is not None and not record.is_alive():
        pid_file().unlink(missing_ok=True)
        return None
    return record


def start(host: str, port: int, without: Iterable[str] = (), timeout: float = 30.0) -> ServerRecord:
    """Start the server in the background and wait until it answers; idempotent for the same port."""
    url = endpoint_url(host, port)
    current = running_server()
    if current is not None:
        if (current.host, current.port) == (host, port):
            return current
        raise LauncherError(f"A local AWS server already runs at {current.url} (pid {current.pid}); stop it first.")
    if not port_is_free(host, port):
        raise LauncherError(f"Port {port} on {host} is already in use by another program; choose another with --port.")
    state_dir().mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tools.local_aws", "serve", "--host", host, "--port", str(port)]
    codes = ",".join(without)
    if codes:
        command += ["--without", codes]
    with log_file().open("w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    record = ServerRecord(process.pid, process_start_time(process.pid) or 0, host, port)
    pid_file().write_text(json.dumps(record.__dict__))
    deadline = time.monotonic() + timeout
    while not answers(url):
        if process.poll() is not None:
            pid_file().unlink(missing_ok=True)
            raise LauncherError(f"The local AWS server exited during start-up; see {log_file()}.")
        if time.monotonic() > deadline:
            stop()
            raise LauncherError(
                f"The local AWS server did not answer at {url} within {timeout:.0f} s; see {log_file()}."
            )
        time.sleep(0.1)
    return record


def stop(grace: float = 10.0) -> ServerRecord | None:
    """Stop the background server (its whole process group); returns what was stopped, if anything."""
    record = running_server()
    if record is None:
        return None
    os.killpg(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _still_running(record) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _still_running(record):
        os.killpg(record.pid, signal.SIGKILL)
    pid_file().unlink(missing_ok=True)
    return record


def _still_running(record: ServerRecord) -> bool:
    """Whether the server still runs; reaps it if this process started it (no zombie is left)."""
    with suppress(ChildProcessError):  # not our child: init reaps it
        os.waitpid(record.pid, os.WNOHANG)
    return record.is_alive()


def default_endpoint() -> str:
    """The background server's URL if it runs, else ``$AWS_ENDPOINT_URL``."""
    record = running_server()
    if record is not None:
        return record.url
    if "AWS_ENDPOINT_URL" in os.environ:
        return os.environ["AWS_ENDPOINT_URL"]
    raise LauncherError("No local AWS server is running and AWS_ENDPOINT_URL is not set.")
