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

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable

from gateway.core import errors
from gateway.core.events import Event
from gateway.core.methods import EventStream
from gateway.ops import tracing
from gateway.ops.metrics import Metrics
from gateway.stores.contract import EventsExpired, Store, ends_at_final, ends_at_terminal

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
        """The stream ends on `error`: EVENTS_EXPIRED when it fell behind the retained
        events (counted as an eviction), else the store went away."""
        task_id = error.metadata.get("taskId", "?")
        if isinstance(error, EventsExpired):
            log.warning("a subscriber of task %s fell behind the retained events", task_id)
            self.ended = "evicted"
            self.metrics.subscriber_evicted()
        else:
            log.warning("a subscriber of task %s ended: %s", task_id, error.message)
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


class Batches:
    """The stream model: the head batch, then the store's `follow` from `stream.after`, which
    ends by the stream's end rule (`ends_at_final`, or `ends_at_terminal` for a subscription).

    An async iterator with no frame of its own: after the head, `__anext__` hands out the
    store follower's own awaitable, so an idle stream's await chain goes from the binding's
    response straight into the store (`make bench`, idle streams). What ends the stream (an
    expired cursor, the store away) is raised by the store as an `errors.A2AError`."""

    __slots__ = ("_follow", "_head")

    def __init__(self, head: list[Event], follow: AsyncIterator[list[Event]] | None) -> None:
        self._head: list[Event] | None = head
        self._follow = follow

    def __aiter__(self) -> Batches:
        return self

    def __anext__(self) -> Awaitable[list[Event]]:
        head = self._head
        if head is not None:
            self._head = None
            ready: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
            ready.set_result(head)
            return ready
        if self._follow is None:
            raise StopAsyncIteration
        return self._follow.__anext__()

    async def aclose(self) -> None:
        """Close the store's follower (its `finally` blocks run), if it started."""
        follow, self._follow = self._follow, None
        aclose = getattr(follow, "aclose", None)
        if aclose is not None:
            await aclose()


def batches(store: Store, stream: EventStream, *, keepalive: float | None = None) -> Batches:
    """The head, then the log after `stream.after` in batches; see the module docstring."""
    until = ends_at_terminal if stream.until_terminal else ends_at_final
    head = list(stream.head)  # first, even when empty: the binding starts its stream on it
    if stream.task_id is None or any(until(e) for e in head):
        return Batches(head, None)
    follow = store.follow(stream.task_id, stream.after, idle=keepalive, linger=LINGER, until=until)
    return Batches(head, follow)
