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
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.core import errors
from gateway.core.events import Event

log = logging.getLogger("a2a_gateway")

RETRY_MS = 3000

CONNECTION = "a2a_gateway.connection"
"""The ASGI scope extension (`scope["extensions"][CONNECTION]`, set by the gateway's server,
server.py) holding the request's `Connection`: a stream learns from it that its client is
gone, instead of running a task that waits for `http.disconnect`, and resets it when the
client stopped reading."""


class Watcher(Protocol):
    """What a connection tells when it is lost (an `EventStream` is one)."""

    def lost(self) -> None: ...


class Connection(Protocol):
    """A request's connection, as the gateway's server gives it to the request's stream.

    One connection serves one request at a time, so it holds one `watcher` (the open
    stream's, or None), not a list of callbacks: one object per connection, nothing per
    stream (`make bench`, idle streams)."""

    watcher: Watcher | None
    """Told `lost()` once, when the connection is lost."""

    def reset(self) -> None:
        """Reset the connection: an RST, the socket and everything queued for it dropped at
        once."""
        ...


CHUNK_BYTES = 64 * 1024


class Framing(Protocol):
    """How a binding writes the stream model (core/stream.py) as SSE events."""

    def event(self, event: Event) -> bytes:
        """One SSE event: `id: <seq>` and its data (seq 0, a direct reply: no id)."""
        ...

    def error(self, exc: errors.A2AError) -> bytes:
        """The last SSE event of a stream that ends on an error."""
        ...


class Observer(Protocol):
    """What a stream reports as it goes (core/stream.py's `Observer` is one)."""

    def sent(self, events: int) -> None:
        """`events` more events went out (in one chunk)."""
        ...

    def failed(self, error: errors.A2AError) -> None:
        """The stream model ended on `error` (its error event follows)."""
        ...

    def closed(self, why: str | None, seconds: float) -> None:
        """The response ended after `seconds`, for `why` (see `EventStream`), once."""
        ...


def chunks(batch: list[Event], framing: Framing, head: bool) -> Iterator[tuple[bytes, int]]:
    """One batch as SSE chunks of about CHUNK_BYTES, with how many events each carries: the
    head batch (maybe empty) after a `retry:` hint; a later empty batch is a keep-alive."""
    if not batch and not head:
        yield KEEPALIVE, 0
        return
    parts, size, count = [retry_hint()] if head else [], 0, 0
    last = len(batch) - 1
    for index, event in enumerate(batch):
        frame = framing.event(event)
        parts.append(frame)
        size += len(frame)
        count += 1
        if size >= CHUNK_BYTES and index < last:
            yield b"".join(parts), count
            parts, size, count = [], 0, 0
    yield b"".join(parts), count


async def body(
    batches: AsyncIterator[list[Event]], framing: Framing, observer: Observer | None = None
) -> AsyncIterator[bytes]:
    """The SSE body of one stream as an iterator of chunks (what `EventStream` writes): the
    head, then each batch (`chunks`); an error ends it with the framing's error event."""
    head = True
    try:
        async for batch in batches:
            for chunk, count in chunks(batch, framing, head):
                yield chunk
                if observer is not None:
                    observer.sent(count)
            head = False
    except errors.A2AError as exc:
        if observer is not None:
            observer.failed(exc)
        yield framing.error(exc)


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

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]


