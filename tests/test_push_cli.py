"""The two terminals of docs/push.md: `a2a-gateway webhook` prints every event of a task that
`a2a-gateway call ... --push URL` started, in order, with ids and verified signatures."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.servers import ROOT, Process, start, start_gateway

HOOK_LINE = re.compile(r"webhook listening on (http://\S+)")


@pytest.fixture(scope="module")
def gateway(scripted_agent: Process) -> Iterator[Process]:
    process = start_gateway(
        {"scripted": scripted_agent.address},
        "--push-allow", "127.0.0.1", "--push-allow-http", "--push-signing",
    )  # fmt: skip
    yield process
    process.stop()


def test_webhook_prints_every_event_of_a_call_with_push_in_order(gateway: Process) -> None:
    jwks = gateway.address + "/.well-known/jwks.json"
    hook, match = start(["-m", "gateway", "webhook", "--port", "0", "--jwks", jwks], HOOK_LINE)
    try:
        call = subprocess.run(
            [sys.executable, "-m", "gateway", "call", gateway.address + "/", "steps 2",
             "--push", match.group(1), "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert call.returncode == 0, call.stderr
        deadline = time.monotonic() + 30
        while "completed" not in hook.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = [line for line in hook.output().splitlines() if line.startswith("#")]
    finally:
        hook.stop()
    ids = [int(line[1:].split()[0]) for line in lines]
    assert ids == list(range(1, 8)), lines
    assert all(line.endswith("(signature ok)") for line in lines), lines
    assert "task submitted" in lines[0]
    assert "working 50%  step 1" in lines[1]
    assert "completed  done" in lines[-1]
