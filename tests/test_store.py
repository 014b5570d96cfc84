from __future__ import annotations

import asyncio

import pytest

from gateway import task
from gateway.events import Event
from gateway.store import EventsExpired, MemoryStore, TaskQuery, decode_cursor
from gateway.task import TaskRecord

pytestmark = pytest.mark.anyio


def make(store: MemoryStore, task_id: str, **fields: object) -> TaskRecord:
    record = TaskRecord(id=task_id, context_id="c", agent="a", owner="p")
    for key, value in fields.items():
        setattr(record, key, value)
    return record


async def add(store: MemoryStore, task_id: str, updated: float = 0.0) -> TaskRecord:
    record = make(store, task_id)
    await store.create(record, task.begin_turn(record, {"messageId": "m", "parts": []}, updated))
    return record


async def test_events_are_numbered_from_one() -> None:
    store = MemoryStore()
    record = await add(store, "t")
    second = await store.append(record, task.set_status(record, task.WORKING, None, 1.0))
    assert second.seq == 2
    assert record.last_seq == 2


async def test_follow_yields_waiting_events_in_one_batch_then_live_ones() -> None:
    store = MemoryStore()
    record = await add(store, "t")
    for _ in range(3):
        await store.append(record, task.set_status(record, task.WORKING, None, 1.0))
    batches: list[list[Event]] = []

    async def follower() -> None:
        async for batch in store.follow("t", 0):
            batches.append(batch)
            if batch[-1].final:
                return

    reader = asyncio.create_task(follower())
    await asyncio.sleep(0)
    await store.append(record, task.set_status(record, task.COMPLETED, None, 2.0))
    await asyncio.wait_for(reader, 5)
    assert [[e.seq for e in b] for b in batches] == [[1, 2, 3, 4], [5]]


async def test_a_follower_behind_the_retained_window_gets_events_expired() -> None:
    store = MemoryStore(max_events_per_task=4)
    record = await add(store, "t")
    for _ in range(10):
        await store.append(record, task.set_status(record, task.WORKING, None, 1.0))
    with pytest.raises(EventsExpired) as info:
        async for _ in store.follow("t", 2):
            pass
    assert info.value.oldest == 8
    async for batch in store.follow("t", 7):
        assert [e.seq for e in batch] == [8, 9, 10, 11]
        break


async def test_deleting_a_task_ends_its_followers() -> None:
    store = MemoryStore()
    await add(store, "t")

    async def follower() -> list[int]:
        return [e.seq async for batch in store.follow("t", 1) for e in batch]

    reader = asyncio.create_task(follower())
    await asyncio.sleep(0)
    await store.delete("t")
    assert await asyncio.wait_for(reader, 5) == []


async def test_query_is_newest_first_and_pages_with_a_cursor() -> None:
    store = MemoryStore()
    for i in range(5):
        await add(store, f"t{i}", updated=float(i))
    first = await store.query(TaskQuery(owner="p", agent="a", page_size=2))
    assert [r.id for r in first.tasks] == ["t4", "t3"]
    assert first.total_size == 5
    second = await store.query(
        TaskQuery(owner="p", agent="a", page_size=2, page_token=first.next_page_token)
    )
    assert [r.id for r in second.tasks] == ["t2", "t1"]
    other = await store.query(TaskQuery(owner="someone-else", agent="a"))
    assert other.tasks == []


def test_cursor_rejects_foreign_tokens() -> None:
    with pytest.raises(ValueError, match="not a page token"):
        decode_cursor("!!!")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def finish(store: MemoryStore, record: TaskRecord, state: str = task.COMPLETED) -> None:
    await store.append(record, task.set_status(record, state, None, 1.0))


async def test_finished_tasks_are_evicted_after_their_ttl_and_no_sooner() -> None:
    clock = Clock()
    store = MemoryStore(finished_ttl=10.0, clock=clock)
    done = await add(store, "done")
    running = await add(store, "running")
    waiting = await add(store, "waiting")
    await finish(store, done)
    await finish(store, waiting, task.INPUT_REQUIRED)
    clock.now = 9.9
    assert await store.get("done") is done
    clock.now = 10.0
    assert await store.get("done") is None
    assert await store.bounds("done") is None
    assert await store.get("running") is running
    assert await store.get("waiting") is waiting  # interrupted is not finished
    assert len(store) == 2


async def test_the_sweep_evicts_in_finishing_order_and_only_what_expired() -> None:
    clock = Clock()
    store = MemoryStore(finished_ttl=5.0, clock=clock)
    for i in range(6):
        clock.now = float(i)
        await finish(store, await add(store, f"t{i}"))
    clock.now = 7.0  # t0, t1 and t2 have expired (finished at 0, 1, 2)
    page = await store.query(TaskQuery(owner="p", agent="a"))
    assert sorted(r.id for r in page.tasks) == ["t3", "t4", "t5"]
    assert repr(store) == "<MemoryStore tasks=3 finished=3>"


async def test_bounds_are_the_oldest_retained_and_the_last_seq() -> None:
    store = MemoryStore(max_events_per_task=4)
    record = await add(store, "t")
    assert await store.bounds("t") == (1, 1)
    for _ in range(9):
        await store.append(record, task.set_status(record, task.WORKING, None, 1.0))
    assert await store.bounds("t") == (7, 10)
    assert await store.bounds("unknown") is None
