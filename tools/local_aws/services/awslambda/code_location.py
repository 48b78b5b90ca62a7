"""Serves Lambda deployment packages at the emulator's own address: GetFunction's ``Code.Location`` (D30).

In AWS, GetFunction answers ``Code.Location``, a pre-signed URL (valid for ten minutes) from which
anyone holding it downloads the function's deployment package. moto answers
``https://awslambda-<region>-tasks.s3.<region>.amazonaws.com/<key>``, which nothing serves, so code
that exports a function (``lib/lambda/function_export``) could not download it.

The location is now ``{endpoint}/lambda_{region}/function-code/{account}/{function}/{version}
?CodeSha256=...`` on the emulator itself (``$LOCAL_AWS_ENDPOINT_URL``). moto's server sends a request
whose path starts with ``/<service>_<region>/`` to that service, as it does for CloudFormation's
custom-resource responses, so the route is one more URL path of moto's Lambda backend: ``serve``
answers the version's package bytes (``application/zip``) to an unsigned GET, as a pre-signed URL
does. A package that has been replaced since GetFunction (``$LATEST`` updated, the hash in the URL no
longer matches) is answered 404, as AWS answers for an object that is gone; so is an unknown function.
The URL does not expire.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from ... import world
from ...server import ENDPOINT_ENV

SEGMENT = "function-code"
# moto formats its URL paths with str.format (``{0}`` is the URL base): no other braces may appear.
ROUTE = (
    r"{0}/lambda_(?P<region>[^/]+)/" + SEGMENT + r"/(?P<account_id>[0-9]+)/(?P<function_name>[^/]+)/(?P<version>[^/]+)$"
)
PATH = re.compile(
    r"^/lambda_(?P<region>[^/]+)/" + SEGMENT + r"/(?P<account_id>[0-9]+)/(?P<function_name>[^/]+)/(?P<version>[^/]+)$"
)
LATEST = "$LATEST"

Answer = tuple[int, dict[str, str], bytes | str]


def location(function: world.Function) -> str | None:
    """The URL of the function version's package on this emulator, or None when there is nothing to
    serve (no endpoint configured, an image function, no code)."""
    endpoint = os.environ.get(ENDPOINT_ENV)
    if not endpoint or not getattr(function, "code_bytes", b""):
        return None
    parts = (function.account_id, function.function_name, str(function.version))
    path = "/".join(quote(part, safe="") for part in parts)
    query = urlencode({"CodeSha256": function.code_sha_256})
    return f"{endpoint.rstrip('/')}/lambda_{function.region}/{SEGMENT}/{path}?{query}"


def _text(status: int, message: str) -> Answer:
    return status, {"content-type": "text/plain"}, message


def serve(request: Any, full_url: str, headers: Any) -> Answer:
    """moto's view for ``ROUTE``: the package bytes of the version the URL names."""
    if request.method not in ("GET", "HEAD"):
        return _text(405, "Only GET and HEAD are supported")
    url = urlsplit(full_url)
    match = PATH.match(url.path)
    if match is None:
        return _text(404, "Not a function code location")
    name, version = unquote(match["function_name"]), unquote(match["version"])
    try:
        function = world.function(match["account_id"], match["region"], name, None if version == LATEST else version)
    except world.FunctionNotFound:
        return _text(404, f"Function {name} version {version} does not exist")
    code: bytes = getattr(function, "code_bytes", b"") or b""
    wanted = parse_qs(url.query).get("CodeSha256", [None])[0]
    if not code or (wanted is not None and wanted != function.code_sha_256):
        return _text(404, f"The package of {name} version {version} this location named no longer exists")
    return 200, {"content-type": "application/zip", "content-length": str(len(code))}, code
