"""The pump's writes on a shared store (pump._log_batches): every event already waiting
goes in one write, in order; an event that comes while nothing else waits is written alone;
the first write lingers like any other (the turn's first event was just logged), so what the
agent sent with its first event goes with it; the final event is returned, not logged. A
recording store, no processes, no timing."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from gateway.core.events import Event
from gateway.core.pump import READ_AHEAD, Pump
from gateway.core.task import TaskRecord, is_final
from gateway.ops.metrics import Metrics
from gateway.stores.memory import MemoryStore
from generated import task_service_pb2 as pb

pytestmark = pytest.mark.anyio


class Recording(MemoryStore):
    """The memory store, remembering the seqs of each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[int]] = []
        self.written = asyncio.Event()

    async def append_many(
        self,
        record: TaskRecord,
        items: list[tuple[dict[str, Any], float]],
        *,
        unowned: bool = False,
    ) -> list[Event]:
        events = [await MemoryStore.append(self, record, body) for body, _ in items]
        self.writes.append([e.seq for e in events])
        self.written.set()
        return events

    async def append(
        self, record: TaskRecord, body: dict[str, Any], *, unowned: bool = False
    ) -> Event:
        if is_final(body) or "task" in body:
            return await MemoryStore.append(self, record, body)
        return (await self.append_many(record, [(body, record.updated)]))[0]


def chunk(i: int) -> pb.AgentEvent:
    event = pb.AgentEvent()
    event.artifact.artifact.artifact_id = "a"
    event.artifact.artifact.parts.add().text = f"chunk {i}"
    event.artifact.append = i > 0
    return event


def done() -> pb.AgentEvent:
    event = pb.AgentEvent()
    event.status.state = pb.TASK_STATE_COMPLETED
    return event


async def started() -> tuple[Recording, Pump, TaskRecord]:
    store = Recording()
    record = TaskRecord(id="t", context_id="c", agent="a", owner="p")
    await store.create(record, {"task": {"id": "t", "status": {"state": "TASK_STATE_WORKING"}}})
    return store, Pump(store, final_grace=1.0, metrics=Metrics(), replicas=None), record


async def test_what_is_waiting_is_written_at_once_in_order() -> None:
    store, pump, record = await started()
    ahead: asyncio.Queue[Any] = asyncio.Queue(READ_AHEAD)
    for i in range(10):
        ahead.put_nowait(chunk(i))
    final = done()
    ahead.put_nowait(final)
    assert await pump._log_batches(record, ahead) is final
    assert store.writes == [list(range(2, 12))]  # one write; the final is the caller's
    assert record.last_seq == 11


async def test_an_event_alone_is_written_alone_and_an_end_at_once() -> None:
    store, pump, record = await started()
    ahead: asyncio.Queue[Any] = asyncio.Queue(READ_AHEAD)
    writes = asyncio.create_task(pump._log_batches(record, ahead))
    for i in range(3):
        store.written.clear()
        ahead.put_nowait(chunk(i))
        await asyncio.wait_for(store.written.wait(), 10)
    ahead.put_nowait(grpc.aio.EOF)
    assert await asyncio.wait_for(writes, 10) is grpc.aio.EOF
    assert store.writes == [[2], [3], [4]]


async def test_an_error_is_raised_after_the_events_before_it_are_written() -> None:
    store, pump, record = await started()
    ahead: asyncio.Queue[Any] = asyncio.Queue(READ_AHEAD)
    ahead.put_nowait(chunk(0))
    ahead.put_nowait(chunk(1))
    ahead.put_nowait(RuntimeError("the read failed"))
    with pytest.raises(RuntimeError, match="the read failed"):
        await pump._log_batches(record, ahead)
    assert store.writes == [[2, 3]]


async def test_the_first_write_takes_what_the_agent_sent_with_its_first_event() -> None:
    store, pump, record = await started()  # the turn's first event was just logged (seq 1)
    ahead: asyncio.Queue[Any] = asyncio.Queue(READ_AHEAD)
    ahead.put_nowait(chunk(0))
    writes = asyncio.create_task(pump._log_batches(record, ahead))
    await asyncio.sleep(0)  # the pump took the first event and lingers (WRITE_LINGER)
    ahead.put_nowait(chunk(1))  # sent right behind it: read while the pump lingers
    ahead.put_nowait(grpc.aio.EOF)
    assert await asyncio.wait_for(writes, 10) is grpc.aio.EOF
    assert store.writes == [[2, 3]]
