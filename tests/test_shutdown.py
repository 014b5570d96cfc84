"""`--shutdown-grace` with a real process and a real SIGTERM: a turn shorter than the grace
finishes (readable after a restart, on Redis), a longer one is failed at the grace."""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid

import httpx

from tests import a2a
from tests.redis_server import RedisServer
from tests.servers import Process, start_gateway

GRACE = 5.0


def state_of(url: str, task_id: str) -> dict[str, object]:
    reply = a2a.rpc(url, "GetTask", {"id": task_id})
    status: dict[str, object] = reply["result"]["status"]
    return status


def test_running_turns_get_the_grace_and_a_longer_one_fails_at_it(
    scripted_agent: Process, redis_server: RedisServer
) -> None:
    store = ["--store", redis_server.url, "--store-prefix", f"grace-{uuid.uuid4().hex[:8]}:"]
    agents = {"scripted": scripted_agent.address}
    first = start_gateway(agents, "--shutdown-grace", str(GRACE), *store)
    try:
        url = first.address + "/agents/scripted/"
        short = a2a.start_task(url, "steps 6 500")  # about 3 s
        long = a2a.start_task(url, "hang")
        stopping = time.monotonic()
        first.popen.send_signal(signal.SIGTERM)
        code = first.popen.wait(GRACE + 15)  # generous: a loaded machine
        exited_after = time.monotonic() - stopping
    finally:
        first.stop(signal.SIGKILL)
    assert code == 0, first.output()
    assert GRACE - 0.5 < exited_after < GRACE + 4, exited_after
    second = start_gateway(agents, *store)
    try:
        url = second.address + "/agents/scripted/"
        finished = state_of(url, short["id"])
        assert finished["state"] == "TASK_STATE_COMPLETED", finished
        failed = state_of(url, long["id"])
        assert failed["state"] == "TASK_STATE_FAILED", failed
        assert "gateway stopped" in str(failed["message"]), failed
        replay = a2a.stream(
            url, "SubscribeToTask", {"id": long["id"]}, headers={"Last-Event-ID": "0"}
        )
        end = replay[-1].result["statusUpdate"]
        assert end["status"]["state"] == "TASK_STATE_FAILED"
        assert end["metadata"] == {"error": {"reason": "GATEWAY_SHUTDOWN"}}, end
    finally:
        second.stop()


def test_without_running_turns_the_gateway_exits_at_once(scripted_agent: Process) -> None:
    process = start_gateway({"scripted": scripted_agent.address}, "--shutdown-grace", "30")
    stopping = time.monotonic()
    process.popen.send_signal(signal.SIGTERM)
    try:
        code = process.popen.wait(20)
    finally:
        process.stop(signal.SIGKILL)
    assert code == 0
    assert time.monotonic() - stopping < 10  # not the 30 s of grace: nothing to wait for


def _responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP/1.1 responses (status, lower-cased headers, body) in `data`, in order; each
    has a Content-Length (the gateway's JSON answers do)."""
    found = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        size = int(headers["content-length"])
        found.append((int(status_line.split()[1]), headers, data[:size]))
        data = data[size:]
    return found


def _post(path: str, host: str, body: dict[str, object]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"A2A-Version: 1.0\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def test_a_request_that_reaches_the_gateway_while_it_drains_is_503_shutting_down(
    scripted_agent: Process,
) -> None:
    """A request pipelined behind a blocking SendMessage is started by uvicorn after the first
    response, during the drain (the listening socket is closed by then, so this is how a new
    request still arrives): it is refused with 503, reason SHUTTING_DOWN, and Retry-After,
    while the turn in flight gets its grace and completes."""
    process = start_gateway({"scripted": scripted_agent.address}, "--shutdown-grace", "20")
    try:
        url = process.address + "/agents/scripted/"
        address = httpx.URL(url)
        host = f"{address.host}:{address.port}"
        # About 6 s: the turn must still be running when SIGTERM follows the poll below.
        blocking = a2a.request("SendMessage", {"message": a2a.user_message("steps 12 500")})
        later = a2a.request("ListTasks", {})
        with socket.create_connection((address.host, address.port or 0), timeout=60) as sock:
            sock.sendall(_post(address.path, host, blocking) + _post(address.path, host, later))
            deadline = time.monotonic() + 20  # a loaded machine: the turn may start slowly
            while not a2a.rpc(url, "ListTasks", {})["result"]["tasks"]:
                assert time.monotonic() < deadline, "the blocking SendMessage did not start"
                time.sleep(0.02)
            process.popen.send_signal(signal.SIGTERM)
            received = b""
            while chunk := sock.recv(65536):  # the gateway closes the connection after the 503
                received += chunk
        assert process.popen.wait(30) == 0, process.output()
    finally:
        process.stop(signal.SIGKILL)
    (status, _, body), (refused, headers, error) = _responses(received)
    assert status == 200
    assert json.loads(body)["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert refused == 503
    assert headers["retry-after"] == "1"
    assert json.loads(error)["error"]["data"][0]["reason"] == "SHUTTING_DOWN"
