"""REST error bodies (A2A v1.0 section 11.6): the `google.rpc.Status` JSON of an A2A error.

    {"error": {"code": <HTTP status>, "status": <gRPC status name>, "message": "...",
               "details": [{"@type": ".../google.rpc.ErrorInfo", "reason": "TASK_NOT_FOUND",
                            "domain": "a2a-protocol.org", "metadata": {...}}, ...]}}

`code` and `status` come from the one error table (core/error_table.py); `details` is the
same list as a JSON-RPC error's `data` (ErrorInfo first, then BadRequest or RetryInfo), so a
client reads the same reason and fields whichever binding it speaks.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from gateway.core import error_table
from gateway.core.errors import A2AError

A2A_JSON = "application/a2a+json"
JSON = "application/json"


def body(exc: A2AError) -> bytes:
    """The error body of `exc`."""
    info = exc.to_json()
    return orjson.dumps(
        {
            "error": {
                "code": error_table.http_status(exc),
                "status": error_table.grpc_status(exc).name,
                "message": exc.message,
                "details": info["data"],
            }
        }
    )


def media_type(headers: Mapping[str, str]) -> str:
    """`application/a2a+json`, unless the client named only `application/json` (in `Accept`,
    else in `Content-Type`): the answer then says `application/json`, same bytes."""
    accept = headers.get("accept", "")
    if A2A_JSON in accept:
        return A2A_JSON
    if JSON in accept or (not accept.strip() and JSON in headers.get("content-type", "")):
        return JSON
    return A2A_JSON
