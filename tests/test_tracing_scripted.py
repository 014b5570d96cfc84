"""Tracing in front of the scripted test agent: what the agent receives, a failed turn, how
streams end (client gone, drain at shutdown), sampling."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.otlp_receiver import HttpReceiver, ReceivedSpan, Spans
from tests.servers import Process, start_gateway
from tests.tracing_helpers import CLIENT_SPAN, RUN, TRACE_ID, TRACEPARENT, otel_env, stream


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as started:
        yield started


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
