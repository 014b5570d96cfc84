"""JSON-RPC 2.0 envelope: parse one request, encode responses.

Only single requests are served: A2A defines no batch semantics, so a JSON array is an
invalid request. A request must carry an `id` (a string, a number or null): every A2A
method has a result, so notifications are refused rather than silently dropped.
Unknown top-level members are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core import errors, request_errors

RequestId = str | int | float | None


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, Any]


def parse(body: bytes) -> Request:
    """Parse a request body, raising A2AError (-32700 / -32600 / -32602)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise request_errors.parse_error(str(exc)) from None
    if not isinstance(payload, dict):
        raise request_errors.invalid_request(
            "the body must be one JSON-RPC request object (batches are not supported)"
        )
    if payload.get("jsonrpc") != "2.0":
        raise request_errors.invalid_request('"jsonrpc" must be "2.0"')
    if "id" not in payload:
        raise request_errors.invalid_request('"id" is required (notifications are not supported)')
    request_id = payload["id"]
    if isinstance(request_id, bool) or not isinstance(request_id, str | int | float | None):
        raise request_errors.invalid_request('"id" must be a string, a number or null')
    method = payload.get("method")
    if not isinstance(method, str) or not method:
        raise request_errors.invalid_request('"method" must be a non-empty string')
    params = payload.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise request_errors.invalid_params([("params", "must be an object")])
    return Request(id=request_id, method=method, params=params)


def request_id_of(body: bytes) -> RequestId:
    """Best-effort id of a request that failed validation, for the error response."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(payload, dict):
        value = payload.get("id")
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return value
    return None


def result(request_id: RequestId, value: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": value})


def error(request_id: RequestId, exc: errors.A2AError) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": exc.to_json()})


def encode_id(request_id: RequestId) -> bytes:
    return orjson.dumps(request_id)
