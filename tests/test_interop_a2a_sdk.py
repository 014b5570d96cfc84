"""Interop: the official a2a-sdk 1.x client drives a real gateway over loopback.

The SDK is an independent judge of our wire format: it resolves our Agent Card, picks our
JSON-RPC interface (protocol version 1.0) by itself and parses every answer into its protobuf
types. It parses leniently (unknown fields are dropped), so `test_events_parse_strictly` also
parses raw answers with unknown fields rejected.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory, create_client
from a2a.types import (
    AgentCard,
    Artifact,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskState,
    TaskStatus,
    UnsupportedOperationError,
)
from google.protobuf import json_format

from tests import a2a
from tests.servers import Process

pytestmark = pytest.mark.anyio

TIMEOUT = 20.0


def agent_url(gateway: Process) -> str:
    return f"{gateway.address}/agents/scripted/"


def send(text: str, *, task_id: str = "", context_id: str = "") -> SendMessageRequest:
    message = Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_USER,
        parts=[Part(text=text)],
        task_id=task_id,
        context_id=context_id,
    )
    return SendMessageRequest(message=message)


def text_of(message: Message | Artifact) -> str:
    return "".join(part.text for part in message.parts)


def state(status: TaskStatus) -> str:
    return str(TaskState.Name(status.state)).removeprefix("TASK_STATE_")


def summary(events: list[StreamResponse]) -> list[str]:
    """One readable line per event: its kind and state (or artifact id)."""
    lines = []
    for event in events:
        kind = event.WhichOneof("payload")
        if kind == "task":
            lines.append(f"task {state(event.task.status)}")
        elif kind == "status_update":
            lines.append(f"status {state(event.status_update.status)}")
        elif kind == "artifact_update":
            lines.append(f"artifact {event.artifact_update.artifact.artifact_id}")
        else:
            lines.append(str(kind))
    return lines


@asynccontextmanager
async def connect(gateway: Process, *, streaming: bool = True) -> AsyncIterator[Client]:
    """An SDK client built from the card the SDK resolves at the agent's URL."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        config = ClientConfig(streaming=streaming, httpx_client=http)
        client = await create_client(agent_url(gateway), config)
        try:
            yield client
        finally:
            await client.close()


def generator(stream: AsyncIterator[StreamResponse]) -> AsyncGenerator[StreamResponse, None]:
    """The SDK's `Client` types its streams as AsyncIterator; they are async generators."""
    assert isinstance(stream, AsyncGenerator)
    return stream


async def collect(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    async with aclosing(generator(client.send_message(request))) as stream:
        return [event async for event in stream]


@dataclass
class Wire:
    """What the SDK put on the wire: (HTTP method, URL, JSON-RPC method, A2A-Version)."""

    calls: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)

    async def record(self, request: httpx.Request) -> None:
        rpc = json.loads(request.content)["method"] if request.method == "POST" else None
        self.calls.append(
            (request.method, str(request.url), rpc, request.headers.get("A2A-Version"))
        )


async def test_client_resolves_card_and_picks_jsonrpc_v1(gateway: Process) -> None:
    url = agent_url(gateway)
    wire = Wire()
    with anyio.fail_after(TIMEOUT):
        async with httpx.AsyncClient(timeout=TIMEOUT, event_hooks={"request": [wire.record]}) as h:
            factory = ClientFactory(ClientConfig(streaming=False, httpx_client=h))
            card = await A2ACardResolver(h, url).get_agent_card()
            client = factory.create(card)
            try:
                events = await collect(client, send("reply hi"))
            finally:
                await client.close()
    assert card.name == "scripted"
    assert card.capabilities.streaming
    interfaces = [
        (i.url, i.protocol_binding, i.protocol_version) for i in card.supported_interfaces
    ]
    # JSON-RPC in both versions and REST are offered; the SDK picks JSON-RPC 1.0, the first
    # (see the wire calls below).
    assert interfaces == [
        (url, "JSONRPC", "1.0"),
        (url.rstrip("/"), "HTTP+JSON", "1.0"),
        (url, "JSONRPC", "0.3"),
    ]
    assert [s.id for s in card.skills] == ["script"]
    # A v0.3 client would have sent `message/send` without the version header.
    assert wire.calls == [
        ("GET", url + ".well-known/agent-card.json", None, "1.0"),
        ("POST", url, "SendMessage", "1.0"),
    ]
    assert summary(events) == ["message"]


async def test_streaming_send(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway) as client:
            request = send("steps 3")
            events = await collect(client, request)
    assert summary(events) == [
        "task SUBMITTED",
        *["status WORKING"] * 3,
        *["artifact a1"] * 3,
        "status COMPLETED",
    ]
    task = events[0].task
    assert task.id
    assert task.context_id
    assert [m.message_id for m in task.history] == [request.message.message_id]
    assert task.history[0].role == Role.ROLE_USER
    assert text_of(task.history[0]) == "steps 3"

    updates = [e.status_update for e in events if e.HasField("status_update")]
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    ids = {(u.task_id, u.context_id) for u in updates} | {(c.task_id, c.context_id) for c in chunks}
    assert ids == {(task.id, task.context_id)}
    for update in updates:
        assert update.status.HasField("timestamp")
        assert update.status.message.role == Role.ROLE_AGENT
        assert update.status.message.task_id == task.id
    working = updates[:3]
    assert [text_of(u.status.message) for u in working] == ["step 1", "step 2", "step 3"]
    assert [u.metadata["progress"] for u in working] == [33, 66, 100]
    assert text_of(updates[-1].status.message) == "done"
    assert [(c.append, c.last_chunk) for c in chunks] == [
        (False, False),
        (True, False),
        (True, True),
    ]
    assert [text_of(c.artifact) for c in chunks] == ["part0;", "part1;", "part2;"]
    assert {c.artifact.name for c in chunks} == {"out"}


