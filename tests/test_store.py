"""MemoryStore specifics; the behaviour every backend shares is in test_store_contract.py."""

from __future__ import annotations

import pytest

from gateway.core import task
from gateway.core.task import TaskRecord
from gateway.stores.contract import TaskQuery, decode_cursor
from gateway.stores.memory import MemoryStore

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
