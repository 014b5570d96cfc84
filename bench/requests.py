"""What a bench client sends to open a stream, per HTTP binding of the gateway.

`sse` is JSON-RPC (the gateway and the a2a-sdk server): a POST of a JSON-RPC request to the
endpoint URL. `rest` is the gateway's HTTP+JSON binding: a POST of the bare v1.0 request to
`{url}message:stream`, or of nothing to `{url}tasks/{id}:subscribe`. Both answer SSE with
the same events, so one SSE reader (client.py) serves both.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson


def request_body(method: str, params: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


def send_params(spec: str) -> dict[str, Any]:
    return {
        "message": {
            "messageId": str(uuid.uuid4()),
            "role": "ROLE_USER",
            "parts": [{"text": spec}],
        }
    }


def _base(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def stream_request(kind: str, url: str, spec: str) -> tuple[str, bytes]:
    """(URL, body) of a SendStreamingMessage of `spec`."""
    if kind == "rest":
        return _base(url) + "message:stream", orjson.dumps(send_params(spec))
    return url, request_body("SendStreamingMessage", send_params(spec))


def subscribe_request(kind: str, url: str, task_id: str) -> tuple[str, bytes]:
    """(URL, body) of a SubscribeToTask of `task_id`."""
    if kind == "rest":
        return f"{_base(url)}tasks/{task_id}:subscribe", b""
    return url, request_body("SubscribeToTask", {"id": task_id})
