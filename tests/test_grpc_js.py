"""Interop: the official @a2a-js/sdk 1.x client (Node.js, @grpc/grpc-js) over the gateway's
gRPC binding: it reads the card, picks the GRPC interface and its tenant, and streams,
gets, lists, continues a task, subscribes and cancels (tests/js-grpc/client.mjs).

Needs node and `make js-grpc` (npm ci in tests/js-grpc); skipped, saying so, without them."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.grpc_a2a import start_grpc_gateway
from tests.servers import ROOT, Process, start_agent

CLIENT = ROOT / "tests" / "js-grpc"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (CLIENT / "node_modules" / "@a2a-js" / "sdk").is_dir(),
        reason="run `make js-grpc` (npm ci in tests/js-grpc) first",
    ),
]


@pytest.fixture(scope="module")
def js_gateway() -> Iterator[Process]:
    agent = start_agent("tests.agents.scripted")
    gateway = start_grpc_gateway({"scripted": agent.address})
    yield gateway
    gateway.stop()
    agent.stop()


def test_js_sdk_client_over_grpc(js_gateway: Process) -> None:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(CLIENT / "client.mjs"), f"{js_gateway.address}/agents/scripted/"],
        capture_output=True,
        text=True,
        timeout=90,  # node start-up and a dozen calls on a loaded, shared machine
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["stream"] == [
        "task TASK_STATE_SUBMITTED",
        *["status TASK_STATE_WORKING"] * 3,
        *["artifact a1"] * 3,
        "status TASK_STATE_COMPLETED",
    ]
    assert seen["get"] == {"id": True, "state": "TASK_STATE_COMPLETED"}
    assert seen["list"] == [True]
    assert seen["multiTurn"][1] == "status TASK_STATE_INPUT_REQUIRED"
    assert seen["multiTurn"][-1] == "status TASK_STATE_COMPLETED"
    assert seen["subscribe"] == ["task TASK_STATE_WORKING", "status TASK_STATE_CANCELED"]
    assert seen["cancel"] == "TASK_STATE_CANCELED"
    assert seen["notFound"] == "GrpcTaskNotFoundError"  # from the ErrorInfo reason
