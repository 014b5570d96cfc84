"""Interop: the official a2a-sdk 1.x client drives the gateway's gRPC binding through its own
client classes. It resolves the Agent Card over HTTP, picks the GRPC interface (with the
`tenant` naming the agent) and parses every answer into the normative protobuf types."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager

import anyio
import grpc
import httpx
import pytest
from a2a.client import Client, ClientCallContext, ClientConfig, create_client
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskState,
    UnsupportedOperationError,
)

from gateway.bindings.grpc.convert import event_id_of
from tests.grpc_a2a import (
    TIMEOUT,
    grpc_address,
    grpc_agent,
    grpc_gateway,
    message,
    send_request,
)
from tests.servers import Process

__all__ = ["grpc_agent", "grpc_gateway"]  # fixtures

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def connect(gateway: Process, *, streaming: bool = True) -> AsyncIterator[Client]:
    """An SDK client over gRPC, built from the card the SDK resolves at the agent's URL."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        config = ClientConfig(
            streaming=streaming,
            httpx_client=http,
            supported_protocol_bindings=["GRPC"],
            grpc_channel_factory=grpc.aio.insecure_channel,
        )
        client = await create_client(f"{gateway.address}/agents/scripted/", config)
        try:
            yield client
        finally:
            await client.close()


def generator(stream: AsyncIterator[StreamResponse]) -> AsyncGenerator[StreamResponse, None]:
    assert isinstance(stream, AsyncGenerator)
    return stream


async def collect(stream: AsyncIterator[StreamResponse]) -> list[StreamResponse]:
    async with aclosing(generator(stream)) as events:
        return [event async for event in events]


def states(events: list[StreamResponse]) -> list[str]:
    out = []
    for event in events:
        kind = event.WhichOneof("payload")
        if kind == "task":
            out.append("task " + TaskState.Name(event.task.status.state))
        elif kind == "status_update":
            out.append(TaskState.Name(event.status_update.status.state))
        else:
            out.append(str(kind))
    return [s.replace("TASK_STATE_", "") for s in out]


async def test_card_lists_the_grpc_interface_with_the_agent_as_tenant(
    grpc_gateway: Process,
) -> None:
    url = f"{grpc_gateway.address}/agents/scripted/"
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        card = (await http.get(url + ".well-known/agent-card.json")).json()
    [grpc_interface] = [i for i in card["supportedInterfaces"] if i["protocolBinding"] == "GRPC"]
    assert grpc_interface == {
        "url": grpc_address(grpc_gateway),
        "protocolBinding": "GRPC",
        "protocolVersion": "1.0",
        "tenant": "scripted",
    }
    [resume] = card["capabilities"]["extensions"]
    assert resume["params"]["grpcMetadataKey"] == "last-event-id"
    assert resume["params"]["grpcEventIdField"] == 100_000
    assert [i["protocolBinding"] for i in card["supportedInterfaces"]] == [
        "JSONRPC",
        "HTTP+JSON",
        "GRPC",
        "JSONRPC",  # 0.3, last
    ]


async def test_sdk_streams_a_task_with_an_event_id_on_each_message(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(grpc_gateway) as client:
            events = await collect(client.send_message(send_request("steps 3")))
    assert states(events) == [
        "task SUBMITTED",
        "WORKING",
        "WORKING",
        "WORKING",
        "artifact_update",
        "artifact_update",
        "artifact_update",
        "COMPLETED",
    ]
    assert [event_id_of(e) for e in events] == list(range(1, 9))
    task = events[0].task
    assert {e.status_update.task_id for e in events if e.HasField("status_update")} == {task.id}
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert ["".join(p.text for p in c.artifact.parts) for c in chunks] == [
        "part0;",
        "part1;",
        "part2;",
    ]
    assert [(c.append, c.last_chunk) for c in chunks] == [
        (False, False),
        (True, False),
        (True, True),
    ]
    progress = [e.status_update.metadata["progress"] for e in events[1:4]]
    assert progress == [33, 66, 100]


async def test_sdk_blocking_send_get_and_list(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(grpc_gateway, streaming=False) as client:
            [answer] = await collect(client.send_message(send_request("steps 2")))
            task = answer.task
            assert TaskState.Name(task.status.state) == "TASK_STATE_COMPLETED"
            got = await client.get_task(GetTaskRequest(id=task.id, history_length=1))
            page = await client.list_tasks(ListTasksRequest(context_id=task.context_id))
    assert got.id == task.id
    assert len(got.history) == 1
    assert [t.id for t in page.tasks] == [task.id]
    assert page.total_size == 1


async def test_sdk_direct_reply_is_a_message(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(grpc_gateway) as client:
            events = await collect(client.send_message(send_request("reply hi")))
    assert [e.WhichOneof("payload") for e in events] == ["message"]
    assert events[0].message.parts[0].text == "direct hi"
    assert event_id_of(events[0]) is None  # no id, as on SSE


async def test_sdk_multi_turn(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(grpc_gateway) as client:
            first = await collect(client.send_message(send_request("ask")))
            task = first[0].task
            assert states(first)[-1] == "INPUT_REQUIRED"
            second = await collect(
                client.send_message(
                    send_request("answer more", task_id=task.id, context_id=task.context_id)
                )
            )
    assert states(second)[-1] == "COMPLETED"
    assert second[-1].status_update.task_id == task.id
    texts = [p.text for p in second[-1].status_update.status.message.parts]
    assert texts == ["answered: answer more"]
    ids = [event_id_of(e) for e in first + second]
    assert ids == list(range(1, len(ids) + 1))  # one task, one sequence across turns


async def test_sdk_subscribe_and_cancel(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            connect(grpc_gateway, streaming=False) as sender,  # returns at once
            connect(grpc_gateway) as client,
        ):
            request = SendMessageRequest(
                message=message("hang"),
                configuration=SendMessageConfiguration(return_immediately=True),
            )
            [started] = await collect(sender.send_message(request))
            task_id = started.task.id
            async with aclosing(
                generator(client.subscribe(SubscribeToTaskRequest(id=task_id)))
            ) as stream:
                head = await anext(stream)
                assert head.task.id == task_id
                canceled = await client.cancel_task(CancelTaskRequest(id=task_id))
                rest = [event async for event in stream]
            with pytest.raises(TaskNotCancelableError):
                await client.cancel_task(CancelTaskRequest(id=task_id))
            with pytest.raises(UnsupportedOperationError):
                await collect(client.subscribe(SubscribeToTaskRequest(id=task_id)))
    assert TaskState.Name(canceled.status.state) == "TASK_STATE_CANCELED"
    assert states(rest)[-1] == "CANCELED"


async def test_sdk_unknown_task_is_task_not_found(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(grpc_gateway) as client:
            with pytest.raises(TaskNotFoundError):
                await client.get_task(GetTaskRequest(id="no-such-task"))


async def test_sdk_resumes_with_last_event_id_as_a_service_parameter(
    grpc_gateway: Process,
) -> None:
    """The resume extension through the SDK's own API: `last-event-id` as a service
    parameter goes out as gRPC metadata; the replay carries the ids that follow."""
    with anyio.fail_after(TIMEOUT):
        async with connect(grpc_gateway) as client:
            events = await collect(client.send_message(send_request("steps 2")))
            task_id = events[0].task.id
            context = ClientCallContext(service_parameters={"last-event-id": "2"})
            replay = await collect(
                client.subscribe(SubscribeToTaskRequest(id=task_id), context=context)
            )
    assert [event_id_of(e) for e in replay] == list(range(3, len(events) + 1))
    assert replay == events[2:]
