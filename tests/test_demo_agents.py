"""The demo agents, in-process over loopback gRPC and as real subprocesses."""

from __future__ import annotations

import functools
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agent_runtime import AgentInfo, AgentServer, Handler, TaskContext
from examples.agents import document_analysis, echo
from generated import task_service_pb2 as pb
from generated import task_service_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"AGENT (\S+) LISTENING (\S+):(\d+)\n")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def user_message(text: str) -> pb.Message:
    return pb.Message(message_id="m-1", role=pb.ROLE_USER, parts=[pb.Part(text=text)])


def run_request(text: str, history: list[pb.Message] | None = None) -> pb.RunRequest:
    return pb.RunRequest(
        task_id="t-1", context_id="c-1", message=user_message(text), history=history or []
    )


@asynccontextmanager
async def agent(handler: Handler, info: AgentInfo) -> AsyncIterator[pb_grpc.TaskServiceAsyncStub]:
    async with (
        AgentServer(handler, info=info, grace=0.5) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        yield pb_grpc.TaskServiceStub(channel)


async def collect(
    stub: pb_grpc.TaskServiceAsyncStub, request: pb.RunRequest
) -> list[pb.AgentEvent]:
    return [event async for event in stub.Run(request, timeout=10)]


def fast_analysis() -> Handler:
    return functools.partial(document_analysis.analyse, delay=0.01)


@asynccontextmanager
async def agent_process(module: str, *args: str) -> AsyncIterator[tuple[Process, str]]:
    """Start `python -m module --port 0 ...`, wait for its LISTENING line and health."""
    command = [sys.executable, "-m", module, "--port", "0", *args]
    process = await anyio.open_process(command, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        with anyio.fail_after(10):
            line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 1000)
        match = LISTENING.fullmatch(line.decode() + "\n")
        assert match is not None, line
        address = f"{match[2]}:{match[3]}"
        async with aio.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="a2a_bridge.v1.TaskService")
            response = await health.Check(request, timeout=10, wait_for_ready=True)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        yield process, address
    finally:
        if process.returncode is None:
            process.kill()
        await process.aclose()


# document-analysis


def test_analyse_text_counts_words_lines_topics_and_first_sentence() -> None:
    text = "Foxes run fast. Foxes sleep late!\nThe dog barks at foxes."
    analysis = document_analysis.analyse_text(text)
    assert analysis.words == 11
    assert analysis.lines == 2
    assert analysis.top_words[0] == ("foxes", 3)
    assert analysis.first_sentence == "Foxes run fast."


