"""The memory backend of the store contract (contract.py): one process, lost on restart."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.core.event_log import TaskLog
from gateway.core.events import Event
from gateway.core.task import TaskRecord, is_final
from gateway.core.ticker import Ticker
from gateway.stores.contract import (
    TaskPage,
    TaskQuery,
    Until,
    cut,
    decode_cursor,
    encode_cursor,
)


class MemoryStore:
    """Tasks and their event logs in this process. Lost on restart."""

    def __init__(
        self,
        *,
        max_events_per_task: int = 10_000,
        finished_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_events_per_task = max_events_per_task
        self.finished_ttl = finished_ttl
        self._clock = clock
        self._tasks: dict[str, TaskRecord] = {}
        self._logs: dict[str, TaskLog] = {}
        self._expiry: deque[tuple[float, str]] = deque()  # (deadline, task id), ascending
        self._tickers: dict[float, Ticker] = {}  # keep-alive timeouts, one timer per interval

    def __repr__(self) -> str:
        return f"<MemoryStore tasks={len(self._tasks)} finished={len(self._expiry)}>"

    def __len__(self) -> int:
        return len(self._tasks)

    def _sweep(self) -> None:
        """Delete the terminal tasks whose retention has run out: O(evicted)."""
        now = self._clock()
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, task_id = expiry.popleft()
            self._tasks.pop(task_id, None)
            log = self._logs.pop(task_id, None)
            if log is not None:
                log.close()

    async def create(self, record: TaskRecord, body: dict[str, Any]) -> Event:
        self._sweep()
        if record.id in self._tasks:
            raise KeyError(f"task {record.id} exists")
        self._tasks[record.id] = record
        self._logs[record.id] = TaskLog(self.max_events_per_task)
        return await self.append(record, body)

    async def append(
        self, record: TaskRecord, body: dict[str, Any], *, unowned: bool = False
    ) -> Event:
        log = self._logs[record.id]
        record.last_seq += 1
        event = Event(record.last_seq, body, is_final(body))
        log.append(event)
        if event.final and record.terminal:
            log.settle()
            self._expiry.append((self._clock() + self.finished_ttl, record.id))
        return event

    async def append_many(
        self,
        record: TaskRecord,
        items: list[tuple[dict[str, Any], float]],
        *,
        unowned: bool = False,
    ) -> list[Event]:
        return [await self.append(record, body) for body, _ in items]

    async def get(self, task_id: str) -> TaskRecord | None:
        self._sweep()
        return self._tasks.get(task_id)

    async def delete(self, task_id: str) -> None:
        self._tasks.pop(task_id, None)
        log = self._logs.pop(task_id, None)
        if log is not None:
            log.close()

    async def query(self, query: TaskQuery) -> TaskPage:
        self._sweep()
        matches = [
            r
            for r in self._tasks.values()
            if r.owner == query.owner
            and r.agent == query.agent
            and (query.context_id is None or r.context_id == query.context_id)
            and (query.state is None or r.state == query.state)
            and (query.updated_after is None or r.updated > query.updated_after)
        ]
        matches.sort(key=lambda r: (r.updated, r.id), reverse=True)
        start = 0
        if query.page_token:
            key = decode_cursor(query.page_token)
            start = next(
                (i for i, r in enumerate(matches) if (r.updated, r.id) < key), len(matches)
            )
        page = matches[start : start + query.page_size]
        more = start + query.page_size < len(matches)
        token = encode_cursor(page[-1]) if more and page else ""
        return TaskPage(tasks=page, next_page_token=token, total_size=len(matches))

    async def follow(
        self,
        task_id: str,
        after: int,
        *,
        idle: float | None = None,
        linger: float = 0.0,
        until: Until | None = None,
    ) -> AsyncIterator[list[Event]]:
        """Batches of events after `after`, live; ends when the task is deleted.

        With `idle`, an empty batch after `idle` (to 1.5x `idle`, one shared timer: see
        core/ticker.py) seconds without events (for keep-alives). With `linger`, a batch
        that would follow the previous one by less than `linger` seconds waits until then,
        so a fast stream goes out in fewer, larger batches while an event after a quiet
        spell goes out at once; a batch with a final event never waits. With `until`, ends
        after the first event it holds for. Raises EventsExpired when `after` is older than
        the log retains.
        """
        log = self._logs.get(task_id)
        if log is None:
            return
        loop = asyncio.get_running_loop()
        ticker = None if idle is None else self._ticker(idle)
        last = -math.inf
        while True:
            batch = log.since(after, task_id)
            if batch and linger:
                wait = last + linger - loop.time()
                if wait > 0 and not batch[-1].final:
                    await asyncio.sleep(wait)
                    batch = log.since(after, task_id)
            if batch:
                end = cut(batch, until)
                if end is not None:
                    yield end
                    return
                yield batch
                last = loop.time()
                after = batch[-1].seq
                continue
            if log.closed:
                return
            waiter = log.waiter(ticker)  # awaited here: one coroutine fewer while quiet
            try:
                woke = await waiter
            finally:
                log.forget(waiter, ticker)
            del waiter
            if not woke:
                yield []

    def _ticker(self, interval: float) -> Ticker:
        ticker = self._tickers.get(interval)
        if ticker is None:
            ticker = self._tickers[interval] = Ticker(interval)
        return ticker

    async def bounds(self, task_id: str) -> tuple[int, int] | None:
        """(oldest retained seq, last seq) of a task's log; None for an unknown task."""
        self._sweep()
        log = self._logs.get(task_id)
        return None if log is None else (log.first_seq, log.last_seq)

    async def health(self) -> dict[str, Any]:
        return {"backend": "memory", "status": "ok"}

    async def close(self) -> None:
        return None
