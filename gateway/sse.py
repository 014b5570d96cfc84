"""Server-Sent Events framing.

One A2A event is one SSE event: `id: <seq>` and `data: <JSON-RPC response on one line>`.
Event bodies are encoded once (see events.py) and the request id is spliced in here, so the
per-subscriber cost of an event is one bytes join. Every event already waiting for a
subscriber goes out in one chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import orjson
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse

from gateway.events import Encoder, Event
from gateway.jsonrpc import RequestId

RETRY_MS = 3000


def request_prefix(request_id: RequestId) -> bytes:
    """The fixed part of every data line for one request."""
    return b'{"jsonrpc":"2.0","id":' + orjson.dumps(request_id) + b',"result":'


def frame(event: Event, prefix: bytes, version: str = "1.0", adapt: Encoder | None = None) -> bytes:
    return b"id: %d\ndata: %b%b}\n\n" % (event.seq, prefix, event.encoded(version, adapt))


def frames(
    batch: Iterable[Event], prefix: bytes, version: str = "1.0", adapt: Encoder | None = None
) -> bytes:
    return b"".join(frame(e, prefix, version, adapt) for e in batch)


def data_frame(body: bytes) -> bytes:
    """An event without an id (a direct message reply, or an error)."""
    return b"data: %b\n\n" % body


def retry_hint(milliseconds: int = RETRY_MS) -> bytes:
    """A `retry:` field; it is put in front of the first event's fields, never alone, since
    some clients (httpx-sse, hence the official SDK) turn an event without data into one
    with empty data."""
    return b"retry: %d\n" % milliseconds


class KeepAlive(ServerSentEvent):
    """The keep-alive: one comment line, deliberately WITHOUT a blank line after it.

    A comment needs no blank line (W3C SSE). A blank line would make httpx-sse (and so
    clients built on it, such as a2a-sdk 0.3) emit an event with empty data once any event
    carried an id, which those clients then fail to parse.
    """

    def encode(self) -> bytes:
        return b": keep-alive\n"


def response(content: AsyncIterator[bytes], *, keepalive: float) -> EventSourceResponse:
    """A text/event-stream response; a comment line every `keepalive` seconds."""
    return EventSourceResponse(
        content,
        ping=keepalive,
        ping_message_factory=KeepAlive,
        headers={"Cache-Control": "no-store"},
    )
