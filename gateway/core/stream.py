"""The SSE body of one subscriber: its head events, then the task's log from its cursor.

The body never buffers ahead of the client: it reads a batch from its own cursor in the log
and yields it in chunks of about `CHUNK_BYTES`; while a send is blocked (a slow client) the
body is suspended and the pump goes on appending. When the body resumes and its cursor has
fallen out of the retained window, it sends a final error event (-32603 EVENTS_EXPIRED, no
`id:`) telling the client to resubscribe, and ends. Other subscribers never notice.

The stream ends after the first final event (terminal or interrupted status) it sends, or
when the task is deleted. A store that becomes unreachable ends it with a final error event
(-32603 STORE_UNAVAILABLE, no `id:`): the client resumes by id once the store is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from gateway.bindings.jsonrpc import envelope as jsonrpc
from gateway.core import errors
from gateway.core.events import Encoder
from gateway.core.methods import EventStream
from gateway.http import sse
from gateway.ops.metrics import Metrics
from gateway.stores.contract import EventsExpired, Store

CHUNK_BYTES = 64 * 1024
LINGER = 0.001
"""Seconds a batch waits when it would follow the previous one sooner: a fast stream goes
out in fewer, larger writes; an event after a quiet spell, or a final one, goes out at once
(see MemoryStore.follow). Measured in `make bench` (README, Performance)."""

log = logging.getLogger("a2a_gateway")


class Observer:
    """Counts what one stream sends: events (per chunk), time to the first event, evictions."""

    __slots__ = ("method", "metrics", "received")

    def __init__(self, metrics: Metrics, method: str, received: float | None) -> None:
        self.metrics = metrics
        self.method = method
        self.received = received

    def sent(self, events: int) -> None:
        if events:
            self.metrics.sse_events.inc(events)
            if self.received is not None:
                since = time.monotonic() - self.received
                self.metrics.first_event.labels(self.metrics.method_label(self.method)).observe(
                    since
                )
                self.received = None

    def evicted(self) -> None:
        self.metrics.subscriber_evicted()


async def body(
    store: Store,
    stream: EventStream,
    request_id: jsonrpc.RequestId,
    wire: str = "1.0",
    adapt: Encoder | None = None,
    observer: Observer | None = None,
    keepalive: float | None = None,
) -> AsyncIterator[bytes]:
    """Frames in the `wire` format; `adapt` turns a v1.0 body into it, once per event.

    A keep-alive comment goes out after every `keepalive` seconds without events."""
    prefix = sse.request_prefix(request_id)
    chunks = [sse.retry_hint()]
    for event in stream.head:
        if event.seq == 0:
            chunks.append(sse.data_frame(prefix + event.encoded(wire, adapt) + b"}"))
        else:
            chunks.append(sse.frame(event, prefix, wire, adapt))
    yield b"".join(chunks)
    if observer is not None:
        observer.sent(len(stream.head))
    task_id = stream.task_id
    if task_id is None or any(e.final for e in stream.head):
        return
    try:
        async for batch in store.follow(task_id, stream.after, idle=keepalive, linger=LINGER):
            if not batch:
                yield sse.KEEPALIVE
                continue
            chunks, size = [], 0
            for event in batch:
                frame = sse.frame(event, prefix, wire, adapt)
                chunks.append(frame)
                size += len(frame)
                if event.final or size >= CHUNK_BYTES:
                    yield b"".join(chunks)
                    if observer is not None:
                        observer.sent(len(chunks))
                    if event.final:
                        return
                    chunks, size = [], 0
            if chunks:
                yield b"".join(chunks)
                if observer is not None:
                    observer.sent(len(chunks))
    except EventsExpired as exc:
        log.warning("a subscriber of task %s fell behind the retained events; ending it", task_id)
        if observer is not None:
            observer.evicted()
        error = errors.events_expired(task_id, exc.oldest)
        yield sse.data_frame(jsonrpc.error(request_id, error))
    except errors.A2AError as exc:
        log.warning("a subscriber of task %s ended: %s", task_id, exc.message)
        yield sse.data_frame(jsonrpc.error(request_id, exc))
