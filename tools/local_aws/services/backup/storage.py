"""Where recovery points live on disk: one directory per point under ``<state dir>/backup/``, and
object bodies stored once by content in ``<state dir>/backup/bodies/``.

AWS Backup stores periodic backups incrementally: the first backup is a full copy, each later one
only the changes (AWS Backup Developer Guide, "Backup plans",
https://docs.aws.amazon.com/aws-backup/latest/devguide/about-backup-plans.html; S3 is among the
incremental resource types, "Amazon S3 backups",
https://docs.aws.amazon.com/aws-backup/latest/devguide/s3-backups.html). So an hourly plan does not
copy an unchanged object version again. Here a backup stores each body under its SHA-256
(one file, whichever point, vault or account holds it) and its point's directory holds only the
manifest that names the digests. The store counts, per point directory, the bodies it refers to;
``discard`` removes a point's directory and every body no other point refers to any more. The counts
live in memory, like the points themselves: the files of a server that stopped refer to nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections import Counter
from pathlib import Path

from ...server import state_dir


def payload_root() -> Path:
    return state_dir() / "backup"


class Bodies:
    """Bodies by SHA-256 under ``root``, counted per holder (a recovery point's directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()  # digest -> references over all holders
        self._held: dict[Path, Counter[str]] = {}  # holder -> its references

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def add(self, holder: Path, body: bytes) -> str:
        """Store ``body`` for ``holder`` (written only if no one holds it yet); returns its digest."""
        digest = hashlib.sha256(body).hexdigest()
        with self._lock:
            if self._counts[digest] == 0:
                self._write(self.path(digest), body)
            self._counts[digest] += 1
            self._held.setdefault(holder, Counter())[digest] += 1
        return digest

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def release(self, holder: Path) -> None:
        """Drop every reference of ``holder``; a body no one refers to any more is deleted."""
        with self._lock:
            for digest, count in self._held.pop(holder, Counter()).items():
                self._counts[digest] -= count
                if self._counts[digest] <= 0:
                    del self._counts[digest]
                    self.path(digest).unlink(missing_ok=True)

    @staticmethod
    def _write(path: Path, body: bytes) -> None:
        """Write through a temporary file, so a reader never sees half a body."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(handle, "wb") as file:
            file.write(body)
        os.replace(temporary, path)


_stores: dict[Path, Bodies] = {}
_stores_lock = threading.Lock()


def bodies() -> Bodies:
    """The body store of this server's state directory."""
    root = payload_root() / "bodies"
    with _stores_lock:
        return _stores.setdefault(root, Bodies(root))


def discard(directory: Path) -> None:
    """Remove a recovery point's (or an unfinished job's) directory and release its bodies."""
    bodies().release(directory)
    shutil.rmtree(directory, ignore_errors=True)
