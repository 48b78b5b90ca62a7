"""One patched moto server for the whole session, and helpers to deploy small templates to it.

The server runs in this process (moto's ThreadedMotoServer on a free port) after ``apply_all()``,
so the tests exercise the same fixes as ``python -m tools.local_aws serve``. Set
``LOCAL_AWS_WITHOUT=R5,R6`` to run them without some fixes and see which tests need which fix.

Tests share the server: every stack and named resource gets a unique suffix.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tools.local_aws.patches import apply_all
from tools.local_aws.postgres import stop_all
from tools.local_aws.server import ENDPOINT_ENV

from .helpers import CloudFormation

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    # Recovery points, database servers and unpacked function code of this session go here; readable
    # by the unprivileged account the PostgreSQL servers run as when the tests run as root.
    state = Path(tempfile.mkdtemp(prefix="local-aws-tests-"))
    state.chmod(0o755)
    os.environ["LOCAL_AWS_STATE_DIR"] = str(state)
    apply_all(os.environ.get("LOCAL_AWS_WITHOUT", "").split(","))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ[ENDPOINT_ENV] = f"http://{host}:{port}"
    yield f"http://{host}:{port}"
    server.stop()
    stop_all()
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def aws(endpoint: str) -> Callable[[str], Any]:
    """``aws("s3")`` is a boto3 client for the test server."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, endpoint_url=endpoint)
        return clients[service]

    return client


@pytest.fixture
def suffix() -> str:
    """A short unique suffix for names that must not collide between tests."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def cfn(aws: Callable[[str], Any], suffix: str) -> Iterator[CloudFormation]:
    """Deploy helper; stacks a test leaves behind are deleted afterwards."""
    helper = CloudFormation(aws, suffix)
    yield helper
    for stack_id in helper.deployed:
        if helper.describe(stack_id).status != "DELETE_COMPLETE":
            helper.client.delete_stack(StackName=stack_id)
