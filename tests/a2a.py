"""Small helpers to speak A2A v1.0 JSON-RPC to a gateway in tests."""

from __future__ import annotations

import http.client
import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import connect_sse

V1 = {"A2A-Version": "1.0"}
_ids = itertools.count(1)


def user_message(text: str, **extra: Any) -> dict[str, Any]:
    return {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": text}], **extra}


def request(method: str, params: dict[str, Any], request_id: Any = None) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": next(_ids) if request_id is None else request_id,
        "method": method,
        "params": params,
    }


def rpc(
    url: str,
    method: str,
    params: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    response = httpx.post(
        url, json=request(method, params), headers={**V1, **(headers or {})}, timeout=30, **kwargs
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class SseEvent:
    id: str | None
    data: dict[str, Any]

    @property
    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = self.data["result"]
        return result

    @property
    def kind(self) -> str:
        return next(iter(self.result))

    @property
    def state(self) -> str | None:
        result = self.result
        if "task" in result:
            return str(result["task"]["status"]["state"])
        if "statusUpdate" in result:
            return str(result["statusUpdate"]["status"]["state"])
        return None


def stream(
    url: str,
    method: str,
    params: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    limit: int | None = None,
    client: httpx.Client | None = None,
    into: list[SseEvent] | None = None,
) -> list[SseEvent]:
    """POST a streaming method and collect its events (at most `limit`, then disconnect),
    appended to `into` as they arrive when given (for a reader in another thread)."""
    if client is None:
        with httpx.Client(timeout=30) as own:
            return stream(url, method, params, headers=headers, limit=limit, client=own, into=into)
    events: list[SseEvent] = [] if into is None else into
    with connect_sse(
        client, "POST", url, json=request(method, params), headers={**V1, **(headers or {})}
    ) as source:
        source.response.raise_for_status()
        for sse in source.iter_sse():
            events.append(SseEvent(sse.id or None, json.loads(sse.data)))
            if limit is not None and len(events) >= limit:
                break
    return events


def events(
    url: str, *, headers: dict[str, str] | None = None, limit: int | None = None
) -> list[SseEvent]:
    """GET a browser events URL and collect its events (at most `limit`)."""
    collected: list[SseEvent] = []
    with (
        httpx.Client(timeout=30) as client,
        connect_sse(client, "GET", url, headers=headers or {}) as source,
    ):
        source.response.raise_for_status()
        for sse in source.iter_sse():
            collected.append(SseEvent(sse.id or None, json.loads(sse.data)))
            if limit is not None and len(collected) >= limit:
                break
    return collected


def start_task(url: str, text: str) -> dict[str, Any]:
    """SendMessage with returnImmediately: the new Task, its turn running."""
    body = rpc(
        url,
        "SendMessage",
        {"message": user_message(text), "configuration": {"returnImmediately": True}},
    )
    task: dict[str, Any] = body["result"]["task"]
    return task


def ids(events: list[SseEvent]) -> list[int]:
    return [int(e.id or 0) for e in events]


def send_stream(url: str, text: str, **message: Any) -> list[SseEvent]:
    return stream(url, "SendStreamingMessage", {"message": user_message(text, **message)})


def post(url: str, body: bytes | str, **headers: str) -> httpx.Response:
    return httpx.post(
        url, content=body, headers={**V1, "Content-Type": "application/json", **headers}, timeout=30
    )


@dataclass
class RawResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post_declaring(url: str, declared: int, start: bytes) -> RawResponse:
    """POST with `Content-Length: declared` but only `start` of a body sent, then wait for the
    answer: a server that answers proves it refused the body before reading it."""
    parts = httpx.URL(url)
    connection = http.client.HTTPConnection(parts.host, parts.port, timeout=30)
    try:
        connection.putrequest("POST", parts.raw_path.decode())
        for name, value in {**V1, "Content-Type": "application/json"}.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(declared))
        connection.endheaders(start)
        response = connection.getresponse()
        return RawResponse(response.status, response.read())
    finally:
        connection.close()
