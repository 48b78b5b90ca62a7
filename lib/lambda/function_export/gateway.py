"""The function export's AWS calls, all S3 through the gateway endpoint: the package from the CDK asset
bucket, and the export objects in the data bucket. botocore's errors leave as ``logic.AwsError``."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from dr_common.clients import Clients
from logic import AwsError, ExportError, code_key, configuration_key

CODE_SHA_METADATA = "code-sha256"  # S3 user metadata of code.zip: the CodeSha256 of the package in it
# S3 answers a GET or HEAD of a missing key with 403 to a caller without s3:ListBucket on the bucket
# (this function has none): for the objects it reads, 403 and 404 both mean "no usable export yet".
# A real permission problem still surfaces: the export then writes, and a failed write is an error.
ABSENT_CODES = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403", "Forbidden"})
READ_CHUNK_BYTES = 1024 * 1024
# Lambda's limit for an unzipped package; a zipped one is smaller. Keeps /tmp (512 MB) safe.
MAX_PACKAGE_BYTES = 250 * 1024 * 1024
CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 5, "mode": "standard"})


@contextmanager
def _aws(operation: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        raise AwsError(operation, str(details.get("Code", "Unknown")), str(details.get("Message", ""))) from None
    except BotoCoreError as error:
        raise AwsError(operation, type(error).__name__, str(error)) from None


class Gateway:
    """S3 through the function's cached clients."""

    def __init__(self, clients: Clients | None = None) -> None:
        self.clients = clients or Clients(CONFIG)

    def read_configuration(self, bucket: str, function_name: str) -> bytes | None:
        """The exported configuration.json, or None when there is none."""
        try:
            with _aws("GetObject"):
                return bytes(
                    self.clients("s3").get_object(Bucket=bucket, Key=configuration_key(function_name))["Body"].read()
                )
        except AwsError as error:
            if error.code in ABSENT_CODES:
                return None
            raise

    def exported_code_sha(self, bucket: str, function_name: str) -> str | None:
        """The CodeSha256 recorded on the exported code.zip, or None when there is no code.zip."""
        try:
            with _aws("HeadObject"):
                head = self.clients("s3").head_object(Bucket=bucket, Key=code_key(function_name))
        except AwsError as error:
            if error.code in ABSENT_CODES:
                return None
            raise
        return head.get("Metadata", {}).get(CODE_SHA_METADATA)

    def read_package(self, bucket: str, key: str, sink: IO[bytes]) -> str:
        """Stream the deployment package at ``s3://bucket/key`` into ``sink``; return its CodeSha256."""
        digest = hashlib.sha256()
        size = 0
        with _aws("GetObject"):
            body = self.clients("s3").get_object(Bucket=bucket, Key=key)["Body"]
            while chunk := body.read(READ_CHUNK_BYTES):
                size += len(chunk)
                if size > MAX_PACKAGE_BYTES:
                    raise ExportError(f"the deployment package is larger than {MAX_PACKAGE_BYTES} bytes")
                digest.update(chunk)
                sink.write(chunk)
        sink.flush()
        return base64.b64encode(digest.digest()).decode()

    def put_package(self, bucket: str, function_name: str, package: IO[bytes], code_sha: str) -> None:
        with _aws("PutObject"):
            self.clients("s3").put_object(
                Bucket=bucket,
                Key=code_key(function_name),
                Body=package,
                ContentType="application/zip",
                ChecksumSHA256=code_sha,  # S3 refuses the upload if the bytes do not match
                Metadata={CODE_SHA_METADATA: code_sha},
            )

    def put_configuration(self, bucket: str, function_name: str, document: bytes) -> None:
        with _aws("PutObject"):
            self.clients("s3").put_object(
                Bucket=bucket, Key=configuration_key(function_name), Body=document, ContentType="application/json"
            )

    def pause(self, seconds: float) -> None:
        """Wait before a retry (IAM propagating)."""
        time.sleep(seconds)