class EventStream(Response):
    """A text/event-stream response that writes the stream model's batches as they come.

    It frames each batch itself (`chunks`) in its own coroutine: no body generator between
    it and the model, and nothing already sent is kept while the stream waits, so an idle
    stream holds one frame here (`make bench`, idle streams). Ways to end:

    - the model ends (maybe on an error: the framing's error event is written last): the
      response is closed normally;
    - the client disconnects: the model is cancelled and closed (its `finally` blocks run);
    - `end("drain")` (the gateway is shutting down, see `Streams`): the model is cancelled,
      FAREWELL is written and the response closed, so clients come back to resume;
    - a write blocked for `send_timeout` seconds (a client that stopped reading): the
      response ends without another byte and the connection is reset (the scope's
      `Connection`, when the server provides it): the socket, its descriptor and the data
      queued for the client are released at once, not when the client reads again. Until
      then memory stays bounded: the stream is suspended in its write, and nothing queues
      behind it.

    Disconnects: served by the gateway's own server (http/server.py), the connection tells
    the stream when it is lost (`Connection`, an ASGI scope extension) and no task waits for it;
    under any other server one watcher task per stream waits for `http.disconnect`. No lock,
    no timer per chunk but the write's own timeout. When it ends, however it ends, it leaves
    `streams` and tells `observer.closed` exactly once.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        batches: AsyncIterator[list[Event]],
        framing: Framing,
        *,
        observer: Observer | None = None,
        streams: Streams | None = None,
        send_timeout: float | None = None,
    ) -> None:  # no super().__init__: there is no body to render
        self.batches = batches
        self.framing = framing
        self.observer = observer
        self.streams = streams
        self.status_code = 200
        self.raw_headers = list(HEADERS)  # `headers` adds to these (e.g. A2A-Extensions)
        self.background = None
        self.send_timeout = send_timeout
        self.why: str | None = None
        self._writer: asyncio.Task[None] | None = None  # set while the body is written

    def end(self, why: str) -> None:
        """End the stream from outside (e.g. "drain"); the first reason given wins."""
        if self.why is None:
            self.why = why
            if self._writer is not None:
                self._writer.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        opened = time.monotonic()
        connection: Connection | None = scope.get("extensions", {}).get(CONNECTION)
        watcher: asyncio.Task[None] | None = None
        if connection is not None:
            connection.watcher = self
        else:
            watcher = asyncio.create_task(self._watch(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            if scope.get("method") != "HEAD" and self.why is None:  # else: ended (a drain)
                # Written here, not in a coroutine of its own: one frame fewer held for the
                # life of the stream (`make bench`, idle streams).
                self._writer = asyncio.current_task()
                try:
                    # The batches are read here too, not in a coroutine of its own (nor is
                    # anything already sent kept while the next batch is awaited).
                    head = True
                    try:
                        async for batch in self.batches:
                            if self.why is not None:
                                break  # ended from outside, even if the cancellation went astray
                            if not await self._write(send, batch, head):
                                self.why = self.why or "stalled"
                                break
                            head = False
                            del batch
                    except errors.A2AError as exc:
                        if self.observer is not None:
                            self.observer.failed(exc)
                        if not await self._send(send, self.framing.error(exc)):
                            self.why = self.why or "stalled"
                    self.why = self.why or "done"
                except asyncio.CancelledError:
                    if self.why is None or self._writer is None:
                        raise  # cancelled from outside: the server is going away
                    self._writer.uncancel()
                finally:
                    self._writer = None
            if self.why in (None, "done", "drain"):
                tail = FAREWELL if self.why == "drain" else b""
                await send({"type": "http.response.body", "body": tail, "more_body": False})
            elif self.why == "stalled" and connection is not None:
                connection.reset()
                await asyncio.sleep(0)  # the server sees the connection lost first
        finally:
            if watcher is not None:
                watcher.cancel()
            elif connection is not None and connection.watcher is self:
                connection.watcher = None
            await _close(self.batches)
            if self.why == "stalled":
                client = scope.get("client")
                log.warning(
                    "closing the stream of %s: a write blocked %ss (the client stopped reading)",
                    f"{client[0]}:{client[1]}" if client else "a client",
                    self.send_timeout,
                )
            if self.streams is not None:
                self.streams.discard(self)
            if self.observer is not None:
                self.observer.closed(self.why, time.monotonic() - opened)

    async def _write(self, send: Send, batch: list[Event], head: bool) -> bool:
        for chunk, count in chunks(batch, self.framing, head):
            if not await self._send(send, chunk):
                return False
            if self.observer is not None:
                self.observer.sent(count)
        return True

    async def _send(self, send: Send, chunk: bytes) -> bool:
        """Send one chunk: False when the write stayed blocked for `send_timeout` seconds."""
        message = {"type": "http.response.body", "body": chunk, "more_body": True}
        if self.send_timeout is None:
            await send(message)
            return True
        try:
            async with asyncio.timeout(self.send_timeout):
                await send(message)
        except TimeoutError:
            return False
        return True

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.end("disconnect")

    def lost(self) -> None:
        """The connection is lost (told by the server, see `Connection`)."""
        self.end("disconnect")


async def _close(content: AsyncIterator[list[Event]]) -> None:
    aclose = getattr(content, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            log.exception("error while closing an SSE body")


class Streams:
    """The open SSE responses of one gateway, so a drain can end them all at once."""

    def __init__(self) -> None:
        self._open: set[EventStream] = set()
        self.draining = False

    def __len__(self) -> int:
        return len(self._open)

    def __repr__(self) -> str:
        return f"<Streams open={len(self._open)} draining={self.draining}>"

    def add(self, stream: EventStream) -> None:
        self._open.add(stream)

    def discard(self, stream: EventStream) -> None:
        self._open.discard(stream)

    def drain(self) -> None:
        """Tell every open stream's client to come back (FAREWELL), and close it."""
        self.draining = True
        for stream in list(self._open):
            stream.end("drain")


def response(
    batches: AsyncIterator[list[Event]],
    framing: Framing,
    *,
    observer: Observer | None = None,
    streams: Streams | None = None,
    send_timeout: float | None = None,
) -> EventStream:
    """A text/event-stream response of the stream model `batches`, registered in `streams`
    while it is open."""
    stream = EventStream(
        batches, framing, observer=observer, streams=streams, send_timeout=send_timeout
    )
    if streams is not None:
        if streams.draining:
            stream.end("drain")
        streams.add(stream)
    return stream
