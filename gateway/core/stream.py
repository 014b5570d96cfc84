"""The stream model every binding sends: a subscriber's head events, then the task's log from
its cursor, as batches of `Event`s. Bindings only frame it (SSE for JSON-RPC and REST in
http/sse.py, messages for gRPC in bindings/grpc/).

`batches()` never buffers ahead of the client: it reads a batch from its own cursor in the log
only when the binding asks for the next one; while a send is blocked (a slow client) it is
suspended and the pump goes on appending. The first batch is the head (maybe empty); a
later empty batch is a keep-alive tick (`keepalive`
seconds without events). The model ends after the first final event (terminal or interrupted
status) it yields, or only after a terminal one when `stream.until_terminal` (a subscription
follows the task across turns), or when the task is deleted. It ends by raising `errors.A2AError`:

- -32603 EVENTS_EXPIRED when its cursor has fallen out of the retained window (the client
  resubscribes; other subscribers never notice);
- -32603 STORE_UNAVAILABLE when the store becomes unreachable (the client resumes by id once
  the store is back).

The binding sends that error in its own shape, after the events already sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from gateway.core import errors
from gateway.core.events import Event
from gateway.core.methods import EventStream
from gateway.core.task import is_terminal
from gateway.ops import tracing
from gateway.ops.metrics import Metrics
from gateway.stores.contract import EventsExpired, Store

LINGER = 0.001
"""Seconds a batch waits when it would follow the previous one sooner: a fast stream goes
out in fewer, larger writes; an event after a quiet spell, or a final one, goes out at once
(see MemoryStore.follow). Measured in `make bench` (README, Performance)."""

log = logging.getLogger("a2a_gateway")


class Observer:
    """Counts what one stream sends: events (per chunk), time to the first event, evictions;
    `events` is the count so far, `ended` "evicted" or "error" when the stream ended so, and
    `error` the reason of the error event that ended it (the stream's trace reads them).

    Given the stream model (`stream`), `closed` ends it when its response ends: the stream's
    span, its slots, the open-streams gauge. One slotted object per stream does all of this,
    rather than a closure and its cells per stream (`make bench`, idle streams)."""

    __slots__ = ("ended", "error", "events", "method", "metrics", "received", "stream")

    def __init__(
        self,
        metrics: Metrics,
        method: str,
        received: float | None,
        stream: EventStream | None = None,
    ) -> None:
        self.metrics = metrics
        self.method = method
        self.received = received
        self.stream = stream
        self.events = 0
        self.ended: str | None = None
        self.error: str | None = None

    def closed(self, why: str | None, seconds: float) -> None:
        """The stream's response ended after `seconds`; `why` as the SSE response says it
        (done, disconnect, drain, stalled; None: cancelled). Ends the span with the events
        sent and why, gives back the stream's slots (`stream.release`), counts the close."""
        model = self.stream
        if model is not None:
            if model.span is not None:
                reason = self.ended or tracing.STREAM_ENDS.get(why, str(why))
                tracing.end_stream(model.span, events=self.events, why=reason, error=self.error)
            if model.release is not None:
                model.release()
        self.metrics.stream_closed(seconds)

    def failed(self, error: errors.A2AError) -> None:
        """The stream ends on `error` (after `evicted()` when it fell behind)."""
        self.ended = self.ended or "error"
        self.error = error.reason or str(error.code)

    def sent(self, events: int) -> None:
        self.events += events
        if events:
            self.metrics.sse_events.inc(events)
            if self.received is not None:
                since = time.monotonic() - self.received
                self.metrics.first_event.labels(self.metrics.method_label(self.method)).observe(
                    since
                )
                self.received = None

    def evicted(self) -> None:
        self.ended = "evicted"
        self.metrics.subscriber_evicted()


def _ends(event: Event, until_terminal: bool) -> bool:
    """Whether a stream ends after `event` (a function, not a closure held per stream)."""
    return event.final and (not until_terminal or is_terminal(event.body))


async def batches(
    store: Store,
    stream: EventStream,
    *,
    keepalive: float | None = None,
    observer: Observer | None = None,
) -> AsyncIterator[list[Event]]:
    """The head, then the log after `stream.after` in batches; see the module docstring."""
    yield list(stream.head)  # first, even when empty: the binding starts its stream on it
    task_id = stream.task_id
    until_terminal = stream.until_terminal

    if task_id is None or any(_ends(e, until_terminal) for e in stream.head):
        return
    try:
        async for batch in store.follow(task_id, stream.after, idle=keepalive, linger=LINGER):
            for index, event in enumerate(batch):
                if _ends(event, until_terminal):
                    yield batch[: index + 1]
                    return
            yield batch
    except EventsExpired as exc:
        log.warning("a subscriber of task %s fell behind the retained events; ending it", task_id)
        if observer is not None:
            observer.evicted()
        raise errors.events_expired(task_id, exc.oldest) from None
    except errors.A2AError as exc:
        log.warning("a subscriber of task %s ended: %s", task_id, exc.message)
        raise
