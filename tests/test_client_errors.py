"""a2a_client given bad endpoints: clear exceptions, never a hang (every test is bounded)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import anyio
import pytest

from a2a_client import (
    A2AClient,
    A2AError,
    ConnectionLost,
    Event,
    NotAnA2AEndpoint,
    StreamingNotSupported,
)
from tests.http_stub import HOLD, Request, StubServer, json_response, response, stream_head
from tests.servers import Process

pytestmark = pytest.mark.anyio

CARD: dict[str, Any] = {"name": "stub", "capabilities": {"streaming": True}, "url": "x"}
TASK = {"task": {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_SUBMITTED"}}}


def event(seq: int, result: dict[str, Any]) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result})
    return f"id: {seq}\ndata: {body}\n\n".encode()


def working(seq: int) -> bytes:
    update = {"taskId": "t1", "status": {"state": "TASK_STATE_WORKING"}}
    return event(seq, {"statusUpdate": update})


async def drain(client: A2AClient, text: str = "hi") -> list[Event]:
    with anyio.fail_after(20):
        return [e async for e in client.stream(text)]


async def test_an_html_site_is_not_an_a2a_endpoint() -> None:
    page = response(200, b"<html>hello</html>", "text/html")
    async with StubServer(lambda r: page) as server, A2AClient(server.url) as client:
        with pytest.raises(NotAnA2AEndpoint, match="not JSON"):
            await drain(client)
        with pytest.raises(NotAnA2AEndpoint, match="HTTP 200, content type text/html"):
            await client.send("hi")


async def test_a_gateway_path_that_is_not_an_agent(gateway: Process) -> None:
    async with A2AClient(gateway.address + "/healthz") as client:
        with pytest.raises(NotAnA2AEndpoint, match="no Agent Card"):
            await drain(client)
    # An unknown agent's JSON-RPC path answers a JSON-RPC error (HTTP 404, AGENT_NOT_FOUND).
    async with A2AClient(gateway.address + "/agents/nobody/") as client:
        with pytest.raises(A2AError, match="No agent named 'nobody' here"):
            await client.get("x")


async def test_a_card_without_streaming() -> None:
    card = {**CARD, "capabilities": {"streaming": False}}
    async with StubServer(lambda r: json_response(card)) as server:
        async with A2AClient(server.url + "/a/") as client:
            with pytest.raises(StreamingNotSupported, match="'stub'"):
                await drain(client)
        assert [r.path for r in server.requests] == ["/a/.well-known/agent-card.json"]


async def test_nothing_listening_is_connection_lost() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # held, never listening: connections are refused
        port = sock.getsockname()[1]
        async with A2AClient(f"http://127.0.0.1:{port}/") as client:
            with pytest.raises(ConnectionLost, match="ConnectError"):
                await client.get("x")


def breaking_stream(resume: bytes) -> StubServer:
    """A stream that sends the Task and one update and then drops; every resume gets
    `resume`."""

    def answer(request: Request) -> bytes | list[bytes]:
        if request.method == "GET":
            return json_response(CARD)
        if request.json()["method"] == "SendStreamingMessage":
            return [stream_head(), event(1, TASK), working(2), b'id: 3\ndata: {"jsonr']
        return resume

    return StubServer(answer)


async def test_an_http_error_on_resume_is_retried_then_connection_lost() -> None:
    unavailable = response(503, b"busy", "text/plain")
    seen: list[Event] = []

    async def follow(client: A2AClient) -> None:
        with anyio.fail_after(20):
            async for e in client.stream("hi"):
                seen.append(e)

    async with (
        breaking_stream(unavailable) as server,
        A2AClient(server.url, retries=2, backoff=0.01) as client,
    ):
        with pytest.raises(ConnectionLost) as info:
            await follow(client)
    assert [e.id for e in seen] == [1, 2]  # the half-sent event 3 is never yielded
    assert info.value.task_id == "t1"
    assert info.value.last_event_id == 2
    assert "after 2 retries" in str(info.value)
    assert "HTTP 503" in str(info.value)
    resumes = [r for r in server.requests if r.method == "POST"][1:]
    assert [(r.json()["method"], r.headers["last-event-id"]) for r in resumes] == [
        ("SubscribeToTask", "2")
    ] * 2


async def test_a_json_rpc_error_on_resume_is_raised_as_is() -> None:
    error = {"code": -32001, "message": "Task not found: t1"}
    gone = json_response({"jsonrpc": "2.0", "id": 2, "error": error})
    async with breaking_stream(gone) as server, A2AClient(server.url, backoff=0.01) as client:
        with pytest.raises(A2AError) as info:
            await drain(client)
    assert info.value.code == -32001
    assert info.value.message == "Task not found: t1"


async def test_an_error_event_mid_stream_is_raised() -> None:
    error = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "boom"}}

    def answer(request: Request) -> bytes | list[bytes]:
        if request.method == "GET":
            return json_response(CARD)
        return [stream_head(), event(1, TASK), f"data: {json.dumps(error)}\n\n".encode()]

    async with StubServer(answer) as server, A2AClient(server.url) as client:
        with pytest.raises(A2AError, match="boom"):
            await drain(client)


async def test_garbage_in_the_stream_is_not_an_a2a_endpoint() -> None:
    def answer(request: Request) -> bytes | list[bytes]:
        if request.method == "GET":
            return json_response(CARD)
        return [stream_head(), b"data: not json\n\n"]

    async with StubServer(answer) as server, A2AClient(server.url) as client:
        with pytest.raises(NotAnA2AEndpoint, match="not an A2A event"):
            await drain(client)


async def test_a_drop_before_the_task_is_named_is_connection_lost() -> None:
    def answer(request: Request) -> bytes | list[bytes]:
        if request.method == "GET":
            return json_response(CARD)
        return [stream_head(), b": nothing yet\n"]

    async with StubServer(answer) as server, A2AClient(server.url) as client:
        with pytest.raises(ConnectionLost, match="before naming its task"):
            await drain(client)


async def test_a_silent_stream_times_out_and_resumes() -> None:
    """A server that stops sending (no keep-alive) counts as a drop after `timeout`."""
    done = {"statusUpdate": {"taskId": "t1", "status": {"state": "TASK_STATE_COMPLETED"}}}

    def answer(request: Request) -> bytes | list[bytes]:
        if request.method == "GET":
            return json_response(CARD)
        if request.json()["method"] == "SendStreamingMessage":
            # then silent with the connection open: only the client's timeout ends it
            return [stream_head(), event(1, TASK), HOLD]
        return [stream_head(), working(2), event(3, done)]

    async with (
        StubServer(answer) as server,
        A2AClient(server.url, timeout=0.5, backoff=0.01) as client,
    ):
        started = time.monotonic()
        events = await drain(client)  # within 20 s: a timeout that did not fire fails here
        waited = time.monotonic() - started
    assert [e.id for e in events] == [1, 2, 3]
    assert waited >= 0.5  # it did wait for the silence, and did not see a close
    resumed = [r for r in server.requests if r.method == "POST"][1].json()
    assert resumed["method"] == "SubscribeToTask"
    assert resumed["params"]["id"] == "t1"
    assert [r for r in server.requests if r.method == "POST"][1].headers["last-event-id"] == "1"
