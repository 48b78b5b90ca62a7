"""What every step of the pipeline sees: the request (parsed once from the WSGI environ), who makes
it, and the denial a step answers with.

Parsing is best effort and never refuses anything: what cannot be read is None. The access key,
region and service come from the SigV4 ``Authorization`` header's credential scope (or a presigned
URL's ``X-Amz-Credential``); the operation from ``X-Amz-Target`` (JSON protocols), the ``Action``
parameter of the query or form body (query protocols), the path of an RPC v2 CBOR request
(CloudWatch), or the service's REST routes in botocore's model (S3, Lambda, Backup).
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.exceptions import UnknownServiceError

_SIGV4_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")
_SIGV2 = re.compile(r"^AWS (?P<key>[^:\s]+):")
_RPC_V2_PATH = re.compile(r"^/service/[^/]+/operation/(?P<operation>[^/]+)$")
# Form bodies larger than this are not read for their Action (query APIs send small forms).
MAX_FORM_BYTES = 1 << 20


@dataclass(frozen=True)
class Caller:
    """Who makes a request: the principal IAM would evaluate, and where it calls from.

    ``principal_arn`` is what GetCallerIdentity names (``arn:aws:sts::<account>:assumed-role/<role>/
    <session>`` for a role session, ``arn:aws:iam::<account>:root`` for the account's root).
    ``function_arn``, ``subnet_ids`` and ``security_group_ids`` are set for a Lambda execution
    environment (the subnets and groups of the function's VpcConfig; empty outside a VPC), and
    ``subnet_id``: the one of them the environment was placed in (``network.place``).
    ``service`` is set when an AWS service acts with a role it was given (``backup.amazonaws.com``
    for AWS Backup's jobs); such a caller works on AWS's own infrastructure, not in the customer's
    network. A service acting as itself (``service_principal``) has ``service`` and no role, and
    ``source_arn``: the resource it acts for (the alarm, the rule), which it sends as ``aws:SourceArn``.
    """

    account_id: str
    principal_arn: str
    role_arn: str | None = None
    session_name: str | None = None
    function_arn: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    service: str | None = None
    subnet_id: str | None = None
    source_arn: str | None = None

    @classmethod
    def root(cls, account_id: str) -> Caller:
        """The account's root: the local dummy credentials (``testing``) used by the CDK CLI and tests."""
        return cls(account_id, f"arn:aws:iam::{account_id}:root")

    @classmethod
    def service_principal(cls, account_id: str, service: str, source_arn: str | None = None) -> Caller:
        """An AWS service acting as itself, for a resource of ``account_id`` (CloudWatch publishing an
        alarm's notification, EventBridge delivering an event): no role, so only resource policies
        (a key policy, a topic or queue policy) can let it in, by its service principal."""
        return cls(account_id, service, service=service, source_arn=source_arn)

    @property
    def is_service_principal(self) -> bool:
        return self.service is not None and self.role_arn is None

    @property
    def is_root(self) -> bool:
        return self.principal_arn == f"arn:aws:iam::{self.account_id}:root"

    @property
    def function_name(self) -> str | None:
        return self.function_arn.split(":")[6] if self.function_arn else None


@dataclass(frozen=True)
class Request:
    """One request as the steps see it. ``service`` is the signing name of the credential scope
    (``monitoring`` for CloudWatch), ``operation`` the API operation (``PutItem``), ``protocol`` the
    wire protocol an error must be answered in (``json``, ``query``, ``ec2``, ``rest-json``,
    ``rest-xml``, ``smithy-rpc-v2-cbor``), ``parameters`` what a REST path names (``Bucket``,
    ``FunctionName``), ``query`` the query string's and a form body's parameters (first values),
    ``body`` a JSON protocol's request body (the authorization step reads its parameters).
    A database connection is a request too (``Request.connection``):
    service ``rds-db``, operation ``connect``, the cluster in ``resource`` and the ``port``."""

    method: str
    path: str
    service: str | None = None
    operation: str | None = None
    region: str | None = None
    access_key: str | None = None
    protocol: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    resource: str | None = None
    port: int | None = None
    caller: Caller | None = None

    @classmethod
    def connection(cls, cluster: str, port: int, caller: Caller | None) -> Request:
        """``caller`` opens a connection to the DB cluster ``cluster`` on ``port``."""
        return cls("CONNECT", "", "rds-db", "connect", resource=cluster, port=port, caller=caller)


@dataclass(frozen=True)
class Denial:
    """A step's answer instead of moto's: an AWS error (HTTP status, error code, message).
    ``unreachable``: on AWS no answer would come at all (the network step); the answer carries
    ``UNREACHABLE_HEADER`` so that the function's bootstrap raises the SDK's connect timeout."""

    status: int
    code: str
    message: str
    unreachable: bool = False


# The header that marks an answer AWS would not give: the endpoint was not reachable.
UNREACHABLE_HEADER = "x-local-aws-unreachable"


def parse(environ: dict[str, Any]) -> Request:
    """The request in ``environ``. A form body is read to find its Action and put back, so moto
    reads the same bytes."""
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    access_key, region, service = _credential(environ.get("HTTP_AUTHORIZATION", ""), query)
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "") or "/"
    target = environ.get("HTTP_X_AMZ_TARGET")
    request = Request(method, path, service, region=region, access_key=access_key)
    if target:
        return _with(request, operation=target.rsplit(".", 1)[-1], protocol="json", body=_body(environ))
    form = _form(environ)
    request = _with(request, query={key: values[0] for key, values in {**query, **form}.items() if values})
    action = request.query.get("Action")
    if action:
        return _with(request, operation=action, protocol="ec2" if service == "ec2" else "query")
    rpc = _RPC_V2_PATH.match(path)
    if rpc:
        return _with(request, operation=rpc["operation"], protocol="smithy-rpc-v2-cbor")
    routes = _routes(service) if service else None
    if routes is None:
        return request
    protocol, table = routes
    operation, parameters = _route(table, method, _encoded_path(environ, path), query, environ)
    return _with(
        request,
        operation=operation,
        protocol=protocol,
        parameters={key: unquote(value) for key, value in parameters.items()},
    )


def _encoded_path(environ: dict[str, Any], path: str) -> str:
    """The path as the client sent it: a REST path label is percent-encoded, so an ARN in it keeps its
    ``/`` as ``%2F`` (AWS Backup's DynamoDB recovery points, ``table/<name>/backup/<id>``) and matches
    one label; the server's PATH_INFO has it decoded."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    return str(raw).split("?", 1)[0] if raw else path


def _with(request: Request, **changes: Any) -> Request:
    return Request(**{**request.__dict__, **changes})


def _credential(authorization: str, query: dict[str, list[str]]) -> tuple[str | None, str | None, str | None]:
    """Access key, region and service of the signature (header or presigned URL), if any."""
    scoped = _SIGV4_CREDENTIAL.search(authorization) or _SIGV4_CREDENTIAL.search(
        "Credential=" + (query.get("X-Amz-Credential") or [""])[0]
    )
    if scoped:
        return scoped["key"], scoped["region"], scoped["service"]
    version2 = _SIGV2.match(authorization)
    if version2:
        return version2["key"], None, None
    return next(iter(query.get("AWSAccessKeyId", ())), None), None, None


def _form(environ: dict[str, Any]) -> dict[str, list[str]]:
    """The parameters of a form-encoded body."""
    if not str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        return {}
    return parse_qs(_body(environ).decode("utf-8", "replace"), keep_blank_values=True)


def _body(environ: dict[str, Any]) -> bytes:
    """The request body (empty above ``MAX_FORM_BYTES``); it is replaced by a copy moto can read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    if not 0 < length <= MAX_FORM_BYTES:
        return b""
    body: bytes = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


# A REST route: method, path pattern, required query parameters (name, value or None), required
# headers (WSGI names: S3's CopyObject is a PutObject with ``x-amz-copy-source``), the number of
# literal characters in its path, operation.
_Route = tuple[str, re.Pattern[str], tuple[tuple[str, str | None], ...], tuple[str, ...], int, str]


@functools.cache
def _routes(service: str) -> tuple[str, tuple[_Route, ...]] | None:
    """The REST routes of the service whose signing name is ``service``, from botocore's model;
    None for an unknown or non-REST service."""
    try:
        model = _BOTOCORE.get_service_model(service)
    except UnknownServiceError:
        return None
    if model.protocol not in ("rest-json", "rest-xml"):
        return None
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = str(http["requestUri"]).partition("?")
        required = tuple(
            (key, value or None)
            for key, _, value in (part.partition("=") for part in query.split("&") if part)
            if key != "x-id"  # a marker some SDKs send, others not
        )
        literal = len(re.sub(r"\{\w+\+?\}", "", path))
        routes.append(
            (str(http["method"]), _path_pattern(path), required, _required_headers(model, name), literal, name)
        )
    return model.protocol, tuple(routes)


_BOTOCORE = botocore.session.get_session()


def _path_pattern(template: str) -> re.Pattern[str]:
    """``/{Bucket}/{Key+}`` -> a pattern with named groups (``+`` takes the rest of the path)."""
    pattern = ""
    for literal, name, greedy in re.findall(r"([^{]*)(?:\{(\w+)(\+?)\})?", template):
        pattern += re.escape(literal)
        if name:
            pattern += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
    return re.compile(pattern.rstrip("/") + "/?")


def _required_headers(model: Any, operation: str) -> tuple[str, ...]:
    shape = model.operation_model(operation).input_shape
    if shape is None:
        return ()
    return tuple(
        "HTTP_" + str(shape.members[name].serialization["name"]).upper().replace("-", "_")
        for name in shape.required_members
        if shape.members[name].serialization.get("location") == "header"
    )


def _route(
    routes: tuple[_Route, ...], method: str, path: str, query: dict[str, list[str]], environ: dict[str, Any]
) -> tuple[str | None, dict[str, str]]:
    """The most specific route that matches: most required query parameters and headers, then the
    longest literal path."""
    best: tuple[tuple[int, int], str, dict[str, str]] | None = None
    for route_method, pattern, required, headers, literal, operation in routes:
        if route_method != method:
            continue
        matched = pattern.fullmatch(path)
        if matched is None:
            continue
        if not all(key in query and (value is None or value in query[key]) for key, value in required):
            continue
        if not all(header in environ for header in headers):
            continue
        score = (len(required) + len(headers), literal)
        if best is None or score > best[0]:
            best = (score, operation, {key: value for key, value in matched.groupdict().items() if value})
    return (best[1], best[2]) if best else (None, {})
