"""Which binding a path belongs to, and an error body in that binding's shape.

The one place that decides the shape of an error answered before any binding's handler ran
(the guard's 415 and 403, see guard.py):

- the JSON-RPC POST routes (`/`, `/agents/NAME`, `/agents/NAME/`): a JSON-RPC error object
  with a null id (A2A v1.0 section 9.5);
- every other path (the REST binding and the edge's own pages): the REST error body, a
  `google.rpc.Status` in JSON (section 11.6): `{"error": {"code": <HTTP status>, "status":
  <gRPC status name>, "message", "details": [ErrorInfo, ...]}}`.

The HTTP status and the gRPC status name come from the one error table (core/error_table.py).
"""

from __future__ import annotations

import re

import orjson

from gateway.bindings.jsonrpc import envelope as jsonrpc
from gateway.core import error_table
from gateway.core.errors import A2AError

JSONRPC_PATHS = re.compile(r"^(/agents/[^/]+)?/?$")
JSON = b"application/json"


def binding_of(path: str) -> str:
    """`jsonrpc` for the JSON-RPC POST routes, else `rest`."""
    return "jsonrpc" if JSONRPC_PATHS.match(path) else "rest"


def rest_error(exc: A2AError) -> bytes:
    """The REST binding's error body (google.rpc.Status JSON, A2A v1.0 section 11.6)."""
    info = exc.to_json()
    status = error_table.http_status(exc)
    body = {
        "error": {
            "code": status,
            "status": error_table.grpc_status(exc).name,
            "message": exc.message,
            "details": info["data"],
        }
    }
    return orjson.dumps(body)


def error_body(path: str, exc: A2AError) -> bytes:
    """`exc` as the binding of `path` writes an error."""
    if binding_of(path) == "jsonrpc":
        return jsonrpc.error(None, exc)
    return rest_error(exc)
