"""`--shutdown-grace` with a real process and a real SIGTERM: a turn shorter than the grace
finishes (readable after a restart, on Redis), a longer one is failed at the grace."""

from __future__ import annotations

import signal
import time
import uuid

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
        assert "gateway stopped" in str(failed["message"]), failed  # GATEWAY_SHUTDOWN
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
