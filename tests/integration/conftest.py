"""Fixtures for tests against a *deployed* TapStack: its outputs and boto3 clients for its target.

The target is, in order: AWS_ENDPOINT_URL if set, else the endpoint `make deploy` recorded in
cfn-outputs/target.json (the local emulator), else real AWS with the environment's credentials.
Missing outputs fail the session with a sentence saying how to produce them; nothing is skipped.
"""

from __future__ import annotations

import json
import os
import ssl
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pg8000.native
import pytest
from botocore.config import Config

from lib import output_keys as keys
from lib.config import PROFILES, REGION, EnvironmentConfig
from lib.deploy_target import OutputsError, read_flat_outputs, read_target

from .behaviour import Clock, Inbox
from .budget import aws_minutes

LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def outputs() -> dict[str, str]:
    try:
        return read_flat_outputs()
    except OutputsError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def client(outputs: dict[str, str]) -> Callable[[str], Any]:
    """client("rds") -> a boto3 client for the deployed target."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or read_target().get("endpoint_url")
    kwargs: dict[str, Any] = {"region_name": REGION, "config": Config(retries={"max_attempts": 3})}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs.update(LOCAL_CREDENTIALS)
    cache: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in cache:
            cache[service] = boto3.client(service, **kwargs)  # type: ignore[call-overload]
        return cache[service]

    return make


@pytest.fixture(scope="session")
def suffix(outputs: dict[str, str]) -> str:
    return outputs["EnvironmentSuffix"]


@pytest.fixture(scope="session")
def config(outputs: dict[str, str], suffix: str) -> EnvironmentConfig:
    """The deployment's configuration as far as the tests need it: its suffix and its profile."""
    return EnvironmentConfig(environment_suffix=suffix, profile=PROFILES[outputs[keys.PROFILE]])


@pytest.fixture(scope="session")
def endpoint() -> str | None:
    """The emulator's URL, or None when the tests run against real AWS."""
    return os.environ.get("AWS_ENDPOINT_URL") or read_target().get("endpoint_url")


@pytest.fixture(scope="session")
def clock(endpoint: str | None) -> Clock:
    return Clock(endpoint)


@pytest.fixture(scope="session")
def database(client: Callable[[str], Any], outputs: dict[str, str]) -> Callable[..., Any]:
    """database() -> a pg8000 connection to the Aurora writer over TLS with the master secret.

    On the local target the cluster is a PostgreSQL server on 127.0.0.1; on AWS the cluster is in
    isolated subnets, so these tests must run from inside the VPC (or through a tunnel).
    """
    value = client("secretsmanager").get_secret_value(SecretId=outputs[keys.DATABASE_SECRET_ARN])
    secret = json.loads(value["SecretString"])

    def connect(*, tls: bool = True, host: str | None = None, port: int | None = None) -> Any:
        return pg8000.native.Connection(
            user=secret["username"],
            password=secret["password"],
            host=host or outputs[keys.AURORA_WRITER_ENDPOINT],
            port=port or int(outputs[keys.AURORA_PORT]),
            database=outputs[keys.DATABASE_NAME],
            ssl_context=_unverified_tls() if tls else False,
            timeout=10,
        )

    return connect


def _unverified_tls() -> ssl.SSLContext:
    """TLS without certificate checks: these tests prove encryption is required, not the CA chain."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture
def alert_inbox(client: Callable[[str], Any], outputs: dict[str, str], suffix: str) -> Iterator[Inbox]:
    """An SQS queue subscribed to the alerts topic for one test, removed afterwards."""
    inbox = Inbox.subscribe(client, outputs[keys.ALERTS_TOPIC_ARN], f"test-alert-inbox-{suffix}-{uuid.uuid4().hex[:6]}")
    yield inbox
    inbox.remove()


# Say how long the selected tests take against AWS (tests/integration/budget.py).
def pytest_collection_finish(session: pytest.Session) -> None:
    """Say at the start how long the selected tests take against AWS (locally they advance a clock)."""
    modules = {item.module for item in session.items if isinstance(item, pytest.Function) and _integration(item)}
    if not modules:
        return
    total = sum(aws_minutes(module) for module in modules)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"Against AWS these {len(modules)} test modules take about {_hours_and_minutes(total)} of real time "
            "(on the local emulator they advance its clock instead)."
        )


def _integration(item: pytest.Function) -> bool:
    return item.path.parent == Path(__file__).parent


def _hours_and_minutes(minutes: float) -> str:
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"
