"""The in-process event log of one task: its newest events in order, with a wake-up for
followers (the memory store keeps one per task)."""

from __future__ import annotations

import asyncio
import contextlib

from gateway.core.events import Event
from gateway.core.ticker import Ticker
from gateway.stores.contract import EventsExpired


class TaskLog:
    """The ordered events of one task (the newest `capacity` of them), with a wake-up.

    A follower that has read everything waits on its own future; an append resolves the
    waiting futures and allocates nothing when nobody waits.
    """

    __slots__ = ("_entries", "_first", "_waiters", "capacity", "closed")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: list[Event] = []
        self._first = 1  # seq of _entries[0]
        self._waiters: list[asyncio.Future[bool]] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"<TaskLog first={self.first_seq} last={self.last_seq} closed={self.closed}>"

    @property
    def last_seq(self) -> int:
        return self._first + len(self._entries) - 1

    @property
    def first_seq(self) -> int:
        """The oldest seq still retained."""
        return max(self._first, self.last_seq - self.capacity + 1)

    def append(self, event: Event) -> None:
        self._entries.append(event)
        # Physically drop in blocks (amortised O(1)); logically only `capacity` are kept.
        if len(self._entries) >= 2 * self.capacity:
            drop = len(self._entries) - self.capacity
            del self._entries[:drop]
            self._first += drop
        self._wake()

    def settle(self) -> None:
        """The task is finished: its events keep no encodings (see `Event.settle`)."""
        for event in self._entries:
            event.settle()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(True)

    def since(self, after: int, task_id: str) -> list[Event]:
        """The retained events after seq `after`; EventsExpired (naming `task_id`, this log's
        task) when some of them are no longer retained."""
        oldest = self.first_seq
        if after < oldest - 1:
            raise EventsExpired(oldest, task_id)
        return self._entries[after - self._first + 1 :]

    def waiter(self, ticker: Ticker | None = None) -> asyncio.Future[bool]:
        """A future resolved True by the next append or close, or False once `ticker` times
        it out (interval to 1.5x interval, see ticker.py; without one, no timeout). The
        follower awaits it itself, then calls `forget`: no coroutine of ours is suspended
        between the follower and the future for as long as the task is quiet."""
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if ticker is not None:
            ticker.add(waiter)
        return waiter

    def forget(self, waiter: asyncio.Future[bool], ticker: Ticker | None = None) -> None:
        """Drop a `waiter` that is done with (resolved, timed out or cancelled)."""
        if ticker is not None:
            ticker.discard(waiter)
        if not waiter.done() or waiter.cancelled() or not waiter.result():
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    async def wait(self, ticker: Ticker | None = None) -> bool:
        """Wait for the next append or close: True, or False once `ticker` times the wait
        out; see `waiter`."""
        waiter = self.waiter(ticker)
        try:
            return await waiter
        finally:
            self.forget(waiter, ticker)
