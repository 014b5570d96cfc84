"""Interop: the official a2a-sdk 1.x client over HTTP+JSON/REST, through its own classes.

The SDK resolves our card and, told to speak only `HTTP+JSON`, picks our REST interface by
itself; it builds every path and query string and parses every answer, error bodies
included, into its own types. Same scenarios as the JSON-RPC interop tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

import anyio
import httpx
import pytest
from a2a.client import Client, ClientConfig, create_client
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Role,
    SubscribeToTaskRequest,
    Task,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskState,
    UnsupportedOperationError,
)

from tests.servers import Process
from tests.test_interop_a2a_sdk import agent_url, collect, generator, send, state, summary, text_of

pytestmark = pytest.mark.anyio

TIMEOUT = 20.0


@asynccontextmanager
async def connect(
    gateway: Process, *, streaming: bool = True, urls: list[str] | None = None
) -> AsyncIterator[Client]:
    """An SDK client over HTTP+JSON, built from the card at the agent's URL; `urls` collects
    the URL of every request it sends."""

    async def record(request: httpx.Request) -> None:
        if urls is not None:
            urls.append(f"{request.method} {request.url}")

    async with httpx.AsyncClient(timeout=TIMEOUT, event_hooks={"request": [record]}) as http:
        config = ClientConfig(
            streaming=streaming, httpx_client=http, supported_protocol_bindings=["HTTP+JSON"]
        )
        client = await create_client(agent_url(gateway), config)
        try:
            yield client
        finally:
            await client.close()


async def test_client_picks_the_rest_interface(gateway: Process) -> None:
    urls: list[str] = []
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway, streaming=False, urls=urls) as client:
            events = await collect(client, send("reply hi"))
    base = agent_url(gateway).rstrip("/")
    assert urls == [f"GET {base}/.well-known/agent-card.json", f"POST {base}/message:send"]
    assert summary(events) == ["message"]
    assert text_of(events[0].message) == "direct hi"


async def test_streaming_send(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway) as client:
            events = await collect(client, send("steps 3"))
    assert summary(events) == [
        "task SUBMITTED",
        *["status WORKING"] * 3,
        *["artifact a1"] * 3,
        "status COMPLETED",
    ]
    updates = [e.status_update for e in events if e.HasField("status_update")]
    assert [text_of(u.status.message) for u in updates] == ["step 1", "step 2", "step 3", "done"]


async def test_get_and_list_after_stream(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway) as client:
            request = send("steps 2")
            events = await collect(client, request)
            task_id = events[0].task.id
            task = await client.get_task(GetTaskRequest(id=task_id, history_length=1))
            listed = await client.list_tasks(
                ListTasksRequest(
                    context_id=events[0].task.context_id,
                    status=TaskState.TASK_STATE_COMPLETED,
                    include_artifacts=True,
                    page_size=10,
                )
            )
    assert isinstance(task, Task)
    assert task.id == task_id
    assert state(task.status) == "COMPLETED"
    assert len(task.history) == 1
    assert [t.id for t in listed.tasks] == [task_id]
    assert [a.artifact_id for a in listed.tasks[0].artifacts] == ["a1"]
    assert listed.total_size == 1


async def test_cancel_ends_stream_with_canceled(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            connect(gateway) as client,
            aclosing(generator(client.send_message(send("hang")))) as stream,
        ):
            head = [await anext(stream), await anext(stream)]
            task_id = head[0].task.id
            canceled = await client.cancel_task(CancelTaskRequest(id=task_id))
            rest = [event async for event in stream]
    assert summary(head) == ["task SUBMITTED", "status WORKING"]
    assert state(canceled.status) == "CANCELED"
    assert summary(rest) == ["status CANCELED"]


async def test_multi_turn(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway) as client:
            first = await collect(client, send("ask"))
            task = first[0].task
            second = await collect(
                client, send("ask again", task_id=task.id, context_id=task.context_id)
            )
    assert summary(first) == ["task SUBMITTED", "status INPUT_REQUIRED"]
    assert summary(second) == ["task SUBMITTED", "status WORKING", "status COMPLETED"]
    assert [(m.role, text_of(m)) for m in second[0].task.history] == [
        (Role.ROLE_USER, "ask"),
        (Role.ROLE_AGENT, "say more"),
        (Role.ROLE_USER, "ask again"),
    ]
    assert text_of(second[-1].status_update.status.message) == "answered: ask again"


async def test_subscribe_while_running(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            connect(gateway) as client,
            aclosing(generator(client.send_message(send("steps 5 200")))) as stream,
        ):
            head = [await anext(stream), await anext(stream)]
            task_id = head[0].task.id
            subscription = client.subscribe(SubscribeToTaskRequest(id=task_id))
            async with aclosing(generator(subscription)) as sub:
                subscribed = [event async for event in sub]
            original = head + [event async for event in stream]
    snapshot, tail = subscribed[0], subscribed[1:]
    assert summary([snapshot]) == ["task WORKING"]
    assert tail == original[len(original) - len(tail) :]
    assert summary(tail)[-1] == "status COMPLETED"


async def test_non_streaming_send_returns_final_task(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway, streaming=False) as client:
            events = await collect(client, send("steps 2"))
    assert summary(events) == ["task COMPLETED"]
    assert [p.text for p in events[0].task.artifacts[0].parts] == ["part0;", "part1;", "part2;"]


async def test_errors_map_to_sdk_exceptions(gateway: Process) -> None:
    """Our REST error bodies carry the ErrorInfo reasons the SDK maps to its typed errors."""
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway) as client:
            with pytest.raises(TaskNotFoundError):
                await client.get_task(GetTaskRequest(id="no-such-task"))
            task_id = (await collect(client, send("steps 1")))[0].task.id
            with pytest.raises(TaskNotCancelableError):
                await client.cancel_task(CancelTaskRequest(id=task_id))
            subscription = client.subscribe(SubscribeToTaskRequest(id=task_id))
            with pytest.raises(UnsupportedOperationError):
                async with aclosing(generator(subscription)) as sub:
                    await anext(sub)
