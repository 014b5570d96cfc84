"""Server-Sent Events framing.

One A2A event is one SSE event: `id: <seq>` and `data: <JSON-RPC response on one line>`.
Event bodies are encoded once (see events.py) and the request id is spliced in here, so the
per-subscriber cost of an event is one bytes join. Every event already waiting for a
subscriber goes out in one chunk.

The response is our own small ASGI class rather than sse-starlette's EventSourceResponse:
its shutdown handling is process-global (a patched uvicorn signal handler and a polling
watcher) and cancels a stream without a last word, where we must write a `retry:` hint and
close the response cleanly when the gateway (not the process) starts draining.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable

import anyio
import orjson
from starlette.responses import StreamingResponse
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
    return b"".join([frame(e, prefix, version, adapt) for e in batch])


def data_frame(body: bytes) -> bytes:
    """An event without an id (a direct message reply, or an error)."""
    return b"data: %b\n\n" % body


def retry_hint(milliseconds: int = RETRY_MS) -> bytes:
    """A `retry:` field WITHOUT a blank line: it joins the fields of the next event. Never
    followed by a blank line on its own, since some clients (httpx-sse, hence the official
    SDK) turn an event without data into one with empty data."""
    return b"retry: %d\n" % milliseconds


KEEPALIVE = b": keep-alive\n"
"""The keep-alive: one comment line, deliberately WITHOUT a blank line after it.

A comment needs no blank line (W3C SSE). A blank line would make httpx-sse (and so clients
built on it, such as a2a-sdk 0.3) emit an event with empty data once any event carried an id,
which those clients then fail to parse.
"""

DRAIN_RETRY_MS = 1000
FAREWELL = b": the gateway is shutting down; reconnect with Last-Event-ID\nretry: %d\n" % (
    DRAIN_RETRY_MS
)
"""Written when the gateway drains: a comment and a `retry:` field, no blank line, so no
client sees an empty event; the field alone sets the reconnection delay (W3C SSE)."""

HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class EventStream(StreamingResponse):
    """A text/event-stream response: the body's chunks, a keep-alive comment every
    `keepalive` seconds, and three ways to end:

    - the body ends: the response is closed normally;
    - the client disconnects: the body is cancelled (its `finally` blocks run);
    - `drain` is set (the gateway is shutting down): the body is cancelled, FAREWELL is
      written, and the response is closed, so clients come back (elsewhere) to resume.

    A client that stops reading fills the socket buffers, and then a send blocks: memory
    stays bounded (the body is suspended, nothing queues behind it). A send (event or
    keep-alive) blocked for `send_timeout` seconds ends the response; the connection closes.

    `on_close(seconds_open)` runs exactly once, however the stream ends.
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        keepalive: float,
        drain: asyncio.Event | None = None,
        send_timeout: float | None = None,
        on_close: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=HEADERS)
        self.keepalive = keepalive
        self.send_timeout = send_timeout
        self.drain = drain
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        opened = time.monotonic()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            if scope.get("method") == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            ended = await self._stream(receive, send)
            if ended == "stalled":
                client = scope.get("client")
                log.warning(
                    "closing the stream of %s: a send blocked for %ss (the client stopped reading)",
                    f"{client[0]}:{client[1]}" if client else "a client",
                    self.send_timeout,
                )
                return  # nothing more can be written to this client
            if ended == "drain":
                await send({"type": "http.response.body", "body": FAREWELL, "more_body": True})
            if ended != "disconnect":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if self.on_close is not None:
                self.on_close(time.monotonic() - opened)

    async def _stream(self, receive: Receive, send: Send) -> str:
        """Run the body until it ends, the client leaves or the gateway drains; say which."""
        ended: list[str] = []
        lock = anyio.Lock()

        async with anyio.create_task_group() as group:

            def end(why: str) -> None:
                if not ended:
                    ended.append(why)
                group.cancel_scope.cancel()

            async def write(data: bytes) -> None:
                async with lock:
                    with anyio.move_on_after(self.send_timeout) as scope:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                if scope.cancelled_caught:
                    end("stalled")

            async def body() -> None:
                async for chunk in self.body_iterator:
                    await write(chunk.encode() if isinstance(chunk, str) else bytes(chunk))
                end("done")

            async def ping() -> None:
                while True:
                    await anyio.sleep(self.keepalive)
                    await write(KEEPALIVE)

            async def disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                end("disconnect")

            async def drain(event: asyncio.Event) -> None:
                await event.wait()
                end("drain")

            group.start_soon(body)
            group.start_soon(disconnect)
            if self.keepalive > 0:
                group.start_soon(ping)
            if self.drain is not None:
                group.start_soon(drain, self.drain)
        return ended[0] if ended else "disconnect"


def response(
    content: AsyncIterator[bytes],
    *,
    keepalive: float,
    drain: asyncio.Event | None = None,
    send_timeout: float | None = None,
    on_close: Callable[[float], None] | None = None,
) -> EventStream:
    """A text/event-stream response; a comment line every `keepalive` seconds."""
    return EventStream(
        content, keepalive=keepalive, drain=drain, send_timeout=send_timeout, on_close=on_close
    )
