"""OpenTelemetry tracing end to end: real gateway and agent processes exporting to a real
OTLP receiver in the test (tests/otlp_receiver.py), and the settings that turn it on."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.ops import tracing
from gateway.ops.config import ConfigError, load
from gateway.ops.settings import TracingSettings
from tests.otlp_receiver import GrpcReceiver, HttpReceiver, ReceivedSpan, Spans
from tests.servers import ROOT, Process, start_agent, start_gateway

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
API_KEY = "tracing-Key-0123456789"
SECRET_TEXT = "the-secret-document-text-4711"
REQUEST = "a2a/SendStreamingMessage"
RUN = "a2a_bridge.v1.TaskService/Run"


def otel_env(receiver: Spans, protocol: str = "http/protobuf") -> dict[str, str]:
    """Tracing on by the standard variables alone, exporting to `receiver` quickly."""
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }


def stream(url: str, text: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendStreamingMessage",
        "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}]}},
    }
    events = []
    with httpx.stream(
        "POST", url, json=body, headers={"A2A-Version": "1.0", **headers}, timeout=60
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    return events


def one(spans: list[ReceivedSpan], name: str, service: str | None = None) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and (service is None or s.service == service)]
    assert len(found) == 1, (name, service, spans)
    return found[0]


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
    spans = receiver.wait_for(lambda got: any(s.trace_id == trace_id for s in got))
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


# --- settings ------------------------------------------------------------------------------


def test_the_standard_otel_variables_turn_tracing_on() -> None:
    export = tracing.resolve(TracingSettings(), {"OTEL_TRACES_EXPORTER": "console,otlp"})
    assert export == tracing.Export(protocol="http/protobuf", service_name="a2a-gateway")
    export = tracing.resolve(
        TracingSettings(),
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_SERVICE_NAME": "edge-1",
        },
    )
    assert export is not None
    assert (export.protocol, export.service_name, export.endpoint) == ("grpc", "edge-1", None)


def test_tracing_is_off_without_configuration_or_when_disabled() -> None:
    assert tracing.resolve(TracingSettings(), {}) is None
    assert tracing.resolve(TracingSettings(), {"OTEL_TRACES_EXPORTER": "none"}) is None
    on = {"OTEL_TRACES_EXPORTER": "otlp"}
    assert tracing.resolve(TracingSettings(enabled=False), on) is None
    assert tracing.resolve(TracingSettings(), {**on, "OTEL_SDK_DISABLED": "true"}) is None


def test_configured_tracing_beats_the_environment() -> None:
    settings = TracingSettings(
        endpoint="http://collector:4318/",
        service_name="gw",
        sampling_ratio=0.25,
        headers={"x-token": "t"},
    )
    export = tracing.resolve(settings, {"OTEL_SERVICE_NAME": "other"})
    assert export == tracing.Export(
        protocol="http/protobuf",
        service_name="gw",
        endpoint="http://collector:4318/v1/traces",
        sampling_ratio=0.25,
        headers={"x-token": "t"},
    )
    grpc_export = tracing.resolve(
        TracingSettings(endpoint="http://collector:4317", protocol="grpc"), {}
    )
    assert grpc_export is not None
    assert grpc_export.endpoint == "http://collector:4317"


def test_an_unknown_otlp_protocol_in_the_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="OTLP protocol 'http/json'"):
        tracing.resolve(
            TracingSettings(),
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
        )


def test_the_tracing_section_of_the_configuration_is_validated(tmp_path: Any) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "agents: [{name: a, target: '127.0.0.1:5'}]\n"
        "tracing: {endpoint: 'collector:4318', protocol: thrift, sampling_ratio: 2}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(config, environ={})
    paths = [path for path, _ in caught.value.problems]
    assert paths == ["tracing.endpoint", "tracing.protocol", "tracing.sampling_ratio"]
    config.write_text(
        "agents: [{name: a, target: '127.0.0.1:5'}]\n"
        "tracing: {endpoint: 'http://127.0.0.1:4318', sampling_ratio: 0.5}\n"
    )
    settings = load(config, environ={"A2A_GATEWAY__TRACING__SERVICE_NAME": "edge"})
    assert settings.tracing == TracingSettings(
        endpoint="http://127.0.0.1:4318", sampling_ratio=0.5, service_name="edge"
    )


# --- the scripted agent: what the agent receives, failures, how streams end -------------


@pytest.fixture(scope="module")
def scripted_traced(receiver: HttpReceiver, scripted_agent: Process) -> Iterator[Process]:
    """A traced gateway in front of the scripted agent (which does not trace), forwarding
    the caller's `traceparent` as configured, to show the gateway's own replaces it."""
    env = {**otel_env(receiver), "A2A_GATEWAY__FORWARD_HEADERS": "[traceparent, x-tenant]"}
    gateway = start_gateway({"scripted": scripted_agent.address}, env=env)
    yield gateway
    gateway.stop()


def test_the_agent_gets_the_turns_context_and_the_callers_tracestate_and_baggage(
    receiver: HttpReceiver, scripted_traced: Process
) -> None:
    headers = {"traceparent": TRACEPARENT, "tracestate": "vendor=abc", "baggage": "tenant=t1"}
    events = stream(scripted_traced.address + "/agents/scripted/", "headers", headers)
    seen = json.loads(events[-1]["result"]["statusUpdate"]["status"]["message"]["parts"][0]["text"])
    task_id = events[0]["result"]["task"]["id"]
    spans = receiver.wait_for(
        lambda got: any(s.name == RUN and s.attributes.get("a2a.task.id") == task_id for s in got)
    )
    turn = next(s for s in spans if s.name == RUN and s.attributes.get("a2a.task.id") == task_id)
    metadata = seen["metadata"]
    assert metadata["traceparent"] == f"00-{TRACE_ID}-{turn.span_id}-01"  # not the caller's
    assert metadata["tracestate"] == "vendor=abc"
    assert metadata["baggage"] == "tenant=t1"


def test_a_failing_agent_call_is_an_error_on_the_turn_span(
    receiver: HttpReceiver, scripted_traced: Process
) -> None:
    events = stream(scripted_traced.address + "/agents/scripted/", "error-midstream", {})
    assert events[-1]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_FAILED"
    task_id = events[0]["result"]["task"]["id"]
    spans = receiver.wait_for(
        lambda got: any(s.name == RUN and s.attributes.get("a2a.task.id") == task_id for s in got)
    )
    turn = next(s for s in spans if s.name == RUN and s.attributes.get("a2a.task.id") == task_id)
    assert turn.attributes["rpc.grpc.status_code"] == "INTERNAL"
    assert turn.attributes["a2a.task.state"] == "TASK_STATE_FAILED"
    assert turn.status == 2


def _stream_span(receiver: Spans, task_id: str) -> ReceivedSpan:
    spans = receiver.wait_for(
        lambda got: any(
            s.name == "a2a/stream" and s.attributes.get("a2a.task.id") == task_id for s in got
        )
    )
    return next(
        s for s in spans if s.name == "a2a/stream" and s.attributes.get("a2a.task.id") == task_id
    )


def _open_hanging(url: str) -> tuple[httpx.Client, Any, Any, str]:
    """A stream on a task that never ends, read up to its first event (the Task); the line
    iterator must be kept (once collected it closes the connection)."""
    client = httpx.Client(timeout=30)
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendStreamingMessage",
        "params": {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hang"}]}},
    }
    request = client.build_request("POST", url, json=body, headers={"A2A-Version": "1.0"})
    response = client.send(request, stream=True)
    lines = response.iter_lines()
    first = next(line for line in lines if line.startswith("data:"))
    return client, response, lines, json.loads(first[5:])["result"]["task"]["id"]


def test_a_stream_the_client_leaves_ends_its_span_as_client_gone(
    receiver: HttpReceiver, scripted_traced: Process
) -> None:
    url = scripted_traced.address + "/agents/scripted/"
    client, response, _, task_id = _open_hanging(url)
    response.close()
    client.close()
    span = _stream_span(receiver, task_id)
    assert span.attributes["a2a.stream.end"] == "client_gone"
    assert span.attributes["a2a.stream.events"] >= 1
    cancel = {"jsonrpc": "2.0", "id": 2, "method": "CancelTask", "params": {"id": task_id}}
    httpx.post(url, json=cancel, headers={"A2A-Version": "1.0"}, timeout=30)


def test_a_stream_open_at_shutdown_ends_as_drain_and_is_still_exported(
    receiver: HttpReceiver, scripted_agent: Process
) -> None:
    gateway = start_gateway(
        {"scripted": scripted_agent.address}, "--shutdown-grace", "0", env=otel_env(receiver)
    )
    try:
        client, response, lines, task_id = _open_hanging(gateway.address + "/agents/scripted/")
        try:
            gateway.popen.send_signal(signal.SIGTERM)
            rest = list(lines)  # the gateway says goodbye and closes the stream
            assert gateway.popen.wait(30) == 0  # the last batch is flushed on the way out
            assert rest[-1] == "retry: 1000"
        finally:
            response.close()
            client.close()
    finally:
        gateway.stop()
    assert _stream_span(receiver, task_id).attributes["a2a.stream.end"] == "drain"
    turns = [
        s for s in receiver.all() if s.name == RUN and s.attributes.get("a2a.task.id") == task_id
    ]
    assert [t.attributes["a2a.task.state"] for t in turns] == ["TASK_STATE_FAILED"]


def test_the_trace_printer_prints_a_trace_as_a_tree_of_its_spans() -> None:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as collector
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    from examples import trace_printer

    def span(span_id: str, parent: str, name: str, start: int, **attributes: str) -> Any:
        return trace_pb2.Span(
            trace_id=bytes.fromhex(TRACE_ID),
            span_id=bytes.fromhex(span_id),
            parent_span_id=bytes.fromhex(parent),
            name=name,
            start_time_unix_nano=start,
            end_time_unix_nano=start + 2_500_000,
            attributes=[
                common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
                for k, v in attributes.items()
            ],
        )

    def service(name: str, *spans: Any) -> Any:
        resource = {"attributes": [{"key": "service.name", "value": {"string_value": name}}]}
        return {"resource": resource, "scope_spans": [{"spans": list(spans)}]}

    request = collector.ExportTraceServiceRequest(
        resource_spans=[
            service(
                "a2a-gateway",
                span("0000000000000002", "", REQUEST, 1, **{"a2a.agent": "doc"}),
                span("0000000000000003", "0000000000000002", RUN, 2),
            ),
            service(
                "doc",
                span("0000000000000004", "0000000000000003", RUN, 3, **{"a2a.task.state": "done"}),
            ),
        ]
    )
    traces = trace_printer.Traces(quiet=0)
    traces.add(request)
    assert trace_printer.render(TRACE_ID, traces.spans[TRACE_ID]).splitlines() == [
        f"trace {TRACE_ID} (3 spans)",
        f"  a2a-gateway: {REQUEST} 2.5 ms agent=doc",
        f"    a2a-gateway: {RUN} 2.5 ms",
        f"      doc: {RUN} 2.5 ms task.state=done",
    ]


def test_the_gateway_refuses_to_start_with_an_unknown_otlp_protocol() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
    }
    command = [sys.executable, "-m", "gateway", "serve", "--agent", "a=127.0.0.1:5", "--port", "0"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "OTLP protocol 'http/json' is not one of http/protobuf, grpc" in done.stderr


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
    spans = receiver.wait_for(lambda got: any(s.trace_id == trace_id for s in got))
    request = one([s for s in spans if s.trace_id == trace_id], "a2a/SendMessage")
    assert request.attributes["a2a.version"] == "0.3"
    assert request.attributes["a2a.method.wire_name"] == "message/send"


def test_with_sampling_zero_only_traces_a_sampled_caller_started_are_recorded(
    receiver: HttpReceiver, scripted_agent: Process
) -> None:
    flags = ["--otlp-endpoint", receiver.endpoint, "--trace-sampling-ratio", "0"]
    gateway = start_gateway(
        {"scripted": scripted_agent.address}, *flags, env={"OTEL_BSP_SCHEDULE_DELAY": "50"}
    )
    followed, unsampled = "abf92f3577b34da6a3ce929d0e0e4742", "bbf92f3577b34da6a3ce929d0e0e4743"
    try:
        url = gateway.address + "/agents/scripted/"
        alone = stream(url, "steps 1", {})
        stream(url, "steps 1", {"traceparent": f"00-{unsampled}-{CLIENT_SPAN}-00"})
        stream(url, "steps 1", {"traceparent": f"00-{followed}-{CLIENT_SPAN}-01"})
        receiver.wait_for(lambda got: sum(s.trace_id == followed for s in got) >= 3)
    finally:
        gateway.stop()  # flushes whatever it had
    alone_id = alone[0]["result"]["task"]["id"]
    assert not [s for s in receiver.all() if s.attributes.get("a2a.task.id") == alone_id]
    assert not [s for s in receiver.all() if s.trace_id == unsampled]


def test_the_collector_url_is_logged_without_credentials() -> None:
    assert tracing.shown("https://user:pw@collector:4318/v1/traces?key=k") == (
        "https://collector:4318/v1/traces"
    )
    assert tracing.shown("http://[::1]:4318/v1/traces") == "http://[::1]:4318/v1/traces"


def test_the_carrier_takes_the_w3c_fields_from_http_headers_or_grpc_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from starlette.datastructures import Headers

    assert tracing.carrier(Headers({"traceparent": TRACEPARENT})) == {}  # off: nothing
    monkeypatch.setattr(tracing, "on", True)
    headers = Headers({"Traceparent": TRACEPARENT, "Baggage": "a=1", "Authorization": "x"})
    assert tracing.carrier(headers) == {"traceparent": TRACEPARENT, "baggage": "a=1"}
    metadata = [("traceparent", TRACEPARENT), ("tracestate", "v=1"), ("x-key", "k")]
    assert tracing.carrier([*metadata, ("baggage-bin", "b")]) == {
        "traceparent": TRACEPARENT,
        "tracestate": "v=1",
    }


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
    spans = receiver.wait_for(lambda got: any(s.trace_id == trace_id for s in got))
    span = one([s for s in spans if s.trace_id == trace_id], "a2a/stream")
    assert span.parent_id == CLIENT_SPAN
    assert span.attributes["a2a.method"] == "SubscribeToTask"
    assert span.attributes["a2a.method.wire_name"] == "GET events"
    assert span.attributes["a2a.stream.events"] == len(sent) == 1  # the finished Task
    assert span.attributes["a2a.stream.end"] == "completed"
