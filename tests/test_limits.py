"""Every limit, hit over real sockets, with the error it gives; slow and stalled readers."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from httpx_sse import connect_sse

from tests import a2a
from tests.servers import Process, start_gateway

FLOOD_EVENTS = 100
FLOOD_BYTES = 64 * 1024  # 6.5 MB per stream: more than loopback's socket buffers hold


def agent_url(process: Process) -> str:
    return process.address + "/agents/scripted/"


@pytest.fixture(scope="module")
def limited(scripted_agent: Process) -> Iterator[Process]:
    process = start_gateway(
        {"scripted": scripted_agent.address},
        "--max-subscribers-per-task=2",
        "--max-events-per-task=20",
        "--max-running-tasks=3",
        "--keepalive=1",
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def short_lived(scripted_agent: Process) -> Iterator[Process]:
    process = start_gateway({"scripted": scripted_agent.address}, "--task-ttl=2", "--deadline=0.5")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def impatient(scripted_agent: Process) -> Iterator[Process]:
    process = start_gateway(
        {"scripted": scripted_agent.address},
        "--max-events-per-task=200",  # every event retained: readers may join late
        # A reader on a loaded 2-core machine can lag a second behind: 5 s still tells the
        # stalled one (it never reads) from 20 busy ones.
        "--send-timeout=5",
        "--keepalive=1",
    )
    yield process
    process.stop()


def rpc_error(url: str, method: str, params: dict[str, Any], **headers: str) -> dict[str, Any]:
    body = a2a.request(method, params)
    with httpx.stream("POST", url, json=body, headers={**a2a.V1, **headers}, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json"), "a stream, not an error"
        error: dict[str, Any] = orjson.loads(r.read())["error"]
    return error


def reason(error: dict[str, Any]) -> str:
    return str(error["data"][0]["reason"])


@contextlib.contextmanager
def subscribed(url: str, task_id: str) -> Iterator[None]:
    """An open SubscribeToTask stream that has received its first event."""
    body = a2a.request("SubscribeToTask", {"id": task_id})
    with (
        httpx.Client(timeout=30) as client,
        connect_sse(client, "POST", url, json=body, headers=a2a.V1) as source,
    ):
        events = source.iter_sse()  # keep it: a dropped generator closes the connection
        next(events)
        yield


def poll(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


# --- subscribers per task ------------------------------------------------------------------


def test_subscribers_per_task_is_limited_and_slots_come_back(limited: Process) -> None:
    url = agent_url(limited)
    task = a2a.start_task(url, "hang")
    events_url = f"{url}tasks/{task['id']}/events"
    try:
        with subscribed(url, task["id"]):
            with subscribed(url, task["id"]):
                error = rpc_error(url, "SubscribeToTask", {"id": task["id"]})
                assert error["code"] == -32603
                assert reason(error) == "TOO_MANY_SUBSCRIBERS"
                assert error["data"][0]["metadata"]["limit"] == "2"
                response = httpx.get(events_url, timeout=10)
                assert response.status_code == 503
                assert reason(response.json()["error"]) == "TOO_MANY_SUBSCRIBERS"
            # The slot of the closed stream is released when the gateway sees the disconnect.
            assert poll(lambda: "error" not in _first_event(url, task["id"]))
    finally:
        a2a.rpc(url, "CancelTask", {"id": task["id"]})


def test_the_stream_that_starts_a_turn_is_never_refused_at_the_subscriber_limit(
    limited: Process,
) -> None:
    """Two subscribers wait (Last-Event-ID = the last event) on a task waiting for input: the
    task is at its limit of 2, a third is refused, and yet the SendStreamingMessage of its
    next turn streams that turn, which both waiting subscribers see too."""
    url = agent_url(limited)
    first = a2a.send_stream(url, "ask")
    assert first[-1].state == "TASK_STATE_INPUT_REQUIRED"
    task_id = first[-1].result["statusUpdate"]["taskId"]
    last = {"Last-Event-ID": str(a2a.ids(first)[-1]), **a2a.V1}
    body = a2a.request("SubscribeToTask", {"id": task_id})
    with contextlib.ExitStack() as held:
        waiting = []
        for _ in range(2):
            client = held.enter_context(httpx.Client(timeout=30))
            source = held.enter_context(connect_sse(client, "POST", url, json=body, headers=last))
            # The slot is taken before the response starts: these headers mean it is held.
            assert source.response.headers["content-type"].startswith("text/event-stream")
            waiting.append(source.iter_sse())  # keep it: a dropped one closes the stream
        error = rpc_error(url, "SubscribeToTask", {"id": task_id}, **last)
        assert reason(error) == "TOO_MANY_SUBSCRIBERS"
        second = a2a.send_stream(url, "more", taskId=task_id)
        assert second[-1].state == "TASK_STATE_COMPLETED"
        assert a2a.ids(second)[0] == a2a.ids(first)[-1] + 1
        for events in waiting:
            seen = []
            for sse in events:
                seen.append(orjson.loads(sse.data)["result"])
                if len(seen) == len(second):
                    break
            assert seen == [e.result for e in second]


def _first_event(url: str, task_id: str) -> dict[str, Any]:
    events = a2a.stream(url, "SubscribeToTask", {"id": task_id}, limit=1)
    return events[0].data


# --- events retained per task ----------------------------------------------------------------


def test_a_resume_older_than_the_retained_events_is_events_expired(limited: Process) -> None:
    url = agent_url(limited)
    # 5 ms between steps: this stream's own reader must stay within the 20 retained events
    # while the agent runs (a busy machine once left it behind: evicted after 12 events)
    events = a2a.send_stream(url, "steps 40 5")
    task_id = events[0].result["task"]["id"]
    last = len(events)  # 45: the Task, 40 steps, 3 chunks, COMPLETED
    assert last == 45
    oldest = last - 20 + 1
    error = rpc_error(url, "SubscribeToTask", {"id": task_id}, **{"Last-Event-ID": "5"})
    assert error["code"] == -32603
    assert reason(error) == "EVENTS_EXPIRED"
    assert error["data"][0]["metadata"]["oldestEventId"] == str(oldest)
    assert "without Last-Event-ID" in error["message"]
    response = httpx.get(f"{url}tasks/{task_id}/events?lastEventId=5", timeout=10)
    assert response.status_code == 410
    assert reason(response.json()["error"]) == "EVENTS_EXPIRED"
    replayed = a2a.stream(
        url, "SubscribeToTask", {"id": task_id}, headers={"Last-Event-ID": str(oldest - 1)}
    )
    assert a2a.ids(replayed) == list(range(oldest, last + 1))
    assert [e.result for e in replayed] == [e.result for e in events[oldest - 1 :]]


def test_a_reader_that_falls_out_of_the_window_gets_a_final_error_event(
    limited: Process,
) -> None:
    """It stops reading until the task is done, then reads on: it gets what was already on
    its way, then EVENTS_EXPIRED telling it to resubscribe, then the end of the stream."""
    url = agent_url(limited)
    evicted_before = _evicted(limited)
    task = a2a.start_task(url, f"flood {FLOOD_EVENTS} {FLOOD_BYTES} 10")
    with _raw_get(limited, f"/agents/scripted/tasks/{task['id']}/events") as sock:
        assert poll(lambda: _state(url, task["id"]) == "TASK_STATE_COMPLETED")
        received = _read_to_end(sock)
    assert b"HTTP/1.1 200" in received[:20]
    assert b'"reason":"EVENTS_EXPIRED"' in received
    assert b"TASK_STATE_COMPLETED" not in received
    tail = received[received.rindex(b"data: ") :]
    assert b'"error":{"code":-32603' in tail
    assert b"id: " not in tail
    assert _evicted(limited) == evicted_before + 1  # a2a_subscribers_evicted_total counts it


def _evicted(gateway: Process) -> float:
    metrics = httpx.get(gateway.address + "/metrics", timeout=10).text
    line = next(x for x in metrics.splitlines() if x.startswith("a2a_subscribers_evicted_total "))
    return float(line.split()[-1])


# --- running tasks ---------------------------------------------------------------------------


def test_running_tasks_are_limited_with_a_clear_error(limited: Process) -> None:
    url = agent_url(limited)
    tasks = [a2a.start_task(url, "hang") for _ in range(3)]
    try:
        for method in ("SendMessage", "SendStreamingMessage"):
            error = rpc_error(url, method, {"message": a2a.user_message("steps 1")})
            assert error["code"] == -32603
            assert reason(error) == "TOO_MANY_TASKS"
            assert error["data"][0]["metadata"]["limit"] == "3"
        a2a.rpc(url, "CancelTask", {"id": tasks.pop()["id"]})
        assert a2a.send_stream(url, "steps 1")[-1].state == "TASK_STATE_COMPLETED"
    finally:
        for task in tasks:
            a2a.rpc(url, "CancelTask", {"id": task["id"]})


# --- finished-task retention and the upstream deadline ---------------------------------------


def test_finished_tasks_are_evicted_after_their_retention(short_lived: Process) -> None:
    url = agent_url(short_lived)
    events = a2a.send_stream(url, "steps 1")
    task_id = events[0].result["task"]["id"]
    assert poll(lambda: "error" in a2a.rpc(url, "GetTask", {"id": task_id}))
    assert a2a.rpc(url, "GetTask", {"id": task_id})["error"]["code"] == -32001
    assert rpc_error(url, "SubscribeToTask", {"id": task_id})["code"] == -32001
    headers = {"Last-Event-ID": "1"}
    assert rpc_error(url, "SubscribeToTask", {"id": task_id}, **headers)["code"] == -32001
    response = httpx.get(f"{url}tasks/{task_id}/events?lastEventId=1", timeout=10)
    assert response.status_code == 404
    listed = a2a.rpc(url, "ListTasks", {})["result"]["tasks"]
    assert task_id not in [t["id"] for t in listed]


def test_a_turn_past_the_upstream_deadline_fails_the_task(short_lived: Process) -> None:
    url = agent_url(short_lived)
    events = a2a.send_stream(url, "hang")
    assert [e.state for e in events] == [
        "TASK_STATE_SUBMITTED",
        "TASK_STATE_WORKING",
        "TASK_STATE_FAILED",
    ]
    error = events[-1].result["statusUpdate"]["metadata"]["error"]
    assert error["code"] == -32603
    assert error["reason"] == "AGENT_TIMEOUT"
    assert "DEADLINE_EXCEEDED" in error["message"]


# --- a stalled reader among active ones ------------------------------------------------------


@pytest.mark.anyio
async def test_a_stalled_reader_is_evicted_and_memory_stays_bounded(impatient: Process) -> None:
    """One raw socket that reads nothing among 20 readers: the 20 get every event, the
    stalled one is closed once a send has blocked for --send-timeout, and the gateway's
    memory grows by far less than what the stalled stream would have needed buffered."""
    url = agent_url(impatient)
    await _flood_readers(impatient, url, readers=2)  # warm up allocator and caches
    before = _rss_kib(impatient)
    task = a2a.start_task(url, f"flood {FLOOD_EVENTS} {FLOOD_BYTES} 2")
    path = f"/agents/scripted/tasks/{task['id']}/events?lastEventId=0"
    with _raw_get(impatient, path) as stalled:
        with anyio.fail_after(90):
            ends = await _follow(url, task["id"], readers=20)
        assert ends == [(FLOOD_EVENTS + 3, "TASK_STATE_COMPLETED")] * 20
        assert poll(lambda: "closing the stream of" in impatient.output())
        grown = _rss_kib(impatient) - before
        received = _read_to_end(stalled)
    assert b"HTTP/1.1 200" in received[:20]
    assert b"TASK_STATE_COMPLETED" not in received  # cut off, not finished
    stream_kib = FLOOD_EVENTS * FLOOD_BYTES // 1024
    # The task itself costs about twice its stream (the record's artifact and the encoded
    # events); per-subscriber buffering would add a stream per reader (21 here).
    assert grown < 4 * stream_kib, f"RSS grew by {grown} KiB"


async def _flood_readers(process: Process, url: str, *, readers: int) -> None:
    task = a2a.start_task(url, f"flood {FLOOD_EVENTS} {FLOOD_BYTES}")
    with anyio.fail_after(60):
        await _follow(url, task["id"], readers=readers)


async def _follow(url: str, task_id: str, *, readers: int) -> list[tuple[int, str]]:
    """`readers` concurrent replays from 0; each returns (last id, last state seen)."""
    results: list[tuple[int, str]] = []

    async def read(client: httpx.AsyncClient) -> None:
        expected, state = 1, ""
        events_url = f"{url}tasks/{task_id}/events?lastEventId=0"
        async with client.stream("GET", events_url) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    assert int(line[4:]) == expected
                    expected += 1
                elif "TASK_STATE_" in line[:300] or '"state":' in line[-200:]:
                    state = re.findall(r"TASK_STATE_[A-Z_]+", line)[-1]
        results.append((expected - 1, state))

    limits = httpx.Limits(max_connections=readers + 2)
    async with (
        httpx.AsyncClient(timeout=60, limits=limits) as client,
        anyio.create_task_group() as group,
    ):
        for _ in range(readers):
            group.start_soon(read, client)
    return results


@contextlib.contextmanager
def _raw_get(process: Process, path: str) -> Iterator[socket.socket]:
    """A raw HTTP/1.1 GET on a socket with a tiny receive buffer, not read by anyone."""
    host, port = process.address.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect((host, int(port)))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        yield sock
    finally:
        sock.close()


def _read_to_end(sock: socket.socket, timeout: float = 30.0) -> bytes:
    """Everything until the gateway closes or resets the connection (or the body's last
    chunk)."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    sock.settimeout(5.0)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:  # a stalled stream is reset, not closed (sse.ABORT)
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk
        if data.endswith(b"\r\n0\r\n\r\n"):
            return bytes(data)
    raise AssertionError(f"the connection stayed open after {len(data)} bytes")


def _state(url: str, task_id: str) -> str:
    return str(a2a.rpc(url, "GetTask", {"id": task_id})["result"]["status"]["state"])


def _rss_kib(process: Process) -> int:
    status = Path(f"/proc/{process.popen.pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match, status
    return int(match.group(1))
