"""The lazy per-connection signal of our HTTP protocol (http/flow.py), on a real event loop.
Flow control itself is exercised over real sockets by the stalled-reader tests
(test_limits.py, test_disconnects.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

import pytest

from gateway.http.flow import Pipeline, Signal
from tests.servers import Process

PATIENCE = 10.0  # seconds, for a loaded machine


@pytest.mark.anyio
async def test_set_wakes_every_waiter_and_stays_set_until_cleared() -> None:
    signal = Signal()
    waiters = [asyncio.create_task(signal.wait()) for _ in range(3)]
    await asyncio.sleep(0)  # let them start waiting
    assert repr(signal) == "<Signal set=False waiters=3>"
    signal.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), PATIENCE) == [True] * 3
    assert signal.is_set()
    assert await signal.wait() is True
    signal.clear()
    assert not signal.is_set()
    assert repr(signal) == "<Signal set=False waiters=0>"


@pytest.mark.anyio
async def test_a_cancelled_wait_leaves_no_waiter_behind() -> None:
    signal = Signal()
    waiter = asyncio.create_task(signal.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert repr(signal) == "<Signal set=False waiters=0>"
    signal.set()  # wakes no one, raises nothing
    assert signal.is_set()


def test_the_pipeline_is_first_in_first_out_and_empty_when_drained() -> None:
    pipeline: Pipeline[str] = Pipeline()
    assert not pipeline
    for request in ("first", "second"):
        pipeline.appendleft(request)
    assert len(pipeline) == 2
    assert [pipeline.pop(), pipeline.pop()] == ["first", "second"]
    assert repr(pipeline) == "<Pipeline waiting=0>"
    with pytest.raises(IndexError):
        pipeline.pop()


def test_pipelined_requests_on_one_connection_are_all_answered_in_order(gateway: Process) -> None:
    address = urlsplit(gateway.address)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    head = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    received = b""
    with socket.create_connection((host, port), timeout=PATIENCE) as sock:
        sock.sendall(head * 3)  # three requests in one write: the last two wait behind the first
        deadline = time.monotonic() + PATIENCE
        while received.count(b"HTTP/1.1 200") < 3 and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    assert received.count(b"HTTP/1.1 200") == 3, received
