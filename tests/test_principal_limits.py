"""Per-principal limits (token bucket, slots) in-process, then on a real gateway, with the
request hygiene limits (head size and time, body time, CORS)."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from httpx_sse import connect_sse

from gateway.http.limits import RateLimiter, Slots
from tests import a2a
from tests.servers import Process, start_gateway


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # buckets are per principal
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(0.5)


def test_idle_buckets_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(10.0, 5, clock=clock, sweep_every=1.0)
    for i in range(1000):
        limiter.take(f"p{i}")
    assert len(limiter) == 1000
    clock.now += 1.0  # every bucket has refilled
    limiter.take("new")
    assert len(limiter) == 1


def test_slots_count_per_principal_and_forget_empty_ones() -> None:
    slots = Slots(2)
    assert slots.acquire("a")
    assert slots.acquire("a")
    assert not slots.acquire("a")
    assert slots.acquire("b")
    slots.release("a")
    assert slots.acquire("a")
    for _ in range(2):
        slots.release("a")
    slots.release("b")
    assert slots.total == 0
    assert repr(slots) == "<Slots limit=2 principals=0 held=0>"


# --- a real gateway with tight limits --------------------------------------------------

KEYS = {"limited": "limited-key-1", "other": "other-key-1"}


def headers(name: str) -> dict[str, str]:
    return {**a2a.V1, "X-API-Key": KEYS[name]}


@pytest.fixture(scope="module")
def limited(scripted_agent: Process) -> Iterator[Process]:
    args = ["--rate", "5", "--burst", "5", "--max-streams", "1", "--max-tasks", "1"]
    args += ["--body-timeout", "1", "--header-timeout", "1", "--max-header-bytes", "8192"]
    args += ["--cors-origin", "https://app.example"]
    for name, key in KEYS.items():
        args += ["--api-key-hash", f"{name}={hashlib.sha256(key.encode()).hexdigest()}"]
    process = start_gateway({"scripted": scripted_agent.address}, *args)
    yield process
    process.stop()


def wait_for_tokens(seconds: float = 1.2) -> None:
    """Let the bucket refill (the only sleep here: waiting is what is under test)."""
    time.sleep(seconds)


def test_over_the_rate_gets_429_with_retry_after(limited: Process) -> None:
    wait_for_tokens()
    url = limited.address + "/"
    body = a2a.request("GetTask", {"id": "x"})
    with httpx.Client(timeout=10) as client:
        statuses = [
            client.post(url, json=body, headers=headers("limited")).status_code for _ in range(5)
        ]
        refused = client.post(url, json=body, headers=headers("limited"))
        other = client.post(url, json=body, headers=headers("other"))
    assert statuses == [200] * 5
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == -32603
    assert error["data"][0]["reason"] == "RATE_LIMITED"
    assert error["data"][1]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
    assert other.status_code == 200  # another principal has its own bucket


def test_one_stream_and_one_running_task_per_principal(limited: Process) -> None:
    wait_for_tokens()
    url = limited.address + "/agents/scripted/"
    message = {"message": a2a.user_message("hang")}
    with (
        httpx.Client(timeout=10) as client,
        connect_sse(
            client,
            "POST",
            url,
            json=a2a.request("SendStreamingMessage", message),
            headers=headers("limited"),
        ) as source,
    ):
        events = source.iter_sse()
        task_id = a2a.SseEvent(None, next(events).json()).result["task"]["id"]
        second = client.post(
            url, json=a2a.request("SendStreamingMessage", message), headers=headers("limited")
        ).json()
        assert second["error"]["data"][0]["reason"] == "TOO_MANY_STREAMS"
        blocking = client.post(
            url,
            json=a2a.request(
                "SendMessage", {**message, "configuration": {"returnImmediately": True}}
            ),
            headers=headers("limited"),
        ).json()
        assert blocking["error"]["data"][0]["reason"] == "TOO_MANY_TASKS"
        assert blocking["error"]["data"][0]["metadata"] == {"limit": "1"}
        ok = client.post(
            url, json=a2a.request("GetTask", {"id": task_id}), headers=headers("other")
        )
        assert ok.json()["error"]["code"] == -32001  # others unaffected (and not the owner)
        client.post(
            url, json=a2a.request("CancelTask", {"id": task_id}), headers=headers("limited")
        )
    # The stream ended with the cancel, so both slots are free again.
    wait_for_tokens()
    events_after = a2a.stream(
        url,
        "SendStreamingMessage",
        {"message": a2a.user_message("steps 1")},
        headers={"X-API-Key": KEYS["limited"]},
    )
    assert events_after[-1].state == "TASK_STATE_COMPLETED"


def raw(process: Process, data: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send raw bytes, return what comes back until the server closes (bounded in time)."""
    parts = urlsplit(process.address)
    assert parts.hostname
    assert parts.port
    with socket.create_connection((parts.hostname, parts.port), timeout=read_timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        received = b""
        deadline = time.monotonic() + read_timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
        return received


def test_an_oversized_head_gets_431(limited: Process) -> None:
    big = b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    assert raw(limited, big).startswith(b"HTTP/1.1 431 ")
    many = b"".join(b"X-H%d: %b\r\n" % (i, b"v" * 100) for i in range(200))
    assert raw(limited, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n").startswith(
        b"HTTP/1.1 431 "
    )
    unfinished = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000
    assert raw(limited, unfinished).startswith(b"HTTP/1.1 431 ")


def test_a_slow_head_gets_408(limited: Process) -> None:
    started = time.monotonic()
    assert raw(limited, b"POST / HTTP/1.1\r\nHost: x\r\n").startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 10  # the head timeout fired, not the 30 s read limit


def test_a_slow_body_gets_408(limited: Process) -> None:
    wait_for_tokens()
    head = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-API-Key: " + KEYS["other"].encode() + b"\r\nContent-Length: 100\r\n\r\n{"
    )
    started = time.monotonic()
    reply = raw(limited, head)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b"REQUEST_TIMEOUT" in reply
    assert time.monotonic() - started < 10  # the body timeout fired, not the 30 s read limit


def test_cors_preflight_and_exposed_headers(limited: Process) -> None:
    preflight = httpx.options(
        limited.address + "/",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, a2a-version, last-event-id",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"a2a-version", "last-event-id", "authorization", "x-api-key"} <= {
        h.strip() for h in allowed.split(",")
    }
    refused = httpx.post(limited.address + "/", json={}, headers={"Origin": "https://app.example"})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "https://app.example"
    assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()
    other = httpx.options(
        limited.address + "/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert other.status_code == 400
