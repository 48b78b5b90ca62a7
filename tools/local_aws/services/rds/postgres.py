"""Real PostgreSQL servers behind the emulated Aurora clusters: one per DB cluster.

Code under test needs a database that answers SQL the way Aurora does: over TLS only (Aurora's
``rds.force_ssl=1``), with the cluster's master user and database, and with point-in-time restore
from continuous backups. Each server runs the installed PostgreSQL binaries as a child process of
the emulator, on a free port of 127.0.0.1, with its files in ``<data root>/<identifier>/``
(``data_root``: ``<state dir>/postgres`` as a rule):

``pgdata/``       the data directory (with the server's TLS key and certificate)
``wal-archive/``  every completed WAL segment, gzipped (``archive_command``): the continuous backup.
                  A segment closed early (at every stop and every auto-pause) is mostly zeros and
                  shrinks from 1 MB to a few KB, so a week of hourly pauses stays within the soak's
                  state budget.
``base-backup/``  a ``pg_basebackup`` (tar) taken right after creation: where any restore starts
``ca.pem``        the certificate of the CA that signed the server's certificate (``certificate``)
``server.log``    the server's output

Every server's certificate is signed by one CA of the emulator (``emulator_ca``: ``<data root>/_ca/``,
made once and kept with the state), so a function can verify any server, a restored copy made after
it started included: the Lambda runtime adds that CA to the RDS CA bundle a function packages (the
file its ``DB_CA_BUNDLE`` names), where AWS's servers would chain to the RDS roots in it.

PostgreSQL refuses to run as root, so when the emulator runs as root the server processes (and
the tools that write into their files) run as the ``postgres`` system user, or ``nobody``.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import ipaddress
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ... import pipeline
from ...clock import CLOCK
from ...server import process_start_time, state_dir
from . import iam_auth

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Where Debian and Ubuntu install each PostgreSQL version (<version>/bin).
INSTALLATIONS = Path("/usr/lib/postgresql")
# Accounts the servers run as when the emulator runs as root, in order of preference.
SERVER_ACCOUNTS = ("postgres", "nobody")
# How long a server may take to accept connections, or the archiver to archive a segment.
STARTUP_TIMEOUT = 60.0
ARCHIVE_TIMEOUT = 30.0
POLL_INTERVAL = 0.01
# A port found free can be taken before the server binds it; the first start tries this many.
PORT_ATTEMPTS = 3

# Settings for speed (nothing here must survive a machine crash) and for continuous backup.
SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",
    "max_connections": "30",
    "shared_buffers": "16MB",
    "fsync": "off",
    "full_page_writes": "off",
    "wal_level": "replica",
    "archive_mode": "on",
    "archive_timeout": "60",
    "ssl": "on",
    "ssl_cert_file": "server.crt",
    "ssl_key_file": "server.key",
    "password_encryption": "scram-sha-256",
}


# Called with a cluster's identifier before its server starts: ``auto_pause`` frees the port it holds
# for a paused cluster and notes the resume (whoever starts the server: a connection, StartDBCluster, a
# failover).
LAUNCH_HOOKS: list[Callable[[str], None]] = []


class DatabaseError(Exception):
    """A PostgreSQL server could not be created, started or used; the message says why."""


@functools.cache
def binaries() -> Path:
    """The directory with initdb, postgres and the client tools: ``pg_config --bindir``, else the
    newest ``/usr/lib/postgresql/<version>/bin``."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        answer = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(answer.stdout.strip()))
    versions = [path for path in INSTALLATIONS.glob("*/bin") if path.parent.name.isdigit()]
    candidates += sorted(versions, key=lambda path: int(path.parent.name), reverse=True)
    for candidate in candidates:
        if all((candidate / tool).is_file() for tool in ("initdb", "postgres", "pg_basebackup", "pg_dump")):
            return candidate
    raise DatabaseError(
        f"PostgreSQL server binaries (initdb, postgres) were found neither by pg_config nor in {INSTALLATIONS}/*/bin; "
        "install the PostgreSQL server package (Debian: postgresql-15)."
    )