@pytest.mark.anyio
async def test_document_analysis_reports_progress_streams_the_report_and_completes() -> None:
    async with agent(fast_analysis(), document_analysis.INFO) as stub:
        events = await collect(stub, run_request("Alpha beta gamma. Beta again.\nLast line."))
    progress = [e.status for e in events if e.HasField("status") and e.status.HasField("progress")]
    assert [s.progress for s in progress] == [25, 50, 75, 100]
    assert {s.state for s in progress} == {pb.TASK_STATE_WORKING}
    assert all(s.message.parts[0].text for s in progress)
    chunks = [e.artifact for e in events if e.HasField("artifact")]
    assert len(chunks) >= 3
    assert [c.append for c in chunks] == [False] + [True] * (len(chunks) - 1)
    assert [c.last_chunk for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert {c.artifact.name for c in chunks} == {"analysis"}
    assert len({c.artifact.artifact_id for c in chunks}) == 1
    report = "".join(c.artifact.parts[0].text for c in chunks)
    assert "Words: 7" in report
    assert "First sentence: Alpha beta gamma." in report
    assert events[-1].status.state == pb.TASK_STATE_COMPLETED
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["status"] * 4 + ["artifact"] * len(chunks) + ["status"]


@pytest.mark.anyio
@pytest.mark.parametrize("text", ["", "  \n\t "])
async def test_document_analysis_fails_an_empty_document(text: str) -> None:
    async with agent(fast_analysis(), document_analysis.INFO) as stub:
        events = await collect(stub, run_request(text))
    assert len(events) == 1
    assert events[0].status.state == pb.TASK_STATE_FAILED
    assert events[0].status.message.parts[0].text == document_analysis.EMPTY_DOCUMENT


@pytest.mark.anyio
async def test_document_analysis_stops_promptly_when_cancelled() -> None:
    contexts: list[TaskContext] = []
    stopped = anyio.Event()

    async def slow(ctx: TaskContext) -> None:
        contexts.append(ctx)
        try:
            await document_analysis.analyse(ctx, delay=60)
        finally:
            stopped.set()

    async with agent(slow, document_analysis.INFO) as stub:
        call = stub.Run(run_request("Some text."), timeout=10)
        first = await call.read()
        assert isinstance(first, pb.AgentEvent)
        assert first.status.progress == 25
        call.cancel()
        with anyio.fail_after(5):
            await stopped.wait()
    assert contexts[0].cancelled.is_set()


# echo


@pytest.mark.anyio
async def test_echo_replies_with_a_direct_message() -> None:
    async with agent(echo.echo, echo.INFO) as stub:
        events = await collect(stub, run_request("hello"))
    assert [e.WhichOneof("event") for e in events] == ["message"]
    assert events[0].message.parts[0].text == "echo: hello"
    assert events[0].message.role == pb.ROLE_AGENT


@pytest.mark.anyio
async def test_echo_asks_on_question_mark_then_completes_the_next_turn() -> None:
    async with agent(echo.echo, echo.INFO) as stub:
        first = await collect(stub, run_request("?"))
        assert len(first) == 1
        assert first[0].status.state == pb.TASK_STATE_INPUT_REQUIRED
        assert first[0].status.message.parts[0].text == "What should I echo?"
        history = [user_message("?"), first[0].status.message]
        second = await collect(stub, run_request("bonjour", history))
    assert [e.WhichOneof("event") for e in second] == ["artifact", "status"]
    assert second[0].artifact.artifact.parts[0].text == "echo: bonjour"
    assert second[0].artifact.last_chunk
    assert second[1].status.state == pb.TASK_STATE_COMPLETED
    assert second[1].status.message.parts[0].text == "echo: bonjour"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("handler", "info", "name", "input_modes"),
    [
        (echo.echo, echo.INFO, "echo", ["text/plain"]),
        (
            fast_analysis(),
            document_analysis.INFO,
            "document-analysis",
            ["text/plain", "application/pdf"],
        ),
    ],
)
async def test_demo_agents_describe_themselves(
    handler: Handler, info: AgentInfo, name: str, input_modes: list[str]
) -> None:
    async with agent(handler, info) as stub:
        description = await stub.Describe(pb.DescribeRequest(), timeout=5)
    assert description.name == name
    assert description.version == "1.0.0"
    assert description.description
    assert len(description.skills) == 1
    assert list(description.skills[0].examples)
    assert list(description.default_input_modes) == input_modes
    assert list(description.default_output_modes) == ["text/plain"]


# As subprocesses


@pytest.mark.anyio
async def test_echo_process_serves_on_a_free_port_and_exits_0_on_sigterm() -> None:
    async with agent_process("examples.agents.echo") as (process, address):
        async with aio.insecure_channel(address) as channel:
            events = await collect(pb_grpc.TaskServiceStub(channel), run_request("hi"))
        assert events[0].message.parts[0].text == "echo: hi"
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            assert await process.wait() == 0


@pytest.mark.anyio
async def test_document_analysis_process_takes_delay_and_exits_0_on_sigint() -> None:
    async with agent_process("examples.agents.document_analysis", "--delay", "0.01") as (
        process,
        address,
    ):
        async with aio.insecure_channel(address) as channel:
            with anyio.fail_after(5):
                events = await collect(pb_grpc.TaskServiceStub(channel), run_request("Text."))
        assert events[-1].status.state == pb.TASK_STATE_COMPLETED
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(10):
            assert await process.wait() == 0
