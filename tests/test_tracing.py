"""OpenTelemetry tracing end to end: real gateway and agent processes (document-analysis, the
workflow over three agents) exporting to a real OTLP receiver in the test
(tests/otlp_receiver.py); with tracing off, nothing exported and nothing imported."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.otlp_receiver import GrpcReceiver, HttpReceiver, ReceivedSpan
from tests.servers import ROOT, Process, start_agent, start_gateway
from tests.tracing_helpers import (
    CLIENT_SPAN,
    REQUEST,
    RUN,
    TRACE_ID,
    TRACEPARENT,
    one,
    otel_env,
    stream,
)

API_KEY = "tracing-Key-0123456789"
SECRET_TEXT = "the-secret-document-text-4711"


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as started:
        yield started


@pytest.fixture(scope="module")
def traced(receiver: HttpReceiver) -> Iterator[tuple[Process, Process]]:
    """document-analysis and a gateway with API-key auth, JSON logs, both tracing to
    `receiver`."""
    env = {**otel_env(receiver), "DOC_ANALYSIS_DELAY": "0"}
    agent = start_agent("examples.agents.document_analysis", env=env)
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    try:
        gateway = start_gateway(
            {"doc": agent.address},
            "--log-level",
            "info",
            "--log-format",
            "json",
            "--api-key-hash",
            f"alice={digest}",
            env=env,
        )
    except BaseException:
        agent.stop()
        raise
    yield gateway, agent
    gateway.stop()
    agent.stop()


def test_a_streaming_call_with_a_traceparent_is_one_trace_through_gateway_and_agent(
    receiver: HttpReceiver, traced: tuple[Process, Process]
) -> None:
    gateway, _ = traced
    headers = {
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=abc",
        "baggage": "tenant=t1",
        "X-API-Key": API_KEY,
    }
    events = stream(gateway.address + "/agents/doc/", SECRET_TEXT, headers)
    assert events[-1]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"

    def complete(spans: list[ReceivedSpan]) -> bool:
        mine = [s for s in spans if s.trace_id == TRACE_ID]
        return {s.name for s in mine} >= {REQUEST, RUN, "a2a/stream"} and len(mine) >= 4

    spans = [s for s in receiver.wait_for(complete) if s.trace_id == TRACE_ID]
    request = one(spans, REQUEST, "a2a-gateway")
    turn = one(spans, RUN, "a2a-gateway")
    sse = one(spans, "a2a/stream", "a2a-gateway")
    agent = one(spans, RUN, "document-analysis")

    assert request.parent_id == CLIENT_SPAN
    assert turn.parent_id == request.span_id
    assert sse.parent_id == request.span_id
    assert agent.parent_id == turn.span_id
    assert (request.kind, turn.kind, sse.kind, agent.kind) == (
        "SERVER",
        "CLIENT",
        "INTERNAL",
        "SERVER",
    )
    assert agent.trace_state == "vendor=abc"  # tracestate went along into the agent

    task_id = events[0]["result"]["task"]["id"]
    assert request.attributes == {
        "rpc.system": "jsonrpc",
        "rpc.service": "a2a",
        "rpc.method": "SendStreamingMessage",
        "a2a.method": "SendStreamingMessage",
        "a2a.binding": "jsonrpc",
        "a2a.version": "1.0",
        "a2a.agent": "doc",
        "a2a.principal.kind": "authenticated",
        "a2a.error.code": 0,
        "http.response.status_code": 200,
        "a2a.task.id": task_id,
    }
    assert turn.attributes["a2a.task.id"] == task_id
    assert turn.attributes["a2a.context.id"] == events[0]["result"]["task"]["contextId"]
    assert turn.attributes["a2a.task.state"] == "TASK_STATE_COMPLETED"
    assert turn.attributes["rpc.grpc.status_code"] == "OK"
    assert turn.attributes["a2a.turn.events"] == len(events)
    assert turn.attributes["a2a.turn.time_to_first_event_ms"] > 0
    assert turn.attributes["server.address"] == "127.0.0.1"
    assert sse.attributes["a2a.stream.events"] == len(events)
    assert sse.attributes["a2a.stream.end"] == "completed"
    assert agent.attributes["a2a.task.id"] == task_id
    assert agent.attributes["a2a.task.state"] == "TASK_STATE_COMPLETED"
    assert agent.attributes["a2a.agent"] == "document-analysis"

    every_value = json.dumps([s.attributes for s in spans] + [s.trace_state for s in spans])
    for secret in (API_KEY, SECRET_TEXT, "alice", "tenant", "t1"):
        assert secret not in every_value


def test_every_json_log_line_of_a_traced_request_carries_its_trace_and_span(
    receiver: HttpReceiver, traced: tuple[Process, Process]
) -> None:
    gateway, _ = traced
    trace_id = "5bf92f3577b34da6a3ce929d0e0e4737"
    headers = {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01", "X-API-Key": API_KEY}
    stream(gateway.address + "/agents/doc/", "Logs follow the trace.", headers)
    spans = receiver.wait_for(
        lambda got: sum(s.trace_id == trace_id and s.service == "a2a-gateway" for s in got) >= 3
    )
    request = one([s for s in spans if s.trace_id == trace_id], REQUEST)
    turn = one([s for s in spans if s.trace_id == trace_id], RUN, "a2a-gateway")
    lines = [json.loads(line) for line in gateway.output().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("trace_id") == trace_id]
    by_span = {line["msg"].split(" ")[0]: line["span_id"] for line in mine}
    assert by_span == {"jsonrpc": request.span_id, "turn": turn.span_id}


def test_a_call_without_a_traceparent_starts_a_trace_at_the_gateway(
    receiver: HttpReceiver, traced: tuple[Process, Process]
) -> None:
    gateway, _ = traced
    events = stream(gateway.address + "/agents/doc/", "No parent.", {"X-API-Key": API_KEY})
    task_id = events[0]["result"]["task"]["id"]

    def whole(spans: list[ReceivedSpan]) -> bool:
        traces = {s.trace_id for s in spans if s.attributes.get("a2a.task.id") == task_id}
        return sum(s.trace_id in traces for s in spans) >= 4  # request, turn, stream, agent

    spans = receiver.wait_for(whole)
    agent = one(
        [s for s in spans if s.attributes.get("a2a.task.id") == task_id], RUN, "document-analysis"
    )
    trace = [s for s in spans if s.trace_id == agent.trace_id]
    request = one(trace, REQUEST)
    assert request.parent_id == ""
    assert one(trace, RUN, "a2a-gateway").parent_id == request.span_id


def test_an_error_is_recorded_on_the_request_span(
    receiver: HttpReceiver, traced: tuple[Process, Process]
) -> None:
    gateway, _ = traced
    trace_id = "6bf92f3577b34da6a3ce929d0e0e4738"
    body = {"jsonrpc": "2.0", "id": 7, "method": "GetTask", "params": {"id": "no-such-task"}}
    headers = {
        "traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01",
        "X-API-Key": API_KEY,
        "A2A-Version": "1.0",
    }
    reply = httpx.post(gateway.address + "/agents/doc/", json=body, headers=headers, timeout=30)
    assert reply.json()["error"]["code"] == -32001
    spans = receiver.wait_for(
        lambda got: any(s.trace_id == trace_id and s.name == "a2a/GetTask" for s in got)
    )
    request = one([s for s in spans if s.trace_id == trace_id], "a2a/GetTask")
    assert request.status == 2  # ERROR
    assert request.attributes["a2a.error.code"] == -32001
    assert request.attributes["rpc.jsonrpc.error_code"] == -32001
    assert request.attributes["a2a.error.reason"] == "TASK_NOT_FOUND"
    assert request.attributes["http.response.status_code"] == 200


def start_workflow_stack(env: dict[str, str]) -> tuple[str, list[Process]]:
    """The three example agents and a gateway, all traced; the gateway's port is chosen first
    (the workflow agent is told its URL), and everything starts again should another process
    take it before the gateway binds it."""
    for _ in range(3):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        started: list[Process] = []
        try:
            for module, extra in (
                ("examples.agents.document_analysis", ()),
                ("examples.agents.echo", ()),
                ("examples.agents.workflow", ("--gateway", url)),
            ):
                started.append(start_agent(module, *extra, env=env))
            names = ["document-analysis", "echo", "workflow"]
            agents = {n: a.address for n, a in zip(names, started, strict=True)}
            started.append(start_gateway(agents, "--port", str(port), env=env))
            return url, started
        except BaseException as exc:
            for process in started:
                process.stop()
            if "address already in use" not in str(exc).lower():
                raise
    raise RuntimeError("no free port for the gateway in three tries")


def test_the_workflow_agent_yields_one_trace_over_three_agents(receiver: HttpReceiver) -> None:
    url, started = start_workflow_stack({**otel_env(receiver), "DOC_ANALYSIS_DELAY": "0"})
    try:
        trace_id = "7bf92f3577b34da6a3ce929d0e0e4739"
        headers = {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"}
        events = stream(url + "/agents/workflow/", "Agents call agents.", headers)
        assert events[-1]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"

        def three_agents(spans: list[ReceivedSpan]) -> bool:
            names = [s.name for s in spans if s.trace_id == trace_id]
            # per agent a gateway request and turn and the agent's Run; the workflow's 2 calls
            return names.count(REQUEST) == 3 and names.count(RUN) == 6 and len(names) >= 11

        spans = [s for s in receiver.wait_for(three_agents) if s.trace_id == trace_id]
    finally:
        for process in reversed(started):
            process.stop()
    by_id = {s.span_id: s for s in spans}
    workflow = one(spans, RUN, "workflow")
    assert by_id[workflow.parent_id].name == RUN  # the gateway's turn of the workflow
    assert by_id[by_id[workflow.parent_id].parent_id].parent_id == CLIENT_SPAN
    for child in ("document-analysis", "echo"):
        call = one(spans, f"call {child}", "workflow")
        assert call.parent_id == workflow.span_id
        request = next(s for s in spans if s.name == REQUEST and s.parent_id == call.span_id)
        assert request.attributes["a2a.agent"] == child
        turn = next(s for s in spans if s.name == RUN and s.parent_id == request.span_id)
        agent = one(spans, RUN, child)
        assert agent.parent_id == turn.span_id


def test_with_tracing_off_nothing_is_exported(receiver: HttpReceiver) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    agent = start_agent("examples.agents.document_analysis", env={**env, "DOC_ANALYSIS_DELAY": "0"})
    try:
        gateway = start_gateway({"doc": agent.address}, env=env)
        trace_id = "8bf92f3577b34da6a3ce929d0e0e4740"
        try:
            stream(
                gateway.address + "/agents/doc/",
                "Off.",
                {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"},
            )
        finally:
            gateway.stop()  # a provider would flush its batch now
    finally:
        agent.stop()
    assert [s for s in receiver.all() if s.trace_id == trace_id] == []
    assert "tracing on" not in gateway.output()


def test_with_tracing_off_no_exporter_or_tracer_provider_is_even_imported() -> None:
    """(redis-py imports the SDK's metrics part when the SDK is installed; not its tracing.)"""
    script = """
import sys
from agent_runtime import AgentInfo, AgentServer
from gateway.http.app import create_app
from gateway.ops import tracing
from gateway.ops.settings import AgentSpec, Settings
import asyncio

create_app(Settings(agents=(AgentSpec(name="a", target="127.0.0.1:1"),)))

async def agent() -> None:
    async def handler(ctx): ...
    async with AgentServer(handler, info=AgentInfo(name="a", description="d")):
        pass

asyncio.run(agent())
tracing_modules = ("opentelemetry.sdk.trace", "opentelemetry.exporter")
loaded = sorted(m for m in sys.modules if m.startswith(tracing_modules))
print(tracing.on, loaded)
"""
    env = {"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False []"


def test_spans_go_over_otlp_grpc_when_the_flags_say_so() -> None:
    with GrpcReceiver() as grpc_receiver:
        env = otel_env(grpc_receiver, "grpc")
        agent = start_agent(
            "examples.agents.document_analysis", env={**env, "DOC_ANALYSIS_DELAY": "0"}
        )
        try:
            flags = ["--otlp-endpoint", grpc_receiver.endpoint, "--otlp-protocol", "grpc"]
            gateway = start_gateway(
                {"doc": agent.address}, *flags, env={"OTEL_BSP_SCHEDULE_DELAY": "50"}
            )
            try:
                stream(gateway.address + "/agents/doc/", "Over gRPC.", {"traceparent": TRACEPARENT})
                spans = grpc_receiver.wait_for(
                    lambda got: {s.service for s in got} >= {"a2a-gateway", "document-analysis"}
                )
            finally:
                gateway.stop()
        finally:
            agent.stop()
    assert {s.trace_id for s in spans} == {TRACE_ID}


def test_a_v03_call_records_its_wire_version_and_method_name(
    receiver: HttpReceiver, traced: tuple[Process, Process]
) -> None:
    gateway, _ = traced
    trace_id = "9bf92f3577b34da6a3ce929d0e0e4741"
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "message/send",
        "params": {
            "message": {
                "messageId": "m3",
                "role": "user",
                "kind": "message",
                "parts": [{"kind": "text", "text": "Old wire."}],
            }
        },
    }
    headers = {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01", "X-API-Key": API_KEY}
    reply = httpx.post(gateway.address + "/agents/doc/", json=body, headers=headers, timeout=60)
    assert reply.json()["result"]["status"]["state"] == "completed"
    # The agent exports its own spans from its own process: wait for the gateway's request
    # span itself, not just any span of the trace.
    spans = receiver.wait_for(
        lambda got: any(s.trace_id == trace_id and s.name == "a2a/SendMessage" for s in got)
    )
    request = one([s for s in spans if s.trace_id == trace_id], "a2a/SendMessage")
    assert request.attributes["a2a.version"] == "0.3"
    assert request.attributes["a2a.method.wire_name"] == "message/send"


def test_the_browser_events_endpoint_is_a_stream_span_under_the_callers_trace(
    receiver: HttpReceiver, traced: tuple[Process, Process]
) -> None:
    gateway, _ = traced
    events = stream(gateway.address + "/agents/doc/", "Watch me.", {"X-API-Key": API_KEY})
    task_id = events[0]["result"]["task"]["id"]
    trace_id = "cbf92f3577b34da6a3ce929d0e0e4744"
    headers = {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01", "X-API-Key": API_KEY}
    url = f"{gateway.address}/agents/doc/tasks/{task_id}/events"
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        sent = [line for line in response.iter_lines() if line.startswith("data:")]
    spans = receiver.wait_for(
        lambda got: any(s.trace_id == trace_id and s.name == "a2a/stream" for s in got)
    )
    span = one([s for s in spans if s.trace_id == trace_id], "a2a/stream")
    assert span.parent_id == CLIENT_SPAN
    assert span.attributes["a2a.method"] == "SubscribeToTask"
    assert span.attributes["a2a.method.wire_name"] == "GET events"
    assert span.attributes["a2a.stream.events"] == len(sent) == 1  # the finished Task
    assert span.attributes["a2a.stream.end"] == "completed"


def test_a_rest_call_is_traced_like_a_json_rpc_one_with_its_http_status(
    receiver: HttpReceiver, traced: tuple[Process, Process]
) -> None:
    gateway, _ = traced
    trace_id = "dbf92f3577b34da6a3ce929d0e0e4745"
    headers = {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01", "X-API-Key": API_KEY}
    message = {"messageId": "r1", "role": "ROLE_USER", "parts": [{"text": "Over REST."}]}
    url = gateway.address + "/agents/doc"
    with httpx.stream(
        "POST", url + "/message:stream", json={"message": message}, headers=headers, timeout=60
    ) as response:
        assert response.status_code == 200
        sent = [line for line in response.iter_lines() if line.startswith("data:")]
    missing = httpx.get(url + "/tasks/no-such-task", headers=headers, timeout=30)
    assert missing.status_code == 404

    def complete(spans: list[ReceivedSpan]) -> bool:
        return sum(s.trace_id == trace_id for s in spans) >= 5  # 2 requests, turn, stream, agent

    spans = [s for s in receiver.wait_for(complete) if s.trace_id == trace_id]
    request = one(spans, REQUEST)
    assert request.parent_id == CLIENT_SPAN
    assert request.attributes["a2a.binding"] == "rest"
    assert request.attributes["http.response.status_code"] == 200
    assert "rpc.system" not in request.attributes
    assert one(spans, RUN, "a2a-gateway").parent_id == request.span_id
    assert one(spans, RUN, "document-analysis").trace_id == trace_id
    sse = one(spans, "a2a/stream")
    assert (sse.attributes["a2a.binding"], sse.attributes["a2a.stream.events"]) == (
        "rest",
        len(sent),
    )
    get = one(spans, "a2a/GetTask")
    assert get.attributes["http.response.status_code"] == 404
    assert get.attributes["a2a.error.reason"] == "TASK_NOT_FOUND"
    assert get.status == 2
