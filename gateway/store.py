"""Task store and per-task event log: the contract (`Store`) and the memory backend (default).

Backends: `MemoryStore` here (one process, lost on restart) and `RedisStore` (redis_store.py,
shared by many gateway replicas). Contract (both keep it; tests/test_store_contract.py runs the
same tests against both):

- `create(record, body)` registers a new task and logs its first event (seq 1).
- `append(record, body)` logs the next event of a task whose record the caller has already
  changed with a `gateway.task` function. One writer per task at a time: the turn's pump, or
  the cancel path when no turn runs.
- `follow(task_id, after)` yields batches of events with seq > `after`, in order, as they
  are appended; a batch holds every event already waiting, so one write sends them all. It
  never blocks the writer: each follower reads from its own cursor in the log.
- `bounds(task_id)` is (oldest retained seq, last seq): what a resume can start from.
- `append` raises `StoreConflict` when the log moved past the caller's record (another writer
  won: a replica that took over a lost turn, a cancel); the caller's record is then stale and
  it must stop writing. With `unowned=True` it is refused too while any replica holds the
  task's lease (a turn runs somewhere). The memory backend has one writer and never conflicts.
- A backend that cannot reach its storage raises `errors.A2AError` STORE_UNAVAILABLE.
- Events are numbered 1, 2, 3 ... per task; the number is the SSE `id:`.
- Limits: a log retains the newest `max_events_per_task` events; a follower whose cursor falls
  behind them gets `EventsExpired`. A task that reached a terminal state is deleted
  `finished_ttl` seconds later (then `get` is None). The sweep runs at the top of every store
  call and costs O(tasks evicted): terminal tasks are queued in finishing order, and since the
  TTL is one constant that queue is also their expiry order.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.events import Event
from gateway.task import TaskRecord, is_final


class EventsExpired(Exception):
    """The follower's cursor points before the oldest event the log still retains."""

    def __init__(self, oldest: int) -> None:
        super().__init__(f"events before {oldest} are no longer retained")
        self.oldest = oldest


class StoreConflict(Exception):
    """Another writer appended to the task first: the caller's record is stale."""


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

    def since(self, after: int) -> list[Event]:
        oldest = self.first_seq
        if after < oldest - 1:
            raise EventsExpired(oldest)
        return self._entries[after - self._first + 1 :]

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait for the next append or close: True, or False after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        if timeout is None:
            return await waiter
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            if not waiter.done() or not waiter.result():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """ListTasks filters, already validated."""

    owner: str
    agent: str
    context_id: str | None = None
    state: str | None = None
    updated_after: float | None = None
    page_size: int = 50
    page_token: str | None = None


@dataclass(frozen=True, slots=True)
class TaskPage:
    tasks: list[TaskRecord]
    next_page_token: str
    total_size: int


def encode_cursor(record: TaskRecord) -> str:
    raw = f"{record.updated!r}|{record.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[float, str]:
    """Raises ValueError when the token is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        updated, task_id = raw.split("|", 1)
        return float(updated), task_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a page token issued by this gateway") from None


class Store(Protocol):
    """What the methods and the bridge need from a backend (see the module docstring)."""

    max_events_per_task: int
    finished_ttl: float

    async def create(self, record: TaskRecord, body: dict[str, Any]) -> Event: ...

    async def append(
        self, record: TaskRecord, body: dict[str, Any], *, unowned: bool = False
    ) -> Event: ...

    async def get(self, task_id: str) -> TaskRecord | None: ...

    async def delete(self, task_id: str) -> None: ...

    async def query(self, query: TaskQuery) -> TaskPage: ...

    def follow(
        self, task_id: str, after: int, *, idle: float | None = None, linger: float = 0.0
    ) -> AsyncIterator[list[Event]]: ...

    async def bounds(self, task_id: str) -> tuple[int, int] | None: ...

    async def health(self) -> dict[str, Any]:
        """`{"backend": ..., "status": "ok" | "unavailable", ...}` for /readyz."""
        ...

    async def close(self) -> None: ...


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
            self._expiry.append((self._clock() + self.finished_ttl, record.id))
        return event

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
        self, task_id: str, after: int, *, idle: float | None = None, linger: float = 0.0
    ) -> AsyncIterator[list[Event]]:
        """Batches of events after `after`, live; ends when the task is deleted.

        With `idle`, an empty batch after every `idle` seconds without events (for
        keep-alives). With `linger`, a batch that would follow the previous one by less
        than `linger` seconds waits until then, so a fast stream goes out in fewer,
        larger batches while an event after a quiet spell goes out at once; a batch
        with a final event never waits. Raises EventsExpired when `after` is older than
        the log retains.
        """
        log = self._logs.get(task_id)
        if log is None:
            return
        loop = asyncio.get_running_loop()
        last = -math.inf
        while True:
            batch = log.since(after)
            if batch:
                if linger:
                    wait = last + linger - loop.time()
                    if wait > 0 and not batch[-1].final:
                        await asyncio.sleep(wait)
                        batch = log.since(after)
                yield batch
                last = loop.time()
                after = batch[-1].seq
                continue
            if log.closed:
                return
            if not await log.wait(idle):
                yield []

    async def bounds(self, task_id: str) -> tuple[int, int] | None:
        """(oldest retained seq, last seq) of a task's log; None for an unknown task."""
        self._sweep()
        log = self._logs.get(task_id)
        return None if log is None else (log.first_seq, log.last_seq)

    async def health(self) -> dict[str, Any]:
        return {"backend": "memory", "status": "ok"}

    async def close(self) -> None:
        return None
