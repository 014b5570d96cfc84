"""Clients that go away badly: one that stops reading is cut off (its connection aborted, seen
from the server's side), one that leaves mid-body leaves one quiet log line."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import a2a
from tests.servers import Process, start_gateway

SEND_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def impatient(scripted_agent: Process) -> Iterator[Process]:
    process = start_gateway(
        {"scripted": scripted_agent.address},
        f"--send-timeout={SEND_TIMEOUT}",
        "--max-events-per-task=200",
        "--log-level",
        "info",
    )
    yield process
    process.stop()


def port_of(process: Process) -> int:
    return int(process.address.rsplit(":", 1)[1])


def server_side(gateway_port: int, client_port: int) -> dict[str, int] | None:
    """The gateway's end of the connection from `client_port` (/proc/net/tcp): its TCP state
    and its send queue in bytes; None once the kernel has no such socket."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if int(local.split(":")[1], 16) == gateway_port and (
            int(remote.split(":")[1], 16) == client_port
        ):
            tx_queue = int(fields[4].split(":")[0], 16)
            return {"state": int(state, 16), "tx_queue": tx_queue}
    return None


def raw_socket(process: Process, receive_buffer: int = 4096) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port_of(process)))
    return sock


def poll(check: object, timeout: float, step: float = 0.02) -> float | None:
    """Seconds until `check()` is true, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(step)
    return None


def test_a_client_that_stops_reading_has_its_connection_aborted(impatient: Process) -> None:
    url = impatient.address + "/agents/scripted/"
    task = a2a.start_task(url, "flood 100 65536")  # 6.5 MB: far more than the buffers hold
    sock = raw_socket(impatient)
    try:
        client_port = sock.getsockname()[1]
        path = f"/agents/scripted/tasks/{task['id']}/events?lastEventId=0"
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        gateway_port = port_of(impatient)

        def stalled() -> bool:
            side = server_side(gateway_port, client_port)
            return side is not None and side["tx_queue"] > 0

        # The generous bound is for a loaded machine; a stream starts in milliseconds.
        assert poll(stalled, timeout=30) is not None, "the gateway never filled the socket"
        gone_after = poll(lambda: server_side(gateway_port, client_port) is None, timeout=30)
        assert gone_after is not None, "the connection stayed open, the client never read"
        assert gone_after < SEND_TIMEOUT + 1.0, f"closed {gone_after:.2f}s after stalling"
    finally:
        sock.close()
    assert poll(lambda: "closing the stream of" in impatient.output(), timeout=10) is not None
    assert "ASGI callable returned without completing response" not in impatient.output()


def test_a_client_that_leaves_mid_body_leaves_one_quiet_line(impatient: Process) -> None:
    sock = raw_socket(impatient)
    head = (
        "POST /agents/scripted/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"jsonrpc": "2.0", "id": 1, "method": "GetT')
    sock.close()
    found = poll(lambda: "disconnected after" in impatient.output(), timeout=20)
    assert found is not None, impatient.output()[-2000:]
    output = impatient.output()
    assert "Traceback" not in output
    assert "Exception in ASGI application" not in output
    # ... and the gateway serves on as before.
    assert a2a.rpc(url_of(impatient), "GetTask", {"id": "nope"})["error"]["code"] == -32001


def url_of(process: Process) -> str:
    return process.address + "/agents/scripted/"
