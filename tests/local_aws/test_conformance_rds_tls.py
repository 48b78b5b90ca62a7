"""The local target stands in for RDS's PKI: a function verifies an emulated Aurora server with the
RDS CA bundle it packages, as it verifies Aurora on AWS, and without that bundle it cannot.

Amazon Aurora User Guide, "Using SSL/TLS to encrypt a connection to a DB cluster",
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.SSL.html: a client
verifies the server certificate against the certificate bundle it downloads (the regional bundle,
``https://truststore.pki.rds.amazonaws.com/<region>/<region>-bundle.pem``); the certificate names the
endpoint the client connects to. The emulator's servers present certificates of its own CA, for the
endpoint address 127.0.0.1; the Lambda runtime adds that CA to the PEM file ``DB_CA_BUNDLE`` names in
the unpacked code (``runtime._trust_database_ca``). The template and the function stay as on AWS.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lib.build import lambda_bundle

from .helpers import TRUST_LAMBDA

BUNDLE_NAME = lambda_bundle.RDS_CA_BUNDLE
RDS_BUNDLE = (lambda_bundle.SHARED_PACKAGE.parent / BUNDLE_NAME).read_bytes()

# A TLS handshake as PostgreSQL clients start it (SSLRequest, then TLS), verified against the
# bundle DB_CA_BUNDLE names, or against the system's CAs when the variable is unset.
HANDSHAKE = """
import os, socket, ssl, struct

def handler(event, context):
    name = os.environ.get("DB_CA_BUNDLE")
    bundle = os.path.join(os.environ["LAMBDA_TASK_ROOT"], name) if name else None
    try:
        context_ = ssl.create_default_context(cafile=bundle)
        with socket.create_connection((event["host"], event["port"]), timeout=5) as raw:
            raw.sendall(struct.pack("!ii", 8, 80877103))
            assert raw.recv(1) == b"S"
            with context_.wrap_socket(raw, server_hostname=event["host"]) as tls:
                return {"verified": tls.version()}
    except (OSError, ssl.SSLError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
"""


def _zip(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture
def function(aws: Callable[[str], Any], suffix: str) -> Callable[..., str]:
    """``function(files, environment)``: a function running HANDSHAKE with ``files`` beside it."""
    role = aws("iam").create_role(RoleName=f"tls-{suffix}", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    count = iter(range(10))

    def make(files: dict[str, bytes | str], environment: dict[str, str]) -> str:
        name = f"tls-{suffix}-{next(count)}"
        aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="index.handler",
            Code={"ZipFile": _zip({"index.py": HANDSHAKE, **files})},
            Environment={"Variables": environment},
        )
        return name

    return make


@pytest.fixture
def cluster(aws: Callable[[str], Any], suffix: str) -> Iterator[Callable[[str], dict[str, Any]]]:
    rds, made = aws("rds"), []

    def make(name: str) -> dict[str, Any]:
        made.append(f"{name}-{suffix}")
        return rds.create_db_cluster(
            DBClusterIdentifier=made[-1],
            Engine="aurora-postgresql",
            EngineVersion="16.6",
            MasterUsername="master",
            MasterUserPassword="correct-horse-battery",
        )["DBCluster"]

    yield make
    for identifier in made:
        try:
            rds.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "DBClusterNotFoundFault"


def _handshake(aws: Callable[[str], Any], name: str, endpoint: dict[str, Any]) -> dict[str, Any]:
    payload = json.dumps({"host": endpoint["Endpoint"], "port": endpoint["Port"]})
    answer = aws("lambda").invoke(FunctionName=name, Payload=payload)
    return json.loads(answer["Payload"].read())  # type: ignore[no-any-return]


def test_the_packaged_rds_bundle_verifies_every_cluster_by_its_endpoint(aws, function, cluster):
    """A cluster made after the function's code was unpacked (a restore-test copy) verifies too."""
    name = function({BUNDLE_NAME: RDS_BUNDLE}, {"DB_CA_BUNDLE": BUNDLE_NAME})

    first = _handshake(aws, name, cluster("first"))
    later = _handshake(aws, name, cluster("later"))

    assert first.get("verified", first) in ("TLSv1.2", "TLSv1.3")
    assert later.get("verified", later) in ("TLSv1.2", "TLSv1.3")


def test_without_the_packaged_bundle_the_server_is_not_trusted(aws, function, cluster):
    """The emulator's CA is no system CA: a function verifying with the system's store fails, and
    naming a file the package lacks gives no file (the kit's functions then refuse to connect)."""
    endpoint = cluster("untrusted")
    system = function({}, {})
    missing = function({}, {"DB_CA_BUNDLE": BUNDLE_NAME})

    assert "CERTIFICATE_VERIFY_FAILED" in _handshake(aws, system, endpoint)["error"]
    assert "No such file" in _handshake(aws, missing, endpoint)["error"]
