"""The store contract (`Store`): tasks and their per-task event logs.

Backends, side by side in this folder: `MemoryStore` (memory.py, one process, lost on
restart, the default) and `RedisStore` (redis.py, shared by many gateway replicas).
Contract (both keep it; tests/test_store_contract.py runs the same tests against both):

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
  behind them gets `EventsExpired` (an `errors.A2AError`, EVENTS_EXPIRED, so a stream ends
  on it as on any other error). With `until`, `follow` ends after the first event for which
  `until(event)` holds, that event being the last of the batch (`ends_at_final`,
  `ends_at_terminal`: the stream model's end rules). A task that reached a terminal state is deleted
  `finished_ttl` seconds later (then `get` is None). The sweep runs at the top of every store
  call and costs O(tasks evicted): terminal tasks are queued in finishing order, and since the
  TTL is one constant that queue is also their expiry order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.core import errors
from gateway.core.events import Event
from gateway.core.task import TaskRecord, is_terminal


class EventsExpired(errors.A2AError):
    """The follower's cursor points before the oldest event the log still retains: the
    error a stream ends on (-32603 EVENTS_EXPIRED, `errors.events_expired`)."""

    def __init__(self, oldest: int, task_id: str) -> None:
        error = errors.events_expired(task_id, oldest)
        super().__init__(error.code, error.message, reason=error.reason, metadata=error.metadata)
        self.oldest = oldest
        self.task_id = task_id


Until = Callable[[Event], bool]
"""An end rule for `Store.follow`: whether a follow ends after this event."""


def ends_at_final(event: Event) -> bool:
    """A stream of one turn ends after its final event (terminal or interrupted)."""
    return event.final


def ends_at_terminal(event: Event) -> bool:
    """A subscription follows the task across turns: it ends after a terminal state."""
    return event.final and is_terminal(event.body)


def cut(batch: list[Event], until: Until | None) -> list[Event] | None:
    """`batch` up to and including its first event that ends a follow (`until`), or None
    when none does."""
    if until is not None:
        for index, event in enumerate(batch):
            if until(event):
                return batch[: index + 1]
    return None


class StoreConflict(Exception):
    """Another writer appended to the task first: the caller's record is stale."""


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

    async def append_many(
        self,
        record: TaskRecord,
        items: list[tuple[dict[str, Any], float]],
        *,
        unowned: bool = False,
    ) -> list[Event]:
        """`append` of several events (body, time) at once, all or none; `record` has them all
        applied already and only the last may be final."""
        ...

    async def get(self, task_id: str) -> TaskRecord | None: ...

    async def delete(self, task_id: str) -> None: ...

    async def query(self, query: TaskQuery) -> TaskPage: ...

    def follow(
        self,
        task_id: str,
        after: int,
        *,
        idle: float | None = None,
        linger: float = 0.0,
        until: Until | None = None,
    ) -> AsyncIterator[list[Event]]: ...

    async def bounds(self, task_id: str) -> tuple[int, int] | None: ...

    async def health(self) -> dict[str, Any]:
        """`{"backend": ..., "status": "ok" | "unavailable", ...}` for /readyz."""
        ...

    async def close(self) -> None: ...
