"""A finished task keeps about one copy of its payload (the record and its events share it),
not one more per wire encoding it was streamed or replayed in; a running task's events keep
their encodings for every subscriber to share. Measured with tracemalloc, in-process."""

from __future__ import annotations

import gc
import time
import tracemalloc

import pytest

from gateway.bindings.jsonrpc import v03
from gateway.core import task
from gateway.core.agent_events import apply_event
from gateway.core.task import TaskRecord
from gateway.stores.memory import MemoryStore
from generated import task_service_pb2 as pb

pytestmark = pytest.mark.anyio

CHUNKS = 50
SIZE = 4096  # 200 KB of payload


def chunk(index: int) -> pb.AgentEvent:
    text = f"{index:06d}" + "x" * (SIZE - 6)
    artifact = pb.Artifact(artifact_id="a", name="out", parts=[pb.Part(text=text)])
    update = pb.ArtifactUpdate(artifact=artifact, append=index > 0, last_chunk=index == CHUNKS - 1)
    return pb.AgentEvent(artifact=update)


def status(state: pb.TaskState.ValueType) -> pb.AgentEvent:
    return pb.AgentEvent(status=pb.StatusUpdate(state=state))


async def streamed_task(store: MemoryStore, final: pb.TaskState.ValueType) -> TaskRecord:
    """A task whose every event was encoded, live, in v1.0 and v0.3 (two wire formats)."""
    record = TaskRecord(id=f"t{time.monotonic_ns()}", context_id="c", agent="a", owner="p")
    message = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "go"}]}
    first = await store.create(record, task.begin_turn(record, message, 0.0))
    events = [first]
    for agent_event in [status(pb.TASK_STATE_WORKING), *map(chunk, range(CHUNKS)), status(final)]:
        event = await store.append(record, apply_event(record, agent_event, 1.0))
        events.append(event)
        event.encoded("1.0")
        event.encoded("0.3", v03.stream_event)
    return record


async def replay(store: MemoryStore, record: TaskRecord) -> None:
    async for batch in store.follow(record.id, 0):
        for event in batch:
            event.encoded("1.0")
            event.encoded("0.3", v03.stream_event)
        if batch[-1].final:
            return


async def retained(final: pb.TaskState.ValueType) -> float:
    """Bytes the store holds for one such task, after a replay in both formats, per payload
    byte."""
    store = MemoryStore()
    await streamed_task(store, final)  # warm-up: caches of every kind filled once
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        record = await streamed_task(store, final)
        await replay(store, record)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / (CHUNKS * SIZE)


async def test_a_finished_task_holds_about_one_copy_of_its_payload() -> None:
    ratio = await retained(pb.TASK_STATE_COMPLETED)
    assert ratio < 1.5, f"a finished task holds {ratio:.2f}x its payload"


async def test_a_running_task_keeps_its_encodings_for_its_subscribers() -> None:
    ratio = await retained(pb.TASK_STATE_INPUT_REQUIRED)  # interrupted: a next turn may come
    assert ratio > 2.0, f"only {ratio:.2f}x: the encodings were not kept"