@functools.cache
def server_account() -> pwd.struct_passwd | None:
    """The unprivileged account the servers run as, or None when the emulator is not root (then
    they run as the emulator's own user)."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_ACCOUNTS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise DatabaseError(f"PostgreSQL cannot run as root and none of the users {', '.join(SERVER_ACCOUNTS)} exists.")


def _as_server_account() -> dict[str, Any]:
    """``subprocess`` arguments that run a command as the server account."""
    account = server_account()
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _give_to_server_account(*paths: Path) -> None:
    """Make files the emulator wrote (as root) the server account's, as PostgreSQL requires."""
    account = server_account()
    if account is None:
        return
    for path in paths:
        for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
            os.chown(item, account.pw_uid, account.pw_gid, follow_symlinks=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def emulator_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The emulator's CA: read from ``<data root>/_ca/``, or made there on first use. Kept with the
    state, because functions unpacked earlier trust it. (``_`` cannot start a cluster identifier.)"""
    directory = data_root() / "_ca"
    with _ca_lock:
        if not (directory / "ca.pem").is_file():
            directory.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".ca-", dir=directory.parent))
            key = ec.generate_private_key(ec.SECP256R1())
            (staging / "ca.key").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            (staging / "ca.key").chmod(0o600)
            (staging / "ca.pem").write_bytes(_ca_certificate(key).public_bytes(serialization.Encoding.PEM))
            try:
                staging.rename(directory)
            except OSError:  # another emulator process on this state made it first
                shutil.rmtree(staging, ignore_errors=True)
        stored = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
        if not isinstance(stored, ec.EllipticCurvePrivateKey):
            raise DatabaseError(f"{directory / 'ca.key'} is not the emulator's CA key (EC); remove {directory}")
        return x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes()), stored


def _ca_certificate(ca_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.now(UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "local-aws Aurora CA")])
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _write_tls(pgdata: Path, ca_file: Path) -> None:
    """A server certificate (for localhost, 127.0.0.1 and ::1: the endpoint address) signed by the
    emulator's CA, whose certificate goes to ``ca_file``."""
    now = datetime.now(UTC)
    ca, ca_key = emulator_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address(HOST)),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_file = pgdata / "server.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)  # PostgreSQL refuses a key others can read
    (pgdata / "server.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _give_to_server_account(key_file, pgdata / "server.crt")
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))


def _hba(identifier: str, force_ssl: bool) -> str:
    """Client authentication: members of ``rds_iam`` with IAM tokens over TLS (``iam_auth``), everyone
    else with passwords (SCRAM) from the loopback addresses; with force_ssl only over TLS, plaintext
    connections rejected as Aurora rejects them."""
    method = "hostssl" if force_ssl else "host"
    lines = iam_auth.hba_lines(identifier, force_ssl) + [
        f"{method} {database} all {address} scram-sha-256"
        for database in ("all", "replication")
        for address in ("127.0.0.1/32", "::1/128")
    ]
    if force_ssl:
        lines += [
            f"hostnossl {database} all {network} reject"
            for database in ("all", "replication")
            for network in ("0.0.0.0/0", "::/0")
        ]
    return "\n".join(lines) + "\n"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass
class DatabaseServer:
    """One cluster's PostgreSQL server; ``data_dir`` holds everything it owns."""

    identifier: str
    host: str
    port: int
    username: str
    password: str
    database: str
    data_dir: Path
    certificate: Path
    force_ssl: bool = True
    # The real time up to which every commit is in the WAL archive (a restore needs no newer WAL).
    archived_until: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The real time the base backup was finished: the earliest instant a restore can reach.
    backed_up_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def archive(self) -> Path:
        return self.data_dir / "wal-archive"

    @property
    def base_backup(self) -> Path:
        return self.data_dir / "base-backup"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (no-op if it runs) and wait until it accepts connections."""
        with self._lock:
            if not self.running:
                self._launch({})

    def stop(self) -> None:
        """Archive the WAL written so far (a stopped cluster stays restorable up to now), then shut
        down, ending every connection."""
        with self._lock:
            if not self.running:
                return
            try:
                self._archive_wal()
            except DatabaseError as error:  # a server that cannot archive must still stop
                logger.warning("stopping %s without archiving its last WAL: %s", self.identifier, error)
            self._shut_down()

    def restart(self) -> None:
        """Stop and start again: every connection is dropped (what a reboot or failover does)."""
        with self._lock:
            self._shut_down()
            self._launch({})

    def dump(self, destination: Path) -> int:
        """``pg_dump -Fc`` of the database into ``destination``, and the server's roles with their
        passwords and memberships (``pg_dumpall --roles-only``) beside it (``roles_file``): an Aurora
        snapshot keeps the database users. Returns their size in bytes."""
        self._admit("pg_dump")
        self._client("pg_dump", "--format=custom", f"--file={destination}", self.database)
        self._client("pg_dumpall", "--roles-only", f"--file={roles_file(destination)}")
        return destination.stat().st_size + roles_file(destination).stat().st_size

    def load(self, source: Path) -> None:
        """Restore a dump made by ``dump`` into the (empty) database: first the roles this server
        lacks (the master user and ``rds_iam`` exist: psql reports those and goes on), then the
        database with its grants; objects become the master user's, whoever owned them in the source."""
        self._admit("pg_restore")
        self._client("psql", "-X", "-q", f"--file={roles_file(source)}", "--dbname=postgres")
        self._client(
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={self.database}",
            str(source),
        )

    def sql(self, *statements: str, database: str | None = None) -> str:
        """Run each statement in its own transaction (psql over TLS, in ``database`` or the
        cluster's); returns what they print."""
        arguments = [argument for statement in statements for argument in ("-c", statement)]
        return self._client(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", f"--dbname={database or self.database}", *arguments
        )

    def _admit(self, tool: str) -> None:
        """A connection the emulator opens for a caller (``dump``, ``load``: AWS Backup's work) passes
        the request pipeline's network and fault decisions first; ``sql`` and the WAL and base
        backups are the database service's own work and do not."""
        denial = pipeline.admit_connection(self.identifier, self.port)
        if denial is not None:
            raise DatabaseError(f"{tool} could not connect to {self.identifier}: {denial.message}")

    def _client_environment(self) -> dict[str, str]:
        """libpq settings for the client tools: the master user, TLS verified against our CA."""
        environment = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
        environment.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.username,
            PGPASSWORD=self.password,
            PGDATABASE=self.database,
            PGSSLMODE="verify-full",
            PGSSLROOTCERT=str(self.certificate),
            PGCONNECT_TIMEOUT="10",
        )
        return environment

    def _client(self, tool: str, *arguments: str, as_server: bool = False) -> str:
        """Run a PostgreSQL tool against this server (as the server account if it writes the
        server's files); returns its output, DatabaseError with its message if it fails."""
        command = [str(binaries() / tool), *arguments]
        environment = self._client_environment()
        extra = _as_server_account() if as_server else {}
        account = server_account()
        if as_server and account is not None:
            environment["HOME"] = account.pw_dir  # libpq looks for client certificates in ~/.postgresql
        result = subprocess.run(
            command,
            env=environment,
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            check=False,
            **extra,
        )
        if result.returncode != 0:
            raise DatabaseError(
                f"{tool} failed for {self.identifier}: {result.stderr.strip() or result.stdout.strip()}"
            )
        return result.stdout

    def _launch(self, recovery: dict[str, str]) -> None:
        """Run ``postgres`` with our settings (plus ``recovery`` ones) and wait until it is ready."""
        for hook in LAUNCH_HOOKS:
            hook(self.identifier)
        (self.pgdata / "pg_hba.conf").write_text(_hba(self.identifier, self.force_ssl))
        file = shlex.quote(str(self.archive / "%f.gz"))
        settings = {
            **SETTINGS,
            "port": str(self.port),
            # Written under another name first: a restore never reads a half-written segment.
            "archive_command": f"test ! -f {file} && gzip -c %p > {file}.part && mv {file}.part {file}",
            **recovery,
        }
        command = [str(binaries() / "postgres"), "-D", str(self.pgdata)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                **_as_server_account(),
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._ready():
            if self._process.poll() is not None:
                self._process = None
                raise DatabaseError(f"PostgreSQL for {self.identifier} did not start: {self._last_log_line()}")
            if time.monotonic() > deadline:
                self._shut_down()
                raise DatabaseError(
                    f"PostgreSQL for {self.identifier} did not start in {STARTUP_TIMEOUT:.0f} s; see {self.log_file}."
                )
            time.sleep(POLL_INTERVAL)

    def _launch_on_free_port(self, recovery: dict[str, str]) -> None:
        """The first start: on a free port, another one if something took it in the meantime."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = _free_port()
            try:
                self._launch(recovery)
            except DatabaseError as error:
                if "TCP/IP socket" not in str(error) or attempt == PORT_ATTEMPTS:
                    raise
            else:
                return

    def _ready(self) -> bool:
        """Whether the postmaster reports itself ready (line 8 of postmaster.pid, as pg_ctl reads it)."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        # The pid tells our postmaster's file from one a killed postmaster left behind.
        return (
            len(lines) >= 8
            and self._process is not None
            and lines[0] == str(self._process.pid)
            and lines[7].strip() == "ready"
        )

    def _last_log_line(self) -> str:
        lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else f"no output (see {self.log_file})"

    def _shut_down(self) -> None:
        """Fast shutdown (SIGINT): open transactions are rolled back, connections closed."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _archive_wal(self) -> None:
        """Put every commit made so far into the WAL archive: commit a transaction (so a recovery
        target before now is always reached), switch to a new WAL segment and wait until the
        archiver has copied the finished one."""
        started = datetime.now(UTC)
        segment = self.sql("SELECT txid_current()", "SELECT pg_walfile_name(pg_switch_wal())").split()[-1]
        archived = self.archive / f"{segment}.gz"
        deadline = time.monotonic() + ARCHIVE_TIMEOUT
        while not archived.exists():
            if time.monotonic() > deadline:
                raise DatabaseError(
                    f"WAL segment {segment} of {self.identifier} was not archived within {ARCHIVE_TIMEOUT:.0f} s."
                )
            time.sleep(POLL_INTERVAL)
        self.archived_until = started

    def _take_base_backup(self) -> None:
        """The starting point of point-in-time restores, with the WAL it needs; one tar file,
        because creating the data directory's thousand files again costs more than the backup."""
        self._client(
            "pg_basebackup",
            f"--pgdata={self.base_backup}",
            "--format=tar",
            "--wal-method=fetch",
            "--checkpoint=fast",
            "--no-manifest",
            "--no-sync",
            as_server=True,
        )
        self.backed_up_at = self.archived_until = datetime.now(UTC)


_servers: dict[str, DatabaseServer] = {}
_starting: set[str] = set()
_registry_lock = threading.Lock()
_ca_lock = threading.Lock()


def roles_file(dump: Path) -> Path:
    """Where ``DatabaseServer.dump`` puts the roles that go with the database dump ``dump``."""
    return dump.with_name(dump.name + ".roles.sql")


def data_root() -> Path:
    """Where the servers keep their directories: ``postgres/`` in the emulator's state directory,
    or, if the server account cannot enter that (a checkout in root's private home), a directory
    named after it in the system's temp directory."""
    preferred = state_dir() / "postgres"
    if _reachable(state_dir()):
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"local-aws-postgres-{digest}"


def _reachable(directory: Path) -> bool:
    """Whether the server account may enter ``directory`` (every existing ancestor searchable)."""
    account = server_account()
    if account is None:
        return True
    for ancestor in [directory, *directory.parents]:
        try:
            status = ancestor.stat()
        except FileNotFoundError:
            continue  # created later, by root, searchable by all
        if status.st_uid == account.pw_uid:
            bit = stat.S_IXUSR
        elif status.st_gid == account.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not status.st_mode & bit:
            return False
    return True


def server_for(identifier: str) -> DatabaseServer:
    """The server of this cluster; KeyError if it has none."""
    return _servers[identifier]


def cluster_on_port(port: int) -> str | None:
    """The cluster whose server listens on ``port`` of ``HOST`` (what a client's connection names)."""
    return next((name for name, server in list(_servers.items()) if server.port == port), None)


def start_server(
    identifier: str, username: str, password: str, database: str, *, force_ssl: bool = True
) -> DatabaseServer:
    """Create and start the server of a new cluster: ``username`` is its superuser, ``database``
    exists, and a base backup is taken so the cluster is restorable to any later instant."""
    with _creating(identifier, username, password, database, force_ssl) as server:
        _initdb(server)
        _write_tls(server.pgdata, server.certificate)
        server._launch_on_free_port({})
        statements = [f"CREATE ROLE {iam_auth.ROLE} NOLOGIN"]  # RDS creates it in every cluster
        if database != "postgres":
            statements.append(f"CREATE DATABASE {_quote(database)} STRATEGY = FILE_COPY")
        server.sql(*statements, database="postgres")
        server._take_base_backup()
    return server


def restore_to_time(source_identifier: str, target_identifier: str, when: datetime) -> DatabaseServer:
    """A new server holding the source's data as of ``when`` (emulated time): the source's base
    backup, replayed from its WAL archive up to the real instant ``when`` corresponds to, then
    promoted. Same credentials as the source, new port and certificate."""
    source = server_for(source_identifier)
    wall = CLOCK.wall_time_of(when if when.tzinfo is not None else when.replace(tzinfo=UTC))
    if wall < source.backed_up_at:
        raise DatabaseError(f"{source_identifier} cannot be restored to {when.isoformat()}: its backups start later.")
    with source._lock:
        if source.running:
            source._archive_wal()
    with _creating(target_identifier, source.username, source.password, source.database, source.force_ssl) as server:
        with tarfile.open(source.base_backup / "base.tar") as backup:
            backup.extractall(server.pgdata, filter="data")
        server.pgdata.chmod(0o700)
        (server.pgdata / "recovery.signal").touch()
        _give_to_server_account(server.pgdata)
        _write_tls(server.pgdata, server.certificate)
        segment = shlex.quote(str(source.archive / "%f.gz"))
        recovery = {
            "restore_command": f"test -f {segment} && gzip -dc {segment} > %p",
            "recovery_target_action": "promote",
            "hot_standby": "off",  # ready only once promoted, not while replaying
        }
        if wall < source.archived_until:  # otherwise: everything archived, up to the end of the WAL
            recovery["recovery_target_time"] = wall.isoformat(sep=" ")
        server._launch_on_free_port(recovery)
        server._take_base_backup()
    return server


def delete_server(identifier: str) -> None:
    """Stop the cluster's server and remove its files; KeyError if it has none."""
    with _registry_lock:
        server = _servers.pop(identifier)
    with server._lock:
        server._shut_down()
        shutil.rmtree(server.data_dir, ignore_errors=True)


def stop_all() -> None:
    """Stop every server (at emulator exit); their files stay for a look at the logs."""
    for server in list(_servers.values()):
        with server._lock:
            server._shut_down()


atexit.register(stop_all)


@contextmanager
def _creating(
    identifier: str, username: str, password: str, database: str, force_ssl: bool
) -> Iterator[DatabaseServer]:
    """A new, not yet started server in a fresh, empty directory; registered when the block
    completes, stopped and removed if it fails (no half-made server remains). A server a previous
    emulator process left in that directory (it may have been killed) is stopped and its files
    removed first: its cluster no longer exists."""
    with _registry_lock:
        if identifier in _servers or identifier in _starting:
            raise DatabaseError(f"A PostgreSQL server for {identifier} already exists.")
        _starting.add(identifier)
    root = data_root()
    data_dir = root / identifier
    server = DatabaseServer(identifier, HOST, 0, username, password, database, data_dir, data_dir / "ca.pem", force_ssl)
    try:
        _stop_leftover(server.pgdata)
        shutil.rmtree(data_dir, ignore_errors=True)
        server.archive.mkdir(parents=True)
        if server_account() is not None:
            root.chmod(0o755)  # the server account must reach its directory
        _give_to_server_account(data_dir)
        yield server
    except BaseException as error:
        server._shut_down()
        shutil.rmtree(data_dir, ignore_errors=True)
        if isinstance(error, OSError):
            raise DatabaseError(f"PostgreSQL for {identifier} could not be set up in {data_dir}: {error}") from error
        raise
    else:
        with _registry_lock:
            _servers[identifier] = server
    finally:
        with _registry_lock:
            _starting.discard(identifier)


def _stop_leftover(pgdata: Path) -> None:
    """Stop (immediate shutdown) the server a previous emulator process left running on
    ``pgdata``, if its postmaster still runs; a recycled pid of another process is left alone."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return
    if str(pgdata).encode() not in arguments:
        return
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while process_start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)


def _initdb(server: DatabaseServer) -> None:
    """Create the data directory (as the server account) with the master user as superuser."""
    password_file = server.data_dir / "initdb.password"
    password_file.write_text(server.password)
    password_file.chmod(0o600)
    _give_to_server_account(password_file)
    result = subprocess.run(
        [
            str(binaries() / "initdb"),
            f"--pgdata={server.pgdata}",
            f"--username={server.username}",
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--wal-segsize=1",
            "--no-sync",
            "--no-instructions",
        ],
        env={name: value for name, value in os.environ.items() if not name.startswith("PG")},
        cwd=server.data_dir,
        capture_output=True,
        text=True,
        check=False,
        **_as_server_account(),
    )
    password_file.unlink()
    if result.returncode != 0:
        raise DatabaseError(f"initdb failed for {server.identifier}: {result.stderr.strip()}")
