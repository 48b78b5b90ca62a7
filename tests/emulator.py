"""The in-process patched emulator the emulator and drill tests share, with boto3 clients for it.

The session starts one server (the ``endpoint`` fixture in tests/conftest.py): moto's state is
process-wide, so a second server would share it and only overwrite the first one's environment.

The server is moto's ThreadedMotoServer with every fix applied, the emulator's control API and
request pipeline in front, as ``python -m tools.local_aws serve`` runs it. Set
``LOCAL_AWS_WITHOUT=R5,R6`` to run the tests without some fixes and see which tests need which fix.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from tools.local_aws.patches import apply_all
from tools.local_aws.server import ENDPOINT_ENV, application
from tools.local_aws.services.rds.postgres import stop_all

ACCOUNT = "123456789012"
REGION = "us-east-1"
# The role the tests give AWS Backup's jobs; the server is started with it (IAM is enforced for them).
BACKUP_ROLE_NAME = "backup-role"
BACKUP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{BACKUP_ROLE_NAME}"


class ControlledMotoServer(ThreadedMotoServer):
    """moto's in-process server with the emulator's control API (``/_local_aws/...``) and request
    pipeline in front, as the server runs it (``server.application``)."""

    def _server_entry(self) -> None:
        self._server = make_server(
            self._ip_address,
            self._port,
            application(),
            True,
            request_handler=MotoRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.05)  # stop() waits for the next poll: 0.5 s by default


@contextmanager
def running_emulator(state_prefix: str) -> Iterator[str]:
    """Start the server on a free port with the tests' AWS Backup role, yield its URL, stop it and its
    databases afterwards.

    Recovery points, database servers and unpacked function code go to a temporary state directory,
    readable by the unprivileged account the PostgreSQL servers run as when the tests run as root.
    """
    state = Path(tempfile.mkdtemp(prefix=state_prefix))
    state.chmod(0o755)
    os.environ["LOCAL_AWS_STATE_DIR"] = str(state)
    apply_all(os.environ.get("LOCAL_AWS_WITHOUT", "").split(","))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ControlledMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    os.environ[ENDPOINT_ENV] = url
    backup_service_role(client_factory(url), BACKUP_ROLE_NAME)
    try:
        yield url
    finally:
        server.stop()
        stop_all()
        shutil.rmtree(state, ignore_errors=True)


def client_factory(endpoint: str) -> Callable[[str], Any]:
    """``client("s3")`` is a (cached) boto3 client for the server at ``endpoint``."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, endpoint_url=endpoint)
        return clients[service]

    return client


# The AWS managed policies the emulator tests give an AWS Backup role: the kit's backup role's
# (lib/stacks/security_stack.py) plus S3 backups on every bucket, which the kit grants on its data bucket only.
BACKUP_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
    "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
)
TRUST_BACKUP = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def backup_service_role(client: Callable[[str], Any], name: str) -> str:
    """The ARN of ``name``, a role AWS Backup assumes with the kit's managed policies (created once):
    AWS Backup's jobs act with it and IAM is enforced for them."""
    iam = client("iam")
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        pass
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_BACKUP))["Role"]["Arn"])
    for policy_arn in BACKUP_MANAGED_POLICIES:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return arn
