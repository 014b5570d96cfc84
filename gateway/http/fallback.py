"""Every error body is ours: which binding's shape an error answered outside a binding's
handler gets (no route, a verb the route does not serve, authentication, rate limits, an
unexpected exception), never Starlette's `{"detail": ...}`.

By path: the JSON-RPC endpoints (`/`, `/agents/{name}` with or without the slash) and the
browser events endpoint (`.../tasks/{id}/events`) answer a JSON-RPC error object with a null
id; every other path answers the REST `google.rpc.Status` body (bindings/rest/status.py).
The HTTP status is the one error table's (core/error_table.py): 404 ROUTE_NOT_FOUND, 405
METHOD_NOT_ALLOWED with `Allow`, 401, 429, 500.
"""

from __future__ import annotations

import logging
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.bindings.jsonrpc import envelope as jsonrpc
from gateway.bindings.rest import status
from gateway.core import error_table, errors, request_errors

log = logging.getLogger("a2a_gateway")

JSONRPC_PATH = re.compile(r"^(/agents/[^/]+)?(/|/tasks/[^/]+/events)?$")


def is_jsonrpc(path: str) -> bool:
    return JSONRPC_PATH.match(path) is not None


def body(path: str, exc: errors.A2AError) -> tuple[bytes, str]:
    """The error body for a response on `path`, and its media type."""
    if is_jsonrpc(path):
        return jsonrpc.error(None, exc), "application/json"
    return status.body(exc), status.A2A_JSON


def response(request: Request, exc: errors.A2AError, headers: dict[str, str]) -> Response:
    content, media_type = body(request.url.path, exc)
    if media_type == status.A2A_JSON:
        media_type = status.media_type(request.headers)
    return Response(content, error_table.http_status(exc), headers, media_type=media_type)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no route, wrong verb, a missing static file)."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        error = request_errors.method_not_allowed(request.method, path, headers.get("Allow", ""))
    elif exc.status_code == 404:
        error = request_errors.route_not_found(request.method, path)
    else:
        error = request_errors.invalid_request(str(exc.detail))
        content, media_type = body(path, error)
        return Response(content, exc.status_code, headers, media_type=media_type)
    return response(request, error, headers)


async def internal(request: Request, exc: Exception) -> Response:
    """An exception no handler caught (Starlette logs it too): 500 in the path's shape."""
    return response(request, errors.internal_error("Internal error"), {})
