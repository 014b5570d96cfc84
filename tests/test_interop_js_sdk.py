"""Interop: the official A2A JavaScript SDK (@a2a-js/sdk 1.x, pinned in tests/js/
package-lock.json) drives the gateway over each transport it has for Node: JSON-RPC and
HTTP+JSON/REST (gRPC is the gRPC binding's business).

A second judge, independent of the Python SDK: tests/js/interop.mjs builds its client from
our Agent Card with the transport preferred, runs every scenario once and prints what the
SDK parsed (its own ProtoJSON) and the SDK error classes it raised; these tests read that.
`make test` installs it with `npm ci`; skipped only when `node` is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.servers import ROOT, Process

NODE = shutil.which("node")
JS_DIR = ROOT / "tests" / "js"
RUN_TIMEOUT = 120.0  # one node process runs every scenario; generous for a shared machine

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

Results = dict[str, dict[str, Any]]


@pytest.fixture(scope="module", params=["HTTP+JSON", "JSONRPC"])
def results(request: pytest.FixtureRequest, gateway: Process) -> Results:
    assert NODE is not None
    assert (JS_DIR / "node_modules").is_dir(), "run `make js-sdk` (npm ci in tests/js) first"
    card = f"{gateway.address}/agents/scripted/.well-known/agent-card.json"
    done = subprocess.run(
        [NODE, "interop.mjs", card, request.param],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    out = {line.pop("scenario"): line for line in lines}
    out["transport"]["requested"] = request.param
    return out


def summary(events: list[dict[str, Any]]) -> list[str]:
    lines = []
    for event in events:
        kind, value = next(iter(event.items()))
        if kind == "task":
            lines.append(f"task {value['status']['state'].removeprefix('TASK_STATE_')}")
        elif kind == "statusUpdate":
            lines.append(f"status {value['status']['state'].removeprefix('TASK_STATE_')}")
        else:
            lines.append(kind)
    return lines


def texts(parts: list[dict[str, Any]]) -> str:
    return "".join(p.get("text", "") for p in parts)


def test_the_sdk_speaks_the_transport_it_was_asked_for(results: Results) -> None:
    assert results["transport"]["protocol"] == results["transport"]["requested"]


def test_streaming_send(results: Results) -> None:
    events = results["stream"]["events"]
    assert summary(events) == [
        "task SUBMITTED",
        *["status WORKING"] * 3,
        *["artifactUpdate"] * 3,
        "status COMPLETED",
    ]
    chunks = [e["artifactUpdate"] for e in events if "artifactUpdate" in e]
    assert [texts(c["artifact"]["parts"]) for c in chunks] == ["part0;", "part1;", "part2;"]


def test_get_task_with_history_length(results: Results) -> None:
    task = results["get"]["task"]
    assert task["id"] == results["stream"]["events"][0]["task"]["id"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert len(task["history"]) == 1


def test_list_tasks_by_context(results: Results) -> None:
    listed = results["list"]["response"]
    assert [t["id"] for t in listed["tasks"]] == [results["get"]["task"]["id"]]


def test_blocking_send_returns_the_final_task(results: Results) -> None:
    task = results["blocking"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert texts(task["artifacts"][0]["parts"]) == "part0;part1;part2;"


def test_cancel_ends_the_stream_with_canceled(results: Results) -> None:
    cancel = results["cancel"]
    assert summary(cancel["head"]) == ["task SUBMITTED", "status WORKING"]
    assert cancel["canceled"]["status"]["state"] == "TASK_STATE_CANCELED"
    assert summary(cancel["rest"]) == ["status CANCELED"]


def test_multi_turn(results: Results) -> None:
    turns = results["multiTurn"]
    assert summary(turns["first"]) == ["task SUBMITTED", "status INPUT_REQUIRED"]
    assert summary(turns["second"]) == ["task SUBMITTED", "status WORKING", "status COMPLETED"]
    assert turns["second"][0]["task"]["id"] == turns["first"][0]["task"]["id"]
    final = turns["second"][-1]["statusUpdate"]["status"]["message"]
    assert texts(final["parts"]) == "answered: ask again"


def test_subscribe_while_running(results: Results) -> None:
    original = results["subscribe"]["original"]
    subscribed = results["subscribe"]["subscribed"]
    snapshot, tail = subscribed[0], subscribed[1:]
    assert summary([snapshot]) == ["task WORKING"]
    assert tail == original[len(original) - len(tail) :]
    assert summary(tail)[-1] == "status COMPLETED"


def test_errors_map_to_sdk_error_classes(results: Results) -> None:
    errors = results["errors"]
    assert errors["getUnknown"]["error"] == "TaskNotFoundError"
    assert errors["cancelFinished"]["error"] == "TaskNotCancelableError"
    assert errors["subscribeFinished"]["error"] == "UnsupportedOperationError"
