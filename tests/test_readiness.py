"""Readiness follows recovery: /readyz turns 200 within about a second of a restarted agent
serving again, however long it was away."""

from __future__ import annotations

import time

import httpx

from tests.servers import start_agent, start_gateway

DOWN_FOR = 3.0  # long enough for every reconnect backoff to reach its maximum
READY_WITHIN = 1.5  # "about a second", with room for a loaded machine


def test_readyz_turns_ready_about_a_second_after_the_agent_serves_again() -> None:
    agent = start_agent("tests.agents.scripted")
    port = agent.address.rsplit(":", 1)[1]
    gateway = start_gateway({"flaky": agent.address})
    try:
        agent.stop()
        away = time.monotonic()
        while time.monotonic() - away < DOWN_FOR:  # the gateway keeps probing meanwhile
            assert httpx.get(gateway.address + "/readyz", timeout=10).status_code == 503
            time.sleep(0.1)
        agent = start_agent("tests.agents.scripted", "--port", port)
        serving = time.monotonic()
        while httpx.get(gateway.address + "/readyz", timeout=10).status_code != 200:
            waited = time.monotonic() - serving
            assert waited < READY_WITHIN, f"still 503 {waited:.2f}s after the agent served"
            time.sleep(0.02)
    finally:
        gateway.stop()
        agent.stop()
