"""Aurora Serverless v2 auto-pause on the emulator's clock (D63).

Aurora User Guide, "Scaling to Zero ACUs with automatic pause and resume for Aurora Serverless v2"
(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html):
with a minimum capacity of 0 ACU, an instance pauses once it had no user connection for the cluster's
``SecondsUntilAutoPause``; paused, it runs at 0 ACU and costs no capacity; the next connection
request resumes it, which takes about 15 seconds (longer after a day paused), and the connection
waits meanwhile. AWS Backup snapshots storage, so backing up a paused cluster does not resume it.

Here a cluster pauses when its server runs, it has an available instance and nobody connected for
that many emulated seconds (open sessions in ``pg_stat_activity`` count as activity): its PostgreSQL
server stops and ``AWS/RDS ServerlessDatabaseCapacity`` reads 0 (sampled each minute for every
cluster that can pause; ``RUNNING_ACU`` otherwise). Then the next connection resumes it:

* a function's: its bootstrap asks the runtime before the socket connects, and ``connecting`` starts
  the server and answers ``RESUME_SECONDS``, which the execution environment waits on its own
  emulated time (as it waits out a connect timeout), so no tick blocks on the clock;
* anyone else's (tests, ``psql``, the drill, from outside any VPC): a *waker* listens on the paused
  cluster's port, starts the server when a connection arrives and passes that connection on to it.
  This resume takes no emulated time: a client outside the emulator cannot wait on its clock.

AWS Backup copies a paused cluster from its storage: the cluster's data as it paused (``pg_dump`` taken
just before its server stopped; nobody wrote since), through ``paused_snapshot``, without a server, so
the backup neither resumes it nor counts as a connection (and no start and stop of the server adds a
WAL segment to its archive every hour). Whoever else starts the server (StartDBCluster, a failover)
resumes it (``postgres.LAUNCH_HOOKS``).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from ... import world
from ...clock import CLOCK, Due
from ..cloudwatch import metrics
from . import postgres

logger = logging.getLogger(__name__)

RESUME_SECONDS = 15.0  # "about 15 seconds" (the page above)
RUNNING_ACU = 0.5  # the capacity reported for a running cluster whose floor is 0 (Aurora's smallest step)
ORDER = 16  # after scheduled rules (10) and instance changes (15), before backup plans (20)
# Sessions of users, not the server's own processes nor the emulator's query asking about them.
USER_SESSIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
)
UPSTREAM_TIMEOUT = 10.0  # seconds a passed-on connection waits for the resumed server to accept it
SNAPSHOT = "paused.dump"  # in the server's data directory: its data as it paused

# ``_lock`` serializes pausing, resuming and copying; ``_state`` guards the dictionaries below and is
# never held while a server starts or stops (the launch hook takes it under the server's own lock).
_lock = threading.RLock()
_state = threading.Lock()
_last_connection: dict[str, datetime] = {}
_paused: dict[str, _Waker] = {}


class _Waker:
    """Listens on a paused cluster's port: each connection resumes the cluster and is passed on."""

    def __init__(self, identifier: str, port: int) -> None:
        self.identifier = identifier
        self.listener = socket.create_server((postgres.HOST, port))  # SO_REUSEADDR: the server binds it next
        threading.Thread(target=self._serve, name=f"waker-{identifier}", daemon=True).start()

    def close(self) -> None:
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # ends the blocked accept
        self.listener.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=_pass_on, args=(self.identifier, client), daemon=True).start()


def pause_delay(cluster: Any) -> int | None:
    """The cluster's ``SecondsUntilAutoPause`` when its minimum capacity is 0 ACU, else None."""
    scaling = getattr(cluster, "serverless_v2_scaling_configuration", None) or {}
    if float(scaling.get("MinCapacity", 1)) != 0:
        return None
    return int(scaling.get("SecondsUntilAutoPause", 300))  # the API's default


def is_paused(identifier: str) -> bool:
    with _state:
        return identifier in _paused


def connecting(identifier: str) -> float:
    """A function's connection to the cluster arrives: the emulated seconds it waits while the
    cluster resumes (0 when it runs)."""
    with _lock:
        paused = is_paused(identifier)
        _note_connection(identifier)
        if not paused:
            return 0.0
        postgres.server_for(identifier).start()
        logger.info("auto-pause: %s resumed for a function's connection", identifier)
        return RESUME_SECONDS


@contextmanager
def paused_snapshot(identifier: str) -> Iterator[Path | None]:
    """A paused cluster's data as it paused (a ``pg_dump`` file, valid inside the block), or None when
    it runs: what AWS Backup copies from a paused cluster's storage."""
    with _lock:
        yield postgres.server_for(identifier).data_dir / SNAPSHOT if is_paused(identifier) else None


