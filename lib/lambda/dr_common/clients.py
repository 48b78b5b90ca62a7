"""boto3 clients, one per service and execution environment: building one costs about 100 ms of a
cold start, and a warm function reuses it. Each function passes its own timeouts and retries (a
canary must fail fast, a cleanup may wait)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config


class Clients:
    """``clients("s3")``: the cached client of a service, created on first use.

    Locked because the canary's checks run in threads and creating clients from boto3's default
    session is not thread-safe. Unit tests put stubs into ``made``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        with self._lock:
            if service not in self.made:
                self.made[service] = boto3.client(service, config=self.config)
            return self.made[service]