async def test_get_task_after_stream(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway) as client:
            request = send("steps 3")
            events = await collect(client, request)
            task = await client.get_task(GetTaskRequest(id=events[0].task.id))
    assert isinstance(task, Task)
    assert task.id == events[0].task.id
    assert task.context_id == events[0].task.context_id
    assert state(task.status) == "COMPLETED"
    assert text_of(task.status.message) == "done"
    assert [a.artifact_id for a in task.artifacts] == ["a1"]
    assert [p.text for p in task.artifacts[0].parts] == ["part0;", "part1;", "part2;"]
    # The current status message ("done") is not repeated in the history.
    assert [(m.role, text_of(m)) for m in task.history] == [
        (Role.ROLE_USER, "steps 3"),
        (Role.ROLE_AGENT, "step 1"),
        (Role.ROLE_AGENT, "step 2"),
        (Role.ROLE_AGENT, "step 3"),
    ]
    assert task.history[0].message_id == request.message.message_id


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
    assert isinstance(canceled, Task)
    assert canceled.id == task_id
    assert state(canceled.status) == "CANCELED"
    assert summary(rest) == ["status CANCELED"]
    assert rest[0].status_update.task_id == task_id


async def test_multi_turn(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway) as client:
            first = await collect(client, send("ask"))
            task = first[0].task
            # The scripted agent answers a second "ask" on a task with history.
            second = await collect(
                client, send("ask again", task_id=task.id, context_id=task.context_id)
            )
    assert summary(first) == ["task SUBMITTED", "status INPUT_REQUIRED"]
    assert text_of(first[-1].status_update.status.message) == "say more"
    assert summary(second) == ["task SUBMITTED", "status WORKING", "status COMPLETED"]
    again = second[0].task
    assert (again.id, again.context_id) == (task.id, task.context_id)
    assert [(m.role, text_of(m)) for m in again.history] == [
        (Role.ROLE_USER, "ask"),
        (Role.ROLE_AGENT, "say more"),
        (Role.ROLE_USER, "ask again"),
    ]
    assert text_of(second[1].status_update.status.message) == "history has 2 messages"
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
    assert summary(head) == ["task SUBMITTED", "status WORKING"]
    assert summary(original)[-4:] == [*["artifact a1"] * 3, "status COMPLETED"]
    snapshot, tail = subscribed[0], subscribed[1:]
    assert summary([snapshot]) == ["task WORKING"]
    assert snapshot.task.id == task_id
    # The subscriber gets exactly the events the snapshot does not cover, the same ones the
    # original stream got; with 200 ms between steps, some of them are still WORKING.
    assert tail == original[len(original) - len(tail) :]
    assert summary(tail)[0] == "status WORKING"
    assert summary(tail)[-1] == "status COMPLETED"
    covered = [e for e in original[: len(original) - len(tail)] if e.HasField("status_update")]
    assert snapshot.task.status.message == covered[-1].status_update.status.message


async def test_non_streaming_send_returns_final_task(gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway, streaming=False) as client:
            events = await collect(client, send("steps 2"))
    assert summary(events) == ["task COMPLETED"]
    task = events[0].task
    assert text_of(task.status.message) == "done"
    assert [p.text for p in task.artifacts[0].parts] == ["part0;", "part1;", "part2;"]
    assert task.metadata["progress"] == 100


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "blocking"])
async def test_direct_reply_is_a_message(gateway: Process, streaming: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway, streaming=streaming) as client:
            events = await collect(client, send("reply hi"))
    assert summary(events) == ["message"]
    message = events[0].message
    assert message.role == Role.ROLE_AGENT
    assert text_of(message) == "direct hi"
    assert message.message_id
    assert message.context_id
    assert not message.task_id


async def test_errors_map_to_sdk_exceptions(gateway: Process) -> None:
    """Our JSON-RPC error codes are the ones the SDK maps to its typed errors (spec 5.4)."""
    with anyio.fail_after(TIMEOUT):
        async with connect(gateway) as client:
            with pytest.raises(TaskNotFoundError):
                await client.get_task(GetTaskRequest(id=str(uuid.uuid4())))
            task_id = (await collect(client, send("steps 1")))[0].task.id
            with pytest.raises(TaskNotCancelableError):
                await client.cancel_task(CancelTaskRequest(id=task_id))
            subscription = client.subscribe(SubscribeToTaskRequest(id=task_id))
            with pytest.raises(UnsupportedOperationError):
                async with aclosing(generator(subscription)) as sub:
                    await anext(sub)


V03_CARD_FIELDS = {"url", "protocolVersion", "preferredTransport", "additionalInterfaces"}


def test_card_parses_strictly(gateway: Process) -> None:
    """Every field but the v0.3 top-level ones is a v1.0 AgentCard field."""
    card = httpx.get(agent_url(gateway) + ".well-known/agent-card.json", timeout=TIMEOUT).json()
    assert card.keys() >= V03_CARD_FIELDS
    v1 = {k: v for k, v in card.items() if k not in V03_CARD_FIELDS}
    json_format.ParseDict(v1, AgentCard())


@pytest.mark.parametrize("text", ["steps 2", "ask", "reply hi"])
def test_events_parse_strictly(gateway: Process, text: str) -> None:
    """Every field we send is one the SDK's v1.0 types know, spelled as ProtoJSON spells it."""
    url = agent_url(gateway)
    events = a2a.send_stream(url, text)
    for event in events:
        json_format.ParseDict(event.result, StreamResponse())
    if "task" in events[0].result:
        task = a2a.rpc(url, "GetTask", {"id": events[0].result["task"]["id"]})
        json_format.ParseDict(task["result"], Task())