def forget(identifier: str) -> None:
    """The cluster is stopped (StopDBCluster: its endpoint refuses connections until it is started) or
    gone (DeleteDBCluster): its waker stops and nothing of it stays here."""
    with _state:
        waker = _paused.pop(identifier, None)
        _last_connection.pop(identifier, None)
    if waker is not None:
        waker.close()


def due_pauses(start: datetime, end: datetime) -> Iterable[Due]:
    """Each pausing cluster's pause once idle long enough, and its capacity at every whole minute."""
    for account_id, region, cluster in world.all_clusters():
        delay = pause_delay(cluster)
        identifier = cluster.db_cluster_identifier
        if delay is None or not _has_server(identifier):
            continue
        minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while minute <= end:
            yield Due(minute, ORDER, f"capacity {identifier}", partial(_sample, account_id, region, identifier, minute))
            minute += timedelta(minutes=1)
        if not _pausable(account_id, region, identifier):
            continue
        with _state:
            since = _last_connection.setdefault(identifier, start)
        when = max(since + timedelta(seconds=delay), start + timedelta(microseconds=1))
        if when <= end:
            yield Due(when, ORDER, f"auto-pause {identifier}", partial(_pause, identifier, delay))


def on_launch(identifier: str) -> None:
    """The cluster's server is about to start (``postgres.LAUNCH_HOOKS``): it is resumed, and the
    port its waker holds is freed."""
    with _state:
        waker = _paused.pop(identifier, None)
        if waker is not None:
            _last_connection[identifier] = CLOCK.now()
    if waker is not None:
        waker.close()


def _pass_on(identifier: str, client: socket.socket) -> None:
    """A connection to a paused cluster's port: resume the cluster, then relay the connection to it."""
    try:
        with _lock:
            _note_connection(identifier)
            server = postgres.server_for(identifier)
            server.start()
        upstream = socket.create_connection((postgres.HOST, server.port), timeout=UPSTREAM_TIMEOUT)
        upstream.settimeout(None)
    except (KeyError, OSError, postgres.DatabaseError) as error:
        logger.warning("auto-pause: %s could not resume for a connection: %s", identifier, error)
        client.close()
        return
    logger.info("auto-pause: %s resumed for a connection from outside the emulator", identifier)
    threading.Thread(target=_relay, args=(upstream, client), daemon=True).start()
    _relay(client, upstream)


def _relay(source: socket.socket, target: socket.socket) -> None:
    """Copy ``source`` to ``target`` until either ends, then end both."""
    try:
        while data := source.recv(1 << 16):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        source.close()


def _note_connection(identifier: str) -> None:
    with _state:
        _last_connection[identifier] = CLOCK.now()


def _has_server(identifier: str) -> bool:
    try:
        postgres.server_for(identifier)
    except KeyError:
        return False
    return True


def _pausable(account_id: str, region: str, identifier: str) -> bool:
    """Running (not paused, stopped or held without an instance) with an available instance to pause."""
    if is_paused(identifier) or not postgres.server_for(identifier).running:
        return False
    return any(i.status == "available" for i in world.cluster_instances(account_id, region, identifier))


def _pause(identifier: str, delay: int) -> None:
    with _lock:
        server = postgres.server_for(identifier)
        now = CLOCK.now()
        with _state:
            since = _last_connection.get(identifier, now)
        if is_paused(identifier) or not server.running or now - since < timedelta(seconds=delay):
            return  # paused, stopped, or someone connected since this pause was planned
        if int(server.sql(USER_SESSIONS).strip() or 0):
            _note_connection(identifier)  # open sessions keep it awake
            CLOCK.reschedule()
            return
        try:
            server.dump(server.data_dir / SNAPSHOT)
        except postgres.DatabaseError as error:  # no snapshot to back up from: stay awake, try later
            logger.warning("auto-pause: %s stays awake: %s", identifier, error)
            _note_connection(identifier)
            CLOCK.reschedule()
            return
        server.stop()
        with _state:
            _paused[identifier] = _Waker(identifier, server.port)
        logger.info("auto-pause: %s paused after %s s without connections", identifier, delay)


def _sample(account_id: str, region: str, identifier: str, minute: datetime) -> None:
    """``ServerlessDatabaseCapacity`` of a cluster that can pause, as RDS publishes it each minute
    (stamped with the minute it is due at, whatever ran before it at that instant)."""
    cluster = world.cluster(account_id, region, identifier)
    if cluster is None or not _has_server(identifier):
        return
    running = postgres.server_for(identifier).running and not is_paused(identifier)
    scaling = cluster.serverless_v2_scaling_configuration or {}
    capacity = max(float(scaling.get("MinCapacity", 0)), RUNNING_ACU) if running else 0.0
    metrics.put(
        account_id,
        region,
        "AWS/RDS",
        "ServerlessDatabaseCapacity",
        capacity,
        {"DBClusterIdentifier": identifier},
        "Count",
        minute,
    )
