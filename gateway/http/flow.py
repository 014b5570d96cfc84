"""Flow control of one HTTP connection that costs nothing until the client stops reading.

uvicorn's `FlowControl` makes an `asyncio.Event` for every connection, up front, to wake a
response waiting for the transport to drain; each Event carries a deque, about 0.7 KB with
its dict, per open connection and so per open SSE stream (`make bench`, idle streams), for a
wait that only a client not reading ever causes. `Flow` is the same public interface
(`read_paused`, `write_paused`, `drain`, `pause_/resume_reading`, `pause_/resume_writing`),
which is all uvicorn's protocol and request cycle use, with the Event made when writing
first pauses and dropped once it resumes (the waiters it woke hold it until they run).
Our protocol (server.py) puts one in its public `flow` attribute when a connection is made.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.flow_control import FlowControl


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
