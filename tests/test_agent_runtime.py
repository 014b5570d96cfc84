"""agent_runtime: TaskContext in-process, the servicer and server over loopback gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import grpc
import pytest
from google.protobuf import struct_pb2
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from agent_runtime import (
    SERVICE_NAME,
    AgentInfo,
    AgentServer,
    AgentSkill,
    Handler,
    TaskContext,
    serve,
)
from generated import task_service_pb2 as pb
from generated import task_service_pb2_grpc as pb_grpc

INFO = AgentInfo(name="test-agent", description="An agent for tests.", version="9.9.9")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def user_message(text: str) -> pb.Message:
    return pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[pb.Part(text=text)])


def run_request(text: str = "hello") -> pb.RunRequest:
    return pb.RunRequest(task_id="t-1", context_id="c-1", message=user_message(text))


class Recorder:
    """A `write` target that keeps the events (the in-process stand-in for gRPC)."""

    def __init__(self) -> None:
        self.events: list[pb.AgentEvent] = []

    async def write(self, event: pb.AgentEvent) -> None:
        self.events.append(event)


def context(request: pb.RunRequest | None = None) -> tuple[TaskContext, Recorder]:
    recorder = Recorder()
    return TaskContext(request or run_request(), recorder.write), recorder


@asynccontextmanager
async def agent(
    handler: Handler, info: AgentInfo = INFO
) -> AsyncIterator[tuple[AgentServer, pb_grpc.TaskServiceAsyncStub]]:
    async with (
        AgentServer(handler, info=info, grace=0.5) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        yield server, pb_grpc.TaskServiceStub(channel)


async def collect(
    stub: pb_grpc.TaskServiceAsyncStub, request: pb.RunRequest
) -> list[pb.AgentEvent]:
    return [event async for event in stub.Run(request, timeout=10)]


def states(events: list[pb.AgentEvent]) -> list[str]:
    return [
        pb.TaskState.Name(event.status.state)
        if event.HasField("status")
        else event.WhichOneof("event") or ""
        for event in events
    ]


# TaskContext in-process.


@pytest.mark.anyio
async def test_context_exposes_the_request() -> None:
    metadata = struct_pb2.Struct()
    metadata.update({"lang": "en", "n": 2})
    request = pb.RunRequest(
        task_id="t-1",
        context_id="c-1",
        message=pb.Message(parts=[pb.Part(text="one"), pb.Part(raw=b"x"), pb.Part(text="two")]),
        history=[user_message("earlier")],
        artifacts=[pb.Artifact(artifact_id="a-1")],
        metadata=metadata,
        caller=pb.Caller(principal="alice", request_id="r-1", headers={"x-trace": "abc"}),
    )
    ctx, _ = context(request)
    assert (ctx.task_id, ctx.context_id) == ("t-1", "c-1")
    assert ctx.text == "one\ntwo"
    assert [m.parts[0].text for m in ctx.history] == ["earlier"]
    assert [a.artifact_id for a in ctx.artifacts] == ["a-1"]
    assert ctx.metadata == {"lang": "en", "n": 2.0}
    assert (ctx.caller.principal, ctx.caller.request_id) == ("alice", "r-1")
    assert ctx.caller.headers == {"x-trace": "abc"}
    assert not ctx.cancelled.is_set()


@pytest.mark.anyio
async def test_agent_messages_have_agent_role_fresh_ids_and_the_turn_ids() -> None:
    ctx, recorder = context()
    await ctx.working("one")
    await ctx.reply("two")
    first, second = recorder.events[0].status.message, recorder.events[1].message
    for message in (first, second):
        assert message.role == pb.ROLE_AGENT
        assert (message.task_id, message.context_id) == ("t-1", "c-1")
    assert first.message_id
    assert second.message_id
    assert first.message_id != second.message_id
    assert second.parts[0].text == "two"


@pytest.mark.anyio
async def test_progress_sends_working_with_percent_and_message() -> None:
    ctx, recorder = context()
    await ctx.progress(40, "Reading")
    status = recorder.events[0].status
    assert status.state == pb.TASK_STATE_WORKING
    assert status.progress == 40
    assert status.message.parts[0].text == "Reading"


@pytest.mark.anyio
@pytest.mark.parametrize("percent", [-1, 101])
async def test_progress_outside_0_to_100_raises_value_error(percent: int) -> None:
    ctx, recorder = context()
    with pytest.raises(ValueError, match="between 0 and 100"):
        await ctx.progress(percent)
    assert recorder.events == []


@pytest.mark.anyio
@pytest.mark.parametrize("state", [pb.TASK_STATE_UNSPECIFIED, pb.TASK_STATE_SUBMITTED])
async def test_status_refuses_states_an_agent_cannot_send(state: pb.TaskState.ValueType) -> None:
    ctx, _ = context()
    with pytest.raises(ValueError, match="cannot send"):
        await ctx.status(state)


@pytest.mark.anyio
async def test_status_without_progress_leaves_progress_unset_and_carries_metadata() -> None:
    ctx, recorder = context()
    await ctx.status(pb.TASK_STATE_WORKING, metadata={"step": "a"})
    status = recorder.events[0].status
    assert not status.HasField("progress")
    assert dict(status.metadata) == {"step": "a"}


@pytest.mark.anyio
async def test_emits_after_a_final_status_raise_runtime_error() -> None:
    ctx, recorder = context()
    await ctx.input_required("Which file?")
    assert ctx.final_state == pb.TASK_STATE_INPUT_REQUIRED
    with pytest.raises(RuntimeError, match="already ended with TASK_STATE_INPUT_REQUIRED"):
        await ctx.working()
    with pytest.raises(RuntimeError):
        await ctx.artifact("late")
    with pytest.raises(RuntimeError):
        await ctx.reply("late")
    with pytest.raises(RuntimeError):
        await ctx.complete()
    assert len(recorder.events) == 1


@pytest.mark.anyio
async def test_artifact_generates_an_id_and_accepts_str_bytes_and_parts() -> None:
    ctx, recorder = context()
    generated_id = await ctx.artifact("text", name="t")
    given_id = await ctx.artifact(b"\x00\x01", artifact_id="bin")
    await ctx.artifact([pb.Part(url="https://example.com/x")], artifact_id="u", last_chunk=False)
    first, second, third = (event.artifact for event in recorder.events)
    assert first.artifact.artifact_id == generated_id
    assert len(generated_id) == 36
    assert first.artifact.name == "t"
    assert first.artifact.parts[0].text == "text"
    assert given_id == "bin"
    assert second.artifact.parts[0].raw == b"\x00\x01"
    assert third.artifact.parts[0].url == "https://example.com/x"
    assert (first.append, first.last_chunk, third.last_chunk) == (False, True, False)


@pytest.mark.anyio
async def test_appending_to_an_artifact_needs_its_id() -> None:
    ctx, _ = context()
    with pytest.raises(ValueError, match="artifact_id"):
        await ctx.artifact("more", append=True)


@pytest.mark.anyio
async def test_artifact_stream_holds_one_chunk_so_the_real_last_chunk_is_marked_last() -> None:
    ctx, recorder = context()
    async with ctx.artifact_stream(name="report") as stream:
        await stream.write("a")
        await stream.write(b"b")
        await stream.write("c")
        assert len(recorder.events) == 2
    chunks = [event.artifact for event in recorder.events]
    assert [(c.append, c.last_chunk) for c in chunks] == [
        (False, False),
        (True, False),
        (True, True),
    ]
    assert {c.artifact.artifact_id for c in chunks} == {stream.artifact_id}
    assert [c.artifact.name for c in chunks] == ["report"] * 3
    assert [c.artifact.parts[0].WhichOneof("content") for c in chunks] == ["text", "raw", "text"]


@pytest.mark.anyio
async def test_artifact_stream_with_no_data_sends_one_empty_last_chunk() -> None:
    ctx, recorder = context()
    async with ctx.artifact_stream(artifact_id="empty"):
        pass
    (chunk,) = (event.artifact for event in recorder.events)
    assert (chunk.artifact.artifact_id, chunk.append, chunk.last_chunk) == ("empty", False, True)
    assert chunk.artifact.parts[0].text == ""


@pytest.mark.anyio
async def test_artifact_stream_drops_the_held_chunk_when_the_body_raises() -> None:
    ctx, recorder = context()
    stream = ctx.artifact_stream()

    async def write_then_fail() -> None:
        async with stream:
            await stream.write("a")
            await stream.write("b")
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await write_then_fail()
    assert len(recorder.events) == 1
    with pytest.raises(RuntimeError, match="closed"):
        await stream.write("c")


# The servicer and server over loopback gRPC.


@pytest.mark.anyio
async def test_handler_returning_without_final_status_gets_completed() -> None:
    async def handler(ctx: TaskContext) -> None:
        await ctx.working("busy")

    async with agent(handler) as (_, stub):
        events = await collect(stub, run_request())
    assert states(events) == ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]


@pytest.mark.anyio
async def test_a_single_direct_reply_ends_the_call_without_completed() -> None:
    async def handler(ctx: TaskContext) -> None:
        await ctx.reply(f"hi {ctx.text}")

    async with agent(handler) as (_, stub):
        events = await collect(stub, run_request("bob"))
    assert states(events) == ["message"]
    assert events[0].message.parts[0].text == "hi bob"


@pytest.mark.anyio
async def test_a_lone_direct_reply_on_a_later_turn_gets_completed() -> None:
    async def handler(ctx: TaskContext) -> None:
        await ctx.reply("noted")

    request = run_request()
    request.history.append(user_message("earlier"))
    async with agent(handler) as (_, stub):
        events = await collect(stub, request)
    assert states(events) == ["message", "TASK_STATE_COMPLETED"]


@pytest.mark.anyio
async def test_a_direct_reply_among_other_events_still_gets_completed() -> None:
    async def handler(ctx: TaskContext) -> None:
        await ctx.reply("hi")
        await ctx.reply("again")

    async with agent(handler) as (_, stub):
        events = await collect(stub, run_request())
    assert states(events) == ["message", "message", "TASK_STATE_COMPLETED"]


@pytest.mark.anyio
async def test_handler_exception_ends_the_call_with_internal_and_details() -> None:
    async def handler(ctx: TaskContext) -> None:
        await ctx.working()
        raise ZeroDivisionError("no way")

    async with agent(handler) as (_, stub):
        call = stub.Run(run_request(), timeout=10)
        first = await call.read()
        with pytest.raises(aio.AioRpcError) as error:
            await call.read()
    assert isinstance(first, pb.AgentEvent)
    assert first.status.state == pb.TASK_STATE_WORKING
    assert error.value.code() == grpc.StatusCode.INTERNAL
    assert error.value.details() == "ZeroDivisionError: no way"


@pytest.mark.anyio
async def test_emitting_after_a_final_status_fails_the_call_with_internal() -> None:
    async def handler(ctx: TaskContext) -> None:
        await ctx.complete()
        await ctx.working()

    async with agent(handler) as (_, stub):
        call = stub.Run(run_request(), timeout=10)
        first = await call.read()
        with pytest.raises(aio.AioRpcError) as error:
            await call.read()
    assert isinstance(first, pb.AgentEvent)
    assert first.status.state == pb.TASK_STATE_COMPLETED
    assert error.value.code() == grpc.StatusCode.INTERNAL
    assert (error.value.details() or "").startswith("RuntimeError: cannot send status")


@pytest.mark.anyio
async def test_client_cancellation_sets_cancelled_and_stops_the_handler() -> None:
    contexts: list[TaskContext] = []
    stopped = anyio.Event()

    async def handler(ctx: TaskContext) -> None:
        contexts.append(ctx)
        await ctx.working("waiting forever")
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    async with agent(handler) as (_, stub):
        call = stub.Run(run_request(), timeout=10)
        await call.read()
        call.cancel()
        with anyio.fail_after(5):
            await stopped.wait()
            await contexts[0].cancelled.wait()
    assert call.cancelled()


@pytest.mark.anyio
async def test_health_reports_serving_for_the_server_and_the_task_service() -> None:
    async def handler(ctx: TaskContext) -> None:
        await ctx.complete()

    async with agent(handler) as (server, _), aio.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "a2a_bridge.v1.TaskService"):
            response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.anyio
async def test_reflection_lists_the_task_service() -> None:
    async def handler(ctx: TaskContext) -> None:
        await ctx.complete()

    async with agent(handler) as (server, _), aio.insecure_channel(server.address) as channel:
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(timeout=5)
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        await call.done_writing()
        responses = [response async for response in call]
    names = {service.name for service in responses[0].list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names
    assert SERVICE_NAME == "a2a_bridge.v1.TaskService"


@pytest.mark.anyio
async def test_describe_returns_the_agent_info() -> None:
    info = AgentInfo(
        name="describer",
        description="Describes itself.",
        version="2.0.0",
        skills=[AgentSkill(id="s", name="S", description="Does s.", examples=["do s"])],
        documentation_url="https://example.com/docs",
        provider_organization="Example",
        provider_url="https://example.com",
    )

    async def handler(ctx: TaskContext) -> None:
        await ctx.complete()

    async with agent(handler, info) as (_, stub):
        description = await stub.Describe(pb.DescribeRequest(), timeout=5)
    assert description == info.to_proto()
    assert (description.name, description.version) == ("describer", "2.0.0")
    assert list(description.skills[0].examples) == ["do s"]
    assert list(description.default_input_modes) == ["text/plain"]
    assert description.provider_url == "https://example.com"


@pytest.mark.anyio
async def test_port_zero_binds_a_free_port_and_prints_the_listening_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def handler(ctx: TaskContext) -> None:
        await ctx.complete()

    server = AgentServer(handler, info=INFO)
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port
    await server.start()
    try:
        assert server.port > 0
        assert capsys.readouterr().out == f"AGENT test-agent LISTENING 127.0.0.1:{server.port}\n"
        other = await serve(handler, info=INFO)
        assert other.port not in (0, server.port)
        await other.stop()
    finally:
        await server.stop()
