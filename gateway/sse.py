"""Server-Sent Events framing.

One A2A event is one SSE event: `id: <seq>` and `data: <JSON-RPC response on one line>`.
Event bodies are encoded once (see events.py) and the request id is spliced in here, so the
per-subscriber cost of an event is one bytes join. Every event already waiting for a
subscriber goes out in one chunk.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable

import orjson
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse, SendTimeoutError
from starlette.types import Receive, Scope, Send

from gateway.events import Encoder, Event
from gateway.jsonrpc import RequestId

log = logging.getLogger("a2a_gateway")

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
    """A `retry:` field WITHOUT a blank line: it joins the fields of the next event. Never
    followed by a blank line on its own, since some clients (httpx-sse, hence the official
    SDK) turn an event without data into one with empty data."""
    return b"retry: %d\n" % milliseconds


class KeepAlive(ServerSentEvent):
    """The keep-alive: one comment line, deliberately WITHOUT a blank line after it.

    A comment needs no blank line (W3C SSE). A blank line would make httpx-sse (and so
    clients built on it, such as a2a-sdk 0.3) emit an event with empty data once any event
    carried an id, which those clients then fail to parse.
    """

    def encode(self) -> bytes:
        return b": keep-alive\n"


class Stream(EventSourceResponse):
    """A text/event-stream response with a keep-alive comment every `keepalive` seconds.

    A client that stops reading fills the socket buffers, and then a send blocks: memory
    stays bounded (the body generator is suspended, nothing queues behind it). A send (event
    or keep-alive) blocked for `send_timeout` seconds ends the response and the connection is
    closed. `on_close` runs exactly once when the response ends, however it ends.
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        keepalive: float,
        send_timeout: float | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            content,
            ping=keepalive,
            ping_message_factory=KeepAlive,
            headers={"Cache-Control": "no-store"},
            send_timeout=send_timeout,
        )
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            client = scope.get("client")
            log.warning(
                "closing the stream of %s: a send blocked for %ss (the client stopped reading)",
                f"{client[0]}:{client[1]}" if client else "a client",
                self.send_timeout,
            )
        finally:
            if self.on_close is not None:
                self.on_close()


def response(
    content: AsyncIterator[bytes],
    *,
    keepalive: float,
    send_timeout: float | None = None,
    on_close: Callable[[], None] | None = None,
) -> Stream:
    return Stream(content, keepalive=keepalive, send_timeout=send_timeout, on_close=on_close)
