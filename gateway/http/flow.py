"""Flow control and the message signal of one HTTP connection, costing nothing until used.

uvicorn's `FlowControl` makes an `asyncio.Event` for every connection, up front, to wake a
response waiting for the transport to drain; each Event carries a deque, about 0.7 KB with
its dict, per open connection and so per open SSE stream (`make bench`, idle streams), for a
wait that only a client not reading ever causes. `Flow` is the same public interface
(`read_paused`, `write_paused`, `drain`, `pause_/resume_reading`, `pause_/resume_writing`),
which is all uvicorn's protocol and request cycle use, with the Event made when writing
first pauses and dropped once it resumes (the waiters it woke hold it until they run).
Our protocol (server.py) puts one in its public `flow` attribute when a connection is made.

Likewise each request's cycle gets an `asyncio.Event`, `message_event`, that wakes the app's
`receive()` when body data or a disconnect arrives. An open SSE stream never waits in
`receive()` (the connection tells it of a disconnect: sse.Connection), so its Event would sit
there with an empty deque. `Signal` is an Event with the same public methods (`is_set`,
`set`, `clear`, `wait`) that keeps a waiter list only while someone waits; our protocol puts
one in the new cycle's public `message_event` before the cycle's task first runs.

And each connection has a deque (0.76 KB) of pipelined requests waiting behind the current
one, which clients almost never send: `Pipeline` has the methods the protocol uses
(`appendleft`, `pop`, truth, `len`) and makes its deque only while a request waits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Literal, TypeVar

from uvicorn.protocols.http.flow_control import FlowControl

T = TypeVar("T")


class Flow(FlowControl):
    """`FlowControl` with its writable event made only while writing is paused."""

    def __init__(self, transport: asyncio.Transport) -> None:  # no super(): no Event up front
        self.transport = transport
        self.read_paused = False
        self.write_paused = False
        self.writable: asyncio.Event | None = None  # set while write_paused

    def __repr__(self) -> str:
        return f"<Flow read_paused={self.read_paused} write_paused={self.write_paused}>"

    async def drain(self) -> None:
        """Return once the transport takes writes again (at once when it does now)."""
        if self.writable is not None:
            await self.writable.wait()

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        if not self.write_paused:
            self.write_paused = True
            self.writable = asyncio.Event()

    def resume_writing(self) -> None:
        if self.write_paused:
            self.write_paused = False
            if self.writable is not None:
                self.writable.set()
                self.writable = None


class Signal(asyncio.Event):
    """`asyncio.Event`'s public behaviour with no deque: waiters are kept only while waiting."""

    def __init__(self) -> None:  # no super(): no deque up front
        self.value = False
        self.waiters: list[asyncio.Future[bool]] | None = None

    def __repr__(self) -> str:
        waiting = len(self.waiters) if self.waiters else 0
        return f"<Signal set={self.value} waiters={waiting}>"

    def is_set(self) -> bool:
        return self.value

    def set(self) -> None:
        """Set it and wake every waiter; it stays set until `clear`."""
        if not self.value:
            self.value = True
            waiters, self.waiters = self.waiters, None
            for waiter in waiters or ():
                if not waiter.done():
                    waiter.set_result(True)

    def clear(self) -> None:
        self.value = False

    async def wait(self) -> Literal[True]:
        """Return True once set (at once when it is)."""
        if self.value:
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if self.waiters is not None and waiter in self.waiters:
                self.waiters.remove(waiter)


class Pipeline(Generic[T]):
    """A FIFO of pipelined requests (`appendleft`, then `pop`) with no deque while empty."""

    __slots__ = ("queue",)

    def __init__(self) -> None:
        self.queue: deque[T] | None = None

    def __repr__(self) -> str:
        return f"<Pipeline waiting={len(self)}>"

    def __bool__(self) -> bool:
        return bool(self.queue)

    def __len__(self) -> int:
        return len(self.queue) if self.queue else 0

    def appendleft(self, item: T) -> None:
        if self.queue is None:
            self.queue = deque()
        self.queue.appendleft(item)

    def pop(self) -> T:
        """The oldest request; IndexError when none waits."""
        if not self.queue:
            raise IndexError("pop from an empty pipeline")
        item = self.queue.pop()
        if not self.queue:
            self.queue = None
        return item
